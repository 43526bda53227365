//! The shared fixture of the end-to-end tests: one `items` sandbox per test process, rendered by the
//! built binary and `npm install`ed once; commands with a cleared environment; servers started on
//! free ports and killed with everything they started; the timings of each step.

use std::ffi::OsStr;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::support::process::{ChildGuard, free_port};
pub use crate::support::stdout;
use crate::support::{bin, http, transcript};

/// The module every shared sandbox is rendered for.
pub const MODULE: &str = "items";
/// Its routes: `resource` is the module id in the templates.
pub const ITEMS: &str = "/api/plugins/items/items";
pub const HEALTH: &str = "/api/plugins/items/health";

pub struct Sandbox {
    /// `target/e2e/<pid>`: everything this test process writes (sandboxes, logs, browser tools).
    pub root: PathBuf,
    /// `<root>/items`: the rendered and installed sandbox.
    pub dir: PathBuf,
}

/// The sandbox of this test process: rendered and installed by the first test that asks, shared by all.
/// A failed installation fails every test that needs it, with the same message (it is not retried).
pub fn sandbox() -> &'static Sandbox {
    static SANDBOX: OnceLock<Result<Sandbox, String>> = OnceLock::new();
    match SANDBOX.get_or_init(|| std::panic::catch_unwind(install).map_err(panic_message)) {
        Ok(sandbox) => sandbox,
        Err(message) => panic!("the shared e2e sandbox could not be installed:\n{message}"),
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_string()))
        .unwrap_or_else(|| "(a panic without a message)".to_string())
}

/// `target/e2e`, beside cargo's own `target/tmp`.
pub fn e2e_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR has a parent")
        .join("e2e")
}

fn install() -> Sandbox {
    let started = Instant::now();
    let node = require_node();
    let npm = output(command("npm", Path::new("/")).arg("--version"));
    if !npm.status.success() {
        missing("npm", "npm comes with Node.js: reinstall Node.js 20.19+");
    }
    eprintln!(
        "e2e: node {node}, npm {}",
        String::from_utf8_lossy(&npm.stdout).trim()
    );

    let base = e2e_dir();
    fs::create_dir_all(&base).expect("cannot create target/e2e");
    remove_stale_runs(&base);
    let _ = fs::write(
        base.join("timings.txt"),
        format!(
            "# e2e step durations of the test process {}\n",
            std::process::id()
        ),
    );
    let root = base.join(std::process::id().to_string());
    let _ = fs::remove_dir_all(&root);
    fs::create_dir_all(root.join("logs")).expect("cannot create the e2e folder");

    let dir = render(&root, MODULE);
    timed("npm install (items sandbox, once)", || {
        run_ok(command("npm", &dir).args(["install", "--no-audit", "--no-fund"]));
    });
    assert!(
        dir.join("node_modules/.bin/tsx").exists() && dir.join("node_modules/.bin/vite").exists(),
        "npm install left no tsx or vite in {}",
        dir.display()
    );
    record("sandbox ready (render + install)", started.elapsed());
    Sandbox { root, dir }
}

/// Render `modkit init <module>` into `<root>/<module>`.
pub fn render(root: &Path, module: &str) -> PathBuf {
    let out = run_ok(command(bin(), root).args(["init", module, "--dir", module]));
    let dir = root.join(module);
    assert!(
        dir.join("package.json").is_file(),
        "modkit init wrote no package.json:\n{}",
        transcript(&out)
    );
    dir
}

/// Folders of earlier test processes that have ended (a failed run's folder stays until the next run).
fn remove_stale_runs(base: &Path) {
    let Ok(entries) = fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Ok(pid) = name.parse::<u32>() {
            if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }
}

// --- required tools -------------------------------------------------------------------------------

/// Fail (never skip) for want of a tool, with a hint.
pub fn missing(tool: &str, hint: &str) -> ! {
    let ci = if std::env::var("CI").is_ok_and(|v| v == "true") {
        "CI=true: the CI machine must provide it (.ci/run runs scripts/test.sh). "
    } else {
        ""
    };
    panic!("{tool} is missing: the end-to-end tests need it and never skip. {ci}hint: {hint}")
}

