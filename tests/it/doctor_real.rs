//! `modkit doctor` on real open-source Express + TypeScript apps nobody here wrote
//! (tests/fixtures/real/, each with its SOURCE.md; the overlay that makes each a foundation in
//! tests/fixtures/real-overlays/). Before adoption, doctor reports exactly the true positives
//! listed below, each checked by hand; the focused tests after them are named after the false
//! positives doctor used to report (issue 16).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{CliTest, copy_dir, fixture, transcript};

type Found = Vec<(String, String, Option<u64>)>;

/// A corpus app copied into the test's folder with its overlay; the app's folder.
fn app(test: &CliTest, name: &str) -> PathBuf {
    let dir = test.copy_fixture(&format!("real/{name}"), name);
    let dir = if name == "ljlm0402-typescript-express-starter" {
        dir.join("lib/prisma")
    } else {
        dir
    };
    copy_dir(&fixture(&format!("real-overlays/{name}")), &dir);
    dir
}

/// The diagnostics of `modkit doctor <dir> --format json` (toolchain left out: node_modules is
/// not installed), sorted; and the exit code.
fn doctor(test: &CliTest, dir: &Path, extra: &[&str]) -> (i32, Found) {
    let out = test
        .command()
        .arg("doctor")
        .arg(dir)
        .args(["--ignore", "toolchain", "--format", "json"])
        .args(extra)
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", transcript(&out)));
    let mut list: Found = doc["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["code"].as_str().unwrap().to_string(),
                d["file"].as_str().unwrap_or_default().to_string(),
                d["line"].as_u64(),
            )
        })
        .collect();
    list.sort();
    (out.status.code().unwrap_or(-1), list)
}

fn f(code: &str, file: &str, line: u64) -> (String, String, Option<u64>) {
    (code.to_string(), file.to_string(), Some(line))
}

#[test]
fn every_corpus_app_shows_only_its_true_positives() {
    let test = CliTest::new();
    // Each remaining finding, checked by hand:
    // - nx: `~models/*` -> src/models/*: there is no src/models (a dead alias); body-parser is
    //   imported by src/middleware/body-parser.ts but not declared (express installs it);
    //   tsconfig-paths is imported by src/paths.ts but not declared (ts-node/jest install it).
    // - microsoft: src/controllers/user.ts imports `mongodb`, not declared (mongoose installs it).
    let expected: [(&str, Found); 7] = [
        ("edwinhern-express-typescript-2024", vec![]),
        ("rafaelfl-express5-ts-boilerplate", vec![]),
        ("penspulse326-express-ts-esm-template", vec![]),
        ("seanpmaxwell-express5-typescript-template", vec![]),
        ("ljlm0402-typescript-express-starter", vec![]),
        (
            "microsoft-TypeScript-Node-Starter",
            vec![f("dependency-undeclared", "src/controllers/user.ts", 8)],
        ),
        (
            "alanpcurrie-nx-express-zod-cypress-starter",
            vec![
                f("dependency-undeclared", "src/middleware/body-parser.ts", 1),
                f("dependency-undeclared", "src/paths.ts", 1),
                f("tsconfig-path-missing", "tsconfig.json", 20),
            ],
        ),
    ];
    for (name, want) in expected {
        let dir = app(&test, name);
        let (code, got) = doctor(&test, &dir, &[]);
        assert_eq!(got, want, "{name}");
        assert_eq!(code, if want.is_empty() { 0 } else { 1 }, "{name}");
    }
}

#[test]
fn base_url_is_fine_on_typescript_5() {
    let test = CliTest::new();
    // edwinhern: baseUrl "." with TypeScript 5.8.3; ljlm0402: baseUrl "src" with ^4.7.4.
    for name in [
        "edwinhern-express-typescript-2024",
        "ljlm0402-typescript-express-starter",
    ] {
        let dir = app(&test, name);
        let (_, got) = doctor(&test, &dir, &[]);
        assert!(
            !got.iter().any(|d| d.0.starts_with("tsconfig-base-url")),
            "{name}: {got:?}"
        );
    }
}

