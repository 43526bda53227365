//! Each file doctor reads is read once and, when it is TypeScript, parsed once; every check reads
//! what it needs from the same [`Facts`] (as ruff shares one syntax tree between its rules). Before,
//! each check read and parsed the files it looked at itself: a module's `index.ts` was parsed five
//! times. The checks run side by side, so a file is read and parsed by whichever asks first and
//! the others wait for it.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::FileType;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use oxc_allocator::Allocator;
use rustc_hash::FxHashMap;

use super::scan;
use crate::exit::UserError;
use crate::ts::{self, ParseFailure};

/// What every check reads from one TypeScript file, from one parse.
#[derive(Debug)]
pub struct Facts {
    pub imports: Vec<ts::StaticImport>,
    pub loads: Vec<scan::Load>,
    /// The routes it registers; None when they were not looked for: only a module's plugin
    /// files are (the routes check reads no other file), see [`Sources::facts`].
    pub routes: Option<Vec<scan::Route>>,
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
    /// There is no such file.
    pub missing: bool,
}

#[derive(Default)]
struct Slot {
    text: OnceLock<Result<Arc<String>, ReadFailure>>,
    facts: OnceLock<Option<Result<Arc<Facts>, ParseFailure>>>,
}

/// The files read so far, by path. The maps are keyed by a path's bytes with a fast hash: hashing
/// a `Path` (component by component) with SipHash was 3 % of a run. Paths are made the same way
/// by every check (the root joined with names), so the same file has the same bytes; one spelt
/// otherwise (`a//b`) is only a cache miss, read or listed again.
#[derive(Default)]
pub struct Sources {
    slots: Mutex<FxHashMap<OsString, Arc<Slot>>>,
    /// The project's TypeScript files (sorted) and the folders looked in, from one walk: the
    /// checks list the same folders many times (a module's plugin folder four times).
    tree: Mutex<Option<Arc<Tree>>>,
    /// Each folder's entries, listed once (by the walk, or by the first check that asks): whether
    /// a file is there is then answered without asking the system again.
    listings: Mutex<FxHashMap<OsString, Option<Arc<Listing>>>>,
    /// What a text holds, by text: files with the same bytes (every adapted module's
    /// `plugin/context.ts`) are parsed once.
    parsed: Mutex<FxHashMap<Text, Result<Arc<Facts>, ParseFailure>>>,
}

/// A folder's entries, sorted by name, with their kind (a link not followed; None when the
/// system could not say).
type Listing = Vec<(OsString, Option<FileType>)>;

/// A text as a key: hashed by its length and ends (cheap for long files), compared whole.
#[derive(Clone, PartialEq, Eq)]
struct Text(Arc<String>);

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
    /// Each folder the walk entered, with the run of `files` under it (sorted by component,
    /// a folder's files are one run; None: it has none).
    folders: FxHashMap<OsString, Option<(usize, usize)>>,
}

/// What its folder's listing says of a path.
enum Listed {
    /// The folder holds no such name.
    Absent,
    /// It holds it, of this kind (a link not followed; None when the system could not say).
    Present(Option<FileType>),
    /// The folder cannot be listed (or the path has no folder): ask the system.
    Unknown,
}

impl std::fmt::Debug for Sources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.slots.lock().map(|s| s.len()).unwrap_or_default();
        write!(f, "Sources({n} files)")
    }
}

impl Sources {
    fn slot(&self, path: &Path) -> Arc<Slot> {
        let mut slots = lock(&self.slots);
        if let Some(slot) = slots.get(path.as_os_str()) {
            return slot.clone();
        }
        slots.entry(path.as_os_str().to_owned()).or_default().clone()
    }

    /// The file's text (read once).
    pub fn text(&self, path: &Path) -> Result<Arc<String>, ReadFailure> {
        self.slot(path).text.get_or_init(|| read(path)).clone()
    }

