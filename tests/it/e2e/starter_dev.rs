//! The starter foundation's `npm run dev` brings the database in step as the sandbox's does (issue
//! 17's dev loop): a migration saved in `migrations/<id>/` is applied to every dev and existing tenant
//! and the API restarted; a permission added to a module's `module.config.ts` is registered and
//! granted to the dev user; a broken migration is reported with its file and line, the database left
//! as it was and the API kept serving. A module adapted while it runs (`modkit adapt`) is migrated in
//! every tenant, its permissions granted to the dev user and its routes served, with no restart by hand.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::sandbox::{command, record, run_ok, sandbox, tail};
use crate::support::bin;
use crate::support::http;
use crate::support::pg::TestDb;
use crate::support::process::{ChildGuard, free_port};

/// The foundation's `npm run dev` on a test database, and its log.
struct DevRun {
    guard: ChildGuard,
    log: PathBuf,
    vite: u16,
}

impl DevRun {
    /// `npm run dev` in `dir` with `DATABASE_URL`, once `/api/health` answers 200 through Vite.
    fn start(dir: &Path, db: &TestDb) -> DevRun {
        let (api, vite) = (free_port(), free_port());
        let log = dir.parent().unwrap().join("dev.log");
        let file = fs::File::create(&log).unwrap();
        let mut cmd = command("npm", dir);
        cmd.args(["run", "dev"])
            .env("DATABASE_URL", db.url())
            .env("PORT", api.to_string())
            .env("VITE_PORT", vite.to_string())
            .stdout(file.try_clone().unwrap())
            .stderr(file);
        let mut dev = DevRun {
            guard: ChildGuard::spawn(&mut cmd),
            log,
            vite,
        };
        dev.wait("the first 200", &mut || {
            dev.status("/api/health", "dev") == Some(200)
        });
        dev.assert_running();
        dev
    }

    fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The status of `GET path` through Vite as `user` of tenant dev; None when nothing answers.
    fn status(&self, path: &str, user: &str) -> Option<u16> {
        self.get(path, user).map(|r| r.status)
    }

    fn get(&self, path: &str, user: &str) -> Option<http::Response> {
        let url = format!("http://127.0.0.1:{}{path}", self.vite);
        http::try_request("GET", &url, &[("X-Tenant-Id", "dev"), ("X-User-Id", user)], None).ok()
    }

