//! The whole loop of the seed, in a real browser: `modkit init items` (the shared sandbox), `modkit
//! init platform --foundation`, `modkit adapt items --foundation platform`, `npm run bootstrap` and
//! `npm run dev` in the foundation; then over HTTP and in headless Chromium: the module is in the
//! client's nav, its list and create work, a second tenant sees none of the first's rows, a user
//! without the permission gets 403 and no nav entry. The foundation uses the shared sandbox's
//! installed packages: its package.json lists the same ones (checked here), so one `npm install`
//! serves both.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use super::browser::driver;
use super::sandbox::{command, record, require_program, run_ok, sandbox, stdout, tail};
use crate::support::http;
use crate::support::pg::TestDb;
use crate::support::process::{ChildGuard, free_port};
use crate::support::{bin, transcript};

/// Drives the shell and prints one JSON object: what it saw, and every problem.
const SCRIPT: &str = r#"
import { chromium } from 'playwright-core';

const [base, executablePath, shot] = process.argv.slice(2);
const result = { problems: [] };
const browser = await chromium.launch({
  executablePath,
  timeout: 30000,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage();
  page.setDefaultTimeout(15000);
  page.on('pageerror', (e) => result.problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => result.problems.push(`request failed: ${r.method()} ${r.url()}: ${r.failure()?.errorText}`));
  const rows = () => page.$$eval('#records li', (els) => els.map((e) => e.textContent));
  const navLabels = () => page.$$eval('#nav a', (els) => els.map((e) => `${e.dataset.module}:${e.textContent}`));

  // The dev user in tenant dev: the module's nav entry, the row made over HTTP, then one added here.
  await page.goto(`${base}/?tenant=dev&user=dev`);
  await page.waitForSelector('#nav a[data-module=items]');
  result.devNav = await navLabels();
  await page.click('#nav a[data-module=items]');
  await page.waitForSelector('#records li:has-text("made-over-http")');
  await page.fill('#add input[name=name]', 'made-in-chromium');
  await page.click('#add button[type=submit]');
  await page.waitForSelector('#records li:has-text("made-in-chromium")');
  result.devRows = await rows();
  await page.screenshot({ path: shot, fullPage: true });

  // The same user in tenant second: none of dev's rows.
  await page.goto(`${base}/?tenant=second&user=dev`);
  await page.waitForSelector('#nav a[data-module=items]');
  await page.click('#nav a[data-module=items]');
  await page.waitForFunction(() => document.querySelector('#status')?.textContent?.includes('No records in tenant second'));
  result.secondRows = await rows();

  // A user without the permission: the module is listed, with no nav entry.
  await page.goto(`${base}/?tenant=dev&user=stranger`);
  await page.waitForFunction(() => document.querySelector('#nav h2')?.textContent === 'Items');
  result.strangerNav = await navLabels();
} catch (e) {
  result.error = String(e?.stack ?? e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
"#;

/// `npm run dev` in the foundation, killed with its process group on drop.
struct Dev {
    _guard: ChildGuard,
    log: std::path::PathBuf,
    vite: u16,
}

impl Dev {
    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.vite)
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let text = fs::read_to_string(&self.log).unwrap_or_default();
            eprintln!("--- end of npm run dev's log ---\n{}", tail(&text, 40));
        }
    }
}

