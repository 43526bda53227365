//! Diagnostics: what `modkit doctor` finds, one type for every check, and its three reporters
//! (a person at a terminal, JSON for tools, GitHub Actions annotations for CI).

use serde::Serialize;

use crate::output::Printer;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Debug, Clone, Serialize)]
pub struct Diagnostic {
    /// Stable and documented (docs/doctor.md), e.g. `tsconfig-base-url`.
    pub code: &'static str,
    pub severity: Severity,
    /// Relative to the project folder, `/`-separated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn error(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            severity: Severity::Error,
            file: None,
            line: None,
            message: message.into(),
            hint: None,
        }
    }

    pub fn warning(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(code, message)
        }
    }

    pub fn at(mut self, file: impl Into<String>, line: Option<usize>) -> Self {
        self.file = Some(file.into());
        self.line = line;
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    fn location(&self) -> String {
        match (&self.file, self.line) {
            (Some(f), Some(l)) => format!("{f}:{l}: "),
            (Some(f), None) => format!("{f}: "),
            _ => String::new(),
        }
    }
}

/// `error[code]: file:line: message` and its hint, then a summary line.
pub fn print_human(printer: &Printer, diagnostics: &[Diagnostic], checked: &str) {
    for d in diagnostics {
        let label = match d.severity {
            Severity::Error => console::style("error").red().bold(),
            Severity::Warning => console::style("warning").yellow().bold(),
        };
        printer.line(format!("{label}[{}]: {}{}", d.code, d.location(), d.message));
        if let Some(hint) = &d.hint {
            printer.line(format!("  {} {hint}", console::style("hint:").cyan()));
        }
    }
    let (errors, warnings) = counts(diagnostics);
    printer.line(if errors + warnings == 0 {
        format!("No problems found in {checked}.")
    } else {
        format!("{errors} error(s), {warnings} warning(s) in {checked}.")
    });
}

pub fn counts(diagnostics: &[Diagnostic]) -> (usize, usize) {
    let errors = diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    (errors, diagnostics.len() - errors)
}

/// One GitHub Actions workflow command per diagnostic (`::error file=...,line=...::message`),
/// so that CI shows each on the line it is about.
pub fn print_github(diagnostics: &[Diagnostic], root: &str) -> std::io::Result<()> {
    for d in diagnostics {
        let kind = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut props = vec![format!(
            "title={}",
            escape_property(&format!("modkit doctor {}", d.code))
        )];
        if let Some(file) = &d.file {
            let path = if root == "." || root.is_empty() {
                file.clone()
            } else {
                format!("{root}/{file}")
            };
            props.insert(0, format!("file={}", escape_property(&path)));
        }
        if let Some(line) = d.line {
            props.insert(1, format!("line={line}"));
        }
        let text = match &d.hint {
            Some(h) => format!("{} (hint: {h})", d.message),
            None => d.message.clone(),
        };
        crate::output::write_stdout(&format!("::{kind} {}::{}", props.join(","), escape_data(&text)))?;
    }
    Ok(())
}

/// GitHub's escaping of workflow command data: %, CR, LF.
fn escape_data(s: &str) -> String {
    s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// ... and of property values: also `:` and `,`.
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_escaping() {
        assert_eq!(escape_data("50%\nnext"), "50%25%0Anext");
        assert_eq!(escape_property("a:b,c"), "a%3Ab%2Cc");
    }
}
