//! The sandbox against a sharded database: `npm run bootstrap` (sandbox/bootstrap.ts) distributes
//! the tenant schemas on the coordinator and refuses a worker, and the API keeps the seed's
//! definition of done with each tenant on its worker (`withTenantTx`'s transaction-local
//! `search_path` is all Citus needs to route).

use crate::e2e::sandbox::{
    ITEMS, command, modkit_bootstrap, names_of, npm_bootstrap, output, run_ok, sandbox, start_api, timed,
};
use crate::support::citus::CitusDb;
use crate::support::http;
use crate::support::{stdout, transcript};

fn get(url: &str, tenant: &str) -> http::Response {
    http::request("GET", url, &[("X-User-Id", "dev"), ("X-Tenant-Id", tenant)], None)
}

#[test]
fn the_sandbox_keeps_the_definition_of_done_on_a_sharded_database() {
    let sb = sandbox();
    let db = CitusDb::new();
    let out = timed("npm run bootstrap (Citus)", || {
        run_ok(&mut npm_bootstrap(&sb.dir, db.url(), &["a", "b"]))
    });
    assert!(stdout(&out).contains("Citus coordinator"), "{}", transcript(&out));
    // dev, a and b: each schema distributed, on a worker.
    assert_eq!(db.scalar("SELECT count(*) FROM pg_dist_schema"), "3");
    assert_eq!(
        db.scalar("SELECT count(DISTINCT nodeport) FROM citus_shards WHERE citus_table_type = 'schema'"),
        "2",
        "three tenants over two workers"
    );
    // modkit finds nothing left to do: both bootstraps agree on Citus too.
    run_ok(modkit_bootstrap(&sb.dir, db.url(), &["a", "b"]).arg("--check"));

    let api = start_api("api-citus", db.url(), &[]);
    let items = format!("{}{ITEMS}", api.base());
    for tenant in ["a", "b"] {
        let res = get(&items, tenant);
        assert_eq!(res.status, 200, "dev in {tenant}: {res:?}");
        assert_eq!(res.json(), serde_json::json!({"data": []}));
    }
    // Two tenants, on their workers, each see only their own rows.
    let res = http::request(
        "POST",
        &items,
        &[("X-User-Id", "dev"), ("X-Tenant-Id", "a")],
        Some(r#"{"name":"a-created"}"#),
    );
    assert_eq!(res.status, 201, "{res:?}");
    let id = res.json()["data"]["id"].as_str().expect("an id").to_string();
    db.execute("INSERT INTO tenant_b.items (name) VALUES ('b-first')");
    assert_eq!(names_of(&get(&items, "a")), ["a-created"]);
    assert_eq!(names_of(&get(&items, "b")), ["b-first"]);
    assert_eq!(get(&format!("{items}/{id}"), "b").status, 404, "b reads a's row");
    assert_eq!(get(&format!("{items}/{id}"), "a").status, 200);
}

#[test]
fn npm_run_bootstrap_refuses_a_citus_worker() {
    let sb = sandbox();
    let db = CitusDb::new();
    let out = output(&mut npm_bootstrap(&sb.dir, &db.worker_url(0), &["a"]));
    assert_eq!(out.status.code(), Some(2), "{}", transcript(&out));
    assert!(
        transcript(&out).contains("Citus worker node"),
        "{}",
        transcript(&out)
    );
    assert_eq!(
        crate::support::pg::psql_scalar(
            &db.worker_url(0),
            "SELECT count(*) FROM pg_class WHERE relname = 'sys_tenant'"
        ),
        "0"
    );
}

/// sandbox/bootstrap.ts splits migrations with the same rules as modkit's splitter.
#[test]
fn the_sandbox_splits_migrations_like_modkit() {
    let sb = sandbox();
    let sql = "CREATE INDEX i ON t (x); -- a; comment\nSELECT 'a;b', E'\\';', \"q;\";\n\
               CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT CASE WHEN true THEN 1 END; END;\n\
               SELECT $x$;$x$ /* c; /* d; */ */;\n;";
    // An ES module script of its own (tsx's --eval is CommonJS, and bootstrap.ts has a top-level await).
    let script = sb.root.join("citus_split_check.mts");
    std::fs::write(
        &script,
        format!(
            "import {{ splitStatements }} from {:?};\nconsole.log(JSON.stringify(splitStatements(process.argv[2])));\n",
            sb.dir.join("sandbox/bootstrap.ts").display().to_string()
        ),
    )
    .unwrap();
    let out = run_ok(command("npx", &sb.dir).arg("tsx").arg(&script).arg(sql));
    let parts: Vec<String> = serde_json::from_str(stdout(&out).trim()).expect("a JSON array");
    assert_eq!(
        parts,
        [
            "CREATE INDEX i ON t (x)",
            "-- a; comment\nSELECT 'a;b', E'\\';', \"q;\"",
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT CASE WHEN true THEN 1 END; END",
            "SELECT $x$;$x$ /* c; /* d; */ */",
        ]
    );
}
