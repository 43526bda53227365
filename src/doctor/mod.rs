//! `modkit doctor`: what is broken or drifting in a sandbox or a foundation. Static checks read the
//! files (with the TypeScript parser and the tsconfig reader the other commands use); live checks
//! (`live.rs`) read the database. Each check is a function in [`STATIC_CHECKS`] that adds
//! [`Diagnostic`]s; codes are stable and documented in docs/doctor.md.

pub mod citus;
pub mod live;
mod local_db;

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::adapt::{self, ImportProblem, MANIFEST};
use crate::diagnostics::Diagnostic;
use crate::foundation::slash;
use crate::modules::{read_file_bytes, read_text, sha256_hex};
use crate::project::Project;
use crate::templates::{self, RenderedFile};
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
        let mut modules: Vec<String> = std::fs::read_dir(&dir)
            .map(|entries| {
                entries
                    .flatten()
                    .filter(|e| e.path().join("plugin/index.ts").is_file())
                    .map(|e| e.file_name().to_string_lossy().to_string())
                    .collect()
            })
            .unwrap_or_default();
        modules.sort();
        Ok(Self {
            root: root.to_path_buf(),
            project,
            kind: Kind::Foundation { modules_dir, modules },
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
    fn modules(&self) -> Vec<ModuleDirs> {
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
                    migrations: format!("{modules_dir}/{id}/migrations"),
                    adapted: Some(format!("{modules_dir}/{id}")),
                })
                .collect(),
        }
    }
}

struct ModuleDirs {
    id: String,
    plugin: String,
    migrations: String,
    /// In a foundation: the module's folder (adapter, module.config.ts, manifest).
    adapted: Option<String>,
}

type Check = fn(&Target, &mut Vec<Diagnostic>) -> Result<()>;

/// Every static check, in the order they report.
pub const STATIC_CHECKS: [(&str, Check); 7] = [
    ("tsconfig", check_tsconfig),
    ("cors", check_cors),
    ("module code", check_module_code),
    ("migrations", check_migrations),
    ("adapted modules", check_adapted),
    ("bootstrap SQL", check_bootstrap_sql),
    ("local database", local_db::check_local_db),
];

