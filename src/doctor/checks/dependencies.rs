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
        what: "code that production runs (the files the real entry reaches: `start` through `npm run` and `outDir` -> `rootDir`, the tsup/esbuild/nx entry, `main`; never tests, specs, configs, seeds or fixtures) loads a package that is only a devDependency: `npm ci --omit=dev` leaves it out and the server fails to start",
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

/// The bare specifiers the server's code imports that resolve only through `baseUrl` (not a
/// `paths` alias): removing `baseUrl` would break them.
pub fn imports_through_base_url(target: &Target) -> Vec<String> {
    let aliases = aliases(target);
    let mut out = Vec::new();
    for file in target.sources.ts_files(&target.root, &target.server, &[]) {
        let Some(Ok(facts)) = target.facts(&file) else {
            continue;
        };
        for load in facts.loads.iter().cloned() {
            if !aliases.iter().any(|a| a.matches(&load.specifier))
                && from_base_url(&aliases, &load.specifier).is_some()
                && !out.contains(&load.specifier)
            {
                out.push(load.specifier);
            }
        }
    }
    out
}

/// The packages `--fix` moves to devDependencies: (package, its `@types/*` in dependencies).
pub fn movable_to_dev(target: &Target) -> Vec<(String, Option<String>)> {
    analyze(target).map(|a| a.movable_to_dev()).unwrap_or_default()
}

