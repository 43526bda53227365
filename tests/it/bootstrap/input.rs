//! Tenant codes, tenants files and hostile names: refused with the rule, or stored verbatim.

use super::*;
use crate::support::pg::TestDb;

/// The code as the message may show it: as typed, or escaped like Rust's `escape_debug`.
fn named(err: &str, code: &str) -> bool {
    err.contains(code) || err.contains(&code.escape_debug().to_string())
}

#[test]
fn bad_tenant_codes_are_refused_with_the_rule_and_the_database_is_untouched() {
    let db = TestDb::new();
    let test = cli_for(&db);
    let project = sandbox(&test, "items");
    assert_code(&run(&test, &db, &project, &["--tenant", "acme"]), 0);
    let (dump, rows) = (schema_dump(&db), system_rows(&db));

    let long = "a".repeat(49);
    let very_long = format!("b{}", "x".repeat(70));
    for code in [
        "x'; DROP TABLE sys_tenant; --",
        "it's",
        "semi;colon",
        "double\"quote",
        "café",
        "東京",
        "with space",
        "Acme",
        "1acme",
        "_acme",
        "acme-eu",
        long.as_str(),
        very_long.as_str(),
        "",
    ] {
        // A good code beside the bad one is not made either: the whole run is refused up front.
        let output = run(&test, &db, &project, &["--tenant", "good", "--tenant", code]);
        assert_code(&output, 2);
        let err = stderr(&output);
        assert!(
            err.contains(CODE_RULE),
            "{code:?}: the message states the rule:\n{err}"
        );
        if !code.is_empty() {
            assert!(named(&err, code), "{code:?}: the message names the code:\n{err}");
        }
        assert!(stdout(&output).is_empty(), "{code:?}: {}", stdout(&output));
    }
    assert_eq!(schema_dump(&db), dump, "a refused run changed the schema");
    assert_eq!(system_rows(&db), rows, "a refused run wrote system rows");
}

#[test]
fn dev_tenants_in_modkit_toml_follow_the_same_rule() {
    // modkit.toml is input too: a bad dev tenant must not become a schema, and two 60-byte codes
    // must not be cut down by PostgreSQL into one shared schema.
    let db = TestDb::new();
    let test = cli_for(&db);
    let project = sandbox(&test, "items");
    let (a, b) = (format!("{}1", "a".repeat(59)), format!("{}2", "a".repeat(59)));
    for tenants in [
        format!("[\"dev\", \"{a}\", \"{b}\"]"),
        "[\"dev\", \"x'; DROP TABLE sys_tenant; --\"]".to_string(),
        "[\"Dev\"]".to_string(),
    ] {
        test.write_file(
            "items/modkit.toml",
            format!("[module]\nid = \"items\"\n\n[dev]\ntenants = {tenants}\n"),
        );
        let output = run(&test, &db, &project, &[]);
        assert_code(&output, 2);
        let err = stderr(&output);
        assert!(
            err.contains(CODE_RULE),
            "{tenants}: the message states the rule:\n{err}"
        );
        assert!(
            err.contains("modkit.toml"),
            "{tenants}: the message names modkit.toml:\n{err}"
        );
        assert!(!has_system_tables(&db), "{tenants}: the database was changed");
    }
}

#[test]
fn the_longest_code_makes_exactly_its_own_schema() {
    let db = TestDb::new();
    let test = cli_for(&db);
    let project = sandbox(&test, "items");
    // 48 bytes, differing only in the last byte: two schemas, neither cut.
    let (a, b) = (format!("{}a", "t".repeat(47)), format!("{}b", "t".repeat(47)));
    assert_eq!(a.len(), 48);
    let output = run(&test, &db, &project, &["--tenant", &a, "--tenant", &b]);
    assert_code(&output, 0);
    for code in [&a, &b] {
        let schema = format!("tenant_{code}");
        assert_eq!(
            db.scalar(&format!(
                "SELECT schema_name FROM sys_tenant WHERE code = '{code}'"
            )),
            schema
        );
        assert_eq!(
            db.scalar(&format!(
                "SELECT count(*) FROM pg_namespace WHERE nspname = '{schema}'"
            )),
            "1"
        );
        assert_eq!(
            db.scalar(&format!(
                "SELECT count(*) FROM pg_tables WHERE schemaname = '{schema}' AND tablename = 'items'"
            )),
            "1"
        );
    }
    assert!(
        invariant_violations(&db, "items", 1).is_empty(),
        "{:?}",
        invariant_violations(&db, "items", 1)
    );
}

