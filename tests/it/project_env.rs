//! doctor on the project's environment: which database each side (modkit, the project's npm scripts)
//! will use when they differ (`db-sides-differ`), and files another user owns (`project-files-owner`).

use std::process::Output;

use crate::support::{CliTest, stdout, transcript};

fn doctor(test: &CliTest, env: &[(&str, &str)]) -> Output {
    let mut cmd = test.command();
    cmd.current_dir(test.path("items"))
        .args(["doctor", "--format", "json"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("cannot run modkit")
}

/// The `db-sides-differ` messages of a doctor run.
fn sides(out: &Output) -> Vec<String> {
    let json: serde_json::Value = serde_json::from_str(&stdout(out))
        .unwrap_or_else(|e| panic!("doctor's JSON: {e}\n{}", transcript(out)));
    json["diagnostics"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|d| d["code"] == "db-sides-differ")
        .map(|d| d["message"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn doctor_names_both_databases_when_the_scripts_read_env_or_pg_variables_unlike_modkit() {
    let test = CliTest::new();
    assert!(test.run(&["init", "items"]).status.success());
    test.write_file(
        "items/.env",
        "DATABASE_URL=postgres://app:s3cret-pw@db.example:5432/app\n",
    );

    // This modkit's scripts read .env and PG* as modkit does: nothing to say.
    let out = doctor(&test, &[]);
    assert_eq!(sides(&out), Vec::<String>::new(), "{}", transcript(&out));
    let out = doctor(&test, &[("PGHOST", "pg.example"), ("PGDATABASE", "other")]);
    assert_eq!(sides(&out), Vec::<String>::new(), "{}", transcript(&out));

    // A sandbox from before .env was read by its scripts (no sandbox/env.ts).
    std::fs::remove_file(test.path("items/sandbox/env.ts")).unwrap();
    let out = doctor(&test, &[]);
    assert_eq!(
        sides(&out),
        [
            "modkit uses postgres://app:***@db.example:5432/app (from DATABASE_URL in .env), but npm run dev \
          and the project's scripts use the local database in .modkit/pg (not made yet): sandbox/config.ts \
          reads no .env"
        ],
        "{}",
        transcript(&out)
    );
    assert!(!transcript(&out).contains("s3cret-pw"), "{}", transcript(&out));

    // PG* alone, with scripts that do not read them.
    std::fs::remove_file(test.path("items/.env")).unwrap();
    test.replace_in_file("items/sandbox/config.ts", "PGHOST", "PG_HOST");
    let out = doctor(
        &test,
        &[
            ("PGHOST", "pg.example"),
            ("PGUSER", "app"),
            ("PGDATABASE", "other"),
        ],
    );
    assert_eq!(
        sides(&out),
        [
            "modkit uses postgres://app@pg.example:5432/other (from PGHOST, PGPORT, PGUSER and PGDATABASE), \
          but npm run dev and the project's scripts use the local database in .modkit/pg (not made yet): \
          sandbox/config.ts reads neither .env nor the PG* variables"
        ],
        "{}",
        transcript(&out)
    );
    // DATABASE_URL in the environment: both read it first.
    let out = doctor(
        &test,
        &[("PGHOST", "pg.example"), ("DATABASE_URL", "postgres://a@b/c")],
    );
    assert_eq!(sides(&out), Vec::<String>::new(), "{}", transcript(&out));
}

/// The `project-files-owner` diagnostics of a doctor run: (message, hint).
fn owners(out: &Output) -> Vec<(String, String)> {
    let json: serde_json::Value = serde_json::from_str(&stdout(out))
        .unwrap_or_else(|e| panic!("doctor's JSON: {e}\n{}", transcript(out)));
    json["diagnostics"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|d| d["code"] == "project-files-owner")
        .map(|d| {
            (
                d["message"].as_str().unwrap_or_default().to_string(),
                d["hint"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn chown(path: &std::path::Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid)).unwrap();
}

/// As root, the leftovers of one `sudo npm run dev` / `sudo npm install` in a user's project (here
/// `nobody`'s), and the other way round: each named with the `chown -R` that fixes it; a `.modkit/pg`
/// its server's own user holds is fine, one root holds is not.
#[test]
fn doctor_flags_dev_files_and_node_modules_another_user_owns_with_the_chown_to_run() {
    if !crate::db::is_root() {
        // Files of another user can only be made as root; as a normal user this is tested nowhere else.
        return;
    }
    let (uid, gid) = crate::db::nobody();
    let test = CliTest::new();
    assert!(test.run(&["init", "items"]).status.success());
    let root = test.path("items");
    for dir in [".modkit/dev/server", ".modkit/pg/data", "node_modules/express"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    test.write_file("items/.modkit/dev/server/server.js", "");
    test.write_file("items/.modkit/ports.json", "{}");

    // All root's, the project too: nothing to say.
    let out = doctor(&test, &[]);
    assert_eq!(
        owners(&out),
        Vec::<(String, String)>::new(),
        "{}",
        transcript(&out)
    );

    // A root project where nobody wrote .modkit/dev/server.js: flagged. nobody's .modkit/pg (the
    // server's user, --run-as): not.
    chown(&root.join(".modkit/dev/server/server.js"), uid, gid);
    chown(&root.join(".modkit/pg"), uid, gid);
    let out = doctor(&test, &[]);
    let shown = test.filter(&format!("{:?}", owners(&out)));
    assert_eq!(
        shown,
        r#"[(".modkit/dev/server/server.js is owned by nobody, not by root, the project's owner: npm run dev as root cannot write it (EACCES)", "sudo chown -R root:0 [TEMP]/items/.modkit/dev")]"#,
        "{}",
        transcript(&out)
    );
    assert_eq!(out.status.code(), Some(1), "{}", transcript(&out));

    // nobody's project after a `sudo npm install` and a `sudo npm run dev`: node_modules, .modkit/dev
    // and a root .modkit/pg flagged.
    let _ = std::process::Command::new("chown")
        .args(["-R", &format!("{uid}:{gid}")])
        .arg(&root)
        .status()
        .unwrap();
    chown(&root.join("node_modules/express"), 0, 0);
    chown(&root.join(".modkit/dev/server"), 0, 0);
    chown(&root.join(".modkit/pg"), 0, 0);
    let out = doctor(&test, &[]);
    let shown = test.filter(&format!("{:#?}", owners(&out)));
    for says in [
        ".modkit/dev/server is owned by root, not by nobody",
        &format!("sudo chown -R nobody:{gid} [TEMP]/items/.modkit/dev"),
        ".modkit/pg is owned by root, not by nobody",
        &format!("sudo chown -R nobody:{gid} [TEMP]/items/.modkit/pg"),
        "node_modules/express is owned by root, not by nobody",
        &format!("sudo chown -R nobody:{gid} [TEMP]/items/node_modules"),
    ] {
        assert!(
            shown.contains(says),
            "no `{says}` in {shown}\n{}",
            transcript(&out)
        );
    }
    assert_eq!(owners(&out).len(), 3, "{shown}");
}
