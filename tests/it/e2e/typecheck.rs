//! `tsc --noEmit` on generated sandboxes: zero errors with the pinned TypeScript (`npm run typecheck`)
//! and with `typescript@latest`, for `items` and for a hyphenated id, `order-lines`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::sandbox::{command, output, render, run_ok, sandbox, stdout, timed};
use crate::support::transcript;

/// Every TypeScript file of the project that tsconfig.json includes.
fn project_sources(dir: &Path) -> BTreeSet<PathBuf> {
    fn walk(dir: &Path, out: &mut BTreeSet<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "ts") {
                out.insert(path);
            }
        }
    }
    let mut out = BTreeSet::new();
    for sub in ["plugin", "sandbox", "client", "tests"] {
        walk(&dir.join(sub), &mut out);
    }
    out.insert(dir.join("vite.config.ts"));
    out
}

/// tsc ran with `--listFiles`: exit 0, no diagnostic, and every project file was checked.
fn assert_clean(what: &str, out: &std::process::Output, sources: &BTreeSet<PathBuf>) {
    let text = stdout(out);
    assert!(out.status.success(), "{what}: tsc failed:\n{}", transcript(out));
    assert!(!text.contains("error TS"), "{what}: tsc reported errors:\n{text}");
    let listed: BTreeSet<PathBuf> = text
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with('/') && !l.contains("/node_modules/"))
        .map(PathBuf::from)
        .collect();
    let unchecked: Vec<_> = sources.difference(&listed).collect();
    assert!(
        unchecked.is_empty(),
        "{what}: tsc did not check {unchecked:?}; it listed {listed:?}"
    );
}

fn tsc_version(cmd: &mut std::process::Command) -> String {
    stdout(&run_ok(cmd)).trim().to_string()
}

#[test]
fn sandboxes_type_check_with_the_pinned_and_the_latest_typescript() {
    let sb = sandbox();
    // A second module id, rendered beside the first, on the same installed packages.
    let order_lines = render(&sb.root, "order-lines");
    std::os::unix::fs::symlink(sb.dir.join("node_modules"), order_lines.join("node_modules"))
        .expect("cannot link node_modules");

    let pinned = tsc_version(command(sb.dir.join("node_modules/.bin/tsc"), &sb.dir).arg("--version"));
    let latest =
        tsc_version(command("npx", &sb.dir).args(["--yes", "-p", "typescript@latest", "tsc", "--version"]));
    eprintln!("e2e: pinned TypeScript: {pinned}; typescript@latest: {latest}");

    for (module, dir) in [("items", sb.dir.clone()), ("order-lines", order_lines.clone())] {
        // The options, without the comments (which explain why there is no baseUrl).
        let tsconfig: String = std::fs::read_to_string(dir.join("tsconfig.json"))
            .unwrap()
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            !tsconfig.contains("baseUrl"),
            "{module}: tsconfig.json has a baseUrl: {tsconfig}"
        );
        assert!(
            tsconfig.contains("\"@client/*\": [\"./client/src/*\"]"),
            "{module}: {tsconfig}"
        );
        let main = std::fs::read_to_string(dir.join("client/src/main.ts")).unwrap();
        assert!(
            main.contains("from '@client/"),
            "{module}: the client does not import through @client/"
        );

        let sources = project_sources(&dir);
        let out = timed(&format!("tsc --noEmit, pinned ({module})"), || {
            output(command("npm", &dir).args(["run", "typecheck", "--", "--listFiles"]))
        });
        assert_clean(&format!("{module}, pinned {pinned}"), &out, &sources);
        let out = timed(&format!("tsc --noEmit, typescript@latest ({module})"), || {
            output(command("npx", &dir).args([
                "--yes",
                "-p",
                "typescript@latest",
                "tsc",
                "--noEmit",
                "--listFiles",
            ]))
        });
        assert_clean(&format!("{module}, latest {latest}"), &out, &sources);
    }

    // npm run dev's launcher is plain JavaScript (it starts before any TypeScript loader), typed with
    // JSDoc: checked too, with the same tsconfig.
    let out = output(command(sb.dir.join("node_modules/.bin/tsc"), &sb.dir).args([
        "--noEmit",
        "--allowJs",
        "--checkJs",
        "--listFiles",
    ]));
    let text = stdout(&out);
    assert!(
        out.status.success() && text.contains("/sandbox/dev.mjs"),
        "sandbox/dev.mjs does not type-check (or was not checked):\n{}",
        transcript(&out)
    );

    // The gate can fail: one type error in the module makes `npm run typecheck` exit non-zero.
    std::fs::write(
        order_lines.join("plugin/broken.ts"),
        "export const n: number = 'not a number';\n",
    )
    .unwrap();
    let out = output(command("npm", &order_lines).args(["run", "typecheck"]));
    let text = stdout(&out);
    assert!(
        !out.status.success() && text.contains("plugin/broken.ts") && text.contains("error TS2322"),
        "a type error went unnoticed:\n{}",
        transcript(&out)
    );
    std::fs::remove_file(order_lines.join("plugin/broken.ts")).unwrap();
}
