//! `modkit upgrade`: bring a sandbox to the templates of this modkit without losing an edit.
//!
//! Three versions of each file: the base (the templates of the modkit that rendered the sandbox,
//! rendered again with its answers: see [`release`]), ours (the file on disk) and theirs (what this
//! modkit renders with the same answers). A file nobody edited becomes theirs; a file both changed
//! is merged (package.json and tsconfig.json key by key, see [`json`]; any other file line by line
//! with diffy's 3-way merge, conflicts written with markers). plugin/ is the team's, except
//! plugin/context.ts, the contract the sandbox's runtime fulfils. The rules, for users:
//! docs/upgrade.md.

pub mod json;
pub mod release;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;

use crate::modules::sha256_hex;
use crate::plan::Record;
use crate::templates::RenderedFile;

pub use release::{CURRENT, Origin};

/// The authoring API's contract: template-owned, and a change to it is announced.
pub const API_CONTRACT: &str = "plugin/context.ts";

/// Files merged as data rather than as lines.
const DATA_FILES: [&str; 2] = ["package.json", "tsconfig.json"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    /// Nobody edited it: now as this modkit renders it.
    Updated,
    /// Edited by the user and changed by the template, in different places: both kept.
    Merged,
    /// Edited by the user and changed by the template in the same place: see `detail`.
    Conflict,
    /// New in the templates: added.
    Added,
    /// The user deleted it and the template changed it: it stays deleted.
    Deleted,
    /// This modkit no longer renders it: reported, left in place.
    Obsolete,
    /// A file of the team's (plugin/) that the template changed: never written.
    TeamOwned,
}

impl Change {
    pub fn label(self) -> &'static str {
        match self {
            Change::Updated => "updated",
            Change::Merged => "merged",
            Change::Conflict => "conflict",
            Change::Added => "added",
            Change::Deleted => "deleted",
            Change::Obsolete => "obsolete",
            Change::TeamOwned => "yours",
        }
    }

    /// Whether the file is written by this change.
    pub fn writes(self) -> bool {
        matches!(self, Change::Updated | Change::Merged | Change::Added)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FileChange {
    pub path: String,
    pub change: Change,
    pub detail: String,
    /// For a data file: the keys both changed, where the user's value was kept.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<json::KeyConflict>,
}

/// Everything an upgrade would do, computed without writing anything.
#[derive(Debug)]
pub struct Upgrade {
    pub dir: PathBuf,
    pub origin: Origin,
    pub changes: Vec<FileChange>,
    /// The files to write, with their new content (the record among them when it changes).
    pub writes: Vec<RenderedFile>,
    /// plugin/context.ts as the old and the new templates render it, when they differ.
    pub api_change: Option<(String, String)>,
}

impl Upgrade {
    pub fn plan(dir: &Path, record_name: &str) -> Result<Self> {
        let origin = Origin::read(dir, record_name)?;
        let base = by_path(release::render(&origin.version, &origin.answers)?);
        let theirs_files = release::render(CURRENT, &origin.answers)?;
        let new_record = Record::of(&theirs_files, Some(serde_json::to_value(&origin.answers)?));
        let theirs = by_path(theirs_files);

        let mut paths: Vec<&String> = base.keys().chain(theirs.keys()).collect();
        paths.sort();
        paths.dedup();
        let mut changes = Vec::new();
        let mut writes = Vec::new();
        for path in paths {
            let ours = read_ours(dir, path)?;
            let b = base.get(path).map(String::as_str);
            let t = theirs.get(path).map(String::as_str);
            let recorded = origin.record.files.get(path.as_str()).map(String::as_str);
            let Some(step) = decide(path, b, t, ours.as_deref(), recorded) else {
                continue;
            };
            if step.change.writes()
                || (step.change == Change::Conflict && step.contents.as_deref() != ours.as_deref())
            {
                if let Some(contents) = &step.contents {
                    writes.push(RenderedFile {
                        path: path.clone(),
                        contents: contents.clone(),
                    });
                }
            }
            changes.push(FileChange {
                path: path.clone(),
                change: step.change,
                detail: step.detail,
                keys: step.keys,
            });
        }

        // Rewritten when what it says changes (not for a difference in formatting).
        if !origin.has_record || origin.record != new_record {
            writes.push(RenderedFile {
                path: record_name.to_string(),
                contents: new_record.to_json()?,
            });
        }
        writes.sort_by(|a, b| a.path.cmp(&b.path));

        let api_change = match (base.get(API_CONTRACT), theirs.get(API_CONTRACT)) {
            (Some(b), Some(t)) if b != t => Some((b.clone(), t.clone())),
            _ => None,
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            origin,
            changes,
            writes,
            api_change,
        })
    }

    pub fn count(&self, change: Change) -> usize {
        self.changes.iter().filter(|c| c.change == change).count()
    }

    /// Whether the sandbox is behind this modkit: anything to write, or a conflict to resolve.
    pub fn behind(&self) -> bool {
        !self.writes.is_empty() || self.count(Change::Conflict) > 0
    }
}

