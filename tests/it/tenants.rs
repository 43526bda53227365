//! `modkit tenant list|add|rename|remove`, `modkit grant|revoke` and `modkit access list` on a real
//! PostgreSQL, and on the Citus cluster: what each leaves in the catalog, the rows and the system
//! tables, and what they refuse. docs/tenants.md describes the commands.

use std::process::{Command, Output, Stdio};

use crate::support::citus::CitusDb;
use crate::support::pg::TestDb;
use crate::support::{CliTest, stderr, stdout, transcript};

/// A sandbox of module `items` whose migration makes a table, two indexes and a row in each tenant.
fn project(test: &CliTest) {
    test.write_file(
        "items/modkit.toml",
        "[module]\nid = \"items\"\nname = \"Items\"\n\n[dev]\nuser = \"dev\"\ntenants = [\"dev\"]\n",
    );
    test.write_file(
        "items/plugin/index.ts",
        "export const permissions = ['items.read', 'items.write'] satisfies string[];\n\
         export default { meta: { id: 'items', version: '1.0.0', api: '1.x' }, async register() {} };\n",
    );
    test.write_file(
        "items/plugin/migrations/0001_items.sql",
        "CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL);\n\
         CREATE INDEX items_name ON items (name);\n\
         INSERT INTO items VALUES (1, 'first');\n",
    );
}

fn modkit(test: &CliTest, url: &str, args: &[&str]) -> Output {
    let mut cmd = test.command();
    cmd.current_dir(test.path("items"))
        .args(args)
        .args(["--db", url])
        .stdin(Stdio::null());
    cmd.output().expect("cannot run modkit")
}

#[track_caller]
fn ok(test: &CliTest, url: &str, args: &[&str]) -> String {
    let out = modkit(test, url, args);
    assert!(out.status.success(), "modkit {args:?}:\n{}", transcript(&out));
    stdout(&out)
}

#[track_caller]
fn refused(test: &CliTest, url: &str, args: &[&str], says: &str) {
    let out = modkit(test, url, args);
    assert_eq!(
        out.status.code(),
        Some(2),
        "modkit {args:?}:\n{}",
        transcript(&out)
    );
    assert!(
        stderr(&out).contains(says),
        "modkit {args:?} does not say `{says}`:\n{}",
        transcript(&out)
    );
    assert!(!stderr(&out).contains("panicked"), "{}", transcript(&out));
}

/// Tables, indexes (definition without the schema name) and rows of one tenant schema.
fn contents(rows: impl Fn(&str) -> Vec<Vec<String>>, schema: &str) -> Vec<Vec<String>> {
    let mut out = rows(&format!(
        "SELECT 'table', tablename, '' FROM pg_tables WHERE schemaname = '{schema}'
         UNION ALL
         SELECT 'index', indexname, replace(indexdef, '{schema}.', '') FROM pg_indexes WHERE schemaname = '{schema}'
         ORDER BY 1, 2"
    ));
    out.extend(rows(&format!(
        "SELECT 'row', id::text, name FROM {schema}.items ORDER BY id"
    )));
    out
}

