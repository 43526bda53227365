//! `modkit init`: what the built binary writes and prints, and what it refuses.
//!
//! Generated files are templates in flux; tests pick their targets from what the binary really
//! writes, and snapshot only the tree, the transcripts and the most stable files.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::process::Output;

use insta::assert_snapshot;

use crate::support::{CliTest, stderr, stdout, transcript};

/// The rule every refused module id is explained with.
const ID_RULE: &str = "a module id is lowercase letters, digits and single hyphens, starts with a letter, \
                       and is at most 40 characters";

/// Every file under `dir` with its content (a symbolic link as `-> target`).
fn contents(test: &CliTest, dir: &str) -> BTreeMap<String, String> {
    let read = |f: &str| match std::fs::read_link(test.path(dir).join(f)) {
        Ok(target) => format!("-> {}", target.display()),
        Err(_) => test.read_file(format!("{dir}/{f}")),
    };
    test.files(dir)
        .into_iter()
        .map(|f| (f.clone(), read(&f)))
        .collect()
}

/// Parse JSON with comments and trailing commas (tsconfig.json), as TypeScript reads it, with the
/// crate modkit itself reads tsconfigs with.
fn parse_jsonc(text: &str) -> Result<serde_json::Value, jsonc_parser::errors::ParseError> {
    let options = jsonc_parser::ParseOptions {
        allow_comments: true,
        allow_trailing_commas: true,
        allow_loose_object_property_names: false,
        ..Default::default()
    };
    jsonc_parser::parse_to_serde_value::<serde_json::Value>(text, &options)
}

/// The file lines of a printed tree: `(name, mark)`, e.g. `("system.sql", "(overwrite)")`.
fn tree_files(stdout: &str) -> Vec<(String, String)> {
    stdout
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter(|l| !l.trim_end().ends_with('/'))
        .map(|l| {
            let l = l.trim();
            match l.split_once("  ") {
                Some((name, mark)) => (name.to_string(), mark.trim().to_string()),
                None => (l.to_string(), String::new()),
            }
        })
        .collect()
}

fn assert_code(output: &Output, code: i32) {
    assert_eq!(output.status.code(), Some(code), "{}", transcript(output));
}

#[test]
fn init_items_writes_the_sandbox_and_says_what_next() {
    let test = CliTest::new();
    let output = test.run(&["init", "items"]);
    assert_code(&output, 0);
    let files = test.files("items");
    assert_snapshot!("init_items_files", files.join("\n"));
    assert_snapshot!("init_items_transcript", test.filter(&transcript(&output)));

    let out = stdout(&output);
    assert!(out.contains(&format!("({} files)", files.len())), "{out}");
    let printed: Vec<String> = tree_files(&out).into_iter().map(|(name, _)| name).collect();
    let on_disk: Vec<String> = files
        .iter()
        .map(|f| f.rsplit('/').next().unwrap().to_string())
        .collect();
    assert_eq!(
        printed, on_disk,
        "the printed tree lists exactly the files written, in order"
    );
    assert!(out.contains("cd items && npm install && npm run dev"), "{out}");
    assert!(
        test.files("items")
            .iter()
            .all(|f| !f.contains(".modkit-") || f == ".modkit-init.json"),
        "no staging file is left behind, only the record of what init wrote"
    );
}

#[test]
fn init_items_key_files() {
    let test = CliTest::new();
    assert_code(&test.run(&["init", "items"]), 0);
    assert_snapshot!("init_items_modkit_toml", test.read_file("items/modkit.toml"));
    assert_snapshot!("init_items_tsconfig_json", test.read_file("items/tsconfig.json"));
    let tsconfig = parse_jsonc(&test.read_file("items/tsconfig.json")).expect("tsconfig.json parses");
    let options = &tsconfig["compilerOptions"];
    assert!(
        options.get("baseUrl").is_none(),
        "TypeScript 7 rejects baseUrl (TS5102)"
    );
    assert_eq!(
        options["paths"]["@client/*"],
        serde_json::json!(["./client/src/*"])
    );
}