    /// What the file holds, from its one parse; None when it cannot be read. `label` names the
    /// file in `permissions` errors (the project-relative path). `routes` says, when the file is
    /// first parsed, whether its routes are looked for (a walk of its whole syntax tree): it must
    /// depend on the path only, so that every check gets the same answer whichever asks first.
    pub fn facts(
        &self,
        path: &Path,
        label: &str,
        routes: impl FnOnce() -> bool,
    ) -> Option<Result<Arc<Facts>, ParseFailure>> {
        let slot = self.slot(path);
        slot.facts
            .get_or_init(|| {
                let text = slot.text.get_or_init(|| read(path)).clone().ok()?;
                Some(self.facts_of_text(text, label, routes()))
            })
            .clone()
    }

    /// The facts of a text, shared with every file of the same bytes. Only a `permissions` error
    /// names its file: a text with one is read again for each file, as is one whose routes are
    /// wanted but were not looked for.
    fn facts_of_text(
        &self,
        text: Arc<String>,
        label: &str,
        routes: bool,
    ) -> Result<Arc<Facts>, ParseFailure> {
        let key = Text(text);
        let known = lock(&self.parsed).get(&key).cloned();
        if let Some(known) = known
            && known
                .as_ref()
                .map_or(true, |f| f.permissions.is_ok() && (f.routes.is_some() || !routes))
        {
            return known;
        }
        let facts = facts_of(&key.0, label, routes).map(Arc::new);
        lock(&self.parsed).insert(key, facts.clone());
        facts
    }

    /// The entries of a folder, listed once; None when it cannot be listed.
    fn listing(&self, dir: &Path) -> Option<Arc<Listing>> {
        if let Some(known) = lock(&self.listings).get(dir.as_os_str()) {
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
        lock(&self.listings).insert(dir.as_os_str().to_owned(), listing.clone());
        listing
    }

    /// What the listing of `path`'s folder says of it (the folder is listed if it was not yet).
    fn listed(&self, path: &Path) -> Listed {
        let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
            return Listed::Unknown;
        };
        let Some(listing) = self.listing(dir) else {
            return Listed::Unknown;
        };
        match listing.binary_search_by(|(n, _)| n.as_os_str().cmp(name)) {
            Err(_) => Listed::Absent,
            Ok(i) => Listed::Present(listing[i].1),
        }
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
        self.is_kind(path, FileType::is_file, Path::is_file)
    }

    /// [`Path::is_dir`] (a link followed), from the folder's listing as [`Sources::is_file`].
    pub fn is_dir(&self, path: &Path) -> bool {
        self.is_kind(path, FileType::is_dir, Path::is_dir)
    }

    /// Whether `path` is of the kind `listed_as` tells from the listing; `ask` (which follows a
    /// link) answers for a link, an entry of unknown kind or a folder that cannot be listed.
    fn is_kind(&self, path: &Path, listed_as: fn(&FileType) -> bool, ask: fn(&Path) -> bool) -> bool {
        match self.listed(path) {
            Listed::Absent => false,
            Listed::Present(Some(kind)) if listed_as(&kind) => true,
            Listed::Present(Some(kind)) if !kind.is_symlink() => false,
            _ => ask(path),
        }
    }

    /// Whether something is there, a link not followed (`std::fs::symlink_metadata` succeeds),
    /// from the folder's listing.
    pub fn exists_unfollowed(&self, path: &Path) -> bool {
        match self.listed(path) {
            Listed::Absent => false,
            Listed::Present(_) => true,
            Listed::Unknown => std::fs::symlink_metadata(path).is_ok(),
        }
    }

