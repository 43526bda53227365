//! Files: `init --force` over edits, symlinks, file modes, FIFOs and odd migrations, broken
//! pipes, deep nesting, interrupted writes (issue 7, items 3, 4, 5, 9, 10, 12, 13).
//! See tests/it/hostile.rs.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::support::{CliTest, stderr, stdout, transcript};

#[track_caller]
fn assert_code(test: &CliTest, output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "{}",
        test.filter(&transcript(output))
    );
}

/// Every file under `dir` with its bytes.
fn snapshot(test: &CliTest, dir: &str) -> BTreeMap<String, Vec<u8>> {
    test.files(dir)
        .into_iter()
        .map(|f| {
            let bytes = std::fs::read(test.path(dir).join(&f)).unwrap_or_default();
            (f, bytes)
        })
        .collect()
}

fn mode(test: &CliTest, path: &str) -> u32 {
    std::fs::metadata(test.path(path)).unwrap().permissions().mode() & 0o7777
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Make `items/<rel>` look as an older modkit rendered it: other content, recorded as written.
fn as_an_older_modkit_wrote_it(test: &CliTest, rel: &str, old: &str) {
    test.write_file(format!("items/{rel}"), old);
    let record_path = "items/.modkit-init.json";
    let mut record: serde_json::Value = serde_json::from_str(&test.read_file(record_path)).unwrap();
    record["files"][rel] = serde_json::Value::String(sha256_hex(old.as_bytes()));
    test.write_file(record_path, serde_json::to_string_pretty(&record).unwrap());
}

/// Run `cmd` and give up (killing it) after `limit`: a hang is a failure, not a stuck suite.
fn output_within(cmd: &mut Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot run modkit");
    let start = Instant::now();
    while child.try_wait().expect("cannot wait").is_none() {
        if start.elapsed() > limit {
            child.kill().ok();
            let out = child.wait_with_output().unwrap();
            panic!("still running after {limit:?}: {}", transcript(&out));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

// --- item 3: init --force and edits ----------------------------------------------------------

#[test]
fn force_keeps_an_edited_plugin_file() {
    let test = CliTest::new();
    assert_code(&test, &test.run(&["init", "items", "-q"]), 0);
    test.write_file("items/plugin/index.ts", "// my module, edited\n");
    test.replace_in_file(
        "items/package.json",
        "\"scripts\": {",
        "\"scripts\": {\n    \"mine\": \"echo\",",
    );
    let before = snapshot(&test, "items");

    let out = test.run(&["init", "items", "--force"]);
    assert_code(&test, &out, 2);
    let err = stderr(&out);
    assert!(
        err.contains("plugin/index.ts: edited since modkit init wrote it"),
        "{err}"
    );
    assert!(err.contains("package.json: edited since"), "{err}");
    assert!(err.contains("nothing was written"), "{err}");
    assert!(err.contains("--overwrite-edits"), "{err}");
    assert_eq!(snapshot(&test, "items"), before, "nothing written");

    // The second, explicit flag replaces them; alone it is a usage error.
    assert_code(&test, &test.run(&["init", "items", "--overwrite-edits"]), 2);
    let out = test.run(&["init", "items", "--force", "--overwrite-edits"]);
    assert_code(&test, &out, 0);
    assert!(
        stdout(&out).contains("2 updated (2 of them overwriting an edit)"),
        "{}",
        stdout(&out)
    );
    assert!(
        test.read_file("items/plugin/index.ts")
            .contains("satisfies Plugin")
    );
}

#[test]
fn force_keeps_a_file_that_was_there_before() {
    let test = CliTest::new();
    test.write_file("items/package.json", "{ \"name\": \"my-own\" }\n");
    test.write_file("items/NOTES.md", "mine\n");

    let out = test.run(&["init", "items", "--force"]);
    assert_code(&test, &out, 2);
    assert!(
        stderr(&out).contains("package.json: not written by modkit init (it was there before)"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        test.files("items"),
        ["NOTES.md", "package.json"],
        "nothing written"
    );

    // A sandbox from before the record (modkit 0.1.0): every differing file is someone's.
    let test = CliTest::new();
    assert_code(&test, &test.run(&["init", "items", "-q"]), 0);
    std::fs::remove_file(test.path("items/.modkit-init.json")).unwrap();
    test.write_file("items/sandbox/sql/system.sql", "-- tuned by hand\n");
    let out = test.run(&["init", "items", "--force"]);
    assert_code(&test, &out, 2);
    assert!(
        stderr(&out).contains("sandbox/sql/system.sql: not written by"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        test.read_file("items/sandbox/sql/system.sql"),
        "-- tuned by hand\n"
    );
}

#[test]
fn force_updates_what_modkit_wrote_and_nobody_edited() {
    let test = CliTest::new();
    assert_code(&test, &test.run(&["init", "items", "-q"]), 0);
    let fresh = test.read_file("items/vite.config.ts");
    as_an_older_modkit_wrote_it(&test, "vite.config.ts", "// an older template\n");

    let out = test.run(&["init", "items", "--force"]);
    assert_code(&test, &out, 0);
    assert!(
        stdout(&out).contains("vite.config.ts  (update)"),
        "{}",
        stdout(&out)
    );
    assert_eq!(test.read_file("items/vite.config.ts"), fresh);
    let record: serde_json::Value = serde_json::from_str(&test.read_file("items/.modkit-init.json")).unwrap();
    assert_eq!(record["files"]["vite.config.ts"], sha256_hex(fresh.as_bytes()));
    assert_eq!(record["answers"]["module"], "items");
    assert_eq!(record["answers"]["tenants"], serde_json::json!(["dev"]));
}

#[test]
fn dry_run_lists_only_what_changes() {
    let test = CliTest::new();
    assert_code(&test, &test.run(&["init", "items", "-q"]), 0);
    as_an_older_modkit_wrote_it(&test, "vite.config.ts", "// an older template\n");
    test.replace_in_file(
        "items/plugin/index.ts",
        "export default plugin;",
        "export default plugin; // mine",
    );
    std::fs::remove_file(test.path("items/README.md")).unwrap();
    let before = snapshot(&test, "items");

    let out = test.run(&["init", "items", "--force", "--dry-run"]);
    assert_code(&test, &out, 0);
    let text = stdout(&out);
    let files: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("  ") && !l.trim_end().ends_with('/'))
        .map(str::trim)
        .collect();
    assert_eq!(
        files,
        [
            ".modkit-init.json  (update)",
            "README.md  (new)",
            "index.ts  (conflict: edited since modkit init wrote it)",
            "vite.config.ts  (update)",
        ],
        "{text}"
    );
    assert!(
        text.starts_with("Would change items (1 new, 2 updated, 1 conflicting, "),
        "{text}"
    );
    assert!(!text.contains("@@"), "a diff only with -v: {text}");

    let out = test.run(&["init", "items", "--force", "--dry-run", "-v"]);
    let text = stdout(&out);
    assert!(
        text.contains("--- a/vite.config.ts\n+++ b/vite.config.ts\n@@ "),
        "{text}"
    );
    assert!(text.contains("\n-// an older template\n"), "{text}");
    assert!(
        text.contains("\n-export default plugin; // mine\n+export default plugin;\n"),
        "{text}"
    );
    assert_eq!(snapshot(&test, "items"), before, "a dry run writes nothing");
}

// --- item 4: symlinks ------------------------------------------------------------------------

#[test]
fn adapt_refuses_a_symlinked_migration() {
    let test = CliTest::new();
    assert_code(&test, &test.run(&["init", "items", "-q"]), 0);
    test.copy_fixture("foundation", "foundation");
    test.write_file("secret.txt", "-- the production password: hunter2\n");
    std::os::unix::fs::symlink(
        test.path("secret.txt"),
        test.path("items/plugin/migrations/0009_x.sql"),
    )
    .unwrap();
    let before = snapshot(&test, "foundation");

    let out = test.run(&["adapt", "items", "--foundation", "foundation"]);
    assert_code(&test, &out, 2);
    let err = stderr(&out);
    assert!(err.contains("0009_x.sql is a symbolic link"), "{err}");
    assert!(!err.contains("hunter2") && !stdout(&out).contains("hunter2"));
    assert_eq!(snapshot(&test, "foundation"), before, "nothing written");

    // bootstrap --dry-run refuses it before it connects, and prints none of it.
    let out = test.run(&[
        "bootstrap",
        "--project",
        "items",
        "--dry-run",
        "--db",
        "postgres://nobody@127.0.0.1:1/x",
    ]);
    assert_code(&test, &out, 2);
    assert!(
        stderr(&out).contains("0009_x.sql is a symbolic link"),
        "{}",
        stderr(&out)
    );
    assert!(!stdout(&out).contains("hunter2") && !stderr(&out).contains("hunter2"));

    // A linked plugin file and a linked migrations folder too.
    std::fs::remove_file(test.path("items/plugin/migrations/0009_x.sql")).unwrap();
    std::os::unix::fs::symlink(test.path("secret.txt"), test.path("items/plugin/secret.ts")).unwrap();
    let out = test.run(&["adapt", "items", "--foundation", "foundation"]);
    assert_code(&test, &out, 2);
    assert!(
        stderr(&out).contains("plugin/secret.ts is a symbolic link"),
        "{}",
        stderr(&out)
    );
    let doctor = test.run(&["doctor", "items"]);
    assert_code(&test, &doctor, 1);
    assert!(
        stdout(&doctor).contains("error[module-file-link]: plugin/secret.ts"),
        "{}",
        stdout(&doctor)
    );
}

#[test]
fn adapt_creates_nothing_outside_a_symlinked_module_dir() {
    for link in ["foundation/src/modules/items", "foundation/src/modules"] {
        let test = CliTest::new();
        assert_code(&test, &test.run(&["init", "items", "-q"]), 0);
        test.copy_fixture("foundation", "foundation");
        std::fs::create_dir_all(test.path("elsewhere")).unwrap();
        std::fs::remove_dir_all(test.path(link)).ok();
        std::fs::create_dir_all(test.path(link).parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(test.path("elsewhere"), test.path(link)).unwrap();

        let out = test.run(&["adapt", "items", "--foundation", "foundation"]);
        assert_code(&test, &out, 2);
        assert!(
            stderr(&out).contains(&format!("{link} is a symbolic link")),
            "{}",
            test.filter(&stderr(&out))
        );
        let made: Vec<_> = std::fs::read_dir(test.path("elsewhere")).unwrap().collect();
        assert!(
            made.is_empty(),
            "{link}: something was made outside the foundation: {made:?}"
        );
    }
}

// --- item 5: modes ---------------------------------------------------------------------------

#[test]
fn written_files_get_the_umask_mode() {
    for (umask, want) in [("022", 0o644), ("027", 0o640)] {
        let test = CliTest::new();
        test.copy_fixture("foundation", "foundation");
        let script =
            format!("umask {umask} && \"$0\" init items -q && \"$0\" adapt items --foundation foundation -q");
        let out = test
            .clean_command("sh")
            .arg("-c")
            .arg(script)
            .arg(crate::support::bin())
            .output()
            .unwrap();
        assert_code(&test, &out, 0);
        for file in [
            "items/package.json",
            "items/plugin/index.ts",
            "items/.modkit-init.json",
            "foundation/src/modules/items/module.config.ts",
            "foundation/src/modules/items/plugin/index.ts",
        ] {
            assert_eq!(mode(&test, file), want, "{file} with umask {umask}");
        }
    }
}

#[test]
fn force_keeps_an_executable_bit() {
    let test = CliTest::new();
    assert_code(&test, &test.run(&["init", "items", "-q"]), 0);
    as_an_older_modkit_wrote_it(&test, "vite.config.ts", "// older\n");
    std::fs::set_permissions(
        test.path("items/vite.config.ts"),
        PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    test.write_file("items/package.json", "{}\n");
    std::fs::set_permissions(test.path("items/package.json"), PermissionsExt::from_mode(0o700)).unwrap();

    let out = test.run(&["init", "items", "--force", "--overwrite-edits"]);
    assert_code(&test, &out, 0);
    assert!(test.read_file("items/vite.config.ts").len() > 10, "updated");
    assert_eq!(mode(&test, "items/vite.config.ts"), 0o755);
    assert_ne!(test.read_file("items/package.json"), "{}\n", "overwritten");
    assert_eq!(mode(&test, "items/package.json"), 0o700);
}

// --- item 9: deep nesting --------------------------------------------------------------------

#[test]
fn deeply_nested_typescript_is_a_diagnostic_not_an_abort() {
    let test = CliTest::new();
    assert_code(&test, &test.run(&["init", "items", "-q"]), 0);
    test.copy_fixture("foundation", "foundation");
    for depth in [10_000, 100_000] {
        let source = format!("export const x = {}{};\n", "[".repeat(depth), "]".repeat(depth));
        test.write_file("items/plugin/deep.ts", &source);

        let out = test.run(&["doctor", "items"]);
        assert_code(&test, &out, 1);
        assert!(
            stdout(&out).contains("error[typescript-syntax]: plugin/deep.ts:1 does not parse as TypeScript: brackets nest more than 1000 levels deep"),
            "{depth}: {}",
            stdout(&out)
        );
        let out = test.run(&["adapt", "items", "--foundation", "foundation"]);
        assert_code(&test, &out, 2);
        assert!(
            stderr(&out).contains("plugin/deep.ts:1 does not parse as TypeScript: brackets nest"),
            "{}",
            stderr(&out)
        );
    }
    // Brackets the pre-scan miscounts (closers inside regular expressions) still do not abort: the
    // command runs on a large stack.
    let source = format!(
        "export const x = [{}{}{}];\n",
        "/)/, ".repeat(10_000),
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    test.write_file("items/plugin/deep.ts", source);
    let out = test.run(&["doctor", "items"]);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", transcript(&out));
}

// --- item 10: a closed stdout ----------------------------------------------------------------

#[test]
fn closed_stdout_exits_quietly() {
    let test = CliTest::new();
    assert_code(&test, &test.run(&["init", "items", "-q"]), 0);
    for args in [
        &["init", "other", "--dry-run"][..],
        &["init", "items", "--force", "--dry-run", "-v"],
        &["doctor", "items", "--format", "json"],
        &["doctor", "items", "--format", "github"],
        &["doctor", "items"],
    ] {
        // A pipe whose reader is gone before modkit writes a byte: every write is EPIPE.
        let mut fds = [0; 2];
        // SAFETY: pipe(2) fills the two-int array it is given.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: both descriptors are ours, fresh from pipe(2); each is owned exactly once.
        let (reader, writer) = unsafe {
            use std::os::fd::FromRawFd;
            (
                std::os::fd::OwnedFd::from_raw_fd(fds[0]),
                std::os::fd::OwnedFd::from_raw_fd(fds[1]),
            )
        };
        drop(reader);
        let out = test
            .command()
            .args(args)
            .stdout(Stdio::from(writer))
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{args:?}: {}",
            transcript(&out)
        );
        assert_eq!(stderr(&out), "", "{args:?}: quiet");
    }
}

// --- item 12: odd migrations -----------------------------------------------------------------

#[test]
fn fifo_in_migrations_does_not_hang_doctor() {
    let test = CliTest::new();
    assert_code(&test, &test.run(&["init", "items", "-q"]), 0);
    test.copy_fixture("foundation", "foundation");
    let dir = test.path("items/plugin/migrations");
    let fifo = dir.join("0003_fifo.sql");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo(3) reads the NUL-terminated path it is given.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    std::fs::create_dir(dir.join("0004_dir.sql")).unwrap();
    test.write_file("items/plugin/migrations/0005_latin.sql", b"-- caf\xe9\n");

    let out = output_within(test.command().args(["doctor", "items"]), Duration::from_secs(30));
    assert_code(&test, &out, 1);
    let text = stdout(&out);
    for line in [
        "error[file-unreadable]: plugin/migrations/0003_fifo.sql: is a FIFO (named pipe), not a regular file",
        "error[file-unreadable]: plugin/migrations/0004_dir.sql: is a folder, not a file",
        "error[file-unreadable]: plugin/migrations/0005_latin.sql: is not UTF-8 text",
    ] {
        assert!(text.contains(line), "{line}\n{text}");
    }

    // bootstrap and adapt stop at the first, naming it, and never wait on the FIFO.
    for args in [
        &[
            "bootstrap",
            "--project",
            "items",
            "--dry-run",
            "--db",
            "postgres://nobody@127.0.0.1:1/x",
        ][..],
        &["adapt", "items", "--foundation", "foundation"],
    ] {
        let out = output_within(test.command().args(args), Duration::from_secs(30));
        assert_code(&test, &out, 2);
        assert!(
            stderr(&out).contains("0003_fifo.sql is a FIFO (named pipe)"),
            "{}",
            stderr(&out)
        );
    }
    std::fs::remove_file(&fifo).unwrap();
    std::fs::remove_dir(dir.join("0004_dir.sql")).unwrap();
    let out = test.run(&["adapt", "items", "--foundation", "foundation"]);
    assert_code(&test, &out, 2);
    assert!(
        stderr(&out).contains("0005_latin.sql is not UTF-8 text"),
        "{}",
        stderr(&out)
    );
}

// --- item 13: interrupted init ---------------------------------------------------------------

#[test]
fn interrupted_init_leaves_no_debris() {
    use std::os::unix::process::ExitStatusExt;

    let reference = CliTest::new();
    assert_code(&reference, &reference.run(&["init", "items", "-q"]), 0);
    let want = snapshot(&reference, "items");
    let mut interrupted = 0;
    // The test-only hook pauses 20 ms after staging and after renaming each file (about 1 s in
    // all): interrupt while staging, between renames, and near the end; with SIGINT (Ctrl-C,
    // which init handles) and SIGKILL (which nothing can).
    for (signal, delay_ms) in [
        (libc::SIGINT, 5),
        (libc::SIGINT, 150),
        (libc::SIGINT, 400),
        (libc::SIGINT, 650),
        (libc::SIGINT, 900),
        (libc::SIGKILL, 150),
        (libc::SIGKILL, 650),
    ] {
        let test = CliTest::new();
        let mut child = test.command();
        child
            .args(["init", "items", "-q"])
            .env("MODKIT_TEST_WRITE_PAUSE_MS", "20");
        // Ctrl-C as a terminal delivers it: init keeps an inherited SIG_IGN (as `nohup` or a
        // background job of a script sets it), so the test must not pass its own runner's on.
        // SAFETY: signal(2) in the child between fork and exec, async-signal-safe.
        unsafe {
            use std::os::unix::process::CommandExt;
            child.pre_exec(|| {
                libc::signal(libc::SIGINT, libc::SIG_DFL);
                Ok(())
            });
        }
        let mut child = child.spawn().unwrap();
        // Counted from when init starts writing (its folder appears), not from the spawn: on a
        // loaded machine the process alone can take most of a second to start.
        let spawned = std::time::Instant::now();
        while !test.path("items").exists() && spawned.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(delay_ms));
        // SAFETY: kill(2) with a pid we spawned and a signal number.
        unsafe { libc::kill(child.id() as i32, signal) };
        let status = child.wait().unwrap();
        let at = format!("signal {signal} after {delay_ms} ms ({status:?})");

        // Whatever is in place is whole: each file is exactly what a full run writes.
        let partial = snapshot(&test, "items");
        for (file, bytes) in &partial {
            if !file.starts_with(".modkit-tmp-") {
                assert_eq!(Some(bytes), want.get(file), "{at}: {file} is not whole");
            }
        }
        if signal == libc::SIGINT {
            assert!(status.success() || status.signal() == Some(libc::SIGINT), "{at}");
            interrupted += usize::from(status.signal() == Some(libc::SIGINT));
            // Ctrl-C while staging removes the staging folder; during the renames, they finish.
            assert!(
                partial.keys().all(|f| !f.starts_with(".modkit-tmp-")),
                "{at}: staging debris {:?}",
                partial
                    .keys()
                    .filter(|f| f.starts_with(".modkit-"))
                    .collect::<Vec<_>>()
            );
            assert!(partial.is_empty() || partial == want, "{at}: all or nothing");
        }
        // A 0.1.0-style temporary file beside a target is debris too.
        if test.path("items/plugin").is_dir() {
            test.write_file("items/plugin/.modkit-Ab12Cd", "half");
        }

        // A plain re-run completes it, and leaves no debris.
        let out = test.run(&["init", "items", "-q"]);
        assert_code(&test, &out, 0);
        assert_eq!(
            snapshot(&test, "items"),
            want,
            "{at}: the re-run completes the sandbox"
        );
    }
    assert!(interrupted >= 3, "most Ctrl-Cs land while writing: {interrupted}");
}
