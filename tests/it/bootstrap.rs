//! `modkit bootstrap` against a real PostgreSQL: each test runs the built binary on a fresh
//! database ([`TestDb`]) with a small fixture project written by the test, and asserts on the
//! database itself (catalog, system rows, schema dumps), not only on what the binary prints.
//!
//! The fixtures are the two shapes `modkit bootstrap` finds modules in:
//!
//! - a sandbox ([`sandbox`]): `modkit.toml` with `[module]` and `[dev]`, `plugin/index.ts` exporting
//!   `permissions`, and `plugin/migrations/NNNN_*.sql`;
//! - a foundation ([`foundation`]): no `[module]`, and `src/modules/<id>/plugin/index.ts` plus
//!   `src/modules/<id>/migrations/*.sql` for each module.
//!
//! The tests are split by guarantee: `state` (idempotence, `--check`, `--dry-run`, JSON),
//! `concurrency` (concurrent runs, SIGKILL, no-op re-runs), `failures` (per-tenant failures,
//! checksums), `input` (tenant codes, tenants files, hostile names), `errors` (URLs, connection
//! errors, privileges, redaction), `foundation` and `pgbouncer`.

mod concurrency;
mod errors;
mod failures;
mod foundation;
mod input;
mod pgbouncer;
mod state;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::support::pg::{PgServer, TestDb, psql_scalar, redact};
use crate::support::process::wait_for;
use crate::support::{CliTest, transcript};
pub use crate::support::{stderr, stdout};

/// The sandbox fixture's first migration. No `IF NOT EXISTS`: a migration applied twice to one
/// tenant fails, so a double application cannot go unnoticed.
pub const ITEMS_0001: &str = "-- items: one table per tenant schema, no tenant_id\n\
CREATE TABLE items (\n  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),\n  name text NOT NULL UNIQUE\n);\n";

/// The rule every refused tenant code is explained with.
pub const CODE_RULE: &str = "a tenant code is lowercase letters, digits and underscores, starts with a letter, and is at most 48 bytes";

/// A sandbox for module `items` in `dir`: permissions `items.read` and `items.write`, the dev
/// tenant `dev` for user `dev`, and the one migration [`ITEMS_0001`]. No database URL in
/// modkit.toml: tests pass `--db`.
pub fn sandbox(test: &CliTest, dir: &str) -> PathBuf {
    test.write_file(
        format!("{dir}/modkit.toml"),
        "[module]\nid = \"items\"\nname = \"Items\"\n\n[dev]\nuser = \"dev\"\ntenants = [\"dev\"]\n",
    );
    test.write_file(
        format!("{dir}/plugin/index.ts"),
        "export const permissions = ['items.read', 'items.write'] satisfies string[];\n\
         const plugin = { meta: { id: 'items', version: '1.0.0', api: '1.x' }, async register() {} };\n\
         export default plugin;\n",
    );
    test.write_file(
        format!("{dir}/plugin/migrations/0001_create_items.sql"),
        ITEMS_0001,
    );
    test.path(dir)
}

/// One module of a [`foundation`]: id, permissions, migrations as `(file name, SQL)`.
pub struct ModuleFixture<'a> {
    pub id: &'a str,
    pub permissions: &'a [&'a str],
    pub migrations: &'a [(&'a str, &'a str)],
}

/// A foundation in `dir`: a modkit.toml without `[module]`, and each module under `src/modules`.
pub fn foundation(test: &CliTest, dir: &str, modules: &[ModuleFixture]) -> PathBuf {
    test.write_file(
        format!("{dir}/modkit.toml"),
        "# a foundation: its modules live in src/modules\n",
    );
    for module in modules {
        let perms: Vec<String> = module.permissions.iter().map(|p| format!("'{p}'")).collect();
        test.write_file(
            format!("{dir}/src/modules/{}/plugin/index.ts", module.id),
            format!(
                "export const permissions = [{}] satisfies string[];\nexport default {{ meta: {{ id: '{}' }} }};\n",
                perms.join(", "),
                module.id
            ),
        );
        for (name, sql) in module.migrations {
            test.write_file(format!("{dir}/src/modules/{}/migrations/{name}", module.id), sql);
        }
    }
    test.path(dir)
}

