//! `modkit adapt` end to end on real open-source Express + TypeScript apps nobody here wrote
//! (tests/fixtures/real/, each with its SOURCE.md), each made a foundation by a small documented
//! overlay (tests/fixtures/real-foundations/: docs/foundation.md's withTenantTx, requirePermission
//! and route loader, two lines in the app's server file, a modkit.toml section). For each app, on a
//! copy installed once with its own package.json (plus `pg`): doctor before adoption, adapt, the
//! app's own type-check with its real tsconfig, its own build, its own linter on modkit's files,
//! bootstrap and start it on the test's PostgreSQL (health, create, list, a 403, a route whose SQL
//! fails answering 5xx with the process alive), doctor clean, `doctor --fix` then the type-check
//! again, the app's formatter over modkit's files then adapt again rewriting nothing.
//!
//! The apps are started from their sources with tsx (their own dev command without its watcher):
//! the route loader imports each module's `.ts` files at run time, which a bundle of the app
//! (tsup, tsc's output) does not carry.

use std::fs;
use std::path::{Path, PathBuf};

use super::sandbox::{HEALTH, ITEMS, command, output, run_ok, sandbox, spawn_server, stdout, timed};
use crate::support::pg::TestDb;
use crate::support::{bin, copy_dir, fixture, http, transcript};

/// What differs from one app to the next: its folders, commands and tools.
struct App {
    /// The folder under tests/fixtures/real/ and tests/fixtures/real-foundations/.
    name: &'static str,
    /// The tsconfig its own type-check and build use.
    tsconfig: &'static str,
    /// The folder modkit's modules go to (`[foundation] modules_dir`).
    modules_dir: &'static str,
    /// The file its dev command runs.
    entry: &'static str,
    /// What its configuration needs in the environment besides PORT and DATABASE_URL.
    env: &'static [(&'static str, &'static str)],
    /// Its linter over a folder, from node_modules/.bin (None: the app has none).
    lint: Option<&'static [&'static str]>,
    /// Its formatter over a folder, from node_modules/.bin (None: the app has none).
    format: Option<&'static [&'static str]>,
    /// Packages the overlay adds besides `pg` and `@types/pg`.
    extra: &'static [&'static str],
    /// The environment its build needs.
    build_env: &'static [(&'static str, &'static str)],
    /// What doctor rightly finds in the app itself (`code file`), before and after adoption.
    true_positives: &'static [&'static str],
}

/// A copy of the app with its overlay, `npm install`ed (with `pg` and its types, which the
/// overlay's withTenantTx uses): once per test, in the e2e folder of this run.
fn install(app: &App) -> PathBuf {
    let dir = sandbox().root.join(format!("real-{}", app.name));
    let _ = fs::remove_dir_all(&dir);
    copy_dir(&fixture(&format!("real/{}", app.name)), &dir);
    copy_dir(&fixture("real-foundations/_common"), &dir);
    // docs/foundation.md's pg files, from the fixture they are the snippets of (one source): the pool
    // and withTenantTx verbatim, requirePermission with its imports beside it.
    let common = dir.join("src/foundation");
    for (from, to) in [
        ("foundation/src/lib/db/client.ts", "client.ts"),
        ("foundation/src/lib/db/tenant-db.ts", "tenant-db.ts"),
        ("foundation/src/lib/security/rbac.ts", "rbac.ts"),
    ] {
        let text = fs::read_to_string(fixture(from)).unwrap();
        fs::write(common.join(to), text.replace("'../db/", "'./")).unwrap();
    }
    copy_dir(&fixture(&format!("real-foundations/{}/overlay", app.name)), &dir);
    timed(&format!("npm install ({}, once)", app.name), || {
        run_ok(
            command("npm", &dir)
                .args([
                    "install",
                    "--no-audit",
                    "--no-fund",
                    "--ignore-scripts",
                    "pg@8",
                    "@types/pg@8",
                ])
                .args(app.extra),
        );
    });
    dir
}

