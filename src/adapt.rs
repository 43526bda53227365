//! Bringing a module from its sandbox into a foundation: what `modkit adapt` writes, and whether it
//! may. The module's code (`plugin/`) and migrations are copied as they are; the routes adapter
//! and `module.config.ts` are rendered for this foundation. A manifest beside them remembers what
//! modkit wrote, so a re-run updates its own files and never silently overwrites an edit.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use minijinja::context;

use crate::exit::UserError;
use crate::foundation::{self, Foundation};
use crate::modules::{read_text, refuse_link};
use crate::names;
use crate::plan::{Action, Conflict, FilePlan, Record};
use crate::project::Project;
use crate::templates::{self, RenderedFile};
use crate::ts;

/// The manifest's name, in the module's folder of the foundation.
pub const MANIFEST: &str = ".modkit-adapt.json";

/// Packages a module's business code must never import: it gets withTenantTx through ctx.
const DB_CLIENTS: [&str; 12] = [
    "pg",
    "pg-pool",
    "postgres",
    "@neondatabase/serverless",
    "knex",
    "kysely",
    "@prisma/client",
    "drizzle-orm",
    "typeorm",
    "sequelize",
    "mysql2",
    "better-sqlite3",
];

#[derive(Debug)]
pub struct Adaptation {
    pub module: String,
    pub sandbox: PathBuf,
    pub foundation: Foundation,
    /// The module's folder in the foundation, relative to its root (`src/modules/items`).
    pub module_dir: String,
    pub tenant_db_import: String,
    pub rbac_import: String,
    pub plan: FilePlan,
    /// Files modkit would overwrite although they changed since it wrote them (or it never did).
    pub conflicts: Vec<Conflict>,
    pub warnings: Vec<String>,
}

