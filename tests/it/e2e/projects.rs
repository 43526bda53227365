//! Ports and databases belong to the project (issue 17): two sandboxes and a `cp -a` copy of one
//! (made while its `npm run dev` and database run) all run `npm run dev` at once, with no PORT or
//! VITE_PORT given, each on the embedded PostgreSQL as `nobody`. Each page lists only its own rows
//! (over HTTP through each Vite, and in headless Chromium for the copy); the copy never reports,
//! stops or connects to the original's server; a second `npm run dev` in a running folder exits 2
//! naming the first; a port named by the user and taken is one line naming it, never a stack trace.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::localdb::{UserSandbox, user_sandbox};
use super::sandbox::{ITEMS, command, require_program, run_ok, sandbox, stdout, tail, timed};
use crate::db::nobody;
use crate::support::http;
use crate::support::process::{ChildGuard, port_is_open};
use crate::support::{bin, transcript};

const DEV: [(&str, &str); 2] = [("X-Tenant-Id", "dev"), ("X-User-Id", "dev")];

struct Dev {
    guard: ChildGuard,
    log: PathBuf,
    vite: u16,
    api: u16,
}

impl Dev {
    fn base(&self) -> String {
        format!("http://localhost:{}", self.vite)
    }
}

/// The ports `npm run dev` recorded in .modkit/dev.json, once both are known.
fn recorded(dir: &Path) -> Option<(u32, u16, u16)> {
    let v: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.join(".modkit/dev.json")).ok()?).ok()?;
    // A copy's dev.json names the original's folder and launcher until its own npm run dev claims it.
    let own = fs::canonicalize(dir).ok()?;
    if Path::new(v["root"].as_str()?.trim_end_matches('/')) != own {
        return None;
    }
    let port = |k: &str| {
        v[k].as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p != 0)
    };
    Some((
        u32::try_from(v["pid"].as_u64()?).ok()?,
        port("api")?,
        port("vite")?,
    ))
}