/// A tenants file of `n` tenants `t0001`..: `code,name`.
pub fn tenants_file(test: &CliTest, name: &str, n: usize) -> PathBuf {
    let text: String = (1..=n).map(|i| format!("t{i:04},Tenant {i}\n")).collect();
    test.write_file(name, text)
}

/// `modkit bootstrap --db <db> --project <project> <args>`, not yet run.
pub fn bootstrap(test: &CliTest, db: &TestDb, project: &Path, args: &[&str]) -> Command {
    let mut cmd = test.command();
    cmd.arg("bootstrap")
        .arg("--db")
        .arg(db.url())
        .arg("--project")
        .arg(project)
        .args(args);
    cmd
}

/// Run `modkit bootstrap` and return its output.
pub fn run(test: &CliTest, db: &TestDb, project: &Path, args: &[&str]) -> Output {
    bootstrap(test, db, project, args)
        .output()
        .expect("cannot run modkit")
}

#[track_caller]
pub fn assert_code(output: &Output, code: i32) {
    assert_eq!(output.status.code(), Some(code), "{}", transcript(output));
}

/// A CliTest whose transcripts show `[DB]` for the test database's URL (as given and as modkit
/// prints it, password hidden).
pub fn cli_for(db: &TestDb) -> CliTest {
    CliTest::new()
        .with_filter(db.url(), "[DB]")
        .with_filter(redact(db.url()), "[DB]")
}

