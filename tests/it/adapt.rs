//! `modkit adapt`: what the built binary writes into a foundation and prints, what it refuses, and
//! how a re-run treats what it wrote before. The foundation is `tests/fixtures/foundation`; the
//! end-to-end tests (e2e::foundation) type-check and serve what it writes.

use std::process::Output;

use insta::assert_snapshot;

use crate::support::{CliTest, stderr, stdout};

const MODULE_DIR: &str = "foundation/src/modules/items";
const ADAPTER: &str = "foundation/src/modules/items/server/routes/index.ts";

/// A temp folder with `items/` (modkit init items) and `foundation/` (the fixture).
fn setup() -> CliTest {
    let test = CliTest::new();
    let out = test.run(&["init", "items", "-q"]);
    assert!(
        out.status.success(),
        "{}",
        test.filter(&crate::support::transcript(&out))
    );
    test.copy_fixture("foundation", "foundation");
    test
}

fn adapt(test: &CliTest, extra: &[&str]) -> Output {
    let mut args = vec!["adapt", "items", "--foundation", "foundation"];
    args.extend_from_slice(extra);
    test.run(&args)
}

fn assert_code(test: &CliTest, out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}",
        test.filter(&crate::support::transcript(out))
    );
}

#[test]
fn adapt_writes_the_module_into_the_foundation() {
    let test = setup();
    let out = test.transcript(
        test.command()
            .args(["adapt", "items", "--foundation", "foundation"]),
    );
    assert_snapshot!("adapt_items_transcript", out);
    assert_snapshot!("adapt_items_adapter_esm", test.read_file(ADAPTER));
    assert_snapshot!(
        "adapt_items_module_config",
        test.read_file(format!("{MODULE_DIR}/module.config.ts"))
    );
    // The module's code and migrations, byte for byte.
    for (from, to) in [
        ("items/plugin/index.ts", "plugin/index.ts"),
        ("items/plugin/context.ts", "plugin/context.ts"),
        (
            "items/plugin/migrations/0001_create_module_table.sql",
            "../../../migrations/items/0001_create_module_table.sql",
        ),
    ] {
        assert_eq!(
            test.read_file(from),
            test.read_file(format!("{MODULE_DIR}/{to}")),
            "{to}"
        );
    }
    // The migrations outside src/, where a build of the sources never meets a .sql file.
    assert_eq!(
        test.files(MODULE_DIR),
        [
            ".modkit-adapt.json",
            "module.config.ts",
            "plugin/context.ts",
            "plugin/index.ts",
            "server/routes/index.ts",
        ]
    );
}

