//! A file plan: what a command would write, classified against the disk, then applied atomically.
//!
//! Commands render into a plan; `--dry-run` prints it; `apply` enforces the overwrite policy and the
//! path guard, stages every file as a temporary file beside its target, and only then renames them
//! into place, so an interrupted or failed run leaves no half-written file.

use std::fs;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;

use crate::exit::UserError;
use crate::templates::RenderedFile;

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
}

#[derive(Debug)]
pub struct FilePlan {
    pub root: PathBuf,
    pub files: Vec<PlannedFile>,
}

impl FilePlan {
    /// Classify each rendered file against what is on disk under `root`.
    pub fn new(root: &Path, rendered: Vec<RenderedFile>) -> Result<Self> {
        let mut files = Vec::with_capacity(rendered.len());
        for file in rendered {
            check_relative(&file.path)?;
            let target = root.join(&file.path);
            let action = match fs::symlink_metadata(&target) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Action::Create,
                Err(e) => return Err(e).with_context(|| format!("cannot read {}", target.display())),
                Ok(meta) if !meta.is_file() => {
                    return Err(UserError::new(format!(
                        "{} exists and is not a regular file; modkit would write a file there",
                        target.display()
                    ))
                    .hint("move it away, then run again")
                    .into());
                }
                Ok(_) => match fs::read(&target) {
                    Ok(bytes) if bytes == file.contents.as_bytes() => Action::Unchanged,
                    Ok(_) => Action::Overwrite,
                    Err(e) => return Err(e).with_context(|| format!("cannot read {}", target.display())),
                },
            };
            files.push(PlannedFile {
                path: file.path,
                action,
                contents: file.contents,
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

    /// Write every file that is new or changed. Stage all first, then rename: a failure while
    /// staging leaves the folder as it was (but for new, empty folders).
    pub fn apply(&self) -> Result<()> {
        let mut staged = Vec::new();
        for file in self.files.iter().filter(|f| f.action != Action::Unchanged) {
            let target = self.root.join(&file.path);
            let parent = target.parent().unwrap_or(&self.root);
            fs::create_dir_all(parent)
                .with_context(|| format!("cannot create folder {}", parent.display()))?;
            guard_no_symlink(&self.root, parent)?;
            let mut tmp = tempfile::Builder::new()
                .prefix(".modkit-")
                .tempfile_in(parent)
                .with_context(|| format!("cannot write in {}", parent.display()))?;
            std::io::Write::write_all(&mut tmp, file.contents.as_bytes())
                .with_context(|| format!("cannot write {}", target.display()))?;
            tmp.as_file().sync_all().ok();
            staged.push((tmp, target));
        }
        for (tmp, target) in staged {
            tmp.persist(&target)
                .with_context(|| format!("cannot write {}", target.display()))?;
        }
        Ok(())
    }

    /// The plan as an indented tree, one line a file, marked with what would happen to it.
    pub fn render_tree(&self) -> String {
        let mut out = String::new();
        let mut last_dirs: Vec<&str> = Vec::new();
        for file in &self.files {
            let parts: Vec<&str> = file.path.split('/').collect();
            let (dirs, name) = parts.split_at(parts.len() - 1);
            let common = last_dirs.iter().zip(dirs).take_while(|(a, b)| a == b).count();
            for (depth, dir) in dirs.iter().enumerate().skip(common) {
                out.push_str(&format!("{}{}/\n", "  ".repeat(depth + 1), dir));
            }
            let mark = match file.action {
                Action::Create => "",
                Action::Overwrite => "  (overwrite)",
                Action::Unchanged => "  (unchanged)",
            };
            out.push_str(&format!("{}{}{}\n", "  ".repeat(dirs.len() + 1), name[0], mark));
            last_dirs = dirs.to_vec();
        }
        out
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

/// A symlinked folder inside the target could send a write elsewhere: refuse it.
fn guard_no_symlink(root: &Path, dir: &Path) -> Result<()> {
    let mut current = dir;
    while current != root && current.starts_with(root) {
        if fs::symlink_metadata(current)
            .map(|m| m.file_type().is_symlink())
            .unwrap_or(false)
        {
            return Err(UserError::new(format!(
                "{} is a symbolic link; modkit writes only inside the target folder",
                current.display()
            ))
            .hint("replace the link with a real folder, or choose another --dir")
            .into());
        }
        match current.parent() {
            Some(p) => current = p,
            None => break,
        }
    }
    Ok(())
}