/// insta filters for what changes from run to run in bootstrap output.
pub fn volatile_filters() -> Vec<(&'static str, &'static str)> {
    vec![
        (r"\(PostgreSQL [^)]+\)", "(PostgreSQL [PG])"),
        (r"\d+\.\d+s\b", "[TIME]s"),
        (r#""elapsed_ms": \d+"#, r#""elapsed_ms": "[MS]""#),
        (r#""server_version": "[^"]*""#, r#""server_version": "[PG]""#),
    ]
}

/// The database's schema as `pg_dump --schema-only` prints it, minus the random `\restrict` key
/// lines recent pg_dump versions write.
pub fn schema_dump(db: &TestDb) -> String {
    let output = Command::new(pg_dump())
        .arg("--schema-only")
        .arg("--dbname")
        .arg(db.url())
        .output()
        .expect("cannot run pg_dump");
    assert!(
        output.status.success(),
        "pg_dump failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("pg_dump prints UTF-8")
        .lines()
        .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The newest pg_dump installed (it must not be older than the server), else the one on PATH.
fn pg_dump() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin/pg_dump");
            bin.is_file().then_some((major, bin))
        })
        .collect();
    found.sort();
    found
        .pop()
        .map_or_else(|| PathBuf::from("pg_dump"), |(_, bin)| bin)
}

/// Every row of every system table, with each row's `xmin` (the transaction that last wrote it):
/// equal before and after a run means that run wrote no system row at all.
pub fn system_rows(db: &TestDb) -> String {
    let queries = [
        "SELECT xmin, id, code, name, coalesce(domain, '<null>'), schema_name FROM sys_tenant ORDER BY code",
        "SELECT xmin, code, module, coalesce(description, '<null>'), created_at FROM sys_permission ORDER BY code",
        "SELECT xmin, id, tenant_id, code, name, created_at FROM sys_role ORDER BY tenant_id, code",
        "SELECT xmin, role_id, permission FROM sys_role_permission ORDER BY role_id, permission",
        "SELECT xmin, user_id, tenant_id, role_id, created_at FROM sys_user_role ORDER BY user_id, tenant_id, role_id",
        "SELECT xmin, tenant_id, module, migration, checksum, applied_at FROM sys_module_migration ORDER BY tenant_id, module, migration",
        "SELECT extname, extversion FROM pg_extension ORDER BY extname",
    ];
    let mut out = String::new();
    for query in queries {
        out.push_str(query);
        out.push('\n');
        for row in db.rows(query) {
            out.push_str(&format!("  {}\n", row.join(" | ")));
        }
    }
    out
}

/// Whether `public.sys_tenant` exists.
pub fn has_system_tables(db: &TestDb) -> bool {
    db.scalar("SELECT to_regclass('public.sys_tenant') IS NOT NULL") == "t"
}

/// The crash-safety invariant, read in one statement (one snapshot): every `tenant_%` schema has
/// its sys_tenant row, every row has its schema, its `table` and exactly `migrations` migration
/// records. Returns the violations, empty when it holds.
pub fn invariant_violations(db: &TestDb, table: &str, migrations: usize) -> Vec<String> {
    if !has_system_tables(db) {
        let orphans = db.scalar(r"SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'tenant\_%'");
        return if orphans == "0" {
            vec![]
        } else {
            vec![format!("{orphans} tenant schemas and no sys_tenant table")]
        };
    }
    let row = &db.rows(&format!(
        r"SELECT
            (SELECT string_agg(n.nspname, ' ') FROM pg_namespace n WHERE n.nspname LIKE 'tenant\_%'
               AND NOT EXISTS (SELECT 1 FROM sys_tenant t WHERE t.schema_name = n.nspname)),
            (SELECT string_agg(t.code, ' ') FROM sys_tenant t
               WHERE NOT EXISTS (SELECT 1 FROM pg_namespace n WHERE n.nspname = t.schema_name)),
            (SELECT string_agg(t.code, ' ') FROM sys_tenant t WHERE NOT EXISTS (
               SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = t.schema_name AND c.relname = '{table}' AND c.relkind = 'r')),
            (SELECT string_agg(t.code, ' ') FROM sys_tenant t
               WHERE (SELECT count(*) FROM sys_module_migration m WHERE m.tenant_id = t.id) <> {migrations})"
    ))[0];
    let labels = [
        "schemas without a row",
        "rows without a schema",
        "tenants without their table",
        "tenants without their migration records",
    ];
    labels
        .iter()
        .zip(row)
        .filter(|(_, v)| !v.is_empty())
        .map(|(label, v)| format!("{label}: {}", v.chars().take(300).collect::<String>()))
        .collect()
}

/// Wait until no session but ours is connected to the database (a finished modkit's server
/// processes end a moment after it does, and report their statistics as they end).
/// Asked from the maintenance database, so that looking adds no transaction to `db`'s statistics.
pub fn wait_until_idle(db: &TestDb) {
    let server = PgServer::shared().url();
    wait_for("the database's sessions to end", Duration::from_secs(20), || {
        let n = psql_scalar(
            server,
            &format!(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}'",
                db.name()
            ),
        );
        (n == "0").then_some(())
    });
}

/// Transactions committed or rolled back in `db` so far, as its finished sessions reported them.
/// Read from the maintenance database: reading adds nothing to the count.
pub fn transactions(db: &TestDb) -> i64 {
    wait_until_idle(db);
    let sql = format!(
        "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = '{}'",
        db.name()
    );
    psql_scalar(PgServer::shared().url(), &sql).parse().unwrap()
}

/// The `tenant_%` schema count, whatever state the database is in.
pub fn tenant_schemas(db: &TestDb) -> usize {
    db.scalar(r"SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'tenant\_%'")
        .parse()
        .unwrap()
}

/// The value of `key` in a parsed JSON report, e.g. `json_count(&v, "tenants", "created")`.
pub fn json_count(doc: &serde_json::Value, step: &str, which: &str) -> u64 {
    doc["report"][step][which]
        .as_u64()
        .unwrap_or_else(|| panic!("no report.{step}.{which} in {doc:#}"))
}
