//! See tests/it/hostile.rs. The database side of "nothing crossed" (issue 7, items 1, 7, 14, 17):
//! tenant schemas the role cannot use, relations created outside a tenant's schema, an edited
//! migration meeting a new tenant, a server without pgcrypto, and report counts that must come
//! from rows. The sandbox's own `npm run bootstrap` is held to the same in tests/it/e2e/bootstrap.rs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::bootstrap::{ITEMS_0001, assert_code, cli_for, json_count, run, sandbox};
use crate::support::pg::{TestDb, TestRole, psql_execute, psql_scalar};
use crate::support::process::free_port;
use crate::support::{CliTest, stderr, stdout};

/// `modkit bootstrap --db <url> --project <project> <args>`, as someone else than the test's superuser.
fn bootstrap_as(test: &CliTest, url: &str, project: &Path, args: &[&str]) -> Output {
    test.command()
        .arg("bootstrap")
        .arg("--db")
        .arg(url)
        .arg("--project")
        .arg(project)
        .args(args)
        .output()
        .expect("cannot run modkit")
}

/// The error line a run printed for `tenant`.
#[track_caller]
fn failure_line(output: &Output, tenant: &str) -> String {
    let err = stderr(output);
    err.lines()
        .find(|l| l.contains(&format!("{tenant}: ")))
        .unwrap_or_else(|| panic!("no failure for tenant {tenant}:\n{err}"))
        .to_string()
}

fn items_in(db: &TestDb, schema: &str) -> String {
    db.scalar(&format!(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = '{schema}' AND c.relname = 'items'"
    ))
}

/// The reproduction of item 1: a database owned by a plain role, two tenant schemas made
/// beforehand by a superuser with no grants. PostgreSQL silently drops such a schema from
/// search_path, and `items` used to land in `public`, shared by both tenants.
#[test]
fn bootstrap_refuses_a_tenant_schema_the_role_cannot_use() {
    let role = TestRole::new("app");
    let db = TestDb::new();
    let test = cli_for(&db).with_filter(&role.name, "[ROLE]");
    let project = sandbox(&test, "items");
    db.execute(&format!("ALTER DATABASE {} OWNER TO {}", db.name(), role.name));
    db.execute("CREATE SCHEMA tenant_acme; CREATE SCHEMA tenant_globex");

    let output = bootstrap_as(
        &test,
        &role.url(&db),
        &project,
        &["--tenant", "acme", "--tenant", "globex"],
    );
    assert_code(&output, 1);
    for (tenant, schema) in [("acme", "tenant_acme"), ("globex", "tenant_globex")] {
        let line = failure_line(&output, tenant);
        assert!(line.contains(&format!("may not use schema {schema}")), "{line}");
        assert!(
            line.contains(&format!(
                "GRANT USAGE, CREATE ON SCHEMA {schema} TO {}",
                role.name
            )) && line.contains(&format!("ALTER SCHEMA {schema} OWNER TO {}", role.name)),
            "the fix is given: {line}"
        );
    }
    assert_eq!(items_in(&db, "public"), "0", "a module table landed in public");
    // The failure is the two tenants' only: dev, whose schema the role made, is done.
    assert_eq!(items_in(&db, "tenant_dev"), "1");
    assert_eq!(
        db.scalar("SELECT string_agg(code, ',' ORDER BY code) FROM sys_tenant"),
        "dev"
    );

    // Granted as the message says: it goes through, each tenant in its own schema.
    db.execute(&format!(
        "GRANT USAGE, CREATE ON SCHEMA tenant_acme TO {0}; ALTER SCHEMA tenant_globex OWNER TO {0}",
        role.name
    ));
    let output = bootstrap_as(
        &test,
        &role.url(&db),
        &project,
        &["--tenant", "acme", "--tenant", "globex"],
    );
    assert_code(&output, 0);
    for schema in ["tenant_acme", "tenant_globex"] {
        assert_eq!(items_in(&db, schema), "1", "{schema}");
    }
    assert_eq!(items_in(&db, "public"), "0");

    // Revoked later, with a new migration pending: refused again, the others done.
    db.execute(&format!("REVOKE ALL ON SCHEMA tenant_acme FROM {}", role.name));
    test.write_file(
        "items/plugin/migrations/0002_notes.sql",
        "CREATE TABLE notes (id int PRIMARY KEY);\n",
    );
    let output = bootstrap_as(&test, &role.url(&db), &project, &[]);
    assert_code(&output, 1);
    assert!(failure_line(&output, "acme").contains("GRANT USAGE, CREATE ON SCHEMA tenant_acme"));
    assert_eq!(
        db.scalar("SELECT count(*) FROM pg_class WHERE relname = 'notes'"),
        "2",
        "notes is in dev's and globex's schemas only"
    );
    assert_eq!(items_in(&db, "public"), "0");
}