#[test]
fn base_url_is_an_error_on_7_and_on_6_unless_its_deprecation_is_silenced() {
    let test = CliTest::new();
    let dir = app(&test, "edwinhern-express-typescript-2024");
    let package = dir.join("package.json");
    let text = std::fs::read_to_string(&package).unwrap();
    let tsconfig = dir.join("tsconfig.json");
    let original = std::fs::read_to_string(&tsconfig).unwrap();
    let silenced = original.replace(
        "\"baseUrl\": \".\",",
        "\"baseUrl\": \".\", \"ignoreDeprecations\": \"6.0\",",
    );
    // TypeScript 6 fails on baseUrl (TS5101) unless `ignoreDeprecations: "6.0"`; 7 always (TS5102).
    for (version, config, code, exit) in [
        ("7.0.2", &original, "tsconfig-base-url", 1),
        ("7.0.2", &silenced, "tsconfig-base-url", 1),
        ("^6.0.0", &original, "tsconfig-base-url", 1),
        ("^6.0.0", &silenced, "tsconfig-base-url-deprecated", 0),
    ] {
        std::fs::write(
            &package,
            text.replace(
                "\"typescript\": \"5.8.3\"",
                &format!("\"typescript\": \"{version}\""),
            ),
        )
        .unwrap();
        std::fs::write(&tsconfig, config).unwrap();
        let (got_exit, got) = doctor(&test, &dir, &[]);
        assert_eq!(got, vec![f(code, "tsconfig.json", 5)], "{version}");
        assert_eq!(got_exit, exit, "{version}");
    }
    // The installed TypeScript decides over the declared range.
    std::fs::write(
        &package,
        text.replace("\"typescript\": \"5.8.3\"", "\"typescript\": \"7.0.2\""),
    )
    .unwrap();
    std::fs::write(&tsconfig, &original).unwrap();
    std::fs::create_dir_all(dir.join("node_modules/typescript")).unwrap();
    std::fs::write(
        dir.join("node_modules/typescript/package.json"),
        r#"{ "name": "typescript", "version": "5.9.2" }"#,
    )
    .unwrap();
    let (_, got) = doctor(&test, &dir, &[]);
    assert!(got.is_empty(), "{got:?}");
    // rafaelfl really declares TypeScript ^6.0.3: a baseUrl added there is an error.
    let dir = app(&test, "rafaelfl-express5-ts-boilerplate");
    let tsconfig = dir.join("tsconfig.json");
    let text = std::fs::read_to_string(&tsconfig).unwrap();
    std::fs::write(
        &tsconfig,
        text.replace("\"strict\": true,", "\"strict\": true,\n    \"baseUrl\": \".\","),
    )
    .unwrap();
    let (_, got) = doctor(&test, &dir, &[]);
    assert_eq!(got, vec![f("tsconfig-base-url", "tsconfig.json", 11)]);
}

#[test]
fn paths_resolve_against_base_url() {
    let test = CliTest::new();
    // ljlm0402: baseUrl "src", "@controllers/*": ["controllers/*"]: src/controllers exists. Doctor
    // used to resolve against the tsconfig's folder and report eight missing folders.
    let dir = app(&test, "ljlm0402-typescript-express-starter");
    let (_, got) = doctor(&test, &dir, &[]);
    assert!(!got.iter().any(|d| d.0 == "tsconfig-path-missing"), "{got:?}");
    // A target missing under baseUrl is still found.
    let tsconfig = dir.join("tsconfig.json");
    let text = std::fs::read_to_string(&tsconfig).unwrap();
    std::fs::write(&tsconfig, text.replace("[\"dtos/*\"]", "[\"dto/*\"]")).unwrap();
    let (_, got) = doctor(&test, &dir, &[]);
    assert_eq!(got, vec![f("tsconfig-path-missing", "tsconfig.json", 27)]);
}