#[test]
fn bad_ids_are_refused_with_the_rule_and_a_valid_suggestion() {
    let test = CliTest::new();
    std::fs::create_dir(test.path("work")).unwrap();
    let long = "a".repeat(41);
    let mut transcripts = String::new();
    for id in [
        "Items",
        "../evil",
        "a/b",
        "",
        long.as_str(),
        "1abc",
        "items-",
        "order_lines",
    ] {
        let output = test
            .command()
            .current_dir(test.path("work"))
            .args(["init", id])
            .output()
            .unwrap();
        transcripts.push_str(&format!(
            "=== modkit init {id:?}\n{}\n",
            test.filter(&transcript(&output))
        ));
        assert_code(&output, 2);
        let err = stderr(&output);
        assert!(
            err.contains(ID_RULE),
            "{id:?}: the message states the rule: {err}"
        );
        assert!(stdout(&output).is_empty(), "{id:?}");

        // The hint names a valid id: modkit accepts it.
        let hint = err
            .lines()
            .find_map(|l| l.strip_prefix("hint: "))
            .unwrap_or_else(|| panic!("{id:?}: no hint: {err}"));
        let suggestion = hint
            .split('`')
            .nth(1)
            .unwrap_or_else(|| panic!("{id:?}: no id in the hint: {hint}"));
        let check = test
            .command()
            .current_dir(test.path("work"))
            .args(["init", suggestion, "--dry-run"])
            .output()
            .unwrap();
        assert_code(&check, 0);
    }
    // Nothing written, neither in the working folder nor beside it (`../evil`).
    let entries: Vec<_> = std::fs::read_dir(test.root())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(entries, ["work"]);
    assert_eq!(std::fs::read_dir(test.path("work")).unwrap().count(), 0);
    assert_snapshot!(transcripts);
}

#[test]
fn bad_tenant_codes_are_refused() {
    let test = CliTest::new();
    let output = test.run(&["init", "items", "--tenant", "Acme"]);
    assert_code(&output, 2);
    assert!(
        stderr(&output).contains("invalid tenant code `Acme`"),
        "{}",
        stderr(&output)
    );
    assert!(!test.path("items").exists());
}

#[test]
fn tenants_are_listed_in_modkit_toml() {
    let test = CliTest::new();
    assert_code(
        &test.run(&[
            "init", "items", "--tenant", "acme", "--tenant", "globex", "--tenant", "dev",
        ]),
        0,
    );
    let toml: toml::Table = test.read_file("items/modkit.toml").parse().unwrap();
    assert_eq!(
        toml["dev"]["tenants"].as_array().unwrap(),
        &["dev", "acme", "globex"].map(toml::Value::from)
    );
}

#[test]
fn a_non_empty_folder_is_refused_and_left_untouched() {
    let test = CliTest::new();
    test.write_file("items/notes.txt", "mine");
    let output = test.run(&["init", "items"]);
    assert_code(&output, 2);
    assert_snapshot!(test.filter(&transcript(&output)));
    assert_eq!(test.files("items"), ["notes.txt"]);
    assert_eq!(test.read_file("items/notes.txt"), "mine");

    // --dry-run refuses it just the same.
    assert_code(&test.run(&["init", "items", "--dry-run"]), 2);
}

#[test]
fn a_file_in_the_way_is_refused() {
    let test = CliTest::new();
    test.write_file("items", "a file");
    let output = test.run(&["init", "items", "--force"]);
    assert_code(&output, 2);
    assert!(
        stderr(&output).contains("exists and is not a folder"),
        "{}",
        stderr(&output)
    );
    assert_eq!(test.read_file("items"), "a file");
}

#[test]
fn an_empty_folder_is_used() {
    let test = CliTest::new();
    std::fs::create_dir(test.path("items")).unwrap();
    assert_code(&test.run(&["init", "items"]), 0);
    assert!(!test.files("items").is_empty());
}