/// `modkit doctor . --format json`: exit code, the diagnostics as `code file`, sorted, and the
/// transcript.
fn doctor(dir: &Path, extra: &[&str]) -> (Option<i32>, Vec<String>, String) {
    let out = output(
        command(bin(), dir)
            .args(["doctor", ".", "--format", "json"])
            .args(extra),
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("doctor: not JSON ({e}):\n{}", transcript(&out)));
    let mut found: Vec<String> = doc["diagnostics"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|d| {
                    let text = |k: &str| d[k].as_str().unwrap_or_default().to_string();
                    format!("{} {}", text("code"), text("file"))
                })
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    (out.status.code(), found, transcript(&out))
}

fn tsc(app: &App, dir: &Path) -> std::process::Output {
    output(command(dir.join("node_modules/.bin/tsc"), dir).args([
        "--noEmit",
        "--pretty",
        "false",
        "-p",
        app.tsconfig,
    ]))
}

fn adapt_json(dir: &Path) -> serde_json::Value {
    let out = run_ok(
        command(bin(), dir)
            .args(["adapt", "items", "--foundation", ".", "--format", "json"])
            .arg("--from")
            .arg(&sandbox().dir),
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("adapt: not JSON ({e}):\n{}", transcript(&out)))
}

/// The paths of adapt's JSON report whose action is not `unchanged`.
fn rewritten(report: &serde_json::Value) -> Vec<String> {
    report["files"]
        .as_array()
        .expect("adapt's report lists its files")
        .iter()
        .filter(|f| f["action"] != "unchanged")
        .map(|f| format!("{} ({})", f["path"], f["action"]))
        .collect()
}

const ALICE: [(&str, &str); 2] = [("X-User-Id", "alice"), ("X-Tenant-Id", "acme")];
const BOB: [(&str, &str); 2] = [("X-User-Id", "bob"), ("X-Tenant-Id", "acme")];

/// The whole adoption of one app; every step names the app when it fails.
fn adopt(app: &App) {
    let name = app.name;
    let dir = install(app);
    let module = format!("{}/items", app.modules_dir);

    // Before adoption: the overlay alone is a foundation doctor finds nothing wrong with, beyond
    // what is wrong with the app itself (checked by hand: tests/it/doctor_real.rs).
    let clean = if app.true_positives.is_empty() {
        Some(0)
    } else {
        Some(1)
    };
    let (code, found, said) = doctor(&dir, &[]);
    assert!(
        code == clean && found == app.true_positives,
        "{name}: doctor before adoption:\n{said}"
    );

    let report = adapt_json(&dir);
    assert_eq!(report["conflicts"], serde_json::json!([]), "{name}: {report}");
    assert!(
        dir.join(&module).join("server/routes/index.ts").is_file(),
        "{name}: {report}"
    );
    assert!(dir.join("migrations/items").is_dir(), "{name}: {report}");

    let out = timed(&format!("tsc -p {} ({name})", app.tsconfig), || tsc(app, &dir));
    assert!(
        out.status.success(),
        "{name}: its type-check:\n{}",
        transcript(&out)
    );

    let out = timed(&format!("npm run build ({name})"), || {
        output(
            command("npm", &dir)
                .args(["run", "build"])
                .envs(app.build_env.iter().copied()),
        )
    });
    assert!(out.status.success(), "{name}: its build:\n{}", transcript(&out));

    // The app's linter with its whole configuration (its own stricter rules included) over
    // everything adapt wrote: the adapter, the module's config and the module's own code.
    if let Some(lint) = app.lint {
        let linter = dir.join("node_modules/.bin").join(lint[0]);
        let out = output(command(&linter, &dir).args(&lint[1..]).arg(&module));
        assert!(
            out.status.success(),
            "{name}: its linter on the module:\n{}",
            transcript(&out)
        );
    }

    serve(app, &dir);

    let (code, found, said) = doctor(&dir, &[]);
    assert!(
        code == clean && found == app.true_positives,
        "{name}: doctor after adoption:\n{said}"
    );
    assert!(
        said.contains("1 module(s): items"),
        "{name}: doctor did not see the module:\n{said}"
    );
    let (code, _, said) = doctor(&dir, &["--fix"]);
    assert_eq!(code, clean, "{name}: doctor --fix:\n{said}");
    let out = tsc(app, &dir);
    assert!(
        out.status.success(),
        "{name}: the type-check after doctor --fix:\n{}",
        transcript(&out)
    );

    if let Some(format) = app.format {
        let formatter = dir.join("node_modules/.bin").join(format[0]);
        // Over the module's folder (Prettier 2 fails on a folder with nothing it formats, like
        // the migrations').
        let out = output(command(&formatter, &dir).args(&format[1..]).arg(&module));
        assert!(
            out.status.success(),
            "{name}: its formatter:\n{}",
            transcript(&out)
        );
    }
    let report = adapt_json(&dir);
    assert_eq!(
        report["conflicts"],
        serde_json::json!([]),
        "{name}: adapt after the formatter: {report}"
    );
    assert_eq!(
        rewritten(&report),
        Vec::<String>::new(),
        "{name}: adapt after the formatter: {report}"
    );
}

