//! Through a transaction-pooling PgBouncer: the locks are transaction-scoped, and what modkit
//! prepares per connection (the check before each COMMIT, named after a hash of its text) is only a
//! shortcut: a tenant whose connection lacks it is done anew with the check in full, so pooled
//! server connections are shared safely between runs.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::{Child, Stdio};
use std::time::Duration;

use super::*;
use crate::support::pg::{PgServer, TestDb};
use crate::support::process::{ChildGuard, free_port, port_is_open};

/// A PgBouncer in front of the test server, `pool_mode = transaction`, with a small pool so that
/// concurrent clients share server connections. Stopped when dropped.
struct PgBouncer {
    port: u16,
    dir: tempfile::TempDir,
    _process: ChildGuard,
}

impl PgBouncer {
    fn start() -> Self {
        let binary = ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"]
            .into_iter()
            .find(|p| Path::new(p).is_file())
            .expect("pgbouncer is not installed: scripts/test.sh installs it (apt-get install pgbouncer)");
        let server = url::Url::parse(PgServer::shared().url()).unwrap();
        let user = if server.username().is_empty() {
            "postgres"
        } else {
            server.username()
        };
        // Readable by the `postgres` user that PgBouncer runs as when we are root.
        let dir = tempfile::Builder::new()
            .prefix("modkit-pgbouncer-")
            .tempdir()
            .unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let password = server.password().unwrap_or("");
        std::fs::write(
            dir.path().join("users.txt"),
            format!("\"{user}\" \"{password}\"\n"),
        )
        .unwrap();
        let port = free_port();
        let ini = format!(
            "[databases]\n* = host={} port={} user={user}{}\n\n[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\n\
             unix_socket_dir =\nauth_type = trust\nauth_file = {}\npool_mode = transaction\ndefault_pool_size = 3\n\
             max_client_conn = 200\nignore_startup_parameters = extra_float_digits\nlogfile = {}\n",
            server.host_str().unwrap_or("127.0.0.1"),
            server.port().unwrap_or(5432),
            if password.is_empty() {
                String::new()
            } else {
                format!(" password={password}")
            },
            dir.path().join("users.txt").display(),
            dir.path().join("pgbouncer.log").display(),
        );
        let ini_path = dir.path().join("pgbouncer.ini");
        std::fs::write(&ini_path, ini).unwrap();
        for file in ["users.txt", "pgbouncer.ini"] {
            std::fs::set_permissions(dir.path().join(file), std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        let mut cmd = Command::new(binary);
        cmd.arg(&ini_path).stdout(Stdio::null()).stderr(Stdio::null());
        // PgBouncer refuses to run as root: run it as `postgres` (directly, not under runuser,
        // which would hold a SIGTERM for seconds before passing it on).
        if is_root() {
            let (uid, gid) = postgres_user();
            cmd.uid(uid).gid(gid);
        }
        let mut process = ChildGuard::spawn(&mut cmd);
        wait_for("pgbouncer to listen", Duration::from_secs(10), || {
            if let Some(status) = process.try_wait() {
                let log = std::fs::read_to_string(dir.path().join("pgbouncer.log")).unwrap_or_default();
                panic!("pgbouncer exited with {status}:\n{log}");
            }
            port_is_open(port).then_some(())
        });
        Self {
            port,
            dir,
            _process: process,
        }
    }

    /// `db`'s URL, through PgBouncer.
    fn url(&self, db: &TestDb) -> String {
        let mut url = url::Url::parse(db.url()).unwrap();
        url.set_port(Some(self.port)).unwrap();
        url.to_string()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pgbouncer.log")).unwrap_or_default()
    }
}

/// The uid and gid of the `postgres` user, from /etc/passwd.
fn postgres_user() -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    let fields: Vec<&str> = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f[0] == "postgres")
        .expect("no postgres user (apt-get install postgresql makes it)");
    (fields[2].parse().unwrap(), fields[3].parse().unwrap())
}

fn is_root() -> bool {
    unsafe extern "C" {
        fn geteuid() -> u32;
    }
    // SAFETY: geteuid(2) has no arguments and cannot fail.
    unsafe { geteuid() == 0 }
}

#[test]
fn bootstrap_through_pgbouncer_in_transaction_mode() {
    let db = TestDb::new();
    let bouncer = PgBouncer::start();
    let test = cli_for(&db).with_filter(bouncer.url(&db), "[BOUNCER]");
    let project = sandbox(&test, "items");
    let file = tenants_file(&test, "tenants.txt", 60);
    let url = bouncer.url(&db);
    let args = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "bootstrap",
            "--db",
            &url,
            "--project",
            project.to_str().unwrap(),
            "--tenants-file",
            file.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };

    // Three runs at once, 4 connections each, over 3 server connections: every server connection
    // is used by several clients in turn.
    let children: Vec<Child> = (0..3)
        .map(|_| {
            test.command()
                .args(args(&["--jobs", "4"]))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{}\npgbouncer log:\n{}",
            transcript(&output),
            bouncer.log()
        );
    }
    assert_eq!(db.scalar("SELECT count(*) FROM sys_tenant"), "61");
    assert!(
        invariant_violations(&db, "items", 1).is_empty(),
        "{:?}",
        invariant_violations(&db, "items", 1)
    );

    // A no-op re-run and a --check through the same pool.
    let output = test.command().args(args(&[])).output().unwrap();
    assert_code(&output, 0);
    assert!(stdout(&output).contains("Nothing to do"), "{}", stdout(&output));
    let output = test.command().args(args(&["--check"])).output().unwrap();
    assert_code(&output, 0);
    // No advisory lock is left behind on a pooled server connection.
    assert_eq!(
        db.scalar(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' \
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ),
        "0"
    );
}
