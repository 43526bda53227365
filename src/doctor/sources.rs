//! Each file doctor reads is read once and, when it is TypeScript, parsed once; every check reads
//! what it needs from the same [`Facts`] (as ruff shares one syntax tree between its rules). Before,
//! each check read and parsed the files it looked at itself: a module's `index.ts` was parsed five
//! times. The checks run side by side, so a file is read and parsed by whichever asks first and
//! the others wait for it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use oxc_allocator::Allocator;

use super::scan;
use crate::exit::UserError;
use crate::ts::{self, ParseFailure};

/// What every check reads from one TypeScript file, from one parse.
#[derive(Debug)]
pub struct Facts {
    pub imports: Vec<ts::StaticImport>,
    pub loads: Vec<scan::Load>,
    pub routes: Vec<scan::Route>,
    /// `export const permissions = [...]`: an error (its message and hint) when it is there but
    /// not an array of string literals.
    pub permissions: Result<Option<Vec<String>>, (String, Option<String>)>,
    /// The plugin object's `meta: { ... }` strings.
    pub meta: Option<BTreeMap<String, String>>,
    /// `permissions: [...]` in the default export's object (a module.config.ts).
    pub default_permissions: Option<Vec<String>>,
    /// The lines of `cors({ origin: true, credentials: true })`.
    pub cors_any_origin: Vec<usize>,
}

/// Why a file could not be read: what `read_text` said.
#[derive(Debug, Clone)]
pub struct ReadFailure {
    pub message: String,
    pub hint: Option<String>,
}

#[derive(Default)]
struct Slot {
    text: OnceLock<Result<Arc<str>, ReadFailure>>,
    facts: OnceLock<Option<Result<Arc<Facts>, ParseFailure>>>,
}

/// The files read so far, by path.
#[derive(Default)]
pub struct Sources {
    slots: Mutex<HashMap<PathBuf, Arc<Slot>>>,
    /// The project's TypeScript files (sorted) and the folders looked in, from one walk: the
    /// checks list the same folders many times (a module's plugin folder four times).
    tree: Mutex<Option<Arc<Tree>>>,
}

struct Tree {
    files: Vec<PathBuf>,
    folders: HashSet<PathBuf>,
}

impl std::fmt::Debug for Sources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.slots.lock().map(|s| s.len()).unwrap_or_default();
        write!(f, "Sources({n} files)")
    }
}

impl Sources {
    fn slot(&self, path: &Path) -> Arc<Slot> {
        let mut slots = self.slots.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        slots.entry(path.to_path_buf()).or_default().clone()
    }

    /// The file's text (read once).
    pub fn text(&self, path: &Path) -> Result<Arc<str>, ReadFailure> {
        self.slot(path).text.get_or_init(|| read(path)).clone()
    }

    /// What the file holds, from its one parse; None when it cannot be read. `label` names the
    /// file in `permissions` errors (the project-relative path).
    pub fn facts(&self, path: &Path, label: &str) -> Option<Result<Arc<Facts>, ParseFailure>> {
        let slot = self.slot(path);
        slot.facts
            .get_or_init(|| {
                let text = slot.text.get_or_init(|| read(path)).clone().ok()?;
                Some(facts_of(&text, label).map(Arc::new))
            })
            .clone()
    }

    /// [`ts::source_files`] of `dir` (skipping the folders in `skip`), from one walk of `root`.
    pub fn ts_files(&self, root: &Path, dir: &Path, skip: &[PathBuf]) -> Vec<PathBuf> {
        let tree = {
            let mut tree = self.tree.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            tree.get_or_insert_with(|| {
                let (files, folders) = ts::source_files_and_folders(root, &[]);
                Arc::new(Tree {
                    files,
                    folders: folders.into_iter().collect(),
                })
            })
            .clone()
        };
        let (files, folders) = (&tree.files, &tree.folders);
        // A folder the walk did not enter (outside the root, under `node_modules` or a link):
        // walked on its own, as before.
        if !folders.contains(dir) {
            return ts::source_files(dir, skip);
        }
        // Sorted by component, so a folder's files are one run.
        let start = files.partition_point(|f| f.as_path() < dir);
        files[start..]
            .iter()
            .take_while(|f| f.starts_with(dir))
            .filter(|f| !skip.iter().any(|s| s != dir && f.starts_with(s)))
            .cloned()
            .collect()
    }

