//! The live checks' codes (`--db`): their code is in `live.rs` and `drift.rs`, their documentation here.

use crate::diagnostics::Severity;
use crate::doctor::rule::{Rule, Scope};

pub const RULES: &[Rule] = &[
    Rule {
        code: "db-pending",
        severity: Severity::Error,
        scope: Scope::Database,
        what: "the database is behind the code: pgcrypto, a system table, a permission, a tenant's row, schema or migration is missing (one diagnostic each, as `modkit bootstrap --check` lists them)",
        fix: "`modkit bootstrap`",
    },
    Rule {
        code: "db-migration-edited",
        severity: Severity::Error,
        scope: Scope::Database,
        what: "a migration file differs from what was applied to a tenant (both checksums named)",
        fix: "add a new migration instead of editing an applied one",
    },
    Rule {
        code: "db-module-table-tenant-id",
        severity: Severity::Error,
        scope: Scope::Database,
        what: "a table in a tenant's schema has a `tenant_id` column",
        fix: "drop it in a new migration",
    },
    Rule {
        code: "db-schema-without-tenant",
        severity: Severity::Warning,
        scope: Scope::Database,
        what: "a `tenant_*` schema has no `sys_tenant` row: left over, or made by hand",
        fix: "drop it; `modkit bootstrap --tenant <code>` would give it to that tenant as it is",
    },
];
