//! As root, the local database's files are touched only by a process running as the user who owns
//! them. A project (or its `.modkit`) belongs to a normal user, who can swap any name under it for a
//! link at any moment: while root waited on `.modkit/pg.lock` they swapped `.modkit` for a link to
//! `/etc` and root chowned it to them, or linked `pg/password` to `/etc/shadow` and root copied it
//! into their `url` file. No check-then-act on paths closes that; a process with only that user's
//! rights has nothing to give away. So, as root, every local-database operation runs in a child
//! forked and stripped to that user's uid, gid and no supplementary groups before it reads a name
//! of the tree, and hands its result back through a pipe.
//!
//! Who that user is, decided from what root alone controls: the project folder's owner when it is a
//! normal user; in a root-owned project, the owner of `.modkit` (or `.modkit/pg` under a root-owned
//! `.modkit`), or the `--run-as` user, to whom root gives a `.modkit` it makes itself (by descriptor,
//! never following a link). A root-owned project with none of these is worked on as root: nobody
//! else can change a name in it.

use std::ffi::CString;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::user::{self, RunAs};
use crate::exit::UserError;

/// Run `f` as the owner of `project`'s local database when modkit runs as root (see the module
/// comment); else here. `run_as`: `db start --run-as`, for a root-owned project's new cluster.
pub fn as_owner<T, F>(project: &Path, run_as: Option<&str>, f: F) -> Result<T>
where
    T: Serialize + DeserializeOwned,
    F: FnOnce() -> Result<T>,
{
    match owner_of(project, run_as)? {
        None => f(),
        Some(owner) => {
            user::check_reachable(project, owner)?;
            in_child(owner, f)
        }
    }
}

/// `--run-as`/`--create-user` NAME, as root in a project a normal user owns: only that user may
/// run it (the work runs as them). Asked before `--create-user` makes anyone.
pub fn check_run_as(project: &Path, name: &str) -> Result<()> {
    let Ok(meta) = std::fs::metadata(project) else {
        return Ok(());
    };
    let owner = std::os::unix::fs::MetadataExt::uid(&meta);
    if !user::is_root() || owner == 0 || user::lookup(name).is_ok_and(|u| u.uid == owner) {
        return Ok(());
    }
    Err(UserError::new(format!(
        "--run-as {name}: {} belongs to uid {owner}, and as root modkit works in a user's project only as that user",
        project.display()
    ))
    .hint("leave out --run-as and --create-user (the server runs as the project's owner), or give the project to that user (chown -R)")
    .into())
}

/// The user the work runs as, or `None` to run it here (not root, or nobody but root owns the tree).
fn owner_of(project: &Path, run_as: Option<&str>) -> Result<Option<RunAs>> {
    if !user::is_root() {
        return Ok(None);
    }
    let dir =
        open_dir(project).with_context(|| format!("cannot open the project folder {}", project.display()))?;
    let meta = fstat(&dir)?;
    if meta.st_uid != 0 {
        let owner = RunAs {
            uid: meta.st_uid,
            gid: meta.st_gid,
        };
        if let Some(name) = run_as {
            check_run_as(project, name)?;
        }
        return Ok(Some(owner));
    }
    // Root owns the project: its names are root's alone, so looking at them does not race.
    crate::plan::guard_no_symlink(project, ".modkit/pg/data")?;
    let modkit = project.join(".modkit");
    match std::fs::symlink_metadata(&modkit) {
        Ok(m) if m.is_dir() && std::os::unix::fs::MetadataExt::uid(&m) != 0 => {
            return Ok(Some(RunAs {
                uid: std::os::unix::fs::MetadataExt::uid(&m),
                gid: std::os::unix::fs::MetadataExt::gid(&m),
            }));
        }
        Ok(m) if m.is_dir() => {
            if let Ok(pg) = std::fs::symlink_metadata(modkit.join("pg"))
                && pg.is_dir()
                && std::os::unix::fs::MetadataExt::uid(&pg) != 0
            {
                return Ok(Some(RunAs {
                    uid: std::os::unix::fs::MetadataExt::uid(&pg),
                    gid: std::os::unix::fs::MetadataExt::gid(&pg),
                }));
            }
        }
        Ok(_) => return Ok(None), // not a folder: the work itself says so
        Err(_) => {}
    }
    let Some(name) = run_as else {
        return Ok(None);
    };
    let owner = user::lookup(name)?;
    give_modkit_dir(&dir, project, owner)?;
    Ok(Some(owner))
}

