//! `.modkit/pg.lock`: one start, stop or reset of a project's local database at a time, across modkit
//! and the sandbox's `sandbox/localdb.ts` (same protocol there). Without it, two starts on a fresh
//! project ran initdb into the same folder, or one deleted the other's half-made cluster.
//!
//! The lock is a folder, since `mkdir` is atomic everywhere and Node has no `flock`: made = held. It
//! holds `pid`, the holder's process id. A lock whose holder is gone (killed mid-start) is taken
//! over; one with no `pid` yet is only stale after a few seconds (its holder may be writing it).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};

use super::user::RunAs;
use crate::exit::UserError;

/// How long a start waits for another one (initdb and the first start take a few seconds).
const WAIT: Duration = Duration::from_secs(120);
/// A lock folder without a `pid` file for longer than this was left by a holder killed at once.
const NO_PID_STALE: Duration = Duration::from_secs(5);

/// Held until dropped.
#[derive(Debug)]
pub struct StartLock {
    dir: PathBuf,
}

impl StartLock {
    /// Take the lock of the cluster in `modkit_dir` (`<project>/.modkit`), waiting for another holder;
    /// `owner`: who the lock belongs to when modkit runs as root for a normal user.
    pub fn acquire(modkit_dir: &Path, owner: Option<RunAs>) -> Result<Self> {
        std::fs::create_dir_all(modkit_dir)
            .with_context(|| format!("cannot create {}", modkit_dir.display()))?;
        let dir = modkit_dir.join("pg.lock");
        let started = Instant::now();
        let mut announced = false;
        loop {
            match std::fs::create_dir(&dir) {
                Ok(()) => {
                    let lock = Self { dir };
                    let pid = lock.dir.join("pid");
                    std::fs::write(&pid, format!("{}\n", std::process::id()))
                        .with_context(|| format!("cannot write {}", pid.display()))?;
                    if let Some(owner) = owner {
                        // As root for a normal user: that user's npm side can take it over if we die.
                        owner.chown(&lock.dir)?;
                        owner.chown(&pid)?;
                    }
                    return Ok(lock);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e).with_context(|| format!("cannot create {}", dir.display())),
            }
            let holder = holder(&dir);
            if holder.stale {
                // Its holder is gone: remove it (a link is removed, never followed) and try again.
                std::fs::remove_dir_all(&dir).map_err(|e| {
                    UserError::new(format!("cannot remove the stale lock {}: {e}", dir.display())).hint(
                        "its holder is gone: delete the folder .modkit/pg.lock (as the user who owns it)",
                    )
                })?;
                continue;
            }
            if started.elapsed() > WAIT {
                let who = holder
                    .pid
                    .map_or_else(|| "another process".to_string(), |p| format!("process {p}"));
                return Err(UserError::new(format!(
                    "the local database is being started or stopped by {who} for more than {} s ({} exists)",
                    WAIT.as_secs(),
                    dir.display()
                ))
                .hint(
                    "wait for it, or stop that process; if no start runs, delete the folder .modkit/pg.lock",
                )
                .into());
            }
            if !announced && started.elapsed() > Duration::from_secs(2) {
                announced = true;
                let who = holder.pid.map_or_else(String::new, |p| format!(" (pid {p})"));
                eprintln!("waiting for another start or stop of the local database{who}...");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for StartLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

struct Holder {
    pid: Option<u32>,
    stale: bool,
}

fn holder(dir: &Path) -> Holder {
    let pid = std::fs::read_to_string(dir.join("pid"))
        .ok()
        .and_then(|t| t.trim().parse::<u32>().ok());
    let stale = match pid {
        Some(pid) => !alive(pid),
        None => std::fs::symlink_metadata(dir)
            .and_then(|m| m.modified())
            .is_ok_and(|t| SystemTime::now().duration_since(t).unwrap_or_default() > NO_PID_STALE),
    };
    Holder { pid, stale }
}

/// Whether a process `pid` runs (another user's counts: kill(2) says EPERM, not ESRCH). A zombie (a
/// killed start whose parent has not reaped it yet) does not.
fn alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill(2) with signal 0 only checks that the process exists; it sends nothing.
    let exists = unsafe { libc::kill(pid, 0) } == 0
        || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false);
    exists && !zombie
}
