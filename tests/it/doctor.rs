//! `modkit doctor`: a fresh sandbox and a freshly adapted foundation are clean; each trap of the
//! seed (and each kind of drift) is found, with its code, file and line; `--db` reads the database
//! without changing it. The codes are documented in docs/doctor.md.

use std::process::Output;

use insta::assert_snapshot;

use crate::support::pg::{TestDb, redact};
use crate::support::{CliTest, stderr, stdout};

fn code_of(test: &CliTest, out: &Output) -> i32 {
    out.status
        .code()
        .unwrap_or_else(|| panic!("killed: {}", test.filter(&crate::support::transcript(out))))
}

/// The diagnostics of a `--format json` run: (code, file, line). The toolchain (what this machine
/// has installed) is left out: its own tests below plant each case.
fn found(test: &CliTest, args: &[&str]) -> (i32, Vec<(String, String, Option<u64>)>) {
    let mut all = args.to_vec();
    all.extend(["--ignore", "toolchain"]);
    found_with(test, test.command().args(all))
}

/// The diagnostics of a `--format json` run of `cmd`.
fn found_with(test: &CliTest, cmd: &mut std::process::Command) -> (i32, Vec<(String, String, Option<u64>)>) {
    let out = cmd.args(["--format", "json"]).output().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}):\n{}",
            test.filter(&crate::support::transcript(&out))
        )
    });
    let list = doc["diagnostics"]
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
    (code_of(test, &out), list)
}

fn sandbox(test: &CliTest) {
    let out = test.run(&["init", "items", "-q"]);
    assert!(out.status.success());
}

/// What `npm install` leaves that doctor looks at: `node_modules/<package>/package.json` for each
/// package package.json declares, and `node_modules/.package-lock.json` (written after the lockfile).
fn stub_install(test: &CliTest, dir: &str) {
    let package: serde_json::Value =
        serde_json::from_str(&test.read_file(format!("{dir}/package.json"))).unwrap();
    for section in ["dependencies", "devDependencies"] {
        for name in package[section].as_object().into_iter().flat_map(|d| d.keys()) {
            test.write_file(
                format!("{dir}/node_modules/{name}/package.json"),
                format!("{{\"name\":\"{name}\"}}"),
            );
        }
    }
    test.write_file(format!("{dir}/node_modules/.package-lock.json"), "{}");
}

/// Two ports nothing listens on (bound, then let go), for PORT and VITE_PORT.
fn free_ports() -> [String; 2] {
    let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let b = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    [
        a.local_addr().unwrap().port().to_string(),
        b.local_addr().unwrap().port().to_string(),
    ]
}

/// `modkit doctor <args>` with the dev ports moved to free ones.
fn doctor(test: &CliTest, args: &[&str]) -> std::process::Command {
    let [api, vite] = free_ports();
    let mut cmd = test.command();
    cmd.arg("doctor")
        .args(args)
        .env("PORT", api)
        .env("VITE_PORT", vite);
    cmd
}

#[test]
fn fresh_projects_are_clean() {
    let test = CliTest::new();
    sandbox(&test);
    stub_install(&test, "items");
    let out = doctor(&test, &["items"]).output().unwrap();
    assert_eq!(code_of(&test, &out), 0, "{}", stdout(&out));
    let text = stdout(&out);
    assert!(
        text.contains("No problems found in the `items` sandbox."),
        "{text}"
    );
    // The toolchain, flutter doctor style: a ✓ per tool.
    for line in [
        "  [✓] Node.js v",
        "  [✓] npm at ",
        "  [✓] node_modules: the 12 declared package(s) are installed",
        "  [✓] dev ports free: ",
        // No URL anywhere: the local database, its state, and the binaries found for it.
        "  [✓] database: the local one in .modkit/pg (not made yet: `npm run dev` or `modkit db start` makes and bootstraps it), run by the PostgreSQL binaries in ",
    ] {
        assert!(text.contains(line), "{line}\n{text}");
    }
    // A server named by DATABASE_URL: its URL, the password hidden.
    let out = doctor(&test, &["items"])
        .env(
            "DATABASE_URL",
            "postgres://app:S3cretPw@db.example:5432/items_dev",
        )
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(
        text.contains("  [✓] database: postgres://app:***@db.example:5432/items_dev (from DATABASE_URL)"),
        "{text}"
    );
    assert!(
        !text.contains("S3cretPw") && !stderr(&out).contains("S3cretPw"),
        "{text}"
    );

    test.copy_fixture("foundation", "foundation");
    assert!(
        test.run(&["adapt", "items", "--foundation", "foundation", "-q"])
            .status
            .success()
    );
    stub_install(&test, "foundation");
    let out = doctor(&test, &["foundation"]).output().unwrap();
    assert_eq!(code_of(&test, &out), 0, "{}", stdout(&out));
    assert!(
        stdout(&out).contains("No problems found in the foundation (1 module(s): items)."),
        "{}",
        stdout(&out)
    );
}

