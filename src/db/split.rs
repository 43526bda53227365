//! Split an SQL script (a migration file) into its statements, the way `psql -f` does.
//!
//! Why: on a Citus coordinator, `CREATE INDEX`, `ADD CONSTRAINT`, renames and the like in a
//! distributed schema are forwarded to the worker with the client's *whole query string*, and a
//! string of several statements fails there (`cannot insert multiple commands into a prepared
//! statement`). Sent one statement per query, inside the same transaction, they work.
//!
//! A `;` ends a statement only outside of everything that may hold one:
//!
//! - `'...'` strings (`''` inside), `E'...'` strings (where `\'` and `\\` are escapes as well),
//!   `"..."` identifiers (`""` inside), `$$...$$` and `$tag$...$tag$` dollar quotes;
//! - `-- ...` comments and `/* ... */` comments, which nest in PostgreSQL;
//! - parentheses (a `CREATE RULE ... DO ALSO (a; b)`);
//! - the `BEGIN ATOMIC ... END` body of an SQL-standard `CREATE [OR REPLACE] FUNCTION|PROCEDURE`,
//!   found with psql's own heuristic (psqlscan.l): in a statement that starts with those words,
//!   outside parentheses, `BEGIN` opens a block, `CASE` inside a block opens one more, `END` closes one.
//!
//! Not a parser: the statements are sent to PostgreSQL, which parses them. But it never drops or
//! changes a byte of one (issue 15): the pieces and the `;`s between them cover the whole script
//! (checked by `split_checked`), only PostgreSQL's own whitespace (ASCII) is trimmed, a UTF-8 BOM at
//! the start is skipped as psql skips it, a `--` comment ends at a CR as in PostgreSQL's lexer, an
//! `E'...'` string continued on the next line stays an `E` string, and an unterminated comment or
//! string is an error naming its line (sent alone, what follows would have been swallowed and the
//! migration recorded as applied). A script that changes standard_conforming_strings, which changes
//! where strings end, is refused rather than guessed at. The `pg_query` crate (PostgreSQL's own
//! parser) was measured as the alternative: see docs/citus.md for why this is not it.

/// One statement of a script: its text without the `;` that ends it, trimmed, and where it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Statement<'a> {
    pub sql: &'a str,
    /// Byte offset of `sql` in the script.
    pub offset: usize,
}

impl Statement<'_> {
    /// The 1-based line of the script on which the statement starts.
    pub fn line_in(&self, script: &str) -> usize {
        script[..self.offset].matches('\n').count() + 1
    }
}

/// Why a script cannot be split for sure, and the 1-based line where that starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitError {
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for SplitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for SplitError {}

/// PostgreSQL's whitespace (scan.l `space`): never a Unicode space, which is part of an identifier.
fn is_pg_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c')
}

const BOM: &str = "\u{feff}";

/// The statements of `script`, in order. Statements that hold nothing but whitespace and comments
/// (`;;`, a trailing comment) are left out: PostgreSQL would do nothing with them. Lenient: an
/// unterminated comment or string runs to the end (see `split_checked`).
pub fn split(script: &str) -> Vec<Statement<'_>> {
    scan(script).0
}

/// `split`, for statements that are sent one by one: an unterminated comment, string or dollar
/// quote, or a change of standard_conforming_strings, is an error naming its line; and the pieces
/// are checked to cover the whole script, byte for byte, with nothing but whitespace, comments,
/// `;`s and a leading BOM between them.
pub fn split_checked(script: &str) -> Result<Vec<Statement<'_>>, SplitError> {
    let (statements, trouble) = scan(script);
    if let Some((at, message)) = trouble {
        return Err(SplitError {
            line: script[..at].matches('\n').count() + 1,
            message: message.to_string(),
        });
    }
    check_coverage(script, &statements)?;
    Ok(statements)
}

