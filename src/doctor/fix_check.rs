//! `--fix` never leaves the project failing its own type-check. The tsconfig fixes are checked
//! with the project's own TypeScript (`tsc --noEmit -p <tsconfig>`): when the fixed project
//! type-checks, they stay; when it does not, the files are put back and checked as they were, and the
//! fixes stay only if they added no error (a project that failed before may still fail after, as
//! long as the fix is not why). Otherwise they are undone, and doctor says so with the first new error.
//!
//! Run lazily: one `tsc` when the fixed project is clean (the usual case), two when it is not.

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::Result;

use super::Target;

/// Files a group of fixes rewrote: what each held before and after, in the order written.
#[derive(Default)]
pub struct Edits(Vec<(PathBuf, String, String)>);

impl Edits {
    pub fn record(&mut self, path: &Path, before: String, after: String) {
        match self.0.iter_mut().find(|(p, ..)| p == path) {
            // A file edited twice (paths, then baseUrl): its first text and its last.
            Some((_, _, last)) => *last = after,
            None => self.0.push((path.to_path_buf(), before, after)),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn restore(&self) -> Result<()> {
        for (path, before, _) in self.0.iter().rev() {
            write_whole(path, before)?;
        }
        Ok(())
    }

    fn reapply(&self) -> Result<()> {
        for (path, _, after) in &self.0 {
            write_whole(path, after)?;
        }
        Ok(())
    }
}

/// What the project's own type-check said of a group of fixes.
pub enum Verdict {
    /// Kept: the fixed project type-checks, or fails with no error it did not have.
    Kept,
    /// Kept without a check, and why it could not be made.
    NotChecked(String),
    /// Undone (the files as they were): the check fails after the fixes with errors it did not have.
    Undone {
        files: Vec<String>,
        new_errors: usize,
        first: String,
    },
    /// Undone: the check fails after the fixes and could not be run without them.
    UndoneUnchecked(String),
}

/// Check the fixes behind `edits` with the project's own TypeScript, undoing them if they made it worse.
pub fn type_check(target: &Target, edits: &Edits) -> Result<Verdict> {
    let (after, tsc) = match TypeCheck::find(target).and_then(|tsc| Ok((tsc.errors()?, tsc))) {
        Ok(found) => found,
        Err(why) => return Ok(Verdict::NotChecked(why)),
    };
    if after.is_empty() {
        return Ok(Verdict::Kept);
    }
    edits.restore()?;
    let before = match tsc.errors() {
        Ok(errors) => errors,
        // Cannot tell whether the fix made it worse: leave the files as they were.
        Err(why) => return Ok(Verdict::UndoneUnchecked(why)),
    };
    let new: Vec<&String> = after.difference(&before).collect();
    let Some(first) = new.first() else {
        edits.reapply()?;
        return Ok(Verdict::Kept);
    };
    Ok(Verdict::Undone {
        files: edits.0.iter().map(|(p, ..)| target.relative(p)).collect(),
        new_errors: new.len(),
        first: (*first).clone(),
    })
}

/// A file replaced whole: written beside it, then renamed over it, keeping its permissions.
pub(super) fn write_whole(path: &Path, text: &str) -> Result<()> {
    use anyhow::Context;
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp =
        tempfile::NamedTempFile::new_in(dir).with_context(|| format!("cannot write in {}", dir.display()))?;
    tmp.write_all(text.as_bytes())?;
    if let Ok(meta) = std::fs::metadata(path) {
        std::fs::set_permissions(tmp.path(), meta.permissions())?;
    }
    tmp.persist(path)
        .with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}

/// The project's own `tsc`, run with node on the tsconfig doctor checks.
struct TypeCheck {
    node: PathBuf,
    tsc: PathBuf,
    tsconfig: PathBuf,
    dir: PathBuf,
}

impl TypeCheck {
    fn find(target: &Target) -> std::result::Result<Self, String> {
        // Running the project's TypeScript runs the project's code: never as root in a project
        // another user owns (issue 15's rule for every project binary).
        if crate::localdb::is_root() && std::fs::metadata(&target.root).is_ok_and(|m| m.uid() != 0) {
            return Err("root does not run another user's TypeScript".into());
        }
        let tsc = target
            .server
            .ancestors()
            .take_while(|d| d.starts_with(&target.root))
            .map(|d| d.join("node_modules/typescript/bin/tsc"))
            .find(|p| p.is_file())
            .ok_or("TypeScript is not installed in the project (npm install)")?;
        let node = which::which("node").map_err(|_| "node is not on PATH".to_string())?;
        let dir = target.tsconfig.parent().unwrap_or(&target.root).to_path_buf();
        Ok(Self {
            node,
            tsc,
            tsconfig: target.tsconfig.clone(),
            dir,
        })
    }

    /// The errors `tsc --noEmit` reports, each as `file: TSnnnn message` without its line and
    /// column, so an error that only moved is the same error.
    fn errors(&self) -> std::result::Result<BTreeSet<String>, String> {
        let mut child = Command::new(&self.node)
            .arg(&self.tsc)
            .args(["--noEmit", "--pretty", "false", "-p"])
            .arg(&self.tsconfig)
            .current_dir(&self.dir)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.tsc.display()))?;
        let mut stdout = child.stdout.take().ok_or("no output from tsc")?;
        let reader = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut stdout, &mut text);
            text
        });
        // A stalled type-check must not hang doctor.
        let deadline = std::time::Instant::now() + Duration::from_secs(300);
        let status = loop {
            if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
                break status;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err("tsc took over 5 minutes".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let text = reader.join().unwrap_or_default();
        let errors = parse_errors(&text);
        if !status.success() && errors.is_empty() {
            return Err(format!("tsc exited with {status} and reported no error"));
        }
        Ok(errors)
    }
}

fn parse_errors(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|line| {
            let (place, rest) = line
                .split_once(": error ")
                .or_else(|| line.strip_prefix("error ").map(|rest| ("", rest)))?;
            // `src/a.ts(3,14)` -> `src/a.ts`
            let file = place.rsplit_once('(').map_or(place, |(f, _)| f);
            Some(if file.is_empty() {
                rest.to_string()
            } else {
                format!("{file}: {rest}")
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::parse_errors;

    #[test]
    fn an_error_that_only_moved_is_the_same_error() {
        let a = parse_errors(
            "src/a.ts(3,14): error TS2307: Cannot find module 'x'.\nerror TS5090: Non-relative paths are not allowed.\n  more\n",
        );
        let b = parse_errors("src/a.ts(9,1): error TS2307: Cannot find module 'x'.\n");
        assert_eq!(a.len(), 2);
        assert!(b.is_subset(&a));
        assert!(a.contains("TS5090: Non-relative paths are not allowed."));
    }
}