/// Make `.modkit` in the (root-owned) project if needed and give it to `owner`, by descriptor: a
/// link in its place is refused, never followed.
fn give_modkit_dir(project_fd: &OwnedFd, project: &Path, owner: RunAs) -> Result<()> {
    use std::os::fd::AsRawFd;
    let name = c".modkit";
    // SAFETY: a valid descriptor and a NUL-terminated name; EEXIST is the usual answer.
    if unsafe { libc::mkdirat(project_fd.as_raw_fd(), name.as_ptr(), 0o700) } != 0 {
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::AlreadyExists {
            return Err(e).with_context(|| format!("cannot create {}/.modkit", project.display()));
        }
    }
    // SAFETY: as above; O_NOFOLLOW refuses a link, O_DIRECTORY anything but a folder.
    let fd = unsafe {
        libc::openat(
            project_fd.as_raw_fd(),
            name.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("cannot open {}/.modkit (a link is refused)", project.display()));
    }
    // SAFETY: openat returned this descriptor to us alone.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: a valid descriptor.
    let ok = unsafe {
        libc::fchmod(fd.as_raw_fd(), 0o700) == 0 && libc::fchown(fd.as_raw_fd(), owner.uid, owner.gid) == 0
    };
    if !ok {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("cannot give {}/.modkit to uid {}", project.display(), owner.uid));
    }
    Ok(())
}

fn open_dir(path: &Path) -> Result<OwnedFd> {
    let c = CString::new(path.as_os_str().as_bytes()).context("a NUL byte in the path")?;
    // SAFETY: a NUL-terminated path.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    // SAFETY: open returned this descriptor to us alone.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn fstat(fd: &OwnedFd) -> Result<libc::stat> {
    use std::os::fd::AsRawFd;
    // SAFETY: an all-zero stat is a valid value to be overwritten by fstat.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: a valid descriptor and a pointer to a stat.
    if unsafe { libc::fstat(fd.as_raw_fd(), &raw mut st) } != 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    Ok(st)
}

/// What the child sends back: its value, or its error as the user would have read it.
#[derive(serde::Serialize, serde::Deserialize)]
enum Answer<T> {
    Ok(T),
    Err {
        texts: Vec<String>,
        hint: Option<String>,
    },
}

/// Fork, drop to `owner` in the child, run `f` there, and return what it returned.
fn in_child<T, F>(owner: RunAs, f: F) -> Result<T>
where
    T: Serialize + DeserializeOwned,
    F: FnOnce() -> Result<T>,
{
    let mut fds = [0; 2];
    // SAFETY: a two-int array for pipe2.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error()).context("cannot make a pipe");
    }
    // SAFETY: pipe2 gave us both descriptors.
    let (read_end, write_end) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // Nothing buffered may be written twice, once by each process.
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: the other threads (main, waiting in join) hold no lock the child needs; the child
    // runs this command's code and leaves with _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(std::io::Error::last_os_error()).context("cannot fork");
    }
    if pid == 0 {
        drop(read_end);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            drop_privileges(owner).and_then(|()| f())
        }));
        let code = match result {
            Ok(result) => {
                let answer = match result {
                    Ok(value) => Answer::Ok(value),
                    Err(err) => Answer::Err {
                        texts: crate::output::error_texts(&err),
                        hint: err
                            .chain()
                            .find_map(|e| e.downcast_ref::<UserError>())
                            .and_then(|e| e.hint.clone()),
                    },
                };
                let mut pipe = std::fs::File::from(write_end);
                let sent = serde_json::to_vec(&answer)
                    .ok()
                    .is_some_and(|bytes| pipe.write_all(&bytes).is_ok());
                if sent { 0 } else { 3 }
            }
            Err(_) => 101,
        };
        let _ = std::io::stdout().flush();
        // SAFETY: leave without running the parent's exit handlers or destructors twice.
        unsafe { libc::_exit(code) };
    }
    drop(write_end);
    let mut bytes = Vec::new();
    let read = std::fs::File::from(read_end).read_to_end(&mut bytes);
    let mut status = 0;
    // SAFETY: our own child; retried on EINTR.
    while unsafe { libc::waitpid(pid, &raw mut status, 0) } < 0 {
        if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            break;
        }
    }
    let answer = read
        .ok()
        .and_then(|_| serde_json::from_slice::<Answer<T>>(&bytes).ok());
    match answer {
        Some(Answer::Ok(value)) => Ok(value),
        Some(Answer::Err { texts, hint }) => {
            let mut err = UserError::new(texts.join(": "));
            err.hint = hint;
            Err(err.into())
        }
        None => Err(anyhow::anyhow!(
            "the local database's work as uid {} ended without an answer (wait status {status})",
            owner.uid
        )),
    }
}

/// setgroups, setgid, setuid, in that order, and checked: root must not be reachable again.
fn drop_privileges(owner: RunAs) -> Result<()> {
    let gid = owner.gid;
    // SAFETY: plain system calls on values.
    let ok = unsafe {
        libc::setgroups(1, &raw const gid) == 0
            && libc::setgid(owner.gid) == 0
            && libc::setuid(owner.uid) == 0
    };
    // SAFETY: plain system calls.
    let dropped = ok
        && unsafe { libc::geteuid() } == owner.uid
        && unsafe { libc::getegid() } == owner.gid
        && unsafe { libc::setuid(0) } != 0;
    if !dropped {
        anyhow::bail!("cannot switch to uid {} gid {}", owner.uid, owner.gid);
    }
    Ok(())
}
