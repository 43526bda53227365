//! A foundation: many modules under `src/modules`, and tenants the foundation made itself.

use super::*;
use crate::support::pg::TestDb;

fn two_modules(test: &CliTest) -> PathBuf {
    foundation(
        test,
        "foundation",
        &[
            ModuleFixture {
                id: "items",
                permissions: &["items.read", "items.write"],
                migrations: &[("0001_create_items.sql", ITEMS_0001)],
            },
            ModuleFixture {
                id: "order-lines",
                permissions: &["order-lines.read"],
                migrations: &[
                    (
                        "0001_create_order_lines.sql",
                        "CREATE TABLE order_lines (id serial PRIMARY KEY, item text NOT NULL);\n",
                    ),
                    (
                        "0002_add_quantity.sql",
                        "ALTER TABLE order_lines ADD COLUMN quantity int NOT NULL DEFAULT 1;\n",
                    ),
                ],
            },
        ],
    )
}

#[test]
fn every_module_is_applied_in_every_tenant_and_its_permissions_registered() {
    let db = TestDb::new();
    let test = cli_for(&db);
    let project = two_modules(&test);
    let output = run(
        &test,
        &db,
        &project,
        &["--tenant", "acme", "--tenant", "globex", "--format", "json"],
    );
    assert_code(&output, 0);
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(doc["modules"], serde_json::json!(["items", "order-lines"]));
    assert_eq!(json_count(&doc, "migrations", "created"), 6);

    // No [module]: no dev tenant, no dev role.
    assert_eq!(
        db.scalar("SELECT string_agg(code, ',' ORDER BY code) FROM sys_tenant"),
        "acme,globex"
    );
    assert_eq!(db.scalar("SELECT count(*) FROM sys_role"), "0");
    assert_eq!(
        db.rows("SELECT code, module FROM sys_permission ORDER BY code"),
        [
            ["items.read", "items"],
            ["items.write", "items"],
            ["order-lines.read", "order-lines"]
        ]
    );
    for schema in ["tenant_acme", "tenant_globex"] {
        assert_eq!(
            db.scalar(&format!("SELECT string_agg(table_name, ',' ORDER BY table_name) FROM information_schema.tables WHERE table_schema = '{schema}'")),
            "items,order_lines"
        );
        assert_eq!(
            db.scalar(&format!("SELECT count(*) FROM information_schema.columns WHERE table_schema = '{schema}' AND table_name = 'order_lines' AND column_name = 'quantity'")),
            "1"
        );
    }
    assert_eq!(
        db.rows("SELECT module, migration, count(*) FROM sys_module_migration GROUP BY 1, 2 ORDER BY 1, 2"),
        [
            ["items", "0001_create_items.sql", "2"],
            ["order-lines", "0001_create_order_lines.sql", "2"],
            ["order-lines", "0002_add_quantity.sql", "2"],
        ]
    );
    // Nothing of a module's tables lands in public.
    assert_eq!(db.scalar("SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename IN ('items', 'order_lines')"), "0");

    let again = run(&test, &db, &project, &[]);
    assert_code(&again, 0);
    assert!(stdout(&again).contains("Nothing to do"), "{}", stdout(&again));
}

#[test]
fn tenants_the_foundation_made_get_the_module_tables_in_their_own_schema() {
    let db = TestDb::new();
    let test = cli_for(&db);
    let project = two_modules(&test);
    // The system tables first (no tenant), then tenants inserted the foundation's way: its own
    // schema names, one of them odd, one schema already there with data in it.
    assert_code(&run(&test, &db, &project, &[]), 0);
    db.execute(
        "INSERT INTO sys_tenant (code, name, domain, schema_name) VALUES \
           ('legacy', 'Legacy Inc', 'legacy.example', 'Legacy''s \"Schema\"'), \
           ('premade', 'Premade', NULL, 'premade_schema');
         CREATE SCHEMA premade_schema; CREATE TABLE premade_schema.notes (body text); INSERT INTO premade_schema.notes VALUES ('kept');",
    );
    let ids = db.rows("SELECT code, id FROM sys_tenant ORDER BY code");

    let output = run(&test, &db, &project, &["--tenant", "fresh"]);
    assert_code(&output, 0);
    for schema in ["Legacy's \"Schema\"", "premade_schema", "tenant_fresh"] {
        let literal = schema.replace('\'', "''");
        assert_eq!(
            db.scalar(&format!("SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = '{literal}' AND tablename <> 'notes'")),
            "items,order_lines",
            "schema {schema}"
        );
    }
    assert_eq!(db.scalar("SELECT body FROM premade_schema.notes"), "kept");
    assert_eq!(
        db.scalar(r"SELECT count(*) FROM pg_namespace WHERE nspname IN ('tenant_legacy', 'tenant_premade')"),
        "0"
    );
    // The foundation's rows are left as they were.
    assert_eq!(
        db.rows("SELECT code, name, coalesce(domain, '<null>'), schema_name FROM sys_tenant WHERE code <> 'fresh' ORDER BY code"),
        [["legacy", "Legacy Inc", "legacy.example", "Legacy's \"Schema\""], ["premade", "Premade", "<null>", "premade_schema"]]
    );
    assert_eq!(
        db.rows("SELECT code, id FROM sys_tenant WHERE code <> 'fresh' ORDER BY code"),
        ids
    );
    assert_eq!(db.scalar("SELECT count(*) FROM sys_module_migration"), "9");
}
