//! CLI conventions every command follows (issue 11): the project found from a subfolder, shell
//! completions, `--color` and the colour variables, errors as JSON with `--format json`, the libpq
//! variables / `.env` / socket URLs, `init --install`, links to the published docs, and the
//! progress bar. Each test is named after what was missing.

use std::path::Path;
use std::process::Output;

use crate::bootstrap::{assert_code, sandbox};
use crate::support::pg::TestDb;
use crate::support::{CliTest, stderr, stdout};

/// Everything a run printed.
fn everything(output: &Output) -> String {
    format!("{}\n{}", stdout(output), stderr(output))
}

/// The parts of a test database's URL, as the libpq variables would give them.
struct Parts {
    host: String,
    port: String,
    user: String,
    password: Option<String>,
    database: String,
}

fn parts(db: &TestDb) -> Parts {
    let url = url::Url::parse(db.url()).unwrap();
    Parts {
        host: url.host_str().unwrap().to_string(),
        port: url.port().unwrap_or(5432).to_string(),
        user: url.username().to_string(),
        password: url.password().map(str::to_string),
        database: db.name().to_string(),
    }
}

// --- 1. modkit.toml from any subfolder ----------------------------------------------------------

#[test]
fn commands_fail_from_a_subfolder_of_a_sandbox() {
    let db = TestDb::new();
    let test = CliTest::new();
    let project = sandbox(&test, "items");
    let deep = project.join("plugin/migrations");

    let out = test
        .command()
        .current_dir(&deep)
        .args(["doctor", "--format", "json"])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(
        doc["checked"].as_str().unwrap().contains("`items` sandbox"),
        "{doc}"
    );

    let out = test
        .command()
        .current_dir(&deep)
        .args(["bootstrap", "--db", db.url()])
        .output()
        .unwrap();
    assert_code(&out, 0);
    // The sandbox's module and its dev tenant: found through the modkit.toml two folders up.
    assert_eq!(
        db.scalar("SELECT string_agg(code, ',') FROM public.sys_tenant"),
        "dev"
    );
    assert_eq!(
        db.scalar("SELECT count(*) > 0 FROM information_schema.tables WHERE table_schema = 'tenant_dev'"),
        "t"
    );

    // adapt finds the sandbox it runs in too.
    test.copy_fixture("foundation", "foundation");
    let foundation = test.path("foundation");
    let out = test
        .command()
        .current_dir(&deep)
        .args(["adapt", "items", "--foundation"])
        .arg(&foundation)
        .output()
        .unwrap();
    assert_code(&out, 0);
    assert!(foundation.join("src/modules/items/plugin/index.ts").is_file());
}

#[test]
fn the_search_for_modkit_toml_stops_at_another_javascript_project() {
    // A foundation without modkit.toml inside a folder that has one: the foundation is the project.
    let test = CliTest::new();
    test.write_file("modkit.toml", "[module]\nid = \"outer\"\n");
    test.copy_fixture("foundation", "inner");
    std::fs::remove_file(test.path("inner/modkit.toml")).unwrap();
    std::fs::create_dir_all(test.path("inner/src/deep")).unwrap();
    let out = test
        .command()
        .current_dir(test.path("inner/src/deep"))
        .args(["doctor", "--format", "json"])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(doc["checked"].as_str().unwrap().contains("foundation"), "{doc}");
}

// --- 2. completions ------------------------------------------------------------------------------

#[test]
fn completions_generate_for_every_shell() {
    let test = CliTest::new();
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let out = test.run(&["completions", shell]);
        assert_code(&out, 0);
        let script = stdout(&out);
        for command in [
            "init",
            "bootstrap",
            "adapt",
            "doctor",
            "completions",
            "format",
            "color",
        ] {
            assert!(script.contains(command), "{shell}: no {command}\n{script}");
        }
    }
    // Sourced in a real bash, it registers itself for `modkit`.
    let out = test
        .clean_command("bash")
        .args([
            "--norc",
            "-c",
            "source <(\"$0\" completions bash) && complete -p modkit",
        ])
        .arg(crate::support::bin())
        .output()
        .unwrap();
    assert_code(&out, 0);
    assert!(
        stdout(&out).contains("-F _modkit") && stdout(&out).trim_end().ends_with(" modkit"),
        "{}",
        everything(&out)
    );

    let out = test.run(&["completions", "tcsh"]);
    assert_code(&out, 2);
}