#[test]
fn the_adapter_follows_the_foundation_module_system() {
    // CommonJS: no extensions, no top-level await.
    let test = setup();
    test.replace_in_file(
        "foundation/package.json",
        r#""type": "module""#,
        r#""type": "commonjs""#,
    );
    assert_code(&test, &adapt(&test, &[]), 0);
    assert_snapshot!("adapt_items_adapter_commonjs", test.read_file(ADAPTER));

    // A bundler: no extensions, top-level await.
    let test = setup();
    test.replace_in_file(
        "foundation/tsconfig.json",
        r#""module": "NodeNext""#,
        r#""module": "ESNext""#,
    );
    test.replace_in_file(
        "foundation/tsconfig.json",
        r#""moduleResolution": "NodeNext""#,
        r#""moduleResolution": "Bundler""#,
    );
    assert_code(&test, &adapt(&test, &[]), 0);
    let adapter = test.read_file(ADAPTER);
    assert!(
        adapter.contains("from '../../../../lib/db/tenant-db';"),
        "{adapter}"
    );
    assert!(adapter.contains("\nawait plugin.register(ctx);"), "{adapter}");

    // The module setting inherited from an extended file counts too.
    let test = setup();
    test.replace_in_file("foundation/tsconfig.json", r#""module": "NodeNext","#, "");
    test.replace_in_file(
        "foundation/tsconfig.base.json",
        r#""target": "ES2023","#,
        r#""target": "ES2023", "module": "CommonJS","#,
    );
    test.replace_in_file(
        "foundation/tsconfig.json",
        r#""moduleResolution": "NodeNext","#,
        "",
    );
    let out = adapt(&test, &[]);
    assert_code(&test, &out, 0);
    assert!(
        stdout(&out).contains("commonjs: tsconfig.json: module commonjs"),
        "{}",
        stdout(&out)
    );
    assert!(test.read_file(ADAPTER).contains("export const ready"));
}

#[test]
fn a_rerun_updates_what_modkit_wrote_and_keeps_edits() {
    let test = setup();
    assert_code(&test, &adapt(&test, &[]), 0);
    let again = adapt(&test, &[]);
    assert_code(&test, &again, 0);
    assert!(stdout(&again).contains("Nothing to do"), "{}", stdout(&again));

    // The module changed in its sandbox: its copy in the foundation follows.
    test.replace_in_file(
        "items/plugin/index.ts",
        "const MAX_NAME = 200;",
        "const MAX_NAME = 120;",
    );
    let out = adapt(&test, &[]);
    assert_code(&test, &out, 0);
    assert!(stdout(&out).contains("index.ts  (overwrite)"), "{}", stdout(&out));
    assert!(
        test.read_file(format!("{MODULE_DIR}/plugin/index.ts"))
            .contains("MAX_NAME = 120")
    );

    // Someone edits the adapter in the foundation, then the module changes again: refused, and
    // nothing at all is written, not even the unrelated update.
    test.replace_in_file(
        ADAPTER,
        "const router = forwardRejections(Router());",
        "const router = forwardRejections(Router({ strict: true })); // tuned by hand",
    );
    test.replace_in_file(
        "items/plugin/index.ts",
        "const MAX_NAME = 120;",
        "const MAX_NAME = 80;",
    );
    let out = adapt(&test, &[]);
    assert_code(&test, &out, 2);
    let err = stderr(&out);
    assert!(
        err.contains("src/modules/items/server/routes/index.ts: edited since modkit adapt wrote it")
            && err.contains("nothing was written")
            && err.contains("--force"),
        "{err}"
    );
    assert!(test.read_file(ADAPTER).contains("tuned by hand"));
    assert!(
        test.read_file(format!("{MODULE_DIR}/plugin/index.ts"))
            .contains("MAX_NAME = 120")
    );

    // --dry-run shows it and writes nothing; --force overwrites.
    let dry = adapt(&test, &["--dry-run"]);
    assert_code(&test, &dry, 0);
    assert!(stderr(&dry).contains("would need --force"), "{}", stderr(&dry));
    assert!(test.read_file(ADAPTER).contains("tuned by hand"));
    assert_code(&test, &adapt(&test, &["--force"]), 0);
    assert!(!test.read_file(ADAPTER).contains("tuned by hand"));
    assert!(
        test.read_file(format!("{MODULE_DIR}/plugin/index.ts"))
            .contains("MAX_NAME = 80")
    );

    // An applied migration edited in the sandbox is refused even though modkit wrote the old one.
    test.replace_in_file(
        "items/plugin/migrations/0001_create_module_table.sql",
        "name       text",
        "title      text",
    );
    let out = adapt(&test, &[]);
    assert_code(&test, &out, 2);
    assert!(
        stderr(&out).contains("0001_create_module_table.sql: the migration differs from the sandbox's"),
        "{}",
        stderr(&out)
    );

    // A file that was there before modkit is never taken over silently.
    let test = setup();
    test.write_file(
        format!("{MODULE_DIR}/module.config.ts"),
        "export default { id: 'items' };\n",
    );
    let out = adapt(&test, &[]);
    assert_code(&test, &out, 2);
    assert!(
        stderr(&out).contains("module.config.ts: not written by modkit adapt"),
        "{}",
        stderr(&out)
    );
    assert!(!test.path(ADAPTER).exists(), "a refused run wrote the adapter");
}

#[test]
fn a_file_that_left_the_sandbox_is_reported_and_kept() {
    let test = setup();
    test.write_file(
        "items/plugin/format.ts",
        "export const format = (s: string) => s.trim();\n",
    );
    assert_code(&test, &adapt(&test, &[]), 0);
    std::fs::remove_file(test.path("items/plugin/format.ts")).unwrap();
    let out = adapt(&test, &[]);
    assert_code(&test, &out, 0);
    assert!(
        stderr(&out).contains("src/modules/items/plugin/format.ts was written by an earlier `modkit adapt` but is no longer in the sandbox"),
        "{}",
        stderr(&out)
    );
    assert!(test.path(format!("{MODULE_DIR}/plugin/format.ts")).exists());
}

#[test]
fn dry_run_writes_nothing_and_json_reports_the_choices() {
    let test = setup();
    let out = adapt(&test, &["--dry-run"]);
    assert_code(&test, &out, 0);
    assert!(stdout(&out).contains("Would adapt") && stdout(&out).contains("Nothing was written"));
    assert!(!test.path(MODULE_DIR).exists(), "--dry-run wrote {MODULE_DIR}");

    let out = adapt(&test, &["--format", "json"]);
    assert_code(&test, &out, 0);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--format json prints JSON");
    assert_eq!(doc["style"]["format"], "esm");
    assert_eq!(doc["style"]["js_extension"], true);
    assert_eq!(doc["imports"]["withTenantTx"]["file"], "src/lib/db/tenant-db.ts");
    assert_eq!(
        doc["imports"]["withTenantTx"]["specifier"],
        "../../../../lib/db/tenant-db.js"
    );
    assert_eq!(
        doc["imports"]["requirePermission"]["specifier"],
        "../../../../lib/security/rbac.js"
    );
    let actions: Vec<&str> = doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["create"; 6]);
    assert!(test.path(ADAPTER).exists());
}

