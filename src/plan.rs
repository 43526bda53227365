//! A file plan: what a command would write, classified against the disk and against the record of
//! what modkit wrote before, then applied atomically.
//!
//! Commands render into a plan; `--dry-run` prints it; [`FilePlan::conflicts`] finds the files an
//! overwrite would lose (edited since modkit wrote them, or never written by modkit); `apply`
//! stages every file in one `.modkit-tmp-*` folder at the target's root and only then renames them
//! into place, so an interrupted or failed run leaves no half-written file, and the next run
//! removes the staging folder an interrupted one left behind.
//!
//! `modkit init` and `modkit adapt` share this file plan and its [`Record`]: init keeps its record
//! in `.modkit-init.json` at the sandbox's root, adapt in `.modkit-adapt.json` in the module's folder
//! of the foundation. Both are meant to be committed with the project.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::exit::UserError;
use crate::modules::sha256_hex;
use crate::templates::RenderedFile;

/// The prefix of the staging folder `apply` writes into; nothing else modkit makes starts so.
pub const STAGING_PREFIX: &str = ".modkit-tmp-";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// The file does not exist yet.
    Create,
    /// The file exists with other content; written only with `--force`.
    Overwrite,
    /// The file exists with exactly this content; left alone.
    Unchanged,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlannedFile {
    pub path: String,
    pub action: Action,
    #[serde(skip)]
    pub contents: String,
    /// What is on disk now, for an `Overwrite`: its sha-256 and (for a diff) its text.
    #[serde(skip)]
    pub on_disk: Option<OnDisk>,
}

#[derive(Debug, Clone)]
pub struct OnDisk {
    pub sha256: String,
    pub text: String,
}

#[derive(Debug)]
pub struct FilePlan {
    pub root: PathBuf,
    pub files: Vec<PlannedFile>,
}

/// A file the plan would overwrite although modkit did not write what is there now.
#[derive(Debug, Clone, Serialize)]
pub struct Conflict {
    pub path: String,
    pub why: String,
}

/// The record of what init wrote (see [`Record`]), at the sandbox's root, committed with it.
pub const RECORD: &str = ".modkit-init.json";

/// What modkit wrote: its version, the answers it rendered with, and each file's sha-256 as
/// written (paths relative to the record's folder). `modkit upgrade` will read it as the base of a
/// 3-way merge.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Record {
    pub generated_by: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answers: Option<serde_json::Value>,
    pub files: BTreeMap<String, String>,
    /// For a file the foundation's formatter changed after modkit rendered it (adapt): the sha-256
    /// of what modkit rendered. The same rendering over the same formatted file is then nothing to
    /// do, even where the formatter did more than layout (Prettier's import-sorting plugins).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub rendered: BTreeMap<String, String>,
}

impl Record {
    /// The record of `files` (paths relative to the record's folder) as this modkit renders them.
    pub fn of(files: &[RenderedFile], answers: Option<serde_json::Value>) -> Self {
        Self {
            generated_by: format!("modkit {}", env!("CARGO_PKG_VERSION")),
            answers,
            files: files
                .iter()
                .map(|f| (f.path.clone(), sha256_hex(f.contents.as_bytes())))
                .collect(),
            rendered: BTreeMap::new(),
        }
    }

    /// The record at `path`; an empty one when there is none. `command` names who wrote it.
    pub fn read(path: &Path, command: &str) -> Result<Self> {
        match read_regular(path) {
            Ok(Some(bytes)) => serde_json::from_slice(&bytes).map_err(|e| {
                UserError::new(format!("{} is not a modkit record: {e}", path.display()))
                    .hint(format!("it records what `{command}` wrote; delete it to start afresh (every existing file is then treated as an edit)"))
                    .into()
            }),
            Ok(None) => Ok(Self::default()),
            Err(e) => Err(e),
        }
    }

    pub fn to_json(&self) -> Result<String> {
        Ok(serde_json::to_string_pretty(self)? + "\n")
    }
}

/// The bytes of a regular file, `None` when it does not exist. A symbolic link, a folder or a FIFO
/// is an error naming it (a FIFO is never opened: it would block).
fn read_regular(path: &Path) -> Result<Option<Vec<u8>>> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        Ok(_) => crate::modules::read_file_bytes(path).map(Some),
    }
}