#[test]
fn tests_and_configs_are_not_production() {
    let test = CliTest::new();
    // nx: `start` is `nx serve`, whose entry is project.json's src/main.ts; jest.config.ts
    // (ts-jest) and src/routes/exampleRoutes.test.ts (supertest) were production errors.
    // edwinhern: tsup's entry is `src`; its __tests__ (supertest) and vite.config.mts (vitest)
    // were production errors.
    for name in [
        "alanpcurrie-nx-express-zod-cypress-starter",
        "edwinhern-express-typescript-2024",
    ] {
        let dir = app(&test, name);
        let (_, got) = doctor(&test, &dir, &[]);
        assert!(
            !got.iter().any(|d| d.0 == "dependency-dev-only-in-production"),
            "{name}: {got:?}"
        );
    }
    // microsoft: `start` is `npm run serve`, `node dist/server.js`; copyStaticAssets.ts (shelljs) is
    // a build step, not the server.
    let dir = app(&test, "microsoft-TypeScript-Node-Starter");
    let (_, got) = doctor(&test, &dir, &[]);
    assert!(
        !got.iter().any(|d| d.0 == "dependency-dev-only-in-production"),
        "{got:?}"
    );
}

#[test]
fn a_devdependency_the_server_loads_is_still_found_through_an_alias() {
    let test = CliTest::new();
    // nx: src/main.ts imports `~src/app` (a paths alias), which loads `helmet`: as a devDependency
    // only, production would fail to start.
    let dir = app(&test, "alanpcurrie-nx-express-zod-cypress-starter");
    move_to_dev(&dir, "helmet");
    let (_, got) = doctor(&test, &dir, &[]);
    assert!(
        got.contains(&f("dependency-dev-only-in-production", "src/app.ts", 4)),
        "{got:?}"
    );
}

#[test]
fn a_built_dist_does_not_change_the_production_answer() {
    let test = CliTest::new();
    // A devDependency the server really loads: a true positive, whether dist/ (what `start` runs)
    // exists or not. ljlm0402: `start` runs `node dist/server.js` (outDir dist, rootDir inferred
    // src), src/server.ts reaches src/app.ts through the `@/*` alias; doctor used to follow the
    // built dist/server.js when it existed and lose the finding. microsoft: `start` is
    // `npm run serve`, `node dist/server.js`.
    for (name, package, want) in [
        (
            "ljlm0402-typescript-express-starter",
            "helmet",
            f("dependency-dev-only-in-production", "src/app.ts", 6),
        ),
        (
            "microsoft-TypeScript-Node-Starter",
            "express-session",
            f("dependency-dev-only-in-production", "src/app.ts", 3),
        ),
    ] {
        let dir = app(&test, name);
        move_to_dev(&dir, package);
        let (_, before) = doctor(&test, &dir, &[]);
        assert!(before.contains(&want), "{name}: {before:?}");
        std::fs::create_dir_all(dir.join("dist")).unwrap();
        std::fs::write(
            dir.join("dist/server.js"),
            "\"use strict\";\nrequire(\"./app\");\n",
        )
        .unwrap();
        std::fs::write(dir.join("dist/app.js"), "\"use strict\";\nmodule.exports = {};\n").unwrap();
        let (_, after) = doctor(&test, &dir, &[]);
        assert_eq!(after, before, "{name}");
    }
}

