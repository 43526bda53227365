//! sslmode as libpq documents it, against a server whose certificate is the kind Citus makes when
//! it turns TLS on: self-signed, X.509 v1 (which rustls, modkit's TLS library, cannot read).
//!
//! Issue 9: modkit failed under the default `sslmode=prefer` with `invalid peer certificate:
//! Other(OtherError(UnsupportedCertVersion))` and a hint that blamed the server's address; psql
//! connected, because libpq's `prefer` falls back to plain text when the handshake fails.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::process::free_port;
use crate::support::{CliTest, stderr, stdout, transcript};

/// A throwaway PostgreSQL with `ssl = on` and a self-signed X.509 v1 certificate; stopped and
/// deleted on drop.
struct TlsServer {
    dir: PathBuf,
    port: u16,
}

fn is_root() -> bool {
    unsafe extern "C" {
        fn geteuid() -> u32;
    }
    // SAFETY: geteuid(2) has no arguments and cannot fail.
    unsafe { geteuid() == 0 }
}

/// `program` as the `postgres` user when we are root (PostgreSQL refuses root), from `/`.
fn as_owner(program: &Path) -> Command {
    if is_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program).current_dir("/");
        cmd
    } else {
        Command::new(program)
    }
}

fn pg_bin() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is installed under /usr/lib/postgresql")
        .filter_map(|e| Some(e.ok()?.path().join("bin")))
        .filter(|bin| bin.join("initdb").is_file())
        .collect();
    found.sort();
    found.pop().expect("an initdb under /usr/lib/postgresql")
}

#[track_caller]
fn ok(output: std::io::Result<Output>, what: &str) {
    let output = output.unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(output.status.success(), "{what} failed: {}", transcript(&output));
}

impl TlsServer {
    fn start() -> Self {
        let dir = std::env::temp_dir().join(format!("modkit-tls-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir).unwrap();
        // `openssl x509 -req` without extensions writes an X.509 v1 certificate, as Citus does.
        let (key, csr, crt) = (
            dir.join("server.key"),
            dir.join("server.csr"),
            dir.join("server.crt"),
        );
        ok(
            Command::new("openssl")
                .args([
                    "req",
                    "-new",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-subj",
                    "/CN=localhost",
                    "-keyout",
                ])
                .arg(&key)
                .arg("-out")
                .arg(&csr)
                .output(),
            "openssl req",
        );
        ok(
            Command::new("openssl")
                .args(["x509", "-req", "-days", "2", "-in"])
                .arg(&csr)
                .arg("-signkey")
                .arg(&key)
                .arg("-out")
                .arg(&crt)
                .output(),
            "openssl x509",
        );
        // PostgreSQL refuses a key others may read.
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        if is_root() {
            ok(
                Command::new("chown").args(["-R", "postgres"]).arg(&dir).output(),
                "chown",
            );
        }
        let bin = pg_bin();
        let data = dir.join("data");
        ok(
            as_owner(&bin.join("initdb"))
                .arg("-D")
                .arg(&data)
                .args(["-U", "postgres", "-A", "trust", "--no-sync"])
                .output(),
            "initdb",
        );
        let port = free_port();
        let opts = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c ssl=on -c ssl_cert_file={} -c ssl_key_file={} -c fsync=off",
            dir.display(),
            crt.display(),
            key.display()
        );
        ok(
            as_owner(&bin.join("pg_ctl"))
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(dir.join("server.log"))
                .args(["-w", "-t", "60", "-o", &opts, "start"])
                .output(),
            "pg_ctl start",
        );
        Self { dir, port }
    }

    fn url(&self, query: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres{query}", self.port)
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = as_owner(&pg_bin().join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn check(test: &CliTest, url: &str) -> Output {
    test.write_file("p/modkit.toml", "# a foundation with no module\n");
    test.command()
        .args(["bootstrap", "--check", "--db", url, "--project"])
        .arg(test.path("p"))
        .output()
        .expect("cannot run modkit")
}

#[test]
fn sslmode_prefer_falls_back_to_plain_text_when_the_tls_handshake_fails() {
    let server = TlsServer::start();
    let test = CliTest::new();
    for query in ["", "?sslmode=prefer"] {
        let output = check(&test, &server.url(query));
        // 1: pending work (the database is empty); not 2, a connection error.
        assert_eq!(output.status.code(), Some(1), "{query}: {}", transcript(&output));
        assert!(
            stdout(&output).contains("pending: system table"),
            "{}",
            transcript(&output)
        );
    }
}

#[test]
fn sslmode_require_and_verify_report_a_tls_failure_as_one() {
    let server = TlsServer::start();
    let test = CliTest::new();
    for mode in ["require", "verify-ca", "verify-full"] {
        let output = check(&test, &server.url(&format!("?sslmode={mode}")));
        assert_eq!(output.status.code(), Some(2), "{mode}: {}", transcript(&output));
        let err = stderr(&output);
        assert!(
            err.contains(&format!(
                "TLS with PostgreSQL at 127.0.0.1:{} failed",
                server.port
            )),
            "{err}"
        );
        assert!(err.contains("X.509 v1"), "{err}");
        assert!(!err.contains("is the server running"), "{err}");
    }
}
