//! `modkit upgrade`: a sandbox rendered by modkit 0.1.0 (tests/fixtures/sandbox-0.1.0, written by
//! the 0.1.0 binary, without a record) brought to this modkit's templates.
//!
//! The templates keep moving, so the expectations are computed, not written down: "what this
//! modkit renders" is a fresh `modkit init items` beside the upgraded sandbox, and each edit is
//! checked as the edit applied to that fresh rendering.

use std::collections::BTreeMap;
use std::path::Path;

use insta::assert_snapshot;
use serde_json::{Value, json};

use crate::support::{CliTest, stdout, transcript};

/// The fixture rendered by 0.1.0.
const FIXTURE: &str = "sandbox-0.1.0";

/// A route the team added to its module.
const NEW_ROUTE: &str = "\n    r.get('/ping', (_req, res) => {\n      res.json({ pong: true });\n    });\n";
/// A comment and an option the team added to tsconfig.json.
const TS_COMMENT: &str = "// The team: a forgotten `break` is a bug.";
const TS_OPTION: &str = "\"noFallthroughCasesInSwitch\": true,";
/// The team's own section at the end of the README.
const README_NOTE: &str = "\n## Team notes\n\nAsk #items before changing the schema.\n";

fn replace(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(text.contains(from), "{} has no `{from}`", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

fn append(path: &Path, text: &str) {
    let mut old = std::fs::read_to_string(path).unwrap();
    old.push_str(text);
    std::fs::write(path, old).unwrap();
}

/// The edits a team typically makes to its sandbox (the e2e test type-checks and tests the result).
pub fn apply_typical_edits(dir: &Path) {
    replace(
        &dir.join("plugin/index.ts"),
        "    const r = ctx.router;\n",
        &format!("    const r = ctx.router;\n{NEW_ROUTE}"),
    );
    replace(
        &dir.join("package.json"),
        "  \"dependencies\": {\n",
        "  \"dependencies\": {\n    \"zod\": \"^3.25.0\",\n",
    );
    replace(
        &dir.join("package.json"),
        "  \"scripts\": {\n",
        "  \"scripts\": {\n    \"lint\": \"tsc --noEmit --pretty false\",\n",
    );
    replace(
        &dir.join("tsconfig.json"),
        "    \"strict\": true,\n",
        &format!("    {TS_COMMENT}\n    {TS_OPTION}\n    \"strict\": true,\n"),
    );
    replace(&dir.join("vite.config.ts"), "port: 4173", "port: 4180");
    append(&dir.join("README.md"), README_NOTE);
}

/// Every file under `dir` with its content.
fn contents(test: &CliTest, dir: &str) -> BTreeMap<String, String> {
    test.files(dir)
        .into_iter()
        .map(|f| {
            let text = test.read_file(format!("{dir}/{f}"));
            (f, text)
        })
        .collect()
}

/// What this modkit renders for the fixture's answers, in `fresh/`.
fn fresh(test: &CliTest) -> BTreeMap<String, String> {
    let out = test.run(&["init", "items", "--dir", "fresh"]);
    assert!(out.status.success(), "{}", transcript(&out));
    contents(test, "fresh")
}

fn upgrade(test: &CliTest, args: &[&str]) -> std::process::Output {
    let mut all = vec!["upgrade", "items"];
    all.extend_from_slice(args);
    test.run(&all)
}

fn jsonc(text: &str) -> Value {
    jsonc_parser::parse_to_serde_value::<Value>(text, &Default::default()).unwrap()
}

fn code(out: &std::process::Output) -> Option<i32> {
    out.status.code()
}

#[test]
fn an_untouched_0_1_0_sandbox_becomes_what_init_renders_today() {
    let test = CliTest::new();
    test.copy_fixture(FIXTURE, "items");
    let original = contents(&test, "items");
    let out = upgrade(&test, &[]);
    assert_eq!(code(&out), Some(0), "{}", transcript(&out));
    let fresh = fresh(&test);
    let now = contents(&test, "items");
    for (path, text) in &fresh {
        if path.starts_with("plugin/") && path != "plugin/context.ts" {
            // The team's: as it was, whatever the template has now.
            assert_eq!(now.get(path), original.get(path), "{path} was touched");
        } else {
            assert_eq!(now.get(path), Some(text), "{path} is not what init renders today");
        }
    }
    // The record now says this modkit, the answers from modkit.toml, and what it rendered.
    let record: Value = serde_json::from_str(&now[".modkit-init.json"]).unwrap();
    assert_eq!(
        record["generated_by"],
        json!(format!("modkit {}", env!("CARGO_PKG_VERSION")))
    );
    assert_eq!(
        record["answers"],
        json!({"module": "items", "name": "Items", "tenants": ["dev"]})
    );
}

#[test]
fn typical_edits_survive_an_upgrade_and_a_second_upgrade_is_a_no_op() {
    let test = CliTest::new();
    let dir = test.copy_fixture(FIXTURE, "items");
    apply_typical_edits(&dir);
    let edited = contents(&test, "items");
    let out = upgrade(&test, &[]);
    assert_eq!(code(&out), Some(0), "{}", transcript(&out));
    let fresh = fresh(&test);
    let now = contents(&test, "items");

    // plugin/ is the team's: never rewritten.
    assert_eq!(now["plugin/index.ts"], edited["plugin/index.ts"]);
    assert!(now["plugin/index.ts"].contains(NEW_ROUTE));
    // package.json: today's template, plus the team's dependency and script.
    let mut expected = jsonc(&fresh["package.json"]);
    expected["dependencies"]["zod"] = json!("^3.25.0");
    expected["scripts"]["lint"] = json!("tsc --noEmit --pretty false");
    assert_eq!(jsonc(&now["package.json"]), expected, "{}", now["package.json"]);
    // tsconfig.json: today's template plus the team's option, and its comment is still there.
    let mut expected = jsonc(&fresh["tsconfig.json"]);
    expected["compilerOptions"]["noFallthroughCasesInSwitch"] = json!(true);
    assert_eq!(jsonc(&now["tsconfig.json"]), expected, "{}", now["tsconfig.json"]);
    assert!(
        now["tsconfig.json"].contains(TS_COMMENT),
        "{}",
        now["tsconfig.json"]
    );
    // Line-merged text files: today's template with the team's change.
    assert_eq!(
        now["vite.config.ts"],
        fresh["vite.config.ts"].replacen("port: 4173", "port: 4180", 1)
    );
    assert_eq!(now["README.md"], format!("{}{README_NOTE}", fresh["README.md"]));
    // Every other file is what init renders today.
    for (path, text) in &fresh {
        let edited_by_team = ["package.json", "tsconfig.json", "vite.config.ts", "README.md"];
        if !path.starts_with("plugin/") && !edited_by_team.contains(&path.as_str()) {
            assert_eq!(now.get(path), Some(text), "{path} is not what init renders today");
        }
    }

    // A second upgrade, and --check, change nothing.
    let again = upgrade(&test, &[]);
    assert_eq!(code(&again), Some(0), "{}", transcript(&again));
    assert!(stdout(&again).contains("is up to date"), "{}", transcript(&again));
    assert_eq!(contents(&test, "items"), now);
    let check = upgrade(&test, &["--check"]);
    assert_eq!(code(&check), Some(0), "{}", transcript(&check));
}

#[test]
fn a_conflicting_edit_is_reported_with_exit_1_and_nothing_else_is_lost() {
    let test = CliTest::new();
    let dir = test.copy_fixture(FIXTURE, "items");
    apply_typical_edits(&dir);
    // The line and the key the template changes between 0.1.0 and this modkit (its version).
    replace(
        &dir.join("README.md"),
        "generated by modkit 0.1.0.",
        "kept by the items team.",
    );
    replace(
        &dir.join("package.json"),
        "(generated by modkit 0.1.0)",
        "(the items team's)",
    );
    let out = upgrade(&test, &[]);
    let text = stdout(&out);
    assert_eq!(code(&out), Some(1), "{}", transcript(&out));
    assert!(text.contains("conflict  README.md"), "{text}");
    assert!(text.contains("conflict  package.json"), "{text}");
    assert!(text.contains("description: yours"), "{text}");
    let fresh = fresh(&test);
    let now = contents(&test, "items");

    // README: both versions of the line between markers, the team's section kept.
    let readme = &now["README.md"];
    assert!(
        readme.contains("<<<<<<< ours\n") && readme.contains(">>>>>>> theirs\n"),
        "{readme}"
    );
    assert!(readme.contains("kept by the items team."), "{readme}");
    assert!(readme.contains(&format!("generated by modkit {}.", env!("CARGO_PKG_VERSION"))));
    assert!(readme.ends_with(README_NOTE), "{readme}");
    // package.json: the team's description kept, its dependency too, the template's other changes in.
    let package = jsonc(&now["package.json"]);
    let mut expected = jsonc(&fresh["package.json"]);
    expected["description"] = json!("Standalone sandbox of the items module (the items team's)");
    expected["dependencies"]["zod"] = json!("^3.25.0");
    expected["scripts"]["lint"] = json!("tsc --noEmit --pretty false");
    assert_eq!(package, expected);
    // Nothing else lost.
    assert!(now["plugin/index.ts"].contains(NEW_ROUTE));
    assert!(now["tsconfig.json"].contains(TS_COMMENT));
    assert!(now["vite.config.ts"].contains("port: 4180"));

    // Until the markers are resolved, the sandbox still has a conflict.
    let again = upgrade(&test, &["--check"]);
    assert_eq!(code(&again), Some(1), "{}", transcript(&again));
    assert!(
        stdout(&again).contains("conflict markers"),
        "{}",
        transcript(&again)
    );
}

#[test]
fn check_exits_1_when_behind_and_writes_nothing() {
    let test = CliTest::new();
    test.copy_fixture(FIXTURE, "items");
    let before = contents(&test, "items");
    let out = upgrade(&test, &["--check"]);
    assert_eq!(code(&out), Some(1), "{}", transcript(&out));
    assert!(stdout(&out).contains("Nothing was written (--check)."));
    assert_eq!(contents(&test, "items"), before);
    assert_eq!(code(&upgrade(&test, &[])), Some(0));
    let out = upgrade(&test, &["--check"]);
    assert_eq!(code(&out), Some(0), "{}", transcript(&out));
}

#[test]
fn dry_run_prints_a_unified_diff_and_writes_nothing() {
    let test = CliTest::new();
    let dir = test.copy_fixture(FIXTURE, "items");
    apply_typical_edits(&dir);
    let before = contents(&test, "items");
    let out = upgrade(&test, &["--dry-run"]);
    assert_eq!(code(&out), Some(0), "{}", transcript(&out));
    let text = stdout(&out);
    assert!(
        text.contains("--- a/package.json\n+++ b/package.json\n"),
        "{text}"
    );
    assert!(text.contains("+++ b/.modkit-init.json\n"), "{text}");
    assert!(text.contains("Nothing was written (--dry-run)."), "{text}");
    assert_eq!(contents(&test, "items"), before);
}

#[test]
fn json_report_of_an_edited_0_1_0_sandbox() {
    let test = CliTest::new();
    let dir = test.copy_fixture(FIXTURE, "items");
    apply_typical_edits(&dir);
    replace(&dir.join("package.json"), "(generated by modkit 0.1.0)", "(ours)");
    std::fs::remove_file(dir.join("client/index.html")).unwrap();
    let out = test.transcript(
        test.command()
            .args(["upgrade", "items", "--check", "--format", "json"]),
    );
    assert_snapshot!(out);
}

#[test]
fn a_sandbox_made_by_this_modkit_is_up_to_date() {
    let test = CliTest::new();
    assert!(test.run(&["init", "items"]).status.success());
    let out = test.transcript(test.command().args(["upgrade", "items", "--check"]));
    assert_snapshot!(out);
}

#[test]
fn upgrade_refuses_what_is_not_a_sandbox_it_knows() {
    let test = CliTest::new();
    test.write_file("empty/notes.txt", "mine");
    let not_a_sandbox = test.transcript(test.command().args(["upgrade", "empty"]));
    test.copy_fixture(FIXTURE, "future");
    test.write_file(
        "future/.modkit-init.json",
        r#"{"generated_by": "modkit 9.0.0", "answers": {"module": "items", "name": "Items", "tenants": ["dev"]}, "files": {}}"#,
    );
    let future = test.transcript(test.command().args(["upgrade", "future"]));
    test.copy_fixture(FIXTURE, "broken");
    test.write_file("broken/.modkit-init.json", "{ not json");
    let broken = test.transcript(test.command().args(["upgrade", "broken"]));
    assert_snapshot!(format!("{not_a_sandbox}\n{future}\n{broken}"));
}

#[test]
fn a_linked_template_file_is_refused_not_followed() {
    let test = CliTest::new();
    let dir = test.copy_fixture(FIXTURE, "items");
    test.write_file("secret.json", "{ \"token\": \"s3cr3t\" }");
    std::fs::remove_file(dir.join("package.json")).unwrap();
    std::os::unix::fs::symlink(test.path("secret.json"), dir.join("package.json")).unwrap();
    let out = upgrade(&test, &[]);
    let text = transcript(&out);
    assert_eq!(code(&out), Some(2), "{text}");
    assert!(text.contains("package.json"), "{text}");
    assert!(!text.contains("s3cr3t"), "{text}");
    assert_eq!(test.read_file("secret.json"), "{ \"token\": \"s3cr3t\" }");
    assert!(!dir.join(".modkit-init.json").exists(), "something was written");
}

#[test]
fn a_record_with_answers_init_would_refuse_is_refused() {
    let test = CliTest::new();
    test.copy_fixture(FIXTURE, "items");
    test.write_file(
        "items/.modkit-init.json",
        r#"{"generated_by": "modkit 0.1.0", "answers": {"module": "items", "name": "Items", "tenants": ["dev", "x'; DROP SCHEMA public; --"]}, "files": {}}"#,
    );
    let out = upgrade(&test, &[]);
    let text = transcript(&out);
    assert_eq!(code(&out), Some(2), "{text}");
    assert!(text.contains(".modkit-init.json"), "{text}");
}

#[test]
fn a_linked_folder_in_the_sandbox_is_refused_not_read_through() {
    let test = CliTest::new();
    let dir = test.copy_fixture(FIXTURE, "items");
    let elsewhere = test.copy_fixture(FIXTURE, "elsewhere");
    std::fs::write(
        elsewhere.join("client/src/api.ts"),
        "export const secret = 's3cr3t';\n",
    )
    .unwrap();
    std::fs::remove_dir_all(dir.join("client")).unwrap();
    std::os::unix::fs::symlink(elsewhere.join("client"), dir.join("client")).unwrap();
    for args in [&["--dry-run"][..], &[][..]] {
        let out = upgrade(&test, args);
        let text = transcript(&out);
        assert_eq!(code(&out), Some(2), "{text}");
        assert!(text.contains("is a symbolic link"), "{text}");
        assert!(!text.contains("s3cr3t"), "{text}");
    }
    assert!(!dir.join(".modkit-init.json").exists(), "something was written");
}

#[test]
fn a_file_the_team_deleted_stays_deleted() {
    let test = CliTest::new();
    let dir = test.copy_fixture(FIXTURE, "items");
    // README.md changes between 0.1.0 and this modkit (it names the version that rendered it).
    std::fs::remove_file(dir.join("README.md")).unwrap();
    let out = upgrade(&test, &[]);
    assert_eq!(code(&out), Some(0), "{}", transcript(&out));
    assert!(
        stdout(&out).contains("deleted   README.md"),
        "{}",
        transcript(&out)
    );
    assert!(!dir.join("README.md").exists());
    let again = upgrade(&test, &["--check"]);
    assert_eq!(code(&again), Some(0), "{}", transcript(&again));
    assert!(!dir.join("README.md").exists());
}

#[test]
fn upgrade_help_shows_the_options_and_examples() {
    let test = CliTest::new();
    assert_snapshot!(test.transcript(test.command().args(["upgrade", "--help"])));
}
