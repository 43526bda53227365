//! The sandbox API on a bad day (issue 7, items 1, 2, 16, 18): a tenant schema the database role
//! cannot use next to a module table in `public`, backends terminated while busy or idle, the whole
//! server stopped and started again, a NUL byte in a name, the header identity in production, and
//! the address the API listens on. Every test runs the shared e2e sandbox (`npm start`, through
//! `e2e::sandbox`), each with a database of its own. See tests/it/hostile.rs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use sqlx::{Connection, PgConnection};

use crate::e2e::sandbox::{
    HEALTH, ITEMS, Server, modkit_bootstrap, names_of, run_ok, sandbox, seed_rows, start_api, start_api_in,
};
use crate::support::http::{self, Response};
use crate::support::pg::{PgServer, TestDb, try_rows};
use crate::support::process::{free_port, wait_for};

fn as_dev(tenant: &str) -> [(&str, &str); 2] {
    [("X-User-Id", "dev"), ("X-Tenant-Id", tenant)]
}

fn list(api: &Server, tenant: &str) -> Response {
    http::request("GET", &format!("{}{ITEMS}", api.base()), &as_dev(tenant), None)
}

fn post(api: &Server, tenant: &str, body: &str) -> Response {
    http::request(
        "POST",
        &format!("{}{ITEMS}", api.base()),
        &as_dev(tenant),
        Some(body),
    )
}

/// The API process is alive and well: it answers, and its log shows no crash.
fn assert_still_serving(api: &Server, tenant: &str) {
    let res = list(api, tenant);
    assert_eq!(res.status, 200, "the API no longer serves: {res:?}");
    let log = api.log_text();
    assert!(
        !log.contains("Unhandled 'error' event") && !log.contains("node:events"),
        "the API's log shows a crash:\n{log}"
    );
}

/// A database session the test holds open (a lock, a transaction), unlike `TestDb`'s one-shot calls.
struct Session {
    runtime: tokio::runtime::Runtime,
    conn: PgConnection,
}

impl Session {
    fn open(url: &str) -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let conn = runtime
            .block_on(PgConnection::connect(url))
            .unwrap_or_else(|e| panic!("cannot connect a session: {e}"));
        Self { runtime, conn }
    }

    fn execute(&mut self, sql: &str) {
        let conn = &mut self.conn;
        self.runtime
            .block_on(sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string())).execute(conn))
            .unwrap_or_else(|e| panic!("`{sql}` failed: {e}"));
    }
}

/// A login role of the test's own (roles are cluster-wide): dropped after the database, which is
/// declared after it and so dropped first.
struct Role {
    name: String,
}

impl Role {
    const PASSWORD: &str = "modkit-runtime-test";

    fn create(name: String) -> Self {
        try_rows(PgServer::shared().url(), &format!("DROP ROLE IF EXISTS {name}"))
            .unwrap_or_else(|e| panic!("cannot drop an old role {name}: {e}"));
        crate::support::pg::psql_execute(
            PgServer::shared().url(),
            &format!(
                "CREATE ROLE {name} LOGIN NOSUPERUSER PASSWORD '{}'",
                Self::PASSWORD
            ),
        );
        Self { name }
    }

    /// `db`'s URL as this role.
    fn url(&self, db: &TestDb) -> String {
        let mut url = url::Url::parse(db.url()).expect("a database URL");
        url.set_username(&self.name).expect("a URL with a host");
        url.set_password(Some(Self::PASSWORD)).expect("a URL with a host");
        url.to_string()
    }
}

impl Drop for Role {
    fn drop(&mut self) {
        let _ = try_rows(
            PgServer::shared().url(),
            &format!("DROP ROLE IF EXISTS {}", self.name),
        );
    }
}

