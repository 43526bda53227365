//! Who runs the server. PostgreSQL refuses to run as root, so when modkit runs as root the server
//! runs as the owner of the cluster (or, for a new one, of the project folder) when that is a normal
//! user, or as the user named by `--run-as`; else modkit refuses. It never creates a user.

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
         (an existing user, e.g. postgres) to `modkit db start`, or use your own server with DATABASE_URL",
    )
    .into())
}

/// A user of /etc/passwd by name.
fn lookup(name: &str) -> Result<RunAs> {
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