#[test]
fn a_client_folder_is_not_the_server() {
    let test = CliTest::new();
    // A Vite React client at the root (index.html, src/), the Express server in backend/ with its
    // own package.json: doctor checks backend/ (its devDependency loaded by the server is found)
    // and not the client (react, undeclared in backend/package.json, is not reported).
    test.write_file(
        "app/index.html",
        "<div id=root></div><script type=module src=/src/main.tsx></script>\n",
    );
    test.write_file(
        "app/package.json",
        r#"{ "dependencies": { "react": "^19.0.0" } }"#,
    );
    test.write_file(
        "app/src/main.tsx",
        "import { createRoot } from 'react-dom/client';\ncreateRoot(document.body);\n",
    );
    test.write_file(
        "app/backend/package.json",
        r#"{ "scripts": { "start": "node dist/server.js" }, "dependencies": { "express": "^5.1.0" }, "devDependencies": { "morgan": "^1.10.0", "typescript": "^5.8.3" } }"#,
    );
    test.write_file(
        "app/backend/tsconfig.json",
        r#"{ "compilerOptions": { "outDir": "dist", "rootDir": "src" } }"#,
    );
    test.write_file(
        "app/backend/src/server.ts",
        "import express from 'express';\nimport morgan from 'morgan';\nexpress().use(morgan('dev'));\n",
    );
    test.write_file("app/modkit.toml", "[foundation]\n");
    let (_, got) = doctor(&test, &test.path("app"), &[]);
    assert_eq!(
        got,
        vec![f("dependency-dev-only-in-production", "backend/src/server.ts", 2)]
    );
    // Or named: `[foundation] root`.
    test.write_file("app/modkit.toml", "[foundation]\nroot = \"backend\"\n");
    let (_, named) = doctor(&test, &test.path("app"), &[]);
    assert_eq!(named, got);
    // A folder outside the foundation, by `..` or through a link, is a usage error.
    std::fs::create_dir_all(test.path("elsewhere")).unwrap();
    std::os::unix::fs::symlink(test.path("elsewhere"), test.path("app/out")).unwrap();
    for root in ["../elsewhere", "out"] {
        test.write_file("app/modkit.toml", format!("[foundation]\nroot = \"{root}\"\n"));
        let out = test.command().args(["doctor", "app"]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{root}: {}", transcript(&out));
        assert!(
            crate::support::stderr(&out).contains("is not a folder inside"),
            "{root}: {}",
            transcript(&out)
        );
    }
}

#[test]
fn fix_then_typescripts_own_check_passes() {
    // The real `tsc` of each version (npx, cached in the shared npm cache), before and after
    // `--fix`, on a project with the corpus's shape of tsconfig: `baseUrl: "."` and a
    // non-relative `paths` target (edwinhern's `"@/*": ["src/*"]`).
    let test = CliTest::new();
    for (version, fails_before) in [("7.0.2", true), ("6.0.3", true), ("5.8.3", false)] {
        let dir = test.path(format!("ts{version}"));
        test.write_file(
            dir.join("package.json"),
            format!(r#"{{ "devDependencies": {{ "typescript": "{version}" }} }}"#),
        );
        test.write_file(
            dir.join("tsconfig.json"),
            "{\n  \"compilerOptions\": {\n    \"target\": \"es2022\",\n    \"module\": \"preserve\",\n    \"moduleResolution\": \"bundler\",\n    \"strict\": true,\n    \"noEmit\": true,\n    \"types\": [],\n    \"lib\": [\"es2022\"],\n    \"skipLibCheck\": true,\n    \"baseUrl\": \".\",\n    \"paths\": { \"@/*\": [\"src/*\"] }\n  },\n  \"include\": [\"src\"]\n}\n",
        );
        test.write_file(dir.join("src/lib/x.ts"), "export const x: number = 1;\n");
        test.write_file(
            dir.join("src/index.ts"),
            "import { x } from '@/lib/x';\nexport const y: number = x + 1;\n",
        );
        test.write_file(dir.join("modkit.toml"), "[foundation]\n");
        let before = tsc(&dir, version);
        assert_eq!(
            !before.status.success(),
            fails_before,
            "{version}: {}",
            transcript(&before)
        );
        let out = test
            .command()
            .args(["doctor", "--fix", "--ignore", "toolchain"])
            .arg(&dir)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{version}: {}", transcript(&out));
        let after = tsc(&dir, version);
        assert!(after.status.success(), "{version}: {}", transcript(&after));
        let tsconfig = std::fs::read_to_string(dir.join("tsconfig.json")).unwrap();
        if fails_before {
            assert!(
                !tsconfig.contains("baseUrl") && tsconfig.contains("\"./src/*\""),
                "{tsconfig}"
            );
        } else {
            // Valid on TypeScript 5: left as it was.
            assert!(
                tsconfig.contains("\"baseUrl\": \".\"") && tsconfig.contains("[\"src/*\"]"),
                "{tsconfig}"
            );
        }
    }
}

/// `modkit doctor --fix` on `dir`, the toolchain line left out (no `npm install` in these folders).
fn fix(test: &CliTest, dir: &Path) -> std::process::Output {
    test.command()
        .args(["doctor", "--fix", "--ignore", "toolchain"])
        .arg(dir)
        .output()
        .unwrap()
}

/// A TypeScript 6 project with the corpus's `baseUrl` + non-relative `paths`, for the --fix tests.
fn ts6_project(test: &CliTest, name: &str) -> std::path::PathBuf {
    let dir = test.path(name);
    test.write_file(
        dir.join("package.json"),
        r#"{ "devDependencies": { "typescript": "6.0.3" } }"#,
    );
    test.write_file(dir.join("src/lib/x.ts"), "export const x: number = 1;\n");
    test.write_file(
        dir.join("src/index.ts"),
        "import { x } from '@/lib/x';\nexport const y: number = x + 1;\n",
    );
    test.write_file(dir.join("modkit.toml"), "[foundation]\n");
    dir
}

const TS6_OPTIONS: &str = "\"target\": \"es2022\", \"module\": \"preserve\", \"moduleResolution\": \"bundler\", \"strict\": true, \"noEmit\": true, \"types\": [], \"lib\": [\"es2022\"], \"skipLibCheck\": true";

#[test]
fn fix_is_undone_when_typescripts_own_check_fails_after_it() {
    // A declaration file imports through `baseUrl` (doctor reads .ts sources, not .d.ts, so it
    // cannot see it): removing `baseUrl` breaks the type-check with an error the project did not
    // have. --fix must run the project's own tsc, see the new error, and put the file back.
    let test = CliTest::new();
    let dir = ts6_project(&test, "dts");
    // Declaration files checked (no skipLibCheck), as a project that writes its own has them.
    let options = TS6_OPTIONS.replace(", \"skipLibCheck\": true", "");
    let tsconfig = format!(
        "{{\n  \"compilerOptions\": {{ {options}, \"baseUrl\": \".\", \"paths\": {{ \"@/*\": [\"src/*\"] }} }},\n  \"include\": [\"src\"]\n}}\n"
    );
    test.write_file(dir.join("tsconfig.json"), &tsconfig);
    test.write_file(
        dir.join("src/types/globals.d.ts"),
        "import type { x } from 'src/lib/x';\ndeclare global { var seen: typeof x; }\nexport {};\n",
    );
    // The project's own TypeScript, where --fix finds it.
    let prefix = Path::new(env!("CARGO_TARGET_TMPDIR")).join("real-ts/6.0.3");
    let _ = tsc(&dir, "6.0.3");
    std::os::unix::fs::symlink(prefix.join("node_modules"), dir.join("node_modules")).unwrap();
    let before = tsc(&dir, "6.0.3");
    assert!(
        crate::support::stdout(&before).contains("TS5101"),
        "TypeScript 6 deprecates baseUrl: {}",
        transcript(&before)
    );
    let out = fix(&test, &dir);
    let text = crate::support::stdout(&out);
    assert!(
        text.contains("the fix was undone: TypeScript's own check fails after it") && text.contains("TS2307"),
        "{}",
        transcript(&out)
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("tsconfig.json")).unwrap(),
        tsconfig
    );
    let after = tsc(&dir, "6.0.3");
    assert_eq!(crate::support::stdout(&after), crate::support::stdout(&before));
}

#[test]
fn fix_keeps_base_url_when_the_paths_it_serves_live_in_node_modules() {
    // `paths` inherited from a shared tsconfig package, `baseUrl` in the project's own: the paths
    // cannot be rewritten (never inside node_modules), so removing baseUrl would leave them
    // non-relative (TS5090). Seen removing it before.
    let test = CliTest::new();
    let dir = ts6_project(&test, "inherited");
    test.write_file(
        dir.join("node_modules/@acme/tsconfig/base.json"),
        format!("{{ \"compilerOptions\": {{ {TS6_OPTIONS}, \"paths\": {{ \"@/*\": [\"src/*\"] }} }} }}\n"),
    );
    test.write_file(
        dir.join("node_modules/@acme/tsconfig/package.json"),
        r#"{ "name": "@acme/tsconfig", "version": "1.0.0" }"#,
    );
    let tsconfig = "{\n  \"extends\": \"@acme/tsconfig/base.json\",\n  \"compilerOptions\": { \"baseUrl\": \".\" },\n  \"include\": [\"src\"]\n}\n";
    test.write_file(dir.join("tsconfig.json"), tsconfig);
    let out = fix(&test, &dir);
    assert!(
        crate::support::stdout(&out).contains("`baseUrl` kept: the `paths` of"),
        "{}",
        transcript(&out)
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("tsconfig.json")).unwrap(),
        tsconfig
    );
}