#[test]
fn force_overwrites_only_generated_files_and_keeps_the_users() {
    let test = CliTest::new();
    assert_code(&test.run(&["init", "items", "--dir", "reference"]), 0);
    assert_code(&test.run(&["init", "items"]), 0);
    test.write_file("items/sandbox/sql/system.sql", "-- edited by hand\n");
    std::fs::remove_file(test.path("items/sandbox/sql/statements.sql")).unwrap();
    test.write_file("items/NOTES.md", "my notes\n");
    test.write_file("items/sandbox/sql/custom.sql", "SELECT 1;\n");

    // The edited file is a conflict (hostile::files has those tests); the second flag takes it.
    assert_code(&test.run(&["init", "items", "--force"]), 2);
    let output = test.run(&["init", "items", "--force", "--overwrite-edits"]);
    assert_code(&output, 0);
    let out = stdout(&output);
    let marks: BTreeMap<String, String> = tree_files(&out).into_iter().collect();
    assert_eq!(marks["system.sql"], "(update)", "{out}");
    assert_eq!(
        marks["statements.sql"], "(new)",
        "a deleted generated file is created again: {out}"
    );
    assert_eq!(marks.len(), 2, "only what changed is listed: {out}");
    assert!(
        out.contains("(1 new, 1 updated (1 of them overwriting an edit), "),
        "{out}"
    );

    // Every generated file is as a fresh init writes it; the user's files are still there.
    let mut after = contents(&test, "items");
    assert_eq!(after.remove("NOTES.md").as_deref(), Some("my notes\n"));
    assert_eq!(
        after.remove("sandbox/sql/custom.sql").as_deref(),
        Some("SELECT 1;\n")
    );
    assert_eq!(after, contents(&test, "reference"));
}

#[test]
fn force_on_an_unchanged_tree_reports_every_file_unchanged_and_rewrites_none() {
    let test = CliTest::new();
    assert_code(&test.run(&["init", "items"]), 0);
    let inodes = |test: &CliTest| -> Vec<u64> {
        test.files("items")
            .iter()
            .map(|f| std::fs::metadata(test.path("items").join(f)).unwrap().ino())
            .collect()
    };
    let before = inodes(&test);

    let output = test.run(&["init", "items", "--force"]);
    assert_code(&output, 0);
    let out = stdout(&output);
    assert!(
        out.starts_with(&format!(
            "Nothing to do: the `items` sandbox in items is as modkit renders it ({} files).",
            before.len()
        )),
        "{out}"
    );
    // Files are replaced by rename when written, so an untouched file keeps its inode.
    assert_eq!(inodes(&test), before);
}

#[test]
fn dry_run_prints_the_tree_and_writes_nothing() {
    let test = CliTest::new();
    let dry = test.run(&["init", "items", "--dry-run"]);
    assert_code(&dry, 0);
    assert_eq!(
        std::fs::read_dir(test.root()).unwrap().count(),
        0,
        "nothing written"
    );
    let dry_out = stdout(&dry);
    assert!(dry_out.contains("Nothing was written (--dry-run)."), "{dry_out}");

    let real = test.run(&["init", "items"]);
    assert_code(&real, 0);
    let count = test.files("items").len();
    assert!(
        dry_out.starts_with(&format!(
            "Would change items ({count} new, 0 updated, 0 conflicting, 0 unchanged):"
        )),
        "{dry_out}"
    );
    let names = |out: &str| -> Vec<String> { tree_files(out).into_iter().map(|(name, _)| name).collect() };
    assert_eq!(
        names(&dry_out),
        names(&stdout(&real)),
        "the dry run lists what a run writes"
    );
    assert!(
        tree_files(&dry_out).iter().all(|(_, mark)| mark == "(new)"),
        "{dry_out}"
    );

    // With --force over an edited tree: the plan shows the conflict, the file stays edited.
    test.write_file("items/sandbox/sql/system.sql", "-- edited\n");
    let dry = test.run(&["init", "items", "--force", "--dry-run"]);
    assert_code(&dry, 0);
    assert!(
        stdout(&dry).contains("system.sql  (conflict: edited since modkit init wrote it)"),
        "{}",
        stdout(&dry)
    );
    assert_eq!(test.read_file("items/sandbox/sql/system.sql"), "-- edited\n");
}

