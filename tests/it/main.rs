//! The one integration-test binary (`cargo test --test it`): every test runs the built `modkit`.
//!
//! One binary links once and shares one PostgreSQL server for the whole run (see `support::pg`).
//! `mod bootstrap;` and `mod e2e;` are written by others; add new areas here as `mod <area>;`.

mod support;

mod adapt;
mod bootstrap;
mod citus;
mod cli;
mod cross;
mod db;
mod db_query;
mod doctor;
mod doctor_real;
mod e2e;
mod harness;
mod hostile;
mod init;
mod layers;
mod npm;
mod project_env;
mod tenants;
mod upgrade;
