//! Where human-readable output goes, and whether it is coloured.
//!
//! Colour only on a terminal and never with `NO_COLOR`; `-q` keeps only errors. Machine output
//! (`--format json`) is printed by the commands with [`write_stdout`] and never coloured.
//!
//! Nothing writes to stdout with `println!`, which panics when the reader has gone
//! (`modkit ... | head -1`): [`write_stdout`] returns the error, which `main` turns into a quiet exit.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use console::{Style, style};

use crate::cli::Verbosity;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Quiet,
    Normal,
    Verbose,
}

/// Decide colour once, for stdout and stderr alike, before anything is printed.
pub fn init_colors() {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    console::set_colors_enabled(!no_color && std::io::stdout().is_terminal());
    console::set_colors_enabled_stderr(!no_color && std::io::stderr().is_terminal());
}

#[derive(Debug, Clone, Copy)]
pub struct Printer {
    pub level: Level,
}

impl Printer {
    pub fn new(verbosity: &Verbosity) -> Self {
        let level = if verbosity.quiet {
            Level::Quiet
        } else if verbosity.verbose {
            Level::Verbose
        } else {
            Level::Normal
        };
        Self { level }
    }

    /// A line of normal output on stdout. Once the reader has closed stdout, lines are dropped
    /// and the command carries on (a file being written is finished); `main` exits quietly.
    pub fn line(&self, text: impl AsRef<str>) {
        if self.level >= Level::Normal && !STDOUT_CLOSED.load(Ordering::Relaxed) {
            // The only error that matters is a closed pipe, recorded by write_stdout.
            let _ = write_stdout(text.as_ref());
        }
    }

    /// A line shown only with `-v`, on stderr so it never mixes with data on stdout.
    pub fn detail(&self, text: impl AsRef<str>) {
        if self.level >= Level::Verbose {
            eprintln!("{}", style(text.as_ref()).dim());
        }
    }

    pub fn warn(&self, text: impl AsRef<str>) {
        if self.level >= Level::Normal {
            eprintln!("{} {}", style("warning:").yellow().bold(), text.as_ref());
        }
    }

    pub fn heading(&self, text: impl AsRef<str>) {
        self.line(Style::new().bold().apply_to(text.as_ref()).to_string());
    }
}

/// Set when a write to stdout found the pipe closed.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// One line on stdout, flushed; the error (a broken pipe, typically) is returned, not a panic.
pub fn write_stdout(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    let result = writeln!(out, "{text}").and_then(|()| out.flush());
    if let Err(e) = &result
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
    }
    result
}

/// The error report: message, its cause chain, and the hint on its own line.
pub fn print_error(err: &anyhow::Error) {
    let mut texts = error_texts(err).into_iter();
    eprintln!(
        "{} {}",
        style("error:").red().bold(),
        texts.next().unwrap_or_default()
    );
    for cause in texts {
        eprintln!("  {} {}", style("cause:").dim(), cause);
    }
    if let Some(hint) = err
        .chain()
        .find_map(|e| e.downcast_ref::<crate::exit::UserError>())
        .and_then(|e| e.hint.as_ref())
    {
        eprintln!("{} {}", style("hint:").cyan().bold(), hint);
    }
}

/// An error and its causes on one line (`a: b: c`), each said once: for report lines and for
/// errors flattened before printing. Use this, never `{:#}`, on an error that may hold a driver's.
pub fn error_line(err: &anyhow::Error) -> String {
    error_texts(err).join(": ")
}

/// The texts of an error's chain, each said once. A server error is where the doubling came from:
/// sqlx's `Error::Database` displays as "error returned from database: <its source>", and its source
/// (`PgDatabaseError`) displays as "<message> at line <N>", N being a line of PostgreSQL's own C
/// source, so `{:#}` printed the server's message twice with a number that means nothing to a user.
/// A server error is said once here, as its message, its SQLSTATE and, only when it points into
/// the SQL we sent, its position.
pub fn error_texts(err: &anyhow::Error) -> Vec<String> {
    let mut texts: Vec<String> = Vec::new();
    for cause in err.chain() {
        if let Some(sqlx::Error::Database(db)) = cause.downcast_ref::<sqlx::Error>() {
            texts.push(server_error_text(db.as_ref()));
            // Its source is the same server error again.
            break;
        }
        let text = cause.to_string();
        // A context that already quotes its cause (`format!("...: {e}")`) says it once.
        if texts.last().is_some_and(|last| last.ends_with(&text)) {
            continue;
        }
        texts.push(text);
    }
    texts
}

/// A server error as a user reads it: `message (detail; SQLSTATE 42703; at character 8 of the
/// statement)`.
pub fn server_error_text(db: &dyn sqlx::error::DatabaseError) -> String {
    let mut text = db.message().to_string();
    let mut notes = Vec::new();
    let pg = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>();
    if let Some(detail) = pg.and_then(|pg| pg.detail()) {
        notes.push(detail.to_string());
    }
    if let Some(code) = db.code() {
        notes.push(format!("SQLSTATE {code}"));
    }
    // `Original` points into the statement we sent; `Internal` into a query the server made up.
    if let Some(sqlx::postgres::PgErrorPosition::Original(at)) = pg.and_then(|pg| pg.position()) {
        notes.push(format!("at character {at} of the statement"));
    }
    if !notes.is_empty() {
        text.push_str(&format!(" ({})", notes.join("; ")));
    }
    text
}
