//! See tests/it/hostile.rs. Connections on a bad day: servers that stall or are not PostgreSQL,
//! locks another session holds, flag values that overflow, server errors, and passwords (in argv,
//! in `+`/`%2B` spellings, from PGPASSWORD and ~/.pgpass).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::bootstrap::{assert_code, sandbox};
use crate::support::fake_pg;
use crate::support::pg::TestDb;
use crate::support::{CliTest, stderr, stdout};

/// Everything a run printed.
fn everything(output: &Output) -> String {
    format!("{}\n{}", stdout(output), stderr(output))
}

fn project() -> (CliTest, PathBuf) {
    let test = CliTest::new();
    let project = sandbox(&test, "items");
    (test, project)
}

/// Run `cmd` to its end, timed; one still running after a minute hangs: killed, and the test fails
/// (rather than hanging the suite as the code before the fix did).
fn timed(cmd: &mut std::process::Command) -> (Output, Duration) {
    let started = Instant::now();
    let child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let pid = child.id();
    let (done, finished) = mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if finished.recv_timeout(Duration::from_secs(60)).is_err() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            return true;
        }
        false
    });
    let output = child.wait_with_output().unwrap();
    let _ = done.send(());
    assert!(!watchdog.join().unwrap(), "{cmd:?} hung: killed after 60s");
    (output, started.elapsed())
}

/// `modkit bootstrap --db URL --project P ARGS` and `modkit doctor P --db URL ARGS`, timed.
fn both(test: &CliTest, project: &Path, url: &str, args: &[&str]) -> [(Output, Duration); 2] {
    [
        timed(
            test.command()
                .args(["bootstrap", "--db", url, "--project"])
                .arg(project)
                .args(args),
        ),
        timed(
            test.command()
                .arg("doctor")
                .arg(project)
                .args(["--db", url])
                .args(args),
        ),
    ]
}

#[test]
fn stalled_server_after_login_times_out() {
    let port = fake_pg::stalled_after_login();
    let (test, project) = project();
    let url = format!("postgres://app@127.0.0.1:{port}/app");
    for (output, elapsed) in both(&test, &project, &url, &["--connect-timeout", "2"]) {
        assert_code(&output, 2);
        assert!(
            elapsed >= Duration::from_millis(1900) && elapsed < Duration::from_secs(8),
            "took {elapsed:?} with --connect-timeout 2"
        );
        let err = stderr(&output);
        assert!(
            err.contains(&format!(
                "PostgreSQL at 127.0.0.1:{port} accepted the login but did not answer a query within 2s"
            )),
            "{err}"
        );
        assert!(err.contains("--connect-timeout"), "{err}");
    }
}

#[test]
fn stalled_pooled_connection_times_out() {
    // The first connection (modkit's probe) works; the pool's next one stalls after login.
    let port = fake_pg::stalls_after_first_connection();
    let (test, project) = project();
    let url = format!("postgres://app@127.0.0.1:{port}/app");
    let (output, elapsed) = timed(
        test.command()
            .args(["bootstrap", "--connect-timeout", "2", "--db", &url, "--project"])
            .arg(&project),
    );
    assert_code(&output, 2);
    assert!(
        elapsed < Duration::from_secs(8),
        "took {elapsed:?} with --connect-timeout 2"
    );
    let err = stderr(&output);
    assert!(
        err.contains(&format!(
            "PostgreSQL at 127.0.0.1:{port} gave no usable connection within 2s"
        )),
        "{err}"
    );
}

#[test]
fn garbage_server_is_not_postgres() {
    // Garbage as the answer to the very first message (the SSLRequest), and garbage after a
    // PostgreSQL-like "no TLS" as the answer to the startup message.
    for port in [
        fake_pg::answering(b"\x00\x13\x37garbage\xff\xfe"),
        fake_pg::garbage_after_startup(b"\x00\x13\x37garbage\xff\xfe"),
    ] {
        let (test, project) = project();
        let url = format!("postgres://app@127.0.0.1:{port}/app");
        for (output, elapsed) in both(&test, &project, &url, &["--connect-timeout", "5"]) {
            assert_code(&output, 2);
            assert!(elapsed < Duration::from_secs(8), "took {elapsed:?}");
            let err = stderr(&output);
            assert!(
                err.contains(&format!(
                    "the server at 127.0.0.1:{port} answered with bytes that are not the PostgreSQL protocol (0x00 0x13 0x37"
                )) && err.contains("not PostgreSQL"),
                "{err}"
            );
            assert!(err.contains("5432"), "the expected port is named:\n{err}");
            assert!(!err.contains("SSLRequest"), "{err}");
        }
    }
}