#[test]
fn migration_never_creates_a_table_in_public() {
    let db = TestDb::new();
    let test = cli_for(&db);
    let project = sandbox(&test, "items");
    let leak = "items/plugin/migrations/0002_leak.sql";
    let public_leaks = |db: &TestDb| {
        db.scalar("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relname LIKE 'leak%'")
    };

    // Brand-new tenants (one script with its own COMMIT): the check runs inside it.
    test.write_file(leak, "CREATE TABLE public.leak (id int);\n");
    let output = run(&test, &db, &project, &["--tenant", "acme"]);
    assert_code(&output, 1);
    for tenant in ["acme", "dev"] {
        let line = failure_line(&output, tenant);
        assert!(
            line.contains("outside schema tenant_") && line.contains("table public.leak"),
            "{line}"
        );
        assert!(line.contains("items/0002_leak.sql"), "{line}");
    }
    assert_eq!(public_leaks(&db), "0");
    assert_eq!(
        db.scalar("SELECT count(*) FROM sys_tenant"),
        "0",
        "nothing was kept"
    );

    // Existing tenants, a new migration: a sequence, a view, a composite type or an index
    // elsewhere are refused too, and so is a table put in another schema.
    std::fs::remove_file(test.path(leak)).unwrap();
    assert_code(&run(&test, &db, &project, &["--tenant", "acme"]), 0);
    db.execute("CREATE SCHEMA shared");
    for (sql, found) in [
        ("CREATE SEQUENCE public.leak_seq;\n", "sequence public.leak_seq"),
        (
            "CREATE VIEW public.leak_v AS SELECT 1 AS x;\n",
            "view public.leak_v",
        ),
        ("CREATE TYPE public.leak_t AS (x int);\n", "type public.leak_t"),
        (
            "CREATE INDEX leak_idx ON public.sys_tenant (name);\n",
            "index public.leak_idx",
        ),
        ("CREATE TABLE shared.leak (id int);\n", "table shared.leak"),
        // Inside a subtransaction (a DO block that catches errors) as well.
        (
            "DO $$ BEGIN CREATE TABLE public.leak_sub (id int); EXCEPTION WHEN others THEN NULL; END $$;\n",
            "table public.leak_sub",
        ),
    ] {
        test.write_file(leak, sql);
        // One tenant at a time: two tenants building the same index on public.sys_tenant at once
        // deadlock each other before the check can speak (also a failure, but not the one tested).
        let output = run(&test, &db, &project, &["--jobs", "1"]);
        assert_code(&output, 1);
        let line = failure_line(&output, "acme");
        assert!(line.contains(found), "{sql}: {line}");
        assert_eq!(public_leaks(&db), "0", "{sql}");
        assert_eq!(
            db.scalar("SELECT count(*) FROM pg_class WHERE relname = 'leak'"),
            "0",
            "{sql}"
        );
    }
    // An unqualified name can only land in the tenant's schema: public is not on search_path (only
    // the shared `extensions` after it, issue 15).
    test.write_file(
        leak,
        "CREATE TABLE leak (id int);\nCREATE TABLE where_am_i AS SELECT current_schemas(false)::text AS path;\n",
    );
    assert_code(&run(&test, &db, &project, &[]), 0);
    assert_eq!(public_leaks(&db), "0");
    assert_eq!(
        db.scalar("SELECT path FROM tenant_acme.where_am_i"),
        "{tenant_acme,extensions}"
    );
}