#[test]
fn dir_puts_the_sandbox_where_asked() {
    let test = CliTest::new();
    let output = test.run(&["init", "items", "--dir", "sandboxes/my items"]);
    assert_code(&output, 0);
    assert!(!test.path("items").exists());
    assert!(!test.files("sandboxes/my items").is_empty());
    assert!(
        stdout(&output).contains("cd 'sandboxes/my items' && npm install"),
        "{}",
        stdout(&output)
    );

    let absolute = test.path("abs");
    let output = test.run(&["init", "items", "--dir", absolute.to_str().unwrap()]);
    assert_code(&output, 0);
    assert_eq!(contents(&test, "abs"), contents(&test, "sandboxes/my items"));
}

#[test]
fn name_sets_the_display_name() {
    let test = CliTest::new();
    assert_code(&test.run(&["init", "order-lines", "--name", "Order lines"]), 0);
    assert_code(&test.run(&["init", "order-lines", "--dir", "default"]), 0);
    let named: toml::Table = test.read_file("order-lines/modkit.toml").parse().unwrap();
    let default: toml::Table = test.read_file("default/modkit.toml").parse().unwrap();
    assert_eq!(named["module"]["id"].as_str(), Some("order-lines"));
    assert_eq!(named["module"]["name"].as_str(), Some("Order lines"));
    assert_eq!(default["module"]["name"].as_str(), Some("Order Lines"));
}

#[test]
fn works_from_any_folder_with_no_files_beside_it() {
    let test = CliTest::new();
    assert_code(&test.run(&["init", "items", "--dir", "reference"]), 0);
    // A copy of the binary alone in a folder, run from another folder.
    let lonely = test.path("bin/modkit");
    std::fs::create_dir_all(lonely.parent().unwrap()).unwrap();
    std::fs::copy(crate::support::bin(), &lonely).unwrap();
    std::fs::create_dir(test.path("elsewhere")).unwrap();
    let output = test
        .clean_command(&lonely)
        .current_dir(test.path("elsewhere"))
        .args(["init", "items", "--dir", "../out"])
        .output()
        .unwrap();
    assert_code(&output, 0);
    assert_eq!(contents(&test, "out"), contents(&test, "reference"));
}

#[test]
fn every_template_renders_for_items_and_order_lines() {
    let test = CliTest::new();
    for id in ["items", "order-lines"] {
        assert_code(&test.run(&["init", id, "--dry-run"]), 0);
        assert_code(&test.run(&["init", id]), 0);
        let files = contents(&test, id);
        assert!(
            files.contains_key("package.json") && files.contains_key("modkit.toml"),
            "{id}: {files:?}"
        );
        for (path, text) in &files {
            for marker in [
                "{%",
                "%}",
                "{#",
                "#}",
                "{{ module",
                "{{ table",
                "{{ resource",
                "{{ const_name",
            ] {
                assert!(
                    !text.contains(marker),
                    "{id}/{path}: unrendered template syntax `{marker}`"
                );
            }
            if path.ends_with(".json") {
                // package.json is strict JSON (npm); tsconfig*.json may have comments.
                if path.ends_with("package.json") {
                    serde_json::from_str::<serde_json::Value>(text)
                        .unwrap_or_else(|e| panic!("{id}/{path}: {e}"));
                } else {
                    parse_jsonc(text).unwrap_or_else(|e| panic!("{id}/{path}: {e}"));
                }
            }
            if path.ends_with(".toml") {
                text.parse::<toml::Table>()
                    .unwrap_or_else(|e| panic!("{id}/{path}: {e}"));
            }
            // The shared bootstrap SQL is copied verbatim, not rendered for the module.
            if id == "order-lines" && !path.starts_with("sandbox/sql/") {
                // A template that names `items` itself instead of using the module id.
                for hard_coded in [
                    "/items",
                    "items.read",
                    "items.create",
                    "items.update",
                    "items.delete",
                ] {
                    assert!(
                        !text.contains(hard_coded),
                        "{id}/{path}: hard-coded `{hard_coded}`"
                    );
                }
            }
        }
        let package: serde_json::Value = serde_json::from_str(&files["package.json"]).unwrap();
        assert!(
            package["name"].as_str().unwrap_or_default().contains(id),
            "{id}: package name {}",
            package["name"]
        );
    }
}

