//! Hostile input and bad days (issue 7): each test is named after what it broke, and fails on the
//! code from before its fix. docs/security.md lists the threat model and which test covers what.
//!
//! | module | what it attacks |
//! | --- | --- |
//! | [`schemas`] | tenant schemas the role cannot use, relations landing in `public`, edited checksums, counts |
//! | [`objects`] | schemas, functions, types, policies, triggers, event triggers, extensions and rows a migration makes outside its tenant, and doctor --db finding those left before |
//! | [`connection`] | stalled servers, held locks, timeouts, non-PostgreSQL peers, passwords in argv and output |
//! | [`files`] | `init --force` over edits, symlinks, file modes, FIFOs, broken pipes, deep nesting, interrupted writes |
//! | [`runtime`] | the sandbox API: dropped connections, NUL bytes, production identity, the bind address |
//! | [`root`] | root in a user's project: swapped links during the lock wait, linked files, planted programs, `..` links, `--fix` outside, shell characters in the path |

mod connection;
mod files;
mod objects;
mod root;
mod runtime;
// pub(crate): e2e::bootstrap starts the same server without pgcrypto for the sandbox's bootstrap.
pub(crate) mod schemas;
