//! What a tenant migration may not say, found before anything is sent: `CREATE EXTENSION`, which
//! would install the extension in the first tenant's schema (every other tenant then fails on its
//! types for ever). Extensions are declared in modkit.toml and made once, in schema `extensions`.

use crate::db::split::split;
use crate::exit::UserError;
use crate::modules::Module;

/// The first `CREATE EXTENSION` in the modules' migrations, as an error naming the file, the line and
/// how to declare the extension instead.
pub(super) fn refuse_create_extension(
    modules: &[Module],
    applied_somewhere: impl Fn(&str, &str) -> bool,
) -> Result<(), UserError> {
    for module in modules {
        for migration in &module.migrations {
            if applied_somewhere(&module.id, &migration.name) {
                continue;
            }
            for statement in split(&migration.sql) {
                if let Some(name) = created_extension(statement.sql) {
                    return Err(UserError::new(format!(
                        "migration {}/{} (line {}) creates extension {name}: in a tenant's migration it would \
                         land in the first tenant's schema, and every other tenant would fail on it",
                        module.id,
                        migration.name,
                        statement.line_in(&migration.sql)
                    ))
                    .hint(format!(
                        "declare it in modkit.toml instead, `[database] extensions = [\"{name}\"]`, and remove the \
                         statement: modkit bootstrap creates it once, in schema extensions, which every tenant's \
                         search_path ends with"
                    )));
                }
            }
        }
    }
    Ok(())
}

/// The extension a statement creates, when it is a `CREATE EXTENSION` (comments before it skipped).
pub(crate) fn created_extension(statement: &str) -> Option<String> {
    let mut rest = statement;
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_ascii_whitespace());
        if let Some(after) = rest.strip_prefix("--") {
            rest = after.find(['\n', '\r']).map_or("", |at| &after[at..]);
        } else if rest.starts_with("/*") {
            let mut depth = 0usize;
            let bytes = rest.as_bytes();
            let mut i = 0;
            while i < bytes.len() {
                if bytes[i..].starts_with(b"/*") {
                    depth += 1;
                    i += 2;
                } else if bytes[i..].starts_with(b"*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            rest = &rest[i.min(rest.len())..];
        } else {
            break;
        }
    }
    let mut words = rest.split_ascii_whitespace();
    if !words.next()?.eq_ignore_ascii_case("create") || !words.next()?.eq_ignore_ascii_case("extension") {
        return None;
    }
    let mut name = words.next()?;
    if name.eq_ignore_ascii_case("if") {
        words.next()?;
        words.next()?;
        name = words.next()?;
    }
    let name = name.trim_end_matches(';');
    Some(match name.strip_prefix('"').and_then(|n| n.strip_suffix('"')) {
        Some(quoted) => quoted.replace("\"\"", "\""),
        None => name.to_ascii_lowercase(),
    })
}

#[cfg(test)]
mod tests {
    use super::created_extension;

    #[test]
    fn finds_create_extension_however_written() {
        for (sql, want) in [
            ("CREATE EXTENSION citext", Some("citext")),
            (
                "create extension if not exists CITEXT schema public",
                Some("citext"),
            ),
            (
                "-- needs it\n/* and /* nested */ */\n  Create\n Extension \"uuid-ossp\"",
                Some("uuid-ossp"),
            ),
            ("CREATE TABLE extension (x int)", None),
            ("SELECT 'CREATE EXTENSION citext'", None),
            ("-- CREATE EXTENSION citext\nSELECT 1", None),
        ] {
            assert_eq!(created_extension(sql).as_deref(), want, "{sql}");
        }
    }
}