/// Bootstrap, start the app on the test's database and call the module's routes.
fn serve(app: &App, dir: &Path) {
    let name = app.name;
    let db = TestDb::new();
    let out = run_ok(
        command(bin(), dir)
            .args(["bootstrap", "--project", ".", "--db", db.url()])
            .args(["--tenant", "acme"]),
    );
    assert!(
        stdout(&out).contains("module items"),
        "{name}: {}",
        transcript(&out)
    );
    // alice may read and create in acme; bob holds nothing.
    db.execute(
        "WITH t AS (SELECT id FROM sys_tenant WHERE code = 'acme'),
              r AS (INSERT INTO sys_role (tenant_id, code, name) SELECT id, 'editor', 'Editor' FROM t RETURNING id, tenant_id),
              p AS (INSERT INTO sys_role_permission (role_id, permission) SELECT r.id, unnest(ARRAY['items.read', 'items.create']) FROM r)
         INSERT INTO sys_user_role (user_id, tenant_id, role_id) SELECT 'alice', r.tenant_id, r.id FROM r",
    );
    let mut server = timed(&format!("start ({name})"), || {
        spawn_server(
            &format!("real-{name}"),
            |port| {
                let mut cmd = command(dir.join("node_modules/.bin/tsx"), dir);
                cmd.arg(app.entry)
                    .env("PORT", port.to_string())
                    .env("DATABASE_URL", db.url())
                    .env("NODE_ENV", "production");
                for (k, v) in app.env {
                    cmd.env(k, v);
                }
                cmd
            },
            |port| {
                // The body too: an app may answer any path itself (Swagger UI at `/`).
                http::try_request("GET", &format!("http://127.0.0.1:{port}{HEALTH}"), &[], None)
                    .is_ok_and(|r| r.status == 200 && r.body.contains(r#""plugin":"items""#))
            },
        )
    });
    let url = |path: &str| format!("{}{path}", server.base());
    let json = [("Content-Type", "application/json"), ALICE[0], ALICE[1]];
    let created = http::request("POST", &url(ITEMS), &json, Some(r#"{"name":"first"}"#));
    assert_eq!(created.status, 201, "{name}: create: {}", created.body);
    let listed = http::request("GET", &url(ITEMS), &ALICE, None);
    assert_eq!(listed.status, 200, "{name}: list: {}", listed.body);
    assert!(listed.body.contains("\"first\""), "{name}: list: {}", listed.body);
    let denied = http::request("GET", &url(ITEMS), &BOB, None);
    assert_eq!(denied.status, 403, "{name}: bob: {}", denied.body);

    // The module's SQL now fails (relation "items" does not exist): the app's error handling
    // answers, and the process stays up.
    db.execute("DROP TABLE tenant_acme.items");
    let failed = http::request("GET", &url(ITEMS), &ALICE, None);
    assert!(
        (500..600).contains(&failed.status),
        "{name}: the failing route: {} {}\n{}",
        failed.status,
        failed.body,
        server.log_text()
    );
    let health = http::request("GET", &url(HEALTH), &[], None);
    assert_eq!(
        health.status, 200,
        "{name}: the app went down after the failing route"
    );
    assert!(
        server.exited().is_none(),
        "{name}: the process ended:\n{}",
        server.log_text()
    );
}

/// Express 4, CommonJS (moduleResolution node), `@/*` paths, a tsup build of every file under
/// src/, Biome as linter and formatter (Biome also formats adapt's record: see
/// e2e::strict::a_formatter_run_over_the_record_is_not_a_change).
#[test]
fn adapt_serves_the_module_in_edwinhern_express_4_commonjs_tsup_biome() {
    adopt(&App {
        name: "edwinhern-express-typescript-2024",
        tsconfig: "tsconfig.json",
        modules_dir: "src/modules",
        entry: "src/index.ts",
        env: &[
            ("HOST", "127.0.0.1"),
            ("CORS_ORIGIN", "http://localhost"),
            ("COMMON_RATE_LIMIT_MAX_REQUESTS", "1000"),
            ("COMMON_RATE_LIMIT_WINDOW_MS", "1000"),
        ],
        lint: Some(&["biome", "lint"]),
        format: Some(&["biome", "format", "--write"]),
        extra: &[],
        build_env: &[],
        true_positives: &[],
    });
}

/// Express 4 as ES modules (NodeNext), no JSON body parser of its own (the adapter parses the
/// module's: see adapt's template), ESLint with type-aware rules beyond the recommended ones
/// (`no-misused-promises`, `strict-boolean-expressions`, `explicit-function-return-type`, which the
/// module's code and the adapter pass), Prettier.
#[test]
fn adapt_serves_the_module_in_penspulse_express_4_esm_eslint_prettier() {
    adopt(&App {
        name: "penspulse326-express-ts-esm-template",
        tsconfig: "tsconfig.json",
        modules_dir: "src/modules",
        entry: "src/app.ts",
        env: &[],
        // As its `npm run lint` runs it: warnings (`no-console` on the adapter's log) do not fail it.
        lint: Some(&["eslint"]),
        format: Some(&["prettier", "--write"]),
        extra: &[],
        build_env: &[],
        true_positives: &[],
    });
}

/// Express 5.2, TypeScript 6, CommonJS under NodeNext, its own feature folders in src/modules (so
/// modkit's go to src/plugins). It has no linter and no formatter: those two steps are skipped.
#[test]
fn adapt_serves_the_module_in_rafaelfl_express_5_typescript_6() {
    adopt(&App {
        name: "rafaelfl-express5-ts-boilerplate",
        tsconfig: "tsconfig.json",
        modules_dir: "src/plugins",
        entry: "src/index.ts",
        env: &[],
        lint: None,
        format: None,
        extra: &[],
        build_env: &[],
        true_positives: &[],
    });
}

/// Nx 16: a solution tsconfig.json (`files: []`, references) over tsconfig.app.json, which compiles
/// the server as CommonJS (`[foundation] tsconfig`); `nx build` with @nx/esbuild; Prettier with an
/// import-sorting plugin (which adapt's record now survives); Express 4 with its own error handler;
/// `~*` paths. The overlay also points nx.json's runner at Nx's own (the app's is Nx Cloud, which
/// needs the network and a token) and adds tsx, which the app lacks, to run its sources. Its
/// .eslintrc.json loses one line: it extends `prettier/@typescript-eslint`, which the
/// eslint-config-prettier its package.json asks for (8) folded into `prettier`, so ESLint stopped
/// on any file; its rules (Nx's typescript preset over modkit's files) are otherwise the app's.
#[test]
fn adapt_serves_the_module_in_alanpcurrie_nx_solution_tsconfig_esbuild_prettier() {
    adopt(&App {
        name: "alanpcurrie-nx-express-zod-cypress-starter",
        tsconfig: "tsconfig.app.json",
        modules_dir: "src/modules",
        entry: "src/main.ts",
        env: &[("HOST", "127.0.0.1")],
        // As its project.json's lint target runs it (`@nx/linter:eslint`, which fails on errors).
        lint: Some(&["eslint"]),
        format: Some(&["prettier", "--write"]),
        extra: &["tsx@4"],
        build_env: &[("NX_DAEMON", "false"), ("CI", "true")],
        // A dead alias and two packages imported but only installed through others.
        true_positives: &[
            "dependency-undeclared src/middleware/body-parser.ts",
            "dependency-undeclared src/paths.ts",
            "tsconfig-path-missing tsconfig.json",
        ],
    });
}