impl Adaptation {
    pub fn plan(module: &str, sandbox: &Path, foundation_dir: &Path) -> Result<Self> {
        names::check_module_id(module)?;
        let sandbox_project = check_sandbox(module, sandbox)?;
        let foundation = Foundation::load(foundation_dir)?;
        let module_dir = format!("{}/{module}", foundation.modules_dir);
        let routes_dir = format!("{module_dir}/server/routes");
        let mut warnings: Vec<String> = foundation.rbac_needs_auth_first().into_iter().collect();

        let plugin_files = read_plugin(sandbox)?;
        check_imports(&plugin_files, &foundation, &mut warnings)?;
        let index = plugin_files
            .iter()
            .find(|f| f.path == "index.ts")
            .map(|f| f.contents.as_str())
            .unwrap_or_default();
        let meta = read_meta(module, index)?;
        let permissions = ts::exported_string_array(index, "plugin/index.ts", "permissions")?
            .ok_or_else(|| {
                UserError::new("plugin/index.ts does not export `permissions`")
                    .hint(format!("add `export const permissions = ['{module}.read'] satisfies string[];`: the foundation registers them"))
            })?;

        let tenant_db_import = foundation.specifier(&routes_dir, &foundation.tenant_db);
        let rbac_import = foundation.specifier(&routes_dir, &foundation.rbac);
        let module_name = sandbox_project
            .file
            .module
            .as_ref()
            .and_then(|m| m.name.clone())
            .unwrap_or_else(|| names::title_case(module));
        let nav_permissions: Vec<String> = permissions
            .iter()
            .filter(|p| p.ends_with(".read"))
            .take(1)
            .cloned()
            .collect();
        let ctx = context! {
            module_id => module,
            module_name => module_name,
            version => meta.version,
            api => meta.api,
            permissions => permissions,
            nav_permissions => nav_permissions,
            base_path => format!("/app/{module}"),
            plugin_import => foundation.specifier(&routes_dir, &format!("{module_dir}/plugin/index.ts")),
            tenant_db_import => &tenant_db_import,
            rbac_import => &rbac_import,
            top_level_await => foundation.style.top_level_await,
            style_because => &foundation.style.because,
        };

        // Relative to the module's folder: the code, the migrations, then what is generated here.
        let mut files: Vec<RenderedFile> = plugin_files
            .into_iter()
            .map(|f| RenderedFile {
                path: format!("plugin/{}", f.path),
                contents: f.contents,
            })
            .collect();
        files.extend(templates::render_dir("adapt", &ctx)?);
        // The migrations go to <migrations_dir>/<module>/, outside the sources (or where an earlier
        // adapt put them, inside the module's folder). The record names them relative to the
        // module's folder when they are in it, else relative to the foundation's root.
        let migrations_at = crate::modules::foundation_migrations(
            &foundation.root,
            &foundation.modules_dir,
            &foundation.migrations_dir,
            module,
        )?;
        let migrations_key = migrations_at
            .strip_prefix(&format!("{module_dir}/"))
            .unwrap_or(&migrations_at)
            .to_string();
        let migrations: Vec<RenderedFile> = read_migrations(sandbox)?
            .into_iter()
            .map(|m| RenderedFile {
                path: format!("{migrations_key}/{}", m.path.trim_start_matches("migrations/")),
                contents: m.contents,
            })
            .collect();
        let migration_paths: Vec<String> = migrations.iter().map(|m| m.path.clone()).collect();
        let inside = migrations_at != migrations_key;

        // The record of what adapt wrote: not where the sandbox was (a re-run from another folder
        // must not change it).
        let manifest_path = foundation.root.join(&module_dir).join(MANIFEST);
        let previous = Record::read(&manifest_path, "modkit adapt")?;
        let recorded: Vec<RenderedFile> = files.iter().chain(&migrations).cloned().collect();
        let mut manifest = Record::of(&recorded, None);
        for stale in previous.files.keys().filter(|p| !manifest.files.contains_key(*p)) {
            warnings.push(format!(
                "{module_dir}/{stale} was written by an earlier `modkit adapt` but is no longer in the sandbox; it was left in place (delete it if it is not needed)"
            ));
        }
        let mut all: Vec<RenderedFile> = files
            .into_iter()
            .map(|f| RenderedFile {
                path: format!("{module_dir}/{}", f.path),
                contents: f.contents,
            })
            .collect();
        // Listed first: outside the module's folder, they come first in the printed tree too.
        let migrations = migrations.into_iter().map(|m| RenderedFile {
            path: if inside {
                format!("{module_dir}/{}", m.path)
            } else {
                m.path
            },
            contents: m.contents,
        });
        all.splice(0..0, migrations);
        let mut plan = FilePlan::new(&foundation.root, all)?;
        accept_reformatted(&mut plan, &format!("{module_dir}/"), &previous, &mut manifest);
        let mut record = FilePlan::new(
            &foundation.root,
            vec![RenderedFile {
                path: format!("{module_dir}/{MANIFEST}"),
                contents: manifest.to_json()?,
            }],
        )?;
        keep_reformatted_record(&mut record);
        plan.files.extend(record.files);

        // A changed migration is a conflict even when modkit wrote it: it may already be applied
        // somewhere, and bootstrap would refuse the edited file.
        let conflicts = plan.conflicts(&format!("{module_dir}/"), MANIFEST, &previous, "modkit adapt", |rel| {
            migration_paths.iter().any(|m| m == rel).then(|| {
                "the migration differs from the sandbox's; if it was applied anywhere, `modkit bootstrap` will refuse the edited file: add a new migration instead".to_string()
            })
        });
        Ok(Self {
            module: module.to_string(),
            sandbox: sandbox.to_path_buf(),
            foundation,
            module_dir,
            tenant_db_import,
            rbac_import,
            plan,
            conflicts,
            warnings,
        })
    }
}

