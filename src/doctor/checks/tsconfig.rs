//! `tsconfig.json`: `baseUrl` (TypeScript 7 rejects it) and `paths` that point at nothing.

use std::path::PathBuf;

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
        what: "`baseUrl` is set (in the server's tsconfig, a file it extends or a project it references) and the project's TypeScript (the installed `typescript`, else the range in package.json) fails on it: 7 with `error TS5102: Option 'baseUrl' has been removed`, 6 with `error TS5101: Option 'baseUrl' is deprecated` unless `ignoreDeprecations` is `\"6.0\"`; on TypeScript 5 `baseUrl` is valid and nothing is reported",
        fix: "remove it and write `paths` relative to the tsconfig (`\"@/*\": [\"./src/*\"]`); `modkit doctor --fix` does both",
    },
    Rule {
        code: "tsconfig-base-url-deprecated",
        severity: Severity::Warning,
        scope: Scope::Both,
        what: "`baseUrl` is set and the project compiles with TypeScript 6 with its deprecation silenced (`ignoreDeprecations: \"6.0\"`; TypeScript 7 removes it), or with a TypeScript whose version cannot be told (no `typescript` installed or declared)",
        fix: "before moving to TypeScript 7: remove it and write `paths` relative to the tsconfig; `modkit doctor --fix` does both",
    },
    Rule {
        code: "tsconfig-path-missing",
        severity: Severity::Error,
        scope: Scope::Both,
        what: "a `paths` alias points at a folder that does not exist (the seed's alias did not match the tree); targets resolve against `baseUrl` when it is set, as TypeScript resolves them, and a target in `node_modules` is the install's business",
        fix: "point it at the real folder",
    },
];

/// `baseUrl` (by the project's TypeScript version) and `paths` that point at nothing, in the
/// server's tsconfig and every project it references.
pub fn check(target: &Target, out: &mut Vec<Diagnostic>) -> Result<()> {
    let path = &target.tsconfig;
    let shown = target.relative(path);
    if !path.is_file() {
        out.push(
            Diagnostic::error("tsconfig-missing", format!("there is no {shown}"))
                .at(shown, None)
                .hint("the TypeScript project needs one; `modkit init` writes a sandbox's"),
        );
        return Ok(());
    }
    let projects = match tsconfig::load_project(path) {
        Ok(projects) => projects,
        Err(e) => {
            let hint = e
                .downcast_ref::<crate::exit::UserError>()
                .and_then(|u| u.hint.clone());
            let message = e
                .downcast_ref::<crate::exit::UserError>()
                .map_or_else(|| format!("{e:#}"), |u| u.message.clone());
            let mut d = Diagnostic::error("tsconfig-invalid", target.relative_text(&message)).at(shown, None);
            if let Some(hint) = hint {
                d = d.hint(hint);
            }
            out.push(d);
            return Ok(());
        }
    };
    let version = tsconfig::typescript_major(&target.server);
    let mut reported: Vec<PathBuf> = Vec::new();
    for (_, options) in &projects {
        let Some(file) = &options.base_url_in else {
            continue;
        };
        let silenced = options
            .ignore_deprecations
            .as_deref()
            .is_some_and(|v| v.trim() >= "6.0");
        if reported.contains(file) {
            continue;
        }
        reported.push(file.clone());
        let rel = target.relative(file);
        let line = line_of(file, "\"baseUrl\"");
        let hint = "remove it and write `paths` relative to the tsconfig that sets them (`modkit doctor --fix` does both)";
        match &version {
            Some((major, _)) if *major <= 5 => {}
            Some((6, from)) if !silenced => out.push(
                Diagnostic::error(
                    "tsconfig-base-url",
                    format!("sets `baseUrl`, which this project's TypeScript fails on ({from}: error TS5101: Option 'baseUrl' is deprecated and will stop functioning in TypeScript 7.0)"),
                )
                .at(rel.clone(), line)
                .hint(hint),
            ),
            Some((major, from)) if *major >= 7 => out.push(
                Diagnostic::error(
                    "tsconfig-base-url",
                    format!("sets `baseUrl`, which this project's TypeScript rejects ({from}: error TS5102: Option 'baseUrl' has been removed)"),
                )
                .at(rel, line)
                .hint(hint),
            ),
            Some((_, from)) => out.push(
                Diagnostic::warning(
                    "tsconfig-base-url-deprecated",
                    format!("sets `baseUrl`, which this project's TypeScript deprecates ({from}; silenced by `ignoreDeprecations`); TypeScript 7 removes it"),
                )
                .at(rel, line)
                .hint(hint),
            ),
            None => out.push(
                Diagnostic::warning(
                    "tsconfig-base-url-deprecated",
                    "sets `baseUrl`; the project's TypeScript version cannot be told (no node_modules/typescript, no `typescript` in package.json): TypeScript 6 deprecates it and 7 removes it",
                )
                .at(rel, line)
                .hint(hint),
            ),
        }
    }
    let mut seen: Vec<(PathBuf, String, String)> = Vec::new();
    for (tsconfig_file, options) in &projects {
        for alias in &options.paths {
            for target_path in &alias.targets {
                let file = options.paths_in.clone().unwrap_or(tsconfig_file.clone());
                let key = (file.clone(), alias.alias.clone(), target_path.clone());
                if seen.contains(&key) {
                    continue;
                }
                seen.push(key);
                // The fixed part of the pattern: the folder it starts in must exist.
                let fixed = target_path.split('*').next().unwrap_or_default();
                let folder = alias.base_dir.join(fixed.rsplit_once('/').map_or("", |(d, _)| d));
                let in_node_modules = folder
                    .strip_prefix(&alias.base_dir)
                    .is_ok_and(|rel| rel.components().any(|c| c.as_os_str() == "node_modules"));
                if !folder.exists() && !in_node_modules {
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
    }
    Ok(())
}