/// `npm run dev` with no ports given, ready once the module's list answers 200 through its Vite.
fn npm_run_dev(sb: &UserSandbox, tag: &str, env: &[(&str, String)]) -> Dev {
    let log = sb.dir.parent().unwrap().join(format!("dev-{tag}.log"));
    let file = fs::File::create(&log).unwrap();
    let mut cmd = sb.hidden("npm", &["run", "dev"], env);
    cmd.stdout(file.try_clone().unwrap()).stderr(file);
    let started = Instant::now();
    let mut guard = ChildGuard::spawn(&mut cmd);
    loop {
        if let Some((_, api, vite)) = recorded(&sb.dir) {
            let list = http::try_request("GET", &format!("http://localhost:{vite}{ITEMS}"), &DEV, None);
            if list.is_ok_and(|r| r.status == 200) {
                return Dev {
                    guard,
                    log,
                    vite,
                    api,
                };
            }
        }
        let text = fs::read_to_string(&log).unwrap_or_default();
        assert!(
            guard.try_wait().is_none() && started.elapsed() < Duration::from_secs(120),
            "npm run dev ({tag}) never listed the items through its Vite:\n{}",
            tail(&text, 40)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn names(dev: &Dev) -> Vec<String> {
    let res = http::request("GET", &format!("{}{ITEMS}", dev.base()), &DEV, None);
    assert_eq!(res.status, 200, "{res:?}");
    let mut v: Vec<String> = res.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

fn add(dev: &Dev, name: &str) {
    let res = http::request(
        "POST",
        &format!("{}{ITEMS}", dev.base()),
        &DEV,
        Some(&format!(r#"{{"name":"{name}"}}"#)),
    );
    assert_eq!(res.status, 201, "{res:?}");
}

fn project_of(dev: &Dev) -> String {
    let res = http::request("GET", &format!("{}/api/sandbox/health", dev.base()), &[], None);
    assert_eq!(res.status, 200, "{res:?}");
    res.json()["project"]
        .as_str()
        .unwrap()
        .trim_end_matches('/')
        .to_string()
}

/// `modkit db ...` in `dir` as `nobody`.
fn modkit_db(sb: &UserSandbox, args: &[&str]) -> std::process::Output {
    let mut all = vec!["db"];
    all.extend_from_slice(args);
    sb.hidden(bin().to_str().unwrap(), &all, &[]).output().unwrap()
}

fn db_port(dir: &Path) -> u16 {
    fs::read_to_string(dir.join(".modkit/pg/port"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// The copy's page in headless Chromium: the names its list shows.
fn names_in_chromium(base: &str) -> Vec<String> {
    let chromium = require_program(
        "chromium",
        &["/usr/bin/chromium"],
        "apt-get install chromium (scripts/test.sh installs it when missing)",
    );
    let dir = sandbox().root.join("browser-projects");
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("package.json"),
        "{\"private\": true, \"type\": \"module\"}\n",
    )
    .unwrap();
    timed("npm install playwright-core (projects browser driver)", || {
        run_ok(command("npm", &dir).args(["install", "--no-audit", "--no-fund", "playwright-core@^1.65.1"]));
    });
    fs::write(
        dir.join("names.mjs"),
        r#"import { chromium } from 'playwright-core';
const [base, executablePath] = process.argv.slice(2);
const browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-gpu'] });
try {
  const page = await browser.newPage();
  await page.goto(`${base}/?tenant=dev`);
  await page.waitForSelector('#items li');
  console.log(JSON.stringify(await page.$$eval('#items li span', (els) => els.map((e) => e.textContent))));
} finally {
  await browser.close();
}
"#,
    )
    .unwrap();
    let out = run_ok(command("node", &dir).arg("names.mjs").arg(base).arg(&chromium));
    let mut v: Vec<String> = serde_json::from_str(stdout(&out).lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("no JSON from the browser ({e}):\n{}", transcript(&out)));
    v.sort();
    v
}

#[test]
fn two_sandboxes_and_a_running_copy_each_list_only_their_own_rows() {
    let a = user_sandbox("projects-a");
    let b = user_sandbox("projects-b");
    let mut dev_a = npm_run_dev(&a, "a", &[]);
    add(&dev_a, "a-row");

    // The copy, made while A's npm run dev and database run.
    let c_root = a.dir.parent().unwrap().parent().unwrap().join("projects-c");
    let _ = fs::remove_dir_all(&c_root);
    fs::create_dir_all(&c_root).unwrap();
    run_ok(
        Command::new("cp")
            .arg("-a")
            .arg(a.dir.parent().unwrap().join("items"))
            .arg(&c_root),
    );
    run_ok(
        Command::new("cp")
            .arg("-a")
            .arg(a.dir.parent().unwrap().join("home"))
            .arg(&c_root),
    );
    let (uid, gid) = nobody();
    run_ok(Command::new("chown").arg(format!("{uid}:{gid}")).arg(&c_root));
    let c = UserSandbox::at(c_root.join("items"), c_root.join("home"));

    // Before its first start, the copy neither reports nor stops A's server.
    let status = modkit_db(&c, &["status"]);
    let text = transcript(&status);
    assert_eq!(status.status.code(), Some(1), "{text}");
    assert!(
        text.contains("copied from") && !text.contains("running"),
        "{text}"
    );
    let stop = modkit_db(&c, &["stop"]);
    assert!(transcript(&stop).contains("not running"), "{}", transcript(&stop));
    let url = modkit_db(&c, &["url"]);
    assert_eq!(url.status.code(), Some(2), "{}", transcript(&url));
    assert!(
        port_is_open(db_port(&a.dir)),
        "the copy's `modkit db stop` stopped A's database"
    );
    let a_status = modkit_db(&a, &["status"]);
    assert!(
        transcript(&a_status).contains("running (pid"),
        "{}",
        transcript(&a_status)
    );

    // A second npm run dev in A's folder: exit 2, naming the first.
    let second = a.hidden("npm", &["run", "-s", "dev"], &[]).output().unwrap();
    let text = transcript(&second);
    assert_eq!(second.status.code(), Some(2), "{text}");
    let (pid_a, _, _) = recorded(&a.dir).unwrap();
    assert!(
        text.contains(&format!(
            "already running in this folder (pid {pid_a}, http://localhost:{}/)",
            dev_a.vite
        )),
        "{text}"
    );

    let dev_b = npm_run_dev(&b, "b", &[]);
    let dev_c = npm_run_dev(&c, "c", &[]);
    add(&dev_b, "b-row");
    add(&dev_c, "c-row");

    let ports = [
        dev_a.api, dev_a.vite, dev_b.api, dev_b.vite, dev_c.api, dev_c.vite,
    ];
    let mut unique = ports.to_vec();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), 6, "each project has ports of its own: {ports:?}");
    assert_ne!(
        db_port(&a.dir),
        db_port(&c.dir),
        "the copy's database has a port of its own"
    );

    // Each page lists its own rows: the copy holds A's rows as they were copied, and its own.
    assert_eq!(names(&dev_a), ["a-row"]);
    assert_eq!(names(&dev_b), ["b-row"]);
    assert_eq!(names(&dev_c), ["a-row", "c-row"]);
    for (dev, sb) in [(&dev_a, &a), (&dev_b, &b), (&dev_c, &c)] {
        let own = fs::canonicalize(&sb.dir).unwrap();
        assert_eq!(
            Path::new(&project_of(dev)),
            own,
            "the API behind {}'s Vite names its project",
            own.display()
        );
    }
    assert_eq!(
        names_in_chromium(&dev_c.base()),
        ["a-row", "c-row"],
        "the copy's page in Chromium"
    );
    assert_eq!(names(&dev_a), ["a-row"], "A never saw the copy's row");

    // Stopping the copy stops its own database, not A's.
    let (c_db, a_db) = (db_port(&c.dir), db_port(&a.dir));
    let mut dev_c = dev_c;
    dev_c.guard.interrupt();
    assert!(!port_is_open(c_db), "the copy's database still runs");
    assert!(port_is_open(a_db), "stopping the copy stopped A's database");
    assert_eq!(names(&dev_a), ["a-row"]);

    // A port named by the user and taken: one line naming it, exit 2, no stack trace, no fallback.
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port();
    let out = b
        .hidden("npm", &["run", "-s", "dev"], &[("PORT", port.to_string())])
        .output();
    let out = out.unwrap();
    let text = transcript(&out);
    // B runs: told so first. Stop B, then try again with the taken port.
    assert_eq!(out.status.code(), Some(2), "{text}");
    let mut dev_b = dev_b;
    dev_b.guard.interrupt();
    let out = b
        .hidden("npm", &["run", "-s", "dev"], &[("PORT", port.to_string())])
        .output()
        .unwrap();
    let text = transcript(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains(&format!("error: port {port} (the API) is in use"))
            && text.contains("choose another: PORT="),
        "{text}"
    );
    assert!(!text.contains("    at "), "a stack trace: {text}");
    drop(held);

    dev_a.guard.interrupt();
    let log = fs::read_to_string(&dev_a.log).unwrap_or_default();
    assert!(
        !port_is_open(a_db),
        "A's database outlived its npm run dev:\n{}",
        tail(&log, 20)
    );
    assert!(
        !a.dir.join(".modkit/dev.json").exists(),
        "the running mark is removed on exit"
    );

    // `rm -rf .modkit` while B runs: Ctrl-C stops B's server by signal and says so, never a false
    // `stopped` while postgres still runs.
    let mut dev_b = npm_run_dev(&b, "b-again", &[]);
    let b_db = db_port(&b.dir);
    // As a user's `rm -rf` would, again if the running launcher made a file meanwhile.
    let removed = (0..20).any(|_| {
        fs::remove_dir_all(b.dir.join(".modkit")).is_ok() || {
            std::thread::sleep(Duration::from_millis(50));
            false
        }
    });
    assert!(removed, "could not remove {}", b.dir.join(".modkit").display());
    dev_b.guard.interrupt();
    let log = fs::read_to_string(&dev_b.log).unwrap_or_default();
    assert!(
        log.contains(".modkit/pg is gone: stopped its server"),
        "{}",
        tail(&log, 20)
    );
    assert!(
        !log.contains("[db] stopped the local database"),
        "{}",
        tail(&log, 20)
    );
    assert!(!port_is_open(b_db), "B's server outlived the removal of .modkit");
}