/// A TypeScript file modkit wrote that differs from its record and from what it would write now
/// only in formatting (the foundation's Prettier or Biome ran over it) is this version, not an
/// edit: it is left as it is, and its formatted hash recorded, so the next run sees it as modkit's.
/// (Rewriting it would undo the formatting at every run; the price is that a change of the
/// template's comments alone does not reach a file whose code is the same.)
///
/// So is a file that is exactly what adapt left after formatting this same rendering (the record
/// says both), whatever the formatter changed: an import-sorting Prettier plugin reorders imports,
/// which the comparison of code rightly sees as a change (found on a real Nx app, issue 16).
fn accept_reformatted(plan: &mut FilePlan, prefix: &str, previous: &Record, manifest: &mut Record) {
    for file in plan.files.iter_mut().filter(|f| f.action == Action::Overwrite) {
        let rel = file.path.strip_prefix(prefix).unwrap_or(&file.path).to_string();
        let Some(on_disk) = &file.on_disk else { continue };
        let rendered = crate::modules::sha256_hex(file.contents.as_bytes());
        let formatted_by_adapt = previous.files.get(&rel) == Some(&on_disk.sha256)
            && previous.rendered.get(&rel) == Some(&rendered);
        if formatted_by_adapt {
            manifest.rendered.insert(rel.clone(), rendered);
        } else if !crate::ts_same::applies_to(&file.path)
            || !crate::ts_same::same_code(&on_disk.text, &file.contents)
        {
            continue;
        }
        manifest.files.insert(rel, on_disk.sha256.clone());
        file.action = Action::Unchanged;
        file.on_disk = None;
    }
}

/// The record as the foundation's formatter left it (Biome indents JSON with tabs), holding the
/// same data, is this record: rewriting it would only undo the formatting, so every formatter run
/// followed by a re-run of adapt would change a file (found on a real Biome app, issue 16).
fn keep_reformatted_record(record: &mut FilePlan) {
    for file in record.files.iter_mut().filter(|f| f.action == Action::Overwrite) {
        let Some(on_disk) = &file.on_disk else { continue };
        let old = serde_json::from_str::<serde_json::Value>(&on_disk.text);
        let new = serde_json::from_str::<serde_json::Value>(&file.contents);
        if matches!((old, new), (Ok(old), Ok(new)) if old == new) {
            file.action = Action::Unchanged;
            file.on_disk = None;
        }
    }
}

/// The sandbox must be this module's: its modkit.toml says `[module] id = "<module>"`.
fn check_sandbox(module: &str, sandbox: &Path) -> Result<Project> {
    let hint = format!("pass the module's sandbox with --from (the folder `modkit init {module}` wrote)");
    if !sandbox.join("modkit.toml").is_file() {
        return Err(UserError::new(format!(
            "{} is not a module sandbox (it has no modkit.toml)",
            sandbox.display()
        ))
        .hint(hint)
        .into());
    }
    let project = Project::load(sandbox)?;
    match &project.file.module {
        Some(m) if m.id == module => Ok(project),
        Some(m) => Err(UserError::new(format!(
            "{} is the sandbox of module `{}`, not `{module}`",
            sandbox.display(),
            m.id
        ))
        .hint(hint)
        .into()),
        None => Err(UserError::new(format!(
            "{}/modkit.toml has no [module] section",
            sandbox.display()
        ))
        .hint(hint)
        .into()),
    }
}

