//! The adapter follows the tsconfig that really compiles the foundation's server. In an Nx-style
//! layout the root tsconfig.json is a solution file (`files: []`, `references`) saying `esnext`,
//! while the app compiles as CommonJS from tsconfig.app.json: modkit follows the reference, writes
//! the CommonJS adapter (no top-level await) and prints `tsc -p tsconfig.app.json`, which the real
//! TypeScript then passes. Pointing `[foundation] tsconfig` at the solution file instead shows
//! what reading only the root file did: a top-level await the app's real build refuses.

use std::fs;
use std::path::Path;

use super::foundation::{Variant, foundation};
use super::sandbox::{command, output, run_ok, sandbox, stdout, timed};
use crate::support::{bin, transcript};

fn nx_layout(dir: &Path) {
    fs::rename(dir.join("tsconfig.json"), dir.join("tsconfig.app.json")).unwrap();
    fs::write(
        dir.join("tsconfig.json"),
        r#"{
  // A solution file, as Nx writes it: it compiles nothing itself.
  "files": [],
  "compilerOptions": { "module": "esnext", "moduleResolution": "bundler" },
  "references": [{ "path": "./tsconfig.app.json" }, { "path": "./tsconfig.spec.json" }]
}
"#,
    )
    .unwrap();
    fs::write(
        dir.join("tsconfig.spec.json"),
        r#"{ "extends": "./tsconfig.base.json", "compilerOptions": { "module": "esnext", "moduleResolution": "bundler" }, "include": ["src/**/*.spec.ts"] }
"#,
    )
    .unwrap();
}

fn adapt(dir: &Path) -> String {
    let out = run_ok(
        command(bin(), dir)
            .args(["adapt", "items", "--foundation", "."])
            .arg("--from")
            .arg(&sandbox().dir),
    );
    stdout(&out)
}

fn tsc_app(dir: &Path) -> std::process::Output {
    timed("tsc -p tsconfig.app.json (nx layout)", || {
        output(command(dir.join("node_modules/.bin/tsc"), dir).args([
            "--noEmit",
            "--pretty",
            "false",
            "-p",
            "tsconfig.app.json",
        ]))
    })
}

#[test]
fn a_solution_tsconfig_is_followed_to_the_project_that_compiles_the_server() {
    let dir = foundation(Variant::Cjs, "nx");
    nx_layout(&dir);
    let said = adapt(&dir);
    assert!(
        said.contains("tsconfig.app.json: module nodenext")
            && said.contains("npx tsc --noEmit -p tsconfig.app.json"),
        "{said}"
    );
    let adapter = fs::read_to_string(dir.join("src/modules/items/server/routes/index.ts")).unwrap();
    assert!(adapter.contains("export const ready"), "{adapter}");
    let out = tsc_app(&dir);
    assert!(out.status.success(), "{}", transcript(&out));

    // Told to read the solution file, as modkit did before: a top-level await the app refuses.
    let dir = foundation(Variant::Cjs, "nx-root");
    nx_layout(&dir);
    let toml = dir.join("modkit.toml");
    let text = fs::read_to_string(&toml).unwrap();
    fs::write(
        &toml,
        text.replace("[foundation]\n", "[foundation]\ntsconfig = \"tsconfig.json\"\n"),
    )
    .unwrap();
    let said = adapt(&dir);
    assert!(said.contains("npx tsc --noEmit &&"), "{said}");
    let out = tsc_app(&dir);
    assert!(
        !out.status.success() && stdout(&out).contains("error TS1309"),
        "{}",
        transcript(&out)
    );
}

/// Every file under `src/` but dot-files, as tsup's `entry: ["src"]` hands them to esbuild.
fn esbuild_src(dir: &Path) -> std::process::Output {
    let mut files = Vec::new();
    let mut stack = vec![dir.join("src")];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            // Globs skip dot-files (the fixture's src/modules/.gitkeep).
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    output(
        command(dir.join("node_modules/.bin/esbuild"), dir)
            .args(&files)
            .args([
                "--outdir=dist",
                "--platform=node",
                "--format=esm",
                "--log-level=error",
            ]),
    )
}

/// The migrations are kept out of `src/`: a build of every file there (tsup `entry: ["src"]`,
/// esbuild) passes; with them in `src/modules/items/migrations/`, where adapt wrote them before,
/// it fails on the first `.sql` file.
#[test]
fn a_build_of_every_file_under_src_never_meets_a_migration() {
    let dir = foundation(Variant::Esm, "esbuild");
    adapt(&dir);
    assert!(
        dir.join("migrations/items/0001_create_module_table.sql")
            .is_file()
    );
    let out = esbuild_src(&dir);
    assert!(out.status.success(), "{}", transcript(&out));

    fs::rename(
        dir.join("migrations/items"),
        dir.join("src/modules/items/migrations"),
    )
    .unwrap();
    let out = esbuild_src(&dir);
    assert!(
        !out.status.success()
            && String::from_utf8_lossy(&out.stderr).contains("No loader is configured for \".sql\" files"),
        "{}",
        transcript(&out)
    );
}

/// An app's own `requirePermission` with a narrow permission type is not adopted (the adapter
/// failed the type-check with TS2345): adapt refuses with the wrapper to write, and that wrapper,
/// written as the hint says and named in modkit.toml, type-checks with the adapted module.
#[test]
fn a_narrow_require_permission_is_refused_with_a_wrapper_that_type_checks() {
    let dir = foundation(Variant::Esm, "narrow-rbac");
    let rbac = dir.join("src/lib/security/rbac.ts");
    let text = fs::read_to_string(&rbac).unwrap();
    fs::write(
        &rbac,
        text.replace(
            "export function requirePermission(permission: string): RequestHandler {",
            "export type Permission = `items.${'read' | 'create' | 'update' | 'delete'}` | 'admin';\n\
             export function requirePermission(permission: Permission): RequestHandler {",
        ),
    )
    .unwrap();
    let out = output(
        command(bin(), &dir)
            .args(["adapt", "items", "--foundation", "."])
            .arg("--from")
            .arg(&sandbox().dir),
    );
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        out.status.code() == Some(2)
            && said.contains("its permission parameter is `Permission`, narrower than the `string`"),
        "{}",
        transcript(&out)
    );
    assert!(
        !dir.join("src/modules/items").exists(),
        "a refused adapt wrote the module"
    );

    // The wrapper, exactly as the hint gives it.
    let start = said
        .find("import type { RequestHandler }")
        .expect("the hint's wrapper");
    let end = said[start..]
        .find("\n\nthen set")
        .expect("the end of the wrapper")
        + start;
    let wrapper: String = said[start..end]
        .lines()
        .map(|l| l.strip_prefix("  ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n");
    fs::write(
        dir.join("src/lib/security/module-rbac.ts"),
        format!("{wrapper}\n"),
    )
    .unwrap();
    let toml = dir.join("modkit.toml");
    let text = fs::read_to_string(&toml).unwrap();
    fs::write(
        &toml,
        text.replace(
            "[foundation]\n",
            "[foundation]\nrbac = \"src/lib/security/module-rbac.ts\"\n",
        ),
    )
    .unwrap();
    adapt(&dir);
    let out =
        output(command(dir.join("node_modules/.bin/tsc"), &dir).args(["--noEmit", "--pretty", "false"]));
    assert!(out.status.success(), "{}", transcript(&out));
}
