//! The module's migrations: numbered in order without gaps or duplicates, and no `tenant_id`
//! column in a module table.

use anyhow::Result;

use crate::diagnostics::{Diagnostic, Severity};
use crate::doctor::rule::{Rule, Scope};

use crate::doctor::*;

pub const RULES: &[Rule] = &[
    Rule {
        code: "module-table-tenant-id",
        severity: Severity::Error,
        scope: Scope::Both,
        what: "a module migration defines or adds a `tenant_id` column (comments, strings and `DROP COLUMN` do not count)",
        fix: "module tables live in the tenant's schema, which is the tenant: drop the column in a new migration",
    },
    Rule {
        code: "migration-numbering",
        severity: Severity::Error,
        scope: Scope::Both,
        what: "the module's migrations (`NNNN_name.sql`, run in name order) are not numbered 1, 2, 3, ...: a name without its number, two files with one number (their order depends on the rest of the name), or a gap (a migration lost in a merge, or renumbered)",
        fix: "renumber the migrations that were never applied; never renumber an applied one (add a new migration instead)",
    },
];

/// Module tables live in the tenant's schema: no `tenant_id` column.
pub fn check(target: &Target, out: &mut Vec<Diagnostic>) -> Result<()> {
    for module in target.modules() {
        let dir = target.root.join(&module.migrations);
        if target.sources.is_link(&dir) {
            if module.adapted.is_some() {
                out.push(
                    Diagnostic::error(
                        "module-file-link",
                        "is a symbolic link: `modkit bootstrap` refuses it rather than run what it points at",
                    )
                    .at(target.relative(&dir), None)
                    .hint("replace the link with the folder itself"),
                );
            }
            continue;
        }
        let Some(entries) = target.sources.entries(&dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries
            .into_iter()
            .map(|(path, _)| path)
            .filter(|p| p.extension().is_some_and(|e| e == "sql"))
            .collect();
        files.sort();
        numbering(target, &files, out);
        for file in files {
            // A FIFO is never opened (it would hang doctor), a link never followed, a folder or
            // a file that is not UTF-8 named: bootstrap would refuse each of them.
            let Some(sql) = read_or_report(target, &file, out) else {
                continue;
            };
            for line in tenant_id_lines(&sql) {
                out.push(
                    Diagnostic::error("module-table-tenant-id", "a module table has a `tenant_id` column")
                        .at(target.relative(&file), Some(line))
                        .hint("module tables live in each tenant's schema, which is the tenant: drop tenant_id (system tables in public keep theirs); add a new migration rather than editing an applied one"),
                );
            }
        }
    }
    Ok(())
}

/// `0001_a.sql`, `0002_b.sql`, ...: each name starts with its number, one file per number, no gap.
/// Only names are read, so a FIFO or a folder among them is numbered like the others.
fn numbering(target: &Target, files: &[PathBuf], out: &mut Vec<Diagnostic>) {
    let mut numbered: Vec<(u64, &PathBuf)> = Vec::new();
    for file in files {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let digits: String = name.chars().take_while(char::is_ascii_digit).collect();
        match digits.parse::<u64>() {
            Ok(n) if digits.len() < 19 => numbered.push((n, file)),
            _ => out.push(
                Diagnostic::error("migration-numbering", "does not start with its number (`NNNN_name.sql`): it runs in name order, among the others by chance")
                    .at(target.relative(file), None)
                    .hint("rename it with the next free number, e.g. `0003_add_index.sql`"),
            ),
        }
    }
    numbered.sort_by_key(|(n, _)| *n);
    let mut expected = 1;
    for (i, (n, file)) in numbered.iter().enumerate() {
        if i > 0 && numbered[i - 1].0 == *n {
            out.push(
                Diagnostic::error(
                    "migration-numbering",
                    format!(
                        "has the number {n} of {} too: which runs first depends on the rest of the name",
                        target.relative(numbered[i - 1].1)
                    ),
                )
                .at(target.relative(file), None)
                .hint("give it the next free number (if it was never applied)"),
            );
            continue;
        }
        if *n != expected {
            let missing = if *n == expected + 1 {
                format!("{expected} is")
            } else {
                format!("{expected} to {} are", n - 1)
            };
            out.push(
                Diagnostic::error("migration-numbering", format!("is number {n}, but {missing} missing: a migration lost in a merge, or numbers skipped"))
                    .at(target.relative(file), None)
                    .hint("renumber the migrations that were never applied so they follow on (never an applied one)"),
            );
        }
        expected = n + 1;
    }
}
