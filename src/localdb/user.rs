//! Who runs the server. PostgreSQL refuses to run as root, so when modkit runs as root the server
//! runs as the owner of the cluster (or, for a new one, of the project folder) when that is a normal
//! user, or as the user named by `--run-as`; else modkit refuses. It creates a user only when asked
//! (`--create-user`), never by default.

use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

use crate::exit::UserError;

/// `None`: run as ourselves. `Some`: switch to this uid/gid for every PostgreSQL program and give it
/// the files modkit writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunAs {
    pub uid: u32,
    pub gid: u32,
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Decide the user for a cluster in `pg_dir` (the `.modkit/pg` folder) of `project`.
pub fn decide(project: &Path, data: &Path, run_as: Option<&str>) -> Result<Option<RunAs>> {
    if !is_root() {
        return Ok(None);
    }
    // An existing cluster belongs to whoever made it: always run it as them.
    if let Ok(meta) = std::fs::metadata(data) {
        if meta.uid() != 0 {
            return Ok(Some(RunAs {
                uid: meta.uid(),
                gid: meta.gid(),
            }));
        }
    }
    if let Some(name) = run_as {
        return lookup(name).map(Some);
    }
    let meta = std::fs::metadata(project).with_context(|| format!("cannot read {}", project.display()))?;
    if meta.uid() != 0 {
        return Ok(Some(RunAs {
            uid: meta.uid(),
            gid: meta.gid(),
        }));
    }
    Err(UserError::new(format!(
        "PostgreSQL does not run as root, and {} belongs to root",
        project.display()
    ))
    .hint(
        "run modkit as a normal user, give the project to one (chown -R USER), pass --run-as USER \
         (an existing user, e.g. postgres) or --create-user (makes the system user modkit-pg) to \
         `modkit db start`, or use your own server with DATABASE_URL",
    )
    .into())
}

/// The user `--create-user` makes when no `--run-as` names one.
pub const DEFAULT_SYSTEM_USER: &str = "modkit-pg";

/// `--create-user`: `useradd --system` for `name` unless it exists; true when it was created.
pub fn create_system_user(name: &str) -> Result<bool> {
    if !is_root() {
        return Err(
            UserError::new("--create-user: modkit does not run as root, so the server runs as you")
                .hint("leave out --create-user")
                .into(),
        );
    }
    if lookup(name).is_ok() {
        return Ok(false);
    }
    if !is_portable_user_name(name) {
        return Err(
            UserError::new(format!("--run-as {name}: not a valid user name for useradd"))
                .hint(
                    "lower-case letters, digits, `-` and `_`, starting with a letter, at most 32 characters",
                )
                .into(),
        );
    }
    let out = Command::new("useradd")
        .args([
            "--system",
            "--user-group",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
        ])
        .args([
            "--shell",
            "/usr/sbin/nologin",
            "--comment",
            "modkit local PostgreSQL",
        ])
        .arg(name)
        .output()
        .map_err(|e| {
            UserError::new(format!("cannot run useradd to create the user {name}: {e}")).hint(
                "create a user yourself and pass --run-as USER, or use your own server with DATABASE_URL",
            )
        })?;
    if !out.status.success() {
        return Err(UserError::new(format!(
            "useradd could not create the user {name}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
        .hint("create a user yourself and pass --run-as USER, or use your own server with DATABASE_URL")
        .into());
    }
    lookup(name)?;
    Ok(true)
}

/// The server runs as `user`, who must be able to enter every folder down to the project's: a
/// project under /root (mode 0700) made initdb fail with a bare "Permission denied".
pub fn check_reachable(project: &Path, user: RunAs) -> Result<()> {
    // Asked of the system, as that user (ACLs included): can it search the project folder, and so
    // every folder above it? Only when it cannot, the mode bits say which folder is in the way.
    let mut probe = Command::new("test");
    probe.arg("-x").arg(project);
    user.apply(&mut probe);
    let refused = match probe.status() {
        Ok(status) if status.success() => return Ok(()),
        Ok(_) => true,
        Err(_) => false, // no `test` to ask: the mode bits alone decide
    };
    for dir in project.ancestors() {
        let Ok(meta) = std::fs::metadata(dir) else {
            continue;
        };
        let mode = meta.mode();
        let enters = (meta.uid() == user.uid && mode & 0o100 != 0)
            || (meta.uid() != user.uid && meta.gid() == user.gid && mode & 0o010 != 0)
            || (meta.uid() != user.uid && meta.gid() != user.gid && mode & 0o001 != 0);
        if !enters {
            return Err(UserError::new(format!(
                "the local database's server runs as uid {}, which cannot enter {} (mode {:o}, owner uid {})",
                user.uid,
                dir.display(),
                mode & 0o7777,
                meta.uid()
            ))
            .hint("put the project where that user can reach it (e.g. under /srv or /tmp), or use your own server with DATABASE_URL")
            .into());
        }
    }
    if !refused {
        return Ok(());
    }
    Err(UserError::new(format!(
        "the local database's server runs as uid {}, which cannot enter {}",
        user.uid,
        project.display()
    ))
    .hint("put the project where that user can reach it (e.g. under /srv or /tmp), or use your own server with DATABASE_URL")
    .into())
}

/// What useradd accepts everywhere (and never an option: no leading `-`).
fn is_portable_user_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 32
        && chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// A user of /etc/passwd by name.
pub(super) fn lookup(name: &str) -> Result<RunAs> {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let found = passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.len() > 3 && fields[0] == name).then(|| {
            Some(RunAs {
                uid: fields[2].parse().ok()?,
                gid: fields[3].parse().ok()?,
            })
        })
    });
    match found.flatten() {
        Some(user) if user.uid != 0 => Ok(user),
        Some(_) => Err(UserError::new(format!("--run-as {name}: that is root"))
            .hint("name a normal user: PostgreSQL refuses to run as root")
            .into()),
        None => Err(UserError::new(format!("--run-as {name}: no such user"))
            .hint("name an existing user (modkit never creates one), e.g. postgres")
            .into()),
    }
}

impl RunAs {
    /// Make `cmd` run as this user (std drops root's supplementary groups with the uid).
    pub fn apply(self, cmd: &mut Command) {
        cmd.uid(self.uid).gid(self.gid);
    }

    pub fn chown(self, path: &Path) -> Result<()> {
        std::os::unix::fs::chown(path, Some(self.uid), Some(self.gid))
            .with_context(|| format!("cannot give {} to uid {}", path.display(), self.uid))
    }
}
