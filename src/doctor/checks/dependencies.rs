//! The packages the project's code loads against package.json: each one declared; what production
//! loads (the files `npm start` reaches) not a devDependency only; a dependency only development
//! paths load (the sandbox's `await import('cors')` under `!production`) kept out of production.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::diagnostics::{Diagnostic, Severity};
use crate::doctor::rule::{Rule, Scope};
use crate::doctor::scan::{self, LoadKind};
use crate::doctor::*;

pub const RULES: &[Rule] = &[
    Rule {
        code: "dependency-undeclared",
        severity: Severity::Error,
        scope: Scope::Both,
        what: "the project's code imports a package (statically, with `import()` or `require`) that `package.json` does not declare: it works only while something else happens to install it",
        fix: "`npm install <package>` (`--save-dev` when only development code loads it)",
    },
    Rule {
        code: "dependency-dev-only-in-production",
        severity: Severity::Error,
        scope: Scope::Both,
        what: "code that production runs (the files `npm start` reaches) loads a package that is only a devDependency: `npm ci --omit=dev` leaves it out and the server fails to start",
        fix: "move it to `dependencies`, or load it only on a development path (`if (!production) await import(...)`)",
    },
    Rule {
        code: "dependency-dev-path-in-dependencies",
        severity: Severity::Warning,
        scope: Scope::Both,
        what: "a package in `dependencies` is loaded only on development paths (like `cors` under `!production`): production installs what it never runs (`@types/*` of it too)",
        fix: "move it (and its `@types/*`) to `devDependencies`; `modkit doctor --fix` does",
    },
];

/// Where each section of package.json puts a package.
#[derive(Default)]
struct Declared {
    production: BTreeSet<String>,
    dev: BTreeSet<String>,
}

impl Declared {
    fn read(root: &Path) -> Option<Self> {
        let package = crate::foundation::read_package_json(root).ok()?;
        let keys = |section: &str| -> BTreeSet<String> {
            package
                .get(section)
                .and_then(|d| d.as_object())
                .map(|d| d.keys().cloned().collect())
                .unwrap_or_default()
        };
        let mut production = keys("dependencies");
        production.extend(keys("peerDependencies"));
        production.extend(keys("optionalDependencies"));
        Some(Self {
            production,
            dev: keys("devDependencies"),
        })
    }
}

/// What the project's code loads, against what package.json declares.
struct Analysis {
    declared: Declared,
    /// Each package, where it is first loaded.
    first: BTreeMap<String, (String, usize)>,
    /// Packages production code loads (not only on a development path), where first.
    in_production: BTreeMap<String, (String, usize)>,
    /// Packages production files load on development paths.
    dev_paths: BTreeSet<String>,
}

impl Analysis {
    /// Packages in `dependencies` that only development paths load: they belong in devDependencies
    /// (with their `@types/*`, when that is in dependencies too).
    fn movable_to_dev(&self) -> Vec<(String, Option<String>)> {
        self.dev_paths
            .iter()
            .filter(|p| !self.in_production.contains_key(*p) && self.declared.production.contains(*p))
            .map(|p| {
                let types = format!("@types/{}", p.trim_start_matches('@').replace('/', "__"));
                let types = self.declared.production.contains(&types).then_some(types);
                (p.clone(), types)
            })
            .collect()
    }
}

/// The packages `--fix` moves to devDependencies: (package, its `@types/*` in dependencies).
pub fn movable_to_dev(target: &Target) -> Vec<(String, Option<String>)> {
    analyze(target).map(|a| a.movable_to_dev()).unwrap_or_default()
}

