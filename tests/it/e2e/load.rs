//! Under load, the tenant scope never outlives its transaction: 1,000 interleaved requests of two
//! tenants against the API over a pool of 2 connections, then through PgBouncer in transaction mode
//! with a server pool of 1, never return a row of the other tenant.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::sandbox::{
    ITEMS, command, is_root, modkit_bootstrap, names_of, record, require_program, run_ok, sandbox, seed_rows,
    spawn_server, start_api,
};
use crate::support::http;
use crate::support::pg::{PgServer, TestDb, try_rows};
use crate::support::process::port_is_open;

const TOTAL: usize = 1_000;
const THREADS: usize = 12;
const TENANTS: [&str; 2] = ["a", "b"];
/// Bounds on a run that goes wrong (a deadlocked pool answers nothing; each request waits 30 s at most).
const MAX_FAILURES: usize = 20;
const DEADLINE: Duration = Duration::from_secs(90);

#[derive(Debug, Default)]
struct Tally {
    ok: AtomicUsize,
    lists: AtomicUsize,
    posts: [AtomicUsize; 2],
    rows_seen: AtomicUsize,
    /// Rows of the other tenant in a response: must stay 0.
    leaked: AtomicUsize,
    failures: Mutex<Vec<String>>,
    /// Set after MAX_FAILURES failures: the run stops early instead of waiting out every timeout.
    abort: AtomicBool,
}

impl Tally {
    fn fail(&self, message: String) {
        let mut f = self.failures.lock().unwrap();
        f.push(message);
        if f.len() >= MAX_FAILURES {
            self.abort.store(true, Ordering::Relaxed);
        }
    }
}

