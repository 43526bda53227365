//! The Linux binaries cross-built with cargo-zigbuild for the npm platform packages (musl x86-64,
//! arm64 for glibc 2.17 and musl) do what the host build does: `--version`, `init items`, then
//! `doctor` on it, with the same exit codes, the same transcripts and the same files written.
//! The arm64 ones run under qemu-user (`qemu-aarch64`; Debian's qemu-user), the glibc one with
//! the AArch64 glibc of Debian's libc6-arm64-cross as its sysroot.
//!
//! Which binaries: `MODKIT_TEST_CROSS_BINARIES`, comma-separated `KEY=PATH` as scripts/npm-pack.sh
//! takes them (`linux-arm64-musl=target/aarch64-unknown-linux-musl/debug/modkit`). scripts/test.sh
//! builds the arm64 musl debug binary for it (one extra build, measured in docs/performance.md);
//! scripts/cross-check.sh runs this test on every dist binary scripts/npm-pack.sh built. Unset, the
//! test fails under CI=true and is skipped (said on stderr) otherwise.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{CliTest, bin, stdout, transcript};

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Where Debian's libc6-arm64-cross puts the AArch64 glibc and its loader.
const ARM64_SYSROOT: &str = "/usr/aarch64-linux-gnu";

/// `KEY=PATH` pairs of MODKIT_TEST_CROSS_BINARIES.
fn cross_binaries() -> Vec<(String, PathBuf)> {
    let Some(list) = std::env::var_os("MODKIT_TEST_CROSS_BINARIES") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true needs MODKIT_TEST_CROSS_BINARIES (scripts/test.sh builds the arm64 musl binary with cargo zigbuild)"
        );
        return Vec::new();
    };
    let list = list.to_string_lossy().into_owned();
    list.split(',')
        .filter(|spec| !spec.is_empty())
        .map(|spec| {
            let (key, path) = spec
                .split_once('=')
                .unwrap_or_else(|| panic!("MODKIT_TEST_CROSS_BINARIES: `{spec}` is not KEY=PATH"));
            let path = PathBuf::from(path);
            assert!(
                path.is_file(),
                "MODKIT_TEST_CROSS_BINARIES: {} is not a file",
                path.display()
            );
            (key.to_string(), path)
        })
        .collect()
}

/// How to run the binary of `key` on this x86-64 machine: natively, or under qemu-aarch64.
fn runner(key: &str, binary: &Path) -> Command {
    if !key.starts_with("linux-arm64") {
        assert!(
            key.starts_with("linux-x64"),
            "{key}: only Linux binaries run here"
        );
        return Command::new(binary);
    }
    let qemu = ["qemu-aarch64", "qemu-aarch64-static"]
        .iter()
        .find_map(|name| which::which(name).ok())
        .unwrap_or_else(|| {
            panic!("{key} runs under qemu-user, which is missing: apt-get install qemu-user (the npm arm64 check)")
        });
    let mut cmd = Command::new(qemu);
    if !key.ends_with("-musl") {
        assert!(
            Path::new(ARM64_SYSROOT)
                .join("lib/ld-linux-aarch64.so.1")
                .exists(),
            "{key} needs the AArch64 glibc under qemu: apt-get install libc6-arm64-cross"
        );
        cmd.args(["-L", ARM64_SYSROOT]);
    }
    cmd.arg(binary);
    cmd
}

/// `program` (a runner, or the host binary) in a fresh `CliTest` with its cleared environment:
/// `--version`, `init items`, `doctor items`, as transcripts, and every file init wrote.
fn init_and_doctor(program: impl Fn() -> Command) -> (Vec<String>, BTreeMap<String, String>) {
    let test = CliTest::new();
    let run = |args: &[&str]| {
        let template = program();
        let mut cmd = test.clean_command(template.get_program());
        cmd.args(template.get_args()).args(args);
        test.transcript(&mut cmd)
    };
    let transcripts = vec![
        run(&["--version"]),
        run(&["init", "items"]),
        run(&["doctor", "items"]),
    ];
    let files = test
        .files("items")
        .into_iter()
        .map(|f| {
            let content = std::fs::read(test.path("items").join(&f)).unwrap_or_default();
            let content = String::from_utf8_lossy(&content).into_owned();
            (f, test.filter(&content))
        })
        .collect();
    (transcripts, files)
}

#[test]
fn cross_built_linux_binaries_init_and_doctor_as_the_host_build_does() {
    let binaries = cross_binaries();
    if binaries.is_empty() {
        eprintln!("not checked: MODKIT_TEST_CROSS_BINARIES is not set");
        return;
    }
    let host = init_and_doctor(|| Command::new(bin()));
    assert!(host.0[0].contains("modkit [VERSION]"), "{}", host.0[0]);
    assert!(
        !host.1.is_empty(),
        "the host build's init wrote nothing:\n{}",
        host.0[1]
    );
    for (key, binary) in &binaries {
        if key.ends_with("-musl") {
            // Static: no program interpreter, so it runs on Alpine and any Linux of its CPU.
            let out = Command::new("readelf")
                .args(["-lW"])
                .arg(binary)
                .output()
                .expect("readelf (binutils)");
            assert!(out.status.success(), "readelf: {}", transcript(&out));
            assert!(
                !stdout(&out).contains("INTERP"),
                "{key}: {} has a program interpreter",
                binary.display()
            );
        }
        let cross = init_and_doctor(|| runner(key, binary));
        for (step, (want, got)) in ["--version", "init items", "doctor items"]
            .iter()
            .zip(host.0.iter().zip(&cross.0))
        {
            assert_eq!(
                got,
                want,
                "{key} ({}): `{step}` differs from the host build",
                binary.display()
            );
        }
        assert_eq!(
            cross.1.keys().collect::<Vec<_>>(),
            host.1.keys().collect::<Vec<_>>(),
            "{key}: init wrote other files"
        );
        for (file, content) in &host.1 {
            assert_eq!(
                &cross.1[file], content,
                "{key}: items/{file} differs from the host build's"
            );
        }
        eprintln!(
            "{key}: {} behaves as the host build ({VERSION})",
            binary.display()
        );
    }
}