fn analyze(target: &Target) -> Option<Analysis> {
    // No package.json (or a broken one): the toolchain check says so.
    let declared = Declared::read(&target.server)?;
    let aliases = aliases(target);
    let files: Vec<PathBuf> = match &target.kind {
        Kind::Sandbox { .. } => {
            let mut files: Vec<PathBuf> = ["plugin", "sandbox", "client", "tests"]
                .iter()
                .flat_map(|d| target.sources.ts_files(&target.root, &target.root.join(d), &[]))
                .collect();
            // Root files such as vite.config.ts.
            files.extend(
                target
                    .sources
                    .ts_files(&target.root, &target.root, &[])
                    .into_iter()
                    .filter(|f| f.parent() == Some(&target.root)),
            );
            files
        }
        // The server's code, all of it but the modules (a module's packages are
        // `module-package-unlisted`'s) and folders that are packages of their own (a client).
        Kind::Foundation { modules_dir, .. } => target
            .sources
            .ts_files(&target.root, &target.server, &[target.root.join(modules_dir)])
            .into_iter()
            .filter(|f| !in_nested_package(&target.server, f))
            .collect(),
    };
    // Each file parsed once: what it loads serves both the walk from the entries and the packages.
    let loads: BTreeMap<PathBuf, Vec<scan::Load>> = files
        .iter()
        .filter_map(|file| Some((file.clone(), target.facts(file)?.ok()?.loads.clone())))
        .collect();
    let production = production_files(target, &files, &aliases, &loads);

    // Per package: where it is first loaded, and whether production loads it / development only.
    let mut first: BTreeMap<String, (String, usize)> = BTreeMap::new();
    let mut in_production: BTreeMap<String, (String, usize)> = BTreeMap::new();
    let mut dev_paths: BTreeSet<String> = BTreeSet::new();
    for file in &files {
        let Some(loads) = loads.get(file) else { continue };
        let rel = target.relative(file);
        let runs_in_production = production.contains(file);
        for load in loads {
            let load = load.clone();
            if aliases.iter().any(|a| a.matches(&load.specifier))
                || from_base_url(&aliases, &load.specifier).is_some()
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

/// A `paths` alias of the server's tsconfig (or a project it references): `@/*` -> `<dir>/src/*`;
/// or, with `base: true`, `baseUrl` itself, against which any bare specifier resolves first.
struct Alias {
    prefix: String,
    exact: bool,
    targets: Vec<PathBuf>,
    base: bool,
}

/// The file a bare specifier names under a `baseUrl` (`spec/support` with `baseUrl: "./"`).
fn from_base_url(aliases: &[Alias], spec: &str) -> Option<PathBuf> {
    if spec.starts_with('.') || spec.starts_with('/') {
        return None;
    }
    aliases
        .iter()
        .filter(|a| a.base)
        .flat_map(|a| &a.targets)
        .find_map(|dir| resolve_relative(dir, &format!("./{spec}")))
}

impl Alias {
    fn matches(&self, spec: &str) -> bool {
        if self.base {
            false
        } else if self.exact {
            spec == self.prefix
        } else {
            !self.prefix.is_empty() && spec.starts_with(&self.prefix)
        }
    }

    /// The files `spec` names through this alias.
    fn resolve(&self, spec: &str) -> Option<PathBuf> {
        let rest = if self.exact {
            ""
        } else {
            spec.strip_prefix(&self.prefix)?
        };
        self.targets.iter().find_map(|t| {
            let text = t.to_string_lossy().replace('*', rest);
            resolve_relative(Path::new("/"), &text)
        })
    }
}

fn aliases(target: &Target) -> Vec<Alias> {
    let projects = tsconfig::load_project(&target.tsconfig).unwrap_or_default();
    let mut out: Vec<Alias> = Vec::new();
    for (_, options) in projects {
        if let Some(base) = options.base_url
            && !out.iter().any(|a| a.base && a.targets.contains(&base))
        {
            out.push(Alias {
                prefix: String::new(),
                exact: false,
                targets: vec![base],
                base: true,
            });
        }
        for p in options.paths {
            if out
                .iter()
                .any(|a| !a.base && a.prefix == p.alias.trim_end_matches('*'))
            {
                continue;
            }
            out.push(Alias {
                exact: !p.alias.ends_with('*'),
                prefix: p.alias.trim_end_matches('*').to_string(),
                targets: p.targets.iter().map(|t| p.base_dir.join(t)).collect(),
                base: false,
            });
        }
    }
    out
}

/// Whether a folder between `server` and `file` has a package.json of its own (a client, another
/// app of a workspace): not the server's code.
fn in_nested_package(server: &Path, file: &Path) -> bool {
    file.ancestors()
        .skip(1)
        .take_while(|d| *d != server && d.starts_with(server))
        .any(|d| d.join("package.json").is_file())
}

/// Files production never runs, whatever the entry: tests, specs, fixtures, seeds, end-to-end
/// suites and tools' configuration (`vitest.config.ts`, `jest.config.ts`, `cypress.config.ts`).
pub fn never_production(server: &Path, file: &Path) -> bool {
    let rel = file.strip_prefix(server).unwrap_or(file);
    let name = rel
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let folder = |c: &std::path::Component| {
        let c = c.as_os_str().to_string_lossy().to_ascii_lowercase();
        [
            "test",
            "tests",
            "__tests__",
            "__mocks__",
            "spec",
            "specs",
            "e2e",
            "cypress",
            "fixtures",
            "__fixtures__",
            "seed",
            "seeds",
            "seeders",
            "scripts",
        ]
        .contains(&c.as_str())
            || c.ends_with("-e2e")
    };
    let parents: Vec<_> = rel.parent().map(|p| p.components().collect()).unwrap_or_default();
    parents.iter().any(folder)
        || [".test.", ".spec.", ".config.", ".cy.", ".e2e.", ".stories."]
            .iter()
            .any(|m| name.contains(m))
        || name.starts_with("seed")
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

/// The files production runs: those the real entries reach (the `start` script, followed
/// through `npm run`, and the build tool's entry: tsup, esbuild, nx project.json; `main`), through
/// relative imports and `paths` aliases loaded at run time. An entry in the compiled output
/// (`node dist/server.js`) is mapped back to its source through `outDir` -> `rootDir`, so the
/// answer is the same whether the app was built or not. No entry found: every file but tests,
/// configs, seeds and fixtures.
fn production_files(
    target: &Target,
    files: &[PathBuf],
    aliases: &[Alias],
    parsed: &BTreeMap<PathBuf, Vec<scan::Load>>,
) -> BTreeSet<PathBuf> {
    let server = &target.server;
    let never = |f: &Path| never_production(server, f);
    let entries: Vec<PathBuf> = match &target.kind {
        Kind::Sandbox { .. } => super::super::entry::entries(target),
        Kind::Foundation { .. } => super::super::entry::entries(target),
    };
    if entries.is_empty() {
        return files.iter().filter(|f| !never(f)).cloned().collect();
    }
    let mut seen = BTreeSet::new();
    let mut stack = entries;
    while let Some(file) = stack.pop() {
        if never(&file) || !seen.insert(file.clone()) {
            continue;
        }
        // Parsed above, unless the entry is outside the files scanned (then read here).
        let loads = match parsed.get(&file) {
            Some(loads) => loads.clone(),
            None => {
                let Ok(source) = read_text(&file) else { continue };
                let Ok(loads) = scan::loads(&source, &target.relative(&file)) else {
                    continue;
                };
                loads
            }
        };
        let base = file.parent().unwrap_or(server).to_path_buf();
        for load in loads {
            if !matches!(load.kind, LoadKind::Static | LoadKind::Dynamic) {
                continue;
            }
            let next = if load.specifier.starts_with('.') {
                resolve_relative(&base, &load.specifier)
            } else {
                aliases
                    .iter()
                    .filter(|a| a.matches(&load.specifier))
                    .find_map(|a| a.resolve(&load.specifier))
                    .or_else(|| from_base_url(aliases, &load.specifier))
            };
            if let Some(next) = next {
                stack.push(next);
            }
        }
    }
    seen
}
