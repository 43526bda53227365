//! How this modkit was installed, as far as the sandbox it renders cares (docs/install.md).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Set by the npm launcher (npm/modkit/lib/launcher.js) for the binary it runs, to its own version.
pub const NPM_LAUNCHER_ENV: &str = "MODKIT_NPM_LAUNCHER";

/// The launcher's override: run this binary instead of the platform package's.
const BINARY_ENV: &str = "MODKIT_BINARY";

/// True when this process was started by the npm launcher, or is the npm package's bin itself
/// (see [`npm_bin`]): a sandbox it renders then depends on the `modkit` package at this version,
/// so that its CI needs nothing but `npm ci`. A modkit installed with cargo renders the sandbox
/// without it, as before.
pub fn from_npm() -> bool {
    std::env::var_os(NPM_LAUNCHER_ENV).is_some_and(|v| !v.is_empty()) || npm_bin().is_some()
}

/// This executable's own file when it is the npm package's `bin/modkit.js`: the package's
/// postinstall (npm/modkit/lib/install.js) puts the native binary there in place of the JS
/// launcher, so that `npx modkit` and npm scripts start no node. Symbolic links (npm's
/// `node_modules/.bin/modkit`) are followed.
pub fn npm_bin() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let exe = std::fs::canonicalize(&exe).unwrap_or(exe);
    is_npm_bin(&exe).then_some(exe)
}

fn is_npm_bin(exe: &Path) -> bool {
    exe.file_name().is_some_and(|n| n == "modkit.js")
        && exe
            .parent()
            .is_some_and(|bin| bin.file_name().is_some_and(|n| n == "bin"))
}

/// What the npm launcher does before running the binary, done by the binary when it is the
/// package's bin itself: `MODKIT_BINARY=<file>` runs that file instead, with the same arguments
/// and `MODKIT_NPM_LAUNCHER` set (which also ends any chain of overrides). Returns only when there
/// is nothing to do; otherwise the process becomes the other binary, or exits 2 with one line,
/// the launcher's.
pub fn run_npm_override(args: &[OsString]) -> Option<std::process::ExitCode> {
    let target = std::env::var_os(BINARY_ENV).filter(|v| !v.is_empty())?;
    if std::env::var_os(NPM_LAUNCHER_ENV).is_some_and(|v| !v.is_empty()) {
        return None;
    }
    npm_bin()?;
    let shown = Path::new(&target).display().to_string();
    let fail = |why: String| {
        eprintln!("modkit: {why}");
        Some(std::process::ExitCode::from(2))
    };
    let unset = "unset it, or point it at a modkit binary";
    match std::fs::metadata(&target) {
        Err(_) => {
            return fail(format!(
                "{BINARY_ENV} is set to {shown}, which does not exist: {unset}"
            ));
        }
        Ok(meta) if !meta.is_file() => {
            return fail(format!(
                "{BINARY_ENV} is set to {shown}, which is not a file: {unset}"
            ));
        }
        Ok(_) => {}
    }
    // Absolute, as the launcher does: a bare name would be looked up on PATH.
    let target = std::path::absolute(&target).unwrap_or_else(|_| PathBuf::from(&target));
    if !looks_executable(&target) {
        // execvp would hand anything else to a shell.
        return fail(format!(
            "{} is not a program for this machine (a truncated or corrupt download?): point {BINARY_ENV} at a modkit binary, or unset it",
            target.display()
        ));
    }
    let mut cmd = std::process::Command::new(&target);
    cmd.args(args.iter().skip(1))
        .env(NPM_LAUNCHER_ENV, env!("CARGO_PKG_VERSION"));
    let err = exec(&mut cmd);
    let why = if err.kind() == std::io::ErrorKind::PermissionDenied {
        "it is not executable".to_string()
    } else if err.raw_os_error() == Some(libc::ENOEXEC) {
        "it is not a program for this machine".to_string()
    } else {
        err.to_string()
    };
    fail(format!(
        "cannot run {}: {why}; point {BINARY_ENV} at a modkit binary, or unset it",
        target.display()
    ))
}

/// ELF, Mach-O (thin or fat) or PE, as the launcher's `looksExecutable`.
fn looks_executable(file: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 4];
    let read = std::fs::File::open(file).and_then(|mut f| f.read_exact(&mut head));
    read.is_ok()
        && (head == *b"\x7fELF"
            || [0xfeed_face, 0xfeed_facf, 0xcefa_edfe, 0xcffa_edfe, 0xcafe_babe]
                .contains(&u32::from_be_bytes(head))
            || head[..2] == *b"MZ")
}

#[cfg(unix)]
fn exec(cmd: &mut std::process::Command) -> std::io::Error {
    use std::os::unix::process::CommandExt;
    cmd.exec()
}

#[cfg(not(unix))]
fn exec(cmd: &mut std::process::Command) -> std::io::Error {
    // The bin is never swapped on Windows (npm/modkit/lib/install.js); run and pass the code on.
    match cmd.status() {
        Ok(status) => std::process::exit(status.code().unwrap_or(2)),
        Err(err) => err,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_file_named_bin_modkit_js_is_the_npm_bin() {
        assert!(is_npm_bin(Path::new("/p/node_modules/modkit/bin/modkit.js")));
        assert!(!is_npm_bin(Path::new("/home/u/.cargo/bin/modkit")));
        assert!(!is_npm_bin(Path::new("/p/modkit.js")));
        assert!(!is_npm_bin(Path::new(
            "/p/node_modules/@modkit/cli-linux-x64/modkit"
        )));
    }

    #[test]
    fn a_script_or_a_truncated_file_is_not_a_program_to_exec() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("script");
        std::fs::write(&script, "#!/bin/sh\necho hi\n").unwrap();
        let short = dir.path().join("short");
        std::fs::write(&short, "\x7fEL").unwrap();
        assert!(!looks_executable(&script));
        assert!(!looks_executable(&short));
        assert!(!looks_executable(&dir.path().join("missing")));
        assert!(looks_executable(&std::env::current_exe().unwrap()));
    }
}
