//! The modules a project holds: their ids, permissions and tenant migrations, read from disk.
//!
//! A sandbox is one module (modkit.toml `[module]`, `plugin/index.ts`, `plugin/migrations/`).
//! A foundation holds many under its modules folder (`src/modules/<id>/`, with `plugin/index.ts`),
//! their migrations under `migrations/<id>/` (or, adapted before, `src/modules/<id>/migrations/`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use crate::exit::UserError;
use crate::names;
use crate::project::Project;
use crate::ts;

/// One `NNNN_name.sql` file, applied once per tenant schema, in file-name order.
#[derive(Debug, Clone)]
pub struct Migration {
    pub name: String,
    pub sql: String,
    /// SHA-256 of the file's bytes, hex: what `sys_module_migration.checksum` records.
    pub checksum: String,
}

#[derive(Debug, Clone)]
pub struct Module {
    pub id: String,
    pub permissions: Vec<String>,
    pub migrations: Vec<Migration>,
    /// The extensions the module may use, as modkit.toml's `[database] extensions` declares them.
    pub extensions: Vec<String>,
}

/// The modules of a sandbox or a foundation. A folder with neither yields no module: bootstrap
/// then makes the system tables and tenants only.
pub fn discover(project: &Project) -> Result<Vec<Module>> {
    let extensions = declared_extensions(project)?;
    let mut modules = discover_modules(project)?;
    for module in &mut modules {
        module.extensions = extensions.clone();
    }
    Ok(modules)
}

/// modkit.toml's `[database] extensions`, each checked to be an extension's name.
pub fn declared_extensions(project: &Project) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for name in &project.file.database.extensions {
        let plain = name.len() <= 63
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if !plain {
            return Err(UserError::new(format!(
                "modkit.toml: [database] extensions holds {name:?}, which is not an extension's name"
            ))
            .hint("list PostgreSQL extensions by name, e.g. extensions = [\"citext\", \"pg_trgm\"]")
            .into());
        }
        if !out.contains(name) {
            out.push(name.clone());
        }
    }
    Ok(out)
}

fn discover_modules(project: &Project) -> Result<Vec<Module>> {
    if let Some(module) = &project.file.module {
        names::check_module_id(&module.id).map_err(|e| {
            UserError::new(format!("modkit.toml: {}", e.message)).hint(e.hint.unwrap_or_default())
        })?;
        let root = &project.root;
        return Ok(vec![load_module(
            &module.id,
            &root.join("plugin/index.ts"),
            &root.join("plugin/migrations"),
        )?]);
    }
    let (modules_dir, migrations_dir) = foundation_dirs(project);
    let dir = project.root.join(&modules_dir);
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut modules = Vec::new();
    for entry in sorted_entries(&dir)? {
        refuse_link(&entry)?;
        if !entry.is_dir() {
            continue;
        }
        let Some(id) = entry.file_name().and_then(|n| n.to_str()).map(str::to_string) else {
            continue;
        };
        if names::check_module_id(&id).is_err() {
            continue;
        }
        let migrations = project.root.join(foundation_migrations(
            &project.root,
            &modules_dir,
            &migrations_dir,
            &id,
        )?);
        let index = entry.join("plugin/index.ts");
        if migrations.is_dir() || index.is_file() {
            modules.push(load_module(&id, &index, &migrations)?);
        }
    }
    Ok(modules)
}

/// Where a foundation's modules go by default, relative to its root: `migrations/<id>/`.
pub use crate::project::DEFAULT_MIGRATIONS_DIR;

/// A foundation's modules folder and migrations folder (modkit.toml `[foundation]`, or defaults).
pub fn foundation_dirs(project: &Project) -> (String, String) {
    let section = project.file.foundation.as_ref();
    let clean = |s: &str| s.trim_end_matches('/').to_string();
    (
        section.map_or_else(|| "src/modules".to_string(), |f| clean(&f.modules_dir)),
        section.map_or_else(
            || DEFAULT_MIGRATIONS_DIR.to_string(),
            |f| clean(&f.migrations_dir),
        ),
    )
}

/// Where module `id`'s migrations are in a foundation, relative to its root:
/// `<migrations_dir>/<id>`, outside the sources a build compiles (a tsup or esbuild build of `src/`
/// fails on a `.sql` file: no loader). A foundation adapted before keeps them where they were,
/// `<modules_dir>/<id>/migrations`, as long as that folder exists and the new one does not; both
/// at once is an error, since which one bootstrap should run would be a guess.
pub fn foundation_migrations(
    root: &Path,
    modules_dir: &str,
    migrations_dir: &str,
    id: &str,
) -> Result<String> {
    foundation_migrations_with(root, modules_dir, migrations_dir, id, Path::is_dir)
}

