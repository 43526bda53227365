//! A tenant that fails does not stop the others, and an edited migration is never applied over.

use sha2::{Digest, Sha256};

use super::*;
use crate::support::pg::TestDb;

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `tenant -> [migration, ...]` as recorded, one line per tenant.
fn recorded(db: &TestDb) -> String {
    db.rows(
        "SELECT t.code, string_agg(m.migration, ' ' ORDER BY m.migration) FROM sys_tenant t \
         LEFT JOIN sys_module_migration m ON m.tenant_id = t.id GROUP BY t.code ORDER BY t.code",
    )
    .iter()
    .map(|r| format!("{}: {}", r[0], r[1]))
    .collect::<Vec<_>>()
    .join("\n")
}

const SEED_0002: &str = "-- every tenant starts with one item\nINSERT INTO items (name) VALUES ('first');\n";

#[test]
fn a_migration_failing_in_one_tenant_fails_that_tenant_only_and_the_next_run_does_the_rest() {
    let db = TestDb::new();
    let test = cli_for(&db);
    let project = sandbox(&test, "items");
    let tenants = ["--tenant", "acme", "--tenant", "bad_one", "--tenant", "cobalt"];
    assert_code(&run(&test, &db, &project, &tenants), 0);

    // 0002 inserts an item; in bad_one that item is already there, so 0002 fails there only.
    db.execute("INSERT INTO tenant_bad_one.items (name) VALUES ('first')");
    test.write_file("items/plugin/migrations/0002_seed_first_item.sql", SEED_0002);
    let output = run(
        &test,
        &db,
        &project,
        &[&tenants[..], &["--tenant", "delta"]].concat(),
    );
    assert_code(&output, 1);
    let err = stderr(&output);
    let failed: Vec<&str> = err
        .lines()
        .filter(|l| l.trim_start().starts_with("error:"))
        .collect();
    assert_eq!(failed.len(), 1, "one tenant failed:\n{err}");
    for expected in [
        "bad_one",
        "items/0002_seed_first_item.sql",
        "tenant_bad_one",
        "items_name_key",
    ] {
        assert!(
            failed[0].contains(expected),
            "the failure does not name `{expected}`:\n{err}"
        );
    }
    assert!(err.contains("the other tenants were done"), "{err}");
    assert_eq!(
        recorded(&db),
        "acme: 0001_create_items.sql 0002_seed_first_item.sql\n\
         bad_one: 0001_create_items.sql\n\
         cobalt: 0001_create_items.sql 0002_seed_first_item.sql\n\
         delta: 0001_create_items.sql 0002_seed_first_item.sql\n\
         dev: 0001_create_items.sql 0002_seed_first_item.sql"
    );
    assert_eq!(
        db.scalar("SELECT count(*) FROM tenant_bad_one.items"),
        "1",
        "bad_one's transaction was rolled back"
    );
    assert_eq!(db.scalar("SELECT count(*) FROM tenant_delta.items"), "1");

    // Still failing: the JSON report has the one failure, and nothing else is redone.
    let output = run(&test, &db, &project, &["--format", "json"]);
    assert_code(&output, 1);
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let failures = doc["report"]["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{doc:#}");
    assert_eq!(failures[0]["tenant"], "bad_one");
    assert!(
        failures[0]["message"]
            .as_str()
            .unwrap()
            .contains("0002_seed_first_item.sql"),
        "{doc:#}"
    );
    assert_eq!(doc["ok"], false);

    // Fix the cause; the next run does exactly the missing migration, in bad_one, and nothing else.
    let rows = system_rows(&db);
    db.execute("DELETE FROM tenant_bad_one.items");
    let output = run(&test, &db, &project, &["--format", "json"]);
    assert_code(&output, 0);
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(json_count(&doc, "migrations", "created"), 1, "{doc:#}");
    assert_eq!(json_count(&doc, "tenants", "created"), 0, "{doc:#}");
    assert!(
        recorded(&db).contains("bad_one: 0001_create_items.sql 0002_seed_first_item.sql"),
        "{}",
        recorded(&db)
    );
    let new_rows = system_rows(&db);
    let changed: Vec<&str> = new_rows
        .lines()
        .filter(|l| !rows.lines().any(|r| r == *l))
        .collect();
    assert_eq!(
        changed.len(),
        1,
        "only bad_one's 0002 record is new: {changed:#?}"
    );
    assert!(changed[0].contains("0002_seed_first_item.sql"), "{changed:?}");
}

