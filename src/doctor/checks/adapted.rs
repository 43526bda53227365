//! In a foundation: adapters, relative imports, module.config.ts and edits to adapted files.

use anyhow::Result;

use crate::diagnostics::{Diagnostic, Severity};
use crate::doctor::rule::{Rule, Scope};

use crate::doctor::*;

pub const RULES: &[Rule] = &[
    Rule {
        code: "adapter-missing",
        severity: Severity::Error,
        scope: Scope::Foundation,
        what: "a module has code but no `server/routes/index.ts`",
        fix: "`modkit adapt <id> --foundation .`",
    },
    Rule {
        code: "import-unresolved",
        severity: Severity::Error,
        scope: Scope::Foundation,
        what: "a relative import in a module's folder resolves to no file, resolved as TypeScript does (`.js` → `.ts`, no extension, a folder's `index.ts`); the seed's `'../../../lib/db/tenant-db'` is one",
        fix: "fix the path, or adapt again: modkit computes it",
    },
    Rule {
        code: "module-config-drift",
        severity: Severity::Error,
        scope: Scope::Foundation,
        what: "`module.config.ts` lists other permissions than the module declares",
        fix: "adapt again, or make them the same",
    },
    Rule {
        code: "adapted-file-edited",
        severity: Severity::Warning,
        scope: Scope::Foundation,
        what: "a file `modkit adapt` wrote was edited since (its manifest's sha-256 differs): the next adapt will refuse it",
        fix: "make the change in the sandbox, or adapt with `--force` later",
    },
];

/// In a foundation: each module has its adapter, its relative imports resolve, its
/// module.config.ts lists the plugin's permissions, and files modkit adapt wrote are unedited.
pub fn check(target: &Target, out: &mut Vec<Diagnostic>) -> Result<()> {
    for module in target.modules() {
        let Some(dir) = &module.adapted else { continue };
        let adapter = format!("{dir}/server/routes/index.ts");
        if !target.sources.is_file(&target.root.join(&adapter)) {
            out.push(
                Diagnostic::error(
                    "adapter-missing",
                    format!("module `{}` has no routes adapter", module.id),
                )
                .at(&adapter, None)
                .hint(format!(
                    "run `modkit adapt {} --foundation <this folder>` from the module's sandbox",
                    module.id
                )),
            );
        }
        for file in ts_files(target, &target.root.join(dir)) {
            if read_or_report(target, &file, out).is_none() {
                continue;
            }
            let rel = target.relative(&file);
            let facts = match target.facts(&file) {
                Some(Ok(facts)) => facts,
                Some(Err(failure)) => {
                    syntax_error(target, failure.error(&rel).into(), out)?;
                    continue;
                }
                None => continue,
            };
            for import in &facts.imports {
                if !import.specifier.starts_with('.') || import.type_only {
                    continue;
                }
                let base = file.parent().unwrap_or(&target.root);
                if resolve_relative_with(base, &import.specifier, |p| target.sources.is_file(p)).is_none() {
                    let points_at = target.relative(&normalize(&base.join(&import.specifier)));
                    out.push(
                        Diagnostic::error("import-unresolved", format!("imports `{}`, which resolves to no file ({points_at})", import.specifier))
                            .at(&rel, Some(import.line))
                            .hint("fix the path, or run `modkit adapt` again: it computes the adapter's imports from where the files are"),
                    );
                }
            }
        }
        let config_rel = format!("{dir}/module.config.ts");
        let config_path = target.root.join(&config_rel);
        let index_path = target.root.join(&module.plugin).join("index.ts");
        if let (Some(config), Some(index)) = (target.facts(&config_path), target.facts(&index_path)) {
            // A config that does not parse was reported with the module's files above.
            let listed = config.ok().and_then(|c| c.default_permissions.clone());
            let declared = index.ok().and_then(|i| i.permissions.clone().ok().flatten());
            if let (Some(listed), Some(declared)) = (listed, declared)
                && sorted(&listed) != sorted(&declared)
            {
                out.push(
                    Diagnostic::error(
                        "module-config-drift",
                        format!(
                            "lists permissions [{}], but the module declares [{}]",
                            listed.join(", "),
                            declared.join(", ")
                        ),
                    )
                    .at(
                        &config_rel,
                        line_of(&target.root.join(&config_rel), "permissions"),
                    )
                    .hint(format!(
                        "run `modkit adapt {}` again, or make the two lists the same",
                        module.id
                    )),
                );
            }
        }
        check_manifest(target, dir, out);
    }
    Ok(())
}

/// Files modkit adapt wrote and someone edited since: the next adapt will refuse them.
fn check_manifest(target: &Target, dir: &str, out: &mut Vec<Diagnostic>) {
    let Ok(text) = target.sources.text(&target.root.join(dir).join(MANIFEST)) else {
        return;
    };
    let Ok(manifest) = serde_json::from_str::<serde_json::Value>(&text) else {
        return;
    };
    let Some(files) = manifest.get("files").and_then(|f| f.as_object()) else {
        return;
    };
    for (file, sum) in files {
        let path = target.root.join(dir).join(file);
        // A file the listings show missing (a migration the manifest names beside the module's
        // folder) is not looked for again.
        if target.sources.known_missing(&path) {
            continue;
        }
        // Most were read for the other checks already; a file that is not UTF-8 is read here.
        let hash = match target.sources.text(&path) {
            Ok(text) => sha256_hex(text.as_bytes()),
            Err(failure) if failure.missing => continue,
            Err(_) => match read_file_bytes(&path) {
                Ok(bytes) => sha256_hex(&bytes),
                Err(_) => continue,
            },
        };
        if sum.as_str() != Some(&hash) {
            out.push(
                Diagnostic::warning("adapted-file-edited", "edited in the foundation since `modkit adapt` wrote it: the next adapt will refuse to overwrite it")
                    .at(format!("{dir}/{file}"), None)
                    .hint("make the change in the module's sandbox and adapt again (or keep it and adapt with --force later)"),
            );
        }
    }
}