impl FilePlan {
    /// Classify each rendered file against what is on disk under `root`. A symbolic link on the
    /// way to a file (below `root`) is refused before anything is read through it.
    pub fn new(root: &Path, rendered: Vec<RenderedFile>) -> Result<Self> {
        let mut files = Vec::with_capacity(rendered.len());
        for file in rendered {
            check_relative(&file.path)?;
            guard_no_symlink(root, &file.path)?;
            let target = root.join(&file.path);
            let (action, on_disk) = match fs::symlink_metadata(&target) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Action::Create, None),
                Err(e) => return Err(e).with_context(|| format!("cannot read {}", target.display())),
                Ok(meta) if !meta.is_file() => {
                    return Err(UserError::new(format!(
                        "{} exists and is not a regular file; modkit would write a file there",
                        target.display()
                    ))
                    .hint("move it away, then run again")
                    .into());
                }
                Ok(_) => {
                    let bytes = crate::modules::read_file_bytes(&target)?;
                    if bytes == file.contents.as_bytes() {
                        (Action::Unchanged, None)
                    } else {
                        let on_disk = OnDisk {
                            sha256: sha256_hex(&bytes),
                            text: String::from_utf8_lossy(&bytes).into_owned(),
                        };
                        (Action::Overwrite, Some(on_disk))
                    }
                }
            };
            files.push(PlannedFile {
                path: file.path,
                action,
                contents: file.contents,
                on_disk,
            });
        }
        Ok(Self {
            root: root.to_path_buf(),
            files,
        })
    }

    pub fn count(&self, action: Action) -> usize {
        self.files.iter().filter(|f| f.action == action).count()
    }

    /// The files an overwrite would lose: those whose content on disk is not what `record` says
    /// modkit wrote there (edited since, or there before modkit). `prefix` is the record's folder
    /// relative to the plan's root (`""` or `src/modules/items/`); the record file itself never
    /// conflicts. `policy` may declare a conflict first (adapt: any changed migration).
    pub fn conflicts(
        &self,
        prefix: &str,
        record_name: &str,
        record: &Record,
        command: &str,
        policy: impl Fn(&str) -> Option<String>,
    ) -> Vec<Conflict> {
        let mut out = Vec::new();
        for file in self.files.iter().filter(|f| f.action == Action::Overwrite) {
            let rel = file.path.strip_prefix(prefix).unwrap_or(&file.path);
            if rel == record_name {
                continue;
            }
            let on_disk = file.on_disk.as_ref().map(|d| d.sha256.as_str());
            let why = if let Some(why) = policy(rel) {
                why
            } else if record.files.get(rel).map(String::as_str) == on_disk {
                continue; // modkit wrote it and nobody changed it since: update it
            } else if record.files.contains_key(rel) {
                format!("edited since {command} wrote it")
            } else {
                format!("not written by {command} (it was there before)")
            };
            out.push(Conflict {
                path: file.path.clone(),
                why,
            });
        }
        out
    }

    /// Write every file that is new or changed. Stage all in one folder first, then rename: a
    /// failure while staging leaves the target as it was; an interruption leaves whole files only,
    /// plus a staging folder that the next run removes.
    pub fn apply(&self) -> Result<()> {
        let changed: Vec<&PlannedFile> = self
            .files
            .iter()
            .filter(|f| f.action != Action::Unchanged)
            .collect();
        remove_debris(&self.root, self.files.iter().map(|f| f.path.as_str()));
        if changed.is_empty() {
            return Ok(());
        }
        // Installed before the staging folder exists, dropped after it is gone (locals drop in
        // reverse order): a Ctrl-C while staging removes the staging folder and writes nothing.
        let interrupt = InterruptGuard::install();
        fs::create_dir_all(&self.root)
            .with_context(|| format!("cannot create folder {}", self.root.display()))?;
        let staging = tempfile::Builder::new()
            .prefix(STAGING_PREFIX)
            .tempdir_in(&self.root)
            .with_context(|| format!("cannot write in {}", self.root.display()))?;
        let pause = test_pause();
        let mut staged = Vec::with_capacity(changed.len());
        for (i, file) in changed.iter().enumerate() {
            let target = self.root.join(&file.path);
            let tmp = staging.path().join(i.to_string());
            // A new file gets the mode the umask allows (0666 & !umask), as any editor's would; an
            // overwritten file keeps its own (an executable script stays executable).
            let mut out = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)
                .with_context(|| format!("cannot write in {}", self.root.display()))?;
            out.write_all(file.contents.as_bytes())
                .with_context(|| format!("cannot write {}", target.display()))?;
            if file.action == Action::Overwrite
                && let Ok(meta) = fs::metadata(&target)
            {
                out.set_permissions(meta.permissions())
                    .with_context(|| format!("cannot write {}", target.display()))?;
            }
            out.sync_all().ok();
            staged.push((tmp, target, file.path.as_str()));
            pause();
            if interrupt.interrupted() {
                anyhow::bail!("interrupted: nothing was written");
            }
        }
        // From here on a Ctrl-C waits for the renames (each is atomic, all take milliseconds), so
        // the target ends up complete, then the process dies of the signal as it would have.
        for (tmp, target, rel) in staged {
            // Checked again just before writing: nothing made a folder on the way a link since.
            guard_no_symlink(&self.root, rel)?;
            if let Some(parent) = target.parent() {
                fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create folder {}", parent.display()))?;
            }
            fs::rename(&tmp, &target).with_context(|| format!("cannot write {}", target.display()))?;
            pause();
        }
        staging
            .close()
            .with_context(|| format!("cannot remove modkit's staging folder in {}", self.root.display()))?;
        Ok(())
    }

    /// The plan as an indented tree, one line a file, marked with what would happen to it.
    pub fn render_tree(&self) -> String {
        self.tree(|f| match f.action {
            Action::Create => Some(String::new()),
            Action::Overwrite => Some("  (overwrite)".into()),
            Action::Unchanged => Some("  (unchanged)".into()),
        })
    }

    /// Only what changes, as a tree: new files, updated files, and conflicts (with why).
    pub fn render_changes(&self, conflicts: &[Conflict]) -> String {
        self.tree(|f| {
            if let Some(c) = conflicts.iter().find(|c| c.path == f.path) {
                return Some(format!("  (conflict: {})", c.why));
            }
            match f.action {
                Action::Create => Some("  (new)".into()),
                Action::Overwrite => Some("  (update)".into()),
                Action::Unchanged => None,
            }
        })
    }

    /// A unified diff (3 lines of context) of each file the plan would overwrite.
    pub fn diffs(&self) -> String {
        let mut out = String::new();
        for file in &self.files {
            let Some(on_disk) = &file.on_disk else { continue };
            let diff = similar::TextDiff::from_lines(on_disk.text.as_str(), file.contents.as_str());
            out.push_str(
                &diff
                    .unified_diff()
                    .context_radius(3)
                    .header(&format!("a/{}", file.path), &format!("b/{}", file.path))
                    .to_string(),
            );
        }
        out
    }

    fn tree(&self, mark: impl Fn(&PlannedFile) -> Option<String>) -> String {
        let mut out = String::new();
        let mut last_dirs: Vec<&str> = Vec::new();
        for file in &self.files {
            let Some(mark) = mark(file) else { continue };
            let parts: Vec<&str> = file.path.split('/').collect();
            let (dirs, name) = parts.split_at(parts.len() - 1);
            let common = last_dirs.iter().zip(dirs).take_while(|(a, b)| a == b).count();
            for (depth, dir) in dirs.iter().enumerate().skip(common) {
                out.push_str(&format!("{}{}/\n", "  ".repeat(depth + 1), dir));
            }
            out.push_str(&format!("{}{}{}\n", "  ".repeat(dirs.len() + 1), name[0], mark));
            last_dirs = dirs.to_vec();
        }
        out
    }
}