#[test]
fn a_symlinked_folder_inside_the_target_is_not_followed() {
    let test = CliTest::new();
    assert_code(&test.run(&["init", "items"]), 0);
    std::fs::remove_dir_all(test.path("items/sandbox")).unwrap();
    std::fs::create_dir(test.path("outside")).unwrap();
    std::os::unix::fs::symlink("../outside", test.path("items/sandbox")).unwrap();
    let before = contents(&test, "items");

    let output = test.run(&["init", "items", "--force"]);
    assert_code(&output, 2);
    assert!(
        stderr(&output).contains("is a symbolic link"),
        "{}",
        stderr(&output)
    );
    assert!(
        test.files("outside").is_empty(),
        "nothing written through the link: {:?}",
        test.files("outside")
    );
    assert_eq!(
        contents(&test, "items"),
        before,
        "a failed run writes no file at all"
    );
}

#[test]
fn output_has_no_ansi_escapes_without_a_terminal_or_with_no_color() {
    let test = CliTest::new();
    for args in [
        &["init", "items", "--dry-run"][..],
        &["init", "Bad"],
        &["init", "--help"],
    ] {
        for no_color in [true, false] {
            let mut cmd = test.command();
            if !no_color {
                cmd.env_remove("NO_COLOR");
            }
            let output = cmd.args(args).output().unwrap();
            assert!(
                !output.stdout.contains(&0x1b) && !output.stderr.contains(&0x1b),
                "{args:?}: {}",
                transcript(&output)
            );
        }
    }
}

#[test]
fn colour_on_a_terminal_only_without_no_color() {
    let test = CliTest::new();
    // util-linux `script` gives the command a pseudo-terminal.
    let on_tty = |no_color: bool| {
        let mut cmd = test.clean_command("script");
        cmd.args([
            "-qec",
            &format!("'{}' init Bad", crate::support::bin().display()),
            "/dev/null",
        ]);
        if !no_color {
            cmd.env_remove("NO_COLOR");
        }
        cmd.stdin(std::process::Stdio::null())
            .output()
            .expect("util-linux `script` is installed")
    };
    let plain = on_tty(true);
    assert!(
        String::from_utf8_lossy(&plain.stdout).contains("error: invalid module id"),
        "{}",
        transcript(&plain)
    );
    assert!(
        !plain.stdout.contains(&0x1b),
        "NO_COLOR=1 on a terminal: {}",
        transcript(&plain)
    );
    let coloured = on_tty(false);
    assert!(
        coloured.stdout.contains(&0x1b),
        "a terminal without NO_COLOR gets colour: {}",
        transcript(&coloured)
    );
}

#[test]
fn init_help_shows_the_options_and_examples() {
    let test = CliTest::new();
    assert_snapshot!(test.transcript(test.command().args(["init", "--help"])));
}

