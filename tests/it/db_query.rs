//! `modkit db query` and `modkit db psql` (docs/localdb.md, "Looking at the data"): on a real
//! PostgreSQL, in a sandbox and in a foundation, with and without a psql on PATH, the password
//! never in any output nor on psql's command line, hostile tenant codes refused before anything runs.

use std::path::Path;
use std::process::{Output, Stdio};

use crate::support::pg::{TestDb, TestRole};
use crate::support::{CliTest, stderr, stdout, transcript};

/// A sandbox of module `items`, bootstrapped on `url` with tenants dev and acme, one row in acme.
fn sandbox(test: &CliTest, db: &TestDb) {
    test.write_file(
        "items/modkit.toml",
        "[module]\nid = \"items\"\nname = \"Items\"\n\n[dev]\nuser = \"dev\"\ntenants = [\"dev\"]\n",
    );
    test.write_file(
        "items/plugin/index.ts",
        "export const permissions = ['items.read'] satisfies string[];\n\
         export default { meta: { id: 'items', version: '1.0.0', api: '1.x' }, async register() {} };\n",
    );
    test.write_file(
        "items/plugin/migrations/0001_items.sql",
        "CREATE TABLE items (id bigint PRIMARY KEY, name text, price numeric, tags jsonb);\n",
    );
    let out = test.run(&[
        "bootstrap",
        "--project",
        "items",
        "--db",
        db.url(),
        "--tenant",
        "acme",
    ]);
    assert!(out.status.success(), "{}", transcript(&out));
    db.execute(
        "INSERT INTO tenant_acme.items VALUES (1, 'first', 1.10, '{\"a\": [1]}'), (2, NULL, NULL, NULL)",
    );
}

/// `modkit <args>` in `dir` with `env`; PATH is replaced when `path` is given.
fn run_in(test: &CliTest, dir: &str, args: &[&str], env: &[(&str, &str)], path: Option<&Path>) -> Output {
    let mut cmd = test.command();
    cmd.current_dir(test.path(dir)).args(args).stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    if let Some(path) = path {
        cmd.env("PATH", path);
    }
    cmd.output().expect("cannot run modkit")
}

