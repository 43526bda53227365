//! In a real browser: headless Chromium (Debian's) opens the Vite client while the API runs; the page
//! shows the current tenant's items fetched through the Vite proxy, adds one, switches tenant, and
//! logs no error (no CORS or preflight error, no failed request).
//!
//! Chromium is driven by playwright-core (npm; it downloads no browser), installed into
//! `target/e2e/<pid>/browser/`, with `executablePath` pointing at the system Chromium.

use std::path::PathBuf;

use super::sandbox::{
    command, e2e_dir, modkit_bootstrap, require_program, run_ok, sandbox, seed_rows, spawn_server, start_api,
    stdout, timed,
};
use crate::support::http;
use crate::support::pg::TestDb;
use crate::support::transcript;

const PLAYWRIGHT: &str = "playwright-core@^1.65.1";

/// Drives the page and prints one JSON object: what it saw, the /api calls, and every problem.
const SCRIPT: &str = r#"
import { chromium } from 'playwright-core';

const [base, executablePath, shot] = process.argv.slice(2);
const result = { problems: [], api: [] };
const browser = await chromium.launch({
  executablePath,
  timeout: 30000,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage();
  page.setDefaultTimeout(15000);
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') result.problems.push(`console.${m.type()}: ${m.text()} (${m.location().url})`);
  });
  page.on('pageerror', (e) => result.problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => result.problems.push(`request failed: ${r.method()} ${r.url()}: ${r.failure()?.errorText}`));
  page.on('response', (r) => {
    const req = r.request();
    if (r.status() >= 400) result.problems.push(`HTTP ${r.status()}: ${req.method()} ${r.url()}`);
    if (new URL(r.url()).pathname.startsWith('/api/')) {
      result.api.push({ method: req.method(), url: r.url(), status: r.status(), tenant: req.headers()['x-tenant-id'] ?? null });
    }
  });
  const names = () => page.$$eval('#items li span', (els) => els.map((e) => e.textContent));

  await page.goto(`${base}/?tenant=a`);
  await page.waitForSelector('#items li');
  result.a = await names();
  result.selected = await page.inputValue('#tenant');

  await page.fill('#add input[name=name]', 'a-from-browser');
  await page.click('#add button[type=submit]');
  await page.waitForSelector('#items li:has-text("a-from-browser")');
  result.aAfterAdd = await names();
  await page.screenshot({ path: shot, fullPage: true });

  await page.goto(`${base}/?tenant=b`);
  await page.waitForSelector('#items li');
  result.b = await names();

  await page.selectOption('#tenant', 'dev');
  await page.waitForFunction(() => document.querySelector('#status')?.textContent?.includes('No items in tenant dev'));
  result.dev = await names();
  result.devStatus = await page.textContent('#status');
} catch (e) {
  result.error = String(e?.stack ?? e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
"#;

/// playwright-core in a folder of its own (never in the sandbox), installed once per test process and
/// shared by the tests that drive Chromium (each writes its own script there).
pub fn driver() -> PathBuf {
    static DRIVER: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DRIVER.get_or_init(install_driver).clone()
}

/// playwright-core in a folder of its own (never in the sandbox), and the script beside it.
fn install_driver() -> PathBuf {
    let dir = sandbox().root.join("browser");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("package.json"),
        "{\"private\": true, \"type\": \"module\"}\n",
    )
    .unwrap();
    timed("npm install playwright-core (browser driver)", || {
        run_ok(command("npm", &dir).args(["install", "--no-audit", "--no-fund", PLAYWRIGHT]));
    });
    std::fs::write(dir.join("browse.mjs"), SCRIPT).unwrap();
    dir
}

fn strings(value: &serde_json::Value, key: &str) -> Vec<String> {
    let mut v: Vec<String> = value[key]
        .as_array()
        .unwrap_or_else(|| panic!("no {key} in {value:#}"))
        .iter()
        .map(|s| s.as_str().unwrap_or_default().to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn the_vite_client_shows_the_tenants_items_in_chromium() {
    let chromium = require_program(
        "chromium",
        &["/usr/bin/chromium"],
        "apt-get install chromium (scripts/test.sh installs it when missing)",
    );
    let sb = sandbox();
    let db = TestDb::new();
    run_ok(&mut modkit_bootstrap(&sb.dir, db.url(), &["a", "b"]));
    seed_rows(&db, "a", &["a-alpha", "a-beta"]);
    seed_rows(&db, "b", &["b-gamma"]);
    let driver = driver();

    let api = start_api("api-browser", db.url(), &[]);
    // vite.config.ts sends /api to the API on PORT.
    let vite = timed("start Vite dev server", || {
        spawn_server(
            "vite",
            |port| {
                let mut cmd = command(sb.dir.join("node_modules/.bin/vite"), &sb.dir);
                cmd.args(["--port", &port.to_string(), "--strictPort", "--host", "127.0.0.1"])
                    .env("PORT", api.port.to_string());
                cmd
            },
            |port| {
                http::try_request("GET", &format!("http://127.0.0.1:{port}/"), &[], None)
                    .is_ok_and(|r| r.status == 200)
            },
        )
    });
    let base = vite.base();
    let res = http::request("GET", &format!("{base}/api/plugins/items/health"), &[], None);
    assert_eq!(res.status, 200, "the Vite proxy does not reach the API: {res:?}");

    let shot = e2e_dir().join("browser-items-tenant-a.png");
    let out = timed("browser: Chromium opens the client (4 steps)", || {
        run_ok(
            command("node", &driver)
                .arg("browse.mjs")
                .arg(&base)
                .arg(&chromium)
                .arg(&shot),
        )
    });
    let text = stdout(&out);
    let result: serde_json::Value = serde_json::from_str(text.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("the browser script printed no JSON ({e}):\n{}", transcript(&out)));
    eprintln!("e2e browser: screenshot in {}", shot.display());

    assert!(
        result["error"].is_null(),
        "in the browser: {}\n{result:#}",
        result["error"]
    );
    assert_eq!(result["selected"], "a", "{result:#}");
    assert_eq!(strings(&result, "a"), ["a-alpha", "a-beta"], "tenant a's page");
    assert_eq!(
        strings(&result, "aAfterAdd"),
        ["a-alpha", "a-beta", "a-from-browser"],
        "after adding"
    );
    assert_eq!(strings(&result, "b"), ["b-gamma"], "tenant b's page");
    assert_eq!(strings(&result, "dev"), Vec::<String>::new(), "tenant dev's page");
    assert!(
        result["devStatus"]
            .as_str()
            .is_some_and(|s| s.contains("No items in tenant dev")),
        "{result:#}"
    );
    assert_eq!(
        strings(&result, "problems"),
        Vec::<String>::new(),
        "the browser logged problems"
    );

    // Every API call went to the page's own origin (Vite's proxy): no cross-origin request, no preflight.
    let api_calls = result["api"].as_array().expect("api calls");
    let seen: Vec<(String, String)> = api_calls
        .iter()
        .map(|c| {
            (
                c["method"].as_str().unwrap().to_string(),
                c["tenant"].as_str().unwrap_or("-").to_string(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("GET", "a"),
            ("POST", "a"),
            ("GET", "a"),
            ("GET", "b"),
            ("GET", "dev")
        ]
        .map(|(m, t)| (m.to_string(), t.to_string())),
        "{result:#}"
    );
    for call in api_calls {
        let url = call["url"].as_str().unwrap();
        assert!(
            url.starts_with(&format!("{base}/api/plugins/items/items")),
            "{call}"
        );
        assert!(matches!(call["status"].as_u64(), Some(200 | 201)), "{call}");
    }
    assert_eq!(
        db.scalar("SELECT count(*) FROM tenant_a.items WHERE name = 'a-from-browser'"),
        "1"
    );
    assert_eq!(
        db.scalar("SELECT count(*) FROM tenant_b.items WHERE name = 'a-from-browser'"),
        "0"
    );
    drop(vite);
    drop(api);
}
