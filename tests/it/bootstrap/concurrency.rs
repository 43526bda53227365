//! Many runs at once, runs killed half-way, and re-runs over many tenants.

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::*;
use crate::support::pg::TestDb;
use crate::support::process::wait_for;

fn spawn(test: &CliTest, db: &TestDb, project: &Path, args: &[&str]) -> Child {
    bootstrap(test, db, project, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start modkit")
}

/// The seed's SQL fails this with 8 runners (`duplicate key value violates unique constraint
/// "pg_extension_name_index"` / `"pg_type_typname_nsp_index"`).
#[test]
fn sixteen_runs_at_once_on_a_fresh_database_all_succeed() {
    let db = TestDb::new();
    let test = cli_for(&db);
    let project = sandbox(&test, "items");

    // Every run asks for the same four tenants, in different orders, plus one of its own.
    let shared = ["alpha", "bravo", "charlie", "delta"];
    let children: Vec<(usize, Child)> = (0..16)
        .map(|i| {
            let mut args = vec!["--tenant".to_string(), format!("own_{i:02}")];
            for k in 0..shared.len() {
                args.extend(["--tenant".to_string(), shared[(i + k) % shared.len()].to_string()]);
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            (i, spawn(&test, &db, &project, &args))
        })
        .collect();
    for (i, child) in children {
        let output = child.wait_with_output().unwrap();
        assert_eq!(
            output.status.code(),
            Some(0),
            "run {i} failed:\n{}",
            transcript(&output)
        );
    }

    // 4 shared + 16 own + dev.
    assert_eq!(
        db.scalar("SELECT count(*) FROM pg_extension WHERE extname = 'pgcrypto'"),
        "1"
    );
    assert_eq!(db.scalar("SELECT count(*) FROM sys_tenant"), "21");
    assert_eq!(db.scalar("SELECT count(DISTINCT code) FROM sys_tenant"), "21");
    assert_eq!(tenant_schemas(&db), 21);
    assert_eq!(
        db.scalar("SELECT count(*) FROM sys_module_migration WHERE migration = '0001_create_items.sql'"),
        "21",
        "each tenant's migration is recorded once"
    );
    assert_eq!(db.scalar("SELECT count(*) FROM sys_permission"), "2");
    assert!(
        invariant_violations(&db, "items", 1).is_empty(),
        "{:?}",
        invariant_violations(&db, "items", 1)
    );
    // The dev user holds both permissions in every tenant (all are dev tenants in a sandbox), once.
    assert_eq!(
        db.scalar("SELECT count(*) FROM sys_user_role ur JOIN sys_role_permission rp ON rp.role_id = ur.role_id WHERE ur.user_id = 'dev'"),
        "42"
    );
    assert_eq!(db.scalar("SELECT count(*) FROM sys_role"), "21");
}

#[test]
fn two_runs_of_200_tenants_with_4_jobs_each_at_once() {
    let db = TestDb::new();
    let test = cli_for(&db);
    let project = sandbox(&test, "items");
    let file = tenants_file(&test, "tenants.txt", 200);
    let file = file.to_str().unwrap();

    let children: Vec<Child> = (0..2)
        .map(|_| {
            spawn(
                &test,
                &db,
                &project,
                &["--jobs", "4", "--tenants-file", file, "--format", "json"],
            )
        })
        .collect();
    let mut created = 0;
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert_code(&output, 0);
        let doc: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
        created += json_count(&doc, "tenants", "created");
        // What one run did not create, it found: every tenant is accounted for in each report.
        assert_eq!(
            json_count(&doc, "tenants", "created") + json_count(&doc, "tenants", "existing"),
            201,
            "{doc:#}"
        );
    }
    assert_eq!(
        created, 201,
        "each tenant was created by exactly one of the two runs"
    );
    assert_eq!(db.scalar("SELECT count(*) FROM sys_tenant"), "201");
    assert_eq!(tenant_schemas(&db), 201);
    assert_eq!(db.scalar("SELECT count(*) FROM sys_module_migration"), "201");
    assert!(
        invariant_violations(&db, "items", 1).is_empty(),
        "{:?}",
        invariant_violations(&db, "items", 1)
    );
}

/// When to kill a run: a fixed delay after it starts, or once it has made `n` more tenant schemas.
/// A first run sends a new tenant's whole transaction at once, planned from the catalog it read at
/// the start. Here, someone else makes the tenants after that read (while the test holds their
/// locks): one gets a row naming a schema of its own, the other a schema with no row. The planned
/// transactions must fail and roll back, and the tenants be done anew under their locks: the row's
/// schema used and the leftover schema adopted, nothing made twice or in the wrong place.
#[test]
fn tenants_made_by_someone_else_after_the_plan_are_done_anew_under_their_locks() {
    let db = TestDb::new();
    let test = cli_for(&db);
    let project = sandbox(&test, "items");
    assert_code(&run(&test, &db, &project, &[]), 0); // system tables and the dev tenant

    // Hold both tenants' locks, so that the run plans them as new and then waits.
    let mut holder = Command::new("psql")
        .args(["-qAtX", "-v", "ON_ERROR_STOP=1", db.url()])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("cannot start psql");
    let mut sql = holder.stdin.take().unwrap();
    writeln!(
        sql,
        "BEGIN; SELECT pg_advisory_xact_lock(1836016500, hashtext('late')), \
         pg_advisory_xact_lock(1836016500, hashtext('stray'));"
    )
    .unwrap();
    let waiting = || db.scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted");
    wait_for("the test to hold the locks", Duration::from_secs(10), || {
        (waiting() == "2").then_some(())
    });
    let child = spawn(
        &test,
        &db,
        &project,
        &["--tenant", "late", "--tenant", "stray", "--jobs", "2"],
    );
    wait_for("the run to wait on both locks", Duration::from_secs(90), || {
        let n = db.scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted");
        (n == "2").then_some(())
    });
    writeln!(
        sql,
        "INSERT INTO sys_tenant (code, name, schema_name) VALUES ('late', 'Late Ltd', 'custom_late'); \
         CREATE SCHEMA tenant_stray; CREATE TABLE tenant_stray.kept (x int); INSERT INTO tenant_stray.kept VALUES (7); \
         COMMIT;"
    )
    .unwrap();
    drop(sql);
    assert!(holder.wait().unwrap().success(), "psql failed");

    let output = child.wait_with_output().unwrap();
    assert_code(&output, 0);
    assert_eq!(
        db.rows("SELECT code, name, schema_name FROM sys_tenant WHERE code IN ('late', 'stray') ORDER BY 1"),
        [
            ["late", "Late Ltd", "custom_late"],
            ["stray", "stray", "tenant_stray"]
        ]
    );
    assert_eq!(
        db.scalar("SELECT count(*) FROM pg_namespace WHERE nspname = 'tenant_late'"),
        "0"
    );
    assert_eq!(
        db.scalar("SELECT to_regclass('custom_late.items') IS NOT NULL"),
        "t"
    );
    assert_eq!(db.scalar("SELECT x FROM tenant_stray.kept"), "7");
    assert_eq!(
        db.scalar("SELECT to_regclass('tenant_stray.items') IS NOT NULL"),
        "t"
    );
    // Every tenant once, with its table and its one migration record.
    assert_eq!(db.scalar("SELECT count(*) FROM sys_module_migration"), "3");
    let violations = invariant_violations(&db, "items", 1);
    assert!(violations.is_empty(), "{violations:?}");
    let err = stderr(&output);
    assert!(
        err.contains("warning: schema tenant_stray was already there with no sys_tenant row; tenant `stray` was given it"),
        "the adopted schema is not reported:\n{err}"
    );
    let out = stdout(&output);
    // stray's row is new, late's is not; late's schema is new, stray's is not; dev has both.
    for step in ["tenants ", "tenant schemas "] {
        let line = out.lines().find(|l| l.trim_start().starts_with(step));
        assert!(
            line.is_some_and(|l| l.ends_with(" 1 created, 2 already there")),
            "the report of {step}:\n{out}"
        );
    }
}

#[derive(Debug, Clone, Copy)]
enum KillPoint {
    After(Duration),
    Schemas(usize),
}

#[test]
fn a_run_killed_at_any_point_leaves_no_half_tenant_and_the_next_run_completes() {
    let db = TestDb::new();
    let test = cli_for(&db);
    let project = sandbox(&test, "items");
    let file = tenants_file(&test, "tenants.txt", 300);
    let args = ["--tenants-file", file.to_str().unwrap(), "--jobs", "4"];

    let points = [
        KillPoint::After(Duration::from_millis(0)),
        KillPoint::After(Duration::from_millis(25)),
        KillPoint::Schemas(1),
        KillPoint::Schemas(40),
        KillPoint::Schemas(90),
        KillPoint::After(Duration::from_millis(60)),
    ];
    let mut killed_mid_tenants = 0;
    for point in points {
        let before = tenant_schemas(&db);
        let mut child = spawn(&test, &db, &project, &args);
        let started = Instant::now();
        match point {
            KillPoint::After(delay) => std::thread::sleep(delay),
            KillPoint::Schemas(n) => {
                while tenant_schemas(&db) < before + n
                    && child.try_wait().unwrap().is_none()
                    && started.elapsed() < Duration::from_secs(30)
                {
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
        }
        let still_running = child.try_wait().unwrap().is_none();
        child.kill().unwrap(); // SIGKILL
        let status = child.wait().unwrap();
        let after = tenant_schemas(&db);
        if still_running && after > before && after < 301 {
            killed_mid_tenants += 1;
        }
        eprintln!(
            "kill at {point:?}: running={still_running} {status:?}, tenant schemas {before} -> {after}"
        );
        // Right after the kill, and whatever the server is still finishing: no half-made tenant.
        let violations = invariant_violations(&db, "items", 1);
        assert!(violations.is_empty(), "after a kill at {point:?}: {violations:?}");
    }
    assert!(
        killed_mid_tenants >= 2,
        "only {killed_mid_tenants} kills landed while tenants were being made"
    );

    let output = run(&test, &db, &project, &args);
    assert_code(&output, 0);
    assert_eq!(db.scalar("SELECT count(*) FROM sys_tenant"), "301");
    assert_eq!(tenant_schemas(&db), 301);
    let violations = invariant_violations(&db, "items", 1);
    assert!(violations.is_empty(), "{violations:?}");
    assert_eq!(db.scalar("SELECT count(*) FROM sys_permission"), "2");
    // And the run after that has nothing left to do.
    let output = run(&test, &db, &project, &args);
    assert_code(&output, 0);
    assert!(stdout(&output).contains("Nothing to do"), "{}", stdout(&output));
}

/// Not timed: the shape of a no-op re-run. It reads the catalog once and touches no tenant, so the
/// number of transactions it runs does not grow with the number of tenants.
#[test]
fn a_no_op_rerun_over_300_tenants_runs_a_handful_of_transactions() {
    let db = TestDb::new();
    let test = cli_for(&db);
    let project = sandbox(&test, "items");
    let file = tenants_file(&test, "tenants.txt", 300);
    let args = ["--tenants-file", file.to_str().unwrap()];
    assert_code(&run(&test, &db, &project, &args), 0);

    let before = transactions(&db);
    let output = run(&test, &db, &project, &args);
    assert_code(&output, 0);
    assert!(stdout(&output).contains("Nothing to do"), "{}", stdout(&output));
    // The catalog reads (and an autovacuum, if one came by); per-tenant work would be >= 301.
    let spent = transactions(&db) - before;
    eprintln!("a no-op re-run over 301 tenants: {spent} transactions");
    assert!(
        spent < 20,
        "a no-op re-run ran {spent} transactions for 301 tenants: it works per tenant"
    );
}
