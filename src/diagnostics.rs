//! Diagnostics: what `modkit doctor` finds, one type for every check, and its reporters (a person
//! at a terminal, JSON for tools, GitHub Actions annotations and step summary, SARIF for code
//! scanning).

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
            props.insert(0, format!("file={}", escape_property(&from_root(root, file))));
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

/// A path as the repository's root sees it: `items/plugin/x.ts` for `modkit doctor items`.
fn from_root(root: &str, file: &str) -> String {
    let root = root.trim_end_matches('/');
    if root == "." || root.is_empty() {
        file.to_string()
    } else {
        format!("{}/{file}", root.trim_start_matches("./"))
    }
}

/// What SARIF says of one rule. The checks' registry (`doctor::rule`) hands the list down: the
/// reporters know no check.
pub struct SarifRule {
    pub code: &'static str,
    pub what: &'static str,
    pub fix: &'static str,
    pub severity: Severity,
    /// The rule's documentation, as `modkit doctor --explain` prints it.
    pub markdown: String,
    pub help_uri: String,
}

/// SARIF 2.1.0, as GitHub code scanning takes it: every rule with its id, short description and
/// help URI; each result with its rule, level, message and a location (a relative URI and a
/// 1-based line; a finding with no file is put on modkit.toml, line 1, as code scanning needs one).
pub fn sarif(
    diagnostics: &[Diagnostic],
    root: &str,
    rules: &[SarifRule],
    information_uri: &str,
) -> serde_json::Value {
    use serde_json::json;
    let level = |s: Severity| match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let rule_json: Vec<serde_json::Value> = rules
        .iter()
        .map(|r| {
            json!({
                "id": r.code,
                "name": r.code,
                "shortDescription": { "text": first_sentence(r.what) },
                "fullDescription": { "text": r.what },
                "help": { "text": if r.fix.is_empty() { r.what } else { r.fix }, "markdown": r.markdown },
                "helpUri": r.help_uri,
                "defaultConfiguration": { "level": level(r.severity) },
            })
        })
        .collect();
    let results: Vec<serde_json::Value> = diagnostics
        .iter()
        .map(|d| {
            let text = match &d.hint {
                Some(h) => format!("{} (hint: {h})", d.message),
                None => d.message.clone(),
            };
            json!({
                "ruleId": d.code,
                "ruleIndex": rules.iter().position(|r| r.code == d.code),
                "level": level(d.severity),
                "message": { "text": text },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": {
                            "uri": from_root(root, d.file.as_deref().unwrap_or(crate::project::PROJECT_FILE)),
                            "uriBaseId": "%SRCROOT%",
                        },
                        "region": { "startLine": d.line.unwrap_or(1).max(1) },
                    }
                }],
            })
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "modkit doctor",
                    "version": env!("CARGO_PKG_VERSION"),
                    "informationUri": information_uri,
                    "rules": rule_json,
                }
            },
            "results": results,
        }]
    })
}

/// The text up to the first `: ` or `.`, for SARIF's short description.
fn first_sentence(text: &str) -> &str {
    let end = [text.find(": "), text.find(". ")]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(text.len());
    &text[..end]
}

/// `--format github` with `$GITHUB_STEP_SUMMARY` set: a Markdown table of the findings appended to
/// the job's summary page.
pub fn append_step_summary(
    path: &std::path::Path,
    diagnostics: &[Diagnostic],
    checked: &str,
    root: &str,
) -> std::io::Result<()> {
    use std::io::Write;
    let (errors, warnings) = counts(diagnostics);
    let mut text = format!("\n## modkit doctor\n\n{errors} error(s), {warnings} warning(s) in {checked}.\n");
    if !diagnostics.is_empty() {
        text.push_str("\n| | code | where | message |\n| --- | --- | --- | --- |\n");
        for d in diagnostics {
            let mark = match d.severity {
                Severity::Error => "❌",
                Severity::Warning => "⚠️",
            };
            let place = match (&d.file, d.line) {
                (Some(f), Some(l)) => format!("`{}:{l}`", from_root(root, f)),
                (Some(f), None) => format!("`{}`", from_root(root, f)),
                _ => String::new(),
            };
            let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
            text.push_str(&format!(
                "| {mark} | `{}` | {place} | {} |\n",
                d.code,
                cell(&d.message)
            ));
        }
    }
    text.push('\n');
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    file.write_all(text.as_bytes())
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