/// Request `i` of the run: tenant a or b by turn; every fourth of a tenant's requests is a POST.
fn one_request(url: &str, i: usize, tally: &Tally) {
    let t = i % 2;
    let tenant = TENANTS[t];
    let headers = [("X-Tenant-Id", tenant), ("X-User-Id", "dev")];
    if (i / 2) % 4 == 0 {
        let name = format!("{tenant}-load-{i}");
        match http::try_request("POST", url, &headers, Some(&format!(r#"{{"name":"{name}"}}"#))) {
            Ok(res) if res.status == 201 && res.json()["data"]["name"] == name.as_str() => {
                tally.posts[t].fetch_add(1, Ordering::Relaxed);
                tally.ok.fetch_add(1, Ordering::Relaxed);
            }
            Ok(res) => tally.fail(format!("POST #{i} as {tenant}: {} {}", res.status, res.body)),
            Err(e) => tally.fail(format!("POST #{i} as {tenant}: {e}")),
        }
    } else {
        match http::try_request("GET", url, &headers, None) {
            Ok(res) if res.status == 200 => {
                let names = names_of(&res);
                let foreign: Vec<&String> = names
                    .iter()
                    .filter(|n| !n.starts_with(&format!("{tenant}-")))
                    .collect();
                tally.rows_seen.fetch_add(names.len(), Ordering::Relaxed);
                tally.lists.fetch_add(1, Ordering::Relaxed);
                if foreign.is_empty() {
                    tally.ok.fetch_add(1, Ordering::Relaxed);
                } else {
                    tally.leaked.fetch_add(foreign.len(), Ordering::Relaxed);
                    tally.fail(format!(
                        "GET #{i} as {tenant} returned rows of another tenant: {foreign:?}"
                    ));
                }
            }
            Ok(res) => tally.fail(format!("GET #{i} as {tenant}: {} {}", res.status, res.body)),
            Err(e) => tally.fail(format!("GET #{i} as {tenant}: {e}")),
        }
    }
}

/// Seed both tenants, fire TOTAL requests from THREADS threads, and check every answer and the rows.
fn load(label: &str, db: &TestDb, base: &str, during: impl FnOnce(&AtomicBool) + Send) {
    seed_rows(db, "a", &["a-seed-1", "a-seed-2", "a-seed-3"]);
    seed_rows(db, "b", &["b-seed-1", "b-seed-2"]);
    let url = format!("{base}{ITEMS}");
    let tally = Tally::default();
    let next = AtomicUsize::new(0);
    let attempted = AtomicUsize::new(0);
    let done = AtomicBool::new(false);
    let started = Instant::now();
    std::thread::scope(|s| {
        let watcher = s.spawn(|| during(&done));
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                s.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= TOTAL || tally.abort.load(Ordering::Relaxed) || started.elapsed() > DEADLINE {
                            break;
                        }
                        attempted.fetch_add(1, Ordering::Relaxed);
                        one_request(&url, i, &tally);
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().expect("a load thread panicked");
        }
        done.store(true, Ordering::Relaxed);
        watcher.join().expect("the watcher panicked");
    });
    let elapsed = started.elapsed();
    record(&format!("load: {TOTAL} requests, {label}"), elapsed);
    let ok = tally.ok.load(Ordering::Relaxed);
    let posts = [
        tally.posts[0].load(Ordering::Relaxed),
        tally.posts[1].load(Ordering::Relaxed),
    ];
    eprintln!(
        "e2e load ({label}): {ok}/{TOTAL} ok in {:.2} s ({:.0} req/s), {} lists with {} rows, {} + {} posts, {} leaked",
        elapsed.as_secs_f64(),
        TOTAL as f64 / elapsed.as_secs_f64(),
        tally.lists.load(Ordering::Relaxed),
        tally.rows_seen.load(Ordering::Relaxed),
        posts[0],
        posts[1],
        tally.leaked.load(Ordering::Relaxed),
    );
    let failures = tally.failures.lock().unwrap();
    assert_eq!(
        tally.leaked.load(Ordering::Relaxed),
        0,
        "{label}: rows leaked across tenants: {failures:#?}"
    );
    let attempted = attempted.load(Ordering::Relaxed);
    assert!(
        failures.is_empty(),
        "{label}: {} failures in {attempted} requests (of {TOTAL}; the run stops after {MAX_FAILURES} failures or {DEADLINE:?}): {failures:#?}",
        failures.len()
    );
    assert_eq!(ok, TOTAL, "{label}: not every request succeeded");
    assert_eq!(posts[0] + posts[1], TOTAL / 4, "{label}: the mix of requests");
    // The rows are where they belong, and the lists really showed them.
    assert!(
        tally.rows_seen.load(Ordering::Relaxed) > TOTAL,
        "{label}: the lists were nearly empty"
    );
    for (t, tenant) in TENANTS.iter().enumerate() {
        let other = TENANTS[1 - t];
        assert_eq!(
            db.scalar(&format!(
                "SELECT count(*) FROM tenant_{tenant}.items WHERE name LIKE '{tenant}-load-%'"
            )),
            posts[t].to_string(),
            "{label}: {tenant}'s new rows"
        );
        assert_eq!(
            db.scalar(&format!(
                "SELECT count(*) FROM tenant_{tenant}.items WHERE name LIKE '{other}-%'"
            )),
            "0",
            "{label}: {other}'s rows in {tenant}'s table"
        );
    }
}

#[test]
fn a_thousand_requests_of_two_tenants_over_two_connections_never_mix_tenants() {
    let sb = sandbox();
    let db = TestDb::new();
    run_ok(&mut modkit_bootstrap(&sb.dir, db.url(), &TENANTS));
    let api = start_api("api-load-pool-2", db.url(), &[("PGPOOL_MAX", "2")]);
    load("pool of 2 connections", &db, &api.base(), |_| {});
    // The pool really was 2: the API never held more than two connections to the database.
    let connections = db.scalar(&format!(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND backend_type = 'client backend' AND pid <> pg_backend_pid()",
        db.name()
    ));
    assert!(
        (1..=2).contains(&connections.parse::<u32>().unwrap()),
        "{connections} connections to the database"
    );
}

/// PgBouncer in transaction mode in front of the test server: every client shares one server connection.
fn start_pgbouncer(pgbouncer: &Path, config_dir: &Path) -> super::sandbox::Server {
    let server = url::Url::parse(PgServer::shared().url()).expect("the server URL");
    let user = if server.username().is_empty() {
        "postgres"
    } else {
        server.username()
    }
    .to_string();
    let mut target = format!(
        "host={} port={}",
        server.host_str().filter(|h| !h.is_empty()).unwrap_or("127.0.0.1"),
        server.port().unwrap_or(5432)
    );
    if let Some(password) = server.password() {
        let password = percent_decode(password);
        write!(target, " user={user} password={password}").unwrap();
    }
    std::fs::write(config_dir.join("userlist.txt"), format!("\"{user}\" \"\"\n")).unwrap();
    let started = Instant::now();
    let bouncer = spawn_server(
        "pgbouncer",
        |port| {
            let ini = format!(
                "[databases]\n* = {target}\n\n[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\n\
                 unix_socket_dir =\nauth_type = trust\nauth_file = {}\npool_mode = transaction\n\
                 default_pool_size = 1\nmin_pool_size = 0\nreserve_pool_size = 0\nmax_client_conn = 100\n\
                 ignore_startup_parameters = extra_float_digits,options\nlogfile =\npidfile =\n",
                config_dir.join("userlist.txt").display()
            );
            let file = config_dir.join("pgbouncer.ini");
            std::fs::write(&file, ini).unwrap();
            for f in ["pgbouncer.ini", "userlist.txt"] {
                set_mode(&config_dir.join(f), 0o644);
            }
            // As root, PgBouncer refuses to run: it runs as the postgres user, who can read the folder.
            let mut cmd = if is_root() {
                let mut cmd = command("runuser", config_dir);
                cmd.args(["-u", "postgres", "--"]).arg(pgbouncer);
                cmd
            } else {
                command(pgbouncer, config_dir)
            };
            cmd.arg(&file);
            cmd
        },
        port_is_open,
    );
    record("start PgBouncer", started.elapsed());
    bouncer
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = (bytes[i] == b'%' && i + 2 < bytes.len())
            .then(|| std::str::from_utf8(&bytes[i + 1..i + 3]).ok())
            .flatten()
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        if let Some(b) = hex {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn a_thousand_requests_through_pgbouncer_in_transaction_mode_never_mix_tenants() {
    let pgbouncer = require_program(
        "pgbouncer",
        &["/usr/sbin/pgbouncer"],
        "apt-get install pgbouncer (scripts/test.sh installs it when missing)",
    );
    let sb = sandbox();
    let db = TestDb::new();
    run_ok(&mut modkit_bootstrap(&sb.dir, db.url(), &TENANTS));
    let config_dir = tempfile::Builder::new()
        .prefix("modkit-e2e-pgbouncer-")
        .tempdir()
        .expect("a temp folder");
    set_mode(config_dir.path(), 0o755);
    let bouncer = start_pgbouncer(&pgbouncer, config_dir.path());
    let server = url::Url::parse(PgServer::shared().url()).unwrap();
    let user = if server.username().is_empty() {
        "postgres"
    } else {
        server.username()
    };
    let via_bouncer = format!("postgres://{user}@127.0.0.1:{}/{}", bouncer.port, db.name());
    let probe = || {
        try_rows(&via_bouncer, "SELECT current_setting('search_path')")
            .map(|rows| rows[0][0].clone().unwrap_or_default())
    };
    let path = probe().unwrap_or_else(|e| panic!("no query through PgBouncer: {e}\n{}", bouncer.log_text()));
    assert!(!path.contains("tenant_"), "{path}");

    // Eight client connections of the API share PgBouncer's one server connection.
    let api = start_api("api-load-pgbouncer", &via_bouncer, &[("PGPOOL_MAX", "8")]);
    let probes = AtomicUsize::new(0);
    let seen = Mutex::new(Vec::<String>::new());
    load(
        "via PgBouncer, transaction mode, pool 1",
        &db,
        &api.base(),
        |done| {
            // Meanwhile, between the API's transactions, the same server connection shows no tenant scope.
            let deadline = Instant::now() + Duration::from_secs(120);
            while !done.load(Ordering::Relaxed) && Instant::now() < deadline {
                match probe() {
                    Ok(path) => {
                        probes.fetch_add(1, Ordering::Relaxed);
                        if path.contains("tenant_") {
                            seen.lock().unwrap().push(path);
                        }
                    }
                    Err(e) => seen.lock().unwrap().push(format!("probe failed: {e}")),
                }
                if seen.lock().unwrap().len() >= 10 {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        },
    );
    let seen = seen.into_inner().unwrap();
    let probes = probes.load(Ordering::Relaxed);
    eprintln!("e2e load (PgBouncer): {probes} probes of the shared server connection's search_path");
    assert!(
        seen.is_empty(),
        "a tenant scope outlived its transaction on the shared connection: {seen:?}"
    );
    assert!(probes > 0, "no probe ran during the load");
    // PgBouncer really pooled: one server connection to the test database for all of it.
    let servers = db.scalar(&format!(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND backend_type = 'client backend' AND pid <> pg_backend_pid()",
        db.name()
    ));
    assert_eq!(servers, "1", "PgBouncer held {servers} server connections");
    drop(api);
    drop(bouncer);
}
