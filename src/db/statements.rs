//! The named statements of `templates/sql/statements.sql`, the SQL shared with a sandbox's
//! `npm run bootstrap`, and the database-wide DDL of `templates/sql/system.sql`.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::templates;

/// The statement called `name`. The names are fixed in this crate and a unit test checks each one
/// exists, so a missing name is a bug in modkit, not something a user can cause.
pub fn sql(name: &str) -> &'static str {
    statements()
        .get(name)
        .copied()
        .unwrap_or_else(|| panic!("statements.sql has no `-- name: {name}`"))
}

/// The statement `name` with its parameters put in as SQL literals: what modkit sends, over the
/// simple-query protocol (which a transaction-pooling PgBouncer passes through unharmed).
pub fn render(name: &str, params: &[Option<&str>]) -> String {
    inline(sql(name), params)
}

/// A statement with `$1`.. replaced by SQL literals (`'` doubled; NULL for `None`) and its comment
/// lines dropped. Safe only with standard_conforming_strings on, which `Catalog::read` requires.
pub fn inline(statement: &str, params: &[Option<&str>]) -> String {
    let mut text: String = statement
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    text = text.trim_end().trim_end_matches(';').to_string();
    // One pass over the statement: a value put in is never scanned again, so a tenant name that
    // holds `$1` stays that name (replacing `$4`, then `$3`, ... in turn would put the code's
    // literal inside the name's, closing it: an injection). `$10` is never read as `$1` + `0`.
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let digits = rest[at + 1..].bytes().take_while(u8::is_ascii_digit).count();
        let end = at + 1 + digits;
        match rest[at + 1..end]
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=params.len()).contains(n))
        {
            Some(n) => out.push_str(&params[n - 1].map_or_else(|| "NULL".to_string(), literal)),
            None => out.push_str(&rest[at..end]),
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// A text as an SQL string literal.
pub fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// The database-wide DDL (system tables), run as one script.
pub fn system_sql() -> &'static str {
    templates::raw("sql/system.sql").expect("sql/system.sql is embedded")
}

fn statements() -> &'static HashMap<&'static str, &'static str> {
    static PARSED: OnceLock<HashMap<&'static str, &'static str>> = OnceLock::new();
    PARSED
        .get_or_init(|| parse(templates::raw("sql/statements.sql").expect("sql/statements.sql is embedded")))
}

/// Split a file into `-- name: x` sections; the text before the first name is the file's header.
fn parse(text: &'static str) -> HashMap<&'static str, &'static str> {
    let mut out = HashMap::new();
    let mut current: Option<(&'static str, usize)> = None;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if let Some(name) = line.trim().strip_prefix("-- name:") {
            if let Some((prev, start)) = current.take() {
                out.insert(prev, text[start..offset].trim());
            }
            current = Some((name.trim(), offset + line.len()));
        }
        offset += line.len();
    }
    if let Some((prev, start)) = current {
        out.insert(prev, text[start..].trim());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The statement names a source asks for with one of `calls` followed by a quoted name.
    fn names_used_in(source: &str, calls: &[&str]) -> Vec<String> {
        let mut names = Vec::new();
        for call in calls {
            for (at, _) in source.match_indices(call) {
                let rest = source[at + call.len()..].trim_start();
                let Some(quote) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') else {
                    continue;
                };
                let name: String = rest[1..]
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                if !name.is_empty() && rest[1 + name.len()..].starts_with(quote) {
                    names.push(name);
                }
            }
        }
        names
    }

    #[test]
    fn inline_quotes_literals() {
        let got = inline("-- c\nSELECT $1, $2, $3;", &[Some("it's"), None, Some("a;b")]);
        assert_eq!(got, "SELECT 'it''s', NULL, 'a;b'");
    }

    #[test]
    fn inline_never_rescans_a_value() {
        let got = inline(
            "VALUES ($1, $2, $3, $4)",
            &[Some("acme"), Some("||current_user||"), Some("$2 $1"), Some("$$")],
        );
        assert_eq!(got, "VALUES ('acme', '||current_user||', '$2 $1', '$$')");
        assert_eq!(inline("SELECT $1, $10, $", &[Some("a")]), "SELECT 'a', $10, $");
    }

    /// Both runtimes ask only for statements the file has, and the file has none that neither uses:
    /// the one source of the bootstrap SQL cannot drift from its two readers.
    #[test]
    fn both_runtimes_use_exactly_the_statements_of_the_file() {
        let rust: Vec<String> = [
            include_str!("bootstrap/mod.rs"),
            include_str!("bootstrap/plan.rs"),
            include_str!("bootstrap/tenant.rs"),
            include_str!("bootstrap/database.rs"),
            include_str!("bootstrap/dry_run.rs"),
        ]
        .iter()
        .flat_map(|s| names_used_in(s, &["render(", "sql(", "bare("]))
        .collect();
        // `q('x'`, `q<Row>('x'` and `stmt('x'` in sandbox/bootstrap.ts.
        let typescript = names_used_in(
            include_str!("../../templates/sandbox/sandbox/bootstrap.ts"),
            &["q(", ">(", "stmt("],
        );
        assert!(
            rust.contains(&"plan_check".to_string()) && typescript.contains(&"insert_tenant".to_string())
        );
        for name in rust.iter().chain(&typescript) {
            assert!(
                statements().contains_key(name.as_str()),
                "statements.sql has no `{name}`"
            );
        }
        for name in statements().keys() {
            assert!(
                rust.iter().chain(&typescript).any(|n| n == name),
                "statement `{name}` is used by neither modkit nor sandbox/bootstrap.ts"
            );
        }
        assert!(sql("lock_database").starts_with("SELECT pg_advisory_xact_lock"));
        assert!(system_sql().contains("sys_module_migration"));
    }
}
