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

/// Issue 15: the cases where the splitter dropped or changed what a migration says, run against the
/// sandbox's twin (src/db/split.rs has the same as unit tests): an unterminated nested comment or
/// string is an error naming the line, a lone CR ends a `--` comment, only ASCII whitespace is
/// trimmed (NBSP is part of a name), a leading BOM is skipped, a continued E'' string stays one, and
/// a script changing standard_conforming_strings is refused.
#[test]
fn the_sandbox_splitter_never_drops_or_changes_a_byte() {
    let sb = sandbox();
    let script = sb.root.join("split_cases.mts");
    std::fs::write(
        &script,
        format!(
            "import {{ splitStatements }} from {:?};\n\
             const cases = JSON.parse(process.argv[2]);\n\
             console.log(JSON.stringify(cases.map((c: string) => {{ try {{ return {{ ok: splitStatements(c) }}; }} \
             catch (e) {{ return {{ error: (e as Error).message }}; }} }})));\n",
            sb.dir.join("sandbox/bootstrap.ts").display().to_string()
        ),
    )
    .unwrap();
    let cases: Vec<(&str, serde_json::Value)> = vec![
        (
            "CREATE TABLE a (id int);\n/* seeds/* */\nCREATE TABLE b (id int);\n",
            serde_json::json!({"error": "line 2: unterminated /* comment (comments nest: a /* inside one opens another)"}),
        ),
        (
            "SELECT 1;\nSELECT 'open;\nSELECT 2",
            serde_json::json!({"error": "line 2: unterminated quoted string"}),
        ),
        (
            "SELECT 1;\n\nSELECT $t$ open; $$; SELECT 2",
            serde_json::json!({"error": "line 3: unterminated dollar-quoted string"}),
        ),
        (
            "-- one\rCREATE TABLE a (id int);\r\nCREATE TABLE b (id int);",
            serde_json::json!({"ok": ["-- one\rCREATE TABLE a (id int)", "CREATE TABLE b (id int)"]}),
        ),
        (
            "ALTER TABLE t RENAME TO t2\u{a0};\n\u{a0}SELECT 1\u{2003}",
            serde_json::json!({"ok": ["ALTER TABLE t RENAME TO t2\u{a0}", "\u{a0}SELECT 1\u{2003}"]}),
        ),
        (
            "\u{feff}CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END;\nSELECT 2;",
            serde_json::json!({"ok": ["CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END", "SELECT 2"]}),
        ),
        (
            "SELECT E'a' -- x\n'b\\';c';SELECT 'a'\n'b\\';SELECT 3",
            serde_json::json!({"ok": ["SELECT E'a' -- x\n'b\\';c'", "SELECT 'a'\n'b\\'", "SELECT 3"]}),
        ),
    ];
    let input: Vec<&str> = cases.iter().map(|(c, _)| *c).collect();
    let out = run_ok(
        command("npx", &sb.dir)
            .arg("tsx")
            .arg(&script)
            .arg(serde_json::to_string(&input).unwrap()),
    );
    let got: Vec<serde_json::Value> = serde_json::from_str(stdout(&out).trim()).expect("a JSON array");
    for ((case, want), got) in cases.iter().zip(&got) {
        assert_eq!(got, want, "{case:?}");
    }
    // standard_conforming_strings changed: refused, whatever the spelling.
    let out = run_ok(
        command("npx", &sb.dir).arg("tsx").arg(&script).arg(
            serde_json::to_string(&[
                "SET standard_conforming_strings = off;\nSELECT 'a\\';",
                "SELECT set_config('Standard_Conforming_Strings', 'off', true)",
            ])
            .unwrap(),
        ),
    );
    let got: Vec<serde_json::Value> = serde_json::from_str(stdout(&out).trim()).unwrap();
    for g in got {
        assert!(
            g["error"]
                .as_str()
                .is_some_and(|e| e.contains("standard_conforming_strings")),
            "{g}"
        );
    }
}

/// On the Citus path a migration with an unterminated nested comment used to lose the rest of the
/// file and be recorded as applied: now nothing is sent and the file and line are named.
#[test]
fn an_unterminated_comment_on_citus_is_refused_and_nothing_recorded() {
    let sb = sandbox();
    let db = CitusDb::new();
    let dir = sb.root.join("citus-comment");
    run_ok(command(env!("CARGO_BIN_EXE_modkit"), &sb.root).args(["init", "items", "--dir", "citus-comment"]));
    std::fs::write(
        dir.join("plugin/migrations/0002_notes.sql"),
        "CREATE TABLE notes (id int);\n/* seeds/* */\nCREATE TABLE lost (id int);\n",
    )
    .unwrap();
    let out = output(&mut modkit_bootstrap(&dir, db.url(), &["a"]));
    assert_eq!(out.status.code(), Some(1), "{}", transcript(&out));
    assert!(
        transcript(&out).contains("migration items/0002_notes.sql, line 2: unterminated /* comment"),
        "{}",
        transcript(&out)
    );
    assert_eq!(
        db.scalar("SELECT count(*) FROM sys_module_migration WHERE migration = '0002_notes.sql'"),
        "0"
    );
}
