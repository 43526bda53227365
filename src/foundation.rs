//! A foundation as `modkit adapt` sees it: where its modules go, how its TypeScript must import
//! and await (from its tsconfig and package.json), and which of its files export `withTenantTx`
//! and `requirePermission`. Import specifiers are computed from these real locations, never copied
//! (the seed's adapter imported `'../../../lib/db/tenant-db'`, one level short).

use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;

use crate::exit::UserError;
use crate::project::Project;
use crate::server_tsconfig;
use crate::ts::{self, ExportSite};
use crate::tsconfig;

pub const WITH_TENANT_TX: &str = "withTenantTx";
pub const REQUIRE_PERMISSION: &str = "requirePermission";

#[derive(Debug)]
pub struct Foundation {
    pub root: PathBuf,
    /// Where modules go, relative to `root`, with `/` separators (`src/modules`).
    pub modules_dir: String,
    /// Where modules' migrations go, relative to `root` (`migrations`: `migrations/<id>/*.sql`).
    pub migrations_dir: String,
    /// The tsconfig that compiles the server, relative to `root` (`tsconfig.json`, or the project
    /// a solution file references, or modkit.toml's `[foundation] tsconfig`).
    pub tsconfig: String,
    pub style: ImportStyle,
    /// The packages its package.json lists (dependencies of every kind).
    pub packages: Vec<String>,
    /// The files exporting `withTenantTx` and `requirePermission`, relative to `root`.
    pub tenant_db: String,
    pub rbac: String,
}

/// How generated files must import and await, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportStyle {
    /// `esm` or `commonjs`: what the generated `.ts` files compile to.
    pub format: &'static str,
    /// Relative specifiers end in `.js` (NodeNext/Node16 ES modules); otherwise they have none.
    pub js_extension: bool,
    pub top_level_await: bool,
    /// Where this was read: `tsconfig.json: module nodenext; package.json: type module`.
    pub because: String,
}

impl Foundation {
    pub fn load(root: &Path) -> Result<Self> {
        if !root.is_dir() {
            let what = if root.exists() {
                "is not a folder"
            } else {
                "does not exist"
            };
            return Err(
                UserError::new(format!("foundation folder {} {what}", root.display()))
                    .hint("pass the foundation's root folder (the one with its package.json) to --foundation")
                    .into(),
            );
        }
        let project = Project::load(root)?;
        let settings = project.file.foundation.as_ref();
        let modules_dir = settings
            .map(|f| f.modules_dir.clone())
            .unwrap_or_else(|| "src/modules".to_string())
            .trim_end_matches('/')
            .to_string();
        check_inside(&modules_dir, "modules_dir")?;
        let (_, migrations_dir) = crate::modules::foundation_dirs(&project);
        check_inside(&migrations_dir, "migrations_dir")?;

        let package = read_package_json(root)?;
        let configured = settings.and_then(|f| f.tsconfig.as_deref());
        if let Some(file) = configured {
            check_inside(file, "tsconfig")?;
        }
        // The server's folder, when modkit.toml names one (doctor reads the same setting).
        let server = match settings.and_then(|f| f.root.as_deref()) {
            Some(dir) => {
                check_inside(dir, "root")?;
                root.join(dir)
            }
            None => root.to_path_buf(),
        };
        let tsconfig = server_tsconfig::find(root, &server, configured, &modules_dir)?;
        let options = tsconfig::load(&root.join(&tsconfig))?;
        let package_type = package.get("type").and_then(|t| t.as_str());
        let style = import_style(&options, package_type)?;
        let packages = package_names(&package);

        let mut foundation = Self {
            root: root.to_path_buf(),
            modules_dir,
            migrations_dir,
            tsconfig,
            style,
            packages,
            tenant_db: String::new(),
            rbac: String::new(),
        };
        foundation.tenant_db = foundation.locate(
            WITH_TENANT_TX,
            settings.and_then(|f| f.tenant_db.as_deref()),
            "tenant_db",
        )?;
        foundation.rbac = foundation.locate(
            REQUIRE_PERMISSION,
            settings.and_then(|f| f.rbac.as_deref()),
            "rbac",
        )?;
        foundation.check_rbac_fits()?;
        Ok(foundation)
    }