struct Step {
    change: Change,
    detail: String,
    contents: Option<String>,
    keys: Vec<json::KeyConflict>,
}

impl Step {
    fn new(change: Change, detail: impl Into<String>, contents: Option<String>) -> Option<Self> {
        Some(Self {
            change,
            detail: detail.into(),
            contents,
            keys: Vec::new(),
        })
    }
}

/// plugin/ is the module's own code and migrations, except its contract with the host.
pub fn is_team_owned(path: &str) -> bool {
    path.starts_with("plugin/") && path != API_CONTRACT
}

/// What happens to one file, from its base, theirs and ours (`None`: absent), and the sha-256
/// init recorded for it. `None` when nothing happens worth saying.
fn decide(
    path: &str,
    base: Option<&str>,
    theirs: Option<&str>,
    ours: Option<&str>,
    recorded: Option<&str>,
) -> Option<Step> {
    let Some(theirs) = theirs else {
        // Only in the old templates.
        return match ours {
            Some(_) => Step::new(
                Change::Obsolete,
                "this modkit no longer renders it; left in place (delete it when nothing uses it)",
                None,
            ),
            None => None,
        };
    };
    if is_team_owned(path) {
        return match (base, ours) {
            (Some(b), _) if b != theirs => Step::new(
                Change::TeamOwned,
                "the template's version changed; plugin/ is yours, so this file is not touched (compare with a fresh `modkit init`)",
                None,
            ),
            (None, None) => Step::new(
                Change::TeamOwned,
                "new in the templates; plugin/ is yours, so it is not added (copy it from a fresh `modkit init` if you want it)",
                None,
            ),
            _ => None,
        };
    }
    let Some(ours) = ours else {
        return match base {
            None => Step::new(Change::Added, "new in the templates", Some(theirs.to_string())),
            Some(b) if b != theirs => Step::new(
                Change::Deleted,
                "you deleted it and the template changed it; it stays deleted",
                None,
            ),
            Some(_) => None,
        };
    };
    if ours == theirs {
        return None;
    }
    let untouched = base == Some(ours) || recorded == Some(sha256_hex(ours.as_bytes()).as_str());
    if untouched {
        let detail = if path == API_CONTRACT {
            "the module authoring API changed: check plugin/ against it"
        } else {
            ""
        };
        return Step::new(Change::Updated, detail, Some(theirs.to_string()));
    }
    if base == Some(theirs) {
        // The template did not change it: the user's edit stays. Markers left by an earlier
        // conflicting upgrade are still a conflict until resolved.
        return has_conflict_markers(ours).then(|| Step {
            change: Change::Conflict,
            detail: "still has conflict markers from an earlier upgrade: resolve them".into(),
            contents: None,
            keys: Vec::new(),
        });
    }
    // Both changed it (a file that was not in the old templates has an empty base).
    let base = base.unwrap_or("");
    if DATA_FILES.contains(&path)
        && let Some((merged, keys)) = json::merge(base, ours, theirs)
    {
        if keys.is_empty() {
            return Step::new(
                Change::Merged,
                "your keys and the template's changes",
                Some(merged),
            );
        }
        let list: Vec<&str> = keys.iter().map(|k| k.key.as_str()).collect();
        return Some(Step {
            change: Change::Conflict,
            detail: format!(
                "you and the template changed {}: your value{} kept, the template's other changes applied",
                list.join(", "),
                if keys.len() == 1 { " is" } else { "s are" }
            ),
            contents: Some(merged),
            keys,
        });
    }
    // diffy's line diff is O(N·D): 80,000 edited lines took 4.4 s, and it is unbounded. A template
    // file is a few hundred lines; one this large is the team's own, and is left as it is.
    let lines = [base, ours, theirs]
        .iter()
        .map(|t| t.lines().count())
        .max()
        .unwrap_or(0);
    if lines > MAX_MERGE_LINES {
        return Step::new(
            Change::Conflict,
            format!(
                "too large to merge line by line ({lines} lines, the limit is {MAX_MERGE_LINES}): your file is kept as it is; \
                 bring the template's changes in by hand"
            ),
            Some(ours.to_string()),
        );
    }
    match diffy::merge(base, ours, theirs) {
        Ok(merged) => Step::new(
            Change::Merged,
            "your edits and the template's changes",
            Some(merged),
        ),
        Err(marked) => Step::new(
            Change::Conflict,
            "you and the template changed the same lines: written with conflict markers (<<<<<<< ours = yours, ||||||| original = the old template, >>>>>>> theirs = the new one)",
            Some(marked),
        ),
    }
}

