//! `modkit doctor --fix`: the fixes that are safe to make without asking. Each edits the file in
//! place through jsonc-parser's CST, so comments, key order and formatting stay as they were, and
//! writes it whole (a temporary file renamed over it). Each returns what it changed, for the report;
//! doctor then checks again, so a fixed project reports clean. The tsconfig fixes are kept only if
//! the project's own TypeScript does not fail more after them (fix_check.rs).
//!
//! - `tsconfig-base-url` (and `-deprecated`): where the project's TypeScript rejects or deprecates
//!   `baseUrl`, rewrite non-relative `paths` relative to their tsconfig, then remove `baseUrl`;
//! - `tsconfig-path-missing` for `@client/*` in a sandbox: point it at `./client/src/*`;
//! - `dependency-dev-path-in-dependencies`: move the package (and its `@types/*`) to devDependencies;
//! - drift in a foundation (`adapter-missing`, `import-unresolved`, `module-config-drift`): adapt the
//!   module again from its sandbox (found as `modkit adapt` finds it, or beside the foundation),
//!   unless that would overwrite an edited file.

use std::path::Path;

use anyhow::Result;
use jsonc_parser::ParseOptions;
use jsonc_parser::cst::{CstInputValue, CstObject, CstRootNode};

use super::fix_check::{Edits, Verdict, type_check, write_whole};
use super::ignore::Ignore;
use super::{Kind, Target};
use crate::diagnostics::Diagnostic;
use crate::tsconfig;

/// What `--fix` did (or, for a drifted module, why it could not).
#[derive(Debug, serde::Serialize)]
pub struct Change {
    pub fixed: bool,
    pub what: String,
}

impl Change {
    fn done(what: String) -> Self {
        Self { fixed: true, what }
    }

    /// Something doctor could not do, or did not check, printed as `not fixed: …`.
    pub(super) fn note(what: String) -> Self {
        Self { fixed: false, what }
    }
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let label = if self.fixed { "fixed" } else { "not fixed" };
        write!(f, "{label}: {}", self.what)
    }
}

pub fn run(target: &Target, ignore: &Ignore) -> Result<Vec<Change>> {
    let mut changes = Vec::new();
    let tsconfig_path = target.tsconfig.clone();
    // The tsconfig fixes, checked together with the project's own TypeScript (fix_check.rs).
    let mut edits = Edits::default();
    if tsconfig_path.is_file()
        && let Ok(options) = tsconfig::load(&tsconfig_path)
    {
        if !ignore.skips("tsconfig-base-url") && !ignore.skips("tsconfig-base-url-deprecated") {
            changes.extend(remove_base_url(target, &tsconfig_path, &mut edits)?);
        }
        if !ignore.skips("tsconfig-path-missing") && matches!(target.kind, Kind::Sandbox { .. }) {
            let client = target.root.join("client/src");
            for alias in options.paths.iter().filter(|a| a.alias == "@client/*") {
                let broken = alias.targets.iter().any(|t| {
                    let fixed = t.split('*').next().unwrap_or_default();
                    !alias
                        .base_dir
                        .join(fixed.rsplit_once('/').map_or("", |(d, _)| d))
                        .exists()
                });
                // Only in the tsconfig at the sandbox's root, where `./client/src/*` is the real folder.
                if !broken || !client.is_dir() || alias.base_dir != target.root {
                    continue;
                }
                if may_write(target, &tsconfig_path, &mut changes).is_none() {
                    continue;
                }
                let repointed = edit_json(&tsconfig_path, &mut edits, |root| {
                    let prop = root
                        .object_value()?
                        .object_value("compilerOptions")?
                        .object_value("paths")?
                        .get("@client/*")?;
                    prop.set_value(CstInputValue::Array(vec![CstInputValue::String(
                        "./client/src/*".into(),
                    )]));
                    Some(())
                })?;
                if repointed {
                    changes.push(Change::done(format!(
                        "tsconfig.json: `@client/*` now points at ./client/src/* (was {})",
                        alias.targets.join(", ")
                    )));
                }
            }
        }
    }
    if !edits.is_empty() {
        match type_check(target, &edits)? {
            Verdict::Kept => {}
            Verdict::NotChecked(why) => {
                // Kept, and said: the last fix of the group carries it.
                if let Some(last) = changes.iter_mut().rev().find(|c| c.fixed) {
                    last.what
                        .push_str(&format!(" (not type-checked: {why}; run your type-check now)"));
                }
            }
            Verdict::Undone {
                files,
                new_errors,
                first,
            } => {
                changes = vec![Change::note(format!(
                    "{}: the fix was undone: TypeScript's own check fails after it ({new_errors} new error(s), first: {first}); fix that, then run --fix again",
                    files.join(", ")
                ))];
            }
            Verdict::UndoneUnchecked(why) => {
                changes = vec![Change::note(format!(
                    "the tsconfig fix was undone: the project fails its type-check after it and could not be checked without it ({why})"
                ))];
            }
        }
    }
    if !ignore.skips("dependency-dev-path-in-dependencies") {
        for (package, types) in super::checks::dependencies::movable_to_dev(target) {
            let Some(manifest) = may_write(target, &target.root.join("package.json"), &mut changes) else {
                continue;
            };
            for name in std::iter::once(package).chain(types) {
                let moved = edit_json(&manifest, &mut Edits::default(), |root| {
                    move_to_dev(&root.object_value()?, &name)
                })?;
                if moved {
                    changes.push(Change::done(format!(
                        "package.json: moved `{name}` to devDependencies (only development paths load it)"
                    )));
                }
            }
        }
    }
    if let Kind::Foundation { .. } = &target.kind {
        changes.extend(readapt(target, ignore)?);
    }
    // The checks that follow read the files as fixed, not as first read.
    target.sources.forget();
    Ok(changes)
}

