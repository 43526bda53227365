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
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevSection {
    #[serde(default = "default_dev_user")]
    pub user: String,
    #[serde(default = "default_dev_tenants")]
    pub tenants: Vec<String>,
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
}

fn default_dev_user() -> String {
    "dev".to_string()
}
fn default_dev_tenants() -> Vec<String> {
    vec!["dev".to_string()]
}
fn default_modules_dir() -> String {
    "src/modules".to_string()
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
            return Err(UserError::new(format!("{} is not a regular file", path.display()))
                .hint("modkit.toml is the project's settings file; replace it with one (see docs/sandbox.md)")
                .into());
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
            .hint("see docs/sandbox.md for its keys, or run `modkit init` to write a fresh one")
        })?;
        Ok(Self {
            root: root.to_path_buf(),
            file,
        })
    }
}
