//! The naming rules users meet: module ids and tenant codes. One place, so docs, errors and both
//! runtimes (Rust here, `sandbox/bootstrap.ts` in a sandbox) agree.

use crate::exit::UserError;

pub const MODULE_ID_MAX: usize = 40;
/// `tenant_` + 48 bytes = 55 bytes: under PostgreSQL's 63-byte identifier limit, so no two codes
/// can ever be cut down to the same schema name.
pub const TENANT_CODE_MAX: usize = 48;
pub const TENANT_SCHEMA_PREFIX: &str = "tenant_";

/// A module id: lowercase letters, digits and hyphens, starting with a letter, at most 40 chars.
pub fn check_module_id(id: &str) -> Result<(), UserError> {
    let valid = id.len() <= MODULE_ID_MAX
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !id.ends_with('-')
        && !id.contains("--");
    if valid {
        return Ok(());
    }
    let what = if id.is_empty() {
        "the module id is empty".to_string()
    } else {
        format!("invalid module id `{}`", printable(id))
    };
    let mut err = UserError::new(format!(
        "{what}: a module id is lowercase letters, digits and single hyphens, \
         starts with a letter, and is at most {MODULE_ID_MAX} characters"
    ));
    err.hint = Some(match suggest_module_id(id) {
        Some(s) => format!("try `{s}`"),
        None => "try a name like `items` or `order-lines`".to_string(),
    });
    Err(err)
}

/// A valid id close to what the user typed, if there is one.
fn suggest_module_id(input: &str) -> Option<String> {
    let last = input
        .rsplit(['/', '\\'])
        .find(|s| !s.is_empty() && *s != "." && *s != "..")
        .unwrap_or("");
    let mut out = String::new();
    for c in last.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_start_matches(|c: char| c.is_ascii_digit() || c == '-');
    let mut out: String = out.chars().take(MODULE_ID_MAX).collect();
    while out.ends_with('-') {
        out.pop();
    }
    (!out.is_empty() && out != input).then_some(out)
}

/// A tenant code: lowercase letters, digits and underscores, starting with a letter, at most 48
/// bytes. Its schema is `tenant_<code>`.
pub fn check_tenant_code(code: &str) -> Result<(), UserError> {
    let valid = code.len() <= TENANT_CODE_MAX
        && code.starts_with(|c: char| c.is_ascii_lowercase())
        && code
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if valid {
        return Ok(());
    }
    let shown: String = code.chars().take(80).collect();
    Err(UserError::new(format!(
        "invalid tenant code `{}`: a tenant code is lowercase letters, digits and underscores, starts \
         with a letter, and is at most {TENANT_CODE_MAX} bytes",
        printable(&shown)
    ))
    .hint("the code names the tenant's schema (`tenant_<code>`); use e.g. `acme` or `acme_eu`"))
}

/// A display name: one line of at most 80 characters, no control characters (it lands in TOML,
/// JSON, HTML and TypeScript strings).
pub fn check_display_name(name: &str) -> Result<(), UserError> {
    if !name.trim().is_empty() && name.chars().count() <= 80 && !name.chars().any(char::is_control) {
        return Ok(());
    }
    Err(UserError::new(format!(
        "invalid display name `{}`: one line of 1 to 80 characters, no control characters",
        printable(name)
    ))
    .hint("e.g. --name \"Order lines\""))
}

/// User input as it can be shown on one line: control characters escaped, the rest as typed.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

pub fn tenant_schema(code: &str) -> String {
    format!("{TENANT_SCHEMA_PREFIX}{code}")
}

/// `order-lines` -> `Order Lines`
pub fn title_case(id: &str) -> String {
    id.split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `order-lines` -> `orderLines`
pub fn camel_case(id: &str) -> String {
    let mut out = String::new();
    for (i, w) in id.split('-').enumerate() {
        if i == 0 {
            out.push_str(w);
        } else {
            let mut c = w.chars();
            if let Some(f) = c.next() {
                out.push(f.to_ascii_uppercase());
                out.push_str(c.as_str());
            }
        }
    }
    out
}

/// Quote a PostgreSQL identifier: wrap in `"`, double any `"` inside.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_ids() {
        for ok in ["items", "order-lines", "a", "x1", &"a".repeat(40)] {
            assert!(check_module_id(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Items",
            "../evil",
            "a/b",
            "1items",
            "items-",
            "a--b",
            "it ems",
            &"a".repeat(41),
            "ítems",
        ] {
            assert!(check_module_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn suggestions_are_valid() {
        for input in ["Items", "../evil", "a/b", "Order_Lines", "42things"] {
            let err = check_module_id(input).unwrap_err();
            let hint = err.hint.unwrap();
            if let Some(s) = hint.strip_prefix("try `").and_then(|h| h.strip_suffix('`')) {
                assert!(check_module_id(s).is_ok(), "{input} -> {s}");
            }
        }
        assert_eq!(suggest_module_id("Items").as_deref(), Some("items"));
        assert_eq!(suggest_module_id("../evil").as_deref(), Some("evil"));
        assert_eq!(suggest_module_id("Order_Lines").as_deref(), Some("order-lines"));
    }

    #[test]
    fn tenant_codes() {
        for ok in ["dev", "acme_eu", "a1", &"a".repeat(48)] {
            assert!(check_tenant_code(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Acme",
            "a-b",
            "a;drop",
            "x'y",
            "é",
            "1a",
            &"a".repeat(49),
            "a\"b",
        ] {
            assert!(check_tenant_code(bad).is_err(), "{bad}");
        }
        assert!(tenant_schema(&"a".repeat(48)).len() <= 63);
    }

    #[test]
    fn cases() {
        assert_eq!(title_case("order-lines"), "Order Lines");
        assert_eq!(camel_case("order-lines"), "orderLines");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