// --- 3. colour -----------------------------------------------------------------------------------

#[test]
fn colour_cannot_be_forced_in_ci() {
    const ESC: &str = "\x1b[";
    let test = CliTest::new();
    // An error: its `error:` label is coloured when colour is on. Never a terminal here.
    let run = |flag: Option<&str>, env: &[(&str, &str)]| -> bool {
        let mut cmd = test.command();
        cmd.env_remove("NO_COLOR");
        for (k, v) in env {
            cmd.env(k, v);
        }
        if let Some(flag) = flag {
            cmd.args(["--color", flag]);
        }
        let out = cmd.args(["doctor", "no-such-folder"]).output().unwrap();
        assert_code(&out, 2);
        stderr(&out).contains(ESC)
    };
    // flag > NO_COLOR > CLICOLOR_FORCE / FORCE_COLOR > terminal.
    assert!(!run(None, &[]), "auto on a pipe");
    assert!(!run(Some("auto"), &[]), "auto on a pipe");
    assert!(run(Some("always"), &[]));
    assert!(
        run(Some("always"), &[("NO_COLOR", "1")]),
        "the flag wins over NO_COLOR"
    );
    assert!(!run(
        Some("never"),
        &[("CLICOLOR_FORCE", "1"), ("FORCE_COLOR", "1")]
    ));
    assert!(run(None, &[("CLICOLOR_FORCE", "1")]));
    assert!(run(None, &[("FORCE_COLOR", "1")]));
    assert!(run(None, &[("FORCE_COLOR", "true")]));
    assert!(!run(None, &[("FORCE_COLOR", "0")]));
    assert!(!run(None, &[("CLICOLOR_FORCE", "0")]));
    assert!(
        !run(None, &[("NO_COLOR", "1"), ("CLICOLOR_FORCE", "1")]),
        "NO_COLOR wins over CLICOLOR_FORCE"
    );
    assert!(
        !run(None, &[("NO_COLOR", "1"), ("FORCE_COLOR", "1")]),
        "NO_COLOR wins over FORCE_COLOR"
    );
    // JSON is never coloured, even forced.
    let out = test
        .command()
        .args(["--color", "always", "completions", "bash"])
        .output()
        .unwrap();
    assert!(!stdout(&out).contains(ESC));
}

// --- 4. errors as JSON ---------------------------------------------------------------------------

/// The one JSON document on stdout of a failed run, checked against the schema.
#[track_caller]
fn error_document(out: &Output, kind: &str) -> serde_json::Value {
    assert_code(out, 2);
    let doc: serde_json::Value = serde_json::from_str(&stdout(out))
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}", everything(out)));
    assert_eq!(doc["version"], 1, "{doc}");
    let error = &doc["error"];
    assert_eq!(error["kind"], kind, "{doc}");
    assert_eq!(error["exit_code"], 2, "{doc}");
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "{doc}");
    assert!(error["causes"].is_array(), "{doc}");
    assert!(error["hint"].is_string() || error["hint"].is_null(), "{doc}");
    // The same error is said to a person on stderr.
    assert!(stderr(out).contains("error:"), "{}", everything(out));
    doc
}

#[test]
fn errors_are_not_json_with_format_json() {
    let test = CliTest::new();
    // Usage errors, from clap.
    let doc = error_document(
        &test.run(&["bootstrap", "--format", "json", "--jobs", "0"]),
        "usage",
    );
    assert!(
        doc["error"]["message"].as_str().unwrap().contains("--jobs"),
        "{doc}"
    );
    let doc = error_document(
        &test.run(&["adapt", "items", "--format=json", "--bogus"]),
        "usage",
    );
    assert!(
        doc["error"]["message"].as_str().unwrap().contains("--bogus"),
        "{doc}"
    );
    error_document(
        &test.run(&["doctor", "--format", "json", "--connect-timeout", "0"]),
        "usage",
    );

    // Errors the commands return, with their hint.
    let doc = error_document(&test.run(&["bootstrap", "--format", "json"]), "error");
    assert_eq!(doc["error"]["message"], "no database URL given", "{doc}");
    assert!(
        doc["error"]["hint"].as_str().unwrap().contains("DATABASE_URL"),
        "{doc}"
    );
    let doc = error_document(
        &test.run(&["doctor", "no-such-folder", "--format", "json"]),
        "error",
    );
    assert!(
        doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no-such-folder"),
        "{doc}"
    );
    let doc = error_document(
        &test.run(&["adapt", "items", "--foundation", "f", "--format", "json"]),
        "error",
    );
    assert!(doc["error"]["hint"].as_str().unwrap().contains("--from"), "{doc}");

    // A database error: the password stays out of the document too.
    let out = test.run(&[
        "bootstrap",
        "--format",
        "json",
        "--connect-timeout",
        "2",
        "--db",
        "postgres://app:Sekr1tPass@127.0.0.1:1/app",
    ]);
    error_document(&out, "error");
    assert!(!everything(&out).contains("Sekr1tPass"), "{}", everything(&out));

    // Without --format json: nothing on stdout.
    let out = test.run(&["bootstrap", "--jobs", "0"]);
    assert_code(&out, 2);
    assert_eq!(stdout(&out), "");
}