/// `--fix` edits the project's own files only: a tsconfig's `extends` can name `../outside/base.json`
/// or a package in `node_modules` (another project's, when linked), and `--fix` edited those. The
/// file's real path when it lies inside the project and outside `node_modules`; else a `not fixed`
/// change saying so, and None.
fn may_write(target: &Target, file: &Path, changes: &mut Vec<Change>) -> Option<std::path::PathBuf> {
    let root = target.root.canonicalize().ok();
    let real = file.canonicalize().ok();
    if let (Some(root), Some(real)) = (&root, &real)
        && let Ok(inside) = real.strip_prefix(root)
        && !inside.components().any(|c| c.as_os_str() == "node_modules")
    {
        return Some(real.clone());
    }
    let shown = real.as_deref().unwrap_or(file);
    let place = if shown.starts_with(root.as_deref().unwrap_or(&target.root)) {
        "is inside node_modules"
    } else {
        "is outside the project"
    };
    changes.push(Change {
        fixed: false,
        what: format!(
            "{} {place}: edit it yourself (doctor --fix writes only the project's own files)",
            shown.display()
        ),
    });
    None
}

/// `baseUrl` removed where the project's TypeScript rejects or deprecates it (7, 6, or a version
/// that cannot be told; never on 5, where it is valid), and each `paths` target that resolved
/// against it rewritten relative to the tsconfig that holds it (`src/*` -> `./src/*`): TypeScript
/// refuses a non-relative target without `baseUrl` (TS5090). Not done when the code imports
/// through `baseUrl` itself (`import x from 'spec/support'`): that would break the build.
fn remove_base_url(target: &Target, tsconfig_path: &Path, edits: &mut Edits) -> Result<Vec<Change>> {
    let mut changes = Vec::new();
    if tsconfig::typescript_major(&target.server).is_some_and(|(major, _)| major <= 5) {
        return Ok(changes);
    }
    let Ok(projects) = tsconfig::load_project(tsconfig_path) else {
        return Ok(changes);
    };
    if projects.iter().all(|(_, o)| o.base_url_in.is_none()) {
        return Ok(changes);
    }
    if let Some(spec) = super::checks::dependencies::imports_through_base_url(target).first() {
        changes.push(Change {
            fixed: false,
            what: format!(
                "`baseUrl` kept: the code imports `{spec}` through it; add a `paths` entry for it (e.g. \"{}/*\": [\"./{}/*\"]) or make the import relative, then run --fix again",
                spec.split('/').next().unwrap_or_default(),
                spec.split('/').next().unwrap_or_default()
            ),
        });
        return Ok(changes);
    }
    let mut done: Vec<std::path::PathBuf> = Vec::new();
    // First the paths (while baseUrl still says where they point), then baseUrl itself.
    for (_, options) in &projects {
        let (Some(paths_in), Some(base)) = (&options.paths_in, &options.base_url) else {
            continue;
        };
        if done.contains(paths_in) {
            continue;
        }
        done.push(paths_in.clone());
        let Some(real) = may_write(target, paths_in, &mut changes) else {
            // Its `paths` still resolve against `baseUrl`: removing it would break them (TS5090).
            changes.push(Change::note(format!(
                "`baseUrl` kept: the `paths` of {} resolve against it and cannot be rewritten here",
                paths_in.display()
            )));
            return Ok(changes);
        };
        let dir = paths_in.parent().unwrap_or(Path::new("."));
        let rewritten = edit_json(&real, edits, |root| {
            let paths = root
                .object_value()?
                .object_value("compilerOptions")?
                .object_value("paths")?;
            let mut any = false;
            for prop in paths.properties() {
                let Some(array) = prop.value().and_then(|v| v.as_array()) else {
                    continue;
                };
                let mut values = Vec::new();
                let mut changed = false;
                for element in array.elements() {
                    let text = element.as_string_lit().and_then(|s| s.decoded_value().ok())?;
                    let relative = relative_target(dir, base, &text);
                    changed |= relative != text;
                    values.push(CstInputValue::String(relative));
                }
                if changed {
                    prop.set_value(CstInputValue::Array(values));
                    any = true;
                }
            }
            any.then_some(())
        })?;
        if rewritten {
            changes.push(Change::done(format!(
                "{}: `paths` rewritten relative to the tsconfig (they resolved against `baseUrl`)",
                target.relative(paths_in)
            )));
        }
    }
    let mut removed_from: Vec<std::path::PathBuf> = Vec::new();
    for (_, options) in &projects {
        let Some(file) = &options.base_url_in else {
            continue;
        };
        if removed_from.contains(file) {
            continue;
        }
        removed_from.push(file.clone());
        let Some(real) = may_write(target, file, &mut changes) else {
            continue;
        };
        let removed = edit_json(&real, edits, |root| {
            let prop = root
                .object_value()?
                .object_value("compilerOptions")?
                .get("baseUrl")?;
            prop.remove();
            Some(())
        })?;
        if removed {
            changes.push(Change::done(format!(
                "{}: removed `baseUrl` (this project's TypeScript rejects or deprecates it)",
                target.relative(file)
            )));
        }
    }
    Ok(changes)
}

