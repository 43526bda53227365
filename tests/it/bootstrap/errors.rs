//! Where the URL comes from, what happens when the server cannot be used, and that a password
//! never shows.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use super::*;
use crate::support::fake_pg;
use crate::support::pg::{PgServer, TestDb, TestRole as Role, psql_scalar, try_rows};
use crate::support::process::free_port;

const SECRET: &str = "S3cretPw";

/// Everything a run printed, for "does not contain" checks.
fn everything(output: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[track_caller]
fn assert_no_secret(output: &Output, secret: &str) {
    let all = everything(output);
    assert!(
        !all.contains(secret),
        "the password `{secret}` was printed:\n{all}"
    );
}

/// The sandbox fixture in a fresh CliTest, for tests that need no database of their own.
fn project() -> (CliTest, PathBuf) {
    let test = CliTest::new();
    let project = sandbox(&test, "items");
    (test, project)
}

fn bootstrap_with_url(test: &CliTest, project: &Path, url: &str, args: &[&str]) -> Output {
    test.command()
        .arg("bootstrap")
        .arg("--db")
        .arg(url)
        .arg("--project")
        .arg(project)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn no_database_url_and_no_local_postgres_is_a_usage_error_with_a_hint() {
    let (test, project) = project();
    // CliTest clears the environment: no DATABASE_URL; the fixture's modkit.toml has no url, so the
    // local database is the default, and MODKIT_PG_BIN names a folder without PostgreSQL.
    let output = test
        .command()
        .env("MODKIT_PG_BIN", test.root())
        .arg("bootstrap")
        .arg("--project")
        .arg(&project)
        .output()
        .unwrap();
    assert_code(&output, 2);
    let err = stderr(&output);
    assert!(err.contains("MODKIT_PG_BIN"), "{err}");
    let hint = err
        .lines()
        .find(|l| l.starts_with("hint:"))
        .unwrap_or_else(|| panic!("no hint:\n{err}"));
    assert!(hint.contains("--db") && hint.contains("DATABASE_URL"), "{hint}");
}

#[test]
fn the_url_comes_from_the_flag_then_database_url_then_modkit_toml() {
    let db = TestDb::new();
    let (test, project) = project();
    let tagged = |tag: &str| format!("{}?application_name={tag}", db.url());
    test.write_file(
        "items/modkit.toml",
        format!(
            "[module]\nid = \"items\"\n\n[database]\nurl = \"{}\"\n\n[dev]\ntenants = [\"dev\"]\n",
            tagged("from_toml")
        ),
    );
    let source = |cmd: &mut Command, flag: Option<String>| -> String {
        cmd.args(["bootstrap", "--check", "--format", "json", "--project"])
            .arg(&project);
        if let Some(url) = flag {
            cmd.args(["--db", &url]);
        }
        let output = cmd.output().unwrap();
        assert_code(&output, 1);
        let doc: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
        doc["database"]
            .as_str()
            .unwrap()
            .rsplit('=')
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(source(&mut test.command(), None), "from_toml");
    assert_eq!(
        source(test.command().env("DATABASE_URL", tagged("from_env")), None),
        "from_env"
    );
    assert_eq!(
        source(
            test.command().env("DATABASE_URL", tagged("from_env")),
            Some(tagged("from_flag"))
        ),
        "from_flag"
    );
}

#[test]
fn a_url_that_is_not_postgresql_is_refused() {
    let (test, project) = project();
    for url in [
        "mysql://root:S3cretPw@localhost:3306/app",
        "sqlite:///tmp/app.db",
        "not a url",
    ] {
        let output = bootstrap_with_url(&test, &project, url, &[]);
        assert_code(&output, 2);
        assert_no_secret(&output, SECRET);
        if url.starts_with("mysql") {
            assert!(stderr(&output).contains("not PostgreSQL"), "{}", stderr(&output));
        }
    }
}

#[test]
fn a_closed_port_fails_within_the_timeout_naming_host_and_port() {
    let (test, project) = project();
    let port = free_port();
    let url = format!("postgres://app:{SECRET}@127.0.0.1:{port}/app");
    let started = Instant::now();
    let output = bootstrap_with_url(&test, &project, &url, &["--connect-timeout", "2", "-v"]);
    let elapsed = started.elapsed();
    assert_code(&output, 2);
    assert!(
        elapsed < Duration::from_secs(6),
        "took {elapsed:?} with --connect-timeout 2"
    );
    assert!(
        stderr(&output).contains(&format!("127.0.0.1:{port}")),
        "{}",
        stderr(&output)
    );
    assert_no_secret(&output, SECRET);
}

#[test]
fn a_server_that_never_answers_fails_within_the_timeout_naming_host_and_port() {
    // A listening socket nobody reads: the TCP handshake completes (the kernel's backlog), and
    // then nothing, like a firewall that swallows packets or a server stuck at start-up.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (test, project) = project();
    let url = format!("postgres://app:{SECRET}@127.0.0.1:{port}/app");
    let started = Instant::now();
    let output = bootstrap_with_url(
        &test,
        &project,
        &url,
        &["--connect-timeout", "2", "--format", "json"],
    );
    let elapsed = started.elapsed();
    drop(listener);
    assert_code(&output, 2);
    assert!(
        elapsed >= Duration::from_millis(1900),
        "gave up after {elapsed:?}, before the timeout"
    );
    assert!(
        elapsed < Duration::from_secs(6),
        "took {elapsed:?} with --connect-timeout 2"
    );
    let err = stderr(&output);
    assert!(
        err.contains(&format!("127.0.0.1:{port}")) && err.contains("2s"),
        "{err}"
    );
    assert_no_secret(&output, SECRET);
}

#[test]
fn a_refused_password_is_reported_without_the_password() {
    let (port, seen) = fake_pg::refusing_logins();
    let (test, project) = project();
    for (url, args) in [
        (format!("postgres://app:{SECRET}@127.0.0.1:{port}/app"), &[][..]),
        (
            format!("postgres://app:{SECRET}@127.0.0.1:{port}/app"),
            &["-v", "--format", "json"][..],
        ),
        (
            format!("postgres://app@127.0.0.1:{port}/app?password={SECRET}"),
            &["-v"][..],
        ),
    ] {
        let output = bootstrap_with_url(
            &test,
            &project,
            &url,
            &[args, &["--connect-timeout", "5"]].concat(),
        );
        assert_code(&output, 2);
        let err = stderr(&output);
        assert!(
            err.contains("refused the login") && err.contains(&format!("127.0.0.1:{port}")),
            "{err}"
        );
        assert!(err.contains("password authentication failed"), "{err}");
        assert_no_secret(&output, SECRET);
    }
    // The fake server did get the password: the runs above went all the way to the login.
    assert!(
        seen.lock().unwrap().iter().any(|p| p == SECRET),
        "{:?}",
        seen.lock().unwrap()
    );
}

#[test]
fn a_database_that_does_not_exist_gets_the_createdb_hint_and_no_password() {
    let mut url = url::Url::parse(PgServer::shared().url()).unwrap();
    let secret = url.password().map_or_else(|| SECRET.to_string(), str::to_string);
    url.set_password(Some(&secret)).unwrap();
    url.set_path("/modkit_no_such_database");
    let (test, project) = project();
    for args in [&[][..], &["-v"][..], &["--format", "json"][..], &["--check"][..]] {
        let output = bootstrap_with_url(&test, &project, url.as_str(), args);
        assert_code(&output, 2);
        let err = stderr(&output);
        assert!(
            err.contains("modkit_no_such_database") && err.contains("createdb"),
            "{args:?}:\n{err}"
        );
        assert_no_secret(&output, &secret);
    }
}

#[test]
fn a_password_in_the_url_never_shows_in_a_successful_run() {
    let db = TestDb::new();
    let test = cli_for(&db);
    let project = sandbox(&test, "items");
    // The test server trusts local logins (or this is its real password): the run succeeds.
    let mut url = url::Url::parse(db.url()).unwrap();
    let secret = url.password().map_or_else(|| SECRET.to_string(), str::to_string);
    url.set_password(Some(&secret)).unwrap();
    for args in [
        &["--tenant", "acme"][..],
        &["-v", "--format", "json"][..],
        &["-v", "--check"][..],
        &["--dry-run", "--tenant", "globex"][..],
    ] {
        let output = bootstrap_with_url(&test, &project, url.as_str(), args);
        assert!(
            output.status.code() == Some(0) || args.contains(&"--check"),
            "{}",
            transcript(&output)
        );
        assert_no_secret(&output, &secret);
        assert!(
            everything(&output).contains(":***@"),
            "{args:?}: the URL is shown with the password hidden:\n{}",
            everything(&output)
        );
    }
}

#[test]
fn a_role_without_create_privileges_is_told_the_grant_it_needs() {
    let role = Role::new("nocreate");
    let db = TestDb::new();
    let test = cli_for(&db).with_filter(&role.name, "[ROLE]");
    let project = sandbox(&test, "items");
    let url = role.url(&db);

    // CONNECT only (PostgreSQL 15: no CREATE on schema public for PUBLIC any more).
    db.execute(&format!(
        "REVOKE ALL ON DATABASE {} FROM PUBLIC; GRANT CONNECT ON DATABASE {} TO {}",
        db.name(),
        db.name(),
        role.name
    ));
    db.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC");
    let output = bootstrap_with_url(&test, &project, &url, &["--tenant", "acme"]);
    assert_code(&output, 2);
    let err = stderr(&output);
    assert!(
        err.contains("schema public"),
        "the missing privilege is named:\n{err}"
    );
    assert!(
        err.contains("GRANT CREATE ON SCHEMA public"),
        "the fix is given:\n{err}"
    );
    assert_no_secret(&output, "role-pw");
    assert!(!has_system_tables(&db));

    // With CREATE on schema public but not on the database: the schemas cannot be made.
    db.execute(&format!("GRANT CREATE ON SCHEMA public TO {}", role.name));
    let output = bootstrap_with_url(&test, &project, &url, &["--tenant", "acme"]);
    let err = stderr(&output);
    assert!(
        output.status.code() == Some(1) || output.status.code() == Some(2),
        "{}",
        transcript(&output)
    );
    assert!(
        err.contains("create schemas"),
        "the missing privilege is named:\n{err}"
    );
    assert!(
        err.contains("GRANT CREATE ON DATABASE"),
        "the fix is given:\n{err}"
    );
    assert_eq!(tenant_schemas(&db), 0);
    assert!(invariant_violations(&db, "items", 1).is_empty());

    // Granted: it goes through.
    db.execute(&format!(
        "GRANT CREATE ON DATABASE {} TO {}",
        db.name(),
        role.name
    ));
    let output = bootstrap_with_url(&test, &project, &url, &["--tenant", "acme"]);
    assert_code(&output, 0);
    assert_eq!(tenant_schemas(&db), 2);
}

#[test]
fn pgcrypto_refused_on_postgresql_13_and_later_is_a_warning() {
    // pgcrypto is a trusted extension since PostgreSQL 13: a role may create it when it may
    // CREATE on the database. This role may not, but may create tables in public and owns the
    // tenant schemas made for it: only the extension is refused.
    let role = Role::new("nopgcrypto");
    let db = TestDb::new();
    let test = cli_for(&db).with_filter(&role.name, "[ROLE]");
    let project = sandbox(&test, "items");
    db.execute(&format!("REVOKE CREATE ON DATABASE {} FROM PUBLIC", db.name()));
    db.execute(&format!("GRANT CREATE ON SCHEMA public TO {0}; CREATE SCHEMA tenant_dev AUTHORIZATION {0}; CREATE SCHEMA tenant_acme AUTHORIZATION {0}", role.name));

    let output = bootstrap_with_url(&test, &project, &role.url(&db), &["--tenant", "acme"]);
    assert_code(&output, 0);
    let err = stderr(&output);
    assert!(
        err.contains("warning:") && err.contains("pgcrypto") && err.contains("gen_random_uuid"),
        "{err}"
    );
    assert_eq!(
        db.scalar("SELECT count(*) FROM pg_extension WHERE extname = 'pgcrypto'"),
        "0"
    );
    assert_eq!(
        db.scalar("SELECT count(*) FROM sys_tenant WHERE id IS NOT NULL"),
        "2"
    );
    assert!(
        invariant_violations(&db, "items", 1).is_empty(),
        "{:?}",
        invariant_violations(&db, "items", 1)
    );
    // The module's uuid default works in the tenant schema too.
    db.execute("INSERT INTO tenant_acme.items (name) VALUES ('x')");
}

/// Drops a database this test made under its own name, when the test ends.
struct DropDatabase(String);

impl Drop for DropDatabase {
    fn drop(&mut self) {
        let _ = try_rows(
            PgServer::shared().url(),
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.0),
        );
    }
}

#[test]
fn a_sandbox_dev_database_named_in_modkit_toml_is_created_but_never_one_from_the_flag() {
    let (test, project) = project();
    let name = format!("modkit_created_{}", std::process::id());
    let _cleanup = DropDatabase(name.clone());
    let url = PgServer::shared().url_for(&name);
    let exists = || {
        psql_scalar(
            PgServer::shared().url(),
            &format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'"),
        )
    };
    test.write_file(
        "items/modkit.toml",
        format!("[module]\nid = \"items\"\n\n[database]\nurl = \"{url}\"\n\n[dev]\ntenants = [\"dev\"]\n"),
    );

    // --check and --dry-run change nothing, not even by creating the database.
    for mode in ["--check", "--dry-run"] {
        let output = test
            .command()
            .args(["bootstrap", mode, "--project"])
            .arg(&project)
            .output()
            .unwrap();
        assert_code(&output, 2);
        assert!(stderr(&output).contains("createdb"), "{}", stderr(&output));
    }
    // A URL given with --db (or DATABASE_URL) names someone's database: never created.
    let output = bootstrap_with_url(&test, &project, &url, &[]);
    assert_code(&output, 2);
    let output = test
        .command()
        .env("DATABASE_URL", &url)
        .args(["bootstrap", "--project"])
        .arg(&project)
        .output()
        .unwrap();
    assert_code(&output, 2);
    assert_eq!(exists(), "0");

    // The sandbox's own dev database is.
    let output = test
        .command()
        .args(["bootstrap", "--project"])
        .arg(&project)
        .output()
        .unwrap();
    assert_code(&output, 0);
    assert!(
        stdout(&output).contains("database") && stdout(&output).contains("created"),
        "{}",
        stdout(&output)
    );
    assert_eq!(exists(), "1");
    assert_eq!(
        psql_scalar(&url, "SELECT string_agg(code, ',') FROM sys_tenant"),
        "dev"
    );
}