/// The files of `plugin/` but its migrations, relative to `plugin/`.
pub fn read_plugin(sandbox: &Path) -> Result<Vec<RenderedFile>> {
    let root = sandbox.join("plugin");
    refuse_link(&root)?;
    if !root.join("index.ts").is_file() {
        return Err(
            UserError::new(format!("{} has no plugin/index.ts", sandbox.display()))
                .hint("the module's code lives in its sandbox's plugin/ folder; is --from the right folder?")
                .into(),
        );
    }
    let mut out = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))? {
            let entry = entry?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().to_string();
            let kind = entry.file_type()?;
            if name.starts_with('.') || name == "node_modules" || (dir == root && name == "migrations") {
                continue;
            }
            if kind.is_dir() {
                stack.push(path);
            } else {
                // A link (to a secret, say) or a FIFO is refused, naming it; never followed.
                let contents = read_text(&path)?;
                let rel = foundation::slash(path.strip_prefix(&root).unwrap_or(&path));
                out.push(RenderedFile { path: rel, contents });
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// `plugin/migrations/*.sql` -> `migrations/*.sql`.
pub fn read_migrations(sandbox: &Path) -> Result<Vec<RenderedFile>> {
    let dir = sandbox.join("plugin/migrations");
    Ok(crate::modules::load_migrations(&dir)?
        .into_iter()
        .map(|m| RenderedFile {
            path: format!("migrations/{}", m.name),
            contents: m.sql,
        })
        .collect())
}

struct Meta {
    version: String,
    api: String,
}

/// `meta: { id, version, api }` of the plugin object, read without running it.
fn read_meta(module: &str, index: &str) -> Result<Meta> {
    let missing = || {
        UserError::new("plugin/index.ts has no `meta: { id, version, api }` of string literals in its plugin object")
            .hint(format!("write `meta: {{ id: '{module}', version: '1.0.0', api: '1.x' }}`: module.config.ts is made from it"))
    };
    let meta = ts::object_strings(index, "plugin/index.ts", "meta")?.ok_or_else(missing)?;
    let (Some(id), Some(version), Some(api)) = (meta.get("id"), meta.get("version"), meta.get("api")) else {
        return Err(missing().into());
    };
    if id != module {
        return Err(UserError::new(format!(
            "plugin/index.ts says `meta.id: '{id}'`, but the module is `{module}`"
        ))
        .hint(format!(
            "make them the same: routes are mounted at /api/plugins/{module}"
        ))
        .into());
    }
    Ok(Meta {
        version: version.clone(),
        api: api.clone(),
    })
}

/// What an import of the module's code breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportProblem {
    /// A relative import that leaves `plugin/`: the foundation would not have the file.
    OutsidePlugin,
    /// A database client: business code gets withTenantTx through ctx instead.
    DbClient(String),
    /// A package the foundation's package.json does not list.
    UnlistedPackage(String),
}

#[derive(Debug, Clone)]
pub struct ImportFinding {
    /// `plugin/<file>`
    pub file: String,
    pub line: usize,
    pub specifier: String,
    pub problem: ImportProblem,
}

impl ImportFinding {
    pub fn message(&self) -> String {
        let at = format!("{}:{}", self.file, self.line);
        match &self.problem {
            ImportProblem::OutsidePlugin => format!(
                "{at} imports `{}`, which is outside plugin/: the foundation would not have it",
                self.specifier
            ),
            ImportProblem::DbClient(package) => format!("{at} imports the database client `{package}`"),
            ImportProblem::UnlistedPackage(package) => format!(
                "{at} imports `{package}`, which the foundation's package.json does not list: run `npm install {package}` in the foundation"
            ),
        }
    }

    pub fn hint(&self) -> &'static str {
        match &self.problem {
            ImportProblem::OutsidePlugin => {
                "a module's code depends only on plugin/ and on what ctx gives it (withTenantTx, rbac, log); move what it needs into plugin/"
            }
            ImportProblem::DbClient(_) => {
                "business code never imports a DB client: query through ctx.withTenantTx(tenant, db => db.query(...)), which the foundation provides"
            }
            ImportProblem::UnlistedPackage(_) => "add the package to the foundation's dependencies",
        }
    }
}

/// The imports of the module's TypeScript files (relative to `plugin/`) that break the contract:
/// outside `plugin/`, a database client, or (when `packages` is given) a package not listed.
pub fn import_findings(files: &[RenderedFile], packages: Option<&[String]>) -> Result<Vec<ImportFinding>> {
    let mut out = Vec::new();
    for file in files.iter().filter(|f| {
        [".ts", ".tsx", ".mts", ".cts"]
            .iter()
            .any(|e| f.path.ends_with(e))
    }) {
        let label = format!("plugin/{}", file.path);
        let imports = ts::static_imports(&file.contents, &label)?;
        out.extend(file_import_findings(&file.path, &imports, packages));
    }
    Ok(out)
}