#[test]
fn the_seed_traps_in_a_sandbox_are_found_with_file_and_line() {
    let test = CliTest::new();
    sandbox(&test);
    // The seed's tsconfig (baseUrl, and an alias to a folder that is not there), its CORS, a module
    // table that grew a tenant_id, and business code that imports the DB client.
    test.replace_in_file(
        "items/tsconfig.json",
        "\"compilerOptions\": {",
        "\"compilerOptions\": {\n    \"baseUrl\": \".\",",
    );
    test.replace_in_file("items/tsconfig.json", "\"./client/src/*\"", "\"./src/client/*\"");
    let server = test.read_file("items/sandbox/http.ts");
    let cors_line = server.lines().position(|l| l.contains("app.use(cors(")).unwrap() + 1;
    let start = server.find("app.use(cors(").unwrap();
    let end = start + server[start..].find('\n').unwrap();
    test.write_file(
        "items/sandbox/http.ts",
        format!(
            "{}app.use(cors({{ origin: true, credentials: true }}));{}",
            &server[..start],
            &server[end..]
        ),
    );
    test.write_file(
        "items/plugin/migrations/0002_add_tenant.sql",
        "-- tenant_id in a comment does not count\nALTER TABLE items\n  ADD COLUMN tenant_id uuid;\n",
    );
    test.replace_in_file(
        "items/plugin/index.ts",
        "import type { Request, RequestHandler, Response } from 'express';",
        "import type { Request, RequestHandler, Response } from 'express';\nimport { Pool } from 'pg';",
    );
    let pg_line = test
        .read_file("items/plugin/index.ts")
        .lines()
        .position(|l| l.contains("from 'pg'"))
        .unwrap()
        + 1;
    let (code, list) = found(&test, &["doctor", "items"]);
    assert_eq!(code, 1);
    let expected = [
        ("tsconfig-base-url", "tsconfig.json", Some(4)),
        ("tsconfig-path-missing", "tsconfig.json", Some(20)),
        ("cors-any-origin", "sandbox/http.ts", Some(cors_line as u64)),
        (
            "module-imports-db-client",
            "plugin/index.ts",
            Some(pg_line as u64),
        ),
        (
            "module-table-tenant-id",
            "plugin/migrations/0002_add_tenant.sql",
            Some(3),
        ),
    ];
    let got: Vec<(&str, &str, Option<u64>)> = list
        .iter()
        .map(|(c, f, l)| (c.as_str(), f.as_str(), *l))
        .collect();
    assert_eq!(got, expected);

    // The same for a person, and as GitHub annotations.
    assert_snapshot!(
        test.transcript(
            test.command()
                .args(["doctor", "--ignore", "toolchain"])
                .current_dir(test.path("items"))
        )
    );
    let out = test.run(&["doctor", "items", "--format", "github", "--ignore", "toolchain"]);
    let annotations = stdout(&out);
    assert!(
        annotations.contains("::error file=items/plugin/migrations/0002_add_tenant.sql,line=3,title=modkit doctor module-table-tenant-id::"),
        "{annotations}"
    );
    assert_eq!(annotations.lines().count(), 5, "{annotations}");
}

