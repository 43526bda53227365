//! The foundation on Kysely, on Drizzle and on Prisma (docs/foundation.md): the app's ORM and
//! withTenantTx share one pg pool, so the tested withTenantTx stays as it is and only client.ts
//! changes. For each ORM: the fixture foundation with that client.ts (tests/fixtures/orm/<orm>/),
//! the module adapted, `tsc`, served with a create and a list in one tenant and nothing in the
//! other, and a script that queries through the ORM and through withTenantTx on the same pool: the
//! tenant's search_path inside, none of it left on the pooled connection after. The ORMs are
//! installed once per run beside the shared sandbox.
//!
//! Prisma's client is generated (`prisma generate`, Prisma 7's Rust-free `prisma-client` generator
//! with the pg driver adapter), offline: its postinstall scripts are not run, and its schema engine,
//! which `generate` would otherwise download first and never needs for this generator, is a
//! program that fails loudly if it is ever run.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::foundation::{Variant, adapt, foundation, start_foundation, tsc};
use super::sandbox::{ITEMS, command, run_ok, sandbox, stdout, timed};
use crate::support::pg::TestDb;
use crate::support::{bin, fixture, http, transcript};

/// The program `prisma generate` is told is its schema engine: never run for the `prisma-client`
/// generator, and a failure naming itself if it ever is.
const NO_SCHEMA_ENGINE: &str = "#!/bin/sh
echo \"modkit's tests: Prisma ran its schema engine ($*), which they never download\" >&2
exit 97
";

/// `kysely`, `drizzle-orm` and Prisma 7 (its CLI, client and pg adapter), installed once per test
/// process, Prisma's scripts not run (they would download its engines).
fn orm_packages() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = sandbox().root.join("orm");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("package.json"), r#"{ "name": "orm", "private": true }"#).unwrap();
        timed("npm install kysely drizzle-orm prisma (once)", || {
            run_ok(command("npm", &dir).args([
                "install",
                "--no-audit",
                "--no-fund",
                "--ignore-scripts",
                "kysely@0.29",
                "drizzle-orm@0.45",
                "prisma@7.10",
                "@prisma/client@7.10",
                "@prisma/adapter-pg@7.10",
            ]));
        });
        let engine = dir.join("no-schema-engine");
        fs::write(&engine, NO_SCHEMA_ENGINE).unwrap();
        fs::set_permissions(&engine, fs::Permissions::from_mode(0o755)).unwrap();
        // The ORMs import `pg` from where they lie: make that the shared sandbox's, the app's pool's,
        // as npm's one deduplicated copy in an app. Prisma's adapter brings its own otherwise, and
        // its `instanceof pg.Pool` then fails on the app's pool, which it takes for a config.
        for package in ["pg", "@types/pg"] {
            let copy = dir.join("node_modules").join(package);
            let _ = fs::remove_dir_all(&copy);
            std::os::unix::fs::symlink(sandbox().dir.join("node_modules").join(package), &copy).unwrap();
        }
        dir
    })
}

