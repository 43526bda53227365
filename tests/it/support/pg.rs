//! A real PostgreSQL for the tests, and one fresh database per test.
//!
//! [`PgServer::shared`] is the server of the whole test process, set up once:
//!
//! - with `MODKIT_TEST_DATABASE_URL` set (scripts/test.sh sets it), that server: its user must be
//!   allowed to `CREATE DATABASE`;
//! - otherwise a throwaway cluster started with `scripts/pg.sh` under `target/tmp/`, on a free port,
//!   stopped and deleted when the test process ends, however it ends (a watchdog process waits for
//!   this process's end of a pipe to close).
//!
//! No PostgreSQL at all is a test failure with a hint, never a silent skip. Under cargo-nextest,
//! which runs each test in a process of its own, set `MODKIT_TEST_DATABASE_URL` (or every test
//! starts a cluster of its own).
//!
//! [`TestDb::new`] creates `modkit_t_<pid>_<n>` on that server and drops it when the test passes. A
//! failing test keeps its database and prints its URL, to look at with `psql`.
//!
//! Every helper here is blocking (each call runs on a small runtime of its own): call them from plain
//! `#[test]` functions, not from inside a tokio runtime.
//!
//! ```ignore
//! let db = TestDb::new();
//! test.command().args(["bootstrap", "--db", db.url()]).output();
//! assert_eq!(db.scalar("SELECT count(*) FROM public.sys_tenant"), "1");
//! ```

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use sqlx::{Connection, PgConnection, Row};

use super::process::free_port;

pub const URL_VAR: &str = "MODKIT_TEST_DATABASE_URL";

#[derive(Debug)]
pub struct PgServer {
    /// A superuser (or CREATEDB) URL of the maintenance database.
    url: url::Url,
    /// Set when this process started the cluster.
    cluster: Option<Cluster>,
}

#[derive(Debug)]
struct Cluster {
    dir: PathBuf,
    port: u16,
    /// Never written; closing it (at process exit) tells the watchdog to stop the cluster.
    _watchdog: ChildStdin,
}

impl PgServer {
    /// The server of this test process, found or started on first use.
    pub fn shared() -> &'static PgServer {
        static SERVER: OnceLock<Result<PgServer, String>> = OnceLock::new();
        match SERVER.get_or_init(Self::find_or_start) {
            Ok(server) => server,
            Err(message) => panic!("{message}"),
        }
    }

    /// The maintenance URL (with its password, if any: tests need it, output should not show it).
    pub fn url(&self) -> &str {
        self.url.as_str()
    }

    /// The URL of another database on this server.
    pub fn url_for(&self, database: &str) -> String {
        let mut url = self.url.clone();
        url.set_path(&format!("/{database}"));
        url.to_string()
    }

    fn find_or_start() -> Result<PgServer, String> {
        match std::env::var(URL_VAR) {
            Ok(url) if !url.trim().is_empty() => {
                let parsed =
                    url::Url::parse(url.trim()).map_err(|e| format!("{URL_VAR} is not a URL: {e}"))?;
                try_rows(parsed.as_str(), "SELECT 1").map_err(|e| {
                    format!(
                        "{URL_VAR}={} does not answer: {e}\nhint: {}",
                        redact(parsed.as_str()),
                        hint()
                    )
                })?;
                Ok(PgServer {
                    url: parsed,
                    cluster: None,
                })
            }
            _ => start_cluster(),
        }
    }
}