#[test]
fn drift_in_a_foundation_is_found() {
    let test = CliTest::new();
    sandbox(&test);
    test.copy_fixture("foundation", "foundation");
    assert!(
        test.run(&["adapt", "items", "--foundation", "foundation", "-q"])
            .status
            .success()
    );
    let dir = "foundation/src/modules/items";
    // The seed's adapter path, copied rather than computed; a permission missing from the config.
    test.replace_in_file(
        format!("{dir}/server/routes/index.ts"),
        "'../../../../lib/db/tenant-db.js'",
        "'../../../lib/db/tenant-db.js'",
    );
    test.replace_in_file(format!("{dir}/module.config.ts"), ", \"items.delete\"]", "]");
    // A second module with code but no adapter, whose permission is not prefixed with its id.
    test.write_file(
        "foundation/src/modules/orders/plugin/index.ts",
        "export const permissions = ['orders.read', 'read_all'];\nexport default { meta: { id: 'orders', version: '1.0.0', api: '1.x' }, register() {} };\n",
    );
    let (code, list) = found(&test, &["doctor", "foundation"]);
    assert_eq!(code, 1);
    let got: Vec<(&str, &str)> = list.iter().map(|(c, f, _)| (c.as_str(), f.as_str())).collect();
    assert_eq!(
        got,
        [
            ("import-unresolved", "src/modules/items/server/routes/index.ts"),
            ("module-config-drift", "src/modules/items/module.config.ts"),
            ("adapter-missing", "src/modules/orders/server/routes/index.ts"),
            ("permission-prefix", "src/modules/orders/plugin/index.ts"),
            ("adapted-file-edited", "src/modules/items/module.config.ts"),
            ("adapted-file-edited", "src/modules/items/server/routes/index.ts"),
        ]
    );
    // A file that does not parse is reported, and the other checks still run.
    let config = test.read_file(format!("{dir}/module.config.ts"));
    test.write_file(
        format!("{dir}/module.config.ts"),
        "export default { id: 'items',, };\n",
    );
    let (code, list) = found(&test, &["doctor", "foundation"]);
    let codes: Vec<&str> = list.iter().map(|(c, _, _)| c.as_str()).collect();
    assert_eq!(code, 1);
    assert!(
        codes.contains(&"typescript-syntax") && codes.contains(&"import-unresolved"),
        "{codes:?}"
    );
    test.write_file(format!("{dir}/module.config.ts"), config);

    // Warnings alone do not fail: fix the errors, keep the rest.
    assert!(
        test.run(&["adapt", "items", "--foundation", "foundation", "--force", "-q"])
            .status
            .success()
    );
    test.write_file(
        "foundation/src/modules/orders/server/routes/index.ts",
        "export default {};\n",
    );
    let (code, list) = found(&test, &["doctor", "foundation"]);
    let codes: Vec<&str> = list.iter().map(|(c, _, _)| c.as_str()).collect();
    assert_eq!((code, codes), (0, vec!["permission-prefix"]));
}

/// What doctor no longer reads or walks in a foundation (the routes of an adapter, a Unicode
/// escape of another character, a manifest's file its folder's listing lacks, a folder answered
/// from its parent's listing) is skipped only where no check needs it: each problem there is
/// still found. A plugin file with the bytes of an adapter file (parsed once for both) has its
/// routes checked whichever is read first.
#[test]
fn what_doctor_skips_in_a_foundation_is_skipped_only_where_no_check_needs_it() {
    let test = CliTest::new();
    for id in ["items", "orders", "notes"] {
        assert!(test.run(&["init", id, "-q"]).status.success());
    }
    test.copy_fixture("foundation", "foundation");
    for id in ["items", "orders", "notes"] {
        assert!(
            test.run(&["adapt", id, "--foundation", "foundation", "-q"])
                .status
                .success()
        );
    }
    let items = "foundation/src/modules/items";
    // One unguarded route, in a plugin file and, byte for byte, beside the adapter (whose routes
    // no check reads); a string with an escape that spells no `router`.
    let open = "export function more(router: any) {\n  const nul = '\\u0000';\n  router.get('/open', (_q: any, s: any) => s.json({ nul }));\n}\n";
    test.write_file(format!("{items}/server/routes/extra.ts"), open);
    test.write_file(format!("{items}/plugin/extra.ts"), open);
    // An adapted file deleted (the manifest still names it), another edited.
    std::fs::remove_file(test.path(format!("{items}/plugin/context.ts"))).unwrap();
    test.replace_in_file(
        format!("{items}/module.config.ts"),
        "items.read",
        "items.read\", \"items.list",
    );
    // orders keeps its migrations where an older adapt put them, with a tenant_id column.
    std::fs::rename(
        test.path("foundation/migrations/orders"),
        test.path("foundation/src/modules/orders/migrations"),
    )
    .unwrap();
    test.write_file(
        "foundation/src/modules/orders/migrations/0002_tenant.sql",
        "ALTER TABLE orders ADD COLUMN tenant_id uuid;\n",
    );
    // notes' migrations folder is a link.
    std::fs::rename(
        test.path("foundation/migrations/notes"),
        test.path("notes-migrations"),
    )
    .unwrap();
    std::os::unix::fs::symlink(
        test.path("notes-migrations"),
        test.path("foundation/migrations/notes"),
    )
    .unwrap();
    let (code, list) = found(&test, &["doctor", "foundation"]);
    assert_eq!(code, 1);
    let got: Vec<(&str, &str)> = list.iter().map(|(c, f, _)| (c.as_str(), f.as_str())).collect();
    assert_eq!(
        got,
        [
            ("route-unguarded", "src/modules/items/plugin/extra.ts"),
            ("module-file-link", "migrations/notes"),
            (
                "module-table-tenant-id",
                "src/modules/orders/migrations/0002_tenant.sql"
            ),
            ("module-config-drift", "src/modules/items/module.config.ts"),
            ("adapted-file-edited", "src/modules/items/module.config.ts"),
        ],
        "{list:?}"
    );
    // In a sandbox: no plugin/index.ts is said so; a link in its place is a link, not missing.
    let index = test.path("items/plugin/index.ts");
    std::fs::rename(&index, test.path("index.ts")).unwrap();
    let (_, list) = found(&test, &["doctor", "items"]);
    assert!(
        list.iter().any(|(c, _, _)| c == "module-index-missing"),
        "{list:?}"
    );
    std::os::unix::fs::symlink(test.path("index.ts"), &index).unwrap();
    let (_, list) = found(&test, &["doctor", "items"]);
    let codes: Vec<&str> = list.iter().map(|(c, _, _)| c.as_str()).collect();
    assert!(
        codes.contains(&"module-file-link") && !codes.contains(&"module-index-missing"),
        "{codes:?}"
    );
}

