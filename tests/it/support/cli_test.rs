//! `CliTest`: a temp folder to run the built `modkit` binary in, after ruff's fixture of that name.
//!
//! ```ignore
//! let test = CliTest::new();
//! test.write_file("items/notes.txt", "mine");
//! let out = test.transcript(test.command().args(["init", "items"]));
//! insta::assert_snapshot!(out);
//! ```
//!
//! Commands run with a cleared environment (only `PATH`, `HOME`, `npm_config_*` and `NO_COLOR=1`),
//! so neither the developer's `DATABASE_URL` nor CI's variables leak into a test. Transcripts
//! replace the temp folder with `[TEMP]` and modkit's version with `[VERSION]`, so snapshots are
//! stable.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `modkit` binary cargo built for this test run.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_modkit"))
}

pub struct CliTest {
    dir: tempfile::TempDir,
    root: PathBuf,
    filters: Vec<(String, String)>,
}

impl CliTest {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("modkit-test-")
            .tempdir()
            .expect("cannot create a temp folder");
        // Canonical, so that what the binary prints (after its own joins) matches the filter.
        let root = dir.path().canonicalize().expect("cannot resolve the temp folder");
        let mut filters = vec![(root.display().to_string(), "[TEMP]".to_string())];
        if dir.path() != root {
            filters.push((dir.path().display().to_string(), "[TEMP]".to_string()));
        }
        filters.push((env!("CARGO_PKG_VERSION").to_string(), "[VERSION]".to_string()));
        Self { dir, root, filters }.sorted()
    }

    /// Longer strings first, so a URL is replaced before a path or a version inside it.
    fn sorted(mut self) -> Self {
        self.filters
            .sort_by_key(|(from, _)| std::cmp::Reverse(from.len()));
        self
    }

    /// Also replace `from` with `to` in transcripts and [`CliTest::filter`] (e.g. a port or a URL).
    pub fn with_filter(mut self, from: impl Into<String>, to: impl Into<String>) -> Self {
        self.filters.push((from.into(), to.into()));
        self.sorted()
    }

    /// The temp folder every command runs in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn path(&self, relative: impl AsRef<Path>) -> PathBuf {
        self.root.join(relative)
    }

    /// Write a file under the temp folder, creating its parent folders.
    pub fn write_file(&self, relative: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .unwrap_or_else(|e| panic!("cannot create {}: {e}", parent.display()));
        }
        std::fs::write(&path, contents).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        path
    }

    pub fn read_file(&self, relative: impl AsRef<Path>) -> String {
        let path = self.path(relative);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
    }

    /// Copy `tests/fixtures/<name>` to `relative` under the temp folder.
    pub fn copy_fixture(&self, name: &str, relative: impl AsRef<Path>) -> PathBuf {
        let target = self.path(relative);
        copy_dir(&fixture(name), &target);
        target
    }

    /// Every file under `relative` (a folder), as sorted `/`-separated paths relative to it.
    pub fn files(&self, relative: impl AsRef<Path>) -> Vec<String> {
        let base = self.path(relative);
        let mut out = Vec::new();
        collect_files(&base, &base, &mut out);
        out.sort();
        out
    }

    /// Replace `from` with `to` in a file under the temp folder; the file must contain `from`.
    #[track_caller]
    pub fn replace_in_file(&self, relative: impl AsRef<Path>, from: &str, to: &str) {
        let relative = relative.as_ref();
        let text = self.read_file(relative);
        assert!(text.contains(from), "{} has no `{from}`", relative.display());
        self.write_file(relative, text.replace(from, to));
    }

    /// Run the built `modkit` with `args` in the temp folder.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command().args(args).output().expect("cannot run modkit")
    }

    /// The built `modkit`, in the temp folder, with a cleared environment.
    pub fn command(&self) -> Command {
        self.clean_command(bin())
    }

    /// Any program (`npm`, `node`, `psql`, ...) in the temp folder, with the same cleared environment.
    /// `npm_config_*` variables pass too (scripts/test.sh sets the npm cache and quiets npm with them).
    pub fn clean_command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(&self.root).env_clear().env("NO_COLOR", "1");
        for (key, value) in std::env::vars_os() {
            let name = key.to_string_lossy();
            if name == "PATH" || name == "HOME" || name.starts_with("npm_config_") {
                cmd.env(key, value);
            }
        }
        cmd
    }

    /// Run `cmd` and return its exit status, stdout and stderr as one filtered text to snapshot.
    pub fn transcript(&self, cmd: &mut Command) -> String {
        let output = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
        self.filter(&transcript(&output))
    }

    /// Apply the temp-folder, version and custom filters to any text.
    pub fn filter(&self, text: &str) -> String {
        let mut text = text.to_string();
        for (from, to) in &self.filters {
            text = text.replace(from.as_str(), to);
        }
        text
    }
}

impl Default for CliTest {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for CliTest {
    /// A failing test keeps its folder, to look at what the binary wrote.
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.dir.disable_cleanup(true);
            eprintln!("test folder kept for debugging: {}", self.root.display());
        }
    }
}

/// The output of a finished process as insta-cmd lays it out: success, exit code, stdout, stderr.
pub fn transcript(output: &Output) -> String {
    let code = output
        .status
        .code()
        .map_or_else(|| format!("{:?}", output.status), |c| c.to_string());
    format!(
        "success: {}\nexit_code: {}\n----- stdout -----\n{}\n----- stderr -----\n{}",
        output.status.success(),
        code,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    )
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `tests/fixtures/<name>` in the source tree.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Copy a folder recursively (regular files and folders; fixtures hold nothing else).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("cannot create {}: {e}", to.display()));
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("cannot list {}: {e}", from.display())) {
        let entry = entry.expect("a folder entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("a file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target)
                .unwrap_or_else(|e| panic!("cannot copy {}: {e}", entry.path().display()));
        }
    }
}

fn collect_files(base: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.expect("cannot list a folder").path();
        if path.is_dir() && !path.is_symlink() {
            collect_files(base, &path, out);
        } else {
            let relative = path.strip_prefix(base).expect("a path under the base folder");
            out.push(relative.to_string_lossy().replace('\\', "/"));
        }
    }
}