/// A `paths` target as TypeScript resolves it against `base` (`baseUrl`), written relative to
/// `dir` (the tsconfig's folder): `./src/*`, `../shared/*`. A target already relative is kept.
fn relative_target(dir: &Path, base: &Path, target: &str) -> String {
    if target.starts_with("./") || target.starts_with("../") || Path::new(target).is_absolute() {
        return target.to_string();
    }
    let dir: Vec<_> = dir.components().collect();
    let base: Vec<_> = base.components().collect();
    let common = dir.iter().zip(&base).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = std::iter::repeat_n("..".to_string(), dir.len() - common).collect();
    parts.extend(
        base[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().to_string()),
    );
    let prefix = if parts.is_empty() || parts[0] != ".." {
        let mut p = vec![".".to_string()];
        p.extend(parts);
        p
    } else {
        parts
    };
    format!("{}/{}", prefix.join("/"), target)
}

/// Parse a JSON-with-comments file, let `edit` change it (None: nothing to do), and write it back
/// whole if it changed, recorded in `edits`. True when it did.
fn edit_json(path: &Path, edits: &mut Edits, edit: impl FnOnce(&CstRootNode) -> Option<()>) -> Result<bool> {
    let text = crate::modules::read_text(path)?;
    let Ok(root) = CstRootNode::parse(&text, &ParseOptions::default()) else {
        // Reported as tsconfig-invalid (or by npm): nothing safe to do.
        return Ok(false);
    };
    if edit(&root).is_none() {
        return Ok(false);
    }
    let new = root.to_string();
    if new == text {
        return Ok(false);
    }
    write_whole(path, &new)?;
    edits.record(path, text, new);
    Ok(true)
}