    /// Whether the path is a symbolic link (not followed), from the folder's listing.
    pub fn is_link(&self, path: &Path) -> bool {
        match self.listed(path) {
            Listed::Absent => false,
            Listed::Present(Some(kind)) => kind.is_symlink(),
            _ => std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()),
        }
    }

    /// Whether a folder listed already (by the walk, or a check) shows that `path` is not there:
    /// the nearest one listed above it lacks the next name on the way. Nothing is asked of the
    /// system, so a path under folders never listed is not known missing (false).
    pub fn known_missing(&self, path: &Path) -> bool {
        let listings = lock(&self.listings);
        // Most often the file's own folder was listed.
        if let (Some(dir), Some(name)) = (path.parent(), path.file_name())
            && let Some(Some(listing)) = listings.get(dir.as_os_str())
        {
            return listing
                .binary_search_by(|(n, _)| n.as_os_str().cmp(name))
                .is_err();
        }
        for dir in path.ancestors().skip(1) {
            let Some(Some(listing)) = listings.get(dir.as_os_str()) else {
                continue;
            };
            let Some(std::path::Component::Normal(next)) = path
                .strip_prefix(dir)
                .ok()
                .and_then(|rest| rest.components().next())
            else {
                return false;
            };
            return listing
                .binary_search_by(|(n, _)| n.as_os_str().cmp(next))
                .is_err();
        }
        false
    }

    /// [`ts::source_files`] of `dir` (skipping the folders in `skip`), from one walk of `root`.
    pub fn ts_files(&self, root: &Path, dir: &Path, skip: &[PathBuf]) -> Vec<PathBuf> {
        let tree = {
            let mut tree = lock(&self.tree);
            tree.get_or_insert_with(|| Arc::new(self.walk(root))).clone()
        };
        // A folder the walk did not enter (outside the root, under `node_modules` or a link):
        // walked on its own, as before.
        let Some(run) = tree.folders.get(dir.as_os_str()) else {
            return ts::source_files(dir, skip);
        };
        let Some((start, end)) = *run else {
            return Vec::new();
        };
        tree.files[start..end]
            .iter()
            .filter(|f| !skip.iter().any(|s| s != dir && f.starts_with(s)))
            .cloned()
            .collect()
    }

    /// [`ts::source_files_and_folders`] of `root`, from the folders' listings (kept for the checks
    /// that look in the same folders).
    fn walk(&self, root: &Path) -> Tree {
        let mut files = Vec::new();
        let mut folders = FxHashMap::default();
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
            folders.insert(dir.into_os_string(), None);
        }
        files.sort();
        for (i, file) in files.iter().enumerate() {
            // Up the folders the walk entered, from the file's own to the root.
            for folder in file.ancestors().skip(1) {
                let Some(run) = folders.get_mut(folder.as_os_str()) else {
                    break;
                };
                *run = Some(run.map_or((i, i + 1), |(start, _)| (start, i + 1)));
            }
        }
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

fn read(path: &Path) -> Result<Arc<String>, ReadFailure> {
    if let Some(text) = read_regular_text(path) {
        return Ok(text);
    }
    // Not a regular UTF-8 file (or it could not be read): read again as every command reads
    // module code, for its words.
    crate::modules::read_text(path).map(Arc::new).map_err(|e| {
        let missing = e
            .root_cause()
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::NotFound);
        match e.downcast_ref::<UserError>() {
            Some(user) => ReadFailure {
                message: user.message.clone(),
                hint: user.hint.clone(),
                missing,
            },
            None => ReadFailure {
                message: format!("{e:#}"),
                hint: None,
                missing,
            },
        }
    })
}

/// What [`crate::modules::read_text`] reads from a regular UTF-8 file, in fewer calls to the
/// system: the same `open` (no link followed, no FIFO waited on), one `fstat`, the reads. None for
/// anything else, which `read_text` then names.
fn read_regular_text(path: &Path) -> Option<Arc<String>> {
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
    // One read asking one byte more than the size: it returns the whole file and stops short,
    // which for a regular file is its end (no second read to be told so). A file that grew or
    // came short since the fstat is read on to its end.
    let size = usize::try_from(meta.len()).ok()?;
    let mut bytes = vec![0; size.saturating_add(1)];
    let n = read_retrying(&mut file, &mut bytes).ok()?;
    bytes.truncate(n);
    if n != size {
        (&mut file).take(u64::MAX).read_to_end(&mut bytes).ok()?;
    }
    String::from_utf8(bytes).ok().map(Arc::new)
}

