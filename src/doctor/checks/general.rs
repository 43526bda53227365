//! Codes any check can report: a file that does not parse or cannot be read, a check that could
//! not finish.

use crate::diagnostics::Severity;
use crate::doctor::rule::{Rule, Scope};

pub const RULES: &[Rule] = &[
    Rule {
        code: "typescript-syntax",
        severity: Severity::Error,
        scope: Scope::Both,
        what: "a file doctor reads does not parse as TypeScript (file and line given), or nests brackets more than 1,000 levels deep (refused before parsing, where 10,000 levels used to overflow the stack); the other files and checks still run",
        fix: "fix it (`npx tsc --noEmit` shows it too); flatten the nesting",
    },
    Rule {
        code: "file-unreadable",
        severity: Severity::Error,
        scope: Scope::Both,
        what: "a file doctor reads (a migration `*.sql`, a module or source `.ts`) is a symbolic link, a folder, a FIFO (never opened) or another special file, or is not UTF-8; the others are still checked",
        fix: "replace it with a regular UTF-8 file; bootstrap and adapt would refuse it",
    },
    Rule {
        code: "check-failed",
        severity: Severity::Error,
        scope: Scope::Both,
        what: "a check could not finish on bad input (the message says why)",
        fix: "",
    },
];
