//! `modkit upgrade` end to end: the 0.1.0 fixture with a team's typical edits, upgraded, then
//! type-checked and tested with the shared sandbox's installed packages.

use std::path::Path;

use super::sandbox::{command, output, run_ok, sandbox, timed};
use crate::support::copy_dir;
use crate::support::pg::TestDb;
use crate::support::{bin, fixture, transcript};

#[test]
fn an_upgraded_0_1_0_sandbox_type_checks_and_passes_its_tests() {
    let sb = sandbox();
    let dir = sb.root.join("upgraded-0.1.0");
    copy_dir(&fixture("sandbox-0.1.0"), &dir);
    crate::upgrade::apply_typical_edits(&dir);
    std::os::unix::fs::symlink(sb.dir.join("node_modules"), dir.join("node_modules"))
        .expect("cannot link node_modules");

    run_ok(command(bin(), &dir).arg("upgrade"));
    let check = output(command(bin(), &dir).args(["upgrade", "--check"]));
    assert!(
        check.status.success(),
        "a second upgrade is not a no-op:\n{}",
        transcript(&check)
    );

    let tsc = Path::new("node_modules/.bin/tsc");
    timed("tsc --noEmit (upgraded 0.1.0 sandbox)", || {
        run_ok(command(dir.join(tsc), &dir).args(["--noEmit", "-p", "."]))
    });
    let db = TestDb::new();
    let out = timed("npm test (upgraded 0.1.0 sandbox)", || {
        output(command("npm", &dir).arg("test").env("DATABASE_URL", db.url()))
    });
    assert!(
        out.status.success(),
        "npm test failed on the upgraded sandbox:\n{}",
        transcript(&out)
    );
}