/// Every static check. A check that cannot finish on bad input (a file that does not parse as
/// TypeScript) becomes a diagnostic, and the other checks still run.
pub fn run_static(target: &Target) -> Result<Vec<Diagnostic>> {
    let mut out = Vec::new();
    for (name, check) in STATIC_CHECKS {
        if let Err(e) = check(target, &mut out) {
            let Some(user) = e.downcast_ref::<crate::exit::UserError>() else {
                return Err(e);
            };
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

/// `baseUrl` (TypeScript 7 rejects it) and `paths` that point at nothing.
fn check_tsconfig(target: &Target, out: &mut Vec<Diagnostic>) -> Result<()> {
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

/// `cors({ origin: true, credentials: true })` in the server code.
fn check_cors(target: &Target, out: &mut Vec<Diagnostic>) -> Result<()> {
    let dirs: &[&str] = match target.kind {
        Kind::Sandbox { .. } => &["sandbox"],
        Kind::Foundation { .. } => &["src"],
    };
    for dir in dirs {
        for file in ts_files(&target.root.join(dir)) {
            let Some(source) = read_or_report(target, &file, out) else {
                continue;
            };
            if !source.contains("cors") {
                continue;
            }
            let rel = target.relative(&file);
            let lines = match ts::cors_reflecting_any_origin(&source, &rel) {
                Ok(lines) => lines,
                Err(e) => {
                    syntax_error(target, e, out)?;
                    continue;
                }
            };
            for line in lines {
                out.push(
                    Diagnostic::error("cors-any-origin", "CORS reflects every origin with credentials: any web page can call the API as the signed-in user")
                        .at(&rel, Some(line))
                        .hint("allow only http://localhost:* and http://127.0.0.1:* (the Vite dev server), in development only; see the sandbox's server.ts"),
                );
            }
        }
    }
    Ok(())
}

/// The module's code: its imports, its meta id and its permissions.
fn check_module_code(target: &Target, out: &mut Vec<Diagnostic>) -> Result<()> {
    let packages = match target.kind {
        Kind::Foundation { .. } => Some(package_names(&target.root)),
        Kind::Sandbox { .. } => None,
    };
    for module in target.modules() {
        let plugin_dir = target.root.join(&module.plugin);
        // Links among the migrations are reported by the migrations check.
        let migrations_dir = target.root.join(&module.migrations);
        for link in links_in(&plugin_dir)
            .into_iter()
            .filter(|l| !l.starts_with(&migrations_dir))
        {
            out.push(
                Diagnostic::error("module-file-link", "is a symbolic link: `modkit adapt` and `modkit bootstrap` refuse it rather than copy or run what it points at")
                    .at(target.relative(&link), None)
                    .hint("replace the link with the file (or folder) itself"),
            );
        }
        let files = plugin_files(target, &plugin_dir, out);
        let findings = match adapt::import_findings(&files, packages.as_deref()) {
            Ok(findings) => findings,
            Err(e) => {
                syntax_error(target, e, out)?;
                continue;
            }
        };
        for finding in findings {
            let code = match finding.problem {
                ImportProblem::OutsidePlugin => "module-import-outside",
                ImportProblem::DbClient(_) => "module-imports-db-client",
                ImportProblem::UnlistedPackage(_) => "module-package-unlisted",
            };
            let file = format!("{}/{}", module.plugin, finding.file.trim_start_matches("plugin/"));
            let message = finding
                .message()
                .replacen(&format!("{}:{} ", finding.file, finding.line), "", 1);
            let d = match finding.problem {
                ImportProblem::UnlistedPackage(_) => Diagnostic::warning(code, message),
                _ => Diagnostic::error(code, message),
            };
            out.push(d.at(file, Some(finding.line)).hint(finding.hint()));
        }
        let index_rel = format!("{}/index.ts", module.plugin);
        let index_path = target.root.join(&index_rel);
        if std::fs::symlink_metadata(&index_path).is_err() {
            out.push(Diagnostic::error(
                "module-index-missing",
                format!("module `{}` has no {index_rel}", module.id),
            ));
            continue;
        }
        let Some(index) = read_or_report(target, &index_path, out) else {
            continue;
        };
        let meta = ts::object_strings(&index, &index_rel, "meta")?;
        match meta.as_ref().and_then(|m| m.get("id")) {
            Some(id) if *id == module.id => {}
            Some(id) => out.push(
                Diagnostic::error(
                    "module-meta-id",
                    format!("`meta.id` is `{id}`, but the module is `{}`", module.id),
                )
                .at(&index_rel, line_of(&target.root.join(&index_rel), "meta"))
                .hint(format!(
                    "make them the same: the routes are mounted at /api/plugins/{}",
                    module.id
                )),
            ),
            None => out.push(
                Diagnostic::error(
                    "module-meta-id",
                    "the plugin object has no `meta: { id, version, api }` of string literals",
                )
                .at(&index_rel, None)
                .hint(format!(
                    "write `meta: {{ id: '{}', version: '1.0.0', api: '1.x' }}`",
                    module.id
                )),
            ),
        }
        match ts::exported_string_array(&index, &index_rel, "permissions") {
            Ok(Some(permissions)) => {
                for p in permissions
                    .iter()
                    .filter(|p| !p.starts_with(&format!("{}.", module.id)))
                {
                    out.push(
                        Diagnostic::warning("permission-prefix", format!("permission `{p}` does not start with `{}.`", module.id))
                            .at(&index_rel, line_of(&target.root.join(&index_rel), p))
                            .hint("prefix every permission with the module id, so that modules never share one by accident"),
                    );
                }
            }
            Ok(None) => out.push(
                Diagnostic::error("permissions-missing", "the module exports no `permissions`")
                    .at(&index_rel, None)
                    .hint(format!(
                        "add `export const permissions = ['{}.read'] satisfies string[];`",
                        module.id
                    )),
            ),
            Err(e) => out.push(Diagnostic::error("permissions-missing", format!("{e}")).at(&index_rel, None)),
        }
    }
    Ok(())
}

/// Module tables live in the tenant's schema: no `tenant_id` column.
fn check_migrations(target: &Target, out: &mut Vec<Diagnostic>) -> Result<()> {
    for module in target.modules() {
        let dir = target.root.join(&module.migrations);
        if std::fs::symlink_metadata(&dir).is_ok_and(|m| m.file_type().is_symlink()) {
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
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "sql"))
            .collect();
        files.sort();
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

/// In a foundation: each module has its adapter, its relative imports resolve, its
/// module.config.ts lists the plugin's permissions, and files modkit adapt wrote are unedited.
fn check_adapted(target: &Target, out: &mut Vec<Diagnostic>) -> Result<()> {
    for module in target.modules() {
        let Some(dir) = &module.adapted else { continue };
        let adapter = format!("{dir}/server/routes/index.ts");
        if !target.root.join(&adapter).is_file() {
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
        for file in ts_files(&target.root.join(dir)) {
            let Some(source) = read_or_report(target, &file, out) else {
                continue;
            };
            let rel = target.relative(&file);
            let imports = match ts::static_imports(&source, &rel) {
                Ok(imports) => imports,
                Err(e) => {
                    syntax_error(target, e, out)?;
                    continue;
                }
            };
            for import in imports {
                if !import.specifier.starts_with('.') || import.type_only {
                    continue;
                }
                let base = file.parent().unwrap_or(&target.root);
                if resolve_relative(base, &import.specifier).is_none() {
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
        if let (Ok(config), Ok(index)) = (
            read_text(&target.root.join(&config_rel)),
            read_text(&target.root.join(&module.plugin).join("index.ts")),
        ) {
            // A config that does not parse was reported with the module's files above.
            let listed = ts::default_export_string_array(&config, &config_rel, "permissions")
                .ok()
                .flatten();
            let declared = ts::exported_string_array(&index, "plugin/index.ts", "permissions")
                .ok()
                .flatten();
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
    let Ok(text) = read_text(&target.root.join(dir).join(MANIFEST)) else {
        return;
    };
    let Ok(manifest) = serde_json::from_str::<serde_json::Value>(&text) else {
        return;
    };
    let Some(files) = manifest.get("files").and_then(|f| f.as_object()) else {
        return;
    };
    for (file, sum) in files {
        let Ok(bytes) = read_file_bytes(&target.root.join(dir).join(file)) else {
            continue;
        };
        if sum.as_str() != Some(&sha256_hex(&bytes)) {
            out.push(
                Diagnostic::warning("adapted-file-edited", "edited in the foundation since `modkit adapt` wrote it: the next adapt will refuse to overwrite it")
                    .at(format!("{dir}/{file}"), None)
                    .hint("make the change in the module's sandbox and adapt again (or keep it and adapt with --force later)"),
            );
        }
    }
}

/// A sandbox's copy of modkit's bootstrap SQL: `npm run bootstrap` and `modkit bootstrap` run it.
fn check_bootstrap_sql(target: &Target, out: &mut Vec<Diagnostic>) -> Result<()> {
    if !matches!(target.kind, Kind::Sandbox { .. }) {
        return Ok(());
    }
    for name in ["system.sql", "statements.sql"] {
        let rel = format!("sandbox/sql/{name}");
        let ours = templates::raw(&format!("sql/{name}"))?;
        match std::fs::read_to_string(target.root.join(&rel)) {
            Ok(theirs) if theirs == ours => {}
            Ok(_) => out.push(
                Diagnostic::warning("bootstrap-sql-drift", format!("differs from the bootstrap SQL of modkit {}", env!("CARGO_PKG_VERSION")))
                    .at(&rel, None)
                    .hint("`npm run bootstrap` and `modkit bootstrap` may no longer make the same database: take modkit's copy (`modkit init <id> --dir /tmp/fresh`, then copy its sandbox/sql/)"),
            ),
            Err(_) => out.push(
                Diagnostic::error("bootstrap-sql-missing", "is missing: `npm run bootstrap` cannot run")
                    .at(&rel, None)
                    .hint("take modkit's copy (`modkit init <id> --dir /tmp/fresh`, then copy its sandbox/sql/)"),
            ),
        }
    }
    Ok(())
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

    /// A message with the project folder taken out of the paths it names.
    fn relative_text(&self, text: &str) -> String {
        let root = format!("{}/", self.root.display());
        text.replace(&root, "")
    }
}

fn ts_files(dir: &Path) -> Vec<PathBuf> {
    ts::source_files(dir, &[])
}

fn plugin_files(target: &Target, dir: &Path, out: &mut Vec<Diagnostic>) -> Vec<RenderedFile> {
    ts_files(dir)
        .into_iter()
        .filter(|p| !p.starts_with(dir.join("migrations")))
        .filter_map(|p| {
            Some(RenderedFile {
                path: slash(p.strip_prefix(dir).unwrap_or(&p)),
                contents: read_or_report(target, &p, out)?,
            })
        })
        .collect()
}

/// A file's text, or a `file-unreadable` diagnostic naming it: a link, a folder, a FIFO (never
/// opened), a file that is not UTF-8. The other files are still checked.
fn read_or_report(target: &Target, path: &Path, out: &mut Vec<Diagnostic>) -> Option<String> {
    match read_text(path) {
        Ok(text) => Some(text),
        Err(e) => {
            let (message, hint) = match e.downcast_ref::<crate::exit::UserError>() {
                Some(user) => (user.message.clone(), user.hint.clone()),
                None => (format!("{e:#}"), None),
            };
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
fn links_in(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else { continue };
            if kind.is_symlink() {
                out.push(entry.path());
            } else if kind.is_dir() && entry.file_name() != "node_modules" {
                stack.push(entry.path());
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
    candidates.into_iter().find(|c| c.is_file())
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