/// The foundation's node_modules: the shared sandbox's packages and the ORM's, each linked.
fn with_orm(dir: &Path, packages: &[&str]) {
    let modules = dir.join("node_modules");
    fs::remove_file(&modules).unwrap();
    fs::create_dir(&modules).unwrap();
    for entry in fs::read_dir(sandbox().dir.join("node_modules"))
        .unwrap()
        .flatten()
    {
        std::os::unix::fs::symlink(entry.path(), modules.join(entry.file_name())).unwrap();
    }
    for package in packages {
        let link = modules.join(package);
        fs::create_dir_all(link.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(orm_packages().join("node_modules").join(package), link).unwrap();
    }
}

/// `prisma generate` over tests/fixtures/orm/prisma/schema.prisma: the client in src/generated/,
/// with nothing downloaded.
fn prisma_generate(dir: &Path) {
    fs::create_dir_all(dir.join("prisma")).unwrap();
    fs::copy(
        fixture("orm/prisma/schema.prisma"),
        dir.join("prisma/schema.prisma"),
    )
    .unwrap();
    let orm = orm_packages();
    let out = timed("prisma generate", || {
        run_ok(
            command(orm.join("node_modules/.bin/prisma"), dir)
                .arg("generate")
                .env("PRISMA_SCHEMA_ENGINE_BINARY", orm.join("no-schema-engine"))
                .env("CHECKPOINT_DISABLE", "1")
                .env("PRISMA_HIDE_UPDATE_MESSAGE", "1"),
        )
    });
    assert!(
        dir.join("src/generated/prisma/client.ts").is_file(),
        "prisma generate wrote no client:\n{}",
        transcript(&out)
    );
}

#[test]
fn the_foundation_on_kysely_on_drizzle_and_on_prisma_shares_one_pool_with_with_tenant_tx() {
    let orms: [(&str, &[&str]); 3] = [
        ("kysely", &["kysely"]),
        ("drizzle", &["drizzle-orm"]),
        ("prisma", &["@prisma/client", "@prisma/adapter-pg"]),
    ];
    for (orm, packages) in orms {
        let dir = foundation(Variant::Esm, orm);
        with_orm(&dir, packages);
        if orm == "prisma" {
            prisma_generate(&dir);
        }
        fs::copy(
            fixture(&format!("orm/{orm}/client.ts")),
            dir.join("src/lib/db/client.ts"),
        )
        .unwrap();
        fs::create_dir_all(dir.join("src/check")).unwrap();
        fs::copy(
            fixture(&format!("orm/{orm}/check.ts")),
            dir.join("src/check/check.ts"),
        )
        .unwrap();
        adapt(&dir);
        let out = tsc(&dir);
        assert!(out.status.success(), "{orm}: tsc:\n{}", transcript(&out));

        let db = TestDb::new();
        run_ok(
            command(bin(), &dir)
                .args(["bootstrap", "--project", ".", "--db", db.url()])
                .args(["--tenant", "acme", "--tenant", "globex"]),
        );
        db.execute(
            "WITH t AS (SELECT id FROM sys_tenant WHERE code = 'acme'),
                  r AS (INSERT INTO sys_role (tenant_id, code, name) SELECT id, 'editor', 'Editor' FROM t RETURNING id, tenant_id),
                  p AS (INSERT INTO sys_role_permission (role_id, permission)
                          SELECT r.id, perm FROM r, unnest(ARRAY['items.read', 'items.create']) AS perm)
             INSERT INTO sys_user_role (user_id, tenant_id, role_id) SELECT 'alice', r.tenant_id, r.id FROM r",
        );

        // The app's ORM and a module's transaction on one pool.
        let out = run_ok(
            command(dir.join("node_modules/.bin/tsx"), &dir)
                .arg("src/check/check.ts")
                .env("DATABASE_URL", db.url()),
        );
        let seen: serde_json::Value = serde_json::from_str(stdout(&out).trim())
            .unwrap_or_else(|e| panic!("{orm}: check.ts printed no JSON ({e}):\n{}", transcript(&out)));
        assert_eq!(
            seen["tenants"],
            serde_json::json!(["acme", "globex"]),
            "{orm}: {seen}"
        );
        assert_eq!(seen["inside"], "\"tenant_acme\", extensions", "{orm}: {seen}");
        assert_eq!(
            seen["after"], "\"$user\", public",
            "{orm}: the tenant's search_path outlived its transaction: {seen}"
        );
        if orm == "prisma" {
            // Prisma's query while the tenant's transaction holds its connection: another
            // connection of the pool, untouched by the tenant's transaction-local search_path.
            assert_eq!(seen["prismaInside"], "\"$user\", public", "{orm}: {seen}");
        }

        let server = start_foundation(&dir, &format!("foundation-{orm}"), db.url());
        let url = format!("{}{ITEMS}", server.base());
        let json = [
            ("X-User-Id", "alice"),
            ("X-Tenant-Id", "acme"),
            ("Content-Type", "application/json"),
        ];
        let created = http::request("POST", &url, &json, Some(r#"{"name":"widget"}"#));
        assert_eq!(created.status, 201, "{orm}: {}", created.body);
        let listed = http::request("GET", &url, &json[..2], None);
        assert!(listed.body.contains("widget"), "{orm}: {}", listed.body);
        assert_eq!(db.scalar("SELECT count(*) FROM tenant_acme.items"), "1");
        assert_eq!(db.scalar("SELECT count(*) FROM tenant_globex.items"), "0");
    }
}
