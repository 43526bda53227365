//! `modkit doctor`: what is broken or drifting in a sandbox or a foundation. Static checks read the
//! files (with the TypeScript parser and the tsconfig reader the other commands use); live checks
//! (`live.rs`) read the database. Each check is a function in [`STATIC_CHECKS`] that adds
//! [`Diagnostic`]s; codes are stable and documented in docs/doctor.md.

pub mod checks;
pub mod citus;
pub mod drift;
pub mod entry;
pub mod fix;
mod fix_check;
pub mod ignore;
pub mod live;
pub mod objects;
pub mod rule;
pub mod scan;
pub mod sources;
mod sql_words;

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::adapt::{self, ImportProblem, MANIFEST};
use crate::diagnostics::Diagnostic;
use crate::foundation::slash;
use crate::modules::{read_file_bytes, read_text, sha256_hex};
use crate::project::Project;
use crate::templates;
use crate::{ts, tsconfig};

/// What doctor looks at.
#[derive(Debug)]
pub enum Kind {
    /// One module's sandbox (modkit.toml `[module]`).
    Sandbox { id: String },
    /// A foundation: its modules under `modules_dir`.
    Foundation {
        modules_dir: String,
        modules: Vec<String>,
    },
}

#[derive(Debug)]
pub struct Target {
    pub root: PathBuf,
    pub project: Project,
    pub kind: Kind,
    /// The server's folder (with its package.json): the root, `[foundation] root`, or the one
    /// found (`backend/`, `server/`, `api/` beside a client when the root has no server code).
    pub server: PathBuf,
    /// The tsconfig that compiles the server: `[foundation] tsconfig`, else `<server>/tsconfig.json`.
    pub tsconfig: PathBuf,
    /// The files the checks read, each read and parsed once for all of them.
    pub sources: sources::Sources,
    module_dirs: std::sync::OnceLock<Vec<ModuleDirs>>,
    /// Each module's plugin folder (absolute), for [`Target::facts`].
    plugin_dirs: std::sync::OnceLock<rustc_hash::FxHashSet<std::ffi::OsString>>,
}

