//! `npm run dev`'s launcher (`sandbox/dev.mjs`): the API compiled into `.modkit/dev` and restarted when
//! the module changes, a syntax error that stops the API but not the launcher, stack traces and
//! `import.meta.url` that name the `.ts` sources, no API left behind when the launcher is killed, and
//! no write through a linked `.modkit/dev`. Each test renders its own sandbox beside the shared one
//! (sharing its `node_modules`), since it edits the module, and names a server with DATABASE_URL.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::sandbox::{HEALTH, command, modkit_bootstrap, record, render, run_ok, sandbox, tail};
use crate::support::http;
use crate::support::pg::TestDb;
use crate::support::process::{ChildGuard, free_port, port_is_open};
use crate::support::transcript;

/// A sandbox of its own, on the shared sandbox's installed packages.
fn own_sandbox(tag: &str) -> PathBuf {
    let root = sandbox().root.join(format!("dev-{tag}"));
    let _ = fs::remove_dir_all(&root);
    fs::create_dir_all(&root).unwrap();
    let dir = render(&root, "items");
    std::os::unix::fs::symlink(sandbox().dir.join("node_modules"), dir.join("node_modules")).unwrap();
    dir
}

struct Dev {
    guard: ChildGuard,
    log: PathBuf,
    api: u16,
    vite: u16,
}

impl Dev {
    fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn health(&self) -> Option<http::Response> {
        http::try_request(
            "GET",
            &format!("http://localhost:{}{HEALTH}", self.vite),
            &[],
            None,
        )
        .ok()
    }