fn scan(script: &str) -> (Vec<Statement<'_>>, Option<(usize, &'static str)>) {
    let mut out = Vec::new();
    let mut scan = Scanner::new(script);
    // psql skips a UTF-8 byte order mark at the start of a file; the server would read it as part
    // of the first word.
    let mut start = if script.starts_with(BOM) { BOM.len() } else { 0 };
    scan.at = start;
    while let Some(end) = scan.next_statement_end() {
        push(&mut out, script, start, end, scan.saw_token);
        start = end + 1;
        scan.reset_statement();
    }
    push(&mut out, script, start, script.len(), scan.saw_token);
    (out, scan.trouble)
}

fn push<'a>(out: &mut Vec<Statement<'a>>, script: &'a str, start: usize, end: usize, saw_token: bool) {
    if !saw_token {
        return;
    }
    let text = &script[start..end];
    let trimmed = text.trim_start_matches(|c: char| c.is_ascii() && is_pg_space(c as u8));
    let offset = start + (text.len() - trimmed.len());
    out.push(Statement {
        sql: trimmed.trim_end_matches(|c: char| c.is_ascii() && is_pg_space(c as u8)),
        offset,
    });
}

/// Every byte of `script` is in a statement, or is whitespace, a comment, a `;` or the leading BOM.
fn check_coverage(script: &str, statements: &[Statement<'_>]) -> Result<(), SplitError> {
    let mut at = if script.starts_with(BOM) { BOM.len() } else { 0 };
    let gap_ok = |gap: &str| -> bool {
        let mut scan = Scanner::new(gap);
        // A gap holds no token: scanning it finds only `;`s, whitespace and comments.
        while scan.next_statement_end().is_some() {
            scan.reset_statement();
        }
        !scan.saw_token
    };
    for s in statements {
        let line = script[..s.offset].matches('\n').count() + 1;
        if s.offset < at || !script[s.offset..].starts_with(s.sql) || !gap_ok(&script[at..s.offset]) {
            return Err(SplitError {
                line,
                message: "modkit could not split this script into whole statements (a bug: please report it)"
                    .into(),
            });
        }
        at = s.offset + s.sql.len();
    }
    if !gap_ok(&script[at..]) {
        return Err(SplitError {
            line: script[..at].matches('\n').count() + 1,
            message: "modkit could not split this script into whole statements (a bug: please report it)"
                .into(),
        });
    }
    Ok(())
}

struct Scanner<'a> {
    bytes: &'a [u8],
    at: usize,
    /// Something other than whitespace and comments was seen in this statement.
    saw_token: bool,
    paren_depth: usize,
    begin_depth: usize,
    /// The first words of the statement, as psql keeps them: `c`reate, `o`r, `r`eplace,
    /// `f`unction, `p`rocedure (0 for any other word), to tell a CREATE FUNCTION|PROCEDURE.
    words: [u8; 4],
    word_count: usize,
    /// The first reason the script cannot be split for sure: where, and what.
    trouble: Option<(usize, &'static str)>,
}

impl<'a> Scanner<'a> {
    fn new(script: &'a str) -> Self {
        Self {
            bytes: script.as_bytes(),
            at: 0,
            saw_token: false,
            paren_depth: 0,
            begin_depth: 0,
            words: [0; 4],
            word_count: 0,
            trouble: None,
        }
    }

    fn trouble(&mut self, at: usize, message: &'static str) {
        self.trouble.get_or_insert((at, message));
    }

    fn reset_statement(&mut self) {
        self.saw_token = false;
        self.paren_depth = 0;
        self.begin_depth = 0;
        self.words = [0; 4];
        self.word_count = 0;
    }

    /// The byte offset of the next `;` that ends a statement, or None at the end of the script.
    fn next_statement_end(&mut self) -> Option<usize> {
        while self.at < self.bytes.len() {
            let c = self.bytes[self.at];
            let next = self.bytes.get(self.at + 1).copied();
            match c {
                b'-' if next == Some(b'-') => self.skip_line_comment(),
                b'/' if next == Some(b'*') => self.skip_block_comment(),
                b';' if self.paren_depth == 0 && self.begin_depth == 0 => {
                    let end = self.at;
                    self.at += 1;
                    return Some(end);
                }
                _ if is_pg_space(c) => self.at += 1,
                _ => {
                    self.saw_token = true;
                    match c {
                        b'\'' => self.skip_quoted(b'\'', false),
                        b'"' => self.skip_quoted(b'"', false),
                        b'(' => {
                            self.paren_depth += 1;
                            self.at += 1;
                        }
                        b')' => {
                            self.paren_depth = self.paren_depth.saturating_sub(1);
                            self.at += 1;
                        }
                        b'$' => self.dollar(),
                        _ if is_ident_start(c) => self.word(),
                        // Digits (a number: `1e5` is not a word), operators, `;` inside a block.
                        _ if c.is_ascii_digit() => {
                            while self.at < self.bytes.len() && is_ident_cont(self.bytes[self.at]) {
                                self.at += 1;
                            }
                        }
                        _ => self.at += 1,
                    }
                }
            }
        }
        None
    }

    /// `-- ...` to the end of the line: a LF or a lone CR, as PostgreSQL's lexer ends it.
    fn skip_line_comment(&mut self) {
        while self.at < self.bytes.len() && !matches!(self.bytes[self.at], b'\n' | b'\r') {
            self.at += 1;
        }
    }

    /// `/* ... */`, nested as PostgreSQL nests them.
    fn skip_block_comment(&mut self) {
        let start = self.at;
        let mut depth = 0usize;
        while self.at < self.bytes.len() {
            match (self.bytes[self.at], self.bytes.get(self.at + 1).copied()) {
                (b'/', Some(b'*')) => {
                    depth += 1;
                    self.at += 2;
                }
                (b'*', Some(b'/')) => {
                    depth -= 1;
                    self.at += 2;
                    if depth == 0 {
                        return;
                    }
                }
                _ => self.at += 1,
            }
        }
        self.trouble(
            start,
            "unterminated /* comment (comments nest: a /* inside one opens another)",
        );
    }

    /// From an opening quote to just past its closing one; a doubled quote stays inside, and with
    /// `backslash` (an E'...' string) so does any character after a backslash.
    fn skip_quoted(&mut self, quote: u8, backslash: bool) {
        let start = self.at;
        self.at += 1;
        while self.at < self.bytes.len() {
            let c = self.bytes[self.at];
            if backslash && c == b'\\' {
                self.at += 2;
            } else if c == quote {
                if self.bytes.get(self.at + 1) == Some(&quote) {
                    self.at += 2;
                } else {
                    self.at += 1;
                    if quote == b'\'' {
                        self.string_setting(start);
                        // 'a'<newline>'b' is one string, and the continuation of an E'' string is
                        // read as an E'' string too (PostgreSQL's quotecontinue).
                        if let Some(next) = self.continuation() {
                            self.at = next;
                            continue;
                        }
                    }
                    return;
                }
            } else {
                self.at += 1;
            }
        }
        self.at = self.bytes.len();
        self.trouble(
            start,
            if quote == b'"' {
                "unterminated quoted identifier"
            } else {
                "unterminated quoted string"
            },
        );
    }

    /// After a string's closing quote: where its continuation's body starts (just past the next
    /// quote) when only whitespace with a newline, and `--` comments, come before that quote.
    fn continuation(&self) -> Option<usize> {
        let mut i = self.at;
        let mut newline = false;
        while i < self.bytes.len() {
            match self.bytes[i] {
                b'\n' | b'\r' => {
                    newline = true;
                    i += 1;
                }
                b' ' | b'\t' | b'\x0c' => i += 1,
                // A `--` comment counts as whitespace there, before the newline or after it.
                b'-' if self.bytes.get(i + 1) == Some(&b'-') => {
                    while i < self.bytes.len() && !matches!(self.bytes[i], b'\n' | b'\r') {
                        i += 1;
                    }
                }
                b'\'' if newline => return Some(i + 1),
                _ => return None,
            }
        }
        None
    }

    /// A string that names standard_conforming_strings (`set_config('standard_conforming_strings', ...)`).
    fn string_setting(&mut self, start: usize) {
        let body = &self.bytes[start..self.at];
        if body.len() >= 27
            && body
                .windows(27)
                .any(|w| w.eq_ignore_ascii_case(b"standard_conforming_strings"))
        {
            self.trouble(start, STRINGS_SETTING);
        }
    }

    /// `$tag$...$tag$` (tag empty or an identifier not starting with a digit), else a `$1`
    /// parameter or a lone `$`. (A `$` inside a word, `a$b`, is read by `word`.)
    fn dollar(&mut self) {
        let start = self.at;
        let mut end = start + 1;
        if end < self.bytes.len() && is_ident_start(self.bytes[end]) {
            while end < self.bytes.len() && is_dollar_tag_cont(self.bytes[end]) {
                end += 1;
            }
        }
        if self.bytes.get(end) != Some(&b'$') {
            // `$1` or a stray `$`: skip the `$` and its digits.
            self.at = start + 1;
            while self.at < self.bytes.len() && self.bytes[self.at].is_ascii_digit() {
                self.at += 1;
            }
            return;
        }
        let delimiter = &self.bytes[start..=end];
        let body = end + 1;
        self.at = match find(&self.bytes[body..], delimiter) {
            Some(i) => body + i + delimiter.len(),
            None => {
                self.trouble(start, "unterminated dollar-quoted string");
                self.bytes.len()
            }
        };
    }

    /// An identifier or keyword: `E'...'` strings, and psql's BEGIN ... END tracking.
    fn word(&mut self) {
        let start = self.at;
        while self.at < self.bytes.len() && is_ident_cont(self.bytes[self.at]) {
            self.at += 1;
        }
        let word = &self.bytes[start..self.at];
        if word.eq_ignore_ascii_case(b"e") && self.bytes.get(self.at) == Some(&b'\'') {
            self.skip_quoted(b'\'', true);
            return;
        }
        let lower = word.to_ascii_lowercase();
        if lower == b"standard_conforming_strings" {
            self.trouble(start, STRINGS_SETTING);
        }
        if self.word_count < self.words.len() {
            self.words[self.word_count] = match lower.as_slice() {
                b"create" | b"or" | b"replace" | b"function" | b"procedure" => lower[0],
                _ => 0,
            };
        }
        self.word_count += 1;
        let w = self.words;
        let routine = w[0] == b'c'
            && (matches!(w[1], b'f' | b'p') || (w[1] == b'o' && w[2] == b'r' && matches!(w[3], b'f' | b'p')));
        if routine && self.paren_depth == 0 {
            match lower.as_slice() {
                b"begin" => self.begin_depth += 1,
                // CASE ... END inside a block: its END must not close the block.
                b"case" if self.begin_depth > 0 => self.begin_depth += 1,
                b"end" => self.begin_depth = self.begin_depth.saturating_sub(1),
                _ => {}
            }
        }
    }
}

const STRINGS_SETTING: &str = "the script changes standard_conforming_strings, which changes where a string \
    ends: modkit cannot be sure where its statements end; remove the setting (write E'...' for a string with \
    backslash escapes)";

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// PostgreSQL's ident_start: a letter, `_`, or any byte of a multi-byte UTF-8 character.
fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c >= 0x80
}