/// Set by the SIGINT handler while files are being written.
static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// While alive, SIGINT only sets a flag that `apply` checks; on drop the previous disposition
/// comes back and a SIGINT received meanwhile is raised again, so the process still ends as
/// interrupted (exit by signal), just not in the middle of a write.
struct InterruptGuard {
    previous: libc::sigaction,
}

impl InterruptGuard {
    fn install() -> Self {
        INTERRUPTED.store(false, std::sync::atomic::Ordering::SeqCst);
        // SAFETY: plain sigaction(2) calls on zeroed structs; the handler only stores an atomic,
        // which is async-signal-safe.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_sigint as *const () as libc::sighandler_t;
            libc::sigemptyset(&mut action.sa_mask);
            let mut previous: libc::sigaction = std::mem::zeroed();
            libc::sigaction(libc::SIGINT, &action, &mut previous);
            if previous.sa_sigaction == libc::SIG_IGN {
                // Started with SIGINT ignored (`nohup`, a background job): keep ignoring it.
                libc::sigaction(libc::SIGINT, &previous, std::ptr::null_mut());
            }
            Self { previous }
        }
    }

    fn interrupted(&self) -> bool {
        INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for InterruptGuard {
    fn drop(&mut self) {
        // SAFETY: restores the disposition saved by install; raise(3) sends SIGINT to ourselves.
        unsafe {
            libc::sigaction(libc::SIGINT, &self.previous, std::ptr::null_mut());
            if self.interrupted() {
                libc::raise(libc::SIGINT);
            }
        }
    }
}

/// What an interrupted run left: `.modkit-tmp-*` staging folders at the root, and the
/// `.modkit-XXXXXX` temporary files modkit 0.1.0 staged beside each target.
fn remove_debris<'a>(root: &Path, paths: impl Iterator<Item = &'a str>) {
    let mut dirs: Vec<PathBuf> = vec![root.to_path_buf()];
    for path in paths {
        if let Some(parent) = root.join(path).parent()
            && !dirs.iter().any(|d| d == parent)
        {
            dirs.push(parent.to_path_buf());
        }
    }
    for dir in dirs {
        let Ok(entries) = fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(kind) = entry.file_type() else { continue };
            if is_debris(&name, kind.is_dir(), kind.is_file()) {
                if kind.is_dir() {
                    fs::remove_dir_all(entry.path()).ok();
                } else {
                    fs::remove_file(entry.path()).ok();
                }
            }
        }
    }
}