/// [`import_findings`] of one file, `plugin/<path>`, from its imports (doctor's, parsed once).
pub fn file_import_findings(
    path: &str,
    imports: &[ts::StaticImport],
    packages: Option<&[String]>,
) -> Vec<ImportFinding> {
    let label = format!("plugin/{path}");
    let mut out = Vec::new();
    for import in imports {
        let spec = import.specifier.as_str();
        let problem = if spec.starts_with('.') {
            leaves_plugin(path, spec).then_some(ImportProblem::OutsidePlugin)
        } else if import.type_only || spec.starts_with("node:") {
            None
        } else {
            let package = package_name(spec);
            if DB_CLIENTS.contains(&package) {
                Some(ImportProblem::DbClient(package.to_string()))
            } else if packages.is_some_and(|p| !p.iter().any(|p| p == package)) && !is_node_builtin(package) {
                Some(ImportProblem::UnlistedPackage(package.to_string()))
            } else {
                None
            }
        };
        if let Some(problem) = problem {
            out.push(ImportFinding {
                file: label.clone(),
                line: import.line,
                specifier: spec.to_string(),
                problem,
            });
        }
    }
    out
}

/// Business code imports nothing outside `plugin/` and no database client; packages the
/// foundation does not list are a warning.
fn check_imports(files: &[RenderedFile], foundation: &Foundation, warnings: &mut Vec<String>) -> Result<()> {
    for finding in import_findings(files, Some(&foundation.packages))? {
        match finding.problem {
            ImportProblem::UnlistedPackage(_) => warnings.push(finding.message()),
            _ => return Err(UserError::new(finding.message()).hint(finding.hint()).into()),
        }
    }
    Ok(())
}

/// Whether `spec`, imported from `plugin/<file>`, resolves outside `plugin/`.
fn leaves_plugin(file: &str, spec: &str) -> bool {
    let mut depth: i32 = file.matches('/').count() as i32;
    for part in spec.split('/') {
        match part {
            ".." => depth -= 1,
            "." | "" => {}
            _ => depth += 1,
        }
        if depth < 0 {
            return true;
        }
    }
    false
}

/// `@scope/pkg/sub` -> `@scope/pkg`, `pkg/sub` -> `pkg`.
fn package_name(spec: &str) -> &str {
    let mut parts = spec.splitn(3, '/');
    let first = parts.next().unwrap_or_default();
    if first.starts_with('@') {
        let len = first.len() + parts.next().map_or(0, |s| s.len() + 1);
        &spec[..len]
    } else {
        first
    }
}

fn is_node_builtin(package: &str) -> bool {
    const BUILTINS: [&str; 20] = [
        "assert",
        "buffer",
        "child_process",
        "crypto",
        "events",
        "fs",
        "http",
        "https",
        "net",
        "os",
        "path",
        "process",
        "querystring",
        "stream",
        "string_decoder",
        "timers",
        "url",
        "util",
        "worker_threads",
        "zlib",
    ];
    BUILTINS.contains(&package)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports_that_leave_plugin() {
        assert!(!leaves_plugin("index.ts", "./context.js"));
        assert!(!leaves_plugin("routes/a.ts", "../context.js"));
        assert!(leaves_plugin("index.ts", "../sandbox/db/client.js"));
        assert!(leaves_plugin("routes/a.ts", "../../x.js"));
        assert!(leaves_plugin("index.ts", "./a/../../b.js"));
    }

    #[test]
    fn package_names() {
        assert_eq!(package_name("pg"), "pg");
        assert_eq!(package_name("drizzle-orm/pg-core"), "drizzle-orm");
        assert_eq!(package_name("@prisma/client/runtime"), "@prisma/client");
        assert_eq!(package_name("@scope/pkg"), "@scope/pkg");
    }
}
