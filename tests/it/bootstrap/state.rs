//! What a run leaves behind and what it reports: idempotence, `--check`, `--dry-run`, JSON.

use insta::{assert_snapshot, with_settings};

use super::*;
use crate::support::pg::TestDb;

#[test]
fn a_second_run_changes_nothing_and_says_so() {
    let db = TestDb::new();
    let test = cli_for(&db);
    let project = sandbox(&test, "items");

    let first = run(&test, &db, &project, &["--tenant", "acme", "--tenant", "globex"]);
    assert_code(&first, 0);
    assert_eq!(
        db.scalar("SELECT string_agg(code, ',' ORDER BY code) FROM sys_tenant"),
        "acme,dev,globex"
    );
    assert_eq!(db.scalar("SELECT count(*) FROM sys_module_migration"), "3");
    let dump = schema_dump(&db);
    let rows = system_rows(&db);
    assert!(dump.contains("CREATE TABLE tenant_acme.items"), "{dump}");

    let second = run(&test, &db, &project, &["--tenant", "acme", "--tenant", "globex"]);
    assert_code(&second, 0);
    assert!(
        stdout(&second).contains("Nothing to do: the database was already up to date"),
        "{}",
        stdout(&second)
    );
    assert_eq!(schema_dump(&db), dump, "the second run changed the schema");
    assert_eq!(system_rows(&db), rows, "the second run wrote system rows");

    // Without --tenant, every tenant the database has is looked at, and still nothing is done.
    let third = run(&test, &db, &project, &["--format", "json"]);
    assert_code(&third, 0);
    let doc: serde_json::Value = serde_json::from_slice(&third.stdout).expect("JSON");
    assert_eq!(doc["changed"], false, "{doc:#}");
    assert_eq!(json_count(&doc, "tenants", "existing"), 3);
    assert_eq!(json_count(&doc, "migrations", "existing"), 3);
    assert_eq!(system_rows(&db), rows);

    with_settings!({ filters => volatile_filters() }, {
        assert_snapshot!("first_run", test.filter(&transcript(&first)));
        assert_snapshot!("second_run", test.filter(&transcript(&second)));
    });
}

#[test]
fn check_reports_pending_work_and_changes_nothing() {
    let db = TestDb::new();
    let test = cli_for(&db);
    let project = sandbox(&test, "items");

    // A fresh database: everything is pending, and --check creates nothing.
    let fresh_dump = schema_dump(&db);
    let check = run(&test, &db, &project, &["--check", "--tenant", "acme"]);
    assert_code(&check, 1);
    let out = stdout(&check);
    for pending in [
        "pgcrypto",
        "public.sys_tenant",
        "`items.read`",
        "tenant `acme`",
        "tenant `dev`",
    ] {
        assert!(
            out.lines().any(|l| l.contains("pending:") && l.contains(pending)),
            "no pending line for {pending}:\n{out}"
        );
    }
    assert_eq!(schema_dump(&db), fresh_dump, "--check changed the database");
    assert!(!has_system_tables(&db));

    assert_code(&run(&test, &db, &project, &["--tenant", "acme"]), 0);
    let check = run(&test, &db, &project, &["--check", "--tenant", "acme"]);
    assert_code(&check, 0);
    assert!(stdout(&check).contains("Up to date"), "{}", stdout(&check));

    // A new tenant is pending.
    let (dump, rows) = (schema_dump(&db), system_rows(&db));
    let check = run(
        &test,
        &db,
        &project,
        &["--check", "--tenant", "acme", "--tenant", "globex"],
    );
    assert_code(&check, 1);
    let out = stdout(&check);
    let pending: Vec<&str> = out.lines().filter(|l| l.contains("pending:")).collect();
    assert!(pending.iter().any(|l| l.contains("tenant `globex`")), "{out}");
    assert!(
        !pending.iter().any(|l| l.contains("`acme`")),
        "acme is up to date:\n{out}"
    );

    // A new migration file is pending in every tenant, and --format json says so too.
    test.write_file(
        "items/plugin/migrations/0002_add_price.sql",
        "ALTER TABLE items ADD COLUMN price numeric;\n",
    );
    let check = run(&test, &db, &project, &["--check", "--format", "json"]);
    assert_code(&check, 1);
    let doc: serde_json::Value =
        serde_json::from_slice(&check.stdout).expect("--check --format json prints JSON");
    assert_eq!(doc["mode"], "check");
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["changed"], false);
    let pending: Vec<&str> = doc["report"]["pending"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(pending.len(), 2, "{doc:#}");
    assert!(
        pending.iter().any(|l| l.contains("`acme`")) && pending.iter().any(|l| l.contains("`dev`")),
        "{doc:#}"
    );

    // Nothing of it was done.
    assert_eq!(schema_dump(&db), dump, "--check changed the schema");
    assert_eq!(system_rows(&db), rows, "--check wrote system rows");
    with_settings!({ filters => volatile_filters() }, {
        assert_snapshot!("check_json_new_migration", test.filter(&stdout(&check)));
    });
}