/// Start a throwaway cluster with scripts/pg.sh, and a watchdog that stops it when we exit.
fn start_cluster() -> Result<PgServer, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/pg.sh");
    let dir = cluster_dir();
    let _ = std::fs::remove_dir_all(&dir);

    // The watchdog first, so that even a start that fails half-way is cleaned up.
    let mut watchdog = Command::new("sh")
        .args([
            "-c",
            r#"read _ ; "$0" stop "$1" ; [ -e "$1.keep" ] || rm -rf "$1" "$1.initdb.log""#,
        ])
        .arg(&script)
        .arg(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Its own process group: a Ctrl-C meant for the tests must not kill the cleanup.
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start sh: {e}"))?;
    let pipe = watchdog.stdin.take().expect("a piped stdin");

    let mut last_error = String::new();
    for _ in 0..3 {
        let port = free_port();
        let output = Command::new(&script)
            .arg("start")
            .arg(&dir)
            .arg(port.to_string())
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
        if output.status.success() {
            let stdout = String::from_utf8_lossy(&output.stdout);
            let url = stdout.lines().last().unwrap_or_default().trim();
            let url = url::Url::parse(url).map_err(|e| format!("pg.sh printed no URL ({e}): {stdout}"))?;
            eprintln!(
                "modkit tests: throwaway PostgreSQL at {url} (data in {})",
                dir.display()
            );
            return Ok(PgServer {
                url,
                cluster: Some(Cluster {
                    dir,
                    port,
                    _watchdog: pipe,
                }),
            });
        }
        last_error = String::from_utf8_lossy(&output.stderr).into_owned();
        let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
        if !log.contains("could not bind") && !log.contains("already in use") {
            last_error.push_str(&log);
            break;
        }
    }
    Err(format!(
        "no PostgreSQL for the tests: `scripts/pg.sh start {}` failed:\n{}\nhint: {}",
        dir.display(),
        last_error.trim_end(),
        hint()
    ))
}

fn hint() -> String {
    let ci = if std::env::var("CI").is_ok_and(|v| v == "true") {
        "CI=true: .ci/run must provide PostgreSQL (it runs scripts/test.sh, which installs and starts one). "
    } else {
        ""
    };
    format!(
        "{ci}Run the tests with scripts/test.sh (installs PostgreSQL when missing and starts a throwaway \
         cluster), or install the server (apt-get install postgresql), or set {URL_VAR} to a server where \
         this user may CREATE DATABASE. Tests never skip for want of a database."
    )
}

/// `target/tmp/modkit-test-pg-<pid>`, unless the `postgres` user (who owns the cluster when we run
/// as root) cannot reach it, or its socket path would be too long: then the system temp folder.
fn cluster_dir() -> PathBuf {
    let name = format!("modkit-test-pg-{}", std::process::id());
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let _ = std::fs::create_dir_all(target);
    // A Unix socket path is at most 107 bytes: "<dir>/.s.PGSQL.<port>".
    let short_enough = target.join(&name).as_os_str().len() + 20 < 100;
    let reachable = !is_root()
        || Command::new("runuser")
            .args(["-u", "postgres", "--", "test", "-x"])
            .arg(target)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    if short_enough && reachable {
        target.join(name)
    } else {
        std::env::temp_dir().join(name)
    }
}

fn is_root() -> bool {
    unsafe extern "C" {
        fn geteuid() -> u32;
    }
    // SAFETY: geteuid(2) has no arguments and cannot fail.
    unsafe { geteuid() == 0 }
}

/// A database of its own for one test, dropped when the test passes, kept when it fails.
#[derive(Debug)]
pub struct TestDb {
    name: String,
    url: String,
    server: &'static PgServer,
}

impl TestDb {
    pub fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(1);
        let server = PgServer::shared();
        let name = format!(
            "modkit_t_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        psql_execute(server.url(), &format!("CREATE DATABASE {name}"));
        let url = server.url_for(&name);
        Self { name, url, server }
    }

    /// The database's URL, to pass to `modkit --db` or as `DATABASE_URL`.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// See [`psql_scalar`].
    pub fn scalar(&self, sql: &str) -> String {
        psql_scalar(&self.url, sql)
    }

    /// See [`psql_rows`].
    pub fn rows(&self, sql: &str) -> Vec<Vec<String>> {
        psql_rows(&self.url, sql)
    }

    /// See [`psql_execute`].
    pub fn execute(&self, sql: &str) {
        psql_execute(&self.url, sql);
    }
}