#[test]
fn with_db_it_reads_the_database_and_changes_nothing() {
    let db = TestDb::new();
    let test = CliTest::new()
        .with_filter(db.url(), "[DB]")
        .with_filter(redact(db.url()), "[DB]");
    sandbox(&test);
    let dir = test.path("items");
    let dir = dir.to_str().unwrap();

    // A fresh database is behind the code, and doctor leaves it so.
    let (code, list) = found(&test, &["doctor", dir, "--db", db.url()]);
    assert_eq!(code, 1);
    assert!(
        list.iter().all(|(c, _, _)| c == "db-pending") && list.len() >= 3,
        "{list:?}"
    );
    assert_eq!(
        db.scalar("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"),
        "0"
    );

    // Bootstrapped: clean.
    assert!(
        test.run(&[
            "bootstrap",
            "--project",
            dir,
            "--db",
            db.url(),
            "--tenant",
            "acme",
            "-q"
        ])
        .status
        .success()
    );
    let (code, list) = found(&test, &["doctor", dir, "--db", db.url()]);
    assert_eq!((code, list.len()), (0, 0), "{list:?}");

    // Drift in the database: a tenant_id column, a stray schema, an edited migration.
    db.execute("ALTER TABLE tenant_acme.items ADD COLUMN tenant_id uuid; CREATE SCHEMA tenant_ghost;");
    let migration = "items/plugin/migrations/0001_create_module_table.sql";
    test.write_file(migration, format!("{}-- edited\n", test.read_file(migration)));
    let (code, list) = found(&test, &["doctor", dir, "--db", db.url()]);
    assert_eq!(code, 1);
    let codes: Vec<&str> = list.iter().map(|(c, _, _)| c.as_str()).collect();
    assert_eq!(
        codes,
        [
            "db-migration-edited",
            "db-migration-edited",
            "db-module-table-tenant-id",
            // The column makes acme's schema differ from dev's, too.
            "db-tenant-schema-drift",
            "db-schema-without-tenant"
        ],
        "{list:?}"
    );

    // The URL from DATABASE_URL with a bare --db; a password is never printed.
    let with_password = db
        .url()
        .replacen("postgres://postgres@", "postgres://postgres:hunter2secret@", 1);
    let out = test
        .command()
        .args(["doctor", dir, "--db"])
        .env("DATABASE_URL", &with_password)
        .output()
        .unwrap();
    let text = format!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    assert_eq!(code_of(&test, &out), 1, "{text}");
    assert!(!text.contains("hunter2secret") && text.contains("***"), "{text}");

    // An unreachable server is an environment error.
    let out = test.run(&[
        "doctor",
        dir,
        "--db",
        "postgres://nobody@127.0.0.1:1/x",
        "--connect-timeout",
        "3",
    ]);
    assert_eq!(
        code_of(&test, &out),
        2,
        "{}",
        test.filter(&crate::support::transcript(&out))
    );
}

#[test]
fn a_folder_that_is_neither_is_a_usage_error() {
    let test = CliTest::new();
    test.write_file("empty/readme.txt", "nothing here");
    let out = test.run(&["doctor", "empty"]);
    assert_eq!(code_of(&test, &out), 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("is neither a module sandbox"));
}

// --- issue 11: the toolchain -------------------------------------------------------------------

