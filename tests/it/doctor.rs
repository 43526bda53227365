//! `modkit doctor`: a fresh sandbox and a freshly adapted foundation are clean; each trap of the
//! seed (and each kind of drift) is found, with its code, file and line; `--db` reads the database
//! without changing it. The codes are documented in docs/doctor.md.

use std::process::Output;

use insta::assert_snapshot;

use crate::support::pg::{TestDb, redact};
use crate::support::{CliTest, stdout};

fn code_of(test: &CliTest, out: &Output) -> i32 {
    out.status
        .code()
        .unwrap_or_else(|| panic!("killed: {}", test.filter(&crate::support::transcript(out))))
}

/// The diagnostics of a `--format json` run: (code, file, line).
fn found(test: &CliTest, args: &[&str]) -> (i32, Vec<(String, String, Option<u64>)>) {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    let out = test.run(&all);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}):\n{}",
            test.filter(&crate::support::transcript(&out))
        )
    });
    let list = doc["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["code"].as_str().unwrap().to_string(),
                d["file"].as_str().unwrap_or_default().to_string(),
                d["line"].as_u64(),
            )
        })
        .collect();
    (code_of(test, &out), list)
}

fn sandbox(test: &CliTest) {
    let out = test.run(&["init", "items", "-q"]);
    assert!(out.status.success());
}

#[test]
fn fresh_projects_are_clean() {
    let test = CliTest::new();
    sandbox(&test);
    let out = test.run(&["doctor", "items"]);
    assert_eq!(code_of(&test, &out), 0, "{}", stdout(&out));
    assert!(stdout(&out).contains("No problems found in the `items` sandbox."));

    test.copy_fixture("foundation", "foundation");
    assert!(
        test.run(&["adapt", "items", "--foundation", "foundation", "-q"])
            .status
            .success()
    );
    let out = test.run(&["doctor", "foundation"]);
    assert_eq!(code_of(&test, &out), 0, "{}", stdout(&out));
    assert!(
        stdout(&out).contains("No problems found in the foundation (1 module(s): items)."),
        "{}",
        stdout(&out)
    );
}

#[test]
fn the_seed_traps_in_a_sandbox_are_found_with_file_and_line() {
    let test = CliTest::new();
    sandbox(&test);
    // The seed's tsconfig (baseUrl, and an alias to a folder that is not there), its CORS, a module
    // table that grew a tenant_id, and business code that imports the DB client.
    test.replace_in_file(
        "items/tsconfig.json",
        "\"compilerOptions\": {",
        "\"compilerOptions\": {\n    \"baseUrl\": \".\",",
    );
    test.replace_in_file("items/tsconfig.json", "\"./client/src/*\"", "\"./src/client/*\"");
    let server = test.read_file("items/sandbox/server.ts");
    let cors_line = server.lines().position(|l| l.contains("app.use(cors(")).unwrap() + 1;
    let start = server.find("app.use(cors(").unwrap();
    let end = start + server[start..].find('\n').unwrap();
    test.write_file(
        "items/sandbox/server.ts",
        format!(
            "{}app.use(cors({{ origin: true, credentials: true }}));{}",
            &server[..start],
            &server[end..]
        ),
    );
    test.write_file(
        "items/plugin/migrations/0002_add_tenant.sql",
        "-- tenant_id in a comment does not count\nALTER TABLE items\n  ADD COLUMN tenant_id uuid;\n",
    );
    test.replace_in_file(
        "items/plugin/index.ts",
        "import type { Request, Response } from 'express';",
        "import type { Request, Response } from 'express';\nimport { Pool } from 'pg';",
    );
    let pg_line = test
        .read_file("items/plugin/index.ts")
        .lines()
        .position(|l| l.contains("from 'pg'"))
        .unwrap()
        + 1;
    let (code, list) = found(&test, &["doctor", "items"]);
    assert_eq!(code, 1);
    let expected = [
        ("tsconfig-base-url", "tsconfig.json", Some(4)),
        ("tsconfig-path-missing", "tsconfig.json", Some(20)),
        ("cors-any-origin", "sandbox/server.ts", Some(cors_line as u64)),
        (
            "module-imports-db-client",
            "plugin/index.ts",
            Some(pg_line as u64),
        ),
        (
            "module-table-tenant-id",
            "plugin/migrations/0002_add_tenant.sql",
            Some(3),
        ),
    ];
    let got: Vec<(&str, &str, Option<u64>)> = list
        .iter()
        .map(|(c, f, l)| (c.as_str(), f.as_str(), *l))
        .collect();
    assert_eq!(got, expected);

    // The same for a person, and as GitHub annotations.
    assert_snapshot!(test.transcript(test.command().args(["doctor"]).current_dir(test.path("items"))));
    let out = test.run(&["doctor", "items", "--format", "github"]);
    let annotations = stdout(&out);
    assert!(
        annotations.contains("::error file=items/plugin/migrations/0002_add_tenant.sql,line=3,title=modkit doctor module-table-tenant-id::"),
        "{annotations}"
    );
    assert_eq!(annotations.lines().count(), 5, "{annotations}");
}