/// A folder holding only `psql`, a link to the real one (or a script when `script` is given).
fn psql_dir(test: &CliTest, name: &str, script: Option<&str>) -> std::path::PathBuf {
    let dir = test.path(name);
    std::fs::create_dir_all(&dir).unwrap();
    let psql = dir.join("psql");
    match script {
        Some(text) => {
            std::fs::write(&psql, text).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&psql, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        None => {
            let real = which::which("psql").expect("CI: psql must be installed for this test");
            std::os::unix::fs::symlink(real, &psql).unwrap();
        }
    }
    dir
}

#[track_caller]
fn never_shows(out: &Output, secret: &str) {
    let all = transcript(out);
    assert!(!all.contains(secret), "the password is in the output:\n{all}");
}

#[test]
fn db_query_prints_a_table_json_and_the_servers_message_for_a_failing_statement() {
    let test = CliTest::new();
    let db = TestDb::new();
    sandbox(&test, &db);
    let url = db.url();

    let out = run_in(
        &test,
        "items",
        &[
            "db",
            "query",
            "--db",
            url,
            "--tenant",
            "acme",
            "SELECT id, name, price FROM items ORDER BY id;",
        ],
        &[],
        None,
    );
    assert!(out.status.success(), "{}", transcript(&out));
    assert_eq!(
        stdout(&out),
        " id | name  | price\n----+-------+-------\n 1  | first | 1.10\n 2  |       |\n(2 rows)\n"
    );

    // The tenant's search_path, as the bootstrap and the API set it.
    let out = run_in(
        &test,
        "items",
        &["db", "query", "--db", url, "--tenant", "acme", "SHOW search_path"],
        &[],
        None,
    );
    assert!(
        stdout(&out).contains("tenant_acme, extensions"),
        "{}",
        transcript(&out)
    );

    let out = run_in(
        &test,
        "items",
        &[
            "db",
            "query",
            "--db",
            url,
            "--tenant",
            "acme",
            "--format",
            "json",
            "SELECT id, name, price, tags, id > 1 AS big FROM items ORDER BY id",
        ],
        &[],
        None,
    );
    assert!(out.status.success(), "{}", transcript(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        json["rows"],
        serde_json::json!([[1, "first", "1.10", {"a": [1]}, false], [2, null, null, null, true]])
    );
    assert_eq!(
        json["columns"][0],
        serde_json::json!({"name": "id", "type": "int8"})
    );
    assert_eq!(json["search_path"], "tenant_acme, extensions");

    // No rows: the columns are still there.
    let out = run_in(
        &test,
        "items",
        &[
            "db",
            "query",
            "--db",
            url,
            "--tenant",
            "acme",
            "--format",
            "json",
            "SELECT id FROM items WHERE false",
        ],
        &[],
        None,
    );
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        json["columns"],
        serde_json::json!([{"name": "id", "type": "int8"}]),
        "{}",
        transcript(&out)
    );

    // A write says what it touched.
    let out = run_in(
        &test,
        "items",
        &[
            "db",
            "query",
            "--db",
            url,
            "--tenant",
            "acme",
            "UPDATE items SET name = 'x'",
        ],
        &[],
        None,
    );
    assert_eq!(stdout(&out), "done (2 row(s) affected)\n", "{}", transcript(&out));

    // A statement the server refuses: its message and SQLSTATE, exit 1; in JSON too.
    let out = run_in(
        &test,
        "items",
        &[
            "db",
            "query",
            "--db",
            url,
            "--tenant",
            "acme",
            "SELECT nosuch FROM items",
        ],
        &[],
        None,
    );
    assert_eq!(out.status.code(), Some(1), "{}", transcript(&out));
    assert!(
        stderr(&out).contains("column \"nosuch\" does not exist (SQLSTATE 42703"),
        "{}",
        transcript(&out)
    );
    let out = run_in(
        &test,
        "items",
        &["db", "query", "--db", url, "--format", "json", "SELECT 1/0"],
        &[],
        None,
    );
    assert_eq!(out.status.code(), Some(1), "{}", transcript(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(
        json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("division by zero"),
        "{json}"
    );

    // Usage errors are exit 2, before anything is sent: two statements, none, an unknown tenant.
    for (args, says) in [
        (vec!["SELECT 1; DELETE FROM items"], "2 statements given"),
        (vec!["/* nothing */ ;"], "no SQL statement given"),
        (
            vec!["--tenant", "globex", "SELECT 1"],
            "there is no tenant `globex`",
        ),
    ] {
        let mut all = vec!["db", "query", "--db", url];
        all.extend(args);
        let out = run_in(&test, "items", &all, &[], None);
        assert_eq!(out.status.code(), Some(2), "{}", transcript(&out));
        assert!(stderr(&out).contains(says), "{}", transcript(&out));
    }
    assert_eq!(db.scalar("SELECT count(*) FROM tenant_acme.items"), "2");
}

#[test]
fn db_psql_runs_psql_in_the_tenants_schema_and_never_puts_the_password_on_its_command_line() {
    let test = CliTest::new();
    let role = TestRole::new("dbpsql");
    let db = TestDb::new();
    sandbox(&test, &db);
    db.execute(&format!("GRANT USAGE ON SCHEMA tenant_acme, public TO {0}; GRANT SELECT ON ALL TABLES IN SCHEMA tenant_acme, public TO {0}", role.name));
    let with_password = role.url(&db);
    let secret = TestRole::PASSWORD;

    // The real psql, the URL (with its password) from DATABASE_URL.
    let real = psql_dir(&test, "real-bin", None);
    let out = run_in(
        &test,
        "items",
        &[
            "db",
            "psql",
            "--tenant",
            "acme",
            "--",
            "-Atc",
            "SELECT current_user || ' ' || current_setting('search_path') || ' ' || count(*) FROM items",
        ],
        &[("DATABASE_URL", &with_password)],
        Some(&real),
    );
    assert!(out.status.success(), "{}", transcript(&out));
    assert_eq!(
        stdout(&out).trim(),
        format!("{} tenant_acme, extensions 2", role.name)
    );
    never_shows(&out, secret);

    // What psql is given: the password in PGPASSWORD, never in its arguments.
    let fake = psql_dir(
        &test,
        "fake-bin",
        Some(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > \"$OUT/args\"\nprintf '%s' \"$PGPASSWORD\" > \"$OUT/password\"\nprintf '%s' \"$PGOPTIONS\" > \"$OUT/options\"\n",
        ),
    );
    let out_dir = test.path("seen");
    std::fs::create_dir_all(&out_dir).unwrap();
    let out = run_in(
        &test,
        "items",
        &[
            "db",
            "psql",
            "--tenant",
            "acme",
            "-v",
            "--db",
            &with_password,
            "--",
            "-c",
            "\\dt",
        ],
        &[("OUT", out_dir.to_str().unwrap())],
        Some(&fake),
    );
    assert!(out.status.success(), "{}", transcript(&out));
    never_shows(&out, secret);
    let args = test.read_file("seen/args");
    assert!(!args.contains(secret), "{args}");
    assert!(args.ends_with("-c\n\\dt\n"), "{args}");
    assert_eq!(test.read_file("seen/password"), secret);
    assert_eq!(
        test.read_file("seen/options"),
        "-c search_path=tenant_acme,\\ extensions"
    );

    // Hostile tenant codes: refused, exit 2, psql never started.
    std::fs::remove_file(out_dir.join("args")).unwrap();
    for code in [
        "acme,public",
        "acme; DROP SCHEMA public",
        "../acme",
        "Acme",
        "acme -c",
    ] {
        for sub in ["psql", "query"] {
            let mut args = vec!["db", sub, "--tenant", code, "--db", &with_password];
            if sub == "query" {
                args.push("SELECT 1");
            }
            let out = run_in(
                &test,
                "items",
                &args,
                &[("OUT", out_dir.to_str().unwrap())],
                Some(&fake),
            );
            assert_eq!(out.status.code(), Some(2), "{}", transcript(&out));
            assert!(
                stderr(&out).contains("invalid tenant code"),
                "{}",
                transcript(&out)
            );
            never_shows(&out, secret);
        }
    }
    assert!(
        !out_dir.join("args").exists(),
        "psql was started for a hostile tenant code"
    );
}

#[test]
fn db_psql_without_psql_on_path_points_at_db_query_which_works_in_a_foundation() {
    let test = CliTest::new();
    let db = TestDb::new();
    assert!(
        test.run(&["init", "platform", "--foundation", "--tenant", "acme"])
            .status
            .success()
    );
    let out = test.run(&[
        "bootstrap",
        "--project",
        "platform",
        "--db",
        db.url(),
        "--tenant",
        "acme",
    ]);
    assert!(out.status.success(), "{}", transcript(&out));
    let empty = test.path("no-bin");
    std::fs::create_dir_all(&empty).unwrap();

    let out = run_in(
        &test,
        "platform",
        &["db", "psql", "--tenant", "acme"],
        &[("DATABASE_URL", db.url())],
        Some(&empty),
    );
    assert_eq!(out.status.code(), Some(2), "{}", transcript(&out));
    assert!(
        stderr(&out).contains("there is no psql on PATH"),
        "{}",
        transcript(&out)
    );
    assert!(stderr(&out).contains("modkit db query"), "{}", transcript(&out));

    let out = run_in(
        &test,
        "platform",
        &[
            "db",
            "query",
            "--tenant",
            "acme",
            "SELECT current_setting('search_path') AS path",
        ],
        &[("DATABASE_URL", db.url())],
        Some(&empty),
    );
    assert!(out.status.success(), "{}", transcript(&out));
    assert!(
        stdout(&out).contains(" tenant_acme, extensions"),
        "{}",
        transcript(&out)
    );
}