    /// Forget every file: after `--fix` wrote some.
    pub fn forget(&self) {
        self.slots
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clear();
        *self.tree.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
    }
}

fn read(path: &Path) -> Result<Arc<str>, ReadFailure> {
    crate::modules::read_text(path)
        .map(Arc::from)
        .map_err(|e| match e.downcast_ref::<UserError>() {
            Some(user) => ReadFailure {
                message: user.message.clone(),
                hint: user.hint.clone(),
            },
            None => ReadFailure {
                message: format!("{e:#}"),
                hint: None,
            },
        })
}

fn facts_of(source: &str, label: &str) -> Result<Facts, ParseFailure> {
    let allocator = Allocator::default();
    let program = ts::parse_program(&allocator, source)?;
    Ok(Facts {
        imports: ts::static_imports_in(&program, source),
        loads: scan::loads_in(&program, source),
        routes: scan::routes_in(&program, source),
        permissions: ts::exported_string_array_in(&program, label, "permissions").map_err(|e| match e
            .downcast_ref::<UserError>()
        {
            Some(user) => (user.message.clone(), user.hint.clone()),
            None => (format!("{e:#}"), None),
        }),
        meta: ts::object_strings_in(&program, "meta"),
        default_permissions: ts::default_export_string_array_in(&program, "permissions"),
        cors_any_origin: ts::cors_reflecting_any_origin_in(&program, source),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_parsed_once_for_every_check_and_again_after_forget() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("index.ts");
        std::fs::write(
            &file,
            "export const permissions = ['a.read'];\nimport x from 'pg';\n",
        )
        .unwrap();
        let sources = Sources::default();
        let first = sources.facts(&file, "index.ts").unwrap().unwrap();
        let again = sources.facts(&file, "index.ts").unwrap().unwrap();
        assert!(Arc::ptr_eq(&first, &again), "parsed twice");
        assert_eq!(
            first.permissions.as_ref().unwrap().as_deref(),
            Some(&["a.read".to_string()][..])
        );
        assert_eq!(first.imports.len(), 1);
        // What --fix rewrites is read as rewritten.
        std::fs::write(&file, "export const permissions = ['a.write'];\n").unwrap();
        assert!(Arc::ptr_eq(
            &first,
            &sources.facts(&file, "index.ts").unwrap().unwrap()
        ));
        sources.forget();
        let fixed = sources.facts(&file, "index.ts").unwrap().unwrap();
        assert_eq!(
            fixed.permissions.as_ref().unwrap().as_deref(),
            Some(&["a.write".to_string()][..])
        );
        // A file that does not parse, named by each reader.
        std::fs::write(&file, "export const = [;").unwrap();
        sources.forget();
        let failure = sources.facts(&file, "index.ts").unwrap().unwrap_err();
        assert!(
            failure
                .error("src/x/index.ts")
                .message
                .starts_with("src/x/index.ts:1 does not parse")
        );
    }

    #[test]
    fn the_files_of_a_folder_are_those_a_walk_of_it_finds() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for file in [
            "src/a.ts",
            "src/modules/m/plugin/index.ts",
            "src/modules/m/plugin/x.d.ts",
            "src/modules/mm/plugin/index.ts",
            "src/dist/built.ts",
            "node_modules/p/i.ts",
            "outside/o.ts",
        ] {
            std::fs::create_dir_all(root.join(file).parent().unwrap()).unwrap();
            std::fs::write(root.join(file), "").unwrap();
        }
        // A linked folder: the walk of the root does not enter it, a walk of the link does.
        std::os::unix::fs::symlink(root.join("outside"), root.join("src/linked")).unwrap();
        let sources = Sources::default();
        let skip = [root.join("src/modules")];
        for (dir, skip) in [
            ("src", &[][..]),
            ("src", &skip[..]),
            ("src/modules/m", &[][..]),
            ("src/modules/m/plugin", &[][..]),
            ("src/linked", &[][..]),
            ("node_modules/p", &[][..]),
            ("", &[][..]),
        ] {
            let dir = root.join(dir);
            assert_eq!(
                sources.ts_files(root, &dir, skip),
                ts::source_files(&dir, skip),
                "{}",
                dir.display()
            );
        }
    }
}