/// `modkit init --foundation`: the starter foundation, its record marked for `modkit upgrade`, which
/// finds a fresh one up to date; a re-run changes nothing.
#[test]
fn init_foundation_is_up_to_date_for_upgrade_and_a_rerun_changes_nothing() {
    let test = CliTest::new();
    let out = test.run(&["init", "platform", "--foundation", "--tenant", "acme"]);
    assert!(out.status.success(), "{}", crate::support::transcript(&out));
    assert!(crate::support::stdout(&out).contains("Wrote the `platform` foundation"));
    let record: serde_json::Value =
        serde_json::from_str(&test.read_file("platform/.modkit-init.json")).unwrap();
    assert_eq!(record["answers"]["foundation"], true, "{record:#}");
    assert!(
        test.read_file("platform/modkit.toml")
            .contains(r#"tenants = ["dev", "acme"]"#)
    );
    let upgrade = test.run(&["upgrade", "platform", "--check"]);
    assert_eq!(
        upgrade.status.code(),
        Some(0),
        "{}",
        crate::support::transcript(&upgrade)
    );
    assert!(
        crate::support::stdout(&upgrade).contains("The `platform` foundation in platform is up to date"),
        "{}",
        crate::support::transcript(&upgrade)
    );
    let again = test.run(&["init", "platform", "--foundation", "--tenant", "acme", "--force"]);
    assert!(
        crate::support::stdout(&again).contains("Nothing to do"),
        "{}",
        crate::support::transcript(&again)
    );
}

/// The relative imports of a TypeScript or JavaScript file: `from './x.js'`, `import './x.js'`,
/// `import('./x.js')` (a literal only), as paths relative to the rendered sandbox, `.js` read as
/// the `.ts` beside it when that is the file there.
fn relative_imports(files: &BTreeMap<String, String>, from: &str, text: &str) -> Vec<String> {
    let dir = std::path::Path::new(from)
        .parent()
        .unwrap_or(std::path::Path::new(""));
    let mut out = Vec::new();
    for quote in ['\'', '"'] {
        for marker in [
            format!("from {quote}."),
            format!("import {quote}."),
            format!("import({quote}."),
        ] {
            let mut rest = text;
            while let Some(at) = rest.find(&marker) {
                let start = at + marker.len() - 1;
                let tail = &rest[start..];
                let Some(end) = tail.find(quote) else { break };
                let spec = &tail[..end];
                rest = &tail[end..];
                let mut parts: Vec<String> = dir.iter().map(|p| p.to_string_lossy().into_owned()).collect();
                for seg in spec.split('/') {
                    match seg {
                        "." | "" => {}
                        ".." => {
                            parts.pop();
                        }
                        s => parts.push(s.to_string()),
                    }
                }
                let path = parts.join("/");
                let ts = path.strip_suffix(".js").map(|p| format!("{p}.ts"));
                match ts.filter(|t| files.contains_key(t)) {
                    Some(t) => out.push(t),
                    None if files.contains_key(&path) => out.push(path),
                    None => {}
                }
            }
        }
    }
    out
}

/// Issue 20: `sandbox/bootstrap.ts` and `sandbox/localdb.ts` imported each other, and with a
/// top-level `await` that deadlocked the first `npm run bootstrap` (exit 13). No file of the rendered
/// sandbox imports, through any chain, itself.
#[test]
fn the_rendered_sandbox_imports_no_circle() {
    let test = CliTest::new();
    assert_code(&test.run(&["init", "items"]), 0);
    let files: BTreeMap<String, String> = contents(&test, "items")
        .into_iter()
        .filter(|(f, _)| [".ts", ".mjs", ".tsx"].iter().any(|e| f.ends_with(e)))
        .collect();
    assert!(files.contains_key("sandbox/bootstrap.ts") && files.contains_key("sandbox/localdb.ts"));
    let graph: BTreeMap<&str, Vec<String>> = files
        .iter()
        .map(|(f, text)| (f.as_str(), relative_imports(&files, f, text)))
        .collect();
    assert!(
        graph["sandbox/bootstrap.ts"].contains(&"sandbox/localdb.ts".to_string()),
        "the import reader misses what bootstrap.ts imports: {graph:#?}"
    );
    // Depth-first search from every file; a file met again on the current path closes a circle.
    fn visit<'a>(
        graph: &'a BTreeMap<&str, Vec<String>>,
        file: &'a str,
        path: &mut Vec<&'a str>,
        done: &mut std::collections::BTreeSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| *p == file) {
            let mut circle: Vec<String> = path[at..].iter().map(|s| s.to_string()).collect();
            circle.push(file.to_string());
            return Some(circle);
        }
        if !done.insert(file) {
            return None;
        }
        path.push(file);
        for next in graph.get(file).into_iter().flatten() {
            if let Some(c) = visit(graph, next, path, done) {
                return Some(c);
            }
        }
        path.pop();
        None
    }
    let mut done = std::collections::BTreeSet::new();
    for file in graph.keys() {
        if let Some(circle) = visit(&graph, file, &mut Vec::new(), &mut done) {
            panic!("the sandbox's imports go round: {}", circle.join(" -> "));
        }
    }
}

