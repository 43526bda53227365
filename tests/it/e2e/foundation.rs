//! The module in a foundation: `modkit adapt items` into the fixture foundation
//! (`tests/fixtures/foundation`) in its three module systems, then `tsc --noEmit`, `modkit
//! bootstrap --project <foundation>`, the foundation's own server and the seed's definition of
//! done over HTTP. The foundation reuses the shared sandbox's installed packages (same versions).

use std::fs;
use std::path::{Path, PathBuf};

use super::sandbox::{HEALTH, ITEMS, Server, command, output, run_ok, sandbox, spawn_server, stdout, timed};
use crate::support::pg::TestDb;
use crate::support::{bin, copy_dir, fixture, http, transcript};

#[derive(Debug, Clone, Copy)]
pub(super) enum Variant {
    /// package.json "type": "module", NodeNext: `.js` specifiers, top-level await.
    Esm,
    /// "type": "commonjs", NodeNext: no extensions, no top-level await (`ready`).
    Cjs,
    /// "type": "module", ESNext + Bundler: no extensions, top-level await.
    Bundler,
}

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::Esm => "esm",
            Variant::Cjs => "cjs",
            Variant::Bundler => "bundler",
        }
    }
}

pub(super) fn patch(file: &Path, from: &str, to: &str) {
    let text = fs::read_to_string(file).unwrap();
    assert!(text.contains(from), "{} has no `{from}`", file.display());
    fs::write(file, text.replace(from, to)).unwrap();
}

