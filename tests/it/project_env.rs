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