/// Item 1 (runtime side), the issue's reproduction: a role `app` that is no superuser, tenant
/// schemas made by a superuser without grants to it, and a module table in `public` holding another
/// tenant's row. PostgreSQL silently leaves a schema the role has no USAGE on out of the search_path,
/// so a search_path of `"tenant_globex", public` read `public.items`: globex got acme's row (200).
#[test]
fn tenant_schema_without_usage_never_reads_public() {
    let sb = sandbox();
    let role = Role::create(format!("modkit_rt_app_{}", std::process::id()));
    let db = TestDb::new();
    run_ok(&mut modkit_bootstrap(
        &sb.dir,
        db.url(),
        &["acme", "globex", "initech"],
    ));
    let app = &role.name;
    // As the superuser: the role may read the system tables and use acme; globex's schema was made
    // without any grant; initech's is usable but lacks the module table; and `public.items`, which
    // every tenant would share, holds a row of acme's, readable and writable by the role.
    db.execute(&format!(
        "GRANT USAGE ON SCHEMA public TO {app};
         GRANT SELECT ON ALL TABLES IN SCHEMA public TO {app};
         GRANT USAGE ON SCHEMA tenant_acme, tenant_initech TO {app};
         GRANT ALL ON ALL TABLES IN SCHEMA tenant_acme TO {app};
         DROP TABLE tenant_initech.items;
         CREATE TABLE public.items (LIKE tenant_acme.items INCLUDING ALL);
         INSERT INTO public.items (name) VALUES ('acme secret in public');
         GRANT ALL ON public.items TO {app};"
    ));
    seed_rows(&db, "acme", &["acme own row"]);

    let api = start_api("runtime-no-usage", &role.url(&db), &[]);

    // The control: a schema the role can use gives its own rows, never public's.
    let res = list(&api, "acme");
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(names_of(&res), ["acme own row"], "{res:?}");

    // No USAGE: a 503 naming the schema and the GRANT, not public's rows.
    let res = list(&api, "globex");
    assert_eq!(
        res.status, 503,
        "globex, whose schema the role cannot use, must not be served: {res:?}"
    );
    let error = res.json()["error"].as_str().unwrap_or_default().to_string();
    assert!(
        error.contains("\"tenant_globex\"")
            && error.contains(&format!(
                "GRANT USAGE, CREATE ON SCHEMA \"tenant_globex\" TO \"{app}\""
            )),
        "the 503 must name the schema and the GRANT that fixes it: {error}"
    );
    assert!(!res.body.contains("secret"), "{res:?}");
    let res = post(&api, "globex", r#"{"name":"globex row"}"#);
    assert_eq!(res.status, 503, "{res:?}");

    // Usable but without the module table: the search_path holds the tenant's schema alone, so the
    // query fails (503, run the bootstrap) instead of reading public.items.
    let res = list(&api, "initech");
    assert_eq!(res.status, 503, "{res:?}");
    assert!(
        res.body.contains("tenant_initech") && res.body.contains("bootstrap"),
        "{res:?}"
    );
    let res = post(&api, "initech", r#"{"name":"initech row"}"#);
    assert_eq!(res.status, 503, "{res:?}");

    assert_eq!(
        db.scalar("SELECT string_agg(name, ',') FROM public.items"),
        "acme secret in public",
        "nothing may have been written to public.items"
    );
    assert_still_serving(&api, "acme");
}

/// Item 2: a request whose backend is terminated while it waits (here for a lock) got an unhandled
/// 'error' event on its checked-out client ("Connection terminated unexpectedly"): the process died.
#[test]
fn terminated_backend_gives_503_and_the_api_keeps_serving() {
    let sb = sandbox();
    let db = TestDb::new();
    run_ok(&mut modkit_bootstrap(&sb.dir, db.url(), &["acme"]));
    let api = start_api("runtime-terminated", db.url(), &[]);
    assert_eq!(list(&api, "acme").status, 200);

    let mut locker = Session::open(db.url());
    locker.execute("BEGIN; LOCK TABLE tenant_acme.items IN ACCESS EXCLUSIVE MODE");
    let url = format!("{}{ITEMS}", api.base());
    let waiting = std::thread::spawn(move || {
        http::try_request("POST", &url, &as_dev("acme"), Some(r#"{"name":"blocked"}"#))
    });
    let waiting_for_lock = format!(
        "SELECT pid FROM pg_stat_activity WHERE datname = '{}' AND wait_event_type = 'Lock'",
        db.name()
    );
    let pid = wait_for(
        "the API's INSERT to wait for the lock",
        Duration::from_secs(20),
        || db.rows(&waiting_for_lock).first().map(|r| r[0].clone()),
    );
    db.execute(&format!("SELECT pg_terminate_backend({pid})"));

    let res = waiting.join().expect("the request thread").unwrap_or_else(|e| {
        panic!(
            "no answer for the request whose backend was terminated (did the API die?): {e}\n{}",
            api.log_text()
        )
    });
    assert_eq!(res.status, 503, "{res:?}");
    assert!(
        res.body.contains("database unavailable"),
        "the 503 must say why: {res:?}"
    );
    locker.execute("ROLLBACK");

    assert_still_serving(&api, "acme");
    let res = post(&api, "acme", r#"{"name":"after"}"#);
    assert_eq!(res.status, 201, "{res:?}");
    assert_eq!(
        db.scalar("SELECT string_agg(name, ',') FROM tenant_acme.items"),
        "after"
    );
}

/// Item 2: idle pooled connections terminated by the server; the pool drops them, the next request
/// opens new ones. (The pool's 'error' listener was already there: this one held before the fix too,
/// and stays as a guard.)
#[test]
fn idle_pool_clients_dropped_do_not_kill_the_api() {
    let sb = sandbox();
    let db = TestDb::new();
    run_ok(&mut modkit_bootstrap(&sb.dir, db.url(), &["acme"]));
    let api = start_api("runtime-idle", db.url(), &[("PGPOOL_MAX", "4")]);
    // Several requests at once, so that several connections sit idle in the pool afterwards.
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| assert_eq!(list(&api, "acme").status, 200));
        }
    });
    let others = format!(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
          WHERE datname = '{}' AND pid <> pg_backend_pid()",
        db.name()
    );
    let terminated: u32 = db.scalar(&others).parse().expect("a count");
    assert!(terminated >= 1, "no idle connection of the API to terminate");
    // Every terminated connection noticed (one log line each), not just the first: a request that
    // takes one still unnoticed under load gets a 503 "try again", which is right but not this test.
    wait_for("the API to notice", Duration::from_secs(10), || {
        (api.log_text()
            .matches("terminating connection due to administrator command")
            .count()
            >= terminated as usize)
            .then_some(())
    });
    for _ in 0..3 {
        assert_still_serving(&api, "acme");
    }
}

/// A throwaway cluster of the test's own (scripts/pg.sh), so that stopping it leaves the shared
/// test server alone; stopped and deleted on drop.
struct OwnCluster {
    dir: PathBuf,
    port: u16,
}

impl OwnCluster {
    fn script() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/pg.sh")
    }

    fn start() -> Self {
        // The system temp folder: the `postgres` user (who owns it when we run as root) can reach it.
        let dir = std::env::temp_dir().join(format!("modkit-rt-restart-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let cluster = Self {
            dir,
            port: free_port(),
        };
        cluster.pg("start");
        cluster
    }

    fn pg(&self, action: &str) {
        let mut cmd = Command::new(Self::script());
        cmd.arg(action).arg(&self.dir);
        if action == "start" {
            cmd.arg(self.port.to_string());
        }
        run_ok(&mut cmd);
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let _ = Command::new(Self::script()).arg("stop").arg(&self.dir).output();
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_file(self.dir.with_extension("initdb.log"));
    }
}

/// Item 2: the whole server stopped (its connections dropped, new ones refused) and started again.
#[test]
fn database_restart_is_survived() {
    let sb = sandbox();
    let cluster = OwnCluster::start();
    run_ok(&mut modkit_bootstrap(&sb.dir, &cluster.url(), &["acme"]));
    let api = start_api("runtime-restart", &cluster.url(), &[]);
    assert_eq!(post(&api, "acme", r#"{"name":"before"}"#).status, 201);

    cluster.pg("stop");
    for _ in 0..3 {
        let res = list(&api, "acme");
        assert_eq!(res.status, 503, "{res:?}");
        assert!(res.body.contains("database unavailable"), "{res:?}");
    }
    let res = post(&api, "acme", r#"{"name":"while down"}"#);
    assert_eq!(res.status, 503, "{res:?}");

    cluster.pg("start");
    let res = wait_for("the API to serve again", Duration::from_secs(30), || {
        Some(list(&api, "acme")).filter(|r| r.status == 200)
    });
    assert_eq!(names_of(&res), ["before"], "{res:?}");
    assert_eq!(post(&api, "acme", r#"{"name":"after"}"#).status, 201);
    assert_still_serving(&api, "acme");
}

/// Item 16: `{"name":"a\u0000b"}` reached PostgreSQL, whose text cannot hold U+0000: 500 and a stack.
#[test]
fn nul_byte_in_name_is_400() {
    let sb = sandbox();
    let db = TestDb::new();
    run_ok(&mut modkit_bootstrap(&sb.dir, db.url(), &["acme"]));
    let api = start_api("runtime-nul", db.url(), &[]);
    let res = post(&api, "acme", r#"{"name":"a\u0000b"}"#);
    assert_eq!(res.status, 400, "{res:?}");
    assert!(res.body.contains("NUL"), "the 400 must say why: {res:?}");

    let created = post(&api, "acme", r#"{"name":"fine"}"#);
    assert_eq!(created.status, 201, "{created:?}");
    let id = created.json()["data"]["id"].as_str().expect("an id").to_string();
    let res = http::request(
        "PATCH",
        &format!("{}{ITEMS}/{id}", api.base()),
        &as_dev("acme"),
        Some(r#"{"name":"\u0000"}"#),
    );
    assert_eq!(res.status, 400, "{res:?}");
    assert!(
        !api.log_text().contains("invalid byte sequence"),
        "the NUL reached PostgreSQL:\n{}",
        api.log_text()
    );
    assert_still_serving(&api, "acme");
}

/// Issue 15: a lone surrogate (`"\ud800"` in JSON) was stored as U+FFFD with a 201; now a 400 like
/// NUL. A proper pair (an emoji) is still a name.
#[test]
fn lone_surrogate_in_name_is_400() {
    let sb = sandbox();
    let db = TestDb::new();
    run_ok(&mut modkit_bootstrap(&sb.dir, db.url(), &["acme"]));
    let api = start_api("runtime-surrogate", db.url(), &[]);
    for body in [
        r#"{"name":"a\ud800b"}"#,
        r#"{"name":"\udc00"}"#,
        r#"{"name":"x\ud83d"}"#,
    ] {
        let res = post(&api, "acme", body);
        assert_eq!(res.status, 400, "{body}: {res:?}");
        assert!(res.body.contains("surrogate"), "the 400 must say why: {res:?}");
    }
    let res = post(&api, "acme", r#"{"name":"\ud83d\ude00 ok"}"#);
    assert_eq!(res.status, 201, "{res:?}");
    assert_eq!(
        db.scalar("SELECT count(*) FROM tenant_acme.items WHERE name LIKE '%' || chr(65533) || '%'"),
        "0"
    );
    assert_still_serving(&api, "acme");
}

/// Item 18: with NODE_ENV=production the sandbox still took the user from X-User-Id, so anyone could
/// claim any user. Now refused (401, saying why, and said at start) unless MODKIT_DEV_IDENTITY=1.
#[test]
fn production_refuses_header_identity() {
    let sb = sandbox();
    let db = TestDb::new();
    run_ok(&mut modkit_bootstrap(&sb.dir, db.url(), &["acme"]));

    let api = start_api_in(
        &sb.dir,
        "runtime-production",
        db.url(),
        &[("NODE_ENV", "production")],
    );
    let res = http::request("GET", &format!("{}{HEALTH}", api.base()), &[], None);
    assert_eq!(res.status, 200, "health needs no identity: {res:?}");
    let res = list(&api, "acme");
    assert_eq!(res.status, 401, "{res:?}");
    let error = res.json()["error"].as_str().unwrap_or_default().to_string();
    assert!(
        error.contains("NODE_ENV=production")
            && error.contains("X-User-Id")
            && error.contains("MODKIT_DEV_IDENTITY=1"),
        "the 401 must say why and how to allow it: {error}"
    );
    let res = post(&api, "acme", r#"{"name":"x"}"#);
    assert_eq!(res.status, 401, "{res:?}");
    assert!(
        api.log_text().contains("refused"),
        "the start-up log must say the header identity is refused:\n{}",
        api.log_text()
    );
    drop(api);

    let api = start_api_in(
        &sb.dir,
        "runtime-production-dev-identity",
        db.url(),
        &[("NODE_ENV", "production"), ("MODKIT_DEV_IDENTITY", "1")],
    );
    assert_eq!(list(&api, "acme").status, 200);
    assert!(
        api.log_text().contains("MODKIT_DEV_IDENTITY=1"),
        "{}",
        api.log_text()
    );
}

/// The local addresses (hex, as /proc/net/tcp{,6} writes them) of the sockets listening on `port`.
fn listening_addresses(port: u16) -> Vec<String> {
    let mut found = Vec::new();
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // sl, local_address (ADDR:PORT), rem_address, st (0A = LISTEN), ...
            let (Some(local), Some(state)) = (fields.get(1), fields.get(3)) else {
                continue;
            };
            let Some((addr, p)) = local.split_once(':') else {
                continue;
            };
            if *state == "0A" && u16::from_str_radix(p, 16) == Ok(port) {
                found.push(addr.to_string());
            }
        }
    }
    found
}

/// Item 18: the development API listened on every interface (`::`); now on 127.0.0.1 unless HOST.
#[test]
fn dev_server_binds_loopback_only() {
    let sb = sandbox();
    let db = TestDb::new();
    run_ok(&mut modkit_bootstrap(&sb.dir, db.url(), &["acme"]));
    const LOOPBACK: &str = "0100007F"; // 127.0.0.1, little-endian hex
    const ANY: &str = "00000000"; // 0.0.0.0

    let api = start_api("runtime-bind", db.url(), &[]);
    let addresses = listening_addresses(api.port);
    assert_eq!(
        addresses,
        [LOOPBACK],
        "the API must listen on 127.0.0.1 only (hex addresses from /proc/net/tcp*)"
    );
    assert!(api.log_text().contains("http://127.0.0.1:"), "{}", api.log_text());
    drop(api);

    // HOST says otherwise: it is honoured.
    let api = start_api("runtime-bind-any", db.url(), &[("HOST", "0.0.0.0")]);
    assert_eq!(listening_addresses(api.port), [ANY]);
}
