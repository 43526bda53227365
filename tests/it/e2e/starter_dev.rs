//! The starter foundation's `npm run dev` brings the database in step as the sandbox's does (issue
//! 17's dev loop): a migration saved in `migrations/<id>/` is applied to every dev and existing tenant
//! and the API restarted; a permission added to a module's `module.config.ts` is registered and
//! granted to the dev user; a broken migration is reported with its file and line, the database left
//! as it was and the API kept serving.

use std::fs;
use std::time::{Duration, Instant};

use super::sandbox::{command, record, run_ok, sandbox, tail};
use crate::support::bin;
use crate::support::http;
use crate::support::pg::TestDb;
use crate::support::process::{ChildGuard, free_port};

#[test]
fn a_migration_and_a_permission_saved_during_the_foundations_npm_run_dev_are_applied() {
    let sb = sandbox();
    let root = sb.root.join("starter-dev");
    let _ = fs::remove_dir_all(&root);
    fs::create_dir_all(&root).unwrap();
    run_ok(command(bin(), &root).args(["init", "platform", "--foundation"]));
    let dir = root.join("platform");
    std::os::unix::fs::symlink(sb.dir.join("node_modules"), dir.join("node_modules")).unwrap();
    run_ok(
        command(bin(), &root)
            .args(["adapt", "items", "--foundation", "platform", "--from"])
            .arg(&sb.dir),
    );
    let db = TestDb::new();
    // acme is not a dev tenant of modkit.toml: an existing tenant, brought in step too.
    run_ok(
        command("npm", &dir)
            .args(["run", "bootstrap", "--", "--tenant", "acme"])
            .env("DATABASE_URL", db.url()),
    );

    let (api, vite) = (free_port(), free_port());
    let log = root.join("dev.log");
    let file = fs::File::create(&log).unwrap();
    let mut cmd = command("npm", &dir);
    cmd.args(["run", "dev"])
        .env("DATABASE_URL", db.url())
        .env("PORT", api.to_string())
        .env("VITE_PORT", vite.to_string())
        .stdout(file.try_clone().unwrap())
        .stderr(file);
    let mut guard = ChildGuard::spawn(&mut cmd);
    let log_text = || fs::read_to_string(&log).unwrap_or_default();
    let health = || {
        http::try_request("GET", &format!("http://127.0.0.1:{vite}/api/health"), &[], None)
            .ok()
            .map(|r| r.status)
    };
    let wait = |what: &str, check: &mut dyn FnMut() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !check() {
            assert!(
                Instant::now() < deadline,
                "{what}: not within 60 s; npm run dev's log:\n{}",
                tail(&log_text(), 40)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait("the first 200", &mut || health() == Some(200));
    assert!(guard.try_wait().is_none(), "{}", tail(&log_text(), 40));
    let column = |name: &str| {
        db.scalar(&format!(
            "SELECT string_agg(table_schema, ',' ORDER BY table_schema) FROM information_schema.columns
              WHERE table_name = 'items' AND column_name = '{name}'"
        ))
    };

    // The start's own check of the database (it runs once: .modkit/dev has no record yet) is over,
    // so that what follows is the watcher's doing.
    wait("the start's database check", &mut || {
        dir.join(".modkit/dev/db-inputs").exists()
    });
    // A migration saved where `modkit adapt` and `modkit migration new --module` write them.
    let saved = Instant::now();
    fs::write(
        dir.join("migrations/items/0002_add_description.sql"),
        "-- a description per item\nALTER TABLE items ADD COLUMN description text NOT NULL DEFAULT 'none';\n",
    )
    .unwrap();
    wait("the migration reported", &mut || {
        log_text().contains("[db] applied items/0002_add_description.sql to 2 tenants in ")
    });
    record(
        "foundation: npm run dev applies a saved migration",
        saved.elapsed(),
    );
    assert_eq!(column("description"), "tenant_acme,tenant_dev");
    wait("the API restarted after the migration", &mut || {
        log_text()
            .split("[api] restarting: migrations/items/0002_add_description.sql changed")
            .nth(1)
            .is_some_and(|after| after.contains("API on http"))
    });

    // A permission declared in module.config.ts: registered and granted to the dev user.
    let config = dir.join("src/modules/items/module.config.ts");
    let text = fs::read_to_string(&config).unwrap();
    let edited = text.replacen(r#""items.delete"]"#, r#""items.delete", "items.describe"]"#, 1);
    assert_ne!(edited, text, "module.config.ts moved: update this test");
    fs::write(&config, edited).unwrap();
    let granted = || {
        db.scalar(
            "SELECT count(*) FROM public.sys_user_role ur
               JOIN public.sys_role_permission rp ON rp.role_id = ur.role_id
               JOIN public.sys_tenant t ON t.id = ur.tenant_id
              WHERE ur.user_id = 'dev' AND t.code = 'dev' AND rp.permission = 'items.describe'",
        )
    };
    wait("the new permission granted to dev", &mut || granted() == "1");
    wait("the API restarted after the permission", &mut || {
        log_text()
            .split("[api] restarting: src/modules/items/module.config.ts changed")
            .nth(1)
            .is_some_and(|after| after.contains("API on http"))
    });
    let starts = log_text().matches("API on http").count();

    // A broken migration: file and line, nothing applied, the API kept (not restarted) and serving.
    fs::write(
        dir.join("migrations/items/0003_broken.sql"),
        "-- broken on purpose\nALTER TABLE items ADD COLUMN extra text;\nALTER TABLE items ADD COLUMNN other text;\n",
    )
    .unwrap();
    wait("the broken migration reported", &mut || {
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
    assert_eq!(health(), Some(200), "{}", tail(&log_text(), 30));
    assert_eq!(
        log_text().matches("API on http").count(),
        starts,
        "the API was restarted for a migration that failed"
    );
    assert!(guard.try_wait().is_none(), "{}", tail(&log_text(), 40));
}