/// [`foundation_migrations`], asking `is_dir` whether each folder is there (doctor asks its
/// folders' listings).
pub fn foundation_migrations_with(
    root: &Path,
    modules_dir: &str,
    migrations_dir: &str,
    id: &str,
    is_dir: impl Fn(&Path) -> bool,
) -> Result<String> {
    let new = format!("{migrations_dir}/{id}");
    let old = format!("{modules_dir}/{id}/migrations");
    let (new_there, old_there) = (is_dir(&root.join(&new)), is_dir(&root.join(&old)));
    if new_there && old_there && !load_migrations(&root.join(&old))?.is_empty() {
        return Err(UserError::new(format!(
            "module `{id}` has migrations in two folders: {new}/ and {old}/"
        ))
        .hint(format!(
            "keep one: move the files of {old}/ into {new}/ (same names, same bytes) and delete {old}/"
        ))
        .into());
    }
    Ok(if old_there && !new_there { old } else { new })
}

fn load_module(id: &str, index: &Path, migrations_dir: &Path) -> Result<Module> {
    let permissions = match std::fs::symlink_metadata(index) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", index.display())),
        Ok(_) => {
            let source = read_text(index)?;
            ts::exported_string_array(&source, &index.display().to_string(), "permissions")?
                .unwrap_or_default()
        }
    };
    for permission in &permissions {
        if !permission.starts_with(&format!("{id}.")) {
            return Err(UserError::new(format!(
                "permission `{permission}` in {} does not belong to module `{id}`",
                index.display()
            ))
            .hint(format!(
                "a module's permissions are named `{id}.<action>`, e.g. `{id}.read`"
            ))
            .into());
        }
    }
    Ok(Module {
        id: id.to_string(),
        permissions,
        migrations: load_migrations(migrations_dir)?,
        extensions: Vec::new(),
    })
}

/// Every `*.sql` file of the folder, sorted by name.
pub fn load_migrations(dir: &Path) -> Result<Vec<Migration>> {
    refuse_link(dir)?;
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for path in sorted_entries(dir)? {
        if path.extension().and_then(|e| e.to_str()) != Some("sql") {
            continue;
        }
        // A `*.sql` that is a link, a folder or a FIFO is an error naming it, never skipped
        // silently (a migration would go missing) nor followed.
        let sql = read_text(&path)?;
        let checksum = sha256_hex(sql.as_bytes());
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.push(Migration { name, sql, checksum });
    }
    Ok(out)
}

/// The bytes of a file modkit reads as module code, a migration or a file it may overwrite. Only
/// a regular file is read: a symbolic link could copy a secret from elsewhere into a foundation or
/// into printed SQL, a FIFO would block forever, a folder is a mistake. Every error names the file.
pub fn read_file_bytes(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;

    let meta = std::fs::symlink_metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    not_regular(path, &meta.file_type())?;
    // Checked again by the kernel, in case the file was swapped between the two calls.
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    not_regular(path, &file.metadata()?.file_type())?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(bytes)
}

/// [`read_file_bytes`] as UTF-8 text: anything else is an error naming the file.
pub fn read_text(path: &Path) -> Result<String> {
    String::from_utf8(read_file_bytes(path)?).map_err(|e| {
        UserError::new(format!(
            "{} is not UTF-8 text (invalid byte at offset {})",
            path.display(),
            e.utf8_error().valid_up_to()
        ))
        .hint("save it as UTF-8 (e.g. `iconv -f latin1 -t utf-8`), or move it out of the module")
        .into()
    })
}

/// A module folder or a migrations folder that is a symbolic link is refused like a linked file:
/// modkit would read (and adapt would copy) what it points at.
pub fn refuse_link(path: &Path) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => Err(UserError::new(format!(
            "{} is a symbolic link; modkit reads module code and migrations only from real folders and files",
            path.display()
        ))
        .hint("replace the link with the folder itself")
        .into()),
        _ => Ok(()),
    }
}

/// A link, a folder or a special file where modkit expects a file's content, as an error.
pub fn not_regular(path: &Path, kind: &std::fs::FileType) -> Result<()> {
    use std::os::unix::fs::FileTypeExt;

    let what = if kind.is_file() {
        return Ok(());
    } else if kind.is_symlink() {
        "is a symbolic link; modkit reads module code and migrations only from regular files, never through a link"
    } else if kind.is_dir() {
        "is a folder, not a file"
    } else if kind.is_fifo() {
        "is a FIFO (named pipe), not a regular file"
    } else if kind.is_socket() {
        "is a socket, not a regular file"
    } else {
        "is a device or other special file, not a regular file"
    };
    Err(UserError::new(format!("{} {what}", path.display()))
        .hint("replace it with a regular file holding the content, or move it away")
        .into())
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read folder {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_is_sha256_hex() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