// --- 5. the libpq variables, .env, socket URLs -------------------------------------------------

#[test]
fn pg_variables_are_ignored() {
    let db = TestDb::new();
    let p = parts(&db);
    let test = CliTest::new();
    let run = |args: &[&str], env: &[(&str, &str)]| -> Output {
        let mut cmd = test.command();
        if let Some(password) = &p.password {
            cmd.env("PGPASSWORD", password);
        }
        cmd.envs(env.iter().copied()).args(args).output().unwrap()
    };
    // No URL at all: the variables name the database.
    let out = run(
        &["bootstrap", "--tenant", "acme"],
        &[
            ("PGHOST", &p.host),
            ("PGPORT", &p.port),
            ("PGUSER", &p.user),
            ("PGDATABASE", &p.database),
        ],
    );
    assert_code(&out, 0);
    assert!(
        stdout(&out).contains(&format!("{}:{}/{}", p.host, p.port, p.database)),
        "{}",
        everything(&out)
    );
    assert_eq!(
        db.scalar("SELECT string_agg(code, ',') FROM public.sys_tenant"),
        "acme"
    );

    // A URL that leaves out the port and the database: the variables fill them, as in libpq.
    let url = format!("postgres://{}@{}", p.user, p.host);
    let out = run(
        &["bootstrap", "--tenant", "globex", "--db", &url],
        &[("PGPORT", &p.port), ("PGDATABASE", &p.database)],
    );
    assert_code(&out, 0);
    assert_eq!(
        db.scalar("SELECT string_agg(code, ',' ORDER BY code) FROM public.sys_tenant"),
        "acme,globex"
    );

    // PGSSLMODE is honoured: `require` against this server without TLS fails, naming TLS.
    let out = run(
        &["bootstrap", "--connect-timeout", "5", "--db", db.url()],
        &[("PGSSLMODE", "require")],
    );
    assert_code(&out, 2);
    if let Some(password) = &p.password {
        assert!(!everything(&out).contains(password.as_str()));
    }
}

#[test]
fn socket_urls_are_refused() {
    let db = TestDb::new();
    let p = parts(&db);
    let dirs = db.scalar("SHOW unix_socket_directories");
    let port = db.scalar("SHOW port");
    let socket_dir = dirs
        .split(',')
        .map(str::trim)
        .find(|d| Path::new(d).join(format!(".s.PGSQL.{port}")).exists())
        .unwrap_or_else(|| {
            panic!(
                "the test server has no socket on this machine (unix_socket_directories = {dirs}): \
                 run the tests with scripts/test.sh, whose cluster listens on one"
            )
        })
        .to_string();
    let test = CliTest::new();
    let mut cmd = test.command();
    if let Some(password) = &p.password {
        cmd.env("PGPASSWORD", password);
    }
    let url = format!(
        "postgres://{}@/{}?host={socket_dir}&port={port}",
        p.user, p.database
    );
    let out = cmd
        .args(["bootstrap", "--tenant", "acme", "--db", &url])
        .output()
        .unwrap();
    assert_code(&out, 0);
    assert_eq!(
        db.scalar("SELECT string_agg(code, ',') FROM public.sys_tenant"),
        "acme"
    );
    // It really came over the socket: the server saw no client address.
    let test = CliTest::new();
    let mut cmd = test.command();
    cmd.env("PGHOST", &socket_dir).env("PGPORT", &port);
    if let Some(password) = &p.password {
        cmd.env("PGPASSWORD", password);
    }
    let out = cmd
        .args(["bootstrap", "--tenant", "globex", "--db"])
        .arg(format!("postgres://{}@/{}", p.user, p.database))
        .output()
        .unwrap();
    assert_code(&out, 0);
    assert_eq!(
        db.scalar("SELECT string_agg(code, ',' ORDER BY code) FROM public.sys_tenant"),
        "acme,globex"
    );
}