/// A staging folder of this modkit, or a temporary file of modkit 0.1.0 (`.modkit-` and six
/// letters or digits: tempfile's default).
pub fn is_debris(name: &str, is_dir: bool, is_file: bool) -> bool {
    if is_dir {
        return name.starts_with(STAGING_PREFIX);
    }
    is_file
        && name
            .strip_prefix(".modkit-")
            .is_some_and(|rest| rest.len() == 6 && rest.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// A test-only hook: `MODKIT_TEST_WRITE_PAUSE_MS` sleeps after staging and after renaming each
/// file, so that the tests can interrupt a run at a known phase. Not for users.
fn test_pause() -> impl Fn() {
    let ms = std::env::var("MODKIT_TEST_WRITE_PAUSE_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    move || {
        if ms > 0 {
            std::thread::sleep(std::time::Duration::from_millis(ms));
        }
    }
}

/// Template paths are relative and stay inside the target folder.
fn check_relative(path: &str) -> Result<()> {
    let ok = !path.is_empty()
        && Path::new(path)
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
    anyhow::ensure!(ok, "refusing to write outside the target folder: `{path}`");
    Ok(())
}

/// A symbolic link on the way from `root` to `rel` (or at `rel`'s folders) could send a read or a
/// write elsewhere: refuse it. Checked from the root down before anything is created, so a refused
/// run makes no folder anywhere.
pub fn guard_no_symlink(root: &Path, rel: &str) -> Result<()> {
    let mut current = root.to_path_buf();
    let parts: Vec<&str> = rel.split('/').collect();
    for part in &parts[..parts.len().saturating_sub(1)] {
        current.push(part);
        match fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(UserError::new(format!(
                    "{} is a symbolic link; modkit writes only inside the target folder",
                    current.display()
                ))
                .hint("replace the link with a real folder, or choose another target")
                .into());
            }
            Ok(_) => {}
            // Nothing further down exists yet: apply creates it, as real folders.
            Err(_) => break,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debris_names() {
        assert!(is_debris(".modkit-tmp-a1B2c3", true, false));
        assert!(is_debris(".modkit-Ab12Cd", false, true));
        assert!(!is_debris(".modkit-adapt.json", false, true));
        assert!(!is_debris(".modkit-init.json", false, true));
        assert!(!is_debris(".modkit-tmp-a1B2c3", false, false));
    }
}