/// `dependencies.<name>` to `devDependencies`, at its place in alphabetical order (as npm keeps it).
fn move_to_dev(package: &CstObject, name: &str) -> Option<()> {
    let prop = package.object_value("dependencies")?.get(name)?;
    let version = prop.value()?.as_string_lit()?.decoded_value().ok()?;
    let dev = package.object_value_or_create("devDependencies")?;
    if dev.get(name).is_none() {
        let index = dev
            .properties()
            .iter()
            .position(|p| p.decoded_name().is_some_and(|n| n.as_str() > name))
            .unwrap_or(dev.properties().len());
        dev.insert(index, name, CstInputValue::String(version));
    }
    prop.remove();
    Some(())
}

/// Modules of a foundation that drifted from what adapt writes: adapted again from their sandbox
/// when it is found and no file it would overwrite was edited.
fn readapt(target: &Target, ignore: &Ignore) -> Result<Vec<Change>> {
    const DRIFT: [&str; 3] = ["adapter-missing", "import-unresolved", "module-config-drift"];
    let Kind::Foundation { modules_dir, .. } = &target.kind else {
        return Ok(Vec::new());
    };
    let mut found: Vec<Diagnostic> = Vec::new();
    super::checks::adapted::check(target, &mut found)?;
    let mut changes = Vec::new();
    for module in target.modules() {
        let prefix = format!("{modules_dir}/{}/", module.id);
        let drifted = found.iter().any(|d| {
            DRIFT.contains(&d.code)
                && !ignore.skips(d.code)
                && d.file.as_deref().is_some_and(|f| f.starts_with(&prefix))
        });
        if !drifted {
            continue;
        }
        let Some(sandbox) = find_sandbox(target, &module.id) else {
            changes.push(Change {
                fixed: false,
                what: format!(
                    "module `{}` drifted, but its sandbox is neither ./{0} nor beside the foundation: run `modkit adapt {0} --foundation {} --from <its sandbox>`",
                    module.id,
                    target.root.display()
                ),
            });
            continue;
        };
        let adaptation = crate::adapt::Adaptation::plan(&module.id, &sandbox, &target.root)?;
        if !adaptation.conflicts.is_empty() {
            let files: Vec<&str> = adaptation.conflicts.iter().map(|c| c.path.as_str()).collect();
            changes.push(Change {
                fixed: false,
                what: format!(
                    "adapting `{}` again would overwrite edited file(s) {}: move the edits into the sandbox, or run `modkit adapt {0} --force`",
                    module.id,
                    files.join(", ")
                ),
            });
            continue;
        }
        adaptation.plan.apply()?;
        changes.push(Change::done(format!(
            "{prefix}: adapted `{}` again from {}",
            module.id,
            sandbox.display()
        )));
    }
    Ok(changes)
}

/// The module's sandbox as `modkit adapt` looks for it (the current folder, ./<id>), or beside the
/// foundation (../<id>): a folder whose modkit.toml says `[module] id = "<id>"`.
fn find_sandbox(target: &Target, id: &str) -> Option<std::path::PathBuf> {
    let candidates = [
        std::path::PathBuf::from("."),
        std::path::PathBuf::from(id),
        target.root.parent()?.join(id),
    ];
    candidates.into_iter().find(|dir| {
        crate::project::Project::load(dir)
            .ok()
            .and_then(|p| p.file.module)
            .is_some_and(|m| m.id == id)
    })
}