#[test]
fn tenants_file_lines_comments_and_blanks() {
    let db = TestDb::new();
    let test = cli_for(&db);
    let project = sandbox(&test, "items");
    let file = test.write_file(
        "tenants.txt",
        "# code,name,domain\n\nacme,Acme Corp,acme.example\n  globex , Globex ,  \ninitech\n   # indented comment\numbrella,\"Umbrella, Inc. \"\"U\"\"\" ,umbrella.example\n",
    );
    let output = run(&test, &db, &project, &["--tenants-file", file.to_str().unwrap()]);
    assert_code(&output, 0);
    assert_eq!(
        db.rows("SELECT code, name, coalesce(domain, '<null>'), schema_name FROM sys_tenant ORDER BY code"),
        [
            ["acme", "Acme Corp", "acme.example", "tenant_acme"],
            ["dev", "dev", "<null>", "tenant_dev"],
            ["globex", "Globex", "<null>", "tenant_globex"],
            ["initech", "initech", "<null>", "tenant_initech"],
            [
                "umbrella",
                "Umbrella, Inc. \"U\"",
                "umbrella.example",
                "tenant_umbrella"
            ],
        ]
    );

    // A comma outside quotes, or a quote left open, is an error naming the line; nothing is made.
    let db = TestDb::new();
    for (text, line, says, hint) in [
        (
            "acme\numbrella,Umbrella, Inc.,umbrella.example\n",
            2,
            "4 fields, expected at most 3",
            r#"acme,"Acme, Inc.",acme.example"#,
        ),
        (
            "acme,\"Acme, Inc.,acme.example\n",
            1,
            "a double quote is not closed",
            r#"acme,"Say ""hi""""#,
        ),
    ] {
        let file = test.write_file("bad.txt", text);
        let output = run(&test, &db, &project, &["--tenants-file", file.to_str().unwrap()]);
        assert_code(&output, 2);
        let err = test.filter(&stderr(&output));
        assert!(err.contains(&format!("[TEMP]/bad.txt:{line}: {says}")), "{err}");
        assert!(err.contains("hint: ") && err.contains(hint), "{err}");
        assert!(!has_system_tables(&db), "nothing was made");
    }
}

#[test]
fn a_bad_code_in_the_tenants_file_is_reported_with_file_and_line() {
    let db = TestDb::new();
    let test = cli_for(&db);
    let project = sandbox(&test, "items");
    let file = test.write_file(
        "tenants.txt",
        "# tenants\nacme,Acme\n\nAcme-EU,Acme Europe\nglobex\n",
    );
    let output = run(&test, &db, &project, &["--tenants-file", file.to_str().unwrap()]);
    assert_code(&output, 2);
    let err = test.filter(&stderr(&output));
    assert!(err.contains("[TEMP]/tenants.txt:4:"), "{err}");
    assert!(err.contains("Acme-EU") && err.contains(CODE_RULE), "{err}");
    assert!(!has_system_tables(&db), "nothing was made");

    let output = run(&test, &db, &project, &["--tenants-file", "missing.txt"]);
    assert_code(&output, 2);
    assert!(stderr(&output).contains("missing.txt"), "{}", stderr(&output));

    // A NUL would cut the SQL text short: a control character in a name or domain is refused.
    for (line, text) in [
        (2, "acme,Acme\nglobex,Glo\u{0}bex\n"),
        (1, "acme,Acme,acme.example\u{7}\n"),
    ] {
        let file = test.write_file("control.txt", text);
        let output = run(&test, &db, &project, &["--tenants-file", file.to_str().unwrap()]);
        assert_code(&output, 2);
        let err = test.filter(&stderr(&output));
        assert!(
            err.contains(&format!("[TEMP]/control.txt:{line}:")) && err.contains("control character"),
            "{err}"
        );
        assert!(!has_system_tables(&db), "nothing was made");
    }
}

#[test]
fn names_and_domains_are_stored_verbatim() {
    // Names and domains go into the tenant's transaction as SQL literals: whatever they hold,
    // they must land exactly as written, and never run.
    let db = TestDb::new();
    let test = cli_for(&db);
    let project = sandbox(&test, "items");
    let tenants = [
        ("obrien", "O'Brien; DROP TABLE x; --", "o'brien.example"),
        ("quotes", "\"Double\" and 'single' and ''two''", "a\"b.example"),
        ("unicode", "Ünïcødé 東京 🚀", "xn--bcher-kva.example"),
        ("backslash", r"C:\path\n\'", r"back\slash"),
        ("dollars", "Pay $1 Corp $$ $2", "$1.$2.$3.$4.example"),
        ("expr", "||current_user||", "$2"),
        ("dollarq", "$$; DROP TABLE sys_permission; $$", "$x$ tag"),
        ("comment", "/* not a comment */ -- nor this", "-- x"),
    ];
    // CSV-quoted, as a script writing the file would: a quote inside is doubled.
    let quoted = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let text: String = tenants
        .iter()
        .map(|(c, n, d)| format!("{c},{},{}\n", quoted(n), quoted(d)))
        .collect();
    let file = test.write_file("tenants.txt", text);
    let output = run(&test, &db, &project, &["--tenants-file", file.to_str().unwrap()]);
    assert_code(&output, 0);
    for (code, name, domain) in tenants {
        let row = db.rows(&format!(
            "SELECT name, domain FROM sys_tenant WHERE code = '{code}'"
        ));
        assert_eq!(row, [[name.to_string(), domain.to_string()]], "tenant {code}");
    }
    assert_eq!(db.scalar("SELECT count(*) FROM sys_permission"), "2");
    assert!(
        invariant_violations(&db, "items", 1).is_empty(),
        "{:?}",
        invariant_violations(&db, "items", 1)
    );
}