#[test]
fn doctor_db_finds_module_tables_in_public() {
    let role = TestRole::new("doctor");
    let db = TestDb::new();
    let test = cli_for(&db).with_filter(&role.name, "[ROLE]");
    let project = sandbox(&test, "items");
    db.execute(&format!("ALTER DATABASE {} OWNER TO {}", db.name(), role.name));
    let url = role.url(&db);
    assert_code(&bootstrap_as(&test, &url, &project, &["--tenant", "acme"]), 0);
    let doctor = |test: &CliTest| -> (i32, Vec<(String, String)>) {
        let out = test
            .command()
            .args(["doctor"])
            .arg(&project)
            .args(["--db", url.as_str(), "--format", "json"])
            .output()
            .unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(&out)));
        let found = doc["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["code"].as_str().unwrap().starts_with("db-"))
            .map(|d| {
                (
                    d["code"].as_str().unwrap().to_string(),
                    format!("{} {}", d["message"], d["hint"]),
                )
            })
            .collect();
        (out.status.code().unwrap(), found)
    };
    let (_, clean) = doctor(&test);
    assert!(clean.is_empty(), "{clean:?}");

    // What the old bootstrap left: the module's table in public, and a tenant whose schema a
    // superuser made without grants. And a relation only a tenant schema shows is a module's.
    db.execute(
        "CREATE TABLE public.items (id uuid PRIMARY KEY, name text); CREATE TABLE tenant_acme.audit (x int); \
         CREATE TABLE public.audit (x int); CREATE TABLE public.unrelated (x int); CREATE SCHEMA tenant_globex; \
         INSERT INTO sys_tenant (code, name, schema_name) VALUES ('globex', 'globex', 'tenant_globex')",
    );
    let (code, found) = doctor(&test);
    assert_eq!(code, 1, "{found:?}");
    let with =
        |code: &str| -> Vec<&String> { found.iter().filter(|(c, _)| c == code).map(|(_, m)| m).collect() };
    let in_public = with("db-module-table-in-public");
    assert_eq!(in_public.len(), 2, "{found:?}");
    assert!(
        in_public[0].contains("public.audit") && in_public[1].contains("public.items"),
        "{in_public:?}"
    );
    assert!(in_public[1].contains("DROP TABLE public.items"), "{in_public:?}");
    let unusable = with("db-schema-unusable");
    assert_eq!(unusable.len(), 1, "{found:?}");
    assert!(
        unusable[0].contains("tenant_globex")
            && unusable[0].contains(&format!(
                "GRANT USAGE, CREATE ON SCHEMA tenant_globex TO {}",
                role.name
            )),
        "{unusable:?}"
    );
    // Not also reported as an edited migration (it was, before it had a code of its own).
    assert!(with("db-migration-edited").is_empty(), "{found:?}");
}

/// Item 7: an applied migration edited, and a new tenant in the same run. The new tenant used to
/// record the edited file's checksum and fail on every run once the file was restored.
#[test]
fn edited_migration_stops_a_new_tenant_too() {
    let db = TestDb::new();
    let test = cli_for(&db);
    let project = sandbox(&test, "items");
    assert_code(&run(&test, &db, &project, &["--tenant", "acme"]), 0);

    let file = "items/plugin/migrations/0001_create_items.sql";
    test.write_file(file, format!("{ITEMS_0001}-- edited\n"));
    let output = run(&test, &db, &project, &["--tenant", "fresh"]);
    assert_code(&output, 1);
    let fresh = failure_line(&output, "fresh");
    let acme = failure_line(&output, "acme");
    assert!(fresh.contains("was edited after it was applied"), "{fresh}");
    // The same message: the same tenant, checksums and advice.
    assert_eq!(
        fresh.split_once("fresh: ").unwrap().1,
        acme.split_once("acme: ").unwrap().1
    );
    assert_eq!(
        db.scalar("SELECT count(*) FROM sys_tenant WHERE code = 'fresh'"),
        "0"
    );
    assert_eq!(items_in(&db, "tenant_fresh"), "0");

    // --check says so for the new tenant too.
    let check = run(&test, &db, &project, &["--check", "--tenant", "fresh"]);
    assert_code(&check, 1);

    // Restored as the hint says: every tenant, the new one included, is fine from then on.
    test.write_file(file, ITEMS_0001);
    assert_code(&run(&test, &db, &project, &["--tenant", "fresh"]), 0);
    assert_code(&run(&test, &db, &project, &["--tenant", "fresh"]), 0);
    assert_eq!(
        db.scalar("SELECT count(DISTINCT checksum) FROM sys_module_migration"),
        "1"
    );
    assert_eq!(items_in(&db, "tenant_fresh"), "1");
}

