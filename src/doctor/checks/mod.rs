//! One file per check, each with the documentation of the codes it reports beside its code
//! (`RULES`), as ruff keeps its rules. The order here is the order they report in and the order of
//! docs/doctor.md's tables.

use anyhow::Result;

use super::Target;
use super::rule::Rule;
use crate::diagnostics::Diagnostic;

pub mod adapted;
pub mod bootstrap_sql;
pub mod cors;
pub mod database;
pub mod dependencies;
pub mod general;
pub mod local_db;
pub mod migrations;
pub mod module_code;
pub mod project_env;
pub mod routes;
pub mod toolchain;
pub mod tsconfig;

pub type Run = fn(&Target, &mut Vec<Diagnostic>) -> Result<()>;

/// A static check: its name (in "the X check could not finish"), the function that runs it, and
/// the codes it reports: its own, and `also` those documented elsewhere (a file it cannot read or
/// parse). A check whose codes are all ignored does not run.
pub struct Check {
    pub name: &'static str,
    pub run: Run,
    pub rules: &'static [Rule],
    pub also: &'static [&'static str],
}

/// Every static check, in the order they report.
pub const STATIC: &[Check] = &[
    Check {
        name: "tsconfig",
        run: tsconfig::check,
        rules: tsconfig::RULES,
        also: &[],
    },
    Check {
        name: "cors",
        run: cors::check,
        rules: cors::RULES,
        also: &["file-unreadable", "typescript-syntax"],
    },
    Check {
        name: "module code",
        run: module_code::check,
        rules: module_code::RULES,
        also: &["file-unreadable", "typescript-syntax"],
    },
    Check {
        name: "routes",
        run: routes::check,
        rules: routes::RULES,
        also: &[],
    },
    Check {
        name: "dependencies",
        run: dependencies::check,
        rules: dependencies::RULES,
        also: &[],
    },
    Check {
        name: "migrations",
        run: migrations::check,
        rules: migrations::RULES,
        also: &["file-unreadable", "module-file-link"],
    },
    Check {
        name: "adapted modules",
        run: adapted::check,
        rules: adapted::RULES,
        also: &["file-unreadable", "typescript-syntax"],
    },
    Check {
        name: "bootstrap SQL",
        run: bootstrap_sql::check,
        rules: bootstrap_sql::RULES,
        also: &[],
    },
    Check {
        name: "local database",
        run: local_db::check,
        rules: local_db::RULES,
        also: &[],
    },
    Check {
        name: "project environment",
        run: project_env::check,
        rules: project_env::RULES,
        also: &[],
    },
];

/// Every registered code, grouped by the file that documents it, in docs/doctor.md's order.
pub const ALL_RULES: &[&[Rule]] = &[
    general::RULES,
    tsconfig::RULES,
    cors::RULES,
    module_code::RULES,
    routes::RULES,
    dependencies::RULES,
    migrations::RULES,
    adapted::RULES,
    bootstrap_sql::RULES,
    toolchain::RULES,
    local_db::RULES,
    project_env::RULES,
    database::RULES,
];