#[test]
fn dotenv_database_url_is_ignored() {
    let db = TestDb::new();
    let test = CliTest::new();
    let project = sandbox(&test, "items");
    let unreachable = "postgres://nobody@127.0.0.1:1/nothing";
    // modkit.toml names an unreachable server; .env wins over it.
    test.write_file(
        "items/modkit.toml",
        format!("[module]\nid = \"items\"\n\n[database]\nurl = \"{unreachable}\"\n"),
    );
    test.write_file(
        "items/.env",
        format!("# local settings\nOTHER=1\nDATABASE_URL={}\n", db.url()),
    );
    let out = test
        .command()
        .current_dir(&project)
        .args(["bootstrap"])
        .output()
        .unwrap();
    assert_code(&out, 0);
    assert_eq!(
        db.scalar("SELECT string_agg(code, ',') FROM public.sys_tenant"),
        "dev"
    );

    // DATABASE_URL in the environment wins over .env.
    let out = test
        .command()
        .current_dir(&project)
        .env("DATABASE_URL", unreachable)
        .args(["bootstrap", "--connect-timeout", "2"])
        .output()
        .unwrap();
    assert_code(&out, 2);
    assert!(
        stderr(&out).contains("127.0.0.1:1") && stderr(&out).contains("DATABASE_URL"),
        "{}",
        everything(&out)
    );

    // A broken .env is named.
    test.write_file("items/.env", "DATABASE_URL='unterminated\n");
    let out = test
        .command()
        .current_dir(&project)
        .args(["bootstrap"])
        .output()
        .unwrap();
    assert_code(&out, 2);
    assert!(stderr(&out).contains(".env"), "{}", everything(&out));
}

// --- 6. links to the published docs --------------------------------------------------------------

#[test]
fn help_texts_link_to_repo_paths() {
    let test = CliTest::new();
    for args in [&["--help"][..], &["doctor", "--help"][..]] {
        let help = stdout(&test.run(args));
        assert!(help.contains("https://docs.rs/crate/modkit/"), "{help}");
    }
    let doctor = stdout(&test.run(&["doctor", "--help"]));
    assert!(!doctor.contains(": docs/doctor.md"), "{doctor}");
    // The hints too.
    test.write_file("modkit.toml", "[nonsense]\n");
    let out = test.run(&["doctor"]);
    assert!(
        stderr(&out).contains("https://docs.rs/crate/modkit/"),
        "{}",
        everything(&out)
    );

    let manifest: toml::Table =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
            .unwrap()
            .parse()
            .unwrap();
    let package = manifest["package"].as_table().unwrap();
    for key in ["homepage", "documentation", "readme", "keywords", "categories"] {
        assert!(package.contains_key(key), "Cargo.toml [package] has no {key}");
    }
}

// --- 8. init --install ---------------------------------------------------------------------------