fn npm_run_dev(dir: &Path, db_url: &str) -> Dev {
    let (api, vite) = (free_port(), free_port());
    let log = dir.parent().unwrap().join("platform-dev.log");
    let file = fs::File::create(&log).unwrap();
    let started = Instant::now();
    let mut cmd = command("npm", dir);
    cmd.args(["run", "dev"])
        .env("DATABASE_URL", db_url)
        .env("PORT", api.to_string())
        .env("VITE_PORT", vite.to_string())
        .stdout(file.try_clone().unwrap())
        .stderr(file);
    let mut dev = Dev {
        _guard: ChildGuard::spawn(&mut cmd),
        log,
        vite,
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let health = http::try_request("GET", &format!("{}/api/health", dev.base()), &[], None);
        if health.is_ok_and(|r| r.status == 200) {
            break;
        }
        let ended = dev._guard.try_wait();
        assert!(
            ended.is_none() && Instant::now() < deadline,
            "the foundation's npm run dev never answered /api/health through Vite ({ended:?}):\n{}",
            tail(&fs::read_to_string(&dev.log).unwrap_or_default(), 40)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    record(
        "foundation: npm run dev to the first 200 (DATABASE_URL)",
        started.elapsed(),
    );
    dev
}

fn dependencies(dir: &Path) -> serde_json::Value {
    let text = fs::read_to_string(dir.join("package.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    serde_json::json!([
        json["dependencies"],
        json["devDependencies"],
        json["optionalDependencies"]
    ])
}

fn call(method: &str, url: &str, tenant: &str, user: &str, body: Option<&str>) -> http::Response {
    http::request(
        method,
        url,
        &[
            ("x-tenant-id", tenant),
            ("x-user-id", user),
            ("content-type", "application/json"),
        ],
        body,
    )
}

#[test]
fn init_foundation_adapt_and_npm_run_dev_serve_the_module_in_chromium() {
    let chromium = require_program(
        "chromium",
        &["/usr/bin/chromium"],
        "apt-get install chromium (scripts/test.sh installs it when missing)",
    );
    let sb = sandbox();
    let root = sb.root.join("starter");
    let _ = fs::remove_dir_all(&root);
    fs::create_dir_all(&root).unwrap();

    // modkit init platform --foundation; modkit adapt items --foundation platform.
    run_ok(command(bin(), &root).args(["init", "platform", "--foundation"]));
    let dir = root.join("platform");
    assert_eq!(
        dependencies(&dir),
        dependencies(&sb.dir),
        "the foundation's packages differ from the sandbox's: the shared npm install no longer serves it"
    );
    std::os::unix::fs::symlink(sb.dir.join("node_modules"), dir.join("node_modules")).unwrap();
    let adapted = run_ok(
        command(bin(), &root)
            .args(["adapt", "items", "--foundation", "platform", "--from"])
            .arg(&sb.dir),
    );
    // Its own bootstrap script, which seeds the dev user's role for the module.
    assert!(
        stdout(&adapted).contains("npx tsc --noEmit && npm run bootstrap"),
        "{}",
        transcript(&adapted)
    );
    let tsc = command(dir.join("node_modules/.bin/tsc"), &dir)
        .args(["--noEmit", "--pretty", "false"])
        .output()
        .unwrap();
    assert!(
        tsc.status.success(),
        "tsc --noEmit in the foundation:\n{}",
        transcript(&tsc)
    );
    let doctor = command(bin(), &dir).arg("doctor").output().unwrap();
    assert!(
        doctor.status.success(),
        "modkit doctor on the foundation:\n{}",
        transcript(&doctor)
    );

    // The dev seed: bootstrap makes tenants dev and second, the dev user holding items.* in both.
    let db = TestDb::new();
    let out = run_ok(
        command("npm", &dir)
            .args(["run", "bootstrap", "--", "--tenant", "second"])
            .env("DATABASE_URL", db.url()),
    );
    assert!(
        stdout(&out).contains("role developer for user \"dev\""),
        "{}",
        transcript(&out)
    );

    let dev = npm_run_dev(&dir, db.url());
    let base = dev.base();
    let items = format!("{base}/api/plugins/items/items");

    // Over HTTP, through Vite's proxy.
    let modules = call("GET", &format!("{base}/api/modules"), "dev", "dev", None);
    assert_eq!(modules.status, 200, "{modules:?}");
    let listed: serde_json::Value = serde_json::from_str(&modules.body).unwrap();
    assert_eq!(listed["data"][0]["id"], "items", "{listed:#}");
    assert_eq!(listed["data"][0]["nav"][0]["label"], "Items", "{listed:#}");
    let created = call("POST", &items, "dev", "dev", Some(r#"{"name":"made-over-http"}"#));
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(call("GET", &items, "dev", "dev", None).status, 200);
    let second = call("GET", &items, "second", "dev", None);
    assert_eq!(second.status, 200, "{second:?}");
    assert!(
        !second.body.contains("made-over-http"),
        "tenant second sees dev's row: {second:?}"
    );
    assert_eq!(call("GET", &items, "dev", "stranger", None).status, 403);
    assert_eq!(
        call("POST", &items, "dev", "stranger", Some(r#"{"name":"nope"}"#)).status,
        403
    );
    let stranger: serde_json::Value =
        serde_json::from_str(&call("GET", &format!("{base}/api/modules"), "dev", "stranger", None).body)
            .unwrap();
    assert_eq!(stranger["data"][0]["nav"], serde_json::json!([]), "{stranger:#}");

    // In Chromium.
    let driver = driver();
    fs::write(driver.join("starter.mjs"), SCRIPT).unwrap();
    let shot = sb.root.join("starter-foundation-shell.png");
    let started = Instant::now();
    let out = run_ok(
        command("node", &driver)
            .arg("starter.mjs")
            .arg(&base)
            .arg(&chromium)
            .arg(&shot),
    );
    record(
        "foundation: Chromium drives the shell (3 pages)",
        started.elapsed(),
    );
    let text = stdout(&out);
    let result: serde_json::Value = serde_json::from_str(text.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("the browser script printed no JSON ({e}):\n{}", transcript(&out)));
    assert!(
        result["error"].is_null(),
        "in the browser: {}\n{result:#}",
        result["error"]
    );
    assert_eq!(result["devNav"], serde_json::json!(["items:Items"]), "{result:#}");
    let dev_rows = result["devRows"].as_array().unwrap();
    assert!(
        dev_rows.contains(&serde_json::json!("made-in-chromium"))
            && dev_rows.contains(&serde_json::json!("made-over-http")),
        "{result:#}"
    );
    assert_eq!(result["secondRows"], serde_json::json!([]), "{result:#}");
    assert_eq!(result["strangerNav"], serde_json::json!([]), "{result:#}");
    assert_eq!(result["problems"], serde_json::json!([]), "{result:#}");

    // In the database: each row in its tenant's schema alone.
    assert_eq!(
        db.scalar(
            "SELECT count(*) FROM tenant_dev.items WHERE name IN ('made-in-chromium', 'made-over-http')"
        ),
        "2"
    );
    assert_eq!(db.scalar("SELECT count(*) FROM tenant_second.items"), "0");

    // A module whose code throws on load, and one whose route throws and which throws outside any
    // request: npm run dev's API restarts on the new files; the first answers 503 saying why, the
    // second's route a 500; health says degraded; items keeps serving and the process stays up.
    let modules = dir.join("src/modules");
    for (id, routes) in [
        (
            "broken",
            "throw new Error('broken on purpose');\nexport default null;\n",
        ),
        (
            "boom",
            "import { Router } from 'express';\nconst router = Router();\n\
             router.get('/x', async () => { throw new Error('boom'); });\n\
             setTimeout(() => { throw new Error('stray, outside any request'); }, 10);\n\
             export default router;\n",
        ),
    ] {
        fs::create_dir_all(modules.join(id).join("server/routes")).unwrap();
        fs::write(modules.join(id).join("server/routes/index.ts"), routes).unwrap();
        fs::write(
            modules.join(id).join("module.config.ts"),
            format!("export default {{ id: '{id}', name: '{id}', version: '0.1.0', permissions: [] }};\n"),
        )
        .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let health = loop {
        let health = http::request("GET", &format!("{base}/api/health"), &[], None);
        if health.status == 503 && health.body.contains("boom") {
            break health;
        }
        assert!(
            Instant::now() < deadline,
            "the API did not pick up the new modules: {health:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(health.body.contains("broken on purpose"), "{health:?}");
    let broken = call(
        "GET",
        &format!("{base}/api/plugins/broken/anything"),
        "dev",
        "dev",
        None,
    );
    assert_eq!(broken.status, 503, "{broken:?}");
    assert!(broken.body.contains("broken on purpose"), "{broken:?}");
    std::thread::sleep(Duration::from_millis(300)); // the stray throw has happened
    let boom = call("GET", &format!("{base}/api/plugins/boom/x"), "dev", "dev", None);
    assert_eq!(boom.status, 500, "{boom:?}");
    assert!(!boom.body.contains("boom"), "a 500 leaks no detail: {boom:?}");
    assert_eq!(
        call("GET", &items, "dev", "dev", None).status,
        200,
        "items after the failures"
    );
    let log = fs::read_to_string(&dev.log).unwrap_or_default();
    assert!(log.contains("stray, outside any request"), "{}", tail(&log, 30));
    drop(dev);
    for id in ["broken", "boom"] {
        fs::remove_dir_all(modules.join(id)).unwrap();
    }

    // The foundation's own tests, on a database of their own beside this one (server/db.ts): the
    // dev database's tenants, roles and grants are as they were.
    let system = "SELECT t.code, r.code, ur.user_id FROM public.sys_tenant t
                    LEFT JOIN public.sys_role r ON r.tenant_id = t.id
                    LEFT JOIN public.sys_user_role ur ON ur.role_id = r.id ORDER BY 1, 2, 3";
    let before = db.rows(system);
    let tests = run_ok(command("npm", &dir).arg("test").env("DATABASE_URL", db.url()));
    assert!(stdout(&tests).contains("pass 4"), "{}", transcript(&tests));
    assert_eq!(
        before,
        db.rows(system),
        "npm test changed the foundation's dev database"
    );
    let test_url = db
        .url()
        .replace(&format!("/{}", db.name()), &format!("/{}_test", db.name()));
    assert_eq!(
        crate::support::pg::psql_scalar(&test_url, "SELECT to_regclass('public.sys_tenant') IS NOT NULL"),
        "t",
        "npm test made no database of its own"
    );
}
