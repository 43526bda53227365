//! The foundation's own formatter over what adapt wrote, as Nx generators do with `formatFiles`:
//! Biome or Prettier from the foundation's `node_modules/.bin`, on the TypeScript files adapt just
//! wrote; then the record gets their hashes after formatting, so the next run sees them as
//! modkit's. A formatter that fails is a warning: the files are still valid as adapt wrote them.

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
    record_after_formatting(a, root)?;
    Ok(Ok(Some(name.to_string())))
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
            *hash = crate::modules::sha256_hex(&bytes);
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