    /// Polls `check` for up to 60 s; fails with the end of the log.
    fn wait(&self, what: &str, check: &mut dyn FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !check() {
            assert!(
                Instant::now() < deadline,
                "{what}: not within 60 s; npm run dev's log:\n{}",
                tail(&self.log_text(), 40)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether the log has `line`, then an API that listens (`API on http`) after it.
    fn restarted_after(&self, line: &str) -> bool {
        self.log_text()
            .split(line)
            .nth(1)
            .is_some_and(|after| after.contains("API on http"))
    }

    fn assert_running(&mut self) {
        assert!(self.guard.try_wait().is_none(), "{}", tail(&self.log_text(), 40));
    }
}

/// The schemas holding a column `column` of table `table`, comma-separated.
fn schemas_with(db: &TestDb, table: &str, column: &str) -> String {
    db.scalar(&format!(
        "SELECT string_agg(table_schema, ',' ORDER BY table_schema) FROM information_schema.columns
          WHERE table_name = '{table}' AND column_name = '{column}'"
    ))
}

/// How many roles of tenant dev give user dev `permission` (0 or 1).
fn granted_to_dev(db: &TestDb, permission: &str) -> String {
    db.scalar(&format!(
        "SELECT count(*) FROM public.sys_user_role ur
           JOIN public.sys_role_permission rp ON rp.role_id = ur.role_id
           JOIN public.sys_tenant t ON t.id = ur.tenant_id
          WHERE ur.user_id = 'dev' AND t.code = 'dev' AND rp.permission = '{permission}'"
    ))
}

/// A foundation `platform` under the shared sandbox's root (its packages linked), with `modules`
/// adapted from their sandboxes, and tenant acme bootstrapped on `db` as an existing tenant (not a
/// dev tenant of modkit.toml).
fn foundation(folder: &str, modules: &[(&str, &Path)], db: &TestDb) -> PathBuf {
    let sb = sandbox();
    let root = sb.root.join(folder);
    let _ = fs::remove_dir_all(&root);
    fs::create_dir_all(&root).unwrap();
    run_ok(command(bin(), &root).args(["init", "platform", "--foundation"]));
    let dir = root.join("platform");
    std::os::unix::fs::symlink(sb.dir.join("node_modules"), dir.join("node_modules")).unwrap();
    for (module, from) in modules {
        adapt(&dir, module, from, None);
    }
    run_ok(
        command("npm", &dir)
            .args(["run", "bootstrap", "--", "--tenant", "acme"])
            .env("DATABASE_URL", db.url()),
    );
    dir
}

/// `modkit adapt module --foundation platform --from from`; with `pause`, each file written that
/// much apart (modkit's test hook), so that a running `npm run dev` compiles the module half written.
fn adapt(foundation: &Path, module: &str, from: &Path, pause: Option<Duration>) {
    let mut cmd = command(bin(), foundation.parent().unwrap());
    cmd.args(["adapt", module, "--foundation", "platform", "--from"])
        .arg(from);
    if let Some(pause) = pause {
        cmd.env("MODKIT_TEST_WRITE_PAUSE_MS", pause.as_millis().to_string());
    }
    run_ok(&mut cmd);
}

#[test]
fn a_migration_and_a_permission_saved_during_the_foundations_npm_run_dev_are_applied() {
    let db = TestDb::new();
    let dir = foundation("starter-dev", &[("items", &sandbox().dir)], &db);
    let mut dev = DevRun::start(&dir, &db);
    let log_text = || dev.log_text();
    let column = |name: &str| schemas_with(&db, "items", name);

    // The start's own check of the database (it runs once: .modkit/dev has no record yet) is over,
    // so that what follows is the watcher's doing.
    dev.wait("the start's database check", &mut || {
        dir.join(".modkit/dev/db-inputs").exists()
    });
    // A migration saved where `modkit adapt` and `modkit migration new --module` write them.
    let saved = Instant::now();
    fs::write(
        dir.join("migrations/items/0002_add_description.sql"),
        "-- a description per item\nALTER TABLE items ADD COLUMN description text NOT NULL DEFAULT 'none';\n",
    )
    .unwrap();
    dev.wait("the migration reported", &mut || {
        log_text().contains("[db] applied items/0002_add_description.sql to 2 tenants in ")
    });
    record(
        "foundation: npm run dev applies a saved migration",
        saved.elapsed(),
    );
    assert_eq!(column("description"), "tenant_acme,tenant_dev");
    dev.wait("the API restarted after the migration", &mut || {
        dev.restarted_after("[api] restarting: migrations/items/0002_add_description.sql changed")
    });

    // A permission declared in module.config.ts: registered and granted to the dev user.
    let config = dir.join("src/modules/items/module.config.ts");
    let text = fs::read_to_string(&config).unwrap();
    let edited = text.replacen(r#""items.delete"]"#, r#""items.delete", "items.describe"]"#, 1);
    assert_ne!(edited, text, "module.config.ts moved: update this test");
    fs::write(&config, edited).unwrap();
    let granted = || granted_to_dev(&db, "items.describe");
    dev.wait("the new permission granted to dev", &mut || granted() == "1");
    dev.wait("the API restarted after the permission", &mut || {
        dev.restarted_after("[api] restarting: src/modules/items/module.config.ts changed")
    });
    let starts = log_text().matches("API on http").count();

    // A broken migration: file and line, nothing applied, the API kept (not restarted) and serving.
    fs::write(
        dir.join("migrations/items/0003_broken.sql"),
        "-- broken on purpose\nALTER TABLE items ADD COLUMN extra text;\nALTER TABLE items ADD COLUMNN other text;\n",
    )
    .unwrap();
    dev.wait("the broken migration reported", &mut || {
        log_text().contains("items/0003_broken.sql:3:")
    });
    let text = log_text();
    assert!(
        text.contains("[db] the database is as it was"),
        "{}",
        tail(&text, 30)
    );
    assert_eq!(
        column("extra"),
        "",
        "the broken migration's first statement was kept"
    );
    assert_eq!(
        dev.status("/api/health", "dev"),
        Some(200),
        "{}",
        tail(&log_text(), 30)
    );
    assert_eq!(
        log_text().matches("API on http").count(),
        starts,
        "the API was restarted for a migration that failed"
    );
    dev.assert_running();
}

#[test]
fn a_module_adapted_during_the_foundations_npm_run_dev_is_migrated_granted_and_served() {
    let db = TestDb::new();
    // A fresh foundation, no module yet (no migrations/ folder either), npm run dev running.
    let dir = foundation("starter-dev-adapt", &[], &db);
    let mut dev = DevRun::start(&dir, &db);
    let served = |module: &str| dev.status(&format!("/api/plugins/{module}/{module}"), "dev") == Some(200);

    // The first module, adapted from the shared sandbox: migrations/ appears with it. Its files come
    // 150 ms apart (more than the launcher's 80 ms wait for quiet): npm run dev compiles, migrates and
    // restarts on each, meeting the module half written, as a slow disk or a large module would.
    adapt(&dir, "items", &sandbox().dir, Some(Duration::from_millis(150)));
    dev.wait("items served to the dev user", &mut || served("items"));
    assert_eq!(schemas_with(&db, "items", "name"), "tenant_acme,tenant_dev");
    assert_eq!(granted_to_dev(&db, "items.read"), "1");
    assert_eq!(
        dev.status("/api/plugins/items/items", "stranger"),
        Some(403),
        "a user without the permission"
    );

    // A second module, from a sandbox of its own, into the migrations/ folder that exists now.
    run_ok(command(bin(), dir.parent().unwrap()).args(["init", "notes", "-q"]));
    let adapted = Instant::now();
    adapt(&dir, "notes", &dir.parent().unwrap().join("notes"), None);
    dev.wait("notes served to the dev user", &mut || served("notes"));
    record(
        "foundation: npm run dev serves a module adapted while it runs",
        adapted.elapsed(),
    );
    assert!(
        dev.log_text()
            .contains("[db] applied notes/0001_create_module_table.sql to 2 tenants in "),
        "{}",
        tail(&dev.log_text(), 30)
    );
    assert_eq!(schemas_with(&db, "notes", "name"), "tenant_acme,tenant_dev");
    assert_eq!(granted_to_dev(&db, "notes.create"), "1");
    // Both in the registry, each with its nav entry for the dev user (the permissions granted).
    let body = dev.get("/api/modules", "dev").map(|r| r.body).unwrap_or_default();
    let listed: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    let navs: Vec<(String, usize)> = listed["data"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            let nav = m["nav"].as_array().map_or(0, Vec::len);
            (m["id"].as_str().unwrap_or_default().to_string(), nav)
        })
        .collect();
    assert_eq!(
        navs,
        [("items".to_string(), 1), ("notes".to_string(), 1)],
        "{body}"
    );
    assert!(served("items"), "items stopped answering");
    // No step failed on the way: a module half written is not one whose files are missing.
    let log = dev.log_text();
    assert!(!log.contains("[db] not brought in step"), "{log}");
    dev.assert_running();
}
