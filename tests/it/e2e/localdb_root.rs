//! The sandbox's launchers as root, and in a folder whose name a shell would read (issue 15, items
//! 2 and 4; issue 17's root item). See tests/it/e2e/localdb.rs for the sandboxes owned by `nobody`.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::localdb::user_sandbox;
use super::sandbox::{HEALTH, tail};
use crate::support::http;
use crate::support::pg::TestDb;
use crate::support::process::{ChildGuard, free_port};
use crate::support::transcript;

/// `npm run <script>` as root (the test's own user), in `dir`, with DATABASE_URL set.
fn npm_as_root(dir: &Path, script: &[&str], url: &str) -> Output {
    let home = dir.parent().unwrap().join("root-home");
    fs::create_dir_all(&home).unwrap();
    Command::new("npm")
        .arg("run")
        .args(script)
        .current_dir(dir)
        .env_clear()
        .env("HOME", &home)
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("NO_COLOR", "1")
        .env("npm_config_update_notifier", "false")
        .env("DATABASE_URL", url)
        .env("PORT", free_port().to_string())
        .env("VITE_PORT", free_port().to_string())
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Every path under `dir` root owns (node_modules' copy included: it was chowned to the owner).
fn owned_by_root(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.uid() == 0 {
            found.push(path.display().to_string());
        }
        if meta.is_dir() {
            for entry in fs::read_dir(&path).unwrap().flatten() {
                stack.push(entry.path());
            }
        }
    }
    found
}

/// Root runs `npm run dev` (and `npm run bootstrap`, `npm test`) with DATABASE_URL set in a project
/// `nobody` owns: dev.mjs compiled the API as root into a root-owned .modkit/dev, and every reload
/// as the owner then failed with EACCES. Each now refuses at once, naming the owner and how to run
/// it as them, having written nothing; then the owner's own `npm run dev` serves, with no EACCES.
#[test]
fn root_npm_run_dev_refuses_a_project_another_user_owns_and_the_owner_runs_it_after() {
    let sb = user_sandbox("dev-root");
    let db = TestDb::new();
    for script in [&["dev"][..], &["bootstrap"][..], &["test"][..]] {
        let out = npm_as_root(&sb.dir, script, db.url());
        let text = transcript(&out);
        assert!(!out.status.success(), "npm run {script:?} as root: {text}");
        assert!(
            text.contains("as root, npm does not run in"),
            "{script:?}: {text}"
        );
        assert!(text.contains("belongs to nobody"), "{script:?}: {text}");
        assert!(text.contains("su nobody -s /bin/sh -c"), "{script:?}: {text}");
        assert!(text.contains("modkit db start"), "{script:?}: {text}");
        let written = owned_by_root(&sb.dir);
        assert!(
            written.is_empty(),
            "npm run {script:?} as root wrote {written:?}\n{text}"
        );
    }
    assert!(!sb.dir.join(".modkit/dev").exists());
    // The owner's npm run dev: compiles, serves through Vite, no EACCES.
    let (api, vite) = (free_port(), free_port());
    let log = sb.dir.parent().unwrap().join("dev-owner.log");
    let file = fs::File::create(&log).unwrap();
    let mut cmd = sb.hidden(
        "npm",
        &["run", "dev"],
        &[
            ("PORT", api.to_string()),
            ("VITE_PORT", vite.to_string()),
            ("DATABASE_URL", db.url().to_string()),
        ],
    );
    cmd.stdout(file.try_clone().unwrap()).stderr(file);
    let started = Instant::now();
    let mut guard = ChildGuard::spawn(&mut cmd);
    let health = format!("http://localhost:{vite}{HEALTH}");
    while !http::try_request("GET", &health, &[], None).is_ok_and(|r| r.status == 200) {
        let text = fs::read_to_string(&log).unwrap_or_default();
        assert!(
            guard.try_wait().is_none() && started.elapsed() < Duration::from_secs(120),
            "the owner's npm run dev never answered {HEALTH}:\n{}",
            tail(&text, 40)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    guard.interrupt();
    let text = fs::read_to_string(&log).unwrap_or_default();
    assert!(!text.contains("EACCES"), "{}", tail(&text, 40));
    assert!(owned_by_root(&sb.dir).is_empty(), "{:?}", owned_by_root(&sb.dir));
}

/// Root's `npm run db:start` in a project root owns, with no DATABASE_URL: PostgreSQL does not run as
/// root, and the hint names only what makes npm work there. It said to run `modkit db start
/// --run-as USER` or `--create-user` once, but the `.modkit` that gives USER is one every npm script
/// as root then refuses (`as root, npm does not run in …`): a dead end for the user who followed it.
#[test]
fn root_npm_in_roots_own_project_without_a_server_is_told_only_what_works() {
    let dir = &super::sandbox::sandbox().dir;
    assert_eq!(
        fs::metadata(dir).unwrap().uid(),
        0,
        "the shared sandbox is root's"
    );
    let home = dir.parent().unwrap().join("root-home");
    fs::create_dir_all(&home).unwrap();
    let out = Command::new("npm")
        .args(["run", "db:start"])
        .current_dir(dir)
        .env_clear()
        .env("HOME", &home)
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("NO_COLOR", "1")
        .env("npm_config_update_notifier", "false")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = transcript(&out);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("PostgreSQL does not run as root"), "{text}");
    assert!(text.contains("su USER -s /bin/sh -c 'npm run dev'"), "{text}");
    assert!(text.contains("DATABASE_URL"), "{text}");
    assert!(
        !text.contains("--run-as") && !text.contains("--create-user"),
        "{text}"
    );
}

/// The sandbox's twin of modkit's path check: initdb passes the binaries' path through a shell, so
/// a project folder named `$(touch PW)` ran `touch PW` (as the owner). `npm run bootstrap` there
/// now refuses before initdb, naming the character and the folder; nothing ran, no cluster made.
#[test]
fn npm_run_bootstrap_in_a_folder_with_a_shell_character_refuses_before_initdb_naming_it() {
    let sb = user_sandbox("path-$(touch PW)");
    let out = sb.hidden("npm", &["run", "bootstrap"], &[]).output().unwrap();
    let text = transcript(&out);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("holds the character '$'") && text.contains("$(touch PW)"),
        "{text}"
    );
    assert!(text.contains("move or rename the project folder"), "{text}");
    assert!(!sb.pg("data").exists(), "initdb ran: {text}");
    for dir in [sb.dir.clone(), sb.dir.parent().unwrap().to_path_buf(), sb.pg("")] {
        assert!(
            !dir.join("PW").exists(),
            "the shell ran `touch PW` in {}",
            dir.display()
        );
    }
}