#[test]
fn where_withtenanttx_comes_from_is_read_from_the_foundation() {
    // A barrel that re-exports it does not make it ambiguous: the defining file wins.
    let test = setup();
    test.write_file(
        "foundation/src/lib/index.ts",
        "export { withTenantTx } from './db/tenant-db.js';\n",
    );
    assert_code(&test, &adapt(&test, &[]), 0);
    assert!(
        test.read_file(ADAPTER)
            .contains("from '../../../../lib/db/tenant-db.js';")
    );

    // Two files that define it: modkit will not guess.
    let test = setup();
    test.write_file(
        "foundation/src/db/tx.ts",
        "export async function withTenantTx<T>(_t: string, run: (db: never) => Promise<T>): Promise<T> { return run(undefined as never); }\n",
    );
    let out = adapt(&test, &[]);
    assert_code(&test, &out, 2);
    let err = stderr(&out);
    assert!(
        err.contains(
            "several files of the foundation export `withTenantTx`: src/db/tx.ts, src/lib/db/tenant-db.ts"
        ) && err.contains("[foundation] tenant_db = "),
        "{err}"
    );
    // modkit.toml says which: the import follows.
    let toml = test.read_file("foundation/modkit.toml");
    test.write_file(
        "foundation/modkit.toml",
        format!("{toml}tenant_db = \"src/db/tx.ts\"\n"),
    );
    assert_code(&test, &adapt(&test, &[]), 0);
    assert!(
        test.read_file(ADAPTER)
            .contains("import { withTenantTx } from '../../../../db/tx.js';")
    );

    // modkit.toml naming a file that does not export it is an error naming both.
    test.write_file(
        "foundation/modkit.toml",
        format!("{toml}tenant_db = \"src/db/tx.ts\"\nrbac = \"src/server.ts\"\n"),
    );
    let out = adapt(&test, &["--force"]);
    assert_code(&test, &out, 2);
    assert!(
        stderr(&out)
            .contains("src/server.ts (modkit.toml's [foundation] rbac) does not export `requirePermission`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bad_input_is_refused_with_the_fix_and_nothing_is_written() {
    struct Case {
        what: &'static str,
        prepare: fn(&CliTest),
        args: &'static [&'static str],
        says: &'static [&'static str],
    }
    let cases = [
        Case {
            what: "a bad module id",
            prepare: |_| {},
            args: &["adapt", "Items", "--foundation", "foundation"],
            says: &["invalid module id `Items`", "hint:"],
        },
        Case {
            what: "no such foundation",
            prepare: |_| {},
            args: &["adapt", "items", "--foundation", "nowhere"],
            says: &[
                "foundation folder nowhere does not exist",
                "hint: pass the foundation's root folder",
            ],
        },
        Case {
            what: "no sandbox to adapt from",
            prepare: |_| {},
            args: &["adapt", "orders", "--foundation", "foundation"],
            says: &["cannot find the sandbox of module `orders`", "--from"],
        },
        Case {
            what: "the sandbox of another module",
            prepare: |_| {},
            args: &["adapt", "orders", "--foundation", "foundation", "--from", "items"],
            says: &["items is the sandbox of module `items`, not `orders`"],
        },
        Case {
            what: "a malformed tsconfig",
            prepare: |t| {
                t.replace_in_file(
                    "foundation/tsconfig.json",
                    r#""module": "NodeNext","#,
                    r#""module": NodeNext,"#,
                )
            },
            args: &["adapt", "items", "--foundation", "foundation"],
            says: &[
                "tsconfig.json is not valid JSON with comments",
                "line 6",
                "hint: fix it",
            ],
        },
        Case {
            what: "a tsconfig without `module`",
            prepare: |t| {
                t.replace_in_file("foundation/tsconfig.json", r#""module": "NodeNext","#, "");
                t.replace_in_file(
                    "foundation/tsconfig.json",
                    r#""moduleResolution": "NodeNext","#,
                    "",
                );
            },
            args: &["adapt", "items", "--foundation", "foundation"],
            says: &[
                "tsconfig.json sets no `module`",
                "hint: set compilerOptions.module",
            ],
        },
        Case {
            what: "CommonJS with verbatimModuleSyntax",
            prepare: |t| {
                t.replace_in_file(
                    "foundation/package.json",
                    r#""type": "module""#,
                    r#""type": "commonjs""#,
                );
                t.replace_in_file(
                    "foundation/tsconfig.base.json",
                    r#""strict": true,"#,
                    r#""strict": true, "verbatimModuleSyntax": true,"#,
                );
            },
            args: &["adapt", "items", "--foundation", "foundation"],
            says: &[
                "as CommonJS with verbatimModuleSyntax on",
                "hint: make the foundation ESM",
            ],
        },
        Case {
            what: "no withTenantTx anywhere",
            prepare: |t| {
                t.replace_in_file(
                    "foundation/src/lib/db/tenant-db.ts",
                    "export async function withTenantTx",
                    "async function withTenantTx",
                )
            },
            args: &["adapt", "items", "--foundation", "foundation"],
            says: &["exports `withTenantTx`", "[foundation] tenant_db = "],
        },
        Case {
            what: "business code importing the sandbox's DB client",
            prepare: |t| {
                let index = t.read_file("items/plugin/index.ts");
                t.write_file(
                    "items/plugin/index.ts",
                    format!("import {{ pool }} from '../sandbox/db/client.js';\nvoid pool;\n{index}"),
                );
            },
            args: &["adapt", "items", "--foundation", "foundation"],
            says: &[
                "plugin/index.ts:1 imports `../sandbox/db/client.js`, which is outside plugin/",
                "hint:",
            ],
        },
        Case {
            what: "business code importing pg",
            prepare: |t| {
                let index = t.read_file("items/plugin/index.ts");
                t.write_file(
                    "items/plugin/index.ts",
                    format!("{index}import pg from 'pg';\nvoid pg;\n"),
                );
            },
            args: &["adapt", "items", "--foundation", "foundation"],
            says: &["imports the database client `pg`", "ctx.withTenantTx"],
        },
        Case {
            what: "meta.id that is not the module",
            prepare: |t| {
                t.replace_in_file(
                    "items/plugin/index.ts",
                    "meta: { id: 'items'",
                    "meta: { id: 'things'",
                )
            },
            args: &["adapt", "items", "--foundation", "foundation"],
            says: &["plugin/index.ts says `meta.id: 'things'`, but the module is `items`"],
        },
    ];
    for case in cases {
        let test = setup();
        (case.prepare)(&test);
        let out = test.run(case.args);
        assert_code(&test, &out, 2);
        let err = test.filter(&stderr(&out));
        for needle in case.says {
            assert!(
                err.contains(needle),
                "{}: stderr lacks `{needle}`:\n{err}",
                case.what
            );
        }
        assert!(!err.contains("panicked"), "{}: {err}", case.what);
        assert!(
            !test.path("foundation/src/modules/items").exists()
                && !test.path("foundation/src/modules/orders").exists(),
            "{}: something was written",
            case.what
        );
    }
}

#[test]
fn adapt_help_shows_the_options_and_examples() {
    let test = CliTest::new();
    assert_snapshot!(test.transcript(test.command().args(["adapt", "--help"])));
}

#[test]
fn dry_run_verbose_shows_a_diff_of_each_replaced_file() {
    let test = setup();
    assert_code(&test, &adapt(&test, &[]), 0);
    test.replace_in_file(
        ADAPTER,
        "const router = forwardRejections(Router());",
        "const router = forwardRejections(Router({ strict: true })); // tuned",
    );
    let out = adapt(&test, &["--dry-run", "-v"]);
    assert_code(&test, &out, 0);
    let text = stdout(&out);
    assert!(
        text.contains(
            "--- a/src/modules/items/server/routes/index.ts\n+++ b/src/modules/items/server/routes/index.ts\n"
        ) && text.contains("\n-const router = forwardRejections(Router({ strict: true })); // tuned\n+const router = forwardRejections(Router());\n"),
        "{text}"
    );
    assert!(
        !stdout(&adapt(&test, &["--dry-run"])).contains("+++ b/"),
        "a diff only with -v"
    );
}

/// Before, adapt kept the migrations in `src/modules/<id>/migrations/` (its record naming them
/// `migrations/<file>`): such a foundation keeps them there, re-runs are no-ops, bootstrap still
/// runs them; and migrations in both places at once are refused rather than guessed.
#[test]
fn a_foundation_adapted_before_keeps_its_migrations_in_the_module_folder() {
    let test = setup();
    assert_code(&test, &adapt(&test, &[]), 0);
    assert!(
        test.path("foundation/migrations/items/0001_create_module_table.sql")
            .is_file()
    );
    // What the earlier modkit wrote.
    std::fs::rename(
        test.path("foundation/migrations/items"),
        test.path(format!("{MODULE_DIR}/migrations")),
    )
    .unwrap();
    test.replace_in_file(
        format!("{MODULE_DIR}/.modkit-adapt.json"),
        "\"migrations/items/0001_create_module_table.sql\"",
        "\"migrations/0001_create_module_table.sql\"",
    );
    let out = adapt(&test, &[]);
    assert_code(&test, &out, 0);
    assert!(stdout(&out).contains("Nothing to do"), "{}", stdout(&out));
    assert!(!test.path("foundation/migrations/items").exists());
    let db = crate::support::pg::TestDb::new();
    let dry_run = [
        "bootstrap",
        "--project",
        "foundation",
        "--dry-run",
        "--tenant",
        "acme",
        "--db",
        db.url(),
    ];
    let out = test.run(&dry_run);
    assert_code(&test, &out, 0);
    assert!(
        stdout(&out).contains("CREATE TABLE IF NOT EXISTS \"items\""),
        "{}",
        stdout(&out)
    );

    // Both folders: which to run would be a guess.
    test.write_file(
        "foundation/migrations/items/0001_create_module_table.sql",
        "SELECT 1;\n",
    );
    for out in [adapt(&test, &[]), test.run(&dry_run)] {
        assert_code(&test, &out, 2);
        assert!(
            stderr(&out).contains("module `items` has migrations in two folders"),
            "{}",
            stderr(&out)
        );
    }
}

/// docs/foundation.md shows the fixture foundation's files verbatim: each
/// `<!-- snippet: PATH -->` is followed by a code block equal to that file, and every file of the
/// fixture's src/lib and route loader is shown. The fixture is what the e2e tests type-check and run.
#[test]
fn docs_foundation_snippets_are_the_tested_fixture_files() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/foundation.md")).unwrap();
    let mut shown = Vec::new();
    for part in doc.split("<!-- snippet: ").skip(1) {
        // ```ts, or ```prisma for Prisma's schema.
        let (path, rest) = part
            .split_once(" -->\n```")
            .and_then(|(path, rest)| Some((path, rest.split_once('\n')?.1)))
            .expect("a code block after each snippet marker");
        let block = &rest[..rest.find("\n```\n").expect("the end of the block") + 1];
        let file = std::fs::read_to_string(root.join(path)).unwrap();
        assert_eq!(
            block, file,
            "docs/foundation.md shows {path} otherwise: copy the file into the doc"
        );
        shown.push(path.to_string());
    }
    for path in [
        "tests/fixtures/foundation/src/lib/db/client.ts",
        "tests/fixtures/foundation/src/lib/db/tenant-db.ts",
        "tests/fixtures/foundation/src/lib/security/rbac.ts",
        "tests/fixtures/foundation/src/modules/registry.ts",
        "tests/fixtures/orm/kysely/client.ts",
        "tests/fixtures/orm/drizzle/client.ts",
        "tests/fixtures/orm/prisma/schema.prisma",
        "tests/fixtures/orm/prisma/client.ts",
    ] {
        assert!(
            shown.iter().any(|s| s == path),
            "docs/foundation.md does not show {path}"
        );
    }
}

#[test]
fn a_require_permission_that_reads_req_user_warns_to_mount_the_modules_behind_auth() {
    // An app's requirePermission that reads the user its auth middleware set (passport's
    // `req.user`): its own routes run it after that middleware, but the modules' routes are mounted
    // by the route loader, and when that is not behind the middleware every call answers 401.
    let test = setup();
    let rbac = test.path("foundation/src/lib/security/rbac.ts");
    let source = std::fs::read_to_string(&rbac).unwrap();
    let source = source.replace(
        "    const user = req.get('x-user-id')?.trim();",
        // With passport's typings `req.user` is typed; this test does not type-check.
        "    const user = req.user?.id;",
    );
    std::fs::write(&rbac, &source).unwrap();
    let out = adapt(&test, &[]);
    assert_code(&test, &out, 0);
    let text = stderr(&out) + &stdout(&out);
    assert!(
        text.contains("reads `req.user`")
            && text.contains("mount the modules' routes behind that middleware"),
        "{}",
        test.filter(&crate::support::transcript(&out))
    );
    // The fixture's own (a header it reads itself) gives no such warning.
    let test = setup();
    let out = adapt(&test, &[]);
    assert!(!(stderr(&out) + &stdout(&out)).contains("reads `req"));
}