#[test]
fn http_server_on_the_port_is_named() {
    let port =
        fake_pg::answering(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    let (test, project) = project();
    let url = format!("postgres://app@127.0.0.1:{port}/app");
    for (output, _) in both(&test, &project, &url, &["--connect-timeout", "5"]) {
        assert_code(&output, 2);
        let err = stderr(&output);
        assert!(
            err.contains(&format!(
                "the server at 127.0.0.1:{port} answered like an HTTP server, not PostgreSQL"
            )),
            "{err}"
        );
        assert!(err.contains("PostgreSQL's port (5432 by default)"), "{err}");
        assert!(!err.contains("0x48"), "{err}");
    }
}

/// A session holding `LOCK TABLE sys_tenant IN ACCESS EXCLUSIVE MODE` in an open transaction
/// until dropped. Returns with the lock held, and the session's pid.
struct HeldLock {
    pid: i32,
    release: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HeldLock {
    fn on_sys_tenant(db: &TestDb) -> Self {
        use sqlx::{Connection, Row};
        let url = db.url().to_string();
        let (pid_tx, pid_rx) = mpsc::channel();
        let (release, release_rx) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
                sqlx::raw_sql("BEGIN; LOCK TABLE public.sys_tenant IN ACCESS EXCLUSIVE MODE")
                    .execute(&mut conn)
                    .await
                    .unwrap();
                let pid: i32 = sqlx::query("SELECT pg_backend_pid()")
                    .fetch_one(&mut conn)
                    .await
                    .unwrap()
                    .get(0);
                pid_tx.send(pid).unwrap();
                // Until released (or the test ends).
                let _ = tokio::task::spawn_blocking(move || release_rx.recv()).await;
                let _ = conn.close().await;
            });
        });
        let pid = pid_rx.recv_timeout(Duration::from_secs(30)).unwrap();
        Self {
            pid,
            release: Some(release),
            thread: Some(thread),
        }
    }
}

