//! Bootstrapping a sandbox's database with `npm run bootstrap` (sandbox/bootstrap.ts) and with the
//! built `modkit bootstrap`: a re-run of either, after either, changes nothing; both build the same
//! database; and eight at once on a fresh database all succeed and create everything once.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use super::sandbox::{
    command, modkit_bootstrap, npm_bootstrap, require_program, run_ok, sandbox, stdout, timed,
};
use crate::support::pg::TestDb;
use crate::support::process::ChildGuard;
use crate::support::transcript;

const TENANTS: [&str; 2] = ["a", "b"];

/// What a bootstrap leaves in a database, in four views.
#[derive(Debug, PartialEq)]
struct State {
    /// Rows of each system table, schemas, extensions, module tables.
    counts: Vec<(&'static str, String)>,
    /// Every system row by its natural key (no ids or timestamps): equal for any two equal bootstraps.
    content: String,
    /// Every system row with its id, row version (xmin) and timestamp: a re-run must not touch one.
    stamps: String,
    /// `pg_dump --schema-only`.
    schema: String,
}

const COUNTS: [(&str, &str); 10] = [
    ("sys_tenant", "SELECT count(*) FROM public.sys_tenant"),
    ("sys_permission", "SELECT count(*) FROM public.sys_permission"),
    ("sys_role", "SELECT count(*) FROM public.sys_role"),
    (
        "sys_role_permission",
        "SELECT count(*) FROM public.sys_role_permission",
    ),
    ("sys_user_role", "SELECT count(*) FROM public.sys_user_role"),
    (
        "sys_module_migration",
        "SELECT count(*) FROM public.sys_module_migration",
    ),
    (
        "tenant schemas",
        "SELECT count(*) FROM pg_namespace n JOIN public.sys_tenant t ON t.schema_name = n.nspname",
    ),
    (
        "non-system schemas",
        "SELECT count(*) FROM pg_namespace WHERE nspname !~ '^pg_' AND nspname <> 'information_schema'",
    ),
    (
        "pgcrypto",
        "SELECT count(*) FROM pg_extension WHERE extname = 'pgcrypto'",
    ),
    (
        "items tables",
        "SELECT count(*) FROM pg_tables WHERE tablename = 'items'",
    ),
];

/// Three tenants (dev from modkit.toml, a, b), each with its schema, its migration and the dev seed.
const EXPECTED: [(&str, &str); 10] = [
    ("sys_tenant", "3"),
    ("sys_permission", "4"),
    ("sys_role", "3"),
    ("sys_role_permission", "12"),
    ("sys_user_role", "3"),
    ("sys_module_migration", "3"),
    ("tenant schemas", "3"),
    // public, the three tenants' and (issue 15) the shared `extensions`.
    ("non-system schemas", "5"),
    ("pgcrypto", "1"),
    ("items tables", "3"),
];

const CONTENT: &str = r"
SELECT coalesce(string_agg(line, E'\n' ORDER BY line), '') FROM (
  SELECT 'tenant ' || code || ' name=' || name || ' domain=' || coalesce(domain, '-') || ' schema=' || schema_name
    FROM public.sys_tenant
  UNION ALL SELECT 'permission ' || code || ' module=' || module || ' description=' || coalesce(description, '-')
    FROM public.sys_permission
  UNION ALL SELECT 'role ' || t.code || '/' || r.code || ' name=' || r.name
    FROM public.sys_role r JOIN public.sys_tenant t ON t.id = r.tenant_id
  UNION ALL SELECT 'role permission ' || t.code || '/' || r.code || ' ' || rp.permission
    FROM public.sys_role_permission rp JOIN public.sys_role r ON r.id = rp.role_id
    JOIN public.sys_tenant t ON t.id = r.tenant_id
  UNION ALL SELECT 'user role ' || ur.user_id || ' ' || t.code || '/' || r.code
    FROM public.sys_user_role ur JOIN public.sys_tenant t ON t.id = ur.tenant_id
    JOIN public.sys_role r ON r.id = ur.role_id
  UNION ALL SELECT 'migration ' || t.code || ' ' || m.module || '/' || m.migration || ' ' || m.checksum
    FROM public.sys_module_migration m JOIN public.sys_tenant t ON t.id = m.tenant_id
  UNION ALL SELECT 'extension ' || extname FROM pg_extension
  UNION ALL SELECT 'schema ' || nspname FROM pg_namespace
    WHERE nspname !~ '^pg_' AND nspname <> 'information_schema'
) s(line)";

const STAMPS: &str = r"
SELECT coalesce(string_agg(line, E'\n' ORDER BY line), '') FROM (
  SELECT 'tenant ' || id || ' ' || code || ' xmin=' || xmin FROM public.sys_tenant
  UNION ALL SELECT 'permission ' || code || ' xmin=' || xmin || ' ' || created_at FROM public.sys_permission
  UNION ALL SELECT 'role ' || id || ' xmin=' || xmin || ' ' || created_at FROM public.sys_role
  UNION ALL SELECT 'role permission ' || role_id || ' ' || permission || ' xmin=' || xmin
    FROM public.sys_role_permission
  UNION ALL SELECT 'user role ' || user_id || ' ' || tenant_id || ' ' || role_id || ' xmin=' || xmin || ' ' || created_at
    FROM public.sys_user_role
  UNION ALL SELECT 'migration ' || tenant_id || ' ' || migration || ' xmin=' || xmin || ' ' || applied_at
    FROM public.sys_module_migration
  UNION ALL SELECT 'schema ' || oid || ' ' || nspname FROM pg_namespace WHERE nspname LIKE 'tenant\_%'
  UNION ALL SELECT 'table ' || c.oid || ' ' || n.nspname || '.' || c.relname
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relname = 'items'
) s(line)";

fn state(db: &TestDb) -> State {
    let counts = COUNTS.iter().map(|(name, sql)| (*name, db.scalar(sql))).collect();
    State {
        counts,
        content: db.scalar(CONTENT),
        stamps: db.scalar(STAMPS),
        schema: schema_dump(db),
    }
}

/// `pg_dump --schema-only`, without the random `\restrict` key newer pg_dumps print.
fn schema_dump(db: &TestDb) -> String {
    let pg_dump = require_program(
        "pg_dump",
        &[],
        "apt-get install postgresql-client (scripts/test.sh installs it when missing)",
    );
    let out = run_ok(command(pg_dump, Path::new("/")).args(["--schema-only", "--no-owner", db.url()]));
    let dump: Vec<String> = stdout(&out)
        .lines()
        .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
        .map(str::to_string)
        .collect();
    let dump = dump.join("\n");
    assert!(
        dump.contains("CREATE TABLE public.sys_tenant") && dump.contains("CREATE TABLE tenant_a.items"),
        "pg_dump shows no bootstrapped table:\n{dump}"
    );
    dump
}

fn expected_counts() -> Vec<(&'static str, String)> {
    EXPECTED.iter().map(|(k, v)| (*k, (*v).to_string())).collect()
}

/// A re-run: exit 0, and the database exactly as it was.
fn assert_rerun_changes_nothing(db: &TestDb, before: &State, label: &str, mut cmd: Command) {
    let out = timed(label, || run_ok(&mut cmd));
    let after = state(db);
    assert_eq!(
        after.counts,
        before.counts,
        "{label}: counts changed\n{}",
        transcript(&out)
    );
    assert_eq!(
        after.content,
        before.content,
        "{label}: rows changed\n{}",
        transcript(&out)
    );
    assert_eq!(
        after.stamps,
        before.stamps,
        "{label}: a row was rewritten\n{}",
        transcript(&out)
    );
    assert!(
        after.schema == before.schema,
        "{label}: pg_dump --schema-only changed\n{}",
        transcript(&out)
    );
}

#[test]
fn bootstrap_reruns_change_nothing_and_npm_and_modkit_build_the_same_database() {
    let dir = &sandbox().dir;

    // npm run bootstrap first, then twice more of each.
    let npm_first = TestDb::new();
    let out = timed("npm run bootstrap, first run", || {
        run_ok(&mut npm_bootstrap(dir, npm_first.url(), &TENANTS))
    });
    let text = stdout(&out);
    for t in ["dev", "a", "b"] {
        assert!(
            text.contains(&format!(
                "tenant {t} (schema tenant_{t}): new tenant, schema created"
            )),
            "{text}"
        );
    }
    let by_npm = state(&npm_first);
    assert_eq!(
        by_npm.counts,
        expected_counts(),
        "after npm run bootstrap\n{text}"
    );
    // modkit agrees that npm left nothing to do.
    run_ok(modkit_bootstrap(dir, npm_first.url(), &TENANTS).arg("--check"));
    let again = run_ok(&mut npm_bootstrap(dir, npm_first.url(), &TENANTS));
    for t in ["dev", "a", "b"] {
        assert!(
            stdout(&again).contains(&format!("tenant {t} (schema tenant_{t}): up to date")),
            "{}",
            stdout(&again)
        );
    }
    assert_eq!(
        state(&npm_first),
        by_npm,
        "npm run bootstrap, second run, changed the database"
    );
    for label in [
        "modkit bootstrap after npm, 1st",
        "modkit bootstrap after npm, 2nd",
    ] {
        assert_rerun_changes_nothing(
            &npm_first,
            &by_npm,
            label,
            modkit_bootstrap(dir, npm_first.url(), &TENANTS),
        );
    }
    assert_rerun_changes_nothing(
        &npm_first,
        &by_npm,
        "npm run bootstrap after modkit",
        npm_bootstrap(dir, npm_first.url(), &TENANTS),
    );

    // modkit bootstrap first, then twice more of each.
    let modkit_first = TestDb::new();
    let out = timed("modkit bootstrap, first run", || {
        run_ok(&mut modkit_bootstrap(dir, modkit_first.url(), &TENANTS))
    });
    let by_modkit = state(&modkit_first);
    assert_eq!(
        by_modkit.counts,
        expected_counts(),
        "after modkit bootstrap\n{}",
        transcript(&out)
    );
    for label in ["modkit bootstrap, 2nd run", "modkit bootstrap, 3rd run"] {
        assert_rerun_changes_nothing(
            &modkit_first,
            &by_modkit,
            label,
            modkit_bootstrap(dir, modkit_first.url(), &TENANTS),
        );
    }
    for label in [
        "npm run bootstrap after modkit, 1st",
        "npm run bootstrap after modkit, 2nd",
    ] {
        assert_rerun_changes_nothing(
            &modkit_first,
            &by_modkit,
            label,
            npm_bootstrap(dir, modkit_first.url(), &TENANTS),
        );
    }

    // Both build the same database: the same rows by their keys and the same schema.
    assert_eq!(
        by_npm.content, by_modkit.content,
        "npm run bootstrap and modkit bootstrap disagree"
    );
    assert!(
        by_npm.schema == by_modkit.schema,
        "pg_dump --schema-only differs between npm run bootstrap and modkit bootstrap:\n--- npm\n{}\n--- modkit\n{}",
        by_npm.schema,
        by_modkit.schema
    );
}

/// One bootstrap process among many started at once, its output to a log file.
fn spawn_bootstrap(dir: &Path, db: &TestDb, npm: bool, n: usize) -> (String, ChildGuard, std::path::PathBuf) {
    let log = sandbox().root.join("logs").join(format!(
        "{}-{}-{n}.log",
        db.name(),
        if npm { "npm" } else { "modkit" }
    ));
    let file = fs::File::create(&log).unwrap();
    let mut cmd = if npm {
        // sandbox/bootstrap.ts as `npm run bootstrap` runs it, without npm's own start-up.
        let mut cmd = command(dir.join("node_modules/.bin/tsx"), dir);
        cmd.args(["sandbox/bootstrap.ts", "--tenant", "a", "--tenant", "b"])
            .env("DATABASE_URL", db.url());
        cmd
    } else {
        modkit_bootstrap(dir, db.url(), &TENANTS)
    };
    cmd.stdout(file.try_clone().unwrap()).stderr(Stdio::from(file));
    let label = format!(
        "{} #{n}",
        if npm {
            "tsx sandbox/bootstrap.ts"
        } else {
            "modkit bootstrap"
        }
    );
    (label, ChildGuard::spawn(&mut cmd), log)
}

#[test]
fn eight_bootstraps_at_once_all_succeed_and_create_everything_once() {
    let dir = &sandbox().dir;
    let mut contents = Vec::new();
    for (label, npm, modkit) in [
        ("8 × npm bootstrap at once", 8, 0),
        ("8 × modkit bootstrap at once", 0, 8),
        ("4 npm + 4 modkit bootstraps at once", 4, 4),
    ] {
        let db = TestDb::new();
        let results = timed(label, || {
            // Interleaved, so that in the mixed case both kinds race from the start.
            let mut children = Vec::new();
            for i in 0..npm.max(modkit) {
                if i < npm {
                    children.push(spawn_bootstrap(dir, &db, true, i));
                }
                if i < modkit {
                    children.push(spawn_bootstrap(dir, &db, false, i));
                }
            }
            children
                .into_iter()
                .map(|(name, mut guard, log)| {
                    let status = guard.child_mut().wait().expect("cannot wait for a bootstrap");
                    (name, status, fs::read_to_string(&log).unwrap_or_default())
                })
                .collect::<Vec<_>>()
        });
        for (name, status, log) in &results {
            assert!(status.success(), "{label}: {name} exited with {status}:\n{log}");
            assert!(!log.contains("duplicate key"), "{label}: {name}:\n{log}");
        }
        let after = state(&db);
        assert_eq!(
            after.counts,
            expected_counts(),
            "{label}: not everything exactly once"
        );
        let per_tenant = db.rows(
            "SELECT t.code, (SELECT count(*) FROM pg_namespace WHERE nspname = t.schema_name),
                    (SELECT count(*) FROM public.sys_module_migration m WHERE m.tenant_id = t.id),
                    (SELECT count(*) FROM public.sys_user_role ur WHERE ur.tenant_id = t.id)
               FROM public.sys_tenant t ORDER BY t.code",
        );
        assert_eq!(
            per_tenant,
            [["a", "1", "1", "1"], ["b", "1", "1", "1"], ["dev", "1", "1", "1"]],
            "{label}: one row, one schema, one migration and one grant per tenant"
        );
        contents.push((label, after.content, after.schema));
    }
    let (first, content, schema) = &contents[0];
    for (label, c, s) in &contents[1..] {
        assert_eq!(c, content, "{label} and {first} built different rows");
        assert!(s == schema, "{label} and {first} built different schemas");
    }
}

/// `npm run bootstrap` creates the sandbox's own database (modkit.toml's `[database] url`) when it
/// is missing, as `modkit bootstrap` does (tested in `bootstrap::errors`); a database named by
/// DATABASE_URL is never created.
#[test]
fn npm_bootstrap_creates_the_sandboxs_own_database_but_never_one_from_database_url() {
    use crate::support::pg::{PgServer, psql_execute, psql_scalar};

    let sb = sandbox();
    let server = PgServer::shared();
    let dir = sb.root.join("own-db");
    run_ok(command(env!("CARGO_BIN_EXE_modkit"), &sb.root).args(["init", "items", "--dir", "own-db"]));
    std::os::unix::fs::symlink(sb.dir.join("node_modules"), dir.join("node_modules"))
        .expect("cannot link node_modules");
    let own = format!("modkit_own_{}", std::process::id());
    let other = format!("{own}_other");
    let exists = |name: &str| {
        psql_scalar(
            server.url(),
            &format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'"),
        )
    };
    // The template names no server (the local database is the default): write one under [database].
    let toml = fs::read_to_string(dir.join("modkit.toml")).unwrap();
    assert!(
        toml.contains("[database]\n"),
        "modkit.toml has a [database] section:\n{toml}"
    );
    fs::write(
        dir.join("modkit.toml"),
        toml.replace(
            "[database]\n",
            &format!("[database]\nurl = \"{}\"\n", server.url_for(&own)),
        ),
    )
    .unwrap();

    let out = run_ok(command("npm", &dir).args(["run", "bootstrap"]));
    assert!(
        stdout(&out).contains("created the database"),
        "{}",
        transcript(&out)
    );
    assert_eq!(exists(&own), "1");
    assert_eq!(
        psql_scalar(&server.url_for(&own), "SELECT count(*) FROM public.sys_tenant"),
        "1"
    );
    let again = run_ok(command("npm", &dir).args(["run", "bootstrap"]));
    assert!(
        !stdout(&again).contains("created the database"),
        "{}",
        transcript(&again)
    );

    let refused = command("npm", &dir)
        .args(["run", "bootstrap"])
        .env("DATABASE_URL", server.url_for(&other))
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2), "{}", transcript(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("createdb"),
        "{}",
        transcript(&refused)
    );
    assert_eq!(exists(&other), "0");
    psql_execute(server.url(), &format!("DROP DATABASE {own} WITH (FORCE)"));
}