    /// The app's own `requirePermission` is used only when the module's call fits it; otherwise
    /// the error says why and gives the wrapper to write (never adopted to fail at type-check).
    fn check_rbac_fits(&self) -> Result<()> {
        let source = std::fs::read_to_string(self.root.join(&self.rbac))
            .with_context(|| format!("cannot read {}", self.rbac))?;
        let Some(why) = crate::rbac_fit::misfit(&source, &self.rbac, REQUIRE_PERMISSION)? else {
            return Ok(());
        };
        let specifier = relative_specifier("src/lib/security", &self.rbac, self.style.js_extension);
        Err(UserError::new(format!(
            "`{REQUIRE_PERMISSION}` in {} does not fit the module's `ctx.rbac.require(permission: string)`: {why}",
            self.rbac
        ))
        .hint(crate::rbac_fit::wrapper_hint(&self.rbac, &specifier))
        .into())
    }

    /// A warning when the app's `requirePermission` reads a user that its auth middleware sets
    /// (rbac_fit::reads_authenticated_user): the modules' routes must be mounted behind it.
    pub fn rbac_needs_auth_first(&self) -> Option<String> {
        let source = std::fs::read_to_string(self.root.join(&self.rbac)).ok()?;
        let read =
            crate::rbac_fit::reads_authenticated_user(&source, &self.rbac, REQUIRE_PERMISSION).ok()??;
        Some(format!(
            "`{REQUIRE_PERMISSION}` in {} reads `{read}`, which the app's auth middleware sets: mount the modules' routes behind that middleware (e.g. `app.use('/api/plugins', authenticate, moduleRoutes)`), or every module route answers 401",
            self.rbac
        ))
    }

    /// The file exporting `name`: the one modkit.toml names, or the only one in the sources.
    fn locate(&self, name: &str, configured: Option<&str>, key: &str) -> Result<String> {
        let set_it = format!(
            "name the file in {}/modkit.toml: [foundation] {key} = \"src/...\"",
            self.root.display()
        );
        if let Some(file) = configured {
            check_inside(file, key)?;
            let path = self.root.join(file);
            let source = std::fs::read_to_string(&path).map_err(|e| {
                UserError::new(format!(
                    "cannot read {} (modkit.toml's [foundation] {key}): {e}",
                    path.display()
                ))
                .hint("fix the path in modkit.toml; it is relative to the foundation's folder")
            })?;
            if !ts::exports_value(&source, file, name)? {
                return Err(UserError::new(format!(
                    "{file} (modkit.toml's [foundation] {key}) does not export `{name}`"
                ))
                .hint(format!(
                    "export it there (`export function {name}(...)`), or point {key} at the file that does"
                ))
                .into());
            }
            return Ok(file.to_string());
        }
        let mut local = Vec::new();
        let mut reexports = Vec::new();
        for file in self.source_files() {
            let source = std::fs::read_to_string(self.root.join(&file))
                .with_context(|| format!("cannot read {file}"))?;
            if !source.contains(name) {
                continue;
            }
            match ts::export_site(&source, &file, name)? {
                Some(ExportSite::Local) => local.push(file),
                Some(ExportSite::ReExport) => reexports.push(file),
                None => {}
            }
        }
        // The file that defines it, else the one that passes it on.
        let found = if local.is_empty() { reexports } else { local };
        match found.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(UserError::new(format!(
                "no file of the foundation {} exports `{name}`",
                self.root.display()
            ))
            .hint(format!(
                "the adapter imports it from there: export it, or {set_it}"
            ))
            .into()),
            many => Err(UserError::new(format!(
                "several files of the foundation export `{name}`: {}",
                many.join(", ")
            ))
            .hint(format!("tell modkit which one the modules should use: {set_it}"))
            .into()),
        }
    }

    /// The foundation's TypeScript sources, relative to its root: under `src/` (or the root when
    /// there is none), without node_modules, build output, declaration files or the modules.
    fn source_files(&self) -> Vec<String> {
        let start = if self.root.join("src").is_dir() {
            self.root.join("src")
        } else {
            self.root.clone()
        };
        let skip = [self.root.join(&self.modules_dir)];
        ts::source_files(&start, &skip)
            .iter()
            .filter_map(|p| p.strip_prefix(&self.root).ok().map(slash))
            .collect()
    }

    /// The specifier that imports `target` (a `.ts` file, relative to the root) from a file in
    /// `from_dir` (relative to the root), in this foundation's style.
    pub fn specifier(&self, from_dir: &str, target: &str) -> String {
        relative_specifier(from_dir, target, self.style.js_extension)
    }
}