/// Item 17: a dev tenant that fails is no dev grant "already there". The report used to say
/// `dev grants 0 granted, 2 already there` (the plan's count) while sys_user_role had no row.
#[test]
fn dev_grant_counts_come_from_rows_written() {
    let role = TestRole::new("counts");
    let db = TestDb::new();
    let test = cli_for(&db).with_filter(&role.name, "[ROLE]");
    let project = sandbox(&test, "items");
    db.execute(&format!("ALTER DATABASE {} OWNER TO {}", db.name(), role.name));
    db.execute("CREATE SCHEMA tenant_dev");
    let url = role.url(&db);
    let json = |args: &[&str]| -> serde_json::Value {
        let mut all = vec!["--format", "json"];
        all.extend(args);
        let out = bootstrap_as(&test, &url, &project, &all);
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(&out)))
    };
    let count = |doc: &serde_json::Value, what: &str| {
        (
            json_count(doc, what, "created"),
            json_count(doc, what, "existing"),
        )
    };
    let doc = json(&[]);
    assert_eq!(count(&doc, "dev_grants"), (0, 0), "{doc:#}");
    assert_eq!(db.scalar("SELECT count(*) FROM sys_user_role"), "0");

    db.execute(&format!("ALTER SCHEMA tenant_dev OWNER TO {}", role.name));
    let doc = json(&[]);
    assert_eq!(count(&doc, "dev_grants"), (2, 0), "{doc:#}");
    assert_eq!(count(&doc, "migrations"), (1, 0), "{doc:#}");
    // A grant removed by hand is put back, and counted as what it is.
    db.execute("DELETE FROM sys_role_permission WHERE permission = 'items.write'");
    let doc = json(&[]);
    assert_eq!(count(&doc, "dev_grants"), (1, 1), "{doc:#}");
    // A new migration in a tenant that has one: one applied, one there (not counted twice).
    test.write_file(
        "items/plugin/migrations/0002_notes.sql",
        "CREATE TABLE notes (id int);\n",
    );
    let doc = json(&[]);
    assert_eq!(count(&doc, "migrations"), (1, 1), "{doc:#}");
    assert_eq!(count(&doc, "dev_grants"), (0, 2), "{doc:#}");
}

/// Item 14: a server without contrib (as some embedded and managed builds are) answers
/// `extension "pgcrypto" is not available`. On PostgreSQL 13+ gen_random_uuid() is built in, as
/// docs/bootstrap.md promises: a warning, and the bootstrap goes on.
#[test]
fn missing_pgcrypto_is_a_warning_on_pg13_plus() {
    let server = ServerWithoutPgcrypto::start();
    let test = CliTest::new();
    let project = sandbox(&test, "items");
    let output = bootstrap_as(&test, &server.url, &project, &["--tenant", "acme"]);
    assert_code(&output, 0);
    let err = stderr(&output);
    assert!(
        err.contains("warning:") && err.contains("pgcrypto") && err.contains("not installed on this server"),
        "{err}"
    );
    assert_eq!(
        psql_scalar(&server.url, "SELECT count(*) FROM tenant_acme.items"),
        "0"
    );
    psql_execute(&server.url, "INSERT INTO tenant_acme.items (name) VALUES ('x')");
    assert_eq!(
        psql_scalar(
            &server.url,
            "SELECT count(*) FROM pg_extension WHERE extname = 'pgcrypto'"
        ),
        "0"
    );
}