/// A sandbox of its own beside the shared one (`<root>/<name>`), sharing its node_modules: for
/// tests that change its migrations.
fn own_sandbox(name: &str) -> std::path::PathBuf {
    let sb = sandbox();
    let dir = sb.root.join(name);
    run_ok(command(env!("CARGO_BIN_EXE_modkit"), &sb.root).args(["init", "items", "--dir", name]));
    std::os::unix::fs::symlink(sb.dir.join("node_modules"), dir.join("node_modules"))
        .expect("cannot link node_modules");
    dir
}

/// `npm run bootstrap` that is expected to fail: exit 1, and its whole transcript.
fn npm_bootstrap_fails(dir: &Path, url: &str, tenants: &[&str]) -> String {
    let out = npm_bootstrap(dir, url, tenants).output().unwrap();
    let text = transcript(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    text
}

/// Issue 7, item 1, the sandbox's side: a tenant schema the role may not use is refused with the
/// GRANT that fixes it, and a migration never makes anything outside the tenant's schema.
#[test]
fn npm_bootstrap_never_puts_a_module_table_outside_the_tenant_schema() {
    use crate::support::pg::TestRole;

    let role = TestRole::new("npm_app");
    let db = TestDb::new();
    let dir = own_sandbox("outside");
    db.execute(&format!("ALTER DATABASE {} OWNER TO {}", db.name(), role.name));
    db.execute("CREATE SCHEMA tenant_acme");
    let url = role.url(&db);
    let in_public = |db: &TestDb| {
        db.scalar("SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename !~ '^sys_'")
    };

    let text = npm_bootstrap_fails(&dir, &url, &["acme"]);
    assert!(
        text.contains(&format!(
            "GRANT USAGE, CREATE ON SCHEMA tenant_acme TO {}",
            role.name
        )),
        "{text}"
    );
    assert_eq!(in_public(&db), "0", "{text}");
    assert_eq!(db.scalar("SELECT string_agg(code, ',') FROM sys_tenant"), "dev");

    db.execute(&format!("ALTER SCHEMA tenant_acme OWNER TO {}", role.name));
    run_ok(&mut npm_bootstrap(&dir, &url, &["acme"]));
    assert_eq!(in_public(&db), "0");

    fs::write(
        dir.join("plugin/migrations/0002_leak.sql"),
        "CREATE TABLE public.leak (id int);\n",
    )
    .unwrap();
    let text = npm_bootstrap_fails(&dir, &url, &["acme"]);
    assert!(
        text.contains("outside schema tenant_acme: table public.leak")
            && text.contains("outside schema tenant_dev: table public.leak"),
        "{text}"
    );
    assert_eq!(in_public(&db), "0", "{text}");
}

/// Issue 15, items 6 and 7, the sandbox's side (the same SQL as modkit's): objects and rows outside
/// the tenant are refused naming them, a temporary table is allowed, `CREATE EXTENSION` in a
/// migration is refused with how to declare it, and a declared citext resolves in every tenant.
#[test]
fn npm_bootstrap_refuses_every_object_outside_the_tenant_and_declares_extensions() {
    let db = TestDb::new();
    let dir = own_sandbox("objects");
    let url = db.url().to_string();
    run_ok(&mut npm_bootstrap(&dir, &url, &["acme"]));
    let migration = dir.join("plugin/migrations/0002_outside.sql");
    for (sql, found) in [
        (
            "CREATE FUNCTION public.f() RETURNS int LANGUAGE sql AS 'SELECT 1';\n",
            "function public.f()",
        ),
        ("CREATE SCHEMA x;\n", "schema x"),
        (
            "INSERT INTO public.sys_user_role (user_id, tenant_id, role_id) SELECT 'mallory', tenant_id, id FROM public.sys_role;\n",
            "in table public.sys_user_role",
        ),
    ] {
        fs::write(&migration, sql).unwrap();
        let text = npm_bootstrap_fails(&dir, &url, &["acme"]);
        for tenant in ["acme", "dev"] {
            let line = text
                .lines()
                .find(|l| l.contains(&format!("tenant \"{tenant}\": ")))
                .unwrap_or_else(|| panic!("{sql}: {text}"));
            assert!(
                line.contains(&format!("outside schema tenant_{tenant}: ")) && line.contains(found),
                "{sql}: {line}"
            );
        }
    }
    assert_eq!(
        db.scalar("SELECT count(*) FROM sys_user_role WHERE user_id = 'mallory'"),
        "0"
    );
    assert_eq!(
        db.scalar("SELECT count(*) FROM pg_namespace WHERE nspname = 'x'"),
        "0"
    );

    fs::write(
        &migration,
        "CREATE EXTENSION IF NOT EXISTS citext;\nCREATE TEMP TABLE seed (e text) ON COMMIT DROP;\n\
         ALTER TABLE items ADD COLUMN email citext;\n",
    )
    .unwrap();
    let out = npm_bootstrap(&dir, &url, &["acme", "globex"]).output().unwrap();
    let text = transcript(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("creates extension citext") && text.contains(r#"[database] extensions = ["citext"]"#),
        "{text}"
    );
    assert_eq!(
        db.scalar("SELECT count(*) FROM pg_extension WHERE extname = 'citext'"),
        "0"
    );

    fs::write(
        &migration,
        "CREATE TEMP TABLE seed (e text) ON COMMIT DROP;\nALTER TABLE items ADD COLUMN email citext;\n",
    )
    .unwrap();
    let toml = dir.join("modkit.toml");
    let text = fs::read_to_string(&toml)
        .unwrap()
        .replace("[database]\n", "[database]\nextensions = [\"citext\"]\n");
    fs::write(&toml, text).unwrap();
    run_ok(&mut npm_bootstrap(&dir, &url, &["acme", "globex"]));
    assert_eq!(
        db.scalar("SELECT string_agg(n.nspname || ':' || format_type(a.atttypid, NULL), ',' ORDER BY n.nspname) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE a.attname = 'email'"),
        "tenant_acme:extensions.citext,tenant_dev:extensions.citext,tenant_globex:extensions.citext"
    );
    assert_eq!(
        db.scalar("SELECT string_agg(extname || ':' || extnamespace::regnamespace::text, ',' ORDER BY extname) FROM pg_extension WHERE extname <> 'plpgsql'"),
        "citext:extensions,pgcrypto:extensions"
    );
}

/// Issue 7, item 7, the sandbox's side: an applied migration edited, and a new tenant in the same
/// run: the new tenant is stopped too, with the same message, and records nothing.
#[test]
fn npm_bootstrap_edited_migration_stops_a_new_tenant_too() {
    let db = TestDb::new();
    let dir = own_sandbox("edited");
    run_ok(&mut npm_bootstrap(&dir, db.url(), &["acme"]));
    let file = fs::read_dir(dir.join("plugin/migrations"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "sql"))
        .expect("the sandbox has a migration");
    let original = fs::read_to_string(&file).unwrap();
    fs::write(&file, format!("{original}-- edited\n")).unwrap();

    let text = npm_bootstrap_fails(&dir, db.url(), &["acme", "fresh"]);
    let line = |tenant: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("error: tenant \"{tenant}\"")))
            .unwrap_or_else(|| panic!("no error for {tenant}:\n{text}"))
            .split_once(": ")
            .unwrap()
            .1
            .split_once(": ")
            .unwrap()
            .1
            .to_string()
    };
    assert!(
        line("fresh").contains("was edited after it was applied"),
        "{text}"
    );
    assert_eq!(line("fresh"), line("acme"), "{text}");
    assert_eq!(
        db.scalar("SELECT count(*) FROM sys_tenant WHERE code = 'fresh'"),
        "0"
    );

    fs::write(&file, original).unwrap();
    run_ok(&mut npm_bootstrap(&dir, db.url(), &["acme", "fresh"]));
    assert_eq!(
        db.scalar("SELECT count(DISTINCT checksum) FROM sys_module_migration"),
        "1"
    );
}

/// Issue 7, item 14, the sandbox's side: on a server without pgcrypto, PostgreSQL 13+'s built-in
/// gen_random_uuid() is enough: a warning, and the bootstrap goes on.
#[test]
fn npm_bootstrap_goes_on_without_pgcrypto_on_pg13_plus() {
    use crate::hostile::schemas::ServerWithoutPgcrypto;
    use crate::support::pg::psql_scalar;

    let server = ServerWithoutPgcrypto::start();
    let dir = &sandbox().dir;
    let out = run_ok(&mut npm_bootstrap(dir, &server.url, &["acme"]));
    let text = transcript(&out);
    assert!(
        text.contains("warning: pgcrypto is not installed on this server"),
        "{text}"
    );
    assert_eq!(
        psql_scalar(&server.url, "SELECT count(*) FROM public.sys_tenant"),
        "2"
    );
}
