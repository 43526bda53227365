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
//! Not a parser: the statements are sent to PostgreSQL, which parses them; an unterminated string or
//! comment just runs to the end of the script, where the server reports it. The `pg_query` crate
//! (PostgreSQL's own parser) was measured as the alternative: see docs/citus.md for why this is not it.

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

/// The statements of `script`, in order. Statements that hold nothing but whitespace and comments
/// (`;;`, a trailing comment) are left out: PostgreSQL would do nothing with them.
pub fn split(script: &str) -> Vec<Statement<'_>> {
    let mut out = Vec::new();
    let mut scan = Scanner::new(script);
    let mut start = 0;
    while let Some(end) = scan.next_statement_end() {
        push(&mut out, script, start, end, scan.saw_token);
        start = end + 1;
        scan.reset_statement();
    }
    push(&mut out, script, start, script.len(), scan.saw_token);
    out
}

fn push<'a>(out: &mut Vec<Statement<'a>>, script: &'a str, start: usize, end: usize, saw_token: bool) {
    if !saw_token {
        return;
    }
    let text = &script[start..end];
    let trimmed = text.trim_start();
    let offset = start + (text.len() - trimmed.len());
    out.push(Statement {
        sql: trimmed.trim_end(),
        offset,
    });
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
        }
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
                _ if c.is_ascii_whitespace() => self.at += 1,
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

    fn skip_line_comment(&mut self) {
        while self.at < self.bytes.len() && self.bytes[self.at] != b'\n' {
            self.at += 1;
        }
    }

    /// `/* ... */`, nested as PostgreSQL nests them.
    fn skip_block_comment(&mut self) {
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
    }

    /// From an opening quote to just past its closing one; a doubled quote stays inside, and with
    /// `backslash` (an E'...' string) so does any character after a backslash.
    fn skip_quoted(&mut self, quote: u8, backslash: bool) {
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
                    return;
                }
            } else {
                self.at += 1;
            }
        }
        self.at = self.bytes.len();
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
            None => self.bytes.len(),
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