#[test]
fn fix_keeps_base_url_the_code_imports_through() {
    // seanpmaxwell imports `spec/support` through `baseUrl: "./"` (no paths entry): removing it
    // would break the build, so --fix says why and leaves it.
    let test = CliTest::new();
    let dir = app(&test, "seanpmaxwell-express5-typescript-template");
    let package = dir.join("package.json");
    let text = std::fs::read_to_string(&package).unwrap();
    std::fs::write(
        &package,
        text.replace("\"typescript\": \"^5.6.2\"", "\"typescript\": \"^7.0.2\""),
    )
    .unwrap();
    let out = fix(&test, &dir);
    let text = crate::support::stdout(&out);
    assert!(
        text.contains("not fixed: `baseUrl` kept: the code imports `spec/"),
        "{}",
        transcript(&out)
    );
    assert!(
        std::fs::read_to_string(dir.join("tsconfig.json"))
            .unwrap()
            .contains("\"baseUrl\"")
    );
}

fn move_to_dev(dir: &Path, package: &str) {
    let path = dir.join("package.json");
    let mut json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let version = json["dependencies"][package].take();
    json["dependencies"].as_object_mut().unwrap().remove(package);
    json["devDependencies"][package] = version;
    std::fs::write(&path, serde_json::to_string_pretty(&json).unwrap()).unwrap();
}

/// `tsc -p tsconfig.json` of that TypeScript version: installed once (npm, the shared cache) under
/// target/tmp/real-ts/<version>, kept across runs, then run with node directly.
fn tsc(dir: &Path, version: &str) -> std::process::Output {
    let prefix = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("real-ts")
        .join(version);
    let installed = prefix.join("node_modules/typescript/package.json");
    let have =
        std::fs::read_to_string(&installed).is_ok_and(|t| t.contains(&format!("\"version\": \"{version}\"")));
    if !have {
        std::fs::create_dir_all(&prefix).unwrap();
        let out = Command::new("npm")
            .args(["install", "--no-save", "--no-audit", "--no-fund", "--prefix"])
            .arg(&prefix)
            .arg(format!("typescript@{version}"))
            .output()
            .unwrap_or_else(|e| panic!("npm is required (Node.js with npm): {e}"));
        assert!(
            out.status.success(),
            "npm install typescript@{version}: {}",
            transcript(&out)
        );
    }
    Command::new("node")
        .arg(prefix.join("node_modules/typescript/bin/tsc"))
        .args(["-p", "tsconfig.json"])
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("node is required: {e}"))
}
