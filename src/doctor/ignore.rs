//! The checks a project turns off, and the error for a code that names none.

use anyhow::Result;

use super::rule;
use crate::exit::UserError;

/// The codes a project turns off: modkit.toml's `[doctor] ignore` and `--ignore`. Each entry is a
/// code or a prefix of codes before a `-` (`toolchain`, `dependency`); an entry that names no
/// code is a usage error, so that a typo never silently keeps a check on.
pub struct Ignore(Vec<String>);

impl Ignore {
    pub fn new(from_file: &[String], from_args: &[String]) -> Result<Self> {
        for (entry, source) in from_file
            .iter()
            .map(|e| (e, "modkit.toml's [doctor] ignore"))
            .chain(from_args.iter().map(|e| (e, "--ignore")))
        {
            if !rule::all().any(|r| matches(entry, r.code)) {
                return Err(unknown_code(entry, source).into());
            }
        }
        Ok(Self(from_file.iter().chain(from_args).cloned().collect()))
    }

    pub fn skips(&self, code: &str) -> bool {
        self.0.iter().any(|entry| matches(entry, code))
    }
}

fn matches(entry: &str, code: &str) -> bool {
    code == entry || code.strip_prefix(entry).is_some_and(|rest| rest.starts_with('-'))
}

pub fn unknown_code(code: &str, source: &str) -> UserError {
    let codes: Vec<&str> = rule::all().map(|r| r.code).collect();
    UserError::new(format!("{source}: `{code}` is not a doctor check")).hint(format!(
        "use one of the codes docs/doctor.md lists: {}",
        codes.join(", ")
    ))
}
