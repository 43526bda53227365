//! The seed's definition of done over HTTP against `npm start` (the API) on a bootstrapped database;
//! CORS in development and production; and the sandbox's own `npm test`.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::sandbox::{
    HEALTH, ITEMS, command, modkit_bootstrap, names_of, output, run_ok, sandbox, seed_rows, start_api,
    start_api_in, stdout, tail, timed,
};
use crate::support::http::{self, Response};
use crate::support::pg::TestDb;
use crate::support::process::ChildGuard;
use crate::support::transcript;

fn headers<'a>(user: Option<&'a str>, tenant: Option<&'a str>) -> Vec<(&'a str, &'a str)> {
    let mut h = Vec::new();
    if let Some(user) = user {
        h.push(("X-User-Id", user));
    }
    if let Some(tenant) = tenant {
        h.push(("X-Tenant-Id", tenant));
    }
    h
}

fn get(url: &str, user: Option<&str>, tenant: Option<&str>) -> Response {
    http::request("GET", url, &headers(user, tenant), None)
}

fn send(method: &str, url: &str, user: &str, tenant: &str, body: &str) -> Response {
    http::request(method, url, &headers(Some(user), Some(tenant)), Some(body))
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn grant(db: &TestDb, user: &str, user_tenant: &str, role_tenant: &str) {
    db.execute(&format!(
        "INSERT INTO public.sys_user_role (user_id, tenant_id, role_id)
         SELECT '{user}', ut.id, r.id FROM public.sys_tenant ut, public.sys_role r
           JOIN public.sys_tenant rt ON rt.id = r.tenant_id
          WHERE ut.code = '{user_tenant}' AND rt.code = '{role_tenant}' AND r.code = 'items.developer'"
    ));
}

#[test]
fn the_api_keeps_the_definition_of_done() {
    let sb = sandbox();
    let db = TestDb::new();
    timed("modkit bootstrap (api test)", || {
        run_ok(&mut modkit_bootstrap(&sb.dir, db.url(), &["a", "b"]))
    });
    let api = start_api("api-definition-of-done", db.url(), &[]);
    let base = api.base();
    let items = format!("{base}{ITEMS}");
    let checks_started = Instant::now();

    // Health: 200 {"ok":true,...}, with no header at all.
    let res = get(&format!("{base}{HEALTH}"), None, None);
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(res.json()["ok"], true, "{res:?}");
    assert_eq!(res.json()["plugin"], "items", "{res:?}");

    // 401 without a user, 400 without a tenant, 404 for an unknown tenant (by code or id), 403 without the permission.
    let res = get(&items, None, Some("a"));
    assert_eq!(res.status, 401, "no X-User-Id: {res:?}");
    let res = get(&items, Some("dev"), None);
    assert_eq!(res.status, 400, "no X-Tenant-Id: {res:?}");
    for unknown in [
        "nosuch",
        "00000000-0000-4000-8000-000000000000",
        "a'; DROP TABLE x; --",
    ] {
        let res = get(&items, Some("dev"), Some(unknown));
        assert_eq!(res.status, 404, "unknown tenant {unknown:?}: {res:?}");
        assert!(res.json()["error"].is_string(), "{res:?}");
    }
    let res = get(&items, Some("stranger"), Some("a"));
    assert_eq!(res.status, 403, "a user without the permission: {res:?}");

    // The dev seed: user `dev` holds every permission in every dev tenant.
    for tenant in ["dev", "a", "b"] {
        let res = get(&items, Some("dev"), Some(tenant));
        assert_eq!(res.status, 200, "dev in {tenant}: {res:?}");
        assert_eq!(res.json(), serde_json::json!({"data": []}), "dev in {tenant}");
    }

    // Two tenants with different rows each see only their own, by code and by id.
    seed_rows(&db, "a", &["a-first", "a-second"]);
    seed_rows(&db, "b", &["b-first"]);
    assert_eq!(
        sorted(names_of(&get(&items, Some("dev"), Some("a")))),
        ["a-first", "a-second"]
    );
    assert_eq!(names_of(&get(&items, Some("dev"), Some("b"))), ["b-first"]);
    let b_id = db.scalar("SELECT id FROM public.sys_tenant WHERE code = 'b'");
    assert_eq!(names_of(&get(&items, Some("dev"), Some(&b_id))), ["b-first"]);

    // CRUD, each by id, and nothing of it crosses to the other tenant.
    let res = send("POST", &items, "dev", "a", r#"{"name":"a-created"}"#);
    assert_eq!(res.status, 201, "{res:?}");
    let row = res.json()["data"].clone();
    assert_eq!(row["name"], "a-created", "{res:?}");
    let id = row["id"].as_str().expect("an id").to_string();
    let one = format!("{items}/{id}");
    let res = get(&one, Some("dev"), Some("a"));
    assert_eq!(
        (res.status, res.json()["data"]["name"].clone()),
        (200, "a-created".into()),
        "{res:?}"
    );
    assert_eq!(get(&one, Some("dev"), Some("b")).status, 404, "b reads a's row");
    assert_eq!(
        send("PATCH", &one, "dev", "b", r#"{"name":"b-stolen"}"#).status,
        404,
        "b renames a's row"
    );
    assert_eq!(
        http::request("DELETE", &one, &headers(Some("dev"), Some("b")), None).status,
        404,
        "b deletes a's row"
    );
    let res = send("PATCH", &one, "dev", "a", r#"{"name":"a-renamed"}"#);
    assert_eq!(
        (res.status, res.json()["data"]["name"].clone()),
        (200, "a-renamed".into()),
        "{res:?}"
    );
    assert_eq!(
        sorted(names_of(&get(&items, Some("dev"), Some("a")))),
        ["a-first", "a-renamed", "a-second"]
    );
    assert_eq!(
        db.scalar("SELECT count(*) FROM tenant_b.items"),
        "1",
        "a's row landed in b"
    );
    let res = http::request("DELETE", &one, &headers(Some("dev"), Some("a")), None);
    assert_eq!(
        (res.status, res.json()["data"]["id"].clone()),
        (200, id.clone().into()),
        "{res:?}"
    );
    assert_eq!(get(&one, Some("dev"), Some("a")).status, 404);
    assert_eq!(
        db.scalar(&format!("SELECT count(*) FROM tenant_a.items WHERE id = '{id}'")),
        "0"
    );

    // Bad input is a 4xx, never a 500.
    assert_eq!(send("POST", &items, "dev", "a", "{}").status, 400);
    assert_eq!(send("POST", &items, "dev", "a", r#"{"name":"  "}"#).status, 400);
    assert_eq!(
        send("POST", &items, "dev", "a", r#"{"name":"#).status,
        400,
        "malformed JSON"
    );
    assert_eq!(
        get(&format!("{items}/not-a-uuid"), Some("dev"), Some("a")).status,
        404
    );
    assert_eq!(get(&format!("{base}/api/plugins/nosuch"), None, None).status, 404);

    // A grant in tenant A opens nothing in tenant B.
    assert_eq!(get(&items, Some("alice"), Some("a")).status, 403);
    grant(&db, "alice", "a", "a");
    assert_eq!(
        get(&items, Some("alice"), Some("a")).status,
        200,
        "alice holds the role in a"
    );
    let res = get(&items, Some("alice"), Some("b"));
    assert_eq!(res.status, 403, "alice's grant in a opened b: {res:?}");
    assert_eq!(send("POST", &items, "alice", "b", r#"{"name":"x"}"#).status, 403);
    // Nor does a role of A assigned in B (a row the foundation should never write, but might).
    grant(&db, "mallory", "b", "a");
    assert_eq!(
        get(&items, Some("mallory"), Some("b")).status,
        403,
        "a role of a opened b"
    );
    assert_eq!(
        get(&items, Some("mallory"), Some("a")).status,
        403,
        "an assignment in b opened a"
    );
    super::sandbox::record("definition-of-done checks (HTTP)", checks_started.elapsed());

    assert!(!api.log_text().contains("internal error"), "{}", api.log_text());
}

/// A copy of the sandbox whose node_modules lacks every devDependency (cors, vite, typescript, ...),
/// as a production install (`npm install --omit=dev`) would; its packages link to the shared ones.
fn production_copy() -> PathBuf {
    let sb = sandbox();
    let copy = sb.root.join("items-production");
    if copy.exists() {
        return copy;
    }
    fn copy_tree(from: &Path, to: &Path) {
        fs::create_dir_all(to).unwrap();
        for entry in fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name();
            if name == "node_modules" {
                continue;
            }
            let target = to.join(&name);
            if entry.file_type().unwrap().is_dir() {
                copy_tree(&entry.path(), &target);
            } else {
                fs::copy(entry.path(), &target).unwrap();
            }
        }
    }
    copy_tree(&sb.dir, &copy);
    let package: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(sb.dir.join("package.json")).unwrap()).unwrap();
    let dev: Vec<String> = package["devDependencies"]
        .as_object()
        .expect("devDependencies")
        .keys()
        .cloned()
        .collect();
    assert!(
        dev.iter().any(|d| d == "cors"),
        "cors is not a devDependency: {dev:?}"
    );
    let modules = sb.dir.join("node_modules");
    let link_all = |from: &Path, to: &Path, prefix: &str| {
        fs::create_dir_all(to).unwrap();
        for entry in fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            let full = format!("{prefix}{name}");
            if dev.contains(&full) || (name.starts_with('.') && name != ".bin") || name.starts_with('@') {
                continue;
            }
            std::os::unix::fs::symlink(entry.path(), to.join(&name)).unwrap();
        }
    };
    link_all(&modules, &copy.join("node_modules"), "");
    for entry in fs::read_dir(&modules).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.starts_with('@') {
            link_all(
                &modules.join(&name),
                &copy.join("node_modules").join(&name),
                &format!("{name}/"),
            );
        }
    }
    assert!(!copy.join("node_modules/cors").exists() && copy.join("node_modules/express").exists());
    copy
}

fn preflight(base: &str, origin: &str) -> Response {
    http::request(
        "OPTIONS",
        &format!("{base}{ITEMS}"),
        &[
            ("Origin", origin),
            ("Access-Control-Request-Method", "POST"),
            (
                "Access-Control-Request-Headers",
                "x-tenant-id,x-user-id,content-type",
            ),
        ],
        None,
    )
}

fn cors_headers(res: &Response) -> Vec<(String, String)> {
    res.headers
        .iter()
        .filter(|(k, _)| k.starts_with("access-control-"))
        .cloned()
        .collect()
}

#[test]
fn cors_allows_local_origins_with_credentials_in_development_only() {
    let sb = sandbox();
    let db = TestDb::new();
    run_ok(&mut modkit_bootstrap(&sb.dir, db.url(), &["a"]));
    let dev = start_api("api-cors-development", db.url(), &[]);

    for origin in [
        "http://localhost:5173",
        "http://127.0.0.1:4173",
        "http://localhost",
    ] {
        let res = preflight(&dev.base(), origin);
        assert!(
            (200..300).contains(&res.status),
            "preflight from {origin}: {res:?}"
        );
        assert_eq!(res.header("access-control-allow-origin"), Some(origin), "{res:?}");
        assert_eq!(
            res.header("access-control-allow-credentials"),
            Some("true"),
            "{res:?}"
        );
        let methods = res
            .header("access-control-allow-methods")
            .unwrap_or_default()
            .to_ascii_uppercase();
        assert!(methods.contains("POST"), "{res:?}");
        let allowed = res
            .header("access-control-allow-headers")
            .unwrap_or_default()
            .to_ascii_lowercase();
        for h in ["x-tenant-id", "x-user-id", "content-type"] {
            assert!(allowed.contains(h), "{h} not allowed: {res:?}");
        }
        assert!(
            res.header("vary")
                .unwrap_or_default()
                .to_ascii_lowercase()
                .contains("origin"),
            "{res:?}"
        );
    }
    // The actual request carries the headers too, or the browser would not hand the body over.
    let res = list_from_vite_origin(&dev.base());
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(
        res.header("access-control-allow-origin"),
        Some("http://localhost:5173")
    );
    assert_eq!(res.header("access-control-allow-credentials"), Some("true"));

    for origin in [
        "http://evil.example",
        "http://localhost.evil.example:5173",
        "https://localhost:5173",
        "http://127.0.0.1.evil.example",
        "null",
    ] {
        let res = preflight(&dev.base(), origin);
        assert_eq!(
            res.header("access-control-allow-origin"),
            None,
            "{origin} allowed: {res:?}"
        );
        assert_eq!(
            res.header("access-control-allow-credentials"),
            None,
            "{origin}: {res:?}"
        );
    }

    // Production, installed without dev dependencies: it runs, and sends no CORS header at all.
    // (MODKIT_DEV_IDENTITY=1: production refuses the X-User-Id identity otherwise, see hostile::runtime.)
    let copy = timed("production copy (no devDependencies)", production_copy);
    let prod = start_api_in(
        &copy,
        "api-cors-production",
        db.url(),
        &[("NODE_ENV", "production"), ("MODKIT_DEV_IDENTITY", "1")],
    );
    let res = list_from_vite_origin(&prod.base());
    assert_eq!(res.status, 200, "production serves the module: {res:?}");
    assert_eq!(cors_headers(&res), [], "production sent CORS headers: {res:?}");
    for origin in ["http://localhost:5173", "http://evil.example"] {
        let res = preflight(&prod.base(), origin);
        assert_eq!(
            cors_headers(&res),
            [],
            "production preflight from {origin}: {res:?}"
        );
    }

    // The same copy in development needs cors: so the production run above really did without it.
    let log = sb.root.join("logs").join("api-development-without-cors.log");
    let file = fs::File::create(&log).unwrap();
    let mut cmd = command("npm", &copy);
    cmd.arg("start")
        .env("PORT", crate::support::process::free_port().to_string())
        .env("DATABASE_URL", db.url())
        .env("NODE_ENV", "development")
        .stdout(file.try_clone().unwrap())
        .stderr(file);
    let mut guard = ChildGuard::spawn(&mut cmd);
    let status = crate::support::process::wait_for(
        "the development server without cors to give up",
        Duration::from_secs(60),
        || guard.try_wait(),
    );
    let text = fs::read_to_string(&log).unwrap_or_default();
    assert!(
        !status.success() && text.contains("'cors'"),
        "development without the cors package should fail at start ({status}):\n{}",
        tail(&text, 30)
    );
}

/// The numbers of node's test reporter: `ℹ tests 13`, `ℹ pass 13`, `ℹ fail 0`.
fn reporter_count(text: &str, what: &str) -> Option<u32> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(&format!("ℹ {what} ")))
        .and_then(|n| n.trim().parse().ok())
}

/// Everything in a database as pg_dump writes it (the newest pg_dump installed, never older than
/// the server), without the per-run `\restrict` key lines of recent versions.
fn dump(url: &str) -> String {
    let mut found: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v: u32 = e.file_name().to_string_lossy().parse().ok()?;
            let bin = e.path().join("bin/pg_dump");
            bin.exists().then_some((v, bin))
        })
        .collect();
    found.sort();
    let pg_dump = found.pop().map_or_else(|| PathBuf::from("pg_dump"), |(_, p)| p);
    let out = output(std::process::Command::new(pg_dump).arg("--dbname").arg(url));
    assert!(out.status.success(), "pg_dump: {}", transcript(&out));
    stdout(&out)
        .lines()
        .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `npm test` runs on `<dev database>_test`, made again at every run: the dev database (here with a
/// tenant named like the tests' own, holding a row their `before` would delete) is byte-identical
/// after it, dump for dump.
#[test]
fn npm_test_runs_on_its_own_database_and_leaves_the_dev_database_byte_identical() {
    let sb = sandbox();
    let db = TestDb::new();
    run_ok(&mut modkit_bootstrap(&sb.dir, db.url(), &["sandbox_test_a"]));
    seed_rows(&db, "dev", &["dev-row"]);
    seed_rows(&db, "sandbox_test_a", &["must-survive-npm-test"]);
    let before = dump(db.url());
    let test_db = format!("{}_test", db.name());
    let test_url = db
        .url()
        .replace(&format!("/{}", db.name()), &format!("/{test_db}"));
    for run in 1..=2 {
        let out = timed("npm test (the sandbox's own tests)", || {
            output(command("npm", &sb.dir).arg("test").env("DATABASE_URL", db.url()))
        });
        let text = stdout(&out);
        assert!(out.status.success(), "npm test failed:\n{}", transcript(&out));
        let (tests, pass, fail) = (
            reporter_count(&text, "tests"),
            reporter_count(&text, "pass"),
            reporter_count(&text, "fail"),
        );
        assert!(
            tests.is_some_and(|n| n >= 10) && pass == tests && fail == Some(0),
            "npm test ran {tests:?} tests, {pass:?} passed, {fail:?} failed:\n{text}"
        );
        assert_eq!(
            before,
            dump(db.url()),
            "npm test (run {run}) changed the dev database"
        );
        // The tests bootstrapped their own tenants in their own database, beside the dev tenant.
        assert_eq!(
            crate::support::pg::psql_scalar(
                &test_url,
                "SELECT string_agg(code, ' ' ORDER BY code) FROM public.sys_tenant"
            ),
            "dev sandbox_test_a sandbox_test_b sandbox_test_c"
        );
        // Made again at every run: what a run leaves there is gone at the next.
        if run == 1 {
            crate::support::pg::psql_execute(&test_url, "CREATE TABLE public.left_by_run_1 (x int)");
        } else {
            assert_eq!(
                crate::support::pg::psql_scalar(
                    &test_url,
                    "SELECT to_regclass('public.left_by_run_1') IS NULL"
                ),
                "t"
            );
        }
    }
}

/// `npm run dev` starts the API and the Vite client together: the page and `/api` (proxied to the
/// API) answer on the client's port, and nothing is left running once it is stopped.
#[test]
fn npm_run_dev_serves_the_client_and_proxies_the_api() {
    use super::sandbox::spawn_server;
    use crate::support::process::{free_port, port_is_open};

    let sb = sandbox();
    let db = TestDb::new();
    run_ok(&mut modkit_bootstrap(&sb.dir, db.url(), &[]));
    seed_rows(&db, "dev", &["from-dev-server"]);
    let api_port = free_port();
    let dev = timed("npm run dev (API + Vite)", || {
        spawn_server(
            "npm-run-dev",
            |port| {
                let mut cmd = command("npm", &sb.dir);
                cmd.args(["run", "dev"])
                    .env("PORT", api_port.to_string())
                    .env("VITE_PORT", port.to_string())
                    .env("DATABASE_URL", db.url())
                    .env("NODE_ENV", "development");
                cmd
            },
            |port| {
                http::try_request("GET", &format!("http://localhost:{port}{HEALTH}"), &[], None)
                    .is_ok_and(|r| r.status == 200)
            },
        )
    });
    let base = format!("http://localhost:{}", dev.port);
    let page = http::request("GET", &format!("{base}/"), &[], None);
    assert_eq!(page.status, 200, "{page:?}");
    assert!(page.body.contains("<script"), "the client page: {}", page.body);
    let items = http::request(
        "GET",
        &format!("{base}{ITEMS}"),
        &headers(Some("dev"), Some("dev")),
        None,
    );
    assert_eq!(names_of(&items), ["from-dev-server"], "{items:?}");
    assert!(port_is_open(api_port), "the API listens on PORT");

    // Vite may listen on ::1 only (`localhost`): ask it over HTTP, as a browser would.
    let page_url = format!("{base}/");
    let running = || port_is_open(api_port) || http::try_request("GET", &page_url, &[], None).is_ok();
    drop(dev);
    let deadline = Instant::now() + Duration::from_secs(15);
    while running() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!running(), "npm run dev left a server running");
}

/// `GET /items` of tenant `a` as the dev user, sent the way a page served by Vite sends it.
fn list_from_vite_origin(base: &str) -> Response {
    http::request(
        "GET",
        &format!("{base}{ITEMS}"),
        &[
            ("Origin", "http://localhost:5173"),
            ("X-Tenant-Id", "a"),
            ("X-User-Id", "dev"),
        ],
        None,
    )
}

/// The sandbox's scripts read the PG* variables as modkit does (after DATABASE_URL, .env and
/// modkit.toml, before the local database): `npm run bootstrap` with PGHOST, PGPORT, PGUSER and
/// PGDATABASE alone bootstraps that database, and never makes or starts a local one.
#[test]
fn npm_run_bootstrap_uses_the_pg_variables_as_modkit_does_before_the_local_database() {
    let sb = sandbox();
    let db = TestDb::new();
    let url = url::Url::parse(db.url()).unwrap();
    let port = url.port().unwrap_or(5432).to_string();
    let out = output(
        command("npm", &sb.dir)
            .args(["run", "bootstrap"])
            .env("PGHOST", url.host_str().unwrap())
            .env("PGPORT", &port)
            .env("PGUSER", url.username())
            .env("PGDATABASE", db.name()),
    );
    assert!(out.status.success(), "{}", transcript(&out));
    assert!(!stdout(&out).contains("local database"), "{}", transcript(&out));
    assert_eq!(
        db.scalar("SELECT string_agg(code, ' ') FROM public.sys_tenant"),
        "dev"
    );
}

/// A tenant bootstrapped once with `--tenant` stays a dev tenant: a later plain bootstrap (modkit's
/// and the sandbox's own, which `npm run dev` runs on a saved permission) grants it what the module
/// declares and the dev role lacks. Here the lack is made by deleting a grant, as a permission added
/// to the module since would be.
#[test]
fn a_tenant_added_with_tenant_keeps_its_dev_grants_in_later_plain_bootstraps() {
    use super::sandbox::npm_bootstrap;
    let sb = sandbox();
    let db = TestDb::new();
    run_ok(&mut modkit_bootstrap(&sb.dir, db.url(), &["acme"]));
    let held = |tenant: &str| {
        db.scalar(&format!(
            "SELECT string_agg(rp.permission, ' ' ORDER BY rp.permission)
               FROM public.sys_user_role ur
               JOIN public.sys_tenant t ON t.id = ur.tenant_id AND t.code = '{tenant}'
               JOIN public.sys_role r ON r.id = ur.role_id
               JOIN public.sys_role_permission rp ON rp.role_id = r.id
              WHERE ur.user_id = 'dev'"
        ))
    };
    let all = "items.create items.delete items.read items.update";
    assert_eq!(held("acme"), all);
    let take_back = || {
        db.execute(
            "DELETE FROM public.sys_role_permission rp USING public.sys_role r, public.sys_tenant t
              WHERE rp.role_id = r.id AND r.tenant_id = t.id AND t.code = 'acme' AND rp.permission = 'items.update'",
        )
    };
    take_back();
    assert_eq!(held("acme"), "items.create items.delete items.read");
    run_ok(&mut modkit_bootstrap(&sb.dir, db.url(), &[]));
    assert_eq!(held("acme"), all, "modkit bootstrap without --tenant forgot acme");
    take_back();
    run_ok(&mut npm_bootstrap(&sb.dir, db.url(), &[]));
    assert_eq!(
        held("acme"),
        all,
        "npm run bootstrap without --tenant forgot acme"
    );
    // A tenant the dev user was never given stays so.
    run_ok(super::sandbox::command(crate::support::bin(), &sb.dir).args([
        "tenant",
        "add",
        "globex",
        "--db",
        db.url(),
    ]));
    run_ok(&mut npm_bootstrap(&sb.dir, db.url(), &[]));
    assert_eq!(db.scalar("SELECT count(*) FROM public.sys_user_role ur JOIN public.sys_tenant t ON t.id = ur.tenant_id AND t.code = 'globex'"), "0");
}