    /// Poll until `check` holds (30 s at most), failing with the log.
    fn wait(&self, what: &str, mut check: impl FnMut(&Self) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !check(self) {
            assert!(
                Instant::now() < deadline,
                "{what}: not within 30 s; npm run dev's log:\n{}",
                tail(&self.log_text(), 40)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// `npm run dev` with DATABASE_URL, ready once health answers 200 through Vite.
fn npm_run_dev(dir: &Path, db_url: &str) -> Dev {
    let started = Instant::now();
    let mut dev = spawn_dev(dir, db_url);
    let deadline = Instant::now() + Duration::from_secs(120);
    while dev.health().is_none_or(|r| r.status != 200) {
        assert!(
            dev.guard.try_wait().is_none() && Instant::now() < deadline,
            "npm run dev never answered {HEALTH} through Vite:\n{}",
            tail(&dev.log_text(), 40)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    record("npm run dev to the first 200 (DATABASE_URL)", started.elapsed());
    dev
}

/// `npm run dev` with DATABASE_URL, on ports of its own, its output in `<dir>/../dev.log`.
fn spawn_dev(dir: &Path, db_url: &str) -> Dev {
    let (api, vite) = (free_port(), free_port());
    let log = dir.parent().unwrap().join("dev.log");
    let file = fs::File::create(&log).unwrap();
    let mut cmd = command("npm", dir);
    cmd.args(["run", "dev"])
        .env("DATABASE_URL", db_url)
        .env("PORT", api.to_string())
        .env("VITE_PORT", vite.to_string())
        .stdout(file.try_clone().unwrap())
        .stderr(file);
    Dev {
        guard: ChildGuard::spawn(&mut cmd),
        log,
        api,
        vite,
    }
}

/// The pids whose command line contains `needle` (e.g. the compiled API's entry of one sandbox).
fn pids_running(needle: &str) -> Vec<i32> {
    let mut pids = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmdline = fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let state = fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let zombie = state
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
        if !zombie
            && String::from_utf8_lossy(&cmdline)
                .replace('\0', " ")
                .contains(needle)
        {
            pids.push(pid);
        }
    }
    pids
}

unsafe extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}

fn bootstrapped(dir: &Path) -> TestDb {
    let db = TestDb::new();
    run_ok(&mut modkit_bootstrap(dir, db.url(), &[]));
    db
}

#[test]
fn npm_run_dev_restarts_the_api_on_a_change_and_outlives_a_syntax_error() {
    let dir = own_sandbox("restart");
    let db = bootstrapped(&dir);
    let dev = npm_run_dev(&dir, db.url());
    assert!(
        dir.join(".modkit/dev/plugin/index.js").is_file(),
        "the API does not run from .modkit/dev"
    );

    // An edit of the module: a new import from a new folder, a route that throws, import.meta.url.
    let index = dir.join("plugin/index.ts");
    let original = fs::read_to_string(&index).unwrap();
    fs::create_dir(dir.join("plugin/lib")).unwrap();
    fs::write(
        dir.join("plugin/lib/greeting.ts"),
        "export const greeting = 'first';\n",
    )
    .unwrap();
    let edited = original
        .replacen(
            "res.json({ ok: true, plugin: plugin.meta.id });",
            "res.json({ ok: true, plugin: plugin.meta.id, greeting, source: import.meta.url });",
            1,
        )
        .replacen(
            "r.get('/health',",
            "r.get('/boom', () => {\n      throw new Error('boom from the module');\n    });\n\n    r.get('/health',",
            1,
        );
    assert_ne!(
        edited, original,
        "the template's health route moved: update this test"
    );
    fs::write(
        &index,
        format!("import {{ greeting }} from './lib/greeting.js';\n{edited}"),
    )
    .unwrap();
    dev.wait("the edited health route", |d| {
        d.health().is_some_and(|r| r.body.contains("\"first\""))
    });
    let body = dev.health().unwrap().json();
    let source = body["source"].as_str().unwrap_or_default();
    assert!(
        source.starts_with("file://") && source.ends_with("/plugin/index.ts"),
        "import.meta.url names {source}, not the module's source"
    );
    assert!(
        dev.log_text().contains("[api] restarting: plugin/"),
        "{}",
        dev.log_text()
    );

    // A change in the new folder alone restarts it too.
    fs::write(
        dir.join("plugin/lib/greeting.ts"),
        "export const greeting = 'second';\n",
    )
    .unwrap();
    dev.wait("the greeting from plugin/lib", |d| {
        d.health().is_some_and(|r| r.body.contains("\"second\""))
    });

    // A stack trace names the TypeScript source and line, through the source maps.
    let boom = http::request(
        "GET",
        &format!("http://localhost:{}/api/plugins/items/boom", dev.vite),
        &[],
        None,
    );
    assert_eq!(boom.status, 500, "{boom:?}");
    dev.wait("the stack trace of the thrown error", |d| {
        d.log_text().contains("boom from the module")
    });
    let log = dev.log_text();
    let line = original
        .lines()
        .position(|l| l.contains("r.get('/health',"))
        .unwrap()
        + 1
        + 1
        + 1;
    assert!(
        log.contains(&format!("{}:{line}:", index.display())),
        "the stack does not name {}:{line}:\n{}",
        index.display(),
        tail(&log, 30)
    );

    // A syntax error: named with its place, the API stops, the launcher and Vite stay.
    fs::write(
        &index,
        format!("import {{ greeting }} from './lib/greeting.js';\n{edited}\nconst = ;\n"),
    )
    .unwrap();
    dev.wait("the syntax error reported", |d| {
        d.log_text().contains("[api] not started")
    });
    let log = dev.log_text();
    assert!(
        log.contains("[api] plugin/index.ts:"),
        "the error does not name the file:\n{}",
        tail(&log, 20)
    );
    dev.wait("the API stopped", |d| !port_is_open(d.api));
    assert!(
        dev.health().is_some_and(|r| r.status == 502),
        "Vite no longer answers"
    );

    // Fixed: it starts again.
    fs::write(&index, &original).unwrap();
    dev.wait("the API back after the fix", |d| {
        d.health()
            .is_some_and(|r| r.status == 200 && !r.body.contains("greeting"))
    });

    // Ctrl-C ends everything.
    let mut dev = dev;
    dev.guard.interrupt();
    assert!(
        !port_is_open(dev.api) && !port_is_open(dev.vite),
        "Ctrl-C left a server:\n{}",
        dev.log_text()
    );
}

#[test]
fn killed_dev_launcher_leaves_no_api_behind() {
    let dir = own_sandbox("sigkill");
    let db = bootstrapped(&dir);
    let dev = npm_run_dev(&dir, db.url());
    let entry = format!("{}/.modkit/dev/serve.js", dir.display());
    let apis = pids_running(&entry);
    assert_eq!(apis.len(), 1, "one API runs from {entry}: {apis:?}");
    // node itself, not the `sh -c` npm runs it with.
    let launcher = pids_running("sandbox/dev.mjs")
        .into_iter()
        .find(|pid| {
            fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd == dir)
                && fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c.starts_with(b"node\0"))
        })
        .expect("the launcher of this sandbox");
    // A change makes the launcher start the next migration runner ahead (it waits for a saved
    // migration): it must die with the launcher too.
    let runner = format!("{}/.modkit/dev/migrate.js", dir.display());
    let index = dir.join("plugin/index.ts");
    let text = fs::read_to_string(&index).unwrap();
    fs::write(&index, format!("{text}\n// changed\n")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while pids_running(&runner).is_empty() {
        assert!(
            Instant::now() < deadline,
            "no migration runner started ahead after a change:\n{}",
            tail(&dev.log_text(), 20)
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // SAFETY: kill(2) of the launcher this test started.
    unsafe { kill(launcher, 9) };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !pids_running(&entry).is_empty() || !pids_running(&runner).is_empty() || port_is_open(dev.api) {
        assert!(
            Instant::now() < deadline,
            "the API or the migration runner outlived its launcher by 10 s: {:?} {:?}\n{}",
            pids_running(&entry),
            pids_running(&runner),
            tail(&dev.log_text(), 20)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn npm_run_dev_refuses_a_symlinked_modkit_dev_folder() {
    let dir = own_sandbox("symlink");
    let outside = dir.parent().unwrap().join("outside");
    fs::create_dir_all(dir.join(".modkit")).unwrap();
    fs::create_dir_all(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, dir.join(".modkit/dev")).unwrap();

    let out = command("npm", &dir)
        .args(["run", "dev"])
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .env("PORT", free_port().to_string())
        .env("VITE_PORT", free_port().to_string())
        .output()
        .unwrap();
    let text = transcript(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains(".modkit/dev is a symbolic link"), "{text}");
    assert_eq!(
        fs::read_dir(&outside).unwrap().count(),
        0,
        "npm run dev wrote through the link"
    );
}

/// `.modkit/dev` swapped for a link while `npm run dev` runs: the next change is refused (said, nothing
/// written through the link) and the launcher keeps running; it used to exit on the spot, leaving a
/// local database it had started running.
#[test]
fn a_modkit_dev_folder_linked_mid_session_is_refused_and_the_launcher_stays() {
    let dir = own_sandbox("symlink-later");
    let db = bootstrapped(&dir);
    let mut dev = npm_run_dev(&dir, db.url());
    let outside = dir.parent().unwrap().join("outside");
    fs::create_dir_all(&outside).unwrap();
    fs::remove_dir_all(dir.join(".modkit/dev")).unwrap();
    std::os::unix::fs::symlink(&outside, dir.join(".modkit/dev")).unwrap();

    let index = dir.join("plugin/index.ts");
    let text = fs::read_to_string(&index).unwrap();
    fs::write(&index, format!("{text}\n// touched\n")).unwrap();
    dev.wait("the link reported", |d| {
        d.log_text().contains("[api] not restarted: ")
    });
    assert!(
        dev.log_text().contains(".modkit/dev is a symbolic link"),
        "{}",
        dev.log_text()
    );
    assert!(
        dev.guard.try_wait().is_none(),
        "npm run dev ended:\n{}",
        dev.log_text()
    );
    assert_eq!(
        fs::read_dir(&outside).unwrap().count(),
        0,
        "npm run dev wrote through the link"
    );
    assert!(
        dev.health().is_some_and(|r| r.status == 200),
        "Vite stopped answering"
    );
}

#[test]
fn npm_run_dev_started_on_a_syntax_error_waits_for_the_fix() {
    let dir = own_sandbox("broken-start");
    let db = bootstrapped(&dir);
    let index = dir.join("plugin/index.ts");
    let original = fs::read_to_string(&index).unwrap();
    fs::write(&index, format!("{original}\nconst = ;\n")).unwrap();

    let mut dev = spawn_dev(&dir, db.url());
    dev.wait("the syntax error reported", |d| {
        d.log_text().contains("[api] not started")
    });
    assert!(
        dev.guard.try_wait().is_none(),
        "npm run dev ended:\n{}",
        dev.log_text()
    );
    // The rest compiled (the local database's code among it): one file's error holds back only the API.
    assert!(dir.join(".modkit/dev/sandbox/localdb.js").is_file());
    dev.wait("Vite up while the API waits", |d| {
        d.health().is_some_and(|r| r.status == 502)
    });

    fs::write(&index, &original).unwrap();
    dev.wait("the API started after the fix", |d| {
        d.health().is_some_and(|r| r.status == 200)
    });
    assert!(
        dev.log_text().contains("[api] starting: plugin/index.ts changed"),
        "{}",
        dev.log_text()
    );
}

/// Issue 17: a new migration gave 500s (42703, 25-line pg objects in the terminal) until a manual
/// bootstrap, and a new permission a 403 for `dev`. Now a migration and a permission saved while
/// `npm run dev` runs are applied to every dev tenant and served; a broken migration is reported
/// with its file and line, the database stays as it was and the API keeps serving the old schema.
#[test]
fn a_migration_and_a_permission_saved_during_npm_run_dev_are_applied_and_served() {
    let dir = own_sandbox("migrate");
    let db = TestDb::new();
    run_ok(&mut modkit_bootstrap(&dir, db.url(), &["acme"]));
    // acme is not a dev tenant of modkit.toml: an existing tenant, brought in step too.
    let dev = npm_run_dev(&dir, db.url());
    let headers = [("X-Tenant-Id", "dev"), ("X-User-Id", "dev")];
    let described = |d: &Dev| {
        http::try_request(
            "GET",
            &format!("http://localhost:{}/api/plugins/items/described", d.vite),
            &headers,
            None,
        )
        .ok()
    };

    // The code first: a route guarded by a new permission, reading a column no migration made yet.
    let index = dir.join("plugin/index.ts");
    let original = fs::read_to_string(&index).unwrap();
    let edited = original
        .replacen(
            "'items.delete']",
            "'items.delete', 'items.describe']",
            1,
        )
        .replacen(
            "r.get('/health',",
            "r.get('/described', ctx.rbac.require('items.describe'), async (req, res) => {\n      \
             const data = await ctx.withTenantTx(tenantOf(req), async (db) => (await db.query('SELECT description FROM items')).rows);\n      \
             res.json({ data });\n    });\n\n    r.get('/health',",
            1,
        );
    assert!(
        edited.contains("items.describe'") && edited.contains("/described"),
        "the template moved: update this test"
    );
    fs::write(&index, edited).unwrap();
    // The permission is granted to dev at the reload; the column is missing: a 500 naming the cause.
    dev.wait("the new route answers (500: no column yet)", |d| {
        described(d).is_some_and(|r| r.status == 500)
    });
    let res = described(&dev).unwrap();
    assert!(
        res.body
            .contains("a migration in plugin/migrations/ not applied yet"),
        "{res:?}"
    );
    let log = dev.log_text();
    assert!(log.contains("[api] 500 (SQLSTATE 42703)"), "{}", tail(&log, 30));
    // (Vite's own proxy errors while the API restarts carry stack traces: look for the pg object.)
    assert!(
        !log.contains("severity:") && !log.contains("DatabaseError"),
        "a pg error object for a missing column:\n{}",
        tail(&log, 30)
    );

    // The migration, saved: applied to both tenants and served.
    let saved = Instant::now();
    fs::write(
        dir.join("plugin/migrations/0002_add_description.sql"),
        "-- a description per item\nALTER TABLE items ADD COLUMN description text NOT NULL DEFAULT 'none';\n",
    )
    .unwrap();
    dev.wait("the new column served", |d| {
        described(d).is_some_and(|r| r.status == 200)
    });
    record(
        "npm run dev: a saved migration to the new column served",
        saved.elapsed(),
    );
    // The old API serves the column as soon as the migration runner commits, which can be before
    // the launcher has printed the runner's report: wait for the line rather than read it at once.
    dev.wait("the migration reported", |d| {
        d.log_text()
            .contains("[db] applied items/0002_add_description.sql to 2 tenants in ")
    });
    for schema in ["tenant_dev", "tenant_acme"] {
        assert_eq!(
            db.scalar(&format!(
                "SELECT count(*) FROM information_schema.columns WHERE table_schema = '{schema}' AND column_name = 'description'"
            )),
            "1"
        );
    }

    // The API is restarted after the migration (the old one may have served the column already):
    // wait for the new one, so that what follows is about the broken migration alone.
    dev.wait("the API restarted after the migration", |d| {
        d.log_text()
            .split("[api] restarting: plugin/migrations/0002_add_description.sql changed")
            .nth(1)
            .is_some_and(|after| after.contains("API on http"))
    });
    dev.wait("the new column served by the new API", |d| {
        described(d).is_some_and(|r| r.status == 200)
    });
    let starts = dev.log_text().matches("API on http").count();

    // A broken migration: file and line, nothing applied, the old schema still served.
    fs::write(
        dir.join("plugin/migrations/0003_broken.sql"),
        "-- broken on purpose\nALTER TABLE items ADD COLUMN extra text;\nALTER TABLE items ADD COLUMNN other text;\n",
    )
    .unwrap();
    dev.wait("the broken migration reported", |d| {
        d.log_text().contains("items/0003_broken.sql:3:")
    });
    let log = dev.log_text();
    assert!(
        log.contains("[db] the database is as it was"),
        "{}",
        tail(&log, 30)
    );
    assert_eq!(
        db.scalar("SELECT count(*) FROM information_schema.columns WHERE column_name = 'extra'"),
        "0",
        "the broken migration's first statement was kept"
    );
    assert_eq!(
        described(&dev).map(|r| r.status),
        Some(200),
        "the API stopped serving the old schema"
    );
    assert_eq!(
        dev.log_text().matches("API on http").count(),
        starts,
        "the API was restarted for a migration that failed"
    );
}
