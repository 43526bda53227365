//! The module's code and what adapt generates pass the strictest tsconfig (`strict`,
//! `exactOptionalPropertyTypes`, `noPropertyAccessFromIndexSignature`, `noUncheckedIndexedAccess`,
//! `verbatimModuleSyntax`, unused locals and parameters) and the recommended rules of ESLint with
//! typescript-eslint and of Biome, run as real tools on the adapted fixture foundation. The linters
//! are installed once per run beside the shared sandbox.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::foundation::{Variant, adapt, foundation};
use super::sandbox::{command, output, run_ok, sandbox, stdout, timed};
use crate::support::bin;
use crate::support::transcript;

/// eslint, @eslint/js, typescript-eslint, @biomejs/biome and prettier, installed once per test process.
fn linters() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = sandbox().root.join("linters");
        fs::create_dir_all(&dir).unwrap();
        fs::write(
            dir.join("package.json"),
            r#"{ "name": "linters", "private": true }"#,
        )
        .unwrap();
        timed(
            "npm install eslint typescript-eslint @biomejs/biome prettier (once)",
            || {
                run_ok(command("npm", &dir).args([
                    "install",
                    "--no-audit",
                    "--no-fund",
                    "eslint",
                    "@eslint/js",
                    "typescript-eslint",
                    "@biomejs/biome",
                    "prettier",
                ]));
            },
        );
        dir
    })
}

const STRICT: &str = r#"{
  "extends": "./tsconfig.json",
  "compilerOptions": {
    "strict": true,
    "exactOptionalPropertyTypes": true,
    "noPropertyAccessFromIndexSignature": true,
    "noUncheckedIndexedAccess": true,
    VERBATIM
    "noImplicitOverride": true,
    "noImplicitReturns": true,
    "noFallthroughCasesInSwitch": true,
    "noUnusedLocals": true,
    "noUnusedParameters": true
  },
  "include": ["src/modules/items"]
}
"#;

#[test]
fn the_module_and_its_adapter_pass_the_strictest_tsconfig_eslint_and_biome() {
    let tools = linters();
    for variant in [Variant::Esm, Variant::Cjs] {
        let dir = foundation(variant, "strict");
        adapt(&dir);
        // CommonJS with verbatimModuleSyntax is refused by adapt itself (TS1286/TS1287).
        let verbatim = match variant {
            Variant::Cjs => "",
            _ => r#""verbatimModuleSyntax": true,"#,
        };
        fs::write(
            dir.join("tsconfig.strict.json"),
            STRICT.replace("VERBATIM", verbatim),
        )
        .unwrap();
        let out = timed("tsc strictest (adapted module)", || {
            output(command(dir.join("node_modules/.bin/tsc"), &dir).args([
                "--noEmit",
                "--pretty",
                "false",
                "-p",
                "tsconfig.strict.json",
            ]))
        });
        assert!(
            out.status.success(),
            "{variant:?}: strict tsc:\n{}",
            transcript(&out)
        );

        // The config loads the linters from their own folder (the foundation's node_modules is
        // the sandbox's, which has none).
        fs::write(
            dir.join("eslint.config.mjs"),
            format!(
                "import {{ createRequire }} from 'node:module';\n\
                 const require = createRequire({:?});\n\
                 const js = require('@eslint/js');\n\
                 const tseslint = require('typescript-eslint');\n\
                 export default tseslint.config(js.configs.recommended, tseslint.configs.recommended);\n",
                tools.join("package.json").display().to_string()
            ),
        )
        .unwrap();
        let out = timed("eslint recommended (adapted module)", || {
            output(command(tools.join("node_modules/.bin/eslint"), &dir).args([
                "--max-warnings",
                "0",
                "src/modules/items",
            ]))
        });
        assert!(out.status.success(), "{variant:?}: eslint:\n{}", transcript(&out));
        let out = timed("biome lint (adapted module)", || {
            output(command(tools.join("node_modules/.bin/biome"), &dir).args([
                "lint",
                "--error-on-warnings",
                "src/modules/items",
            ]))
        });
        // Not even an info-level finding (useLiteralKeys is one).
        assert!(
            out.status.success() && !transcript(&out).contains(" lint/"),
            "{variant:?}: biome:\n{}",
            transcript(&out)
        );
    }
}

