//! SQL read as words, for the checks that look for what a migration creates (live, Citus).

/// SQL as words (unquoted ones lower-cased; a quoted identifier flagged `true`) and the
/// punctuation `.` and `(`; comments, string literals and dollar-quoted text dropped.
pub(super) fn sql_words(sql: &str) -> Vec<(String, bool)> {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '-' && next == Some('-') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            i += 2;
            while i < chars.len() && !(chars[i - 1] == '*' && chars[i] == '/') {
                i += 1;
            }
            i += 1;
        } else if c == '\'' {
            i += 1;
            while i < chars.len() && chars[i] != '\'' {
                i += 1;
            }
            i += 1;
        } else if c == '"' {
            let start = i + 1;
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += 1;
            }
            out.push((chars[start..i.min(chars.len())].iter().collect(), true));
            i += 1;
        } else if c == '$' {
            // `$tag$ ... $tag$`: skip to the same tag.
            let end = chars[i + 1..]
                .iter()
                .position(|c| !(c.is_alphanumeric() || *c == '_'))
                .map(|p| i + 1 + p);
            match end.filter(|e| chars[*e] == '$') {
                Some(e) => {
                    let tag: String = chars[i..=e].iter().collect();
                    let rest: String = chars[e + 1..].iter().collect();
                    let skip = rest.find(&tag).map_or(rest.len(), |p| p + tag.len());
                    i = e + 1 + rest[..skip].chars().count();
                }
                None => i += 1,
            }
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$') {
                i += 1;
            }
            out.push((chars[start..i].iter().collect::<String>().to_lowercase(), false));
        } else {
            if c == '.' || c == '(' {
                out.push((c.to_string(), false));
            }
            i += 1;
        }
    }
    out
}
