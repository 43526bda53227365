//! Each file doctor reads is read once and, when it is TypeScript, parsed once; every check reads
//! what it needs from the same [`Facts`] (as ruff shares one syntax tree between its rules). Before,
//! each check read and parsed the files it looked at itself: a module's `index.ts` was parsed five
//! times. The checks run side by side, so a file is read and parsed by whichever asks first and
//! the others wait for it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::OsString;
use std::fs::FileType;
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
    /// Each folder's entries, listed once (by the walk, or by the first check that asks): whether
    /// a file is there is then answered without asking the system again.
    listings: Mutex<HashMap<PathBuf, Option<Arc<Listing>>>>,
    /// What a text holds, by text: files with the same bytes (every adapted module's
    /// `plugin/context.ts`) are parsed once.
    parsed: Mutex<HashMap<Text, Result<Arc<Facts>, ParseFailure>>>,
}

/// A folder's entries, sorted by name, with their kind (a link not followed; None when the
/// system could not say).
type Listing = Vec<(OsString, Option<FileType>)>;

/// A text as a key: hashed by its length and ends (cheap for long files), compared whole.
#[derive(Clone, PartialEq, Eq)]
struct Text(Arc<str>);

impl std::hash::Hash for Text {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let bytes = self.0.as_bytes();
        let n = bytes.len();
        n.hash(state);
        bytes[..n.min(64)].hash(state);
        bytes[n.saturating_sub(64)..].hash(state);
    }
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
        lock(&self.slots).entry(path.to_path_buf()).or_default().clone()
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
                Some(self.facts_of_text(text, label))
            })
            .clone()
    }

    /// The facts of a text, shared with every file of the same bytes. Only a `permissions` error
    /// names its file: a text with one is read again for each file.
    fn facts_of_text(&self, text: Arc<str>, label: &str) -> Result<Arc<Facts>, ParseFailure> {
        let key = Text(text);
        let known = lock(&self.parsed).get(&key).cloned();
        if let Some(known) = known
            && known.as_ref().map_or(true, |f| f.permissions.is_ok())
        {
            return known;
        }
        let facts = facts_of(&key.0, label).map(Arc::new);
        lock(&self.parsed).insert(key, facts.clone());
        facts
    }

    /// The entries of a folder, listed once; None when it cannot be listed.
    fn listing(&self, dir: &Path) -> Option<Arc<Listing>> {
        if let Some(known) = lock(&self.listings).get(dir) {
            return known.clone();
        }
        let listing = std::fs::read_dir(dir).ok().map(|entries| {
            let mut listing: Listing = entries
                .flatten()
                .map(|e| (e.file_name(), e.file_type().ok()))
                .collect();
            listing.sort_by(|a, b| a.0.cmp(&b.0));
            Arc::new(listing)
        });
        lock(&self.listings).insert(dir.to_path_buf(), listing.clone());
        listing
    }

    /// The names in a folder (as `std::fs::read_dir` lists them) and their kinds, from its one
    /// listing; None when it cannot be listed.
    pub fn entries(&self, dir: &Path) -> Option<Vec<(PathBuf, Option<FileType>)>> {
        let listing = self.listing(dir)?;
        Some(
            listing
                .iter()
                .map(|(name, kind)| (dir.join(name), *kind))
                .collect(),
        )
    }

    /// [`Path::is_file`], from the folder's listing: a regular file is there. A link (followed
    /// by the system), an entry of unknown kind or a folder that cannot be listed is asked again.
    pub fn is_file(&self, path: &Path) -> bool {
        let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
            return path.is_file();
        };
        let Some(listing) = self.listing(dir) else {
            return path.is_file();
        };
        match listing.binary_search_by(|(n, _)| n.as_os_str().cmp(name)) {
            Err(_) => false,
            Ok(i) => match listing[i].1 {
                Some(kind) if kind.is_file() => true,
                Some(kind) if !kind.is_symlink() => false,
                _ => path.is_file(),
            },
        }
    }

    /// [`ts::source_files`] of `dir` (skipping the folders in `skip`), from one walk of `root`.
    pub fn ts_files(&self, root: &Path, dir: &Path, skip: &[PathBuf]) -> Vec<PathBuf> {
        let tree = {
            let mut tree = lock(&self.tree);
            tree.get_or_insert_with(|| Arc::new(self.walk(root))).clone()
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

    /// [`ts::source_files_and_folders`] of `root`, from the folders' listings (kept for the checks
    /// that look in the same folders).
    fn walk(&self, root: &Path) -> Tree {
        let mut files = Vec::new();
        let mut folders = HashSet::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            let Some(listing) = self.listing(&dir) else {
                continue;
            };
            for (name, kind) in listing.iter() {
                let Some(kind) = kind else { continue };
                if kind.is_dir() {
                    if !ts::ignored_folder(&name.to_string_lossy()) {
                        stack.push(dir.join(name));
                    }
                } else if kind.is_file() && ts::is_source_file(&name.to_string_lossy()) {
                    files.push(dir.join(name));
                }
            }
            folders.insert(dir);
        }
        files.sort();
        Tree { files, folders }
    }

    /// Forget every file: after `--fix` wrote some.
    pub fn forget(&self) {
        lock(&self.slots).clear();
        *lock(&self.tree) = None;
        lock(&self.listings).clear();
        lock(&self.parsed).clear();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn read(path: &Path) -> Result<Arc<str>, ReadFailure> {
    if let Some(text) = read_regular_text(path) {
        return Ok(text);
    }
    // Not a regular UTF-8 file (or it could not be read): read again as every command reads
    // module code, for its words.
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

/// What [`crate::modules::read_text`] reads from a regular UTF-8 file, in fewer calls to the
/// system: the same `open` (no link followed, no FIFO waited on), one `fstat`, the reads. None for
/// anything else, which `read_text` then names.
fn read_regular_text(path: &Path) -> Option<Arc<str>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;

    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .ok()?;
    let meta = file.metadata().ok()?;
    if !meta.file_type().is_file() {
        return None;
    }
    // One byte more than the size, so that a file read whole ends with a read of nothing.
    let mut bytes = vec![0; usize::try_from(meta.len()).ok()?.saturating_add(1)];
    let mut filled = 0;
    loop {
        if filled == bytes.len() {
            bytes.resize(bytes.len() * 2, 0);
        }
        match file.read(&mut bytes[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    bytes.truncate(filled);
    String::from_utf8(bytes).ok().map(Arc::from)
}

thread_local! {
    /// Each thread's arena for the syntax trees, emptied for each file rather than made anew.
    static ARENA: std::cell::RefCell<Allocator> = std::cell::RefCell::new(Allocator::default());
}

fn facts_of(source: &str, label: &str) -> Result<Facts, ParseFailure> {
    ARENA.with_borrow_mut(|allocator| {
        allocator.reset();
        facts_in(allocator, source, label)
    })
}

fn facts_in(allocator: &Allocator, source: &str, label: &str) -> Result<Facts, ParseFailure> {
    let options = oxc_parser::ParseOptions {
        enable_ident_hashes: false,
        ..Default::default()
    };
    let program = ts::parse_program_with(allocator, source, options)?;
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