#[test]
fn no_node_on_path_and_no_node_modules_is_not_clean() {
    let test = CliTest::new();
    sandbox(&test);
    // A PATH with no node and no npm on it.
    let empty = test.path("empty-bin");
    std::fs::create_dir_all(&empty).unwrap();
    let out = doctor(&test, &["items"]).env("PATH", &empty).output().unwrap();
    let text = stdout(&out);
    assert_eq!(code_of(&test, &out), 1, "{text}");
    assert!(!text.contains("No problems found"), "{text}");
    for line in [
        "  [✗] Node.js: not found on PATH (engines: ^20.19.0 || >=22.12.0)",
        "  [✗] npm: not found on PATH",
        "  [✗] node_modules: missing (run `npm install`)",
        "error[toolchain-node-missing]: package.json: Node.js (`node`) is not on PATH",
        "error[toolchain-npm-missing]: npm is not on PATH",
        "error[toolchain-node-modules-missing]: package.json: the packages are not installed: there is no node_modules",
    ] {
        assert!(text.contains(line), "{line}\n{text}");
    }
}

#[test]
fn node_outside_the_engines_range_is_an_error() {
    let test = CliTest::new();
    sandbox(&test);
    stub_install(&test, "items");
    test.replace_in_file(
        "items/package.json",
        "\"node\": \"^20.19.0 || >=22.12.0\"",
        "\"node\": \">=99.0.0\"",
    );
    let (code, list) = found_with(&test, &mut doctor(&test, &["items"]));
    assert_eq!(
        (code, list),
        (
            1,
            vec![(
                "toolchain-node-version".to_string(),
                "package.json".to_string(),
                None
            )]
        )
    );
    test.replace_in_file("items/package.json", "\">=99.0.0\"", "\"banana\"");
    let out = doctor(&test, &["items"]).output().unwrap();
    assert!(
        stdout(&out).contains(
            "error[toolchain-node-version]: package.json: engines.node does not parse as a version range"
        ),
        "{}",
        stdout(&out)
    );
}

#[test]
fn node_modules_out_of_step_with_package_json_or_the_lockfile() {
    let test = CliTest::new();
    sandbox(&test);
    stub_install(&test, "items");
    // A package declared since the install.
    test.replace_in_file(
        "items/package.json",
        "\"pg\": ",
        "\"left-pad\": \"^1.3.0\",\n    \"pg\": ",
    );
    let out = doctor(&test, &["items"]).output().unwrap();
    assert_eq!(code_of(&test, &out), 1);
    assert!(
        stdout(&out).contains("error[toolchain-node-modules-stale]: package.json: node_modules is out of step: 1 declared package(s) not installed: left-pad"),
        "{}",
        stdout(&out)
    );
    // A lockfile written after the last install.
    stub_install(&test, "items");
    std::thread::sleep(std::time::Duration::from_millis(20));
    test.write_file("items/package-lock.json", "{}");
    let (code, list) = found_with(&test, &mut doctor(&test, &["items"]));
    assert_eq!(
        (code, list.len(), list[0].0.as_str()),
        (1, 1, "toolchain-node-modules-stale")
    );
    stub_install(&test, "items");
    let (code, list) = found_with(&test, &mut doctor(&test, &["items"]));
    assert_eq!((code, list.len()), (0, 0), "{list:?}");
}

#[test]
fn a_busy_dev_port_is_a_warning() {
    let test = CliTest::new();
    sandbox(&test);
    stub_install(&test, "items");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let out = doctor(&test, &["items"]).env("PORT", &port).output().unwrap();
    let text = stdout(&out);
    assert_eq!(code_of(&test, &out), 0, "{text}");
    assert!(
        text.contains(&format!("  [✗] dev ports in use: {port} (the API)")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "warning[toolchain-port-busy]: port {port} (the API, PORT) is already in use"
        )),
        "{text}"
    );
}

// --- issue 11: routes, dependencies, migrations -----------------------------------------------

#[test]
fn unguarded_routes_and_undeclared_permissions_are_errors_with_file_and_line() {
    let test = CliTest::new();
    sandbox(&test);
    let index = "items/plugin/index.ts";
    test.replace_in_file(
        index,
        "r.post('/items', ctx.rbac.require('items.create'),",
        "r.post('/items',",
    );
    test.replace_in_file(
        index,
        "ctx.rbac.require('items.update')",
        "ctx.rbac.require('items.write')",
    );
    // A route registered in another file of the module, on `ctx.router` itself.
    test.write_file(
        "items/plugin/extra.ts",
        "import type { PluginContext } from './context.js';\nexport function more(ctx: PluginContext) {\n  ctx.router.all('/export', (_req, res) => { res.json({}); });\n}\n",
    );
    let line_of = |needle: &str| {
        test.read_file(index)
            .lines()
            .position(|l| l.contains(needle))
            .unwrap() as u64
            + 1
    };
    let (code, list) = found(&test, &["doctor", "items"]);
    assert_eq!(code, 1);
    assert_eq!(
        list,
        [
            (
                "route-unguarded".to_string(),
                "plugin/index.ts".to_string(),
                Some(line_of("r.post('/items',"))
            ),
            (
                "route-permission-undeclared".to_string(),
                "plugin/index.ts".to_string(),
                Some(line_of("items.write"))
            ),
            (
                "route-unguarded".to_string(),
                "plugin/extra.ts".to_string(),
                Some(3)
            ),
        ]
    );
}