impl Target {
    pub fn load(root: &Path) -> Result<Self> {
        if !root.is_dir() {
            return Err(
                crate::exit::UserError::new(format!("{} is not a folder", root.display()))
                    .hint("pass the sandbox's or the foundation's folder")
                    .into(),
            );
        }
        // Canonical, like the paths the tsconfig reader reports, so that both print relative.
        let root = &std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
        let project = Project::load(root)?;
        if let Some(module) = &project.file.module {
            let id = module.id.clone();
            return Ok(Self {
                root: root.to_path_buf(),
                project,
                kind: Kind::Sandbox { id },
                server: root.to_path_buf(),
                tsconfig: root.join("tsconfig.json"),
                sources: Default::default(),
                module_dirs: Default::default(),
                plugin_dirs: Default::default(),
            });
        }
        let modules_dir = project
            .file
            .foundation
            .as_ref()
            .map_or_else(|| "src/modules".to_string(), |f| f.modules_dir.clone());
        let dir = root.join(&modules_dir);
        if project.file.foundation.is_none() && !dir.is_dir() {
            return Err(crate::exit::UserError::new(format!(
                "{} is neither a module sandbox (modkit.toml [module]) nor a foundation ({modules_dir}/ or modkit.toml [foundation])",
                root.display()
            ))
            .hint("run doctor in a sandbox made by `modkit init`, or in a foundation's root folder, or pass that folder")
            .into());
        }
        let sources = sources::Sources::default();
        let mut modules: Vec<String> = sources
            .entries(&dir)
            .map(|entries| {
                entries
                    .into_iter()
                    .filter(|(path, _)| sources.is_file(&path.join("plugin/index.ts")))
                    .filter_map(|(path, _)| Some(path.file_name()?.to_string_lossy().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        modules.sort();
        let section = project.file.foundation.as_ref();
        let server = match section.and_then(|f| f.root.as_deref()) {
            Some(dir) => {
                // Canonical, so that a link out of the foundation is refused like `..`.
                let server = std::fs::canonicalize(root.join(dir)).unwrap_or_else(|_| root.join(dir));
                if !server.is_dir() || !server.starts_with(root) || dir.split(['/', '\\']).any(|c| c == "..")
                {
                    return Err(crate::exit::UserError::new(format!(
                        "modkit.toml: [foundation] root = \"{dir}\" is not a folder inside {}",
                        root.display()
                    ))
                    .hint("name the server's folder relative to the foundation, e.g. root = \"backend\"")
                    .into());
                }
                server
            }
            None => find_server(root),
        };
        let tsconfig =
            crate::server_tsconfig::head(root, &server, section.and_then(|f| f.tsconfig.as_deref()))?;
        Ok(Self {
            root: root.to_path_buf(),
            project,
            kind: Kind::Foundation { modules_dir, modules },
            server,
            tsconfig,
            sources,
            module_dirs: Default::default(),
            plugin_dirs: Default::default(),
        })
    }

    /// `sandbox items` or `foundation (2 modules)`, for the summary line.
    pub fn describe(&self) -> String {
        match &self.kind {
            Kind::Sandbox { id } => format!("the `{id}` sandbox"),
            Kind::Foundation { modules, .. } => format!(
                "the foundation ({} module(s): {})",
                modules.len(),
                modules.join(", ")
            ),
        }
    }

    /// A module's folders: (id, plugin dir, migrations dir, the module's folder) relative to the root.
    /// Found once (each module's migrations folder is looked for on disk) for every check.
    fn modules(&self) -> &[ModuleDirs] {
        self.module_dirs.get_or_init(|| self.find_modules())
    }

    fn find_modules(&self) -> Vec<ModuleDirs> {
        match &self.kind {
            Kind::Sandbox { id } => vec![ModuleDirs {
                id: id.clone(),
                plugin: "plugin".into(),
                migrations: "plugin/migrations".into(),
                adapted: None,
            }],
            Kind::Foundation { modules_dir, modules } => modules
                .iter()
                .map(|id| ModuleDirs {
                    id: id.clone(),
                    plugin: format!("{modules_dir}/{id}/plugin"),
                    migrations: {
                        let (_, migrations_dir) = crate::modules::foundation_dirs(&self.project);
                        crate::modules::foundation_migrations_with(
                            &self.root,
                            modules_dir,
                            &migrations_dir,
                            id,
                            |p| self.sources.is_dir(p),
                        )
                        .unwrap_or_else(|_| format!("{migrations_dir}/{id}"))
                    },
                    adapted: Some(format!("{modules_dir}/{id}")),
                })
                .collect(),
        }
    }
}

/// The server's folder when modkit.toml does not say: the root, unless the root holds no server
/// code (no `src/` or a client's `src/`: `index.html` beside it) and one of `backend/`, `server/`,
/// `api/` has its own package.json.
fn find_server(root: &Path) -> PathBuf {
    let client_at_root = root.join("index.html").is_file();
    if root.join("src").is_dir() && !client_at_root {
        return root.to_path_buf();
    }
    ["backend", "server", "api"]
        .iter()
        .map(|d| root.join(d))
        .find(|d| d.join("package.json").is_file())
        .unwrap_or_else(|| root.to_path_buf())
}

#[derive(Debug)]
struct ModuleDirs {
    id: String,
    plugin: String,
    migrations: String,
    /// In a foundation: the module's folder (adapter, module.config.ts, manifest).
    adapted: Option<String>,
}

/// Every static check. A check that cannot finish on bad input (a file that does not parse as
/// TypeScript) becomes a diagnostic, and the other checks still run.
pub fn run_static(target: &Target, skip: &dyn Fn(&str) -> bool) -> Result<Vec<Diagnostic>> {
    let wanted: Vec<&checks::Check> = checks::STATIC
        .iter()
        .filter(|check| !(check.rules.iter().all(|r| skip(r.code)) && check.also.iter().all(|c| skip(c))))
        .collect();
    // The checks are independent and bound by parsing: with more than one core for this process,
    // run them side by side, one thread each (the first parse of a file is shared, so the parses
    // spread over the cores), each on a stack as large as this thread's (main.rs: deep nesting
    // the pre-scan misses must not overflow it); with one core, all on this thread: more threads
    // only cost their start and their heaps. Each takes the next check not taken; they report in
    // their fixed order. A check keeps what it found before it could not finish.
    let run = |check: &checks::Check| {
        let mut found = Vec::new();
        let result = (check.run)(target, &mut found);
        (found, result)
    };
    type Outcome = (Vec<Diagnostic>, Result<()>);
    let outcomes: Vec<std::sync::Mutex<Option<Outcome>>> =
        wanted.iter().map(|_| Default::default()).collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let work = || {
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(&check) = wanted.get(i) else { break };
            let outcome = run(check);
            *outcomes[i]
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(outcome);
        }
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..if cores > 1 { wanted.len() } else { 1 })
            .filter_map(|_| {
                std::thread::Builder::new()
                    .stack_size(crate::STACK_SIZE)
                    .spawn_scoped(scope, work)
                    .ok()
            })
            .collect();
        work();
        for helper in helpers {
            helper
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        }
    });
    let results = outcomes
        .into_iter()
        .map(|o| o.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner()));
    let mut out = Vec::new();
    for (check, (found, result)) in wanted.iter().zip(results).filter_map(|(c, r)| Some((c, r?))) {
        out.extend(found);
        if let Err(e) = result {
            let Some(user) = e.downcast_ref::<crate::exit::UserError>() else {
                return Err(e);
            };
            let name = check.name;
            let message = target.relative_text(&user.message);
            let (code, message) = if message.contains("does not parse as TypeScript") {
                ("typescript-syntax", message)
            } else {
                (
                    "check-failed",
                    format!("the {name} check could not finish: {message}"),
                )
            };
            let mut d = Diagnostic::error(code, message);
            if let Some(hint) = &user.hint {
                d = d.hint(hint.clone());
            }
            out.push(d);
        }
    }
    Ok(out)
}