/// Node's version, which must be 20.19+ (Vite 8 and the sandbox's `engines`).
fn require_node() -> String {
    let out = Command::new("node")
        .args(["-p", "process.versions.node"])
        .output();
    let Some(out) = out.ok().filter(|o| o.status.success()) else {
        missing(
            "node (Node.js 20.19+)",
            "install Node.js 20.19 or later with npm (scripts/test.sh checks for it, it does not install it)",
        );
    };
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let parts: Vec<u32> = version.split('.').filter_map(|p| p.parse().ok()).collect();
    if parts.len() < 2 || (parts[0], parts[1]) < (20, 19) {
        missing(
            &format!("Node.js 20.19+ (found {version})"),
            "install Node.js 20.19 or later (Vite 8 needs it)",
        );
    }
    version
}

/// The first of `candidates` that exists, else the program found on PATH, else a failure.
pub fn require_program(name: &str, candidates: &[&str], hint: &str) -> PathBuf {
    for c in candidates {
        if Path::new(c).is_file() {
            return PathBuf::from(c);
        }
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let p = dir.join(name);
        if p.is_file() {
            return p;
        }
    }
    missing(name, hint)
}

// --- commands -------------------------------------------------------------------------------------

/// `program` in `dir` with a cleared environment: only PATH, HOME and npm_config_* pass (so neither
/// a developer's DATABASE_URL nor NODE_ENV leaks in), plus NO_COLOR=1 and quiet npm defaults.
pub fn command(program: impl AsRef<OsStr>, dir: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(dir)
        .env_clear()
        .env("NO_COLOR", "1")
        .env("npm_config_update_notifier", "false")
        .env("npm_config_audit", "false")
        .env("npm_config_fund", "false")
        .stdin(Stdio::null());
    for (key, value) in std::env::vars_os() {
        let name = key.to_string_lossy();
        if name == "PATH" || name == "HOME" || name.starts_with("npm_config_") {
            cmd.env(key, value);
        }
    }
    cmd
}

/// Run to the end; panics only when the program cannot start.
pub fn output(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Run to the end and require exit 0, showing the whole transcript otherwise.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = output(cmd);
    assert!(out.status.success(), "{cmd:?} failed:\n{}", transcript(&out));
    out
}

/// `modkit bootstrap --db <url> --tenant ...` in the sandbox; returns its output (not checked).
pub fn modkit_bootstrap(dir: &Path, db_url: &str, tenants: &[&str]) -> Command {
    let mut cmd = command(bin(), dir);
    cmd.args(["bootstrap", "--db", db_url]);
    for t in tenants {
        cmd.args(["--tenant", t]);
    }
    cmd
}

/// `npm run bootstrap -- --tenant ...` in the sandbox with DATABASE_URL.
pub fn npm_bootstrap(dir: &Path, db_url: &str, tenants: &[&str]) -> Command {
    let mut cmd = command("npm", dir);
    cmd.args(["run", "bootstrap", "--"]).env("DATABASE_URL", db_url);
    for t in tenants {
        cmd.args(["--tenant", t]);
    }
    cmd
}

// --- timings --------------------------------------------------------------------------------------

/// Print how long `step` took and append it to `target/e2e/timings.txt`.
pub fn record(step: &str, elapsed: Duration) {
    static FILE: Mutex<()> = Mutex::new(());
    let line = format!("{step:<60} {:>7.2} s", elapsed.as_secs_f64());
    eprintln!("e2e timing: {line}");
    let _lock = FILE.lock().unwrap_or_else(|e| e.into_inner());
    if let Ok(mut f) = fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(e2e_dir().join("timings.txt"))
    {
        let _ = writeln!(f, "{line}");
    }
}

pub fn timed<T>(step: &str, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let value = f();
    record(step, started.elapsed());
    value
}

// --- servers --------------------------------------------------------------------------------------

/// A server the test started: its port, its log (stdout and stderr), killed with its process group
/// on drop. A failing test prints the end of the log.
pub struct Server {
    pub name: String,
    pub port: u16,
    pub log: PathBuf,
    _guard: ChildGuard,
}

impl Server {
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// How the server ended, if it has.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self._guard.try_wait()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- end of the log of {} ({}) ---\n{}",
                self.name,
                self.log.display(),
                tail(&self.log_text(), 40)
            );
        }
    }
}

pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn log_file(name: &str, port: u16) -> (PathBuf, fs::File) {
    let path = sandbox().root.join("logs").join(format!("{name}-{port}.log"));
    let file = fs::File::create(&path).unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
    (path, file)
}

/// Start a server on a free port: `build(port)` makes the command, `ready(port)` says it answers.
/// A port taken in between (EADDRINUSE) is retried with another; any other early exit fails.
pub fn spawn_server(name: &str, build: impl Fn(u16) -> Command, ready: impl Fn(u16) -> bool) -> Server {
    let mut last = String::new();
    for _ in 0..3 {
        let port = free_port();
        let (log, file) = log_file(name, port);
        let mut cmd = build(port);
        cmd.stdout(file.try_clone().expect("a log file handle"))
            .stderr(file);
        let mut guard = ChildGuard::spawn(&mut cmd);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = guard.try_wait() {
                last = fs::read_to_string(&log).unwrap_or_default();
                if last.contains("EADDRINUSE") || last.contains("already in use") {
                    break;
                }
                panic!(
                    "{name} exited ({status}) before it answered on port {port}; its log:\n{}",
                    tail(&last, 60)
                );
            }
            if ready(port) {
                return Server {
                    name: name.to_string(),
                    port,
                    log,
                    _guard: guard,
                };
            }
            if Instant::now() > deadline {
                let text = fs::read_to_string(&log).unwrap_or_default();
                panic!(
                    "{name} did not answer on port {port} within 60 s; its log:\n{}",
                    tail(&text, 60)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    panic!("{name}: three ports in a row were taken; last log:\n{last}")
}

/// `npm start` in `dir` (the API) with PORT, DATABASE_URL and `env` (e.g. NODE_ENV, PGPOOL_MAX);
/// ready once `GET /api/plugins/items/health` answers 200.
pub fn start_api_in(dir: &Path, name: &str, db_url: &str, env: &[(&str, &str)]) -> Server {
    timed(&format!("start API ({name})"), || {
        spawn_server(
            name,
            |port| {
                let mut cmd = command("npm", dir);
                cmd.arg("start")
                    .env("PORT", port.to_string())
                    .env("DATABASE_URL", db_url);
                for (k, v) in env {
                    cmd.env(k, v);
                }
                cmd
            },
            |port| {
                http::try_request("GET", &format!("http://127.0.0.1:{port}{HEALTH}"), &[], None)
                    .is_ok_and(|r| r.status == 200)
            },
        )
    })
}

/// The API of the shared sandbox in development.
pub fn start_api(name: &str, db_url: &str, env: &[(&str, &str)]) -> Server {
    let mut all = vec![("NODE_ENV", "development")];
    all.extend_from_slice(env);
    start_api_in(&sandbox().dir, name, db_url, &all)
}

/// Seed rows into a tenant's module table by SQL (the schema is `tenant_<code>`).
pub fn seed_rows(db: &crate::support::pg::TestDb, tenant: &str, names: &[&str]) {
    for chunk in names.chunks(100) {
        let values: Vec<String> = chunk
            .iter()
            .map(|n| format!("('{}')", n.replace('\'', "''")))
            .collect();
        db.execute(&format!(
            "INSERT INTO \"tenant_{tenant}\".items (name) VALUES {}",
            values.join(", ")
        ));
    }
}

/// The names in a `{"data": [...]}` list response.
pub fn names_of(res: &http::Response) -> Vec<String> {
    let json = res.json();
    let data = json["data"]
        .as_array()
        .unwrap_or_else(|| panic!("no data array in {}: {}", res.status, res.body));
    data.iter()
        .map(|row| {
            row["name"]
                .as_str()
                .unwrap_or_else(|| panic!("a row without a name: {row}"))
                .to_string()
        })
        .collect()
}

/// Whether this process runs as root (then PgBouncer must run as `postgres`).
pub fn is_root() -> bool {
    unsafe extern "C" {
        fn geteuid() -> u32;
    }
    // SAFETY: geteuid(2) has no arguments and cannot fail.
    unsafe { geteuid() == 0 }
}
