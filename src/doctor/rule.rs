//! The registry of doctor's codes, as ruff keeps its rules: every code a check can report is
//! declared, with its documentation, in the check's own file (`checks/<check>.rs`, `RULES`).
//! `modkit doctor --explain CODE` prints it, `[doctor] ignore` in modkit.toml names it, and the
//! tables of docs/doctor.md are generated from it (a test fails when they differ).

use crate::diagnostics::Severity;

/// Where a check looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Sandboxes and foundations.
    Both,
    Sandbox,
    Foundation,
    /// The database, with `--db`.
    Database,
    /// The machine: the tools and ports the project needs.
    Toolchain,
}

/// Every rule as SARIF describes it (handed to `diagnostics::sarif`).
pub fn sarif_rules() -> Vec<crate::diagnostics::SarifRule> {
    all()
        .map(|r| crate::diagnostics::SarifRule {
            code: r.code,
            what: r.what,
            fix: r.fix,
            severity: r.severity,
            markdown: explain(r),
            help_uri: help_uri(r.code),
        })
        .collect()
}

#[cfg(test)]
impl Scope {
    fn label(self) -> &'static str {
        match self {
            Scope::Both => "both",
            Scope::Sandbox => "sandbox",
            Scope::Foundation => "foundation",
            Scope::Database => "database",
            Scope::Toolchain => "both",
        }
    }
}

#[derive(Debug)]
pub struct Rule {
    /// Stable: scripts, `--explain` and `[doctor] ignore` name it.
    pub code: &'static str,
    pub severity: Severity,
    pub scope: Scope,
    /// What it means (Markdown, one paragraph).
    pub what: &'static str,
    /// How to fix it (Markdown; may be empty when the message says it).
    pub fix: &'static str,
}

/// Every rule, in the order docs/doctor.md lists them.
pub fn all() -> impl Iterator<Item = &'static Rule> {
    super::checks::ALL_RULES.iter().flat_map(|rules| rules.iter())
}

pub fn find(code: &str) -> Option<&'static Rule> {
    all().find(|r| r.code == code)
}

/// Where a code is documented: docs/doctor.md in the repository Cargo.toml names (its
/// `repository`), or the crate's page when it names none.
pub fn help_uri(code: &str) -> String {
    let repository = env!("CARGO_PKG_REPOSITORY").trim_end_matches('/');
    let page = if repository.is_empty() {
        "https://crates.io/crates/modkit".to_string()
    } else {
        format!("{repository}/blob/main/docs/doctor.md")
    };
    if code.is_empty() {
        page
    } else {
        format!("{page}#{code}")
    }
}

/// `modkit doctor --explain CODE`: the rule's documentation as plain text.
pub fn explain(rule: &Rule) -> String {
    let severity = match rule.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let scope = match rule.scope {
        Scope::Both => "sandboxes and foundations",
        Scope::Sandbox => "sandboxes",
        Scope::Foundation => "foundations",
        Scope::Database => "the database, with --db",
        Scope::Toolchain => "the machine (toolchain)",
    };
    let mut text = format!("{} ({severity}; checks {scope})\n\n{}\n", rule.code, rule.what);
    if !rule.fix.is_empty() {
        text.push_str(&format!("\nFix: {}\n", rule.fix));
    }
    text
}

#[cfg(test)]
/// The Markdown tables of docs/doctor.md: static checks (with a `where` column), then the
/// database's, then the toolchain's.
pub fn markdown_tables() -> String {
    let mut out = String::new();
    type Keep = dyn Fn(&Rule) -> bool;
    let sections: [(&str, &Keep, bool); 3] = [
        (
            "",
            &|r: &Rule| !matches!(r.scope, Scope::Database | Scope::Toolchain),
            true,
        ),
        ("With `--db`:\n\n", &|r: &Rule| r.scope == Scope::Database, false),
        (
            "The toolchain (flutter doctor style: one line each, with the fix):\n\n",
            &|r: &Rule| r.scope == Scope::Toolchain,
            false,
        ),
    ];
    for (i, (intro, keep, with_where)) in sections.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(intro);
        if *with_where {
            out.push_str(
                "| code | severity | where | what it means | the fix |\n| --- | --- | --- | --- | --- |\n",
            );
        } else {
            out.push_str("| code | severity | what it means | the fix |\n| --- | --- | --- | --- |\n");
        }
        for rule in all().filter(|r| keep(r)) {
            let severity = match rule.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            };
            if *with_where {
                out.push_str(&format!(
                    "| `{}` | {severity} | {} | {} | {} |\n",
                    rule.code,
                    rule.scope.label(),
                    rule.what,
                    rule.fix
                ));
            } else {
                out.push_str(&format!(
                    "| `{}` | {severity} | {} | {} |\n",
                    rule.code, rule.what, rule.fix
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/doctor.md holds the tables the registry generates: a code added, changed or removed in
    /// one place and not the other fails here (the expected text is printed, ready to paste).
    #[test]
    fn docs_doctor_md_matches_the_registry() {
        let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/doctor.md")).unwrap();
        let tables = markdown_tables();
        assert!(
            docs.contains(&tables),
            "docs/doctor.md's tables differ from the registry (src/doctor/checks/*.rs); expected:\n{tables}"
        );
    }

    #[test]
    fn codes_are_unique_and_kebab_case() {
        let mut seen = std::collections::BTreeSet::new();
        for rule in all() {
            assert!(seen.insert(rule.code), "{} twice", rule.code);
            assert!(
                rule.code
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{}",
                rule.code
            );
        }
    }

    /// Every `Diagnostic::error("code"` / `warning("code"` in the sources names a registered rule
    /// of that severity: a new code cannot ship undocumented.
    #[test]
    fn every_code_reported_is_registered_with_its_severity() {
        let mut stack = vec![std::path::PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src"
        ))];
        let mut count = 0;
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                // This file names the patterns it looks for.
                if path.ends_with("doctor/rule.rs") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                for (needle, severity) in [
                    ("Diagnostic::error(\"", Severity::Error),
                    ("Diagnostic::warning(\"", Severity::Warning),
                ] {
                    for (i, _) in text.match_indices(needle) {
                        let rest = &text[i + needle.len()..];
                        let code = &rest[..rest.find('"').unwrap()];
                        let rule = find(code)
                            .unwrap_or_else(|| panic!("{}: `{code}` is not registered", path.display()));
                        assert_eq!(rule.severity, severity, "{code} in {}", path.display());
                        count += 1;
                    }
                }
            }
        }
        assert!(count > 20, "{count}");
    }
}