#[test]
fn drift_in_a_foundation_is_found() {
    let test = CliTest::new();
    sandbox(&test);
    test.copy_fixture("foundation", "foundation");
    assert!(
        test.run(&["adapt", "items", "--foundation", "foundation", "-q"])
            .status
            .success()
    );
    let dir = "foundation/src/modules/items";
    // The seed's adapter path, copied rather than computed; a permission missing from the config.
    test.replace_in_file(
        format!("{dir}/server/routes/index.ts"),
        "'../../../../lib/db/tenant-db.js'",
        "'../../../lib/db/tenant-db.js'",
    );
    test.replace_in_file(format!("{dir}/module.config.ts"), ", \"items.delete\"]", "]");
    // A second module with code but no adapter, whose permission is not prefixed with its id.
    test.write_file(
        "foundation/src/modules/orders/plugin/index.ts",
        "export const permissions = ['orders.read', 'read_all'];\nexport default { meta: { id: 'orders', version: '1.0.0', api: '1.x' }, register() {} };\n",
    );
    let (code, list) = found(&test, &["doctor", "foundation"]);
    assert_eq!(code, 1);
    let got: Vec<(&str, &str)> = list.iter().map(|(c, f, _)| (c.as_str(), f.as_str())).collect();
    assert_eq!(
        got,
        [
            ("import-unresolved", "src/modules/items/server/routes/index.ts"),
            ("module-config-drift", "src/modules/items/module.config.ts"),
            ("adapter-missing", "src/modules/orders/server/routes/index.ts"),
            ("permission-prefix", "src/modules/orders/plugin/index.ts"),
            ("adapted-file-edited", "src/modules/items/module.config.ts"),
            ("adapted-file-edited", "src/modules/items/server/routes/index.ts"),
        ]
    );
    // A file that does not parse is reported, and the other checks still run.
    let config = test.read_file(format!("{dir}/module.config.ts"));
    test.write_file(
        format!("{dir}/module.config.ts"),
        "export default { id: 'items',, };\n",
    );
    let (code, list) = found(&test, &["doctor", "foundation"]);
    let codes: Vec<&str> = list.iter().map(|(c, _, _)| c.as_str()).collect();
    assert_eq!(code, 1);
    assert!(
        codes.contains(&"typescript-syntax") && codes.contains(&"import-unresolved"),
        "{codes:?}"
    );
    test.write_file(format!("{dir}/module.config.ts"), config);

    // Warnings alone do not fail: fix the errors, keep the rest.
    assert!(
        test.run(&["adapt", "items", "--foundation", "foundation", "--force", "-q"])
            .status
            .success()
    );
    test.write_file(
        "foundation/src/modules/orders/server/routes/index.ts",
        "export default {};\n",
    );
    let (code, list) = found(&test, &["doctor", "foundation"]);
    let codes: Vec<&str> = list.iter().map(|(c, _, _)| c.as_str()).collect();
    assert_eq!((code, codes), (0, vec!["permission-prefix"]));
}

#[test]
fn with_db_it_reads_the_database_and_changes_nothing() {
    let db = TestDb::new();
    let test = CliTest::new()
        .with_filter(db.url(), "[DB]")
        .with_filter(redact(db.url()), "[DB]");
    sandbox(&test);
    let dir = test.path("items");
    let dir = dir.to_str().unwrap();

    // A fresh database is behind the code, and doctor leaves it so.
    let (code, list) = found(&test, &["doctor", dir, "--db", db.url()]);
    assert_eq!(code, 1);
    assert!(
        list.iter().all(|(c, _, _)| c == "db-pending") && list.len() >= 3,
        "{list:?}"
    );
    assert_eq!(
        db.scalar("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"),
        "0"
    );

    // Bootstrapped: clean.
    assert!(
        test.run(&[
            "bootstrap",
            "--project",
            dir,
            "--db",
            db.url(),
            "--tenant",
            "acme",
            "-q"
        ])
        .status
        .success()
    );
    let (code, list) = found(&test, &["doctor", dir, "--db", db.url()]);
    assert_eq!((code, list.len()), (0, 0), "{list:?}");

    // Drift in the database: a tenant_id column, a stray schema, an edited migration.
    db.execute("ALTER TABLE tenant_acme.items ADD COLUMN tenant_id uuid; CREATE SCHEMA tenant_ghost;");
    let migration = "items/plugin/migrations/0001_create_module_table.sql";
    test.write_file(migration, format!("{}-- edited\n", test.read_file(migration)));
    let (code, list) = found(&test, &["doctor", dir, "--db", db.url()]);
    assert_eq!(code, 1);
    let codes: Vec<&str> = list.iter().map(|(c, _, _)| c.as_str()).collect();
    assert_eq!(
        codes,
        [
            "db-migration-edited",
            "db-migration-edited",
            "db-module-table-tenant-id",
            "db-schema-without-tenant"
        ],
        "{list:?}"
    );

    // The URL from DATABASE_URL with a bare --db; a password is never printed.
    let with_password = db
        .url()
        .replacen("postgres://postgres@", "postgres://postgres:hunter2secret@", 1);
    let out = test
        .command()
        .args(["doctor", dir, "--db"])
        .env("DATABASE_URL", &with_password)
        .output()
        .unwrap();
    let text = format!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    assert_eq!(code_of(&test, &out), 1, "{text}");
    assert!(!text.contains("hunter2secret") && text.contains("***"), "{text}");

    // An unreachable server is an environment error.
    let out = test.run(&[
        "doctor",
        dir,
        "--db",
        "postgres://nobody@127.0.0.1:1/x",
        "--connect-timeout",
        "3",
    ]);
    assert_eq!(
        code_of(&test, &out),
        2,
        "{}",
        test.filter(&crate::support::transcript(&out))
    );
}

#[test]
fn a_folder_that_is_neither_is_a_usage_error() {
    let test = CliTest::new();
    test.write_file("empty/readme.txt", "nothing here");
    let out = test.run(&["doctor", "empty"]);
    assert_eq!(code_of(&test, &out), 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("is neither a module sandbox"));
}