// --- helpers ----------------------------------------------------------------------------------

/// A file that does not parse becomes a `typescript-syntax` diagnostic, so that the check goes on
/// with the other files; any other error stops doctor.
fn syntax_error(target: &Target, err: anyhow::Error, out: &mut Vec<Diagnostic>) -> Result<()> {
    let Some(user) = err.downcast_ref::<crate::exit::UserError>() else {
        return Err(err);
    };
    let mut d = Diagnostic::error("typescript-syntax", target.relative_text(&user.message));
    if let Some(hint) = &user.hint {
        d = d.hint(hint.clone());
    }
    out.push(d);
    Ok(())
}

impl Target {
    fn relative(&self, path: &Path) -> String {
        slash(path.strip_prefix(&self.root).unwrap_or(path))
    }

    /// What a TypeScript file holds, from its one parse (None: unreadable, `read_or_report` says why).
    /// Its routes are looked for only in a module's plugin folder, the files the routes check reads
    /// (a walk of the whole syntax tree, for an adapter's routes no check reads).
    fn facts(&self, path: &Path) -> Option<Result<std::sync::Arc<sources::Facts>, ts::ParseFailure>> {
        self.sources.facts(path, &self.relative(path), || {
            let plugins = self.plugin_dirs.get_or_init(|| {
                self.modules()
                    .iter()
                    .map(|m| self.root.join(&m.plugin).into_os_string())
                    .collect()
            });
            path.ancestors()
                .skip(1)
                .any(|dir| plugins.contains(dir.as_os_str()))
        })
    }

    /// A message with the project folder taken out of the paths it names.
    fn relative_text(&self, text: &str) -> String {
        let root = format!("{}/", self.root.display());
        text.replace(&root, "")
    }
}

fn ts_files(target: &Target, dir: &Path) -> Vec<PathBuf> {
    target.sources.ts_files(&target.root, dir, &[])
}

/// A module's TypeScript file, read.
struct PluginFile {
    /// Relative to the plugin folder.
    path: String,
    file: PathBuf,
    contents: std::sync::Arc<String>,
}

fn plugin_files(target: &Target, dir: &Path, out: &mut Vec<Diagnostic>) -> Vec<PluginFile> {
    ts_files(target, dir)
        .into_iter()
        .filter(|p| !p.starts_with(dir.join("migrations")))
        .filter_map(|p| {
            Some(PluginFile {
                path: slash(p.strip_prefix(dir).unwrap_or(&p)),
                contents: read_or_report(target, &p, out)?,
                file: p,
            })
        })
        .collect()
}

/// A file's text, or a `file-unreadable` diagnostic naming it: a link, a folder, a FIFO (never
/// opened), a file that is not UTF-8. The other files are still checked.
fn read_or_report(target: &Target, path: &Path, out: &mut Vec<Diagnostic>) -> Option<std::sync::Arc<String>> {
    match target.sources.text(path) {
        Ok(text) => Some(text),
        Err(sources::ReadFailure { message, hint, .. }) => {
            let rel = target.relative(path);
            let message = target.relative_text(&message);
            let message = message
                .strip_prefix(&rel)
                .map_or(message.clone(), |m| m.trim_start().to_string());
            let mut d = Diagnostic::error("file-unreadable", message).at(rel, None);
            if let Some(hint) = hint {
                d = d.hint(hint);
            }
            out.push(d);
            None
        }
    }
}

/// The symbolic links under `dir` (not followed), sorted.
fn links_in(sources: &sources::Sources, dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Some(entries) = sources.entries(&dir) else {
            continue;
        };
        for (path, kind) in entries {
            let Some(kind) = kind else { continue };
            if kind.is_symlink() {
                out.push(path);
            } else if kind.is_dir() && path.file_name().is_some_and(|n| n != "node_modules") {
                stack.push(path);
            }
        }
    }
    out.sort();
    out
}

fn package_names(root: &Path) -> Vec<String> {
    crate::foundation::read_package_json(root)
        .map(|p| crate::foundation::package_names(&p))
        .unwrap_or_default()
}

