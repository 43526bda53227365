//! A real Citus cluster (a coordinator and two workers) for the tests, and one fresh distributed
//! database per test.
//!
//! [`CitusCluster::shared`] is the cluster of the whole test process, set up once:
//!
//! - with `MODKIT_TEST_CITUS_URL` set (scripts/test.sh sets it), that coordinator: its `postgres`
//!   database lists the workers in `pg_dist_node`, and this user may connect to each worker with
//!   the same credentials and `CREATE DATABASE` on every node;
//! - otherwise a throwaway cluster started with `scripts/citus.sh start` under `target/tmp/`,
//!   stopped and deleted when the test process ends (the same watchdog as `pg.rs`'s cluster).
//!
//! Citus missing is a test failure with a hint, never a silent skip.
//!
//! [`CitusDb::new`] creates `modkit_c_<pid>_<n>` on every node, with the citus extension, the
//! coordinator and the workers in its metadata (what `scripts/citus.sh db` does), and drops it on
//! every node when the test passes; a failing test keeps it and prints its URL.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::pg::{psql_execute, psql_rows, psql_scalar, redact, try_rows};

pub const URL_VAR: &str = "MODKIT_TEST_CITUS_URL";

#[derive(Debug)]
pub struct CitusCluster {
    /// The coordinator's maintenance database.
    coordinator: url::Url,
    /// Each worker's maintenance database (same user and password as the coordinator's URL).
    workers: Vec<url::Url>,
    /// Set when this process started the cluster.
    started: Option<(PathBuf, ChildStdin)>,
}

impl CitusCluster {
    pub fn shared() -> &'static CitusCluster {
        static CLUSTER: OnceLock<Result<CitusCluster, String>> = OnceLock::new();
        match CLUSTER.get_or_init(Self::find_or_start) {
            Ok(cluster) => cluster,
            Err(message) => panic!("{message}"),
        }
    }

    pub fn worker_count(&self) -> usize {
        self.workers.len()
    }

    fn find_or_start() -> Result<CitusCluster, String> {
        let (coordinator, started) = match std::env::var(URL_VAR) {
            Ok(url) if !url.trim().is_empty() => {
                let parsed =
                    url::Url::parse(url.trim()).map_err(|e| format!("{URL_VAR} is not a URL: {e}"))?;
                (parsed, None)
            }
            _ => {
                let (url, dir, watchdog) = start_cluster()?;
                (url, Some((dir, watchdog)))
            }
        };
        // The workers as the coordinator knows them (groupid 0 is the coordinator itself).
        let rows = try_rows(
            coordinator.as_str(),
            "SELECT nodename, nodeport FROM pg_dist_node WHERE groupid <> 0 AND noderole = 'primary' ORDER BY nodeid",
        )
        .map_err(|e| {
            format!(
                "the Citus coordinator at {} does not answer or is not Citus: {e}\nhint: {}",
                redact(coordinator.as_str()),
                hint()
            )
        })?;
        let workers: Vec<url::Url> = rows
            .into_iter()
            .map(|row| {
                let mut url = coordinator.clone();
                let _ = url.set_host(row[0].as_deref());
                let _ = url.set_port(row[1].as_deref().and_then(|p| p.parse().ok()));
                url
            })
            .collect();
        if workers.len() < 2 {
            return Err(format!(
                "the Citus coordinator at {} has {} worker(s); the tests need 2\nhint: {}",
                redact(coordinator.as_str()),
                workers.len(),
                hint()
            ));
        }
        Ok(CitusCluster {
            coordinator,
            workers,
            started,
        })
    }
}