#[test]
fn the_failure_names_the_migration_that_failed_among_several() {
    // A new tenant gets 0001 and 0002 in one transaction; 0002 fails there (its table is already
    // in the schema someone made by hand). The report must say 0002, not "0001 or 0002".
    let db = TestDb::new();
    let test = cli_for(&db);
    let project = sandbox(&test, "items");
    test.write_file(
        "items/plugin/migrations/0002_create_tags.sql",
        "CREATE TABLE item_tags (item_id uuid NOT NULL, tag text NOT NULL);\n",
    );
    db.execute("CREATE SCHEMA tenant_echo; CREATE TABLE tenant_echo.item_tags (x int)");
    let output = run(&test, &db, &project, &["--tenant", "echo"]);
    assert_code(&output, 1);
    let err = stderr(&output);
    let line = err
        .lines()
        .find(|l| l.contains("echo"))
        .unwrap_or_else(|| panic!("no failure for echo:\n{err}"));
    assert!(line.contains("0002_create_tags.sql"), "{line}");
    assert!(
        !line.contains("0001_create_items.sql"),
        "the report blames 0001 too, which ran fine:\n{line}"
    );
    assert!(line.contains("item_tags"), "{line}");
    // The others are done: dev has both.
    assert_eq!(recorded(&db), "dev: 0001_create_items.sql 0002_create_tags.sql");
}

#[test]
fn an_edited_migration_is_an_error_naming_file_tenant_and_both_checksums_and_nothing_is_applied_over_it() {
    let db = TestDb::new();
    let test = cli_for(&db);
    let project = sandbox(&test, "items");
    assert_code(&run(&test, &db, &project, &["--tenant", "acme"]), 0);

    let old = sha256_hex(ITEMS_0001);
    let edited = format!("{ITEMS_0001}-- edited after it was applied\n");
    let new = sha256_hex(&edited);
    test.write_file("items/plugin/migrations/0001_create_items.sql", &edited);
    test.write_file(
        "items/plugin/migrations/0002_add_price.sql",
        "ALTER TABLE items ADD COLUMN price numeric;\n",
    );
    let dump_acme = |db: &TestDb| {
        db.rows("SELECT column_name FROM information_schema.columns WHERE table_schema = 'tenant_acme' ORDER BY 1")
    };
    let columns = dump_acme(&db);

    // A new tenant in the same run is stopped too: the checksum recorded is the truth (issue 7,
    // item 7; hostile::schemas::edited_migration_stops_a_new_tenant_too covers the rest).
    let output = run(&test, &db, &project, &["--tenant", "acme", "--tenant", "fresh"]);
    assert_code(&output, 1);
    let err = stderr(&output);
    for tenant in ["acme", "dev", "fresh"] {
        let line = err
            .lines()
            .find(|l| l.contains(&format!("{tenant}: migration")))
            .unwrap_or_else(|| panic!("no error for tenant {tenant}:\n{err}"));
        for expected in ["0001_create_items.sql", old.as_str(), new.as_str()] {
            assert!(
                line.contains(expected),
                "the error for {tenant} does not name {expected}:\n{line}"
            );
        }
    }
    assert_eq!(
        recorded(&db),
        "acme: 0001_create_items.sql\ndev: 0001_create_items.sql"
    );
    assert_eq!(dump_acme(&db), columns, "0002 was applied over the edited 0001");
    assert_eq!(db.scalar("SELECT checksum FROM sys_module_migration m JOIN sys_tenant t ON t.id = m.tenant_id WHERE t.code = 'acme'"), old);

    // --check fails on it too, and names it.
    let check = run(&test, &db, &project, &["--check"]);
    assert_code(&check, 1);
    let all = format!("{}{}", stdout(&check), stderr(&check));
    assert!(
        all.contains(&old) && all.contains(&new) && all.contains("0001_create_items.sql"),
        "{all}"
    );
}

#[test]
fn a_syntax_error_is_reported_at_its_file_and_line() {
    let db = TestDb::new();
    let test = cli_for(&db);
    let project = sandbox(&test, "items");
    assert_code(&run(&test, &db, &project, &[]), 0);
    test.write_file(
        "items/plugin/migrations/0002_broken.sql",
        "-- a typo on line 3\nALTER TABLE items\n  ADD COLUMN price numeric DEFALT 0;\n",
    );
    let output = run(&test, &db, &project, &[]);
    assert_code(&output, 1);
    let err = stderr(&output);
    assert!(
        err.contains("items/0002_broken.sql failed at line 3 in schema tenant_dev"),
        "{err}"
    );
    assert!(err.contains("DEFALT"), "{err}");
    assert_eq!(recorded(&db), "dev: 0001_create_items.sql");
}
