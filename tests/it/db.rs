//! `modkit db`: the project's own local PostgreSQL in `.modkit/pg` (src/localdb). Each test makes a
//! cluster of its own with the machine's PostgreSQL (pg_config / PATH / /usr/lib/postgresql), in a
//! project a normal user owns: when the tests run as root, the folder is given to `nobody`, as the
//! server must not run as root.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use crate::bootstrap::sandbox;
use crate::support::pg::psql_scalar;
use crate::support::process::{free_port, port_is_open, wait_for};
use crate::support::{CliTest, stderr, stdout, transcript};

/// The uid and gid of `nobody`, who owns the projects of these tests when they run as root.
pub fn nobody() -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").expect("cannot read /etc/passwd");
    passwd
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f[0] == "nobody").then(|| (f[2].parse().unwrap(), f[3].parse().unwrap()))
        })
        .expect("no user `nobody` to run the local database as (the tests never create users)")
}

pub fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Give `dir` (recursively) to `nobody` and open the temp folder to it, when running as root.
pub fn give_to_a_normal_user(test: &CliTest, dir: &Path) {
    if !is_root() {
        return;
    }
    let (uid, gid) = nobody();
    std::fs::set_permissions(test.root(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let status = std::process::Command::new("chown")
        .arg("-R")
        .arg(format!("{uid}:{gid}"))
        .arg(dir)
        .status()
        .expect("cannot run chown");
    assert!(status.success());
}

/// A sandbox fixture a normal user owns, whose local database is stopped when the test ends.
struct Local {
    test: CliTest,
    dir: PathBuf,
}

impl Local {
    fn new() -> Self {
        let test = CliTest::new();
        let dir = sandbox(&test, "items");
        give_to_a_normal_user(&test, &dir);
        Self { test, dir }
    }

    fn db(&self, args: &[&str]) -> Output {
        self.test
            .command()
            .arg("db")
            .args(args)
            .arg("--project")
            .arg(&self.dir)
            .output()
            .expect("cannot run modkit")
    }

    #[track_caller]
    fn db_ok(&self, args: &[&str]) -> String {
        let out = self.db(args);
        assert!(out.status.success(), "modkit db {args:?}:\n{}", transcript(&out));
        format!("{}{}", stdout(&out), stderr(&out))
    }

    /// `modkit db start` running in the background, its output captured.
    fn spawn_start(&self) -> std::process::Child {
        self.test
            .command()
            .args(["db", "start", "--project"])
            .arg(&self.dir)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("cannot run modkit")
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.join(".modkit/pg").join(name)
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.file(name))
            .unwrap()
            .trim()
            .to_string()
    }

    fn port(&self) -> u16 {
        self.read("port").parse().unwrap()
    }

    fn pid(&self) -> i32 {
        let text = std::fs::read_to_string(self.file("data/postmaster.pid")).unwrap();
        text.lines().next().unwrap().parse().unwrap()
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        let _ = self.db(&["stop"]);
    }
}

#[test]
fn start_makes_bootstraps_and_reuses_the_local_database() {
    let local = Local::new();
    let out = local.db_ok(&["start"]);
    assert!(out.contains("made and started the local database"), "{out}");
    assert!(
        out.contains("dev grants       2 granted"),
        "the first start bootstraps:\n{out}"
    );
    let url = local.read("url");
    assert_eq!(
        psql_scalar(
            &url,
            "SELECT count(*) FROM public.sys_user_role WHERE user_id = 'dev'"
        ),
        "1",
        "the dev user holds the developer role in the dev tenant"
    );
    assert!(local.file("bootstrapped").is_file());
    let pid = local.pid();

    // A second start reuses the running server: no output, same pid, nothing bootstrapped again.
    let again = local.db_ok(&["start"]);
    assert!(again.trim().is_empty(), "{again}");
    assert_eq!(local.pid(), pid);
    let status = local.db_ok(&["status"]);
    assert!(status.contains(&format!("running (pid {pid})")), "{status}");
    assert!(status.contains("bootstrapped: yes"), "{status}");

    local.db_ok(&["stop"]);
    assert!(!port_is_open(local.port()), "the server still listens after stop");
    let stopped = local.db(&["status"]);
    assert_eq!(
        stopped.status.code(),
        Some(1),
        "status of a stopped database exits 1"
    );
}

#[test]
fn a_stale_pid_file_after_a_crash_is_recovered() {
    let local = Local::new();
    local.db_ok(&["start"]);
    // A crash: the postmaster is killed and leaves its postmaster.pid behind.
    let pid = local.pid();
    // SAFETY: a plain kill(2) of the server this test started.
    unsafe { libc_kill(pid, 9) };
    wait_for(
        "the killed server to close its port",
        Duration::from_secs(10),
        || (!port_is_open(local.port())).then_some(()),
    );
    assert!(local.file("data/postmaster.pid").exists());
    let status = local.db(&["status"]);
    assert!(stdout(&status).contains("stopped"), "{}", transcript(&status));
    local.db_ok(&["start"]);
    assert_ne!(local.pid(), pid);
    assert_eq!(psql_scalar(&local.read("url"), "SELECT 1"), "1");

    // A pid file naming a process that is not postgres (a reboot reused the pid): stale too.
    local.db_ok(&["stop"]);
    std::fs::write(
        local.file("data/postmaster.pid"),
        format!("{}\n", std::process::id()),
    )
    .unwrap();
    local.db_ok(&["start"]);
    assert_eq!(psql_scalar(&local.read("url"), "SELECT 1"), "1");
}

unsafe fn libc_kill(pid: i32, signal: i32) {
    unsafe extern "C" {
        fn kill(pid: i32, sig: i32) -> i32;
    }
    // SAFETY: the caller names a process it started.
    unsafe { kill(pid, signal) };
}

#[test]
fn the_port_is_kept_and_chosen_again_only_when_another_program_took_it() {
    let local = Local::new();
    local.db_ok(&["start"]);
    let port = local.port();
    local.db_ok(&["stop"]);
    local.db_ok(&["start"]);
    assert_eq!(local.port(), port, "a restart keeps the port");
    local.db_ok(&["stop"]);

    let squatter = std::net::TcpListener::bind(("127.0.0.1", port)).expect("cannot take the port");
    local.db_ok(&["start"]);
    drop(squatter);
    let moved = local.port();
    assert_ne!(moved, port);
    assert!(local.read("url").contains(&format!("@127.0.0.1:{moved}/")));
    assert_eq!(psql_scalar(&local.read("url"), "SELECT 1"), "1");
    let _ = free_port();
}

#[test]
fn the_password_is_in_private_files_and_never_printed() {
    let local = Local::new();
    let mut printed = local.db_ok(&["start"]);
    let password = local.read("password");
    assert_eq!(password.len(), 32, "a random 128-bit password, hex");
    for args in [
        &["status"][..],
        &["url"],
        &["logs"],
        &["start"],
        &["stop"],
        &["reset"],
    ] {
        let out = local.db(args);
        printed.push_str(&transcript(&out));
        if args == ["url"] {
            assert!(
                stdout(&out).contains("postgres://postgres:***@127.0.0.1:"),
                "{}",
                transcript(&out)
            );
        }
        if args == ["status"] {
            for name in ["password", "url", "port"] {
                let mode = std::fs::metadata(local.file(name)).unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "{name} is mode {mode:o}");
            }
            let mode = std::fs::metadata(local.file("")).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700, ".modkit/pg is mode {mode:o}");
        }
    }
    assert!(
        !printed.contains(&password),
        "the password was printed:\n{printed}"
    );
    assert!(!local.file("").exists(), "reset deletes .modkit/pg");
}