/// The tools do see what the rules forbid: the old `req.params.id` fails the strict tsc (TS4111),
/// `req.params['id']` Biome's useLiteralKeys.
#[test]
fn the_strict_checks_catch_an_index_signature_read() {
    let tools = linters();
    let dir = foundation(Variant::Esm, "strict-control");
    adapt(&dir);
    fs::write(
        dir.join("tsconfig.strict.json"),
        STRICT.replace("VERBATIM", r#""verbatimModuleSyntax": true,"#),
    )
    .unwrap();
    let index = dir.join("src/modules/items/plugin/index.ts");
    let text = fs::read_to_string(&index).unwrap();
    let from = "const { id } = req.params;";
    assert!(text.contains(from));
    fs::write(&index, text.replace(from, "const id = req.params.id;")).unwrap();
    let out = output(command(dir.join("node_modules/.bin/tsc"), &dir).args([
        "--noEmit",
        "--pretty",
        "false",
        "-p",
        "tsconfig.strict.json",
    ]));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("error TS4111"),
        "{}",
        transcript(&out)
    );
    fs::write(&index, text.replace(from, "const id = req.params['id'];")).unwrap();
    let out =
        output(command(tools.join("node_modules/.bin/biome"), &dir).args(["lint", "src/modules/items"]));
    assert!(
        transcript(&out).contains("lint/complexity/useLiteralKeys"),
        "{}",
        transcript(&out)
    );
}

/// The module's files under src/modules/items, with their bytes.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.join("src/modules/items")];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push((path.clone(), fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn adapt_output(dir: &Path) -> std::process::Output {
    output(
        command(bin(), dir)
            .args(["adapt", "items", "--foundation", "."])
            .arg("--from")
            .arg(&sandbox().dir),
    )
}

/// After the foundation's own formatter (Biome, Prettier) rewrites the module's files, adapt is
/// not refused: the files are modkit's in another layout, left as they are and recorded; the next
/// run has nothing to do; a real edit after formatting is still refused.
#[test]
fn a_formatter_run_over_the_module_is_not_an_edit() {
    let tools = linters();
    let formatters: [(&str, &[&str]); 2] = [
        ("biome", &["format", "--write", "src/modules/items"]),
        ("prettier", &["--write", "src/modules/items"]),
    ];
    for (name, args) in formatters {
        let dir = foundation(Variant::Esm, &format!("format-{name}"));
        adapt(&dir);
        let before = snapshot(&dir);
        let out = output(command(tools.join("node_modules/.bin").join(name), &dir).args(args));
        assert!(out.status.success(), "{name}:\n{}", transcript(&out));
        let formatted = snapshot(&dir);
        assert_ne!(
            before, formatted,
            "{name} changed nothing: the test would prove nothing"
        );

        let out = adapt_output(&dir);
        assert!(
            out.status.success(),
            "{name}: adapt after formatting:\n{}",
            transcript(&out)
        );
        assert!(
            !stdout(&out).contains(".ts  (overwrite)"),
            "{name}:\n{}",
            stdout(&out)
        );
        // The formatted files are kept (only the record changed).
        let after: Vec<_> = snapshot(&dir)
            .into_iter()
            .filter(|(p, _)| !p.ends_with(".modkit-adapt.json"))
            .collect();
        let formatted: Vec<_> = formatted
            .into_iter()
            .filter(|(p, _)| !p.ends_with(".modkit-adapt.json"))
            .collect();
        assert_eq!(after, formatted, "{name}: adapt undid the formatting");
        let out = adapt_output(&dir);
        assert!(
            stdout(&out).contains("Nothing to do"),
            "{name}: the second run:\n{}",
            transcript(&out)
        );

        let adapter = dir.join("src/modules/items/server/routes/index.ts");
        let text = fs::read_to_string(&adapter).unwrap();
        fs::write(&adapter, text.replace("Router()", "Router({ strict: true })")).unwrap();
        let out = adapt_output(&dir);
        assert!(
            out.status.code() == Some(2) && transcript(&out).contains("edited since modkit adapt wrote it"),
            "{name}: a real edit:\n{}",
            transcript(&out)
        );
    }
}

