//! modkit on a real Citus cluster (a coordinator and two workers, `support::citus`): schema-based
//! sharding puts each tenant schema whole on one worker. What is checked is the cluster's own
//! metadata (`citus_shards`, `pg_dist_schema`), not only what modkit prints.
//!
//! See docs/citus.md for what modkit does there. `tls` checks sslmode against a server with the
//! kind of certificate Citus makes; `sandbox` runs the sandbox (npm run bootstrap, the API) on it.

mod sandbox;
mod tls;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::support::citus::{CitusCluster, CitusDb};
use crate::support::pg::{psql_scalar, try_rows};
use crate::support::process::wait_for;
use crate::support::{CliTest, stderr, stdout, transcript};

/// The migrations that fail on Citus when sent as one string (`cannot insert multiple commands
/// into a prepared statement`): an index, a constraint, a rename; and a function whose body holds
/// `;` in a dollar quote, which the splitter must keep whole.
const MIGRATIONS: [(&str, &str); 3] = [
    (
        "0001_create_items.sql",
        "-- items: one table per tenant schema, no tenant_id\n\
         CREATE TABLE items (\n  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),\n  name text NOT NULL\n);\n\
         CREATE INDEX items_name ON items (name);\n",
    ),
    (
        "0002_constrain_and_rename.sql",
        "ALTER TABLE items ADD CONSTRAINT items_name_not_blank CHECK (name <> '');\n\
         ALTER TABLE items RENAME COLUMN name TO title;\n\
         ALTER TABLE items ALTER COLUMN title SET NOT NULL; /* a comment; with a semicolon */\n\
         DROP INDEX items_name;\nCREATE UNIQUE INDEX items_title ON items (title);\n",
    ),
    (
        "0003_function.sql",
        "CREATE FUNCTION item_label(t text) RETURNS text LANGUAGE plpgsql AS $body$\n\
         BEGIN\n  RETURN 'item; ' || t;\nEND\n$body$;\n\
         INSERT INTO items (title) VALUES ('first; of all');\n",
    ),
];

/// A sandbox for module `items` with [`MIGRATIONS`] and the dev tenant `dev`.
fn sandbox(test: &CliTest) -> PathBuf {
    test.write_file(
        "items/modkit.toml",
        "[module]\nid = \"items\"\nname = \"Items\"\n\n[dev]\nuser = \"dev\"\ntenants = [\"dev\"]\n",
    );
    test.write_file(
        "items/plugin/index.ts",
        "export const permissions = ['items.read', 'items.write'] satisfies string[];\n\
         export default { meta: { id: 'items', version: '1.0.0', api: '1.x' }, async register() {} };\n",
    );
    for (name, sql) in MIGRATIONS {
        test.write_file(format!("items/plugin/migrations/{name}"), sql);
    }
    test.path("items")
}

fn bootstrap(test: &CliTest, url: &str, project: &Path, args: &[&str]) -> Command {
    let mut cmd = test.command();
    cmd.arg("bootstrap")
        .arg("--db")
        .arg(url)
        .arg("--project")
        .arg(project)
        .args(args);
    cmd
}

fn run(test: &CliTest, url: &str, project: &Path, args: &[&str]) -> Output {
    bootstrap(test, url, project, args)
        .output()
        .expect("cannot run modkit")
}

#[track_caller]
fn assert_code(output: &Output, code: i32) {
    assert_eq!(output.status.code(), Some(code), "{}", transcript(output));
}

