//! Where human-readable output goes, and whether it is coloured.
//!
//! Colour: `--color always|never` decides; without it (or with `auto`), `NO_COLOR` turns it off,
//! then `CLICOLOR_FORCE` or `FORCE_COLOR` turn it on, else only a terminal gets it. `-q` keeps only
//! errors. Machine output (`--format json`) is printed by the commands with [`write_stdout`] and
//! never coloured.
//!
//! Errors always go to stderr as text. With `--format json` the same error is also the one JSON
//! document on stdout ([`error_json`]), usage errors included, so a reader of stdout always gets
//! exactly one document.
//!
//! Nothing writes to stdout with `println!`, which panics when the reader has gone
//! (`modkit ... | head -1`): [`write_stdout`] returns the error, which `main` turns into a quiet exit.

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use console::{Style, style};
use serde_json::json;

use crate::cli::{ColorWhen, Verbosity};
use crate::exit::ExitStatus;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Quiet,
    Normal,
    Verbose,
}

/// The version of the JSON error document; bumped only when a field changes meaning or goes.
pub const ERROR_SCHEMA_VERSION: u32 = 1;

/// Decide colour once, for stdout and stderr alike, before anything is printed.
pub fn init_colors(flag: Option<ColorWhen>) {
    let forced = forced_color(flag);
    console::set_colors_enabled(forced.unwrap_or_else(|| std::io::stdout().is_terminal()));
    console::set_colors_enabled_stderr(forced.unwrap_or_else(|| std::io::stderr().is_terminal()));
}

/// Colour on or off whatever the terminal: flag > NO_COLOR > CLICOLOR_FORCE / FORCE_COLOR; `None`
/// leaves it to whether the stream is a terminal.
fn forced_color(flag: Option<ColorWhen>) -> Option<bool> {
    let set = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    match flag {
        Some(ColorWhen::Always) => return Some(true),
        Some(ColorWhen::Never) => return Some(false),
        Some(ColorWhen::Auto) | None => {}
    }
    if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
        return Some(false);
    }
    // CLICOLOR_FORCE=0 and FORCE_COLOR=0/false (Node's spelling of "off") do not force.
    let force = set("CLICOLOR_FORCE").is_some_and(|v| v != "0")
        || set("FORCE_COLOR").is_some_and(|v| v != "0" && v != "false");
    force.then_some(true)
}

/// The same decision for clap's help and usage errors.
pub fn clap_color(flag: Option<ColorWhen>) -> clap::ColorChoice {
    match forced_color(flag) {
        Some(true) => clap::ColorChoice::Always,
        Some(false) => clap::ColorChoice::Never,
        None => clap::ColorChoice::Auto,
    }
}

/// `--color WHEN` read from the raw arguments (before clap, whose own errors it colours too).
pub fn color_flag(args: &[OsString]) -> Option<ColorWhen> {
    use clap::ValueEnum;
    option_value(args, "--color").and_then(|v| ColorWhen::from_str(&v, false).ok())
}

/// Whether `--format json` was asked for, read from the raw arguments, so that a usage error is
/// JSON too.
pub fn wants_json(args: &[OsString]) -> bool {
    option_value(args, "--format").as_deref() == Some("json")
}

/// The last value given to a long option, spelled `--name value` or `--name=value`; nothing after
/// `--`.
fn option_value(args: &[OsString], name: &str) -> Option<String> {
    let mut found = None;
    let mut args = args.iter().skip(1).map(|a| a.to_string_lossy());
    while let Some(arg) = args.next() {
        if arg == "--" {
            break;
        }
        if arg == name {
            found = args.next().map(|v| v.into_owned());
        } else if let Some(value) = arg.strip_prefix(name).and_then(|r| r.strip_prefix('=')) {
            found = Some(value.to_string());
        }
    }
    found
}

/// A usage error from clap: printed as clap prints it (help and `--version` too, on stdout), and
/// with `--format json` also as the JSON error document.
pub fn usage_error(err: &clap::Error, json: bool) -> ExitCode {
    if json && err.use_stderr() {
        let text = err.render().to_string();
        let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
        let message = lines
            .next()
            .map(|l| l.strip_prefix("error: ").unwrap_or(l).to_string())
            .unwrap_or_default();
        let rest: Vec<&str> = lines.collect();
        let tips: Vec<&str> = rest.iter().filter_map(|l| l.strip_prefix("tip: ")).collect();
        let usage = rest.iter().find_map(|l| l.strip_prefix("Usage: "));
        let hint = if tips.is_empty() {
            usage.map(|u| format!("usage: {u}; see --help"))
        } else {
            Some(tips.join("; "))
        };
        let doc = error_document("usage", &message, &[], hint.as_deref(), 2);
        let _ = write_stdout(&doc);
    }
    // Prints help and --version to stdout, errors to stderr.
    let _ = err.print();
    ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(2))
}

/// The JSON error document of an error a command returned.
pub fn error_json(err: &anyhow::Error, status: ExitStatus) -> String {
    let mut texts = error_texts(err).into_iter();
    let message = texts.next().unwrap_or_default();
    let causes: Vec<String> = texts.collect();
    let hint = err
        .chain()
        .find_map(|e| e.downcast_ref::<crate::exit::UserError>())
        .and_then(|e| e.hint.clone());
    let code = match status {
        ExitStatus::Success => 0,
        ExitStatus::Failure => 1,
        ExitStatus::Error => 2,
    };
    error_document("error", &message, &causes, hint.as_deref(), code)
}

/// `{"version": 1, "error": {"kind", "message", "causes", "hint", "exit_code"}}`, the schema
/// documented in README.md ("Errors as JSON").
fn error_document(kind: &str, message: &str, causes: &[String], hint: Option<&str>, exit_code: u8) -> String {
    let doc = json!({
        "version": ERROR_SCHEMA_VERSION,
        "error": {
            "kind": kind,
            "message": message,
            "causes": causes,
            "hint": hint,
            "exit_code": exit_code,
        }
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
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
