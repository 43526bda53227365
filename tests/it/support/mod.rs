//! The test harness every integration test stands on: a temp-dir fixture that runs the built binary
//! ([`CliTest`]), a PostgreSQL server with one fresh database per test ([`pg`]), a small HTTP client
//! ([`http`]), a Citus cluster with one distributed database per test ([`citus`]) and process helpers ([`process`]).
//!
//! Not every test module uses every helper; that is fine.
#![allow(dead_code)]

pub mod citus;
mod cli_test;
pub mod fake_pg;
pub mod http;
pub mod pg;
pub mod process;

pub use cli_test::{CliTest, bin, copy_dir, fixture, stderr, stdout, transcript};