/// `package.json` as JSON; a foundation is an npm project.
pub fn read_package_json(root: &Path) -> Result<serde_json::Map<String, serde_json::Value>> {
    let path = root.join("package.json");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        UserError::new(format!("cannot read {}: {e}", path.display()))
            .hint("--foundation must be the foundation's root folder, the one with its package.json")
    })?;
    match serde_json::from_str(&text) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err(UserError::new(format!("{} is not a JSON object", path.display())).into()),
        Err(e) => Err(
            UserError::new(format!("{} is not valid JSON: {e}", path.display()))
                .hint("fix it (npm would refuse it too), then run again")
                .into(),
        ),
    }
}

/// Every package a package.json lists, of any kind of dependency.
pub fn package_names(package: &serde_json::Map<String, serde_json::Value>) -> Vec<String> {
    [
        "dependencies",
        "devDependencies",
        "peerDependencies",
        "optionalDependencies",
    ]
    .iter()
    .filter_map(|k| package.get(*k).and_then(|d| d.as_object()))
    .flat_map(|deps| deps.keys().cloned())
    .collect()
}

/// What the tsconfig's `module` and the package's `type` make of a generated `.ts` file.
pub fn import_style(options: &tsconfig::CompilerOptions, package_type: Option<&str>) -> Result<ImportStyle> {
    let file = options
        .files
        .first()
        .and_then(|f| f.file_name())
        .map_or("tsconfig.json".to_string(), |f| f.to_string_lossy().to_string());
    let module = options.module.as_deref();
    let resolution = options.module_resolution.as_deref();
    let esm_package = package_type == Some("module");
    let because = format!(
        "{file}: module {}{}; package.json: type {}",
        module.unwrap_or("(unset)"),
        resolution
            .map(|r| format!(", moduleResolution {r}"))
            .unwrap_or_default(),
        package_type.unwrap_or("commonjs (unset)")
    );
    let style = |format, js_extension, top_level_await| ImportStyle {
        format,
        js_extension,
        top_level_await,
        because: because.clone(),
    };
    let style = match module {
        Some("node16" | "node18" | "node20" | "nodenext") if esm_package => style("esm", true, true),
        Some("node16" | "node18" | "node20" | "nodenext" | "commonjs") => style("commonjs", false, false),
        Some("esnext" | "es2022" | "preserve") => {
            let node = matches!(resolution, Some("node16" | "nodenext"));
            style("esm", node, true)
        }
        Some("es2015" | "es6" | "es2020") => style("esm", false, false),
        None => {
            return Err(UserError::new(format!("{file} sets no `module`, so how the foundation imports modules is unclear"))
                .hint("set compilerOptions.module: \"NodeNext\" for Node.js, or \"ESNext\" with \"moduleResolution\": \"Bundler\" for a bundler")
                .into());
        }
        Some(other) => {
            return Err(UserError::new(format!(
                "{file} sets module `{other}`, which modkit cannot generate code for"
            ))
            .hint("use NodeNext, CommonJS, ESNext or Preserve")
            .into());
        }
    };
    if style.format == "commonjs" && options.verbatim_module_syntax == Some(true) {
        // The module's files use `export`/`import`: TypeScript refuses that in a CommonJS file
        // under verbatimModuleSyntax (TS1286, TS1287).
        return Err(UserError::new(format!(
            "the foundation compiles .ts files as CommonJS with verbatimModuleSyntax on ({}), where the module's `import`/`export` do not compile",
            style.because
        ))
        .hint("make the foundation ESM (\"type\": \"module\" in package.json) or turn verbatimModuleSyntax off")
        .into());
    }
    Ok(style)
}