/// A throwaway PostgreSQL whose share folder lacks pgcrypto: the server binary copied into a tree
/// of its own, where it finds its share folder (relative to itself) with every extension but
/// pgcrypto. Its library folder is the real one: without a control file the extension is simply
/// "not available", exactly as on a build without contrib.
pub struct ServerWithoutPgcrypto {
    pub url: String,
    root: PathBuf,
    data: PathBuf,
    bin: PathBuf,
}

impl ServerWithoutPgcrypto {
    pub fn start() -> Self {
        let (major, real_bin) = newest_server();
        let root = std::env::temp_dir().join(format!(
            "modkit-nopgcrypto-{}-{}",
            std::process::id(),
            free_port()
        ));
        let _ = std::fs::remove_dir_all(&root);
        let lib = root.join(format!("usr/lib/postgresql/{major}"));
        let share = root.join(format!("usr/share/postgresql/{major}"));
        std::fs::create_dir_all(lib.join("bin")).unwrap();
        std::fs::create_dir_all(share.join("extension")).unwrap();
        // A copy, not a link: PostgreSQL resolves links to find its own folder.
        std::fs::copy(real_bin.join("postgres"), lib.join("bin/postgres")).unwrap();
        std::os::unix::fs::symlink(real_bin.parent().unwrap().join("lib"), lib.join("lib")).unwrap();
        let real_share = PathBuf::from(format!("/usr/share/postgresql/{major}"));
        for entry in std::fs::read_dir(&real_share).unwrap().flatten() {
            if entry.file_name() != "extension" {
                std::os::unix::fs::symlink(entry.path(), share.join(entry.file_name())).unwrap();
            }
        }
        for entry in std::fs::read_dir(real_share.join("extension")).unwrap().flatten() {
            if !entry.file_name().to_string_lossy().starts_with("pgcrypto") {
                std::os::unix::fs::symlink(entry.path(), share.join("extension").join(entry.file_name()))
                    .unwrap();
            }
        }
        let data = root.join("data");
        std::fs::create_dir_all(&data).unwrap();
        let sh = |script: &str| {
            let status = Command::new("sh")
                .args(["-c", script])
                .current_dir("/")
                .stdin(Stdio::null())
                .status()
                .unwrap();
            assert!(status.success(), "`{script}` failed");
        };
        let as_owner = if is_root() {
            sh(&format!(
                "chmod -R a+rX {0} && chown -R postgres {0}/data",
                root.display()
            ));
            "runuser -u postgres --"
        } else {
            ""
        };
        let port = free_port();
        sh(&format!(
            "{as_owner} {bin}/initdb -D {data} -U postgres -A trust --no-sync -E UTF8 --locale=C.UTF-8 >{data}.log 2>&1",
            bin = real_bin.display(),
            data = data.display()
        ));
        sh(&format!(
            "{as_owner} {bin}/pg_ctl -D {data} -l {data}/server.log -w -t 60 -p {postgres} \
             -o '-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off' start >/dev/null",
            bin = real_bin.display(),
            data = data.display(),
            postgres = lib.join("bin/postgres").display()
        ));
        Self {
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            root,
            data,
            bin: real_bin,
        }
    }
}

impl Drop for ServerWithoutPgcrypto {
    fn drop(&mut self) {
        let as_owner = if is_root() { "runuser -u postgres --" } else { "" };
        let _ = Command::new("sh")
            .args([
                "-c",
                &format!(
                    "{as_owner} {}/pg_ctl -D {} -m immediate stop >/dev/null 2>&1",
                    self.bin.display(),
                    self.data.display()
                ),
            ])
            .current_dir("/")
            .status();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// The newest installed server: its major version and bin folder.
fn newest_server() -> (u32, PathBuf) {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("postgres").is_file().then_some((major, bin))
        })
        .collect();
    found.sort();
    found
        .pop()
        .expect("no PostgreSQL server in /usr/lib/postgresql (scripts/test.sh installs one)")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}