impl Drop for HeldLock {
    fn drop(&mut self) {
        drop(self.release.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Run `cmd`, noting when each stderr line arrived.
fn timed_stderr(cmd: &mut std::process::Command) -> (Option<i32>, Vec<(Duration, String)>, Duration) {
    let started = Instant::now();
    let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let lines = BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .map(|line| (started.elapsed(), line))
        .collect();
    let status = child.wait().unwrap();
    (status.code(), lines, started.elapsed())
}

#[test]
fn lock_held_on_sys_tenant_is_announced_and_bounded() {
    let db = TestDb::new();
    let (test, project) = project();
    let bootstrap = |args: &[&str]| {
        let mut cmd = test.command();
        cmd.args(["bootstrap", "--db", db.url(), "--project"])
            .arg(&project)
            .args(args);
        cmd
    };
    assert_code(&bootstrap(&[]).output().unwrap(), 0);

    let lock = HeldLock::on_sys_tenant(&db);
    let mut doctor = test.command();
    doctor.arg("doctor").arg(&project).args(["--db", db.url()]);
    for cmd in [&mut bootstrap(&[]), &mut doctor] {
        let (code, lines, elapsed) = timed_stderr(cmd.args(["--lock-timeout", "5"]));
        let all: String = lines.iter().map(|(t, l)| format!("[{t:?}] {l}\n")).collect();
        assert_eq!(code, Some(2), "{all}");
        // Announced within a few seconds, naming the relation and the holder.
        let (at, _) = lines
            .iter()
            .find(|(_, l)| l.starts_with("warning: waiting for a lock on table public.sys_tenant"))
            .unwrap_or_else(|| panic!("no announcement:\n{all}"));
        assert!(*at < Duration::from_secs(4), "announced after {at:?}:\n{all}");
        assert!(all.contains(&format!("held by pid {} (", lock.pid)), "{all}");
        // Bounded by --lock-timeout, and the error names the lock, the holder and the fix.
        assert!(
            elapsed >= Duration::from_millis(4500) && elapsed < Duration::from_secs(15),
            "took {elapsed:?} with --lock-timeout 5:\n{all}"
        );
        assert!(
            all.contains("error: gave up after 5s waiting for a lock on table public.sys_tenant"),
            "{all}"
        );
        assert!(
            all.contains(&format!("pg_terminate_backend({})", lock.pid)) && all.contains("--lock-timeout"),
            "{all}"
        );
    }
    drop(lock);
    assert_code(&bootstrap(&["--tenant", "acme"]).output().unwrap(), 0);
}

#[test]
fn lock_timeout_zero_waits_until_the_lock_is_released() {
    let db = TestDb::new();
    let (test, project) = project();
    let mut cmd = test.command();
    cmd.args(["bootstrap", "--db", db.url(), "--project"])
        .arg(&project);
    assert_code(&cmd.output().unwrap(), 0);
    let lock = HeldLock::on_sys_tenant(&db);
    let mut child = cmd
        .args(["--lock-timeout", "0", "--tenant", "acme"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr_lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let first = stderr_lines.next().unwrap().unwrap();
    assert!(
        first.contains("waiting for a lock on table public.sys_tenant") && first.contains("--lock-timeout 0"),
        "{first}"
    );
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        child.try_wait().unwrap().is_none(),
        "gave up while the lock was held"
    );
    drop(lock);
    assert_eq!(child.wait().unwrap().code(), Some(0));
    assert_eq!(
        db.scalar("SELECT count(*) FROM public.sys_tenant WHERE code = 'acme'"),
        "1"
    );
}

#[test]
fn connect_timeout_overflow_is_a_usage_error() {
    let (test, project) = project();
    let huge = "18446744073709551615";
    let project = project.to_string_lossy().to_string();
    for args in [
        &["bootstrap", "--project", &project, "--connect-timeout", huge][..],
        &["bootstrap", "--project", &project, "--lock-timeout", huge],
        &["bootstrap", "--project", &project, "--jobs", huge],
        &["bootstrap", "--project", &project, "--jobs", "0"],
        &["bootstrap", "--project", &project, "--connect-timeout", "0"],
        &["doctor", &project, "--db", "--connect-timeout", huge],
        &["doctor", &project, "--db", "--lock-timeout", huge],
    ] {
        let output = test.run(args);
        assert_code(&output, 2);
        let err = stderr(&output);
        let flag = args[args.len() - 2];
        assert!(
            err.contains("invalid value") && err.contains(flag),
            "{args:?}:\n{err}"
        );
        assert!(!err.contains("panicked"), "{args:?}:\n{err}");
    }
}

#[test]
fn plus_encoded_password_never_printed() {
    let (port, seen) = fake_pg::refusing_logins();
    let (test, project) = project();
    // `+` and `%2B` in the password: the driver sends the percent-decoded text (`p+q+r`) for the
    // URL's password and the form-decoded one (`x+y z`) for a `password=` parameter; the server
    // quotes what it got. No spelling may show.
    let spellings = ["p%2Bq+r", "p+q+r", "p+q r", "p%2bq", "x%2By+z", "x+y z", "x+y+z"];
    for url in [
        format!("postgres://app:p%2Bq+r@127.0.0.1:{port}/app"),
        format!("postgres://app@127.0.0.1:{port}/app?password=x%2By+z"),
    ] {
        for args in [&[][..], &["-v", "--format", "json"][..]] {
            let output = test
                .command()
                .args(["bootstrap", "--db", &url, "--project"])
                .arg(&project)
                .args(args)
                .output()
                .unwrap();
            assert_code(&output, 2);
            let all = everything(&output);
            assert!(all.contains("refused the login"), "{all}");
            for secret in spellings {
                assert!(!all.contains(secret), "`{secret}` was printed:\n{all}");
            }
            // The same URL from DATABASE_URL, and doctor.
            let output = test
                .command()
                .env("DATABASE_URL", &url)
                .arg("doctor")
                .arg(&project)
                .arg("--db")
                .output()
                .unwrap();
            assert_code(&output, 2);
            let all = everything(&output);
            for secret in spellings {
                assert!(!all.contains(secret), "`{secret}` was printed:\n{all}");
            }
        }
    }
    let seen = seen.lock().unwrap();
    assert!(
        seen.iter().any(|p| p == "p+q+r") && seen.iter().any(|p| p == "x+y z"),
        "{seen:?}"
    );
}

#[test]
fn pgpassword_and_pgpass_keep_the_password_out_of_argv() {
    let (port, seen) = fake_pg::refusing_logins();
    let (test, project) = project();
    let url = format!("postgres://app@127.0.0.1:{port}/app");
    let home = test.path("home");
    std::fs::create_dir_all(&home).unwrap();
    let pgpass = |path: &Path, password: &str| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(path, format!("127.0.0.1:{port}:app:app:{password}\n")).unwrap();
        // Like libpq, the driver ignores a password file others may read.
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    };
    pgpass(&test.path("passfile"), "FromPassFile");
    pgpass(&home.join(".pgpass"), "FromHomePgpass");
    let run = |env: &[(&str, &str)], db: &str| {
        let mut cmd = test.command();
        cmd.env("HOME", &home)
            .args(["bootstrap", "--connect-timeout", "5", "--db", db, "--project"])
            .arg(&project);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let before = seen.lock().unwrap().len();
        let output = cmd.output().unwrap();
        let got = seen.lock().unwrap()[before..].to_vec();
        (output, got)
    };
    let passfile = test.path("passfile").to_string_lossy().to_string();
    for (env, expected) in [
        (&[("PGPASSWORD", "FromPgPassword")][..], "FromPgPassword"),
        (&[("PGPASSFILE", passfile.as_str())][..], "FromPassFile"),
        (&[][..], "FromHomePgpass"),
    ] {
        let (output, got) = run(env, &url);
        assert_code(&output, 2);
        assert_eq!(got, [expected], "{env:?}: the password the server received");
        let all = everything(&output);
        assert!(all.contains("refused the login"), "{all}");
        assert!(!all.contains(expected), "`{expected}` was printed:\n{all}");
        assert!(
            !all.contains("warning:"),
            "no password in argv, no warning:\n{all}"
        );
    }
    // A password in --db still works, with a warning that says why and what to use instead.
    let (output, got) = run(&[], &format!("postgres://app:InArgv@127.0.0.1:{port}/app"));
    assert_eq!(got, ["InArgv"]);
    let err = stderr(&output);
    let warning = err
        .lines()
        .find(|l| l.starts_with("warning:"))
        .unwrap_or_else(|| panic!("no warning:\n{err}"));
    assert!(
        warning.contains("--db")
            && warning.contains("ps")
            && warning.contains("PGPASSWORD")
            && warning.contains("pgpass")
            && warning.contains("DATABASE_URL"),
        "{warning}"
    );
    assert!(!everything(&output).contains("InArgv"), "{}", everything(&output));
    // A password file others may read is ignored (as libpq does), and that is said.
    std::fs::set_permissions(
        home.join(".pgpass"),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    let (output, got) = run(&[], &url);
    assert!(!got.contains(&"FromHomePgpass".to_string()), "{got:?}");
    let err = stderr(&output);
    assert!(
        err.contains("warning: ~/.pgpass is ignored: group or others may read it (mode 644)")
            && err.contains("chmod 600"),
        "{err}"
    );
    // From DATABASE_URL: not in argv, no warning.
    let mut cmd = test.command();
    cmd.env("HOME", &home)
        .env(
            "DATABASE_URL",
            format!("postgres://app:InEnv@127.0.0.1:{port}/app"),
        )
        .args(["bootstrap", "--project"])
        .arg(&project);
    let output = cmd.output().unwrap();
    assert_code(&output, 2);
    assert!(!stderr(&output).contains("warning:"), "{}", stderr(&output));
}

#[test]
fn server_error_printed_once() {
    // A `sys_tenant` that is not modkit's: the catalog read fails with a server error.
    let db = TestDb::new();
    db.execute("CREATE TABLE public.sys_tenant (x int)");
    let (test, project) = project();
    for (output, _) in both(&test, &project, db.url(), &[]) {
        assert_code(&output, 2);
        let err = stderr(&output);
        assert_eq!(
            err.matches("column \"id\" does not exist").count(),
            1,
            "said once:\n{err}"
        );
        assert!(
            !err.contains(" at line "),
            "no line of PostgreSQL's C source:\n{err}"
        );
        assert!(!err.contains("error returned from database"), "{err}");
        assert!(err.contains("SQLSTATE 42703"), "{err}");
    }
}