/// `modkit migration new`: the next number after the highest (gaps stay gaps, 0001–0009 go on to
/// 0010), a header, the module's folder in a sandbox and, with --module, in a foundation; bad names
/// and places are refused with exit 2 and nothing written.
#[test]
fn migration_new_numbers_after_the_highest_and_finds_the_modules_folder() {
    let test = CliTest::new();
    assert_code(&test.run(&["init", "items"]), 0);
    let new = |args: &[&str]| {
        let mut all = vec!["migration", "new", "--project"];
        let project = test.path("items");
        let project = project.to_str().unwrap().to_string();
        all.push(&project);
        all.extend_from_slice(args);
        test.run(&all)
    };
    let out = new(&["Add Description"]);
    assert_code(&out, 0);
    assert!(
        stdout(&out).contains("created plugin/migrations/0002_add_description.sql"),
        "{}",
        transcript(&out)
    );
    let text = test.read_file("items/plugin/migrations/0002_add_description.sql");
    assert!(
        text.starts_with("-- items/0002_add_description.sql: add description\n"),
        "{text}"
    );
    // A gap, and 0009: the next is 0010.
    test.write_file("items/plugin/migrations/0009_later.sql", "SELECT 1;\n");
    assert_code(&new(&["sku"]), 0);
    assert!(test.path("items/plugin/migrations/0010_sku.sql").is_file());
    // Nothing to name it by: refused, nothing written.
    let before = test.files("items/plugin/migrations");
    let out = new(&["--", "--"]);
    assert_code(&out, 2);
    assert!(
        stderr(&out).contains("is not a migration name"),
        "{}",
        transcript(&out)
    );
    assert_eq!(test.files("items/plugin/migrations"), before);

    // A foundation: the module's own migrations folder.
    test.copy_fixture("foundation", "app");
    std::fs::create_dir_all(test.path("app/src/modules/orders/migrations")).unwrap();
    test.write_file("app/src/modules/orders/migrations/0001_init.sql", "SELECT 1;\n");
    let app = test.path("app");
    let out = test.run(&[
        "migration",
        "new",
        "--project",
        app.to_str().unwrap(),
        "--module",
        "orders",
        "add_total",
    ]);
    assert_code(&out, 0);
    assert!(
        test.path("app/src/modules/orders/migrations/0002_add_total.sql")
            .is_file(),
        "{}",
        transcript(&out)
    );
    let out = test.run(&[
        "migration",
        "new",
        "--project",
        app.to_str().unwrap(),
        "--module",
        "nope",
        "x",
    ]);
    assert_code(&out, 2);
    assert!(
        stderr(&out).contains("there is no module `nope`"),
        "{}",
        transcript(&out)
    );
    let out = test.run(&["migration", "new", "--project", app.to_str().unwrap(), "x"]);
    assert_code(&out, 2);
}
