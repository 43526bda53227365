//! `modkit.toml`: the project file a sandbox (and, later, a foundation) carries.
//!
//! ```toml
//! [module]
//! id = "items"
//! name = "Items"
//!
//! [database]
//! url = "postgres://postgres@127.0.0.1:5432/items_dev"
//!
//! [dev]
//! user = "dev"
//! tenants = ["dev"]
//! ```

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;

use crate::exit::UserError;

pub const PROJECT_FILE: &str = "modkit.toml";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectFile {
    pub module: Option<ModuleSection>,
    #[serde(default)]
    pub database: DatabaseSection,
    pub dev: Option<DevSection>,
    pub foundation: Option<FoundationSection>,
    #[serde(default)]
    pub doctor: DoctorSection,
}

/// `[doctor]`: checks this project turns off (`ignore = ["cors-any-origin", "toolchain"]`): a
/// code, or a prefix of codes before a `-` (`toolchain` = every `toolchain-*` code).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoctorSection {
    #[serde(default)]
    pub ignore: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleSection {
    pub id: String,
    pub name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSection {
    pub url: Option<String>,
    /// PostgreSQL extensions the project's modules need (`["citext"]`): `modkit bootstrap` creates
    /// each once, in the shared schema `extensions`, never in a tenant's (docs/bootstrap.md).
    #[serde(default)]
    pub extensions: Vec<String>,
    /// The local database's port (`modkit db`, the sandbox's localdb.ts); else chosen free once.
    #[serde(default)]
    pub port: Option<u16>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevSection {
    #[serde(default = "default_dev_user")]
    pub user: String,
    #[serde(default = "default_dev_tenants")]
    pub tenants: Vec<String>,
    /// The ports `npm run dev` uses for the API and Vite (else PORT / VITE_PORT, else ones it keeps
    /// in `.modkit/ports.json`); read by the sandbox's `sandbox/ports.ts`, by modkit's doctor.
    #[serde(default)]
    pub api_port: Option<u16>,
    #[serde(default)]
    pub vite_port: Option<u16>,
}

/// A foundation's own settings: where its modules live, and (when modkit should not search the
/// sources for them) the files that export `withTenantTx` and `requirePermission`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FoundationSection {
    #[serde(default = "default_modules_dir")]
    pub modules_dir: String,
    /// The file exporting `withTenantTx`, relative to the foundation, e.g. `src/lib/db/tenant-db.ts`.
    pub tenant_db: Option<String>,
    /// The file exporting `requirePermission`, e.g. `src/lib/security/rbac.ts`.
    pub rbac: Option<String>,
    /// The server's folder, relative to the foundation, when it is not the foundation's root
    /// (`backend`): doctor checks the server code and package.json there.
    pub root: Option<String>,
    /// The tsconfig that compiles the server, relative to the foundation (`tsconfig.app.json`,
    /// `apps/api/tsconfig.app.json`), when it is not `<root>/tsconfig.json` or the one its
    /// solution file references.
    pub tsconfig: Option<String>,
    /// Where modules' migrations go, relative to the foundation: `<migrations_dir>/<id>/*.sql`.
    /// Outside the sources, so a build of `src/` (tsup, esbuild) never meets a `.sql` file.
    #[serde(default = "default_migrations_dir")]
    pub migrations_dir: String,
}

/// Where a foundation keeps its modules' migrations by default: `migrations/<id>/` at its root.
pub const DEFAULT_MIGRATIONS_DIR: &str = "migrations";

fn default_dev_user() -> String {
    "dev".to_string()
}
fn default_dev_tenants() -> Vec<String> {
    vec!["dev".to_string()]
}
fn default_migrations_dir() -> String {
    DEFAULT_MIGRATIONS_DIR.to_string()
}
fn default_modules_dir() -> String {
    "src/modules".to_string()
}

/// The project a command run from `dir` means, as cargo finds Cargo.toml: `dir` itself or the
/// nearest parent holding a `modkit.toml`. A `package.json` without one ends the search there too:
/// that folder is the project (a foundation needs no modkit.toml), and a search never leaves one
/// JavaScript project for an unrelated folder above it. The walk goes to the filesystem root
/// (cargo's rule: no stop at a `.git`). Nothing found: `dir` as given, whose own checks then say
/// what is missing.
///
/// The path returned is `dir` itself when the project is there (so messages keep the user's
/// spelling); a parent is returned relative to the current folder when it contains it.
pub fn find_root(dir: &Path) -> PathBuf {
    let Ok(start) = std::fs::canonicalize(dir) else {
        return dir.to_path_buf();
    };
    for (steps, folder) in start.ancestors().enumerate() {
        let marks = |name: &str| std::fs::metadata(folder.join(name)).is_ok_and(|m| m.is_file());
        if marks(PROJECT_FILE) || marks("package.json") {
            return if steps == 0 {
                dir.to_path_buf()
            } else {
                shown(folder)
            };
        }
    }
    dir.to_path_buf()
}

/// `folder` as a user would write it from the current folder: `..`, `../..`, or absolute.
fn shown(folder: &Path) -> PathBuf {
    let Some(here) = std::env::current_dir()
        .ok()
        .and_then(|d| std::fs::canonicalize(d).ok())
    else {
        return folder.to_path_buf();
    };
    match here.strip_prefix(folder) {
        Ok(below) if below.as_os_str().is_empty() => PathBuf::from("."),
        Ok(below) => below.components().map(|_| "..").collect(),
        Err(_) => folder.to_path_buf(),
    }
}

/// A project folder and its parsed modkit.toml (absent file = empty settings).
#[derive(Debug)]
pub struct Project {
    pub root: PathBuf,
    pub file: ProjectFile,
}

impl Project {
    pub fn load(root: &Path) -> Result<Self> {
        let path = root.join(PROJECT_FILE);
        // A folder or a FIFO named modkit.toml is named as such, never opened (a FIFO would block).
        if let Ok(meta) = std::fs::metadata(&path)
            && !meta.is_file()
        {
            return Err(
                UserError::new(format!("{} is not a regular file", path.display()))
                    .hint(concat!(
                        "modkit.toml is the project's settings file; replace it with one (see ",
                        docs_url!("sandbox.md"),
                        ")"
                    ))
                    .into(),
            );
        }
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Self {
                    root: root.to_path_buf(),
                    file: ProjectFile::default(),
                });
            }
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let file: ProjectFile = toml::from_str(&text).map_err(|e| {
            UserError::new(format!(
                "{} is not a valid modkit project file: {}",
                path.display(),
                e.message()
            ))
            .hint(concat!(
                "see ",
                docs_url!("sandbox.md"),
                " for its keys, or run `modkit init` to write a fresh one"
            ))
        })?;
        Ok(Self {
            root: root.to_path_buf(),
            file,
        })
    }
}