/// A fresh copy of the fixture foundation in `variant`, with the shared sandbox's packages.
pub(super) fn foundation(variant: Variant, label: &str) -> PathBuf {
    let sb = sandbox();
    let dir = sb.root.join(format!("foundation-{label}-{}", variant.name()));
    let _ = fs::remove_dir_all(&dir);
    copy_dir(&fixture("foundation"), &dir);
    std::os::unix::fs::symlink(sb.dir.join("node_modules"), dir.join("node_modules")).unwrap();
    match variant {
        Variant::Esm => {}
        Variant::Cjs => patch(
            &dir.join("package.json"),
            r#""type": "module""#,
            r#""type": "commonjs""#,
        ),
        Variant::Bundler => {
            let tsconfig = dir.join("tsconfig.json");
            patch(&tsconfig, r#""module": "NodeNext""#, r#""module": "ESNext""#);
            patch(
                &tsconfig,
                r#""moduleResolution": "NodeNext""#,
                r#""moduleResolution": "Bundler""#,
            );
        }
    }
    dir
}

/// `modkit adapt items --foundation <dir> --from <the shared sandbox>`.
pub(super) fn adapt(dir: &Path) -> String {
    let out = run_ok(
        command(bin(), dir)
            .args(["adapt", "items", "--foundation", "."])
            .arg("--from")
            .arg(&sandbox().dir),
    );
    stdout(&out)
}

pub(super) fn tsc(dir: &Path) -> std::process::Output {
    output(command(dir.join("node_modules/.bin/tsc"), dir).args(["--noEmit", "--pretty", "false"]))
}

#[test]
fn the_adapted_module_type_checks_in_every_module_system() {
    for variant in [Variant::Esm, Variant::Cjs, Variant::Bundler] {
        let dir = foundation(variant, "tsc");
        let said = adapt(&dir);
        let adapter = fs::read_to_string(dir.join("src/modules/items/server/routes/index.ts")).unwrap();
        let (spec, awaits) = match variant {
            Variant::Esm => ("'../../../../lib/db/tenant-db.js'", true),
            Variant::Cjs => ("'../../../../lib/db/tenant-db'", false),
            Variant::Bundler => ("'../../../../lib/db/tenant-db'", true),
        };
        assert!(
            adapter.contains(spec),
            "{variant:?}: the adapter imports withTenantTx otherwise:\n{adapter}\n{said}"
        );
        assert_eq!(
            adapter.contains("\nawait plugin.register(ctx);"),
            awaits,
            "{variant:?}:\n{adapter}"
        );
        let out = timed(&format!("tsc --noEmit, foundation ({})", variant.name()), || {
            tsc(&dir)
        });
        assert!(
            out.status.success(),
            "{variant:?}: tsc failed on the adapted foundation:\n{}",
            transcript(&out)
        );
    }

    // The checks can fail: the seed's adapter, with its import path copied rather than computed,
    // does not type-check (it points at src/modules/lib/...), and neither does top-level await in
    // the CommonJS variant, nor the seed's `baseUrl` (TypeScript 7 removed it).
    let adapter = "src/modules/items/server/routes/index.ts";
    tsc_fails_after(
        Variant::Esm,
        "seed",
        adapter,
        "'../../../../lib/db/tenant-db.js'",
        "'../../../lib/db/tenant-db.js'",
        "TS2307",
    );
    tsc_fails_after(
        Variant::Cjs,
        "tla",
        adapter,
        "export const ready: Promise<void> = Promise.resolve(plugin.register(ctx));",
        "await plugin.register(ctx);",
        "TS1309",
    );
    let dir = tsc_fails_after(
        Variant::Esm,
        "baseurl",
        "tsconfig.json",
        r#""compilerOptions": {"#,
        r#""compilerOptions": { "baseUrl": ".","#,
        "TS5102",
    );
    // ... which is what `modkit doctor` says of it.
    let doctor = output(command(bin(), &dir).arg("doctor"));
    assert!(
        stdout(&doctor).contains("error[tsconfig-base-url]"),
        "{}",
        transcript(&doctor)
    );
}

/// An adapted foundation with one edit (`from` -> `to` in `file`) fails `tsc` with `error <code>`.
fn tsc_fails_after(variant: Variant, label: &str, file: &str, from: &str, to: &str, code: &str) -> PathBuf {
    let dir = foundation(variant, label);
    adapt(&dir);
    patch(&dir.join(file), from, to);
    let out = tsc(&dir);
    assert!(
        !out.status.success() && stdout(&out).contains(&format!("error {code}")),
        "{label}: expected {code}:\n{}",
        transcript(&out)
    );
    dir
}

/// Start the foundation's server (tsx directly: killing `npm start` would leave tsx behind).
pub(super) fn start_foundation(dir: &Path, name: &str, db_url: &str) -> Server {
    timed(&format!("start foundation ({name})"), || {
        spawn_server(
            name,
            |port| {
                let mut cmd = command(dir.join("node_modules/.bin/tsx"), dir);
                cmd.arg("src/server.ts")
                    .env("PORT", port.to_string())
                    .env("DATABASE_URL", db_url)
                    .env("NODE_ENV", "production");
                cmd
            },
            |port| {
                http::try_request("GET", &format!("http://127.0.0.1:{port}{HEALTH}"), &[], None)
                    .is_ok_and(|r| r.status == 200)
            },
        )
    })
}

#[test]
fn the_adapted_module_passes_the_definition_of_done_in_the_foundation() {
    for variant in [Variant::Esm, Variant::Cjs] {
        let dir = foundation(variant, "api");
        adapt(&dir);
        let db = TestDb::new();
        // The foundation's modules, found by bootstrap under src/modules/<id>/{plugin,migrations}.
        let out = run_ok(
            command(bin(), &dir)
                .args(["bootstrap", "--project", ".", "--db", db.url()])
                .args(["--tenant", "acme", "--tenant", "globex"]),
        );
        assert!(stdout(&out).contains("module items"), "{}", transcript(&out));
        // alice may read and create in acme only.
        db.execute(
            "WITH t AS (SELECT id FROM sys_tenant WHERE code = 'acme'),
                  r AS (INSERT INTO sys_role (tenant_id, code, name) SELECT id, 'editor', 'Editor' FROM t RETURNING id, tenant_id),
                  p AS (INSERT INTO sys_role_permission (role_id, permission)
                          SELECT r.id, perm FROM r, unnest(ARRAY['items.read', 'items.create']) AS perm)
             INSERT INTO sys_user_role (user_id, tenant_id, role_id) SELECT 'alice', r.tenant_id, r.id FROM r",
        );

        let server = start_foundation(&dir, &format!("foundation-{}", variant.name()), db.url());
        let url = |path: &str| format!("{}{path}", server.base());
        let as_user =
            |user: &'static str, tenant: &'static str| [("X-User-Id", user), ("X-Tenant-Id", tenant)];
        let what = variant.name();

        let health = http::request("GET", &url(HEALTH), &[], None);
        assert_eq!(
            (health.status, health.json()["ok"].as_bool()),
            (200, Some(true)),
            "{what}: health"
        );
        let denied = http::request("GET", &url(ITEMS), &as_user("bob", "acme"), None);
        assert_eq!(denied.status, 403, "{what}: a user without the permission");
        let empty = http::request("GET", &url(ITEMS), &as_user("alice", "acme"), None);
        assert_eq!(empty.status, 200, "{what}: {}", empty.body);
        let json = [
            ("X-User-Id", "alice"),
            ("X-Tenant-Id", "acme"),
            ("Content-Type", "application/json"),
        ];
        let created = http::request("POST", &url(ITEMS), &json, Some(r#"{"name":"widget"}"#));
        assert_eq!(created.status, 201, "{what}: {}", created.body);
        let listed = http::request("GET", &url(ITEMS), &as_user("alice", "acme"), None);
        assert!(listed.body.contains("widget"), "{what}: {}", listed.body);
        // In the tenant's schema, with no tenant_id column; nothing in the other tenant.
        assert_eq!(
            db.scalar("SELECT count(*) FROM tenant_acme.items WHERE name = 'widget'"),
            "1"
        );
        assert_eq!(db.scalar("SELECT count(*) FROM tenant_globex.items"), "0");
        let other = http::request("GET", &url(ITEMS), &as_user("alice", "globex"), None);
        assert_eq!(other.status, 403, "{what}: a grant in acme opened globex");
        let unknown = http::request("GET", &url(ITEMS), &as_user("alice", "nope"), None);
        assert_eq!(unknown.status, 404, "{what}: an unknown tenant");
        let modules = http::request("GET", &url("/api/modules"), &[], None);
        assert!(
            modules.body.contains(r#""id":"items""#) && modules.body.contains("items.delete"),
            "{what}: the registry's module.config.ts: {}",
            modules.body
        );
    }
}