fn pg_dump(url: &str, schemas: &[&str]) -> String {
    let mut cmd = Command::new(newest("pg_dump"));
    cmd.arg("--dbname").arg(url);
    for s in schemas {
        cmd.args(["--schema", s]);
    }
    let out = cmd.output().expect("cannot run pg_dump");
    assert!(out.status.success(), "pg_dump: {}", transcript(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The newest PostgreSQL client tool installed (never older than the server), else PATH's.
fn newest(tool: &str) -> std::path::PathBuf {
    let mut found: Vec<(u32, std::path::PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v: u32 = e.file_name().to_string_lossy().parse().ok()?;
            let bin = e.path().join("bin").join(tool);
            bin.exists().then_some((v, bin))
        })
        .collect();
    found.sort();
    found.pop().map_or_else(|| tool.into(), |(_, p)| p)
}

/// The system rows of every tenant but `except`, as text.
fn system_rows(db: &TestDb, except: &str) -> Vec<Vec<String>> {
    db.rows(&format!(
        "SELECT t.code, t.name, t.schema_name, r.code, rp.permission, ur.user_id, m.module, m.migration, m.checksum
           FROM public.sys_tenant t
           LEFT JOIN public.sys_role r ON r.tenant_id = t.id
           LEFT JOIN public.sys_role_permission rp ON rp.role_id = r.id
           LEFT JOIN public.sys_user_role ur ON ur.role_id = r.id
           LEFT JOIN public.sys_module_migration m ON m.tenant_id = t.id
          WHERE t.code <> '{except}' ORDER BY 1, 4, 5, 6, 7, 8"
    ))
}

fn bootstrapped(test: &CliTest, db: &TestDb, tenants: &[&str]) {
    project(test);
    let mut args = vec!["bootstrap"];
    for t in tenants {
        args.extend(["--tenant", t]);
    }
    ok(test, db.url(), &args);
}

#[test]
fn tenant_add_then_list_shows_code_name_schema_size_and_pending() {
    let test = CliTest::new();
    let db = TestDb::new();
    bootstrapped(&test, &db, &["a"]);
    ok(&test, db.url(), &["tenant", "add", "acme", "--name", "Acme Corp"]);
    let json: serde_json::Value =
        serde_json::from_str(&ok(&test, db.url(), &["tenant", "list", "--format", "json"])).unwrap();
    let acme = json["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["code"] == "acme")
        .unwrap_or_else(|| panic!("no acme in {json:#}"));
    assert_eq!(acme["name"], "Acme Corp");
    assert_eq!(acme["schema"], "tenant_acme");
    assert_eq!(acme["pending_migrations"], 0);
    assert!(acme["size_bytes"].as_i64().unwrap() > 0, "{acme}");
    assert_eq!(db.scalar("SELECT name FROM tenant_acme.items"), "first");
    // A new migration file is pending in every tenant until the next bootstrap.
    test.write_file(
        "items/plugin/migrations/0002_more.sql",
        "ALTER TABLE items ADD COLUMN note text;\n",
    );
    let json: serde_json::Value =
        serde_json::from_str(&ok(&test, db.url(), &["tenant", "list", "--format", "json"])).unwrap();
    for t in json["tenants"].as_array().unwrap() {
        assert_eq!(t["pending_migrations"], 1, "{t}");
    }
    let human = ok(&test, db.url(), &["tenant", "list"]);
    assert!(human.contains("acme  Acme Corp  tenant_acme"), "{human}");
}

/// `tenant add` is the bootstrap of that one tenant: a migration saved since the last bootstrap
/// is applied to the new tenant (which comes out complete) and stays pending everywhere else.
#[test]
fn tenant_add_bootstraps_only_the_new_tenant_and_leaves_another_tenants_pending_migration_pending() {
    let test = CliTest::new();
    let db = TestDb::new();
    bootstrapped(&test, &db, &["a"]);
    test.write_file(
        "items/plugin/migrations/0002_more.sql",
        "ALTER TABLE items ADD COLUMN note text;\n",
    );
    let before = pg_dump(db.url(), &["tenant_a"]);
    let a_records = system_rows(&db, "acme");
    let json: serde_json::Value = serde_json::from_str(&ok(
        &test,
        db.url(),
        &["tenant", "add", "acme", "--format", "json"],
    ))
    .unwrap();
    assert_eq!(json["report"]["migrations"]["created"], 2, "{json:#}");
    // The new tenant is complete: both migrations recorded, the column there, the row there.
    assert_eq!(
        db.rows(
            "SELECT m.migration FROM public.sys_module_migration m JOIN public.sys_tenant t ON t.id = m.tenant_id
              WHERE t.code = 'acme' ORDER BY 1"
        ),
        vec![vec!["0001_items.sql".to_string()], vec!["0002_more.sql".to_string()]]
    );
    assert_eq!(
        db.scalar("SELECT name || coalesce(note, '-') FROM tenant_acme.items"),
        "first-"
    );
    // The other tenant is untouched, its new migration still pending.
    assert_eq!(pg_dump(db.url(), &["tenant_a"]), before);
    assert_eq!(system_rows(&db, "acme"), a_records);
    let json: serde_json::Value =
        serde_json::from_str(&ok(&test, db.url(), &["tenant", "list", "--format", "json"])).unwrap();
    let pending = |code: &str| {
        json["tenants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["code"] == code)
            .unwrap_or_else(|| panic!("no {code} in {json:#}"))["pending_migrations"]
            .clone()
    };
    assert_eq!(pending("a"), 1);
    assert_eq!(pending("acme"), 0);
    // The next bootstrap brings the other tenant in step.
    ok(&test, db.url(), &["bootstrap"]);
    assert_eq!(
        db.scalar("SELECT count(*) FROM information_schema.columns WHERE table_schema = 'tenant_a' AND column_name = 'note'"),
        "1"
    );
}

#[test]
fn tenant_rename_keeps_every_table_index_and_row() {
    let test = CliTest::new();
    let db = TestDb::new();
    bootstrapped(&test, &db, &["a", "b"]);
    db.execute("INSERT INTO tenant_a.items VALUES (2, 'second'), (3, 'third')");
    ok(
        &test,
        db.url(),
        &["grant", "alice", "items.read", "--tenant", "a"],
    );
    let before = contents(|sql| db.rows(sql), "tenant_a");
    let other = pg_dump(db.url(), &["tenant_b"]);

    let out = ok(&test, db.url(), &["tenant", "rename", "a", "--to", "a_eu"]);
    assert!(out.contains("tenant_a is now tenant_a_eu"), "{out}");
    assert_eq!(contents(|sql| db.rows(sql), "tenant_a_eu"), before);
    assert_eq!(
        db.scalar("SELECT count(*) FROM pg_namespace WHERE nspname = 'tenant_a'"),
        "0"
    );
    assert_eq!(
        db.scalar("SELECT code || ' ' || schema_name FROM public.sys_tenant WHERE code LIKE 'a%'"),
        "a_eu tenant_a_eu"
    );
    assert_eq!(pg_dump(db.url(), &["tenant_b"]), other, "tenant b changed");
    // The grant and the migration record followed the tenant: nothing pending, alice still reads.
    let list = ok(
        &test,
        db.url(),
        &["access", "list", "--tenant", "a_eu", "--user", "alice"],
    );
    assert!(list.contains("items.read"), "{list}");
    let json: serde_json::Value =
        serde_json::from_str(&ok(&test, db.url(), &["tenant", "list", "--format", "json"])).unwrap();
    assert!(
        json["tenants"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["pending_migrations"] == 0),
        "{json:#}"
    );
    // A second bootstrap does not make `a` again, nor apply anything to a_eu.
    ok(&test, db.url(), &["bootstrap"]);
    assert_eq!(
        db.scalar("SELECT count(*) FROM public.sys_tenant WHERE code = 'a'"),
        "0"
    );

    refused(
        &test,
        db.url(),
        &["tenant", "rename", "a_eu", "--to", "b"],
        "exists already",
    );
    refused(
        &test,
        db.url(),
        &["tenant", "rename", "nope", "--to", "c"],
        "no tenant `nope`",
    );
}

#[test]
fn tenant_remove_leaves_the_other_tenants_byte_for_byte() {
    let test = CliTest::new();
    let db = TestDb::new();
    bootstrapped(&test, &db, &["a", "b", "c"]);
    for t in ["a", "b", "c"] {
        ok(&test, db.url(), &["grant", "alice", "items.read", "--tenant", t]);
    }
    let others = pg_dump(db.url(), &["tenant_b", "tenant_c", "tenant_dev"]);
    let rows = system_rows(&db, "a");

    let out = ok(&test, db.url(), &["tenant", "remove", "a", "--yes"]);
    assert!(out.contains("schema tenant_a dropped"), "{out}");
    assert_eq!(
        db.scalar("SELECT count(*) FROM pg_namespace WHERE nspname = 'tenant_a'"),
        "0"
    );
    assert_eq!(
        db.scalar("SELECT count(*) FROM public.sys_tenant WHERE code = 'a'"),
        "0"
    );
    assert_eq!(pg_dump(db.url(), &["tenant_b", "tenant_c", "tenant_dev"]), others);
    assert_eq!(system_rows(&db, "a"), rows);
    // Nothing of `a` is left in any system table.
    assert_eq!(
        db.scalar(
            "SELECT (SELECT count(*) FROM public.sys_role WHERE tenant_id NOT IN (SELECT id FROM public.sys_tenant))
                  + (SELECT count(*) FROM public.sys_user_role WHERE tenant_id NOT IN (SELECT id FROM public.sys_tenant))
                  + (SELECT count(*) FROM public.sys_module_migration WHERE tenant_id NOT IN (SELECT id FROM public.sys_tenant))"
        ),
        "0"
    );
    refused(
        &test,
        db.url(),
        &["tenant", "remove", "a", "--yes"],
        "no tenant `a`",
    );
}

#[test]
fn tenant_remove_with_no_terminal_and_no_yes_changes_nothing() {
    let test = CliTest::new();
    let db = TestDb::new();
    bootstrapped(&test, &db, &["a"]);
    let before = pg_dump(db.url(), &[]);
    refused(&test, db.url(), &["tenant", "remove", "a"], "without --yes");
    assert_eq!(pg_dump(db.url(), &[]), before);
}

#[test]
fn tenant_remove_refuses_when_another_schema_depends_on_it() {
    let test = CliTest::new();
    let db = TestDb::new();
    bootstrapped(&test, &db, &["a", "b"]);
    db.execute("CREATE VIEW tenant_b.peek AS SELECT * FROM tenant_a.items");
    refused(
        &test,
        db.url(),
        &["tenant", "remove", "a", "--yes"],
        "tenant_b.peek",
    );
    assert_eq!(db.scalar("SELECT count(*) FROM tenant_b.peek"), "1");
    assert_eq!(
        db.scalar("SELECT count(*) FROM public.sys_tenant WHERE code = 'a'"),
        "1"
    );
}

#[test]
fn grant_and_revoke_are_idempotent_and_access_list_shows_them() {
    let test = CliTest::new();
    let db = TestDb::new();
    bootstrapped(&test, &db, &["a", "b"]);
    let first: serde_json::Value = serde_json::from_str(&ok(
        &test,
        db.url(),
        &[
            "grant",
            "alice",
            "items.read",
            "--tenant",
            "a",
            "--format",
            "json",
        ],
    ))
    .unwrap();
    assert_eq!(first["changed"], true);
    assert_eq!(first["kind"], "permission");
    assert_eq!(first["role_created"], true);
    let again: serde_json::Value = serde_json::from_str(&ok(
        &test,
        db.url(),
        &[
            "grant",
            "alice",
            "items.read",
            "--tenant",
            "a",
            "--format",
            "json",
        ],
    ))
    .unwrap();
    assert_eq!(again["changed"], false);
    // A role that does not exist yet is made (empty), then assigned.
    let role = ok(&test, db.url(), &["grant", "bob", "auditor", "--tenant", "a"]);
    assert!(role.contains("(role made)"), "{role}");

    let list: serde_json::Value = serde_json::from_str(&ok(
        &test,
        db.url(),
        &["access", "list", "--tenant", "a", "--format", "json"],
    ))
    .unwrap();
    let got: Vec<(String, String, String)> = list["assignments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["user"].as_str().unwrap().into(),
                a["role"].as_str().unwrap().into(),
                a["permissions"].to_string(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("alice".into(), "items.read".into(), r#"["items.read"]"#.into()),
            ("bob".into(), "auditor".into(), "[]".into()),
            (
                "dev".into(),
                "items.developer".into(),
                r#"["items.read","items.write"]"#.into()
            ),
        ]
    );
    // Tenant b has none of a's grants.
    let b = ok(
        &test,
        db.url(),
        &["access", "list", "--tenant", "b", "--user", "alice"],
    );
    assert!(b.contains("No role assignments"), "{b}");

    assert!(
        ok(
            &test,
            db.url(),
            &["revoke", "alice", "items.read", "--tenant", "a"]
        )
        .contains("Revoked")
    );
    assert!(
        ok(
            &test,
            db.url(),
            &["revoke", "alice", "items.read", "--tenant", "a"]
        )
        .contains("Nothing to do")
    );
    assert_eq!(
        db.scalar("SELECT count(*) FROM public.sys_user_role WHERE user_id = 'alice'"),
        "0"
    );
}

#[test]
fn hostile_tenant_codes_and_user_ids_get_clear_errors_and_change_nothing() {
    let test = CliTest::new();
    let db = TestDb::new();
    bootstrapped(&test, &db, &["a"]);
    let before = pg_dump(db.url(), &[]);
    for code in [
        "A",
        "a;drop schema public",
        "tenant\"x",
        "",
        "1abc",
        &"x".repeat(49),
    ] {
        refused(&test, db.url(), &["tenant", "add", code], "invalid tenant code");
        refused(
            &test,
            db.url(),
            &["tenant", "rename", "a", "--to", code],
            "invalid tenant code",
        );
        refused(
            &test,
            db.url(),
            &["tenant", "remove", code, "--yes"],
            "invalid tenant code",
        );
        refused(
            &test,
            db.url(),
            &["grant", "alice", "items.read", "--tenant", code],
            "invalid tenant code",
        );
    }
    for user in ["", " alice", "al\u{7}ice", "line\nbreak", &"u".repeat(201)] {
        refused(
            &test,
            db.url(),
            &["grant", user, "items.read", "--tenant", "a"],
            "invalid user id",
        );
        refused(
            &test,
            db.url(),
            &["revoke", user, "items.read", "--tenant", "a"],
            "invalid user id",
        );
    }
    for what in ["Items.Read", "x'; drop", ""] {
        refused(
            &test,
            db.url(),
            &["grant", "alice", what, "--tenant", "a"],
            "invalid role or permission",
        );
    }
    refused(
        &test,
        db.url(),
        &["grant", "alice", "items.read", "--tenant", "nope"],
        "no tenant `nope`",
    );
    assert_eq!(
        pg_dump(db.url(), &[]),
        before,
        "a refused command changed the database"
    );
}

#[test]
fn concurrent_tenant_add_and_bootstrap_make_each_tenant_once() {
    let test = CliTest::new();
    let db = TestDb::new();
    bootstrapped(&test, &db, &["a"]);
    let mut children = Vec::new();
    for i in 0..4 {
        for args in [
            vec!["tenant".to_string(), "add".to_string(), format!("t{i}")],
            vec!["bootstrap".to_string(), "--tenant".to_string(), format!("t{i}")],
        ] {
            let mut cmd = test.command();
            cmd.current_dir(test.path("items"))
                .args(&args)
                .args(["--db", db.url()])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            children.push((args, cmd.spawn().expect("cannot run modkit")));
        }
    }
    for (args, child) in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "modkit {args:?}:\n{}", transcript(&out));
    }
    assert_eq!(
        db.scalar("SELECT count(*) FROM public.sys_tenant WHERE code LIKE 't_'"),
        "4"
    );
    assert_eq!(
        db.scalar("SELECT count(*) FROM public.sys_module_migration m JOIN public.sys_tenant t ON t.id = m.tenant_id WHERE t.code LIKE 't_'"),
        "4"
    );
    for i in 0..4 {
        assert_eq!(db.scalar(&format!("SELECT count(*) FROM tenant_t{i}.items")), "1");
    }
}

#[test]
fn citus_tenant_add_rename_remove_and_grants_keep_schemas_distributed() {
    let test = CliTest::new();
    let db = CitusDb::new();
    project(&test);
    ok(&test, db.url(), &["bootstrap", "--tenant", "a", "--tenant", "b"]);
    ok(&test, db.url(), &["tenant", "add", "acme"]);
    let distributed = |schema: &str| {
        db.scalar(&format!(
            "SELECT count(*) FROM pg_dist_schema WHERE schemaid::regnamespace::text = '{schema}'"
        ))
    };
    assert_eq!(distributed("tenant_acme"), "1");
    let json: serde_json::Value =
        serde_json::from_str(&ok(&test, db.url(), &["tenant", "list", "--format", "json"])).unwrap();
    let workers = db.worker_addresses();
    for t in json["tenants"].as_array().unwrap() {
        let worker = t["worker"]
            .as_str()
            .unwrap_or_else(|| panic!("no worker for {t}"));
        assert!(workers.iter().any(|w| w == worker), "{worker} not in {workers:?}");
    }

    db.execute("INSERT INTO tenant_a.items VALUES (2, 'second')");
    let before = contents(|sql| db.rows(sql), "tenant_a");
    ok(&test, db.url(), &["tenant", "rename", "a", "--to", "a_eu"]);
    assert_eq!(contents(|sql| db.rows(sql), "tenant_a_eu"), before);
    assert_eq!(distributed("tenant_a_eu"), "1");

    ok(
        &test,
        db.url(),
        &["grant", "alice", "items.read", "--tenant", "a_eu"],
    );
    let list = ok(&test, db.url(), &["access", "list", "--user", "alice"]);
    assert!(list.contains("a_eu"), "{list}");

    let b_rows = contents(|sql| db.rows(sql), "tenant_b");
    ok(&test, db.url(), &["tenant", "remove", "acme", "--yes"]);
    assert_eq!(distributed("tenant_acme"), "0");
    assert_eq!(
        db.scalar("SELECT count(*) FROM pg_namespace WHERE nspname = 'tenant_acme'"),
        "0"
    );
    assert_eq!(contents(|sql| db.rows(sql), "tenant_b"), b_rows);
}

/// Tables with a serial, an identity, a generated column, a CHECK, a UNIQUE, a partial index and a
/// foreign key, in tenant `a`.
const RICH: &str = "CREATE TABLE tenant_a.parent (id serial PRIMARY KEY, code text UNIQUE, n int GENERATED ALWAYS AS (id * 2) STORED, CHECK (id > 0));
     CREATE TABLE tenant_a.child (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, parent_id int REFERENCES tenant_a.parent (id));
     CREATE INDEX child_parent ON tenant_a.child (parent_id) WHERE parent_id > 0;
     CREATE SEQUENCE tenant_a.loose START 7;
     INSERT INTO tenant_a.parent (code) SELECT 'p' || g FROM generate_series(1, 50) g;
     INSERT INTO tenant_a.child (parent_id) SELECT 1 + g % 50 FROM generate_series(1, 200) g;
     SELECT nextval('tenant_a.loose');";

#[test]
fn tenant_clone_keeps_every_table_index_sequence_and_row() {
    let test = CliTest::new();
    let db = TestDb::new();
    bootstrapped(&test, &db, &["a", "b"]);
    db.execute(RICH);
    let source = pg_dump(db.url(), &["tenant_a"]);
    let other = pg_dump(db.url(), &["tenant_b"]);

    let out = ok(&test, db.url(), &["tenant", "clone", "a", "--to", "a2", "--data"]);
    assert!(out.contains("251 row(s)"), "{out}");
    // The clone's pg_dump is the source's, schema name aside: every table, index, constraint,
    // sequence (and its position) and row.
    assert_eq!(
        pg_dump(db.url(), &["tenant_a2"]).replace("tenant_a2", "tenant_a"),
        source
    );
    assert_eq!(pg_dump(db.url(), &["tenant_a"]), source, "the source changed");
    assert_eq!(pg_dump(db.url(), &["tenant_b"]), other, "another tenant changed");
    // New rows continue the sequences, and the foreign key points inside the clone.
    assert_eq!(
        db.scalar("INSERT INTO tenant_a2.parent (code) VALUES ('new') RETURNING id"),
        "51"
    );
    assert_eq!(
        db.scalar("INSERT INTO tenant_a2.child (parent_id) VALUES (51) RETURNING id"),
        "201"
    );
    // The migration records came along: nothing pending, bootstrap applies nothing to it.
    let json: serde_json::Value =
        serde_json::from_str(&ok(&test, db.url(), &["tenant", "list", "--format", "json"])).unwrap();
    assert!(
        json["tenants"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["pending_migrations"] == 0),
        "{json:#}"
    );

    // Without --data: the structure, no rows.
    ok(&test, db.url(), &["tenant", "clone", "a", "--to", "a3"]);
    assert_eq!(db.scalar("SELECT count(*) FROM tenant_a3.child"), "0");
    assert_eq!(
        db.scalar("SELECT count(*) FROM pg_indexes WHERE schemaname = 'tenant_a3'"),
        "6"
    );

    refused(
        &test,
        db.url(),
        &["tenant", "clone", "a", "--to", "b"],
        "exists already",
    );
    db.execute("CREATE VIEW tenant_a.v AS SELECT 1 AS one");
    refused(&test, db.url(), &["tenant", "clone", "a", "--to", "a4"], "view v");
    assert_eq!(
        db.scalar("SELECT count(*) FROM pg_namespace WHERE nspname = 'tenant_a4'"),
        "0"
    );
}

#[test]
fn citus_tenant_clone_makes_a_distributed_schema_with_the_rows() {
    let test = CliTest::new();
    let db = CitusDb::new();
    project(&test);
    ok(&test, db.url(), &["bootstrap", "--tenant", "a"]);
    db.execute("INSERT INTO tenant_a.items SELECT g, 'n' || g FROM generate_series(2, 100) g");
    let before = contents(|sql| db.rows(sql), "tenant_a");
    ok(&test, db.url(), &["tenant", "clone", "a", "--to", "a2", "--data"]);
    assert_eq!(contents(|sql| db.rows(sql), "tenant_a2"), before);
    assert_eq!(
        db.scalar("SELECT count(*) FROM pg_dist_schema WHERE schemaid::regnamespace::text = 'tenant_a2'"),
        "1"
    );
}

/// `modkit bootstrap` (and so `modkit db start`) of a starter foundation with an adapted module
/// gives its dev user every permission of the module in its dev tenants, as its own
/// `npm run bootstrap` does; a user nobody granted anything holds nothing.
#[test]
fn modkit_bootstrap_of_a_starter_foundation_seeds_the_dev_user() {
    let test = CliTest::new();
    let db = TestDb::new();
    project(&test);
    assert!(
        test.run(&["init", "platform", "--foundation", "--tenant", "acme"])
            .status
            .success()
    );
    // The module as `modkit adapt` lays it out (the files adapt reads are the sandbox's own).
    test.write_file(
        "platform/src/modules/items/plugin/index.ts",
        test.read_file("items/plugin/index.ts"),
    );
    test.write_file(
        "platform/src/modules/items/migrations/0001_items.sql",
        test.read_file("items/plugin/migrations/0001_items.sql"),
    );
    let out = test.run(&["bootstrap", "--project", "platform", "--db", db.url()]);
    assert!(out.status.success(), "{}", transcript(&out));
    let list = test.run(&[
        "access",
        "list",
        "--project",
        "platform",
        "--db",
        db.url(),
        "--format",
        "json",
    ]);
    let json: serde_json::Value = serde_json::from_str(&stdout(&list)).unwrap();
    let got: Vec<String> = json["assignments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| format!("{} {} {} {}", a["tenant"], a["user"], a["role"], a["permissions"]))
        .collect();
    assert_eq!(
        got,
        [
            r#""acme" "dev" "developer" ["items.read","items.write"]"#,
            r#""dev" "dev" "developer" ["items.read","items.write"]"#,
        ]
    );
}