/// The foundation's node_modules as a folder: the sandbox's packages, plus `.bin/<formatter>`.
fn with_formatter(dir: &Path, name: &str) {
    let modules = dir.join("node_modules");
    fs::remove_file(&modules).unwrap();
    fs::create_dir_all(modules.join(".bin")).unwrap();
    let shared = sandbox().dir.join("node_modules");
    for entry in fs::read_dir(&shared).unwrap().flatten() {
        if entry.file_name() != ".bin" {
            std::os::unix::fs::symlink(entry.path(), modules.join(entry.file_name())).unwrap();
        }
    }
    for tool in ["tsc", name] {
        let from = if tool == "tsc" {
            shared.join(".bin/tsc")
        } else {
            linters().join("node_modules/.bin").join(tool)
        };
        std::os::unix::fs::symlink(from, modules.join(".bin").join(tool)).unwrap();
    }
}

/// A foundation with Biome or Prettier in its node_modules gets the module's TypeScript formatted
/// by it, the record holds the formatted hashes (the next run has nothing to do), and the
/// formatted code still type-checks.
#[test]
fn adapt_formats_what_it_writes_with_the_foundations_formatter() {
    for name in ["biome", "prettier"] {
        let dir = foundation(Variant::Esm, &format!("formats-{name}"));
        with_formatter(&dir, name);
        let out = adapt_output(&dir);
        assert!(
            out.status.success() && stdout(&out).contains(&format!("with the foundation's {name}")),
            "{name}:\n{}",
            transcript(&out)
        );
        let adapter = fs::read_to_string(dir.join("src/modules/items/server/routes/index.ts")).unwrap();
        assert!(
            adapter.contains(r#"from "express";"#),
            "{name} did not format:\n{adapter}"
        );
        let out = adapt_output(&dir);
        assert!(
            stdout(&out).contains("Nothing to do"),
            "{name}: the second run:\n{}",
            transcript(&out)
        );
        let out =
            output(command(dir.join("node_modules/.bin/tsc"), &dir).args(["--noEmit", "--pretty", "false"]));
        assert!(out.status.success(), "{name}: {}", transcript(&out));
    }
}

/// After adapt formatted its files with the foundation's formatter, the user's own run of that
/// formatter over the module (`biome format --write`, `prettier --write`) changes nothing adapt
/// then rewrites: not the record, which Biome reformats as JSON (tabs), nor a file Prettier formats
/// differently on a second pass (it is not idempotent on the module's long `res.status().json()`
/// chains). On the old code both made the next adapt rewrite the record, every time (found on the
/// real apps of e2e::real_apps).
#[test]
fn the_foundations_formatter_run_again_after_adapt_leaves_adapt_nothing_to_do() {
    for (name, args) in [
        ("biome", &["format", "--write"][..]),
        ("prettier", &["--write", "--log-level", "warn"][..]),
    ] {
        let dir = foundation(Variant::Esm, &format!("reformat-{name}"));
        with_formatter(&dir, name);
        let out = adapt_output(&dir);
        assert!(out.status.success(), "{name}: adapt:\n{}", transcript(&out));
        let out = output(
            command(dir.join("node_modules/.bin").join(name), &dir)
                .args(args)
                .args(["src/modules/items", "migrations/items"]),
        );
        assert!(out.status.success(), "{name}:\n{}", transcript(&out));
        let before = snapshot(&dir);
        let out = adapt_output(&dir);
        assert!(
            stdout(&out).contains("Nothing to do"),
            "{name}: adapt after the formatter:\n{}",
            transcript(&out)
        );
        assert_eq!(snapshot(&dir), before, "{name}: adapt rewrote a file");
    }
}