#[test]
fn undeclared_and_dev_only_packages_in_production_are_found() {
    let test = CliTest::new();
    sandbox(&test);
    // Business code importing a package nobody declared; the server importing a devDependency at
    // the top (production runs it); a test importing an undeclared package.
    test.replace_in_file(
        "items/plugin/index.ts",
        "import type { Plugin, PluginContext } from './context.js';",
        "import type { Plugin, PluginContext } from './context.js';\nimport { z } from 'zod';",
    );
    test.replace_in_file(
        "items/sandbox/server.ts",
        "import express from 'express';",
        "import express from 'express';\nimport { createServer } from 'vite';",
    );
    test.write_file("items/tests/extra.test.ts", "import 'supertest';\n");
    // The seed's package.json: cors (and its types) in dependencies, though only `!production` loads it.
    let package = test.read_file("items/package.json");
    let package = package
        .replace("    \"cors\": \"^2.8.6\",\n", "")
        .replace("    \"@types/cors\": \"^2.8.19\",\n", "")
        .replace(
            "\"dependencies\": {\n",
            "\"dependencies\": {\n    \"@types/cors\": \"^2.8.19\",\n    \"cors\": \"^2.8.6\",\n",
        );
    test.write_file("items/package.json", &package);
    let (code, list) = found(&test, &["doctor", "items"]);
    assert_eq!(code, 1);
    let cors_line = package.lines().position(|l| l.contains("\"cors\"")).unwrap() as u64 + 1;
    assert_eq!(
        list,
        [
            (
                "dependency-undeclared".to_string(),
                "tests/extra.test.ts".to_string(),
                Some(1)
            ),
            (
                "dependency-undeclared".to_string(),
                "plugin/index.ts".to_string(),
                Some(5)
            ),
            (
                "dependency-dev-only-in-production".to_string(),
                "sandbox/server.ts".to_string(),
                Some(5)
            ),
            (
                "dependency-dev-path-in-dependencies".to_string(),
                "package.json".to_string(),
                Some(cors_line)
            ),
        ]
    );
}

#[test]
fn migration_gaps_duplicates_and_unnumbered_files_are_found() {
    let test = CliTest::new();
    sandbox(&test);
    for name in ["0002_b.sql", "0002_c.sql", "0005_e.sql", "init.sql"] {
        test.write_file(format!("items/plugin/migrations/{name}"), "SELECT 1;\n");
    }
    let (code, list) = found(&test, &["doctor", "items"]);
    assert_eq!(code, 1);
    let got: Vec<(&str, &str)> = list.iter().map(|(c, f, _)| (c.as_str(), f.as_str())).collect();
    assert_eq!(
        got,
        [
            ("migration-numbering", "plugin/migrations/init.sql"),
            ("migration-numbering", "plugin/migrations/0002_c.sql"),
            ("migration-numbering", "plugin/migrations/0005_e.sql"),
        ]
    );
    let out = test.run(&["doctor", "items", "--ignore", "toolchain"]);
    assert!(
        stdout(&out).contains("0005_e.sql: is number 5, but 3 to 4 are missing"),
        "{}",
        stdout(&out)
    );
}

// --- issue 11: --explain, ignore, formats -------------------------------------------------------

#[test]
fn explain_prints_a_checks_documentation() {
    let test = CliTest::new();
    let out = test.run(&["doctor", "--explain", "tsconfig-base-url"]);
    assert_eq!(code_of(&test, &out), 0);
    assert_snapshot!(stdout(&out));
    let out = test.run(&["doctor", "--explain", "no-such-code"]);
    assert_eq!(code_of(&test, &out), 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`no-such-code` is not a doctor check") && err.contains("route-unguarded"),
        "{err}"
    );
}