impl Default for TestDb {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let test = std::thread::current().name().unwrap_or("?").to_string();
            eprintln!(
                "test `{test}` failed; its database is kept for debugging: {}",
                redact(&self.url)
            );
            if let Some(cluster) = &self.server.cluster {
                let _ = std::fs::write(cluster.dir.with_extension("keep"), &self.name);
                eprintln!(
                    "  the throwaway cluster stops when the tests end; start it again with: scripts/pg.sh start {} {}",
                    cluster.dir.display(),
                    cluster.port
                );
            }
            return;
        }
        // The database a sandbox's `npm test` made beside this one (`<name>_test`, sandbox/db.ts).
        let _ = try_rows(
            self.server.url(),
            &format!("DROP DATABASE IF EXISTS {}_test WITH (FORCE)", self.name),
        );
        // WITH (FORCE): a server a test started may still hold connections.
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(e) = try_rows(self.server.url(), &sql) {
            eprintln!("warning: cannot drop test database {}: {e}", self.name);
        }
    }
}

/// A LOGIN role (not a superuser) for one test: roles are cluster-wide, so each gets a unique name
/// (`modkit_<tag>_<pid>`), and is dropped when the test ends (declare it before the [`TestDb`], so
/// that the database, which may hold its objects, is dropped first).
#[derive(Debug)]
pub struct TestRole {
    pub name: String,
}

impl TestRole {
    pub const PASSWORD: &'static str = "role-pw";

    pub fn new(tag: &str) -> Self {
        let name = format!("modkit_{tag}_{}", std::process::id());
        psql_execute(
            PgServer::shared().url(),
            &format!(
                "DROP ROLE IF EXISTS {name}; CREATE ROLE {name} LOGIN PASSWORD '{}'",
                Self::PASSWORD
            ),
        );
        Self { name }
    }

    /// The URL of `db` as this role.
    pub fn url(&self, db: &TestDb) -> String {
        let mut url = url::Url::parse(db.url()).unwrap();
        url.set_username(&self.name).unwrap();
        url.set_password(Some(Self::PASSWORD)).unwrap();
        url.to_string()
    }
}

impl Drop for TestRole {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = try_rows(
                PgServer::shared().url(),
                &format!("DROP ROLE IF EXISTS {}", self.name),
            );
        }
    }
}

/// The first column of the first row that `sql` returns, as text the way `psql -At` prints it
/// (`t`/`f` for booleans, `""` for NULL). Panics on an error or when there is no row.
pub fn psql_scalar(url: &str, sql: &str) -> String {
    let rows = psql_rows(url, sql);
    let row = rows.first().unwrap_or_else(|| panic!("`{sql}` returned no row"));
    row.first()
        .cloned()
        .unwrap_or_else(|| panic!("`{sql}` returned no column"))
}

/// Every row `sql` returns (all statements', in order), each column as text, NULL as `""`.
pub fn psql_rows(url: &str, sql: &str) -> Vec<Vec<String>> {
    try_rows(url, sql)
        .unwrap_or_else(|e| panic!("`{sql}` failed on {}: {e}", redact(url)))
        .into_iter()
        .map(|row| row.into_iter().map(Option::unwrap_or_default).collect())
        .collect()
}

/// Run one or more `;`-separated statements; panics on an error.
pub fn psql_execute(url: &str, sql: &str) {
    psql_rows(url, sql);
}

/// Run `sql` over the simple query protocol, which returns every value as text.
pub fn try_rows(url: &str, sql: &str) -> Result<Vec<Vec<Option<String>>>, sqlx::Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        let mut conn = PgConnection::connect(url).await?;
        let rows = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_all(&mut conn)
            .await;
        let _ = conn.close().await;
        rows?
            .iter()
            .map(|row| {
                (0..row.len())
                    .map(|i| row.try_get_unchecked::<Option<String>, _>(i))
                    .collect()
            })
            .collect()
    })
}

/// The URL with its password replaced by `***`, for messages.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}
