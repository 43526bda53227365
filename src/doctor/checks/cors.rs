//! CORS in the server code that reflects every origin with credentials.

use anyhow::Result;

use crate::diagnostics::{Diagnostic, Severity};
use crate::doctor::rule::{Rule, Scope};

use crate::doctor::*;

pub const RULES: &[Rule] = &[Rule {
    code: "cors-any-origin",
    severity: Severity::Error,
    scope: Scope::Both,
    what: "`cors({ origin: true, credentials: true })`: every origin is reflected with credentials, so any web page can call the API as the signed-in user",
    fix: "allow only `http://localhost:*` and `http://127.0.0.1:*`, in development only (as the sandbox's `server.ts` does)",
}];

/// `cors({ origin: true, credentials: true })` in the server code.
pub fn check(target: &Target, out: &mut Vec<Diagnostic>) -> Result<()> {
    let dirs: &[&str] = match target.kind {
        Kind::Sandbox { .. } => &["sandbox"],
        Kind::Foundation { .. } => &["src"],
    };
    for dir in dirs {
        for file in ts_files(target, &target.root.join(dir)) {
            let Some(source) = read_or_report(target, &file, out) else {
                continue;
            };
            if !source.contains("cors") {
                continue;
            }
            let rel = target.relative(&file);
            let lines = match target.facts(&file) {
                Some(Ok(facts)) => facts,
                Some(Err(failure)) => {
                    syntax_error(target, failure.error(&rel).into(), out)?;
                    continue;
                }
                None => continue,
            };
            for &line in &lines.cors_any_origin {
                out.push(
                    Diagnostic::error("cors-any-origin", "CORS reflects every origin with credentials: any web page can call the API as the signed-in user")
                        .at(&rel, Some(line))
                        .hint("allow only http://localhost:* and http://127.0.0.1:* (the Vite dev server), in development only; see the sandbox's sandbox/http.ts"),
                );
            }
        }
    }
    Ok(())
}
