//! `tsconfig.json`: `baseUrl` (TypeScript 7 rejects it) and `paths` that point at nothing.

use anyhow::Result;

use crate::diagnostics::{Diagnostic, Severity};
use crate::doctor::rule::{Rule, Scope};

use crate::doctor::*;

pub const RULES: &[Rule] = &[
    Rule {
        code: "tsconfig-missing",
        severity: Severity::Error,
        scope: Scope::Both,
        what: "no `tsconfig.json`",
        fix: "add one",
    },
    Rule {
        code: "tsconfig-invalid",
        severity: Severity::Error,
        scope: Scope::Both,
        what: "`tsconfig.json` (or a file it extends) does not parse, or `extends` points at nothing",
        fix: "the message names the file and line",
    },
    Rule {
        code: "tsconfig-base-url",
        severity: Severity::Error,
        scope: Scope::Both,
        what: "`baseUrl` is set, in the tsconfig or a file it extends: TypeScript 7 fails with `error TS5102: Option 'baseUrl' has been removed`",
        fix: "remove it: `paths` resolve relative to the tsconfig without it (TypeScript 4.1+)",
    },
    Rule {
        code: "tsconfig-path-missing",
        severity: Severity::Error,
        scope: Scope::Both,
        what: "a `paths` alias points at a folder that does not exist (the seed's alias did not match the tree)",
        fix: "point it at the real folder",
    },
];

/// `baseUrl` (TypeScript 7 rejects it) and `paths` that point at nothing.
pub fn check(target: &Target, out: &mut Vec<Diagnostic>) -> Result<()> {
    let path = target.root.join("tsconfig.json");
    if !path.is_file() {
        out.push(
            Diagnostic::error("tsconfig-missing", "there is no tsconfig.json")
                .at("tsconfig.json", None)
                .hint("the TypeScript project needs one; `modkit init` writes a sandbox's"),
        );
        return Ok(());
    }
    let options = match tsconfig::load(&path) {
        Ok(options) => options,
        Err(e) => {
            let hint = e
                .downcast_ref::<crate::exit::UserError>()
                .and_then(|u| u.hint.clone());
            let message = e
                .downcast_ref::<crate::exit::UserError>()
                .map_or_else(|| format!("{e:#}"), |u| u.message.clone());
            let mut d = Diagnostic::error("tsconfig-invalid", target.relative_text(&message))
                .at("tsconfig.json", None);
            if let Some(hint) = hint {
                d = d.hint(hint);
            }
            out.push(d);
            return Ok(());
        }
    };
    if let Some(file) = &options.base_url_in {
        let rel = target.relative(file);
        let line = line_of(file, "\"baseUrl\"");
        out.push(
            Diagnostic::error("tsconfig-base-url", "sets `baseUrl`, which TypeScript 7 rejects (error TS5102: Option 'baseUrl' has been removed)")
                .at(rel, line)
                .hint("remove it: `paths` resolve relative to the tsconfig that sets them (TypeScript 4.1 and later)"),
        );
    }
    for alias in &options.paths {
        for target_path in &alias.targets {
            // The fixed part of the pattern: the folder it starts in must exist.
            let fixed = target_path.split('*').next().unwrap_or_default();
            let folder = alias.base_dir.join(fixed.rsplit_once('/').map_or("", |(d, _)| d));
            if !folder.exists() {
                let file = options
                    .files
                    .iter()
                    .find(|f| f.parent() == Some(alias.base_dir.as_path()))
                    .cloned()
                    .unwrap_or(path.clone());
                out.push(
                    Diagnostic::error(
                        "tsconfig-path-missing",
                        format!("the alias `{}` points at `{target_path}`, but {} does not exist", alias.alias, target.relative(&folder)),
                    )
                    .at(target.relative(&file), line_of(&file, &format!("\"{}\"", alias.alias)))
                    .hint("point it at the real folder, relative to this tsconfig (e.g. \"@client/*\": [\"./client/src/*\"])"),
                );
            }
        }
    }
    Ok(())
}