#[test]
fn bootstrap_without_a_url_uses_the_local_database() {
    let local = Local::new();
    let out = local
        .test
        .command()
        .arg("bootstrap")
        .arg("--project")
        .arg(&local.dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", transcript(&out));
    let text = stdout(&out);
    assert!(
        text.contains("database         created (the local database in .modkit/pg)"),
        "{text}"
    );
    assert!(!text.contains(&local.read("password")));
    assert!(local.file("bootstrapped").is_file());
    let check = local
        .test
        .command()
        .args(["bootstrap", "--check", "--project"])
        .arg(&local.dir)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "nothing pending after it:\n{}",
        transcript(&check)
    );
}

#[test]
fn as_root_a_project_owned_by_root_is_refused_and_nothing_is_written() {
    if !is_root() {
        // The refusal is about root; as a normal user the same start simply works (tested above).
        return;
    }
    let test = CliTest::new();
    let dir = sandbox(&test, "items");
    let out = test
        .command()
        .args(["db", "start", "--project"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", transcript(&out));
    let err = stderr(&out);
    assert!(err.contains("PostgreSQL does not run as root"), "{err}");
    let hint = err.lines().find(|l| l.starts_with("hint:")).unwrap_or_default();
    assert!(
        hint.contains("DATABASE_URL") && hint.contains("--run-as"),
        "{hint}"
    );
    assert!(!dir.join(".modkit").exists(), "a refused start wrote .modkit");

    // --run-as names a user that does not exist: refused, never created.
    let out = test
        .command()
        .args(["db", "start", "--run-as", "modkit-no-such-user", "--project"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", transcript(&out));
    assert!(stderr(&out).contains("no such user"), "{}", transcript(&out));
}

#[test]
fn doctor_db_without_a_url_checks_the_local_database_and_never_starts_it() {
    let local = Local::new();
    let doctor = || {
        local
            .test
            .command()
            .args(["doctor", "--db", "--format", "json"])
            .arg(&local.dir)
            .output()
            .unwrap()
    };
    local.db_ok(&["start"]);
    let out = doctor();
    let text = stdout(&out);
    assert!(
        text.contains("postgres://postgres:***@127.0.0.1:"),
        "{}",
        transcript(&out)
    );
    assert!(!text.contains("db-pending"), "{text}");
    assert!(!text.contains(&local.read("password")), "{text}");
    local.db_ok(&["stop"]);
    let out = doctor();
    assert_eq!(out.status.code(), Some(2), "{}", transcript(&out));
    assert!(
        stderr(&out).contains("cannot reach PostgreSQL"),
        "{}",
        transcript(&out)
    );
    assert!(!port_is_open(local.port()), "doctor started the local database");
}

#[test]
fn two_projects_run_their_local_databases_side_by_side() {
    let (one, two) = (Local::new(), Local::new());
    one.db_ok(&["start"]);
    two.db_ok(&["start"]);
    assert_ne!(one.port(), two.port());
    assert_ne!(one.read("password"), two.read("password"));
    for local in [&one, &two] {
        assert_eq!(
            psql_scalar(&local.read("url"), "SELECT count(*) FROM public.sys_tenant"),
            "1"
        );
    }
    one.db_ok(&["stop"]);
    assert!(port_is_open(two.port()), "stopping one stopped the other");
}

#[test]
fn start_outside_a_project_is_refused_and_writes_nothing() {
    let test = CliTest::new();
    let out = test.run(&["db", "start"]);
    assert_eq!(out.status.code(), Some(2), "{}", transcript(&out));
    assert!(
        stderr(&out).contains("is not a modkit project"),
        "{}",
        transcript(&out)
    );
    assert!(!test.path(".modkit").exists());
}

#[test]
fn doctor_warns_when_the_local_database_has_no_binaries() {
    let test = CliTest::new();
    let init = test.run(&["init", "items"]);
    assert!(init.status.success(), "{}", transcript(&init));
    let doctor = |bin: &Path| {
        test.command()
            .env("MODKIT_PG_BIN", bin)
            // The sandbox is not npm-installed here: the toolchain's own errors are not this test's.
            .args(["doctor", "items", "--ignore", "toolchain"])
            .output()
            .unwrap()
    };
    let out = doctor(test.root());
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(0), "a warning, not an error:\n{text}");
    assert!(text.contains("local-db-no-binaries"), "{text}");
    assert!(text.contains("MODKIT_PG_BIN"), "{text}");
    // With a server named in modkit.toml the local database is not used: no warning.
    test.replace_in_file(
        "items/modkit.toml",
        "[database]\n",
        "[database]\nurl = \"postgres://me@127.0.0.1:5432/items_dev\"\n",
    );
    let out = doctor(test.root());
    assert!(
        !stdout(&out).contains("local-db-no-binaries"),
        "{}",
        transcript(&out)
    );
}

/// A `.modkit` that is a symbolic link pointed `modkit db reset` at a folder outside the project,
/// which it deleted. Every action that starts, stops or deletes now refuses the link first.
#[test]
fn db_reset_never_follows_a_symlinked_modkit_folder_out_of_the_project() {
    let test = CliTest::new();
    let init = test.run(&["init", "items"]);
    assert!(init.status.success(), "{}", transcript(&init));
    let victim = test.path("victim");
    std::fs::create_dir_all(victim.join("pg/data")).unwrap();
    std::fs::write(victim.join("pg/data/important"), "keep").unwrap();
    std::os::unix::fs::symlink(&victim, test.path("items/.modkit")).unwrap();
    for action in ["reset", "stop", "start"] {
        let out = test
            .command()
            .current_dir(test.path("items"))
            .args(["db", action])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{action}: {}", transcript(&out));
        assert!(
            stderr(&out).contains(".modkit is a symbolic link"),
            "{action}: {}",
            transcript(&out)
        );
        assert_eq!(
            std::fs::read_to_string(victim.join("pg/data/important")).unwrap(),
            "keep",
            "{action}"
        );
    }
}

/// Four `modkit db start` at once on a project with no cluster: one initdb, one server, every start
/// exits 0 with the same URL, and the cluster is bootstrapped. Without the start lock, two initdb ran
/// into the same folder (or one deleted the other's half-made cluster).
#[test]
fn simultaneous_starts_make_one_cluster() {
    let local = Local::new();
    let children: Vec<_> = (0..4).map(|_| local.spawn_start()).collect();
    let outs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    for out in &outs {
        assert!(
            out.status.success(),
            "a simultaneous start failed:\n{}",
            transcript(out)
        );
    }
    let made = outs
        .iter()
        .filter(|o| stdout(o).contains("made and started the local database"))
        .count();
    assert_eq!(
        made,
        1,
        "one start makes the cluster:\n{}",
        outs.iter().map(transcript).collect::<String>()
    );
    let url = local.read("url");
    assert_eq!(
        psql_scalar(&url, "SELECT count(*) FROM public.sys_tenant WHERE code = 'dev'"),
        "1"
    );
    assert!(local.file("bootstrapped").is_file());
    assert!(
        !local.dir.join(".modkit/pg.lock").exists(),
        "the start lock was left behind"
    );
}

/// A server another start has just spawned runs and is ours, but refuses connections until it is
/// ready ("the database system is starting up": CI saw `modkit db start` and `npm run db:start`
/// race so). A start that finds it so waits for the start that holds the lock instead of taking it
/// for running. Here the test holds the lock while the pid file says `starting`.
#[test]
fn a_start_never_takes_a_server_still_starting_up_for_running() {
    let local = Local::new();
    local.db_ok(&["start"]);
    let pid_file = local.file("data/postmaster.pid");
    let ready = std::fs::read_to_string(&pid_file).unwrap();
    let mut lines: Vec<&str> = ready.lines().collect();
    assert_eq!(lines.get(7).map(|l| l.trim()), Some("ready"), "{ready}");
    lines[7] = "starting";
    std::fs::write(&pid_file, format!("{}\n", lines.join("\n"))).unwrap();
    let lock = local.dir.join(".modkit/pg.lock");
    std::fs::create_dir(&lock).unwrap();
    std::fs::write(lock.join("pid"), format!("{}\n", std::process::id())).unwrap();
    give_to_a_normal_user(&local.test, &lock);

    let mut start = local.spawn_start();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let early = start.try_wait().unwrap();
    std::fs::write(&pid_file, &ready).unwrap();
    std::fs::remove_dir_all(&lock).unwrap();
    let out = start.wait_with_output().unwrap();
    assert!(
        early.is_none(),
        "the start took a server still starting up for running:\n{}",
        transcript(&out)
    );
    assert!(out.status.success(), "{}", transcript(&out));
}

/// A start killed while it held the lock (a crash, SIGKILL) leaves `.modkit/pg.lock` naming a dead
/// process: the next start takes it over instead of waiting for ever.
#[test]
fn a_lock_left_by_a_killed_start_is_taken_over() {
    let local = Local::new();
    let lock = local.dir.join(".modkit/pg.lock");
    std::fs::create_dir_all(&lock).unwrap();
    // A pid that is not running: past the kernel's pid_max is never a live process.
    std::fs::write(lock.join("pid"), "4194305\n").unwrap();
    // As root, a start works as the project's owner (src/localdb/owner.rs): its lock is theirs.
    give_to_a_normal_user(&local.test, &local.dir.join(".modkit"));
    let out = local.db_ok(&["start"]);
    assert!(out.contains("made and started the local database"), "{out}");
    assert!(!lock.exists(), "the stale lock is still there");
}

/// The foundation uses the same command: `modkit db start` in the host app's folder makes its own
/// local database (named after its modkit.toml), bootstraps the system tables, and stops.
#[test]
fn db_start_works_in_a_foundation_folder() {
    let test = CliTest::new();
    let dir = test.copy_fixture("foundation", "foundation");
    give_to_a_normal_user(&test, &dir);
    let db = |args: &[&str]| {
        test.command()
            .current_dir(&dir)
            .arg("db")
            .args(args)
            .output()
            .expect("cannot run modkit")
    };
    let start = db(&["start"]);
    assert!(start.status.success(), "{}", transcript(&start));
    assert!(
        stdout(&start).contains("made and started the local database"),
        "{}",
        transcript(&start)
    );
    let url = std::fs::read_to_string(dir.join(".modkit/pg/url")).unwrap();
    assert_eq!(
        psql_scalar(url.trim(), "SELECT to_regclass('public.sys_tenant') IS NOT NULL"),
        "t",
        "the foundation's database has the system tables"
    );
    let stop = db(&["stop"]);
    assert!(stop.status.success(), "{}", transcript(&stop));
}

/// As root, with a project root owns: the server must run as someone else. `--create-user` is the
/// one way modkit changes the host, and only when asked: it makes the system user `modkit-pg`. The
/// test gives modkit a private copy of /etc in a mount namespace, so this machine gains no user.
/// Not as root, the flag is refused and nothing is written.
#[test]
fn create_user_makes_a_system_user_only_when_asked() {
    let test = CliTest::new();
    let dir = sandbox(&test, "items");
    let db = |args: &[&str]| {
        test.command()
            .arg("db")
            .args(args)
            .arg("--project")
            .arg(&dir)
            .output()
            .expect("cannot run modkit")
    };
    if !is_root() {
        let out = db(&["start", "--create-user"]);
        assert_eq!(out.status.code(), Some(2), "{}", transcript(&out));
        assert!(
            stderr(&out).contains("--create-user: modkit does not run as root"),
            "{}",
            transcript(&out)
        );
        assert!(!dir.join(".modkit").exists());
        return;
    }
    // Root owns the project: without the flag, refused, with --create-user named in the hint.
    let refused = db(&["start"]);
    assert_eq!(refused.status.code(), Some(2), "{}", transcript(&refused));
    assert!(
        stderr(&refused).contains("--create-user"),
        "{}",
        transcript(&refused)
    );

    std::fs::set_permissions(test.root(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let etc = test.root().join("etc");
    let copy = std::process::Command::new("cp")
        .arg("-a")
        .arg("/etc")
        .arg(&etc)
        .status()
        .unwrap();
    assert!(copy.success());
    let out = std::process::Command::new("unshare")
        .args([
            "--mount",
            "--",
            "sh",
            "-c",
            "mount --bind \"$1\" /etc || exit 97; shift; exec \"$@\"",
            "sh",
        ])
        .arg(&etc)
        .arg(crate::support::bin())
        .args(["db", "start", "--create-user", "--project"])
        .arg(&dir)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", transcript(&out));
    assert!(
        stdout(&out).contains("created the system user modkit-pg"),
        "{}",
        transcript(&out)
    );
    let host = std::fs::read_to_string("/etc/passwd").unwrap();
    assert!(!host.contains("modkit-pg:"), "this machine gained a user");
    let copied = std::fs::read_to_string(etc.join("passwd")).unwrap();
    let uid: u32 = copied
        .lines()
        .find_map(|l| l.strip_prefix("modkit-pg:"))
        .and_then(|rest| rest.split(':').nth(1))
        .and_then(|uid| uid.parse().ok())
        .expect("modkit-pg in the namespace's /etc/passwd");
    assert_eq!(
        std::fs::metadata(dir.join(".modkit/pg/data")).unwrap().uid(),
        uid,
        "the cluster belongs to modkit-pg"
    );
    let url = std::fs::read_to_string(dir.join(".modkit/pg/url")).unwrap();
    assert_eq!(
        psql_scalar(
            url.trim(),
            "SELECT count(*) FROM public.sys_tenant WHERE code = 'dev'"
        ),
        "1"
    );
    // A stop needs no name: the cluster's owner is its uid.
    let stop = db(&["stop"]);
    assert!(stop.status.success(), "{}", transcript(&stop));
}

/// As root for a normal user: a project that user cannot reach (under a root-only 0700 folder, like
/// /root) is refused before initdb, naming the folder; initdb used to fail with a bare
/// "Permission denied". As a normal user the server runs as that user, who reached the project.
#[test]
fn a_project_the_server_user_cannot_reach_is_refused_naming_the_folder() {
    if !is_root() {
        return;
    }
    let test = CliTest::new();
    let dir = sandbox(&test, "items");
    give_to_a_normal_user(&test, &dir);
    std::fs::set_permissions(test.root(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let out = test
        .command()
        .args(["db", "start", "--project"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", transcript(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("cannot enter {} (mode 700", test.root().display())),
        "{err}"
    );
    assert!(!dir.join(".modkit/pg").exists(), "something was made");
}

/// doctor's toolchain line says what `npm run dev` will find: not made, running and bootstrapped,
/// stopped. It reads the state, and never starts the database.
#[test]
fn doctor_reports_whether_the_local_database_is_made_running_and_bootstrapped() {
    let local = Local::new();
    let doctor = || {
        let out = local
            .test
            .command()
            .arg("doctor")
            .arg(&local.dir)
            .output()
            .unwrap();
        stdout(&out)
            .lines()
            .find(|l| l.contains("database: the local one"))
            .unwrap_or_else(|| panic!("no database line:\n{}", transcript(&out)))
            .to_string()
    };
    assert!(doctor().contains("(not made yet: "), "{}", doctor());
    local.db_ok(&["start"]);
    let line = doctor();
    assert!(
        line.contains(&format!("(running, pid {}, bootstrapped)", local.pid())),
        "{line}"
    );
    local.db_ok(&["stop"]);
    assert!(doctor().contains("(made, bootstrapped, stopped)"), "{}", doctor());
    assert!(!port_is_open(local.port()), "doctor started the local database");
}
