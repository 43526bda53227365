//! modkit: scaffold, bootstrap and check modular multi-tenant TypeScript platforms.

mod adapt;
mod cli;
mod commands;
mod db;
mod diagnostics;
mod doctor;
mod exit;
mod foundation;
mod localdb;
mod modules;
mod names;
mod output;
mod plan;
mod project;
mod templates;
mod ts;
mod tsconfig;
mod upgrade;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::exit::ExitStatus;
use crate::output::Printer;

/// The stack every command runs on. Reading TypeScript recurses once per nesting level; deep
/// nesting is refused before parsing (`ts::MAX_NESTING`), and this generous stack (reserved, not
/// used, until touched) keeps what the pre-scan cannot see from aborting the process.
const STACK_SIZE: usize = 256 << 20;

fn main() -> ExitCode {
    output::init_colors();
    let cli = Cli::parse();
    match std::thread::Builder::new()
        .name("modkit".into())
        .stack_size(STACK_SIZE)
        .spawn(move || run(cli))
    {
        Ok(handle) => handle.join().unwrap_or(ExitCode::from(101)),
        Err(_) => run(Cli::parse()),
    }
}

fn run(cli: Cli) -> ExitCode {
    let printer = Printer::new(&cli.verbosity);
    let result = match cli.command {
        Command::Init(args) => commands::init::run(&args, printer),
        Command::Bootstrap(args) => commands::bootstrap::run(&args, printer),
        Command::Adapt(args) => commands::adapt::run(&args, printer),
        Command::Doctor(args) => commands::doctor::run(&args, printer),
        Command::Upgrade(args) => commands::upgrade::run(&args, printer),
        Command::Db(args) => commands::db::run(&args, printer),
    };
    match result {
        Ok(status) => status.into(),
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            output::print_error(&err);
            ExitStatus::Error.into()
        }
    }
}

/// `modkit ... | head` closing the pipe early is not an error.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain()
        .filter_map(|e| e.downcast_ref::<std::io::Error>())
        .any(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}