/// PostgreSQL's ident_cont: ident_start, digits, and `$`.
fn is_ident_cont(c: u8) -> bool {
    is_ident_start(c) || c.is_ascii_digit() || c == b'$'
}

/// A dollar-quote tag continues with ident_start or digits (not `$`, which closes it).
fn is_dollar_tag_cont(c: u8) -> bool {
    is_ident_start(c) || c.is_ascii_digit()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(script: &str) -> Vec<&str> {
        split(script).into_iter().map(|s| s.sql).collect()
    }

    #[test]
    fn splits_plain_statements_and_drops_empty_ones() {
        assert_eq!(
            texts("CREATE TABLE a (id int);\n\nCREATE INDEX ON a (id) ;;\n  ; -- done\n"),
            ["CREATE TABLE a (id int)", "CREATE INDEX ON a (id)"]
        );
        assert_eq!(texts("SELECT 1"), ["SELECT 1"]);
        assert!(texts("").is_empty());
        assert!(texts("  -- only a comment\n/* and another */ ;\n").is_empty());
    }

    #[test]
    fn a_last_statement_without_semicolon_keeps_its_trailing_comment() {
        assert_eq!(
            texts("SELECT 1;\nSELECT 2 -- two"),
            ["SELECT 1", "SELECT 2 -- two"]
        );
    }

    #[test]
    fn semicolons_inside_strings_identifiers_and_comments_do_not_split() {
        let script = r#"INSERT INTO t VALUES ('a;b', 'it''s; fine');
CREATE TABLE "we;ird""name" (x int); -- a comment; with a semicolon
/* block; /* nested; */ still comment; */ SELECT 2;
SELECT E'back\'slash; \\'; SELECT e'x\\';
SELECT U&'d\0061t;a', B'1010', X'1F', N'na;me';"#;
        assert_eq!(
            texts(script),
            [
                "INSERT INTO t VALUES ('a;b', 'it''s; fine')",
                "CREATE TABLE \"we;ird\"\"name\" (x int)",
                "-- a comment; with a semicolon\n/* block; /* nested; */ still comment; */ SELECT 2",
                r"SELECT E'back\'slash; \\'",
                r"SELECT e'x\\'",
                "SELECT U&'d\\0061t;a', B'1010', X'1F', N'na;me'",
            ]
        );
    }

    #[test]
    fn a_backslash_in_a_standard_string_is_a_plain_character() {
        // standard_conforming_strings is on (modkit requires it): 'a\' is a whole string.
        assert_eq!(texts(r"SELECT 'a\'; SELECT 2"), [r"SELECT 'a\'", "SELECT 2"]);
        // An identifier ending in e is not an E'' prefix.
        assert_eq!(
            texts(r"SELECT some'a\'; SELECT 2"),
            [r"SELECT some'a\'", "SELECT 2"]
        );
    }

    #[test]
    fn dollar_quotes_with_and_without_tags() {
        let script = "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END $$;
CREATE FUNCTION g() RETURNS text LANGUAGE plpgsql AS $body$
BEGIN
  RETURN $$;$$ || $x$ $body $x$; -- inner quotes
END
$body$;
SELECT $1, a$b$c, $_$;$_$;";
        assert_eq!(
            texts(script),
            [
                "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END $$",
                "CREATE FUNCTION g() RETURNS text LANGUAGE plpgsql AS $body$\nBEGIN\n  RETURN $$;$$ || $x$ $body $x$; -- inner quotes\nEND\n$body$",
                "SELECT $1, a$b$c, $_$;$_$",
            ]
        );
    }

    #[test]
    fn a_dollar_tag_does_not_start_with_a_digit() {
        // `$1$` is not a tag: $1 is a parameter, then a lone `$`.
        assert_eq!(texts("SELECT $1$; SELECT 2"), ["SELECT $1$", "SELECT 2"]);
    }

    #[test]
    fn begin_atomic_bodies_stay_whole() {
        let script = "CREATE FUNCTION add(a int, b int) RETURNS int LANGUAGE sql
BEGIN ATOMIC
  SELECT CASE WHEN a > 0 THEN a ELSE 0 END + b;
  SELECT 1;
END;
CREATE OR REPLACE PROCEDURE p() LANGUAGE sql BEGIN ATOMIC INSERT INTO t VALUES (1); END;
create or replace function q() returns int begin atomic; select 1; end;
BEGIN;
SELECT 3;";
        assert_eq!(
            texts(script),
            [
                "CREATE FUNCTION add(a int, b int) RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT CASE WHEN a > 0 THEN a ELSE 0 END + b;\n  SELECT 1;\nEND",
                "CREATE OR REPLACE PROCEDURE p() LANGUAGE sql BEGIN ATOMIC INSERT INTO t VALUES (1); END",
                "create or replace function q() returns int begin atomic; select 1; end",
                "BEGIN",
                "SELECT 3",
            ]
        );
    }

    #[test]
    fn case_end_outside_a_routine_body_changes_nothing() {
        assert_eq!(
            texts("SELECT CASE WHEN true THEN 1 END; CREATE TABLE begin_end (\"end\" int);SELECT 2"),
            [
                "SELECT CASE WHEN true THEN 1 END",
                "CREATE TABLE begin_end (\"end\" int)",
                "SELECT 2"
            ]
        );
    }

    #[test]
    fn semicolons_inside_parentheses_do_not_split() {
        assert_eq!(
            texts(
                "CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1); INSERT INTO b VALUES (2)); SELECT 1"
            ),
            [
                "CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1); INSERT INTO b VALUES (2))",
                "SELECT 1"
            ]
        );
    }

    #[test]
    fn unterminated_quotes_and_comments_run_to_the_end() {
        // The server reports them; the splitter must not panic or invent statements.
        for script in [
            "SELECT 'open; SELECT 2",
            "SELECT \"open; SELECT 2",
            "SELECT $$ open; SELECT 2",
            "SELECT $t$ open; $$; SELECT 2",
            "SELECT 1 /* open /* nested */ ; SELECT 2",
            "SELECT E'open\\",
        ] {
            assert_eq!(texts(script), [script], "{script}");
        }
    }

    /// The cases of issue 15 where the splitter dropped or changed what a migration says.
    #[test]
    fn an_unterminated_nested_comment_is_an_error_naming_its_line() {
        let script = "CREATE TABLE a (id int);\n/* seeds/* */\nCREATE TABLE b (id int);\n";
        let err = split_checked(script).unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.message.contains("unterminated /* comment"), "{err}");
        for (script, line, what) in [
            (
                "SELECT 1;\nSELECT 'open;\nSELECT 2",
                2,
                "unterminated quoted string",
            ),
            ("SELECT \"open; SELECT 2", 1, "unterminated quoted identifier"),
            (
                "SELECT 1;\n\nSELECT $t$ open; $$; SELECT 2",
                3,
                "unterminated dollar-quoted string",
            ),
            ("SELECT E'open\\'; SELECT 2", 1, "unterminated quoted string"),
        ] {
            let err = split_checked(script).unwrap_err();
            assert_eq!((err.line, err.message.as_str()), (line, what), "{script}");
        }
    }

    #[test]
    fn a_lone_cr_ends_a_line_comment() {
        assert_eq!(
            texts("-- one\rCREATE TABLE a (id int);\r\nCREATE TABLE b (id int);"),
            ["-- one\rCREATE TABLE a (id int)", "CREATE TABLE b (id int)"]
        );
        assert_eq!(texts("SELECT 1; -- c\rSELECT 2;"), ["SELECT 1", "-- c\rSELECT 2"]);
    }

    #[test]
    fn only_ascii_whitespace_is_trimmed() {
        // NBSP is part of an identifier to PostgreSQL: `t2<NBSP>` is not `t2`.
        let script = "ALTER TABLE t RENAME TO t2\u{a0};\n\u{a0}SELECT 1\u{2003}";
        assert_eq!(
            split_checked(script)
                .unwrap()
                .iter()
                .map(|s| s.sql)
                .collect::<Vec<_>>(),
            ["ALTER TABLE t RENAME TO t2\u{a0}", "\u{a0}SELECT 1\u{2003}"]
        );
    }

    #[test]
    fn a_bom_at_the_start_is_skipped_as_psql_does() {
        let script =
            "\u{feff}CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END;\nSELECT 2;";
        let statements = split_checked(script).unwrap();
        assert_eq!(
            statements.iter().map(|s| s.sql).collect::<Vec<_>>(),
            [
                "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END",
                "SELECT 2"
            ]
        );
        assert_eq!(statements[0].line_in(script), 1);
        // A BOM anywhere else is a character of the statement.
        assert_eq!(
            texts("SELECT 1;\u{feff}SELECT 2"),
            ["SELECT 1", "\u{feff}SELECT 2"]
        );
    }

    #[test]
    fn a_continued_e_string_stays_an_e_string() {
        // PostgreSQL reads the continuation of E'...' on the next line as E'...': `\'` escapes there.
        let script = "SELECT E'a'\n'b\\';c';\nSELECT 2;";
        assert_eq!(texts(script), ["SELECT E'a'\n'b\\';c'", "SELECT 2"]);
        // With a comment between, too; and a plain string's continuation stays plain.
        assert_eq!(
            texts("SELECT E'a' -- x\n'b\\';c';SELECT 'a'\n'b\\';SELECT 3"),
            ["SELECT E'a' -- x\n'b\\';c'", "SELECT 'a'\n'b\\'", "SELECT 3"]
        );
    }

    #[test]
    fn a_script_changing_standard_conforming_strings_is_refused() {
        for script in [
            "SET standard_conforming_strings = off;\nSELECT 'a\\';",
            "SET LOCAL Standard_Conforming_Strings TO off",
            "SELECT set_config('standard_conforming_strings', 'off', true)",
        ] {
            let err = split_checked(script).unwrap_err();
            assert!(
                err.message.contains("standard_conforming_strings"),
                "{script}: {err}"
            );
        }
        // Named in a comment, it changes nothing.
        assert!(split_checked("-- standard_conforming_strings stays on\nSELECT 1").is_ok());
    }

    #[test]
    fn pieces_cover_the_whole_script() {
        let script = "\u{feff}-- head\r\nCREATE TABLE a (x text DEFAULT E'\\';'); /* c; */ ;;\n\
                      SELECT $q$;$q$, \"i;d\"\r-- tail; \nSELECT 'x'\n'y';\n";
        let statements = split_checked(script).unwrap();
        // The `-- tail; ` comment holds the `;`: the SELECTs around it are one statement.
        assert_eq!(statements.len(), 2);
        check_coverage(script, &statements).unwrap();
        // A piece that lost a byte is caught.
        let mut broken = statements.clone();
        broken[1].sql = &broken[1].sql[..broken[1].sql.len() - 1];
        assert!(check_coverage(script, &broken).is_err());
    }

    #[test]
    fn stray_closers_and_odd_bytes_do_not_panic() {
        assert_eq!(texts(") ) ; END; end;"), [") )", "END", "end"]);
        assert_eq!(
            texts("SELECT 'é;ü'; SELECT \"ñ\"; SELECT $é$;$é$"),
            ["SELECT 'é;ü'", "SELECT \"ñ\"", "SELECT $é$;$é$"]
        );
        assert_eq!(texts("SELECT 1e5;SELECT 2"), ["SELECT 1e5", "SELECT 2"]);
        assert_eq!(texts("$"), ["$"]);
        assert_eq!(texts("*/ ;"), ["*/"]);
    }

    #[test]
    fn offsets_and_lines_point_into_the_script() {
        let script = "-- header\nCREATE TABLE a (id int);\n\n  CREATE INDEX i ON a (id);\n";
        let statements = split(script);
        assert_eq!(statements.len(), 2);
        assert_eq!(statements[0].sql, "-- header\nCREATE TABLE a (id int)");
        assert_eq!(statements[0].line_in(script), 1);
        assert_eq!(&script[statements[1].offset..][..12], "CREATE INDEX");
        assert_eq!(statements[1].line_in(script), 4);
    }

    #[test]
    fn every_prefix_of_a_hostile_script_splits_without_panicking() {
        let script = "E'\\'' \"\"\" $a$ $$ /* /* */ -- \n ; ( ) BEGIN CASE END ';' é $1 $";
        for end in (0..=script.len()).filter(|i| script.is_char_boundary(*i)) {
            let prefix = &script[..end];
            for s in split(prefix) {
                assert!(prefix[s.offset..].starts_with(s.sql));
            }
        }
    }
}