fn tenant_args(n: usize) -> Vec<String> {
    (1..=n)
        .flat_map(|i| ["--tenant".to_string(), format!("t{i:02}")])
        .collect()
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// Per worker (`host:port`), how many tenant schemas it holds.
fn placement(db: &CitusDb) -> Vec<(String, usize)> {
    db.rows(
        "SELECT nodename || ':' || nodeport, count(DISTINCT table_name::text) FROM citus_shards \
         WHERE citus_table_type = 'schema' AND table_name::text LIKE 'tenant\\_%.items' GROUP BY 1 ORDER BY 1",
    )
    .into_iter()
    .map(|r| (r[0].clone(), r[1].parse().unwrap()))
    .collect()
}

/// Tenant schemas that are not distributed (`pg_dist_schema`) although they have a row.
fn undistributed(db: &CitusDb) -> Vec<String> {
    db.rows(
        "SELECT t.schema_name FROM sys_tenant t JOIN pg_namespace n ON n.nspname = t.schema_name \
         WHERE NOT EXISTS (SELECT 1 FROM pg_dist_schema d WHERE d.schemaid = n.oid) ORDER BY 1",
    )
    .into_iter()
    .map(|r| r[0].clone())
    .collect()
}

/// The harness itself: every test database is a Citus database on the coordinator with both
/// workers active, and a distributed schema lands on a worker.
#[test]
fn a_test_database_is_distributed_over_two_workers() {
    let db = CitusDb::new();
    assert_eq!(CitusCluster::shared().worker_count(), 2);
    assert_eq!(db.scalar("SELECT citus_is_coordinator()"), "t");
    assert_eq!(
        db.scalar("SELECT count(*) FROM pg_dist_node WHERE groupid <> 0 AND isactive"),
        "2"
    );
    db.execute(
        "SET citus.enable_schema_based_sharding = on; CREATE SCHEMA probe; CREATE TABLE probe.t (id int)",
    );
    let placed = db.scalar(
        "SELECT nodename || ':' || nodeport FROM citus_shards WHERE citus_table_type = 'schema' AND table_name = 'probe.t'::regclass",
    );
    assert!(db.worker_addresses().contains(&placed), "{placed}");
}

/// Issue 9: an index, a constraint or a rename in a migration failed in a distributed schema
/// (`cannot insert multiple commands into a prepared statement`), because a tenant's transaction
/// was one multi-statement string that Citus forwarded to the worker as is.
#[test]
fn index_constraint_and_rename_migrations_run_in_distributed_tenant_schemas() {
    let db = CitusDb::new();
    let test = CliTest::new();
    let project = sandbox(&test);
    let args = tenant_args(8);
    let output = run(&test, db.url(), &project, &strs(&args));
    assert_code(&output, 0);
    let out = stdout(&output);
    assert!(out.contains("Citus 13.2"), "{out}");
    assert!(
        out.contains("distributed      9 distributed, 0 already were"),
        "{out}"
    );

    // Every tenant schema is distributed, with its table, index, constraint and rename in place.
    assert_eq!(db.scalar("SELECT count(*) FROM sys_tenant"), "9");
    assert!(undistributed(&db).is_empty(), "{:?}", undistributed(&db));
    assert_eq!(db.scalar("SELECT count(*) FROM sys_module_migration"), "27");
    assert_eq!(
        db.scalar("SELECT title FROM tenant_t03.items"),
        "first; of all",
        "read through the coordinator, from the worker that holds the schema"
    );
    assert_eq!(db.scalar("SELECT tenant_t05.item_label('x')"), "item; x");
    assert_eq!(
        db.scalar("SELECT count(*) FROM pg_constraint WHERE conname = 'items_name_not_blank'"),
        "9"
    );
    // The system tables stay on the coordinator, as plain tables.
    assert_eq!(
        db.scalar("SELECT count(*) FROM pg_dist_partition WHERE logicalrelid::text LIKE 'sys\\_%'"),
        "0"
    );
    // Tenants are spread over both workers, none on the coordinator.
    let placed = placement(&db);
    assert_eq!(
        placed.iter().map(|(w, _)| w.clone()).collect::<Vec<_>>(),
        db.worker_addresses(),
        "{placed:?}"
    );
    assert_eq!(placed.iter().map(|(_, n)| n).sum::<usize>(), 9);
    // On the worker, the shard has the index and the constraint of the migrations.
    let (worker, _) = &placed[0];
    let i = db.worker_addresses().iter().position(|w| w == worker).unwrap();
    let on_worker = psql_scalar(
        &db.worker_url(i),
        // Shards are named after their shard id (items_102008); the worker also has the tables' shells.
        "SET citus.override_table_visibility = off; SELECT count(*) FROM pg_indexes WHERE schemaname LIKE 'tenant\\_%' AND indexname ~ '^items_title_[0-9]+$'",
    );
    assert_eq!(on_worker, placed[0].1.to_string());
}

#[test]
fn a_rerun_on_citus_changes_nothing_and_check_passes() {
    let db = CitusDb::new();
    let test = CliTest::new();
    let project = sandbox(&test);
    let args = tenant_args(4);
    assert_code(&run(&test, db.url(), &project, &strs(&args)), 0);
    let before = db.rows("SELECT xmin, code FROM sys_tenant ORDER BY code");
    let shards = db.rows("SELECT table_name::text, shardid, nodeport FROM citus_shards ORDER BY 1");

    let output = run(&test, db.url(), &project, &[]);
    assert_code(&output, 0);
    let out = stdout(&output);
    assert!(out.contains("Nothing to do"), "{out}");
    assert!(
        out.contains("distributed      0 distributed, 5 already were"),
        "{out}"
    );
    assert_eq!(db.rows("SELECT xmin, code FROM sys_tenant ORDER BY code"), before);
    assert_eq!(
        db.rows("SELECT table_name::text, shardid, nodeport FROM citus_shards ORDER BY 1"),
        shards
    );

    let check = run(&test, db.url(), &project, &["--check"]);
    assert_code(&check, 0);
    assert!(stdout(&check).contains("Up to date"), "{}", transcript(&check));
}

/// Issue 9: tenant schemas made before Citus (or with sharding off) stayed on the coordinator.
#[test]
fn existing_undistributed_tenant_schemas_are_distributed_and_keep_their_rows() {
    let db = CitusDb::new();
    let test = CliTest::new();
    let project = sandbox(&test);
    // A tenant made the plain way (no schema-based sharding), with data in it.
    db.execute(
        "CREATE SCHEMA tenant_old; CREATE TABLE tenant_old.notes (body text); \
         INSERT INTO tenant_old.notes VALUES ('kept')",
    );
    let check = run(&test, db.url(), &project, &["--check", "--tenant", "old"]);
    assert_code(&check, 1);
    assert!(
        stdout(&check).contains("schema tenant_old distributed (Citus)"),
        "{}",
        transcript(&check)
    );
    let output = run(&test, db.url(), &project, &["--tenant", "old"]);
    assert_code(&output, 0);
    assert!(undistributed(&db).is_empty(), "{:?}", undistributed(&db));
    assert_eq!(db.scalar("SELECT body FROM tenant_old.notes"), "kept");
    assert_eq!(
        db.scalar("SELECT count(*) FROM citus_shards WHERE table_name = 'tenant_old.notes'::regclass"),
        "1"
    );
}

/// Issue 9: pointed at a worker, modkit made a second set of sys_* tables there, then failed with
/// `operation is not allowed on this node at line 3148`.
#[test]
fn a_citus_worker_is_refused_before_anything_is_written() {
    let db = CitusDb::new();
    let test = CliTest::new();
    let project = sandbox(&test);
    let worker = db.worker_url(0);
    let output = run(&test, &worker, &project, &["--tenant", "acme"]);
    assert_code(&output, 2);
    let err = stderr(&output);
    assert!(err.contains("Citus worker node"), "{err}");
    assert!(err.contains("coordinator"), "{err}");
    assert!(!err.contains("line 3148"), "{err}");
    let tables = psql_scalar(
        &worker,
        "SELECT count(*) FROM pg_class WHERE relname LIKE 'sys\\_%'",
    );
    assert_eq!(tables, "0", "nothing was written on the worker");
    assert_eq!(
        psql_scalar(
            &worker,
            "SELECT count(*) FROM pg_extension WHERE extname = 'pgcrypto'"
        ),
        "0"
    );
}

/// A failing statement is reported against its file and line, though sent alone.
#[test]
fn a_failing_migration_on_citus_names_its_file_and_line() {
    let db = CitusDb::new();
    let test = CliTest::new();
    let project = sandbox(&test);
    test.write_file(
        "items/plugin/migrations/0004_broken.sql",
        "-- one good statement, then a bad one\nCREATE INDEX items_id ON items (id);\n\n\
         ALTER TABLE items\n  ADD CONSTRAINT nope CHECK (missing_column > 0);\n",
    );
    let output = run(&test, db.url(), &project, &["--tenant", "acme"]);
    assert_code(&output, 1);
    let err = stderr(&output);
    assert!(
        // The line the failing statement starts on (PostgreSQL gives no position for this error).
        err.contains("migration items/0004_broken.sql failed at line 4 in schema tenant_acme"),
        "{err}"
    );
    assert!(err.contains("missing_column"), "{err}");
    // Nothing of the failed tenant was kept.
    assert_eq!(
        db.scalar("SELECT count(*) FROM pg_namespace WHERE nspname = 'tenant_acme'"),
        "0"
    );
}

/// Concurrent runs over the same tenants on the coordinator: its advisory locks serialize each
/// tenant, and every tenant ends up made once and distributed.
#[test]
fn concurrent_bootstraps_on_citus_all_succeed() {
    let db = CitusDb::new();
    let test = CliTest::new();
    let project = sandbox(&test);
    let args = tenant_args(12);
    let children: Vec<_> = (0..4)
        .map(|i| {
            let mut args = args.clone();
            args.rotate_left(6 * i); // each run takes the tenants in another order
            bootstrap(
                &test,
                db.url(),
                &project,
                &[&strs(&args)[..], &["--jobs", "3"]].concat(),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start modkit")
        })
        .collect();
    for child in children {
        assert_code(&child.wait_with_output().unwrap(), 0);
    }
    assert_eq!(db.scalar("SELECT count(*) FROM sys_tenant"), "13");
    assert_eq!(db.scalar("SELECT count(*) FROM sys_module_migration"), "39");
    assert!(undistributed(&db).is_empty(), "{:?}", undistributed(&db));
    assert_eq!(placement(&db).iter().map(|(_, n)| n).sum::<usize>(), 13);
}

/// A run killed (SIGKILL) while it makes tenants leaves each tenant whole or absent (the
/// transaction per tenant, which Citus commits on the worker and the coordinator together), and
/// the next run completes the rest.
#[test]
fn a_run_killed_mid_way_on_citus_is_completed_by_the_next_run() {
    let db = CitusDb::new();
    let test = CliTest::new();
    let project = sandbox(&test);
    let args = tenant_args(40);
    let mut child = bootstrap(
        &test,
        db.url(),
        &project,
        &[&strs(&args)[..], &["--jobs", "2"]].concat(),
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .expect("cannot start modkit");
    let made = || {
        try_rows(db.url(), "SELECT count(*) FROM pg_dist_schema")
            .ok()
            .and_then(|rows| rows.first()?.first()?.as_deref()?.parse::<usize>().ok())
            .unwrap_or(0)
    };
    wait_for("a few tenants to be made", Duration::from_secs(60), || {
        (made() >= 3).then_some(())
    });
    child.kill().unwrap(); // SIGKILL
    let _ = child.wait();
    // Whatever was committed is whole: a row for each schema, and its three migrations.
    let half = db.rows(
        "SELECT t.code FROM sys_tenant t WHERE (SELECT count(*) FROM sys_module_migration m WHERE m.tenant_id = t.id) <> 3",
    );
    assert!(half.is_empty(), "half-made tenants: {half:?}");

    let output = run(&test, db.url(), &project, &strs(&args));
    assert_code(&output, 0);
    assert_eq!(db.scalar("SELECT count(*) FROM sys_tenant"), "41");
    assert_eq!(db.scalar("SELECT count(*) FROM sys_module_migration"), "123");
    assert!(undistributed(&db).is_empty(), "{:?}", undistributed(&db));
    let placed = placement(&db);
    assert_eq!(placed.len(), 2, "{placed:?}");
}

/// `modkit doctor --db` on a coordinator: an undistributed tenant schema, migrations that cannot run
/// distributed (a trigger, a foreign key to a public table that is not a reference table), and the
/// placement of the tenants per worker in its summary.
#[test]
fn doctor_on_citus_finds_undistributed_schemas_and_migrations_citus_cannot_run() {
    let db = CitusDb::new();
    let test = CliTest::new();
    let project = sandbox(&test);
    assert_code(&run(&test, db.url(), &project, &strs(&tenant_args(3))), 0);
    let doctor = |project: &Path| {
        test.command()
            .arg("doctor")
            .arg(project)
            .arg("--db")
            .arg(db.url())
            .output()
            .expect("cannot run modkit")
    };
    let clean = doctor(&project);
    let out = stdout(&clean);
    assert!(!out.contains("citus"), "{}", transcript(&clean));
    for worker in db.worker_addresses() {
        assert!(out.contains(&format!("tenant schema(s) on {worker}")), "{out}");
    }

    // A tenant whose schema was made without sharding, and migrations Citus refuses.
    db.execute(
        "INSERT INTO sys_tenant (code, name, schema_name) VALUES ('old', 'Old', 'tenant_old'); \
         CREATE SCHEMA tenant_old; CREATE TABLE tenant_old.notes (body text)",
    );
    test.write_file(
        "items/plugin/migrations/0004_hazards.sql",
        "CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;\n\
         CREATE TRIGGER items_touch BEFORE UPDATE ON items FOR EACH ROW EXECUTE FUNCTION touch();\n\
         ALTER TABLE items ADD COLUMN owner uuid REFERENCES public.sys_tenant (id);\n",
    );
    let found = doctor(&project);
    assert_code(&found, 1);
    let out = stdout(&found);
    assert!(
        out.contains(
            "error[db-citus-schema-not-distributed]: schema tenant_old of tenant `old` is not distributed"
        ),
        "{out}"
    );
    assert!(
        out.contains(
            "error[citus-migration-trigger]: migration items/0004_hazards.sql (line 2) creates a trigger"
        ),
        "{out}"
    );
    assert!(
        out.contains("error[citus-migration-foreign-key]: migration items/0004_hazards.sql (line 3) adds a foreign key to public.sys_tenant"),
        "{out}"
    );
}