#[test]
fn check_counts_what_is_already_there() {
    // --check on an up-to-date database reports the same "already there" counts as a no-op run.
    let db = TestDb::new();
    let test = cli_for(&db);
    let project = sandbox(&test, "items");
    assert_code(&run(&test, &db, &project, &["--tenant", "acme"]), 0);
    let noop: serde_json::Value =
        serde_json::from_slice(&run(&test, &db, &project, &["--format", "json"]).stdout).unwrap();
    let check: serde_json::Value =
        serde_json::from_slice(&run(&test, &db, &project, &["--check", "--format", "json"]).stdout).unwrap();
    for step in [
        "pgcrypto",
        "system_tables",
        "permissions",
        "tenants",
        "schemas",
        "migrations",
        "dev_grants",
    ] {
        assert_eq!(
            check["report"][step], noop["report"][step],
            "--check and a no-op run disagree on `{step}`:\n--check: {check:#}\nrun: {noop:#}"
        );
    }
}

#[test]
fn dry_run_prints_the_sql_and_changes_nothing() {
    let db = TestDb::new();
    let test = cli_for(&db);
    let project = sandbox(&test, "items");
    let dump = schema_dump(&db);

    let dry = run(&test, &db, &project, &["--dry-run", "--tenant", "acme"]);
    assert_code(&dry, 0);
    let out = stdout(&dry);
    for expected in [
        "CREATE EXTENSION IF NOT EXISTS pgcrypto",
        "CREATE TABLE IF NOT EXISTS public.sys_tenant",
        "pg_advisory_xact_lock",
        // New tenants: statements that fail rather than skip when a concurrent run got there first.
        "CREATE SCHEMA \"tenant_acme\";",
        "CREATE SCHEMA \"tenant_dev\";",
        "VALUES ('acme', 'acme', NULL, 'tenant_acme');",
        // The tenant's schema alone: nothing unqualified can land in public.
        "SET LOCAL search_path TO \"tenant_acme\", extensions;",
        "AS modkit_nothing_outside",
        // The migration's own text, comment included.
        ITEMS_0001.trim_end(),
        "INSERT INTO public.sys_permission (code, module) VALUES ('items.read', 'items')",
    ] {
        assert!(
            out.contains(expected),
            "the dry run does not show `{expected}`:\n{out}"
        );
    }
    assert!(!has_system_tables(&db), "--dry-run created the system tables");
    assert_eq!(
        db.scalar("SELECT count(*) FROM pg_extension WHERE extname = 'pgcrypto'"),
        "0"
    );
    assert_eq!(schema_dump(&db), dump, "--dry-run changed the database");

    // After a real run, a dry run of the same has nothing to print.
    assert_code(&run(&test, &db, &project, &["--tenant", "acme"]), 0);
    let dry = run(&test, &db, &project, &["--dry-run", "--tenant", "acme"]);
    assert_code(&dry, 0);
    assert!(stdout(&dry).contains("Nothing to do"), "{}", stdout(&dry));
    assert!(!stdout(&dry).contains("CREATE"), "{}", stdout(&dry));
}

