//! Reading the local database's small files (`url`, `port`, `postmaster.pid`, ...) as root in a
//! project another user owns, without following anything that user put in their place: `modkit
//! doctor` reads them there, and a `url` linked to a root-only file must give it nothing.

use std::ffi::CString;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};

/// The text of `project/rel`. As root: every folder under `project` and the file itself opened with
/// O_NOFOLLOW, each relative to the one before (a link anywhere is refused, never followed), and
/// the file read only when it is a regular file with one name, owned by whoever owns the folder it
/// is in (so a hard link to a file of someone else's, root's included, is refused too). None when
/// it is not so, or not there. As anyone else a plain read: they read only what they may anyway.
pub fn read_text(project: &Path, rel: &Path) -> Option<String> {
    if !super::user::is_root() {
        return std::fs::read_to_string(project.join(rel)).ok();
    }
    let file = open_no_follow(project, rel)?;
    let mut text = String::new();
    // A few bytes at most: a url, a port, a pid file. More is not one of modkit's files.
    std::fs::File::from(file)
        .take(64 * 1024)
        .read_to_string(&mut text)
        .ok()?;
    Some(text)
}

/// Whether `project/rel` is a regular file, read as `read_text` reads it.
pub fn is_file(project: &Path, rel: &Path) -> bool {
    if !super::user::is_root() {
        return project.join(rel).is_file();
    }
    open_no_follow(project, rel).is_some()
}

fn open_no_follow(project: &Path, rel: &Path) -> Option<OwnedFd> {
    let mut dir = open_at(libc::AT_FDCWD, project.as_os_str().as_bytes(), libc::O_DIRECTORY)?;
    let names: Vec<&[u8]> = rel
        .components()
        .map(|c| match c {
            Component::Normal(name) => Some(name.as_bytes()),
            _ => None,
        })
        .collect::<Option<_>>()?;
    let (last, folders) = names.split_last()?;
    for name in folders {
        dir = open_at(dir.as_raw_fd(), name, libc::O_DIRECTORY | libc::O_NOFOLLOW)?;
    }
    // O_NONBLOCK: a FIFO in the file's place must not hang the reader.
    let file = open_at(dir.as_raw_fd(), last, libc::O_NOFOLLOW | libc::O_NONBLOCK)?;
    let (st, folder) = (stat(&file)?, stat(&dir)?);
    let regular = st.st_mode & libc::S_IFMT == libc::S_IFREG;
    (regular && st.st_nlink == 1 && st.st_uid == folder.st_uid).then_some(file)
}

fn open_at(dir: libc::c_int, name: &[u8], flags: libc::c_int) -> Option<OwnedFd> {
    let name = CString::new(name).ok()?;
    // SAFETY: a NUL-terminated name and a descriptor that is AT_FDCWD or open.
    let fd = unsafe { libc::openat(dir, name.as_ptr(), flags | libc::O_RDONLY | libc::O_CLOEXEC) };
    // SAFETY: openat returned this descriptor to us alone.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
}

fn stat(fd: &OwnedFd) -> Option<libc::stat> {
    // SAFETY: an all-zero stat is valid, and fstat fills it for an open descriptor.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    (unsafe { libc::fstat(fd.as_raw_fd(), &raw mut st) } == 0).then_some(st)
}
