//! Where human-readable output goes, and whether it is coloured.
//!
//! Colour only on a terminal and never with `NO_COLOR`; `-q` keeps only errors. Machine output
//! (`--format json`) is printed by the commands with `println!` and never coloured.

use std::io::IsTerminal;

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

    /// A line of normal output on stdout.
    pub fn line(&self, text: impl AsRef<str>) {
        if self.level >= Level::Normal {
            println!("{}", text.as_ref());
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

/// The error report: message, its cause chain, and the hint on its own line.
pub fn print_error(err: &anyhow::Error) {
    eprintln!("{} {}", style("error:").red().bold(), err);
    for cause in err.chain().skip(1) {
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