#[test]
fn json_report_of_a_real_run() {
    let db = TestDb::new();
    let test = cli_for(&db);
    let project = sandbox(&test, "items");
    let output = run(&test, &db, &project, &["--format", "json", "--tenant", "acme"]);
    assert_code(&output, 0);
    let doc: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("--format json prints one JSON document");
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["changed"], true);
    assert_eq!(doc["mode"], "apply");
    assert_eq!(doc["modules"], serde_json::json!(["items"]));
    assert_eq!(json_count(&doc, "pgcrypto", "created"), 1);
    assert_eq!(json_count(&doc, "system_tables", "created"), 6);
    assert_eq!(json_count(&doc, "permissions", "created"), 2);
    assert_eq!(json_count(&doc, "tenants", "created"), 2);
    assert_eq!(json_count(&doc, "schemas", "created"), 2);
    assert_eq!(json_count(&doc, "migrations", "created"), 2);
    // Sandbox: every tenant asked for is a dev tenant too (dev, acme) x (items.read, items.write).
    assert_eq!(json_count(&doc, "dev_grants", "created"), 4);
    assert!(doc["report"]["failures"].as_array().unwrap().is_empty());
    with_settings!({ filters => volatile_filters() }, {
        assert_snapshot!("json_first_run", test.filter(&stdout(&output)));
    });
}

/// A progress bar for the tenants when a person watches (a terminal), none in a pipe or with -q.
#[test]
fn progress_bar_on_a_terminal_only() {
    let db = TestDb::new();
    let test = cli_for(&db);
    let project = sandbox(&test, "items");
    let codes: Vec<String> = (0..300).map(|i| format!("t{i:03}")).collect();
    test.write_file("tenants.txt", codes.join("\n"));
    let tenants_file = test.path("tenants.txt");
    let args = |extra: &str| {
        format!(
            "'{}' bootstrap --db '{}' --project '{}' --tenants-file '{}' {extra}",
            crate::support::bin().display(),
            db.url(),
            project.display(),
            tenants_file.display()
        )
    };
    // util-linux `script` gives the command a pseudo-terminal (with a TERM: a terminal of unknown
    // kind gets no bar); what it shows comes back on stdout. 300 tenants and the sandbox's dev.
    let on_tty = |command: String| {
        test.clean_command("script")
            .args(["-qec", &command, "/dev/null"])
            .env("TERM", "xterm")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("util-linux `script` is installed")
    };
    let shown = on_tty(args(""));
    assert!(shown.status.success(), "{}", transcript(&shown));
    assert!(
        String::from_utf8_lossy(&shown.stdout).contains("/301"),
        "no bar on a terminal:\n{}",
        transcript(&shown)
    );

    // The same work in a pipe: no bar. (A fresh database, so there is work to show.)
    let db2 = TestDb::new();
    let piped = test
        .command()
        .args(["bootstrap", "--db", db2.url(), "--project"])
        .arg(&project)
        .arg("--tenants-file")
        .arg(&tenants_file)
        .output()
        .expect("cannot run modkit");
    assert!(piped.status.success(), "{}", transcript(&piped));
    assert!(
        !String::from_utf8_lossy(&piped.stderr).contains("/301"),
        "a bar in a pipe:\n{}",
        transcript(&piped)
    );
    assert_eq!(db2.scalar("SELECT count(*) FROM public.sys_tenant"), "301");

    // -q on a terminal: no bar either.
    let db3 = TestDb::new();
    let quiet = on_tty(args("-q").replace(db.url(), db3.url()));
    assert!(quiet.status.success(), "{}", transcript(&quiet));
    assert!(
        !String::from_utf8_lossy(&quiet.stdout).contains("/301"),
        "a bar with -q:\n{}",
        transcript(&quiet)
    );
}
