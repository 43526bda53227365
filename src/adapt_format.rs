//! The foundation's own formatter over what adapt wrote, as Nx generators do with `formatFiles`:
//! Biome or Prettier from the foundation's `node_modules/.bin`, on the TypeScript files adapt just
//! wrote; then the record gets their hashes after formatting, so the next run sees them as
//! modkit's, and is formatted too. A formatter that fails is a warning: the files are still valid as adapt wrote them.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::Result;

use crate::adapt::{Adaptation, MANIFEST};
use crate::plan::{Action, FilePlan, Record};
use crate::templates::RenderedFile;

/// Run the formatter over the files written; `Ok(Some(what ran))` when one did, or a warning.
pub fn format_written(a: &Adaptation) -> Result<Result<Option<String>, String>> {
    let root = &a.foundation.root;
    let written: Vec<&str> = a
        .plan
        .files
        .iter()
        .filter(|f| f.action != Action::Unchanged && crate::ts_same::applies_to(&f.path))
        .map(|f| f.path.as_str())
        .collect();
    if written.is_empty() {
        return Ok(Ok(None));
    }
    let bin = root.join("node_modules/.bin");
    let (name, args): (&str, &[&str]) = if bin.join("biome").is_file() {
        ("biome", &["format", "--write"])
    } else if bin.join("prettier").is_file() {
        ("prettier", &["--write", "--log-level", "warn"])
    } else {
        return Ok(Ok(None));
    };
    // Until the files stop changing: Prettier is not idempotent on every input (a long member chain
    // is split on the first run and joined on the second), and a hash recorded after one run would
    // make the app's next `prettier --write` look like a change of modkit's files (found on a real
    // Prettier app, issue 16). Two runs settle what Prettier and Biome do; the third is a bound.
    for _ in 0..3 {
        let before = contents(root, &written);
        let out = Command::new(bin.join(name))
            .args(args)
            .args(&written)
            .current_dir(root)
            .stdin(Stdio::null())
            .output();
        match out {
            Ok(o) if o.status.success() => {}
            Ok(o) => {
                return Ok(Err(format!(
                    "the foundation's {name} could not format the files adapt wrote (they are kept as written): {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                )));
            }
            Err(e) => return Ok(Err(format!("cannot run the foundation's {name}: {e}"))),
        }
        if contents(root, &written) == before {
            break;
        }
    }
    record_after_formatting(a, root)?;
    // The record too, so that the formatter's own check (`biome ci`, `prettier --check`) passes
    // right after adapt. Best effort: a formatter that ignores the file leaves it as written, and
    // adapt compares records by their data, not their bytes.
    let _ = Command::new(bin.join(name))
        .args(args)
        .arg(format!("{}/{MANIFEST}", a.module_dir))
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    Ok(Ok(Some(name.to_string())))
}

/// The bytes of `files` (relative to `root`) as they are now; an unreadable one as empty.
fn contents(root: &Path, files: &[&str]) -> Vec<Vec<u8>> {
    files
        .iter()
        .map(|f| std::fs::read(root.join(f)).unwrap_or_default())
        .collect()
}

/// The manifest with the hashes of the files as they are now.
fn record_after_formatting(a: &Adaptation, root: &Path) -> Result<()> {
    let manifest_path = format!("{}/{MANIFEST}", a.module_dir);
    let mut record = Record::read(&root.join(&manifest_path), "modkit adapt")?;
    let prefix = format!("{}/", a.module_dir);
    for file in &a.plan.files {
        let rel = file.path.strip_prefix(&prefix).unwrap_or(&file.path);
        if let Some(hash) = record.files.get_mut(rel) {
            let bytes = crate::modules::read_file_bytes(&root.join(&file.path))?;
            let formatted = crate::modules::sha256_hex(&bytes);
            // What was rendered, when the formatter changed it: the next run's same rendering
            // over this same file is then nothing to do (see adapt::accept_reformatted).
            if *hash != formatted && file.action != Action::Unchanged {
                record
                    .rendered
                    .insert(rel.to_string(), std::mem::replace(hash, formatted));
            } else {
                *hash = formatted;
            }
        }
    }
    let plan = FilePlan::new(
        root,
        vec![RenderedFile {
            path: manifest_path,
            contents: record.to_json()?,
        }],
    )?;
    plan.apply()
}