fn analyze(target: &Target) -> Option<Analysis> {
    // No package.json (or a broken one): the toolchain check says so.
    let declared = Declared::read(&target.root)?;
    let aliases: Vec<String> = tsconfig::load(&target.root.join("tsconfig.json"))
        .map(|o| {
            o.paths
                .iter()
                .map(|p| p.alias.trim_end_matches('*').to_string())
                .collect()
        })
        .unwrap_or_default();
    let (dirs, module_dirs): (&[&str], Vec<PathBuf>) = match &target.kind {
        Kind::Sandbox { .. } => (&["plugin", "sandbox", "client", "tests"], Vec::new()),
        // A module's packages are `module-package-unlisted`'s (module code check).
        Kind::Foundation { modules_dir, .. } => (&["src", "tests"], vec![target.root.join(modules_dir)]),
    };
    let mut files: Vec<PathBuf> = dirs
        .iter()
        .flat_map(|d| ts::source_files(&target.root.join(d), &module_dirs))
        .collect();
    // Root files such as vite.config.ts.
    files.extend(
        ts::source_files(&target.root, &[])
            .into_iter()
            .filter(|f| f.parent() == Some(&target.root)),
    );
    let production = production_files(target);

    // Per package: where it is first loaded, and whether production loads it / development only.
    let mut first: BTreeMap<String, (String, usize)> = BTreeMap::new();
    let mut in_production: BTreeMap<String, (String, usize)> = BTreeMap::new();
    let mut dev_paths: BTreeSet<String> = BTreeSet::new();
    for file in &files {
        let Ok(source) = read_text(file) else { continue };
        let rel = target.relative(file);
        let Ok(loads) = scan::loads(&source, &rel) else {
            continue;
        };
        let runs_in_production = production.as_ref().is_none_or(|p| p.contains(file));
        for load in loads {
            if aliases
                .iter()
                .any(|a| !a.is_empty() && load.specifier.starts_with(a.as_str()))
            {
                continue;
            }
            let Some(package) = scan::package_of(&load.specifier) else {
                continue;
            };
            first.entry(package.clone()).or_insert((rel.clone(), load.line));
            if !runs_in_production {
                continue;
            }
            match load.kind {
                LoadKind::Static | LoadKind::Dynamic => {
                    in_production.entry(package).or_insert((rel.clone(), load.line));
                }
                LoadKind::DevOnly => {
                    dev_paths.insert(package);
                }
                LoadKind::TypeOnly => {}
            }
        }
    }
    Some(Analysis {
        declared,
        first,
        in_production,
        dev_paths,
    })
}

pub fn check(target: &Target, out: &mut Vec<Diagnostic>) -> Result<()> {
    let Some(analysis) = analyze(target) else {
        return Ok(());
    };
    let Analysis {
        declared,
        first,
        in_production,
        ..
    } = &analysis;
    for (package, (file, line)) in first {
        if !declared.production.contains(package) && !declared.dev.contains(package) {
            out.push(
                Diagnostic::error(
                    "dependency-undeclared",
                    format!("imports `{package}`, which package.json does not declare"),
                )
                .at(file, Some(*line))
                .hint(format!(
                    "`npm install {package}` (with --save-dev if only development code loads it)"
                )),
            );
        }
    }
    for (package, (file, line)) in in_production {
        if declared.dev.contains(package) && !declared.production.contains(package) {
            out.push(
                Diagnostic::error(
                    "dependency-dev-only-in-production",
                    format!("production code loads `{package}`, which is only a devDependency: `npm ci --omit=dev` leaves it out and the server fails to start"),
                )
                .at(file, Some(*line))
                .hint(format!("move `{package}` to dependencies, or load it only in development (`if (!production) await import('{package}')`)")),
            );
        }
    }
    for (package, types) in analysis.movable_to_dev() {
        let also = types.map(|t| format!(" (and `{t}`)")).unwrap_or_default();
        out.push(
            Diagnostic::warning(
                "dependency-dev-path-in-dependencies",
                format!("`{package}`{also} is in dependencies, but only development paths load it: production installs what it never runs"),
            )
            .at("package.json", line_of(&target.root.join("package.json"), &format!("\"{package}\"")))
            .hint(format!("move `{package}`{also} to devDependencies (`modkit doctor --fix` does)")),
        );
    }
    Ok(())
}

/// The files production runs: those `scripts.start` (or `main`) reaches through relative imports
/// that are loaded at run time. None when there is no entry point to follow: every file counts.
fn production_files(target: &Target) -> Option<BTreeSet<PathBuf>> {
    let package = crate::foundation::read_package_json(&target.root).ok()?;
    let start = package.get("scripts")?.get("start").and_then(|s| s.as_str());
    let entry = start
        .and_then(|s| {
            s.split_whitespace().find(|t| {
                [".ts", ".mts", ".cts", ".js", ".mjs", ".cjs"]
                    .iter()
                    .any(|e| t.ends_with(e))
            })
        })
        .or_else(|| package.get("main").and_then(|m| m.as_str()))?;
    let entry = resolve_relative(&target.root, entry)?;
    let mut seen = BTreeSet::new();
    let mut stack = vec![entry];
    while let Some(file) = stack.pop() {
        if !seen.insert(file.clone()) {
            continue;
        }
        let Ok(source) = read_text(&file) else { continue };
        let Ok(loads) = scan::loads(&source, &target.relative(&file)) else {
            continue;
        };
        let base = file.parent().unwrap_or(&target.root).to_path_buf();
        for load in loads {
            if load.specifier.starts_with('.')
                && matches!(load.kind, LoadKind::Static | LoadKind::Dynamic)
                && let Some(next) = resolve_relative(&base, &load.specifier)
            {
                stack.push(next);
            }
        }
    }
    Some(seen)
}
