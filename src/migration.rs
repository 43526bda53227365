//! `modkit migration new <name>`: the next migration file of a module, in the right folder, with a
//! header saying how it runs. A sandbox's module keeps its migrations in `plugin/migrations/`; a
//! module of a foundation in `<migrations_dir>/<module>/` (where `modkit adapt` puts them; `migrations/`
//! by default), or `<modules_dir>/<module>/migrations/` when it was adapted before.
//! The sandbox's `sandbox/migration.ts` (`npm run migration:new -- <name>`) follows the same rules.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::exit::UserError;
use crate::project::Project;

/// The smallest width of a migration's number (`0001_...`).
const WIDTH: usize = 4;

/// `Add Description!` -> `add_description`: lowercase letters, digits and single underscores.
pub fn slug(name: &str) -> Result<String> {
    let mut out = String::new();
    for c in name.trim().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    let out = out.trim_matches('_').to_string();
    if out.is_empty() || out.len() > 80 {
        return Err(UserError::new(format!(
            "`{name}` is not a migration name: it needs letters or digits (80 at most)"
        ))
        .hint("say what it does, e.g. `modkit migration new add_description`")
        .into());
    }
    Ok(out)
}

/// The folder the migrations of this project's module (or of `module` in a foundation) live in.
pub fn folder(project: &Project, module: Option<&str>) -> Result<PathBuf> {
    match (module, &project.file.foundation) {
        (Some(m), _) => {
            crate::names::check_module_id(m)?;
            let (modules, migrations) = crate::modules::foundation_dirs(project);
            let dir = project.root.join(&modules).join(m);
            if !dir.is_dir() {
                return Err(UserError::new(format!("there is no module `{m}` in {}", dir.display()))
                    .hint("name a module the foundation has (modkit adapt brings one in), or run it in the module's sandbox without --module")
                    .into());
            }
            // Where bootstrap reads them: `<migrations_dir>/<id>/`, or the module's own folder
            // when it was adapted before migrations moved out of the sources.
            let relative = crate::modules::foundation_migrations(&project.root, &modules, &migrations, m)?;
            Ok(project.root.join(relative))
        }
        (None, _) if project.root.join("plugin").is_dir() => Ok(project.root.join("plugin/migrations")),
        (None, _) => Err(UserError::new(format!(
            "{} is not a sandbox (no plugin/ folder)",
            project.root.display()
        ))
        .hint("run it in a module's sandbox, or in a foundation with --module <id>")
        .into()),
    }
}

/// The number the next migration in `dir` gets, and the width to write it with.
pub fn next_number(dir: &Path) -> Result<(u64, usize)> {
    let mut max = 0;
    let mut width = WIDTH;
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((1, WIDTH)),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".sql") {
            continue;
        }
        let digits: String = name.chars().take_while(char::is_ascii_digit).collect();
        if digits.is_empty() || !name[digits.len()..].starts_with('_') {
            continue;
        }
        if let Ok(n) = digits.parse::<u64>() {
            max = max.max(n);
            width = width.max(digits.len());
        }
    }
    Ok((max + 1, width))
}

/// Write the new migration; its path.
pub fn create(project: &Project, module: Option<&str>, name: &str) -> Result<PathBuf> {
    let slug = slug(name)?;
    let dir = folder(project, module)?;
    // A linked folder on the way would put the file outside the project.
    let rel = dir.strip_prefix(&project.root).unwrap_or(&dir).join("x.sql");
    crate::plan::guard_no_symlink(&project.root, &rel.to_string_lossy())?;
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let (n, width) = next_number(&dir)?;
    let file = format!("{n:0width$}_{slug}.sql");
    let path = dir.join(&file);
    let module_id = module
        .map(str::to_string)
        .or_else(|| project.file.module.as_ref().map(|m| m.id.clone()));
    let header = format!(
        "-- {}{file}: {}\n\
         -- Runs once in each tenant's schema, in that tenant's transaction: create tables with unqualified\n\
         -- names and no tenant_id. Once applied, never edit it (its checksum is recorded): add another.\n\n",
        module_id.map(|m| format!("{m}/")).unwrap_or_default(),
        slug.replace('_', " ")
    );
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| {
            UserError::new(format!("cannot create {}: {e}", path.display()))
                .hint("another migration was created at the same moment: run it again")
        })?;
    f.write_all(header.as_bytes())?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbering_follows_the_highest_number_and_its_width() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(next_number(&dir.path().join("none")).unwrap(), (1, 4));
        for f in [
            "0001_a.sql",
            "0003_c.sql",
            "0009_i.sql",
            "notes.sql",
            "12345.sql",
            "0002_b.txt",
        ] {
            std::fs::write(dir.path().join(f), "").unwrap();
        }
        assert_eq!(next_number(dir.path()).unwrap(), (10, 4));
        std::fs::write(dir.path().join("00042_x.sql"), "").unwrap();
        assert_eq!(next_number(dir.path()).unwrap(), (43, 5));
        assert_eq!(slug("Add Description!").unwrap(), "add_description");
        assert!(slug(" -- ").is_err());
    }
}
