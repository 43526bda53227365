//! Tests of the harness itself: if these fail, nothing else in `it` can be trusted.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::time::Duration;

use crate::support::pg::{PgServer, TestDb, psql_scalar};
use crate::support::process::{ChildGuard, wait_for};
use crate::support::{CliTest, http};

#[test]
fn test_databases_are_fresh_separate_and_dropped() {
    let (a, b) = (TestDb::new(), TestDb::new());
    assert_ne!(a.name(), b.name());
    assert_eq!(a.scalar("SELECT current_database()"), a.name());
    a.execute("CREATE TABLE t (x int); INSERT INTO t VALUES (1), (2)");
    assert_eq!(a.scalar("SELECT count(*) FROM t"), "2");
    assert_eq!(
        b.scalar("SELECT count(*) FROM pg_tables WHERE tablename = 't'"),
        "0"
    );

    let name = a.name().to_string();
    drop(a);
    let server = PgServer::shared().url();
    assert_eq!(
        psql_scalar(
            server,
            &format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'")
        ),
        "0"
    );
}

#[test]
fn scalars_read_like_psql_prints_them() {
    let db = TestDb::new();
    assert_eq!(db.scalar("SELECT 42"), "42");
    assert_eq!(db.scalar("SELECT true"), "t");
    assert_eq!(db.scalar("SELECT NULL"), "");
    assert_eq!(db.scalar("SELECT 'a' || 'b'"), "ab");
    assert_eq!(
        db.rows("SELECT 1, 'x' UNION ALL SELECT 2, 'y' ORDER BY 1"),
        [["1", "x"], ["2", "y"]]
    );
    // The server is a PostgreSQL recent enough for DROP DATABASE ... WITH (FORCE).
    assert!(db.scalar("SHOW server_version_num").parse::<u32>().unwrap() >= 130_000);
}

#[test]
fn transcripts_hide_the_temp_folder_and_the_version() {
    let test = CliTest::new();
    let out = test.transcript(test.command().arg("--version"));
    assert_eq!(
        out,
        "success: true\nexit_code: 0\n----- stdout -----\nmodkit [VERSION]\n\n----- stderr -----\n"
    );
    let text = format!("{}/items", test.root().display());
    assert_eq!(test.filter(&text), "[TEMP]/items");
}

#[test]
fn commands_run_with_a_cleared_environment() {
    let test = CliTest::new();
    let out = test
        .clean_command("sh")
        .args(["-c", "env | cut -d= -f1 | sort"])
        .output()
        .unwrap();
    let vars = String::from_utf8(out.stdout).unwrap();
    // sh itself adds PWD (and some shells SHLVL, `_`, OLDPWD); npm_config_* pass on purpose.
    for var in vars.lines() {
        let allowed = ["HOME", "NO_COLOR", "PATH", "PWD", "SHLVL", "_", "OLDPWD"].contains(&var);
        assert!(allowed || var.starts_with("npm_config_"), "{var} leaked");
    }
    assert!(vars.lines().any(|v| v == "NO_COLOR"));
}

#[test]
fn http_responses_with_4xx_are_data() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = Vec::new();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" || line.is_empty() {
                break;
            }
            request.push(line.trim_end().to_string());
        }
        let body = r#"{"error":"forbidden"}"#;
        write!(
            stream,
            "HTTP/1.1 403 Forbidden\r\nX-Test: yes\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        request
    });
    let res = http::request(
        "OPTIONS",
        &format!("http://127.0.0.1:{port}/x"),
        &[("Origin", "http://localhost:5173")],
        None,
    );
    assert_eq!(res.status, 403);
    assert_eq!(res.header("X-TEST"), Some("yes"));
    assert_eq!(res.json()["error"], "forbidden");
    let request = server.join().unwrap();
    assert_eq!(request[0], "OPTIONS /x HTTP/1.1");
    assert!(
        request
            .iter()
            .any(|h| h.eq_ignore_ascii_case("origin: http://localhost:5173")),
        "{request:?}"
    );
}

#[test]
fn child_guard_kills_what_the_child_started() {
    let test = CliTest::new();
    let pid_file = test.path("grandchild.pid");
    let guard = ChildGuard::spawn(
        test.clean_command("sh")
            .args(["-c", "sleep 60 & echo $! > grandchild.pid; wait"]),
    );
    let pid: u32 = wait_for("the grandchild's pid", Duration::from_secs(5), || {
        std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.trim().parse().ok())
    });
    assert!(alive(pid));
    drop(guard);
    wait_for("the grandchild to end", Duration::from_secs(5), || {
        (!alive(pid)).then_some(())
    });
}

/// Running, as opposed to gone or a zombie waiting for a reaper.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit(')')
            .next()
            .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
    })
}