/// The file a relative specifier names, as TypeScript resolves it (`.js` for `.ts`, no extension,
/// a folder's index).
fn resolve_relative(base: &Path, spec: &str) -> Option<PathBuf> {
    resolve_relative_with(base, spec, Path::is_file)
}

/// [`resolve_relative`], asking `is_file` whether each candidate is there (doctor asks its
/// folders' listings, [`sources::Sources::is_file`]).
fn resolve_relative_with(base: &Path, spec: &str, is_file: impl Fn(&Path) -> bool) -> Option<PathBuf> {
    let path = normalize(&base.join(spec));
    let text = path.to_string_lossy().to_string();
    let mut candidates = vec![path.clone()];
    for (js, ts_exts) in [
        (".js", &[".ts", ".tsx"][..]),
        (".mjs", &[".mts"][..]),
        (".cjs", &[".cts"][..]),
    ] {
        if let Some(stem) = text.strip_suffix(js) {
            candidates.extend(ts_exts.iter().map(|e| PathBuf::from(format!("{stem}{e}"))));
        }
    }
    for ext in [".ts", ".tsx", ".d.ts", "/index.ts", "/index.tsx"] {
        candidates.push(PathBuf::from(format!("{text}{ext}")));
    }
    candidates.into_iter().find(|c| is_file(c))
}

/// `a/b/../c` -> `a/c`, without touching the disk.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// The 1-based line of the first occurrence of `needle` in a file.
fn line_of(file: &Path, needle: &str) -> Option<usize> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines().position(|l| l.contains(needle)).map(|i| i + 1)
}

fn sorted(v: &[String]) -> Vec<&String> {
    let mut v: Vec<&String> = v.iter().collect();
    v.sort();
    v
}

/// Lines of SQL where a `tenant_id` column is defined or added: comments and string literals
/// are skipped, and a statement that drops the column does not count.
pub fn tenant_id_lines(sql: &str) -> Vec<usize> {
    let mut out = Vec::new();
    let mut statement = String::new();
    let mut statement_lines = Vec::new();
    let mut line = 1;
    let mut chars = sql.chars().peekable();
    let flush = |statement: &mut String, lines: &mut Vec<usize>, out: &mut Vec<usize>| {
        if !statement.to_ascii_lowercase().contains("drop column") {
            out.extend(lines.iter().copied());
        }
        statement.clear();
        lines.clear();
    };
    let mut word = String::new();
    while let Some(c) = chars.next() {
        match c {
            '-' if chars.peek() == Some(&'-') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        line += 1;
                        break;
                    }
                }
                continue;
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut last = ' ';
                for c in chars.by_ref() {
                    if c == '\n' {
                        line += 1;
                    }
                    if last == '*' && c == '/' {
                        break;
                    }
                    last = c;
                }
                continue;
            }
            '\'' => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        line += 1;
                    }
                    if c == '\'' {
                        break;
                    }
                }
                continue;
            }
            _ => {}
        }
        if c.is_alphanumeric() || c == '_' {
            word.push(c);
        } else {
            if word.eq_ignore_ascii_case("tenant_id") && !statement_lines.contains(&line) {
                statement_lines.push(line);
            }
            word.clear();
        }
        statement.push(c);
        if c == '\n' {
            line += 1;
        }
        if c == ';' {
            flush(&mut statement, &mut statement_lines, &mut out);
        }
    }
    if word.eq_ignore_ascii_case("tenant_id") && !statement_lines.contains(&line) {
        statement_lines.push(line);
    }
    flush(&mut statement, &mut statement_lines, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_tenant_id_columns_but_not_in_comments_strings_or_drops() {
        let sql = "-- no tenant_id here\nCREATE TABLE items (\n  id uuid,\n  tenant_id uuid NOT NULL,\n  note text DEFAULT 'tenant_id'\n);\n/* tenant_id */\nALTER TABLE items DROP COLUMN tenant_id;\nALTER TABLE x ADD COLUMN \"tenant_id\" uuid;\n";
        assert_eq!(tenant_id_lines(sql), [4, 9]);
        assert!(tenant_id_lines("CREATE TABLE a (id uuid);").is_empty());
    }

    #[test]
    fn resolves_like_typescript() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("lib/db")).unwrap();
        std::fs::write(dir.path().join("lib/db/tenant-db.ts"), "").unwrap();
        std::fs::write(dir.path().join("lib/index.ts"), "").unwrap();
        let base = dir.path().join("modules/items");
        assert!(resolve_relative(&base, "../../lib/db/tenant-db.js").is_some());
        assert!(resolve_relative(&base, "../../lib/db/tenant-db").is_some());
        assert!(resolve_relative(&base, "../../lib").is_some());
        assert!(resolve_relative(&base, "../lib/db/tenant-db").is_none());
    }
}