/// One `read`, again when a signal interrupted it.
fn read_retrying(file: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    use std::io::Read;
    loop {
        match file.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

thread_local! {
    /// Each thread's arena for the syntax trees, emptied for each file rather than made anew.
    static ARENA: std::cell::RefCell<Allocator> = std::cell::RefCell::new(Allocator::default());
}

fn facts_of(source: &str, label: &str, routes: bool) -> Result<Facts, ParseFailure> {
    ARENA.with_borrow_mut(|allocator| {
        allocator.reset();
        facts_in(allocator, source, label, routes)
    })
}

fn facts_in(allocator: &Allocator, source: &str, label: &str, routes: bool) -> Result<Facts, ParseFailure> {
    let options = oxc_parser::ParseOptions {
        enable_ident_hashes: false,
        ..Default::default()
    };
    let program = ts::parse_program_with(allocator, source, options)?;
    Ok(Facts {
        imports: ts::static_imports_in(&program, source),
        loads: scan::loads_in(&program, source),
        routes: routes.then(|| scan::routes_in(&program, source)),
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
        let first = sources.facts(&file, "index.ts", || true).unwrap().unwrap();
        let again = sources.facts(&file, "index.ts", || true).unwrap().unwrap();
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
            &sources.facts(&file, "index.ts", || true).unwrap().unwrap()
        ));
        sources.forget();
        let fixed = sources.facts(&file, "index.ts", || true).unwrap().unwrap();
        assert_eq!(
            fixed.permissions.as_ref().unwrap().as_deref(),
            Some(&["a.write".to_string()][..])
        );
        // A file that does not parse, named by each reader.
        std::fs::write(&file, "export const = [;").unwrap();
        sources.forget();
        let failure = sources.facts(&file, "index.ts", || true).unwrap().unwrap_err();
        assert!(
            failure
                .error("src/x/index.ts")
                .message
                .starts_with("src/x/index.ts:1 does not parse")
        );
    }

    #[test]
    fn a_file_is_read_as_read_text_reads_it_and_anything_else_fails_in_its_words() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("a.ts"), "export const a = 1;\n").unwrap();
        std::fs::write(d.join("empty.ts"), "").unwrap();
        std::fs::write(
            d.join("large.ts"),
            "// a line of sixty-four bytes, to make a file of some pages.\n".repeat(5000),
        )
        .unwrap();
        std::fs::write(d.join("latin1.ts"), b"// caf\xe9\n").unwrap();
        std::fs::create_dir(d.join("folder.ts")).unwrap();
        std::os::unix::fs::symlink(d.join("a.ts"), d.join("link.ts")).unwrap();
        std::os::unix::fs::symlink(d.join("gone.ts"), d.join("dangling.ts")).unwrap();
        let fifo = std::ffi::CString::new(d.join("fifo.ts").to_str().unwrap()).unwrap();
        // SAFETY: a valid, NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
        let sources = Sources::default();
        for name in [
            "a.ts",
            "empty.ts",
            "large.ts",
            "latin1.ts",
            "folder.ts",
            "link.ts",
            "dangling.ts",
            "fifo.ts",
            "none.ts",
            "none/x.ts",
        ] {
            let path = d.join(name);
            let want = crate::modules::read_text(&path).map_err(|e| match e.downcast_ref::<UserError>() {
                Some(user) => (user.message.clone(), user.hint.clone()),
                None => (format!("{e:#}"), None),
            });
            let got = sources
                .text(&path)
                .map(|t| t.to_string())
                .map_err(|f| (f.message, f.hint));
            assert_eq!(got, want, "{name}");
            assert_eq!(
                sources.text(&path).is_err_and(|f| f.missing),
                name.starts_with("none"),
                "{name}"
            );
        }
    }

    #[test]
    fn whether_a_file_is_there_is_answered_as_the_system_does() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("sub")).unwrap();
        std::fs::write(d.join("sub/a.ts"), "").unwrap();
        std::os::unix::fs::symlink(d.join("sub/a.ts"), d.join("sub/link.ts")).unwrap();
        std::os::unix::fs::symlink(d.join("sub"), d.join("sub/folder-link")).unwrap();
        std::os::unix::fs::symlink(d.join("gone"), d.join("sub/dangling.ts")).unwrap();
        let sources = Sources::default();
        for name in [
            "sub/a.ts",
            "sub/link.ts",
            "sub/folder-link",
            "sub/dangling.ts",
            "sub",
            "sub/none.ts",
            "none/a.ts",
            "sub/folder-link/a.ts",
            "sub/a.ts/x",
        ] {
            let path = d.join(name);
            assert_eq!(sources.is_file(&path), path.is_file(), "{name}");
            assert_eq!(sources.is_dir(&path), path.is_dir(), "{name}");
            let unfollowed = std::fs::symlink_metadata(&path);
            assert_eq!(sources.exists_unfollowed(&path), unfollowed.is_ok(), "{name}");
            assert_eq!(
                sources.is_link(&path),
                unfollowed.is_ok_and(|m| m.file_type().is_symlink()),
                "{name}"
            );
        }
    }

    /// Missing only when a folder listed above says so: never a file that is there, whatever
    /// was listed; nothing listed, nothing known.
    #[test]
    fn a_path_is_known_missing_only_from_a_listing_without_it() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("m/plugin")).unwrap();
        std::fs::write(d.join("m/plugin/index.ts"), "").unwrap();
        std::fs::write(d.join("m/module.config.ts"), "").unwrap();
        let sources = Sources::default();
        let gone = d.join("m/migrations/m/0001_x.sql");
        assert!(!sources.known_missing(&gone), "nothing listed yet");
        sources.ts_files(d, d, &[]);
        assert!(sources.known_missing(&gone));
        assert!(sources.known_missing(&d.join("m/plugin/none.ts")));
        assert!(sources.known_missing(&d.join("none")));
        for there in ["m/plugin/index.ts", "m/module.config.ts", "m/plugin", "m"] {
            assert!(!sources.known_missing(&d.join(there)), "{there}");
        }
        // Under a file, or past `..`: not known from the listings.
        assert!(!sources.known_missing(&d.join("m/module.config.ts/x")));
        assert!(!sources.known_missing(&d.join("m/../none")));
    }

    #[test]
    fn files_with_the_same_bytes_are_parsed_once_unless_an_error_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let sources = Sources::default();
        std::fs::write(d.join("a.ts"), "import x from './x.js';\n").unwrap();
        std::fs::write(d.join("b.ts"), "import x from './x.js';\n").unwrap();
        let a = sources.facts(&d.join("a.ts"), "a.ts", || true).unwrap().unwrap();
        let b = sources.facts(&d.join("b.ts"), "b.ts", || true).unwrap().unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        // A file whose routes are wanted, with the bytes of one parsed without them, gets them.
        let router = "router.get('/x', h);\n";
        std::fs::write(d.join("adapter.ts"), router).unwrap();
        std::fs::write(d.join("plugin.ts"), router).unwrap();
        let adapter = sources
            .facts(&d.join("adapter.ts"), "adapter.ts", || false)
            .unwrap()
            .unwrap();
        assert_eq!(adapter.routes, None);
        let plugin = sources
            .facts(&d.join("plugin.ts"), "plugin.ts", || true)
            .unwrap()
            .unwrap();
        assert_eq!(plugin.routes.as_ref().map(Vec::len), Some(1));
        std::fs::write(d.join("c.ts"), "export const permissions = [x];\n").unwrap();
        std::fs::write(d.join("d.ts"), "export const permissions = [x];\n").unwrap();
        let c = sources.facts(&d.join("c.ts"), "c.ts", || true).unwrap().unwrap();
        let e = sources.facts(&d.join("d.ts"), "d.ts", || true).unwrap().unwrap();
        assert!(c.permissions.as_ref().unwrap_err().0.contains(" in c.ts "));
        assert!(e.permissions.as_ref().unwrap_err().0.contains(" in d.ts "));
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
            "src/empty/readme.md",
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
            ("src/empty", &[][..]),
            ("src/modules", &[][..]),
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