#[test]
fn init_cannot_run_npm_install() {
    let test = CliTest::new();
    // A stand-in npm that records where and how it ran (the real install runs in tests/it/e2e).
    let bin = test.path("bin");
    test.write_file(
        "bin/npm",
        "#!/bin/sh\necho \"$PWD $*\" > \"$0.ran\"\necho installed-by-npm\n",
    );
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(bin.join("npm"), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let out = test
        .command()
        .env("PATH", &bin)
        .args(["init", "items", "--install"])
        .output()
        .unwrap();
    assert_code(&out, 0);
    assert_eq!(
        std::fs::read_to_string(bin.join("npm.ran")).unwrap().trim(),
        format!("{} install", test.path("items").display())
    );
    // npm's output goes to stderr; stdout's next steps no longer say npm install.
    assert!(stderr(&out).contains("installed-by-npm"), "{}", everything(&out));
    assert!(
        stdout(&out).contains("cd items && npm run dev"),
        "{}",
        everything(&out)
    );

    // No npm on PATH: the sandbox is written, and the error says how to finish.
    let empty = test.path("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = test
        .command()
        .env("PATH", &empty)
        .args(["init", "other", "--install"])
        .output()
        .unwrap();
    assert_code(&out, 2);
    assert!(
        stderr(&out).contains("npm is not on PATH"),
        "{}",
        everything(&out)
    );
    assert!(
        stderr(&out).contains("cd other && npm install"),
        "{}",
        everything(&out)
    );
    assert!(test.path("other/package.json").is_file());

    // --install with --dry-run is refused: nothing to install into.
    assert_code(&test.run(&["init", "third", "--install", "--dry-run"]), 2);
}

// --- 7. the progress bar -------------------------------------------------------------------------

#[test]
fn progress_bar_has_no_header_and_fractional_rates() {
    let db = TestDb::new();
    let test = CliTest::new();
    let tenants: String = (0..30).map(|i| format!("t{i:03}\n")).collect();
    test.write_file("tenants.txt", tenants);
    // A terminal on stderr, as a person watching has: script(1) gives the command a pseudo-terminal.
    let command = format!(
        "{} bootstrap --db '{}' --tenants-file tenants.txt --jobs 1",
        crate::support::bin().display(),
        db.url()
    );
    let out = test
        .clean_command("script")
        .args(["-qec", &command, "/dev/null"])
        .env("TERM", "xterm")
        .output()
        .unwrap();
    assert_code(&out, 0);
    let screen = stdout(&out);
    let header = format!("modkit bootstrap: {}", crate::support::pg::redact(db.url()));
    let bar = screen
        .find("  tenants ")
        .unwrap_or_else(|| panic!("no progress bar drawn:\n{screen}"));
    let first_header = screen
        .find(&header)
        .unwrap_or_else(|| panic!("no header:\n{screen}"));
    assert!(first_header < bar, "the header comes after the bar:\n{screen}");
    // Every rate drawn is whole: `12/s`, never `12.3456/s`.
    let chunks: Vec<&str> = screen.split("/s").collect();
    let rates: Vec<&str> = chunks[..chunks.len() - 1]
        .iter()
        .filter_map(|before| before.rsplit(' ').next())
        .filter(|r| r.chars().next().is_some_and(|c| c.is_ascii_digit()))
        .collect();
    assert!(!rates.is_empty(), "no rate drawn:\n{screen}");
    for rate in rates {
        assert!(
            rate.parse::<u64>().is_ok(),
            "rate `{rate}` is not whole:\n{screen}"
        );
    }
}

/// `modkit doctor --explain <TAB>` (and `--ignore <TAB>`) offers doctor's check codes, not file
/// names: the bash script, sourced in a real bash and asked as bash asks it, answers with codes; the
/// other shells' scripts hold them too. Parsing still takes any text (an unknown code is doctor's
/// own message, exit 2).
#[test]
fn doctor_explain_completes_check_codes_in_every_shell() {
    let test = CliTest::new();
    let ask = |line: &str| {
        let words: Vec<&str> = line.split(' ').collect();
        let script = format!(
            "source <(\"$0\" completions bash) || exit 9
             COMP_WORDS=({words}); COMP_CWORD={cword}; COMP_LINE='{line}'; COMP_POINT=${{#COMP_LINE}}
             _modkit modkit '{cur}' '{prev}'
             printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            words = words.join(" "),
            cword = words.len() - 1,
            cur = words[words.len() - 1],
            prev = words[words.len() - 2],
        );
        let out = test
            .clean_command("bash")
            .args(["--norc", "-c", &script])
            .arg(crate::support::bin())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", crate::support::transcript(&out));
        stdout(&out)
    };
    assert_eq!(
        ask("modkit doctor --explain tsconfig-base-url-d"),
        "tsconfig-base-url-deprecated\n"
    );
    let all = ask("modkit doctor --explain ");
    for code in [
        "tsconfig-base-url",
        "db-sides-differ",
        "project-files-owner",
        "local-db-no-binaries",
    ] {
        assert!(all.lines().any(|l| l == code), "no {code} in {all}");
    }
    assert!(ask("modkit doctor --ignore local-db").contains("local-db-no-binaries"));
    for shell in ["zsh", "fish", "powershell"] {
        let out = test.run(&["completions", shell]);
        assert!(
            stdout(&out).contains("tsconfig-base-url"),
            "{shell}: no check code"
        );
    }
    let out = test.run(&["doctor", "--explain", "no-such-code"]);
    assert_code(&out, 2);
    assert!(
        !stderr(&out).contains("possible values"),
        "{}",
        crate::support::transcript(&out)
    );
}
