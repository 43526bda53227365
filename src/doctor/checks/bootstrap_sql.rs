//! A sandbox's copy of modkit's bootstrap SQL.

use anyhow::Result;

use crate::diagnostics::{Diagnostic, Severity};
use crate::doctor::rule::{Rule, Scope};

use crate::doctor::*;

pub const RULES: &[Rule] = &[
    Rule {
        code: "bootstrap-sql-drift",
        severity: Severity::Warning,
        scope: Scope::Sandbox,
        what: "`sandbox/sql/system.sql` or `statements.sql` differs from this modkit's: `npm run bootstrap` and `modkit bootstrap` may no longer make the same database",
        fix: "take modkit's copy",
    },
    Rule {
        code: "bootstrap-sql-missing",
        severity: Severity::Error,
        scope: Scope::Sandbox,
        what: "one of them is missing",
        fix: "take modkit's copy",
    },
];

/// A sandbox's copy of modkit's bootstrap SQL: `npm run bootstrap` and `modkit bootstrap` run it.
pub fn check(target: &Target, out: &mut Vec<Diagnostic>) -> Result<()> {
    if !matches!(target.kind, Kind::Sandbox { .. }) {
        return Ok(());
    }
    for name in ["system.sql", "statements.sql"] {
        let rel = format!("sandbox/sql/{name}");
        let ours = templates::raw(&format!("sql/{name}"))?;
        match std::fs::read_to_string(target.root.join(&rel)) {
            Ok(theirs) if theirs == ours => {}
            Ok(_) => out.push(
                Diagnostic::warning("bootstrap-sql-drift", format!("differs from the bootstrap SQL of modkit {}", env!("CARGO_PKG_VERSION")))
                    .at(&rel, None)
                    .hint("`npm run bootstrap` and `modkit bootstrap` may no longer make the same database: take modkit's copy (`modkit init <id> --dir /tmp/fresh`, then copy its sandbox/sql/)"),
            ),
            Err(_) => out.push(
                Diagnostic::error("bootstrap-sql-missing", "is missing: `npm run bootstrap` cannot run")
                    .at(&rel, None)
                    .hint("take modkit's copy (`modkit init <id> --dir /tmp/fresh`, then copy its sandbox/sql/)"),
            ),
        }
    }
    Ok(())
}