/// `../../lib/db/tenant-db.js` from `src/modules/items/server/routes` to `src/lib/db/tenant-db.ts`.
pub fn relative_specifier(from_dir: &str, target: &str, js_extension: bool) -> String {
    let from: Vec<&str> = from_dir
        .split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .collect();
    let to: Vec<&str> = target.split('/').filter(|s| !s.is_empty() && *s != ".").collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".to_string(); from.len() - common];
    parts.extend(to[common..].iter().map(|s| s.to_string()));
    let mut spec = parts.join("/");
    for (ts_ext, js_ext) in [
        (".tsx", ".js"),
        (".mts", ".mjs"),
        (".cts", ".cjs"),
        (".ts", ".js"),
    ] {
        if let Some(stem) = spec.strip_suffix(ts_ext) {
            spec = format!("{stem}{}", if js_extension { js_ext } else { "" });
            break;
        }
    }
    if spec.starts_with("../") {
        spec
    } else {
        format!("./{spec}")
    }
}

/// A path from modkit.toml must stay inside the foundation.
fn check_inside(path: &str, key: &str) -> Result<()> {
    let ok = !path.is_empty()
        && Path::new(path)
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if ok {
        Ok(())
    } else {
        Err(UserError::new(format!(
            "modkit.toml's [foundation] {key} = \"{path}\" leaves the foundation's folder"
        ))
        .hint("give a path relative to the foundation, like \"src/modules\"")
        .into())
    }
}

pub use crate::paths::slash;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specifiers_are_computed_from_the_real_locations() {
        let from = "src/modules/items/server/routes";
        // The seed wrote '../../../lib/db/tenant-db', which lands in src/modules/lib.
        assert_eq!(
            relative_specifier(from, "src/lib/db/tenant-db.ts", true),
            "../../../../lib/db/tenant-db.js"
        );
        assert_eq!(
            relative_specifier(from, "src/lib/db/tenant-db.ts", false),
            "../../../../lib/db/tenant-db"
        );
        assert_eq!(
            relative_specifier(from, "src/modules/items/plugin/index.ts", true),
            "../../plugin/index.js"
        );
        assert_eq!(
            relative_specifier(from, "src/modules/items/server/routes/x.mts", true),
            "./x.mjs"
        );
        assert_eq!(
            relative_specifier("app/modules/a/server/routes", "lib/rbac.cts", false),
            "../../../../../lib/rbac"
        );
    }

    fn options(module: Option<&str>, resolution: Option<&str>, verbatim: bool) -> tsconfig::CompilerOptions {
        tsconfig::CompilerOptions {
            module: module.map(String::from),
            module_resolution: resolution.map(String::from),
            verbatim_module_syntax: Some(verbatim),
            files: vec![PathBuf::from("tsconfig.json")],
            ..Default::default()
        }
    }

    #[test]
    fn import_style_follows_module_and_package_type() {
        let style = |m, r, t| {
            let s = import_style(&options(m, r, false), t).unwrap();
            (s.format, s.js_extension, s.top_level_await)
        };
        assert_eq!(style(Some("nodenext"), None, Some("module")), ("esm", true, true));
        assert_eq!(style(Some("node16"), None, None), ("commonjs", false, false));
        assert_eq!(
            style(Some("nodenext"), None, Some("commonjs")),
            ("commonjs", false, false)
        );
        assert_eq!(style(Some("commonjs"), None, None), ("commonjs", false, false));
        assert_eq!(
            style(Some("esnext"), Some("bundler"), Some("module")),
            ("esm", false, true)
        );
        assert_eq!(style(Some("preserve"), None, None), ("esm", false, true));
        assert_eq!(
            style(Some("es2020"), Some("bundler"), None),
            ("esm", false, false)
        );
        assert!(import_style(&options(None, None, false), None).is_err());
        assert!(import_style(&options(Some("amd"), None, false), None).is_err());
        let err = import_style(&options(Some("nodenext"), None, true), None).unwrap_err();
        assert!(err.to_string().contains("verbatimModuleSyntax"), "{err}");
        assert!(import_style(&options(Some("nodenext"), None, true), Some("module")).is_ok());
    }
}