/// The most lines a file may have for a three-way line merge (a bound on its quadratic worst case).
const MAX_MERGE_LINES: usize = 20_000;

fn has_conflict_markers(text: &str) -> bool {
    let mut open = false;
    for line in text.lines() {
        if line.starts_with("<<<<<<< ") {
            open = true;
        } else if open && line.starts_with(">>>>>>> ") {
            return true;
        }
    }
    false
}

fn by_path(files: Vec<RenderedFile>) -> BTreeMap<String, String> {
    files.into_iter().map(|f| (f.path, f.contents)).collect()
}

/// The text of `dir/path`, `None` when it does not exist. A link, a folder or a FIFO there is an
/// error naming it; a file that is not UTF-8 is one too (it cannot be merged as text).
fn read_ours(dir: &Path, path: &str) -> Result<Option<String>> {
    // A linked folder on the way would make a file outside the sandbox "ours" (and print it).
    crate::plan::guard_no_symlink(dir, path)?;
    let full = dir.join(path);
    match std::fs::symlink_metadata(&full) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", full.display())),
        Ok(_) => {}
    }
    let bytes = crate::modules::read_file_bytes(&full)?;
    String::from_utf8(bytes).map(Some).map_err(|_| {
        crate::exit::UserError::new(format!(
            "{} is not UTF-8 text; modkit cannot merge it",
            full.display()
        ))
        .hint("restore it from version control (or delete it to take the template's version), then run again")
        .into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_merge_keeps_both_sides() {
        let step = decide(
            "vite.config.ts",
            Some("a\nb\nc\n"),
            Some("a\nb\nC\n"),
            Some("A\nb\nc\n"),
            None,
        )
        .unwrap();
        assert_eq!(step.change, Change::Merged);
        assert_eq!(step.contents.as_deref(), Some("A\nb\nC\n"));
    }

    fn edit(text: &str, edits: &[(&str, &str)]) -> String {
        edits.iter().fold(text.to_string(), |text, (from, to)| {
            assert!(text.contains(from), "no `{from}`");
            text.replacen(from, to, 1)
        })
    }

    /// A template bump (a version, a new dependency, a new script) over a team's package.json and
    /// tsconfig.json (its own dependency, script, option and comment), on the 0.1.0 fixture's files.
    #[test]
    fn a_template_bump_merges_into_a_teams_package_json_and_tsconfig() {
        for (path, base, template, team, expected) in [
            (
                "package.json",
                include_str!("../../tests/fixtures/sandbox-0.1.0/package.json"),
                &[
                    ("\"vite\": \"^8.4.0\"", "\"vite\": \"^8.5.0\""),
                    ("    \"pg\":", "    \"helmet\": \"^8.1.0\",\n    \"pg\":"),
                ][..],
                &[(
                    "  \"dependencies\": {\n",
                    "  \"dependencies\": {\n    \"zod\": \"^3.25.0\",\n",
                )][..],
                &[
                    "\"vite\": \"^8.5.0\"",
                    "\"zod\": \"^3.25.0\",\n    \"express\": \"^5.3.0\",\n    \"helmet\": \"^8.1.0\",\n    \"pg\"",
                ][..],
            ),
            (
                "tsconfig.json",
                include_str!("../../tests/fixtures/sandbox-0.1.0/tsconfig.json"),
                &[("\"ES2023\",", "\"ES2024\",")][..],
                &[(
                    "    \"strict\": true,\n",
                    "    // ours\n    \"noFallthroughCasesInSwitch\": true,\n    \"strict\": true,\n",
                )][..],
                &[
                    "\"target\": \"ES2024\"",
                    "    // ours\n    \"noFallthroughCasesInSwitch\": true,\n",
                ][..],
            ),
        ] {
            let theirs = edit(base, template);
            let ours = edit(base, team);
            let step = decide(path, Some(base), Some(&theirs), Some(&ours), None).unwrap();
            assert_eq!(step.change, Change::Merged, "{path}");
            let merged = step.contents.unwrap();
            for want in expected {
                assert!(merged.contains(want), "{path}: no `{want}` in\n{merged}");
            }
        }
    }

    #[test]
    fn deleted_stays_deleted_new_is_added_and_obsolete_is_only_reported() {
        let deleted = decide("README.md", Some("a\n"), Some("b\n"), None, None).unwrap();
        assert_eq!((deleted.change, deleted.contents), (Change::Deleted, None));
        assert!(decide("README.md", Some("a\n"), Some("a\n"), None, None).is_none());
        let added = decide("new.ts", None, Some("b\n"), None, None).unwrap();
        assert_eq!(
            (added.change, added.contents.as_deref()),
            (Change::Added, Some("b\n"))
        );
        let clash = decide("new.ts", None, Some("b\n"), Some("mine\n"), None).unwrap();
        assert_eq!(clash.change, Change::Conflict);
        assert!(clash.contents.unwrap().contains("mine\n"));
        let obsolete = decide("old.ts", Some("a\n"), None, Some("a\n"), None).unwrap();
        assert_eq!((obsolete.change, obsolete.contents), (Change::Obsolete, None));
    }

    #[test]
    fn the_recorded_hash_says_untouched_when_the_base_cannot() {
        let ours = "as written\n";
        let hash = sha256_hex(ours.as_bytes());
        let step = decide(
            "a.ts",
            Some("other base\n"),
            Some("new\n"),
            Some(ours),
            Some(&hash),
        )
        .unwrap();
        assert_eq!(
            (step.change, step.contents.as_deref()),
            (Change::Updated, Some("new\n"))
        );
    }

    #[test]
    fn a_huge_edited_file_is_not_merged_line_by_line() {
        // 80,000 edited lines took 4.4 s in the merge; now refused at once, the user's file kept.
        let base: String = (0..80_000).map(|i| format!("line {i}\n")).collect();
        let ours: String = (0..80_000).map(|i| format!("ours {i}\n")).collect();
        let theirs = format!("{base}one more\n");
        let started = std::time::Instant::now();
        let step = decide("src/big.ts", Some(&base), Some(&theirs), Some(&ours), None).expect("a step");
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        assert_eq!(step.change, Change::Conflict);
        assert!(
            step.detail
                .contains("too large to merge line by line (80001 lines"),
            "{}",
            step.detail
        );
        assert_eq!(step.contents.as_deref(), Some(ours.as_str()));
    }

    #[test]
    fn markers_left_behind_stay_a_conflict() {
        let ours = "<<<<<<< ours\nx\n=======\ny\n>>>>>>> theirs\n";
        let step = decide("a.ts", Some("x\n"), Some("x\n"), Some(ours), None).unwrap();
        assert_eq!(step.change, Change::Conflict);
        assert!(step.contents.is_none());
    }

    #[test]
    fn the_teams_plugin_is_never_written() {
        let step = decide("plugin/index.ts", Some("a\n"), Some("b\n"), Some("a\n"), None).unwrap();
        assert_eq!(step.change, Change::TeamOwned);
        assert!(step.contents.is_none());
        assert!(
            decide(API_CONTRACT, Some("a\n"), Some("b\n"), Some("a\n"), None)
                .unwrap()
                .change
                == Change::Updated
        );
    }
}
