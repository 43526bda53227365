//! A module's async route whose SQL fails, in a foundation on Express 4 and on Express 5: the
//! adapter (not the module) forwards the rejected promise to next(err), so the foundation's error
//! handler answers 500 and the process stays up. Express 5 forwards rejections itself; Express 4
//! does not, and without the adapter's forwarding the unhandled rejection ends the process (checked
//! too, so this test can fail). The template's module also forwards its own rejections (its
//! `route()` helper); these tests take that out, as a module written without it (or before it)
//! would be, so that the adapter's forwarding alone is what they see. Express 4 is installed once
//! per run beside the shared sandbox, and
//! the foundation's node_modules links everything else to the sandbox's packages.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::foundation::{Variant, adapt, foundation, patch, start_foundation, tsc};
use super::sandbox::{HEALTH, ITEMS, command, run_ok, sandbox, stdout, timed};
use crate::support::pg::TestDb;
use crate::support::{bin, http, transcript};

/// `express@4` and `@types/express@4`, installed once per test process.
fn express4() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = sandbox().root.join("express4");
        fs::create_dir_all(&dir).unwrap();
        fs::write(
            dir.join("package.json"),
            r#"{ "name": "express4", "private": true }"#,
        )
        .unwrap();
        timed("npm install express@4 (once)", || {
            run_ok(command("npm", &dir).args([
                "install",
                "--no-audit",
                "--no-fund",
                "express@4",
                "@types/express@4",
            ]));
        });
        dir
    })
}

/// The foundation's node_modules on Express 4: Express and its types from [`express4`], every
/// other package linked to the shared sandbox's.
fn use_express4(dir: &Path) {
    let modules = dir.join("node_modules");
    fs::remove_file(&modules).unwrap();
    fs::create_dir(&modules).unwrap();
    let shared = sandbox().dir.join("node_modules");
    let four = express4().join("node_modules");
    let link = |from: &Path, to: &Path| std::os::unix::fs::symlink(from, to).unwrap();
    for entry in fs::read_dir(&shared).unwrap().flatten() {
        let name = entry.file_name();
        match name.to_str() {
            Some("express") => link(&four.join("express"), &modules.join("express")),
            Some("@types") => {
                fs::create_dir(modules.join("@types")).unwrap();
                for types in fs::read_dir(entry.path()).unwrap().flatten() {
                    let name = types.file_name();
                    let from = if name == "express" || name == "express-serve-static-core" {
                        four.join("@types").join(&name)
                    } else {
                        types.path()
                    };
                    link(&from, &modules.join("@types").join(&name));
                }
            }
            _ => link(&entry.path(), &modules.join(&name)),
        }
    }
}

/// The version of Express the foundation's server loads.
fn express_version(dir: &Path) -> String {
    let out = run_ok(command("node", dir).args(["-p", "require('express/package.json').version"]));
    stdout(&out).trim().to_string()
}

/// Bootstrap with two tenants and let alice read items in acme.
fn bootstrap(dir: &Path, db: &TestDb) {
    run_ok(
        command(bin(), dir)
            .args(["bootstrap", "--project", ".", "--db", db.url()])
            .args(["--tenant", "acme"]),
    );
    db.execute(
        "WITH t AS (SELECT id FROM sys_tenant WHERE code = 'acme'),
              r AS (INSERT INTO sys_role (tenant_id, code, name) SELECT id, 'reader', 'Reader' FROM t RETURNING id, tenant_id),
              p AS (INSERT INTO sys_role_permission (role_id, permission) SELECT r.id, 'items.read' FROM r)
         INSERT INTO sys_user_role (user_id, tenant_id, role_id) SELECT 'alice', r.tenant_id, r.id FROM r",
    );
}

const ALICE: [(&str, &str); 2] = [("X-User-Id", "alice"), ("X-Tenant-Id", "acme")];

/// The adapted module's `route()` helper without its own `.catch(next)`: each handler returns its
/// promise to Express, as a bare async handler does (after tsc: this is not type-correct).
fn without_the_modules_own_catch(dir: &Path) {
    patch(
        &dir.join("src/modules/items/plugin/index.ts"),
        "  return (req, res, next) => {\n    handle(req, res).catch(next);\n  };",
        "  return handle as unknown as RequestHandler;",
    );
}

#[test]
fn a_module_route_whose_sql_fails_answers_500_and_the_foundation_stays_up_on_express_4_and_5() {
    for (major, variant) in [("5", Variant::Esm), ("4", Variant::Cjs)] {
        let label = format!("express{major}");
        let dir = foundation(variant, &label);
        if major == "4" {
            use_express4(&dir);
        }
        assert!(
            express_version(&dir).starts_with(&format!("{major}.")),
            "the foundation does not load Express {major}"
        );
        adapt(&dir);
        let out = tsc(&dir);
        assert!(
            out.status.success(),
            "Express {major}: tsc:\n{}",
            transcript(&out)
        );
        without_the_modules_own_catch(&dir);
        let db = TestDb::new();
        bootstrap(&dir, &db);
        let mut server = start_foundation(&dir, &label, db.url());
        let url = |path: &str| format!("{}{path}", server.base());
        let listed = http::request("GET", &url(ITEMS), &ALICE, None);
        assert_eq!(listed.status, 200, "Express {major}: {}", listed.body);

        // The module's SQL now fails (relation "items" does not exist).
        db.execute("DROP TABLE tenant_acme.items");
        let failed = http::request("GET", &url(ITEMS), &ALICE, None);
        assert_eq!(
            (failed.status, failed.body.contains("internal error")),
            (500, true),
            "Express {major}: the failing route: {}\n{}",
            failed.body,
            server.log_text()
        );
        let health = http::request("GET", &url(HEALTH), &[], None);
        assert_eq!(health.status, 200, "Express {major}: the foundation went down");
        assert!(server.exited().is_none(), "Express {major}: the process ended");
        assert!(
            server.log_text().contains("items"),
            "Express {major}: the foundation's error handler logged nothing:\n{}",
            server.log_text()
        );
    }
}

/// The control: on Express 4, the same adapter without the forwarding (a bare `Router()`) lets the
/// rejection go unhandled and the process ends: what the test above would see on the old adapter.
#[test]
fn on_express_4_an_unforwarded_rejection_ends_the_process() {
    let dir = foundation(Variant::Cjs, "express4-bare");
    use_express4(&dir);
    adapt(&dir);
    patch(
        &dir.join("src/modules/items/server/routes/index.ts"),
        "const router = forwardRejections(Router());",
        "const router = Router();",
    );
    without_the_modules_own_catch(&dir);
    let db = TestDb::new();
    bootstrap(&dir, &db);
    let mut server = start_foundation(&dir, "express4-bare", db.url());
    db.execute("DROP TABLE tenant_acme.items");
    let answer = http::try_request("GET", &format!("{}{ITEMS}", server.base()), &ALICE, None);
    assert!(
        answer.is_err(),
        "Express 4 answered a rejected handler: {answer:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.exited().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        server.exited().is_some(),
        "the process survived an unhandled rejection:\n{}",
        server.log_text()
    );
}