/// `scripts/citus.sh start` into a fresh folder, with a watchdog that stops it when we exit.
fn start_cluster() -> Result<(url::Url, PathBuf, ChildStdin), String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/citus.sh");
    let name = format!("modkit-test-citus-{}", std::process::id());
    // Unix socket paths are at most 107 bytes: the nodes' sockets live in this folder.
    let dir = std::env::temp_dir().join(name);
    let _ = std::fs::remove_dir_all(&dir);
    let mut watchdog = Command::new("sh")
        .args([
            "-c",
            r#"read _ ; "$0" stop "$1" ; [ -e "$1.keep" ] || rm -rf "$1""#,
        ])
        .arg(&script)
        .arg(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start sh: {e}"))?;
    let pipe = watchdog.stdin.take().expect("a piped stdin");
    let output = Command::new(&script)
        .arg("start")
        .arg(&dir)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if !output.status.success() {
        return Err(format!(
            "no Citus cluster for the tests: `scripts/citus.sh start {}` failed:\n{}\nhint: {}",
            dir.display(),
            String::from_utf8_lossy(&output.stderr).trim_end(),
            hint()
        ));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let url = url::Url::parse(stdout.lines().last().unwrap_or_default().trim())
        .map_err(|e| format!("citus.sh printed no URL ({e}): {stdout}"))?;
    eprintln!(
        "modkit tests: throwaway Citus cluster at {url} (data in {})",
        dir.display()
    );
    Ok((url, dir, pipe))
}

fn hint() -> String {
    let ci = if std::env::var("CI").is_ok_and(|v| v == "true") {
        "CI=true: scripts/test.sh must provide Citus (it runs scripts/citus.sh install and start). "
    } else {
        ""
    };
    format!(
        "{ci}Run the tests with scripts/test.sh (builds Citus from CITUS_TARBALL when missing and starts a \
         throwaway cluster), or run `scripts/citus.sh install` as root, or set {URL_VAR} to a coordinator \
         with two workers. Tests never skip for want of Citus."
    )
}

/// A distributed database of its own for one test, on every node of the shared cluster.
#[derive(Debug)]
pub struct CitusDb {
    name: String,
    url: String,
    cluster: &'static CitusCluster,
}

impl CitusDb {
    pub fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(1);
        let cluster = CitusCluster::shared();
        let name = format!(
            "modkit_c_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let nodes: Vec<&url::Url> = std::iter::once(&cluster.coordinator)
            .chain(&cluster.workers)
            .collect();
        // CREATE DATABASE and CREATE EXTENSION citus take about half a second a node: all at once.
        std::thread::scope(|s| {
            for node in &nodes {
                let name = &name;
                s.spawn(move || {
                    psql_execute(node.as_str(), &format!("CREATE DATABASE {name}"));
                    psql_execute(
                        &url_for(node, name),
                        "SET client_min_messages = warning; CREATE EXTENSION citus",
                    );
                });
            }
        });
        let url = url_for(&cluster.coordinator, &name);
        let coordinator_port = cluster.coordinator.port().unwrap_or(5432);
        let mut setup = format!(
            "SELECT citus_set_coordinator_host('{}', {coordinator_port});",
            cluster.coordinator.host_str().unwrap_or("127.0.0.1")
        );
        for worker in &cluster.workers {
            let (host, port) = (
                worker.host_str().unwrap_or("127.0.0.1"),
                worker.port().unwrap_or(5432),
            );
            setup.push_str(&format!(
                "SELECT citus_add_node('{host}', {port}) WHERE NOT EXISTS \
                 (SELECT 1 FROM pg_dist_node WHERE nodename = '{host}' AND nodeport = {port});"
            ));
        }
        // Adding a node connects to it; with many tests making databases at once on a loaded
        // machine that connection has been seen to fail ("failure on connection marked as
        // essential"). Each step is idempotent: try again.
        for attempt in 1.. {
            match try_rows(&url, &setup) {
                Ok(_) => break,
                Err(e) if attempt < 5 => {
                    eprintln!("modkit tests: adding the Citus nodes to {name} failed ({e}); again");
                    std::thread::sleep(std::time::Duration::from_millis(500 * attempt));
                }
                Err(e) => panic!("cannot add the Citus nodes to {name}: {e}"),
            }
        }
        Self { name, url, cluster }
    }

    /// The coordinator's URL of this database.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// This database on worker `i` (0-based): modkit must refuse it.
    pub fn worker_url(&self, i: usize) -> String {
        url_for(&self.cluster.workers[i], &self.name)
    }

    /// `host:port` of each worker, as `citus_shards` and `pg_dist_node` name them.
    pub fn worker_addresses(&self) -> Vec<String> {
        self.cluster
            .workers
            .iter()
            .map(|w| {
                format!(
                    "{}:{}",
                    w.host_str().unwrap_or_default(),
                    w.port().unwrap_or(5432)
                )
            })
            .collect()
    }

    /// See `pg::psql_scalar` (on the coordinator).
    pub fn scalar(&self, sql: &str) -> String {
        psql_scalar(&self.url, sql)
    }

    pub fn rows(&self, sql: &str) -> Vec<Vec<String>> {
        psql_rows(&self.url, sql)
    }

    pub fn execute(&self, sql: &str) {
        psql_execute(&self.url, sql);
    }
}

impl Default for CitusDb {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for CitusDb {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let test = std::thread::current().name().unwrap_or("?").to_string();
            eprintln!(
                "test `{test}` failed; its Citus database is kept for debugging: {}",
                redact(&self.url)
            );
            if let Some((dir, _)) = &self.cluster.started {
                let _ = std::fs::write(dir.with_extension("keep"), &self.name);
                eprintln!(
                    "  the throwaway cluster stops when the tests end; start it again with: scripts/citus.sh start {}",
                    dir.display()
                );
            }
            return;
        }
        // Workers first; FORCE ends the maintenance daemons' and the coordinator's connections.
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        for node in self.cluster.workers.iter().chain([&self.cluster.coordinator]) {
            if let Err(e) = try_rows(node.as_str(), &sql) {
                eprintln!("warning: cannot drop test database {}: {e}", self.name);
            }
        }
    }
}

fn url_for(node: &url::Url, database: &str) -> String {
    let mut url = node.clone();
    url.set_path(&format!("/{database}"));
    url.to_string()
}