#[test]
fn checks_turned_off_in_modkit_toml_are_not_reported() {
    let test = CliTest::new();
    sandbox(&test);
    test.replace_in_file(
        "items/tsconfig.json",
        "\"compilerOptions\": {",
        "\"compilerOptions\": {\n    \"baseUrl\": \".\",",
    );
    let (code, list) = found(&test, &["doctor", "items"]);
    assert_eq!((code, list.len()), (1, 1));
    let toml = test.read_file("items/modkit.toml");
    test.write_file(
        "items/modkit.toml",
        format!("{toml}\n[doctor]\nignore = [\"tsconfig-base-url\", \"toolchain\"]\n"),
    );
    let out = test.run(&["doctor", "items"]);
    assert_eq!(code_of(&test, &out), 0, "{}", stdout(&out));
    assert!(!stdout(&out).contains("Toolchain:"), "{}", stdout(&out));
    // A code that does not exist is a usage error, never a check silently left on.
    test.write_file(
        "items/modkit.toml",
        format!("{toml}\n[doctor]\nignore = [\"tsconfig-baseurl\"]\n"),
    );
    let out = test.run(&["doctor", "items"]);
    assert_eq!(code_of(&test, &out), 2);
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("modkit.toml's [doctor] ignore: `tsconfig-baseurl` is not a doctor check"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One sandbox with several findings (errors with and without a line, a warning), in each format.
#[test]
fn every_format_of_one_report() {
    let test = CliTest::new();
    sandbox(&test);
    test.replace_in_file(
        "items/tsconfig.json",
        "\"compilerOptions\": {",
        "\"compilerOptions\": {\n    \"baseUrl\": \".\",",
    );
    test.replace_in_file(
        "items/plugin/index.ts",
        "r.post('/items', ctx.rbac.require('items.create'),",
        "r.post('/items',",
    );
    test.replace_in_file("items/sandbox/sql/system.sql", "CREATE", "-- edited\nCREATE");
    test.write_file("items/plugin/migrations/0003_gap.sql", "SELECT 1;\n");
    let summary = test.path("summary.md");
    test.write_file("summary.md", "# earlier step\n");
    for format in ["human", "json", "github", "sarif"] {
        let out = test
            .command()
            .args(["doctor", "items", "--ignore", "toolchain", "--format", format])
            .env("GITHUB_STEP_SUMMARY", &summary)
            .output()
            .unwrap();
        assert_eq!(code_of(&test, &out), 1);
        insta::assert_snapshot!(format!("every_format_{format}"), test.filter(&stdout(&out)));
    }
    // The GitHub format also appended a summary (after what an earlier step wrote).
    assert_snapshot!(
        "every_format_step_summary",
        test.filter(&test.read_file("summary.md"))
    );

    // SARIF as GitHub code scanning takes it.
    let out = test.run(&["doctor", "items", "--ignore", "toolchain", "--format", "sarif"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["version"], "2.1.0");
    let run = &doc["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    for rule in rules {
        assert!(
            rule["id"].is_string() && rule["shortDescription"]["text"].is_string(),
            "{rule}"
        );
        assert!(
            rule["helpUri"].as_str().unwrap().starts_with("https://"),
            "{rule}"
        );
    }
    for result in run["results"].as_array().unwrap() {
        let index = result["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[index]["id"], result["ruleId"]);
        assert!(["error", "warning"].contains(&result["level"].as_str().unwrap()));
        let location = &result["locations"][0]["physicalLocation"];
        let uri = location["artifactLocation"]["uri"].as_str().unwrap();
        assert!(uri.starts_with("items/") && !uri.contains(".."), "{uri}");
        assert!(location["region"]["startLine"].as_u64().unwrap() >= 1);
    }
}

// --- issue 11: --fix --------------------------------------------------------------------------

#[test]
fn fix_round_trips_the_safe_fixes_and_keeps_comments_and_order() {
    let test = CliTest::new();
    sandbox(&test);
    // A comment of the user's, which must survive.
    test.replace_in_file(
        "items/tsconfig.json",
        "\"compilerOptions\": {",
        "\"compilerOptions\": {\n    // ours: keep me",
    );
    let tsconfig = test.read_file("items/tsconfig.json");
    let package = test.read_file("items/package.json");
    // The seed's traps: baseUrl, the alias to a folder that is not there, cors (and its types) in
    // dependencies though only development loads it.
    test.replace_in_file(
        "items/tsconfig.json",
        "// ours: keep me",
        "// ours: keep me\n    \"baseUrl\": \".\",",
    );
    test.replace_in_file("items/tsconfig.json", "\"./client/src/*\"", "\"./src/client/*\"");
    let moved = package
        .replace("    \"cors\": \"^2.8.6\",\n", "")
        .replace("    \"@types/cors\": \"^2.8.19\",\n", "")
        .replace(
            "\"dependencies\": {\n",
            "\"dependencies\": {\n    \"@types/cors\": \"^2.8.19\",\n    \"cors\": \"^2.8.6\",\n",
        );
    test.write_file("items/package.json", &moved);
    let (code, list) = found(&test, &["doctor", "items"]);
    let codes: Vec<&str> = list.iter().map(|(c, _, _)| c.as_str()).collect();
    assert_eq!(
        (code, codes),
        (
            1,
            vec![
                "tsconfig-base-url",
                "tsconfig-path-missing",
                "dependency-dev-path-in-dependencies"
            ]
        )
    );

    let out = test.run(&["doctor", "items", "--fix", "--ignore", "toolchain"]);
    assert_eq!(code_of(&test, &out), 0, "{}", stdout(&out));
    assert_snapshot!(test.filter(&stdout(&out)));
    // Byte for byte what it was before the traps: the comment, the key order, the formatting.
    assert_eq!(test.read_file("items/tsconfig.json"), tsconfig);
    assert_eq!(test.read_file("items/package.json"), package);
    let (code, list) = found(&test, &["doctor", "items"]);
    assert_eq!((code, list.len()), (0, 0), "{list:?}");
}

#[test]
fn fix_adapts_a_drifted_module_again_but_never_over_an_edit() {
    let test = CliTest::new();
    sandbox(&test);
    test.copy_fixture("foundation", "foundation");
    assert!(
        test.run(&["adapt", "items", "--foundation", "foundation", "-q"])
            .status
            .success()
    );
    let adapter = "foundation/src/modules/items/server/routes/index.ts";
    let written = test.read_file(adapter);
    std::fs::remove_file(test.path(adapter)).unwrap();
    let (code, list) = found(&test, &["doctor", "foundation"]);
    assert_eq!((code, list[0].0.as_str()), (1, "adapter-missing"));
    let out = test.run(&["doctor", "foundation", "--fix", "--ignore", "toolchain"]);
    assert_eq!(code_of(&test, &out), 0, "{}", stdout(&out));
    assert!(
        stdout(&out).contains("fixed: src/modules/items/: adapted `items` again from "),
        "{}",
        stdout(&out)
    );
    assert_eq!(test.read_file(adapter), written);

    // An edit is never overwritten: the drift stays, and --fix says why.
    test.replace_in_file(
        adapter,
        "'../../../../lib/db/tenant-db.js'",
        "'../../../lib/db/tenant-db.js'",
    );
    let out = test.run(&["doctor", "foundation", "--fix", "--ignore", "toolchain"]);
    assert_eq!(code_of(&test, &out), 1, "{}", stdout(&out));
    assert!(
        stdout(&out).contains("not fixed: adapting `items` again would overwrite edited file(s) src/modules/items/server/routes/index.ts"),
        "{}",
        stdout(&out)
    );
    assert!(test.read_file(adapter).contains("'../../../lib/db/tenant-db.js'"));
}

// --- issue 11: live drift across tenant schemas ----------------------------------------------

#[test]
fn drift_across_tenant_schemas_is_named_per_tenant_and_object() {
    let db = TestDb::new();
    let test = CliTest::new()
        .with_filter(db.url(), "[DB]")
        .with_filter(redact(db.url()), "[DB]");
    sandbox(&test);
    let dir = test.path("items");
    let dir = dir.to_str().unwrap();
    let bootstrap = test.run(&[
        "bootstrap",
        "--project",
        dir,
        "--db",
        db.url(),
        "--tenant",
        "acme",
        "--tenant",
        "globex",
        "--tenant",
        "initech",
        "-q",
    ]);
    assert!(
        bootstrap.status.success(),
        "{}",
        test.filter(&crate::support::transcript(&bootstrap))
    );
    let (code, list) = found(&test, &["doctor", dir, "--db", db.url()]);
    assert_eq!((code, list.len()), (0, 0), "{list:?}");

    // One tenant drifts: a missing column, an extra index, a changed type.
    db.execute(
        "ALTER TABLE tenant_initech.items DROP COLUMN updated_at;
         CREATE INDEX items_name_idx ON tenant_initech.items (name);
         ALTER TABLE tenant_initech.items ALTER COLUMN name TYPE varchar(100);",
    );
    let out = test.run(&["doctor", dir, "--db", db.url(), "--ignore", "toolchain"]);
    assert_eq!(code_of(&test, &out), 1);
    assert_snapshot!(test.filter(&stdout(&out)));
}
