//! modkit: scaffold, bootstrap and check modular multi-tenant TypeScript platforms.

/// The published page of a guide under docs/, for help texts and hints: docs.rs serves the crate's
/// source, so the link works for anyone who installed modkit, at the version they run.
macro_rules! docs_url {
    ($page:literal) => {
        concat!(
            "https://docs.rs/crate/modkit/",
            env!("CARGO_PKG_VERSION"),
            "/source/docs/",
            $page
        )
    };
}

mod access;
mod adapt;
mod adapt_format;
mod cli;
mod commands;
mod db;
mod diagnostics;
mod distribution;
mod doctor;
mod exit;
mod foundation;
mod foundation_template;
mod localdb;
mod migration;
mod modules;
mod names;
mod output;
mod paths;
mod plan;
mod project;
mod project_db;
mod rbac_fit;
mod sandbox_template;
mod server_tsconfig;
mod templates;
mod tenants;
mod ts;
mod ts_same;
mod tsconfig;
mod upgrade;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use crate::cli::{Cli, Command};
use crate::exit::ExitStatus;
use crate::output::Printer;

/// The stack every command runs on. Reading TypeScript recurses once per nesting level; deep
/// nesting is refused before parsing (`ts::MAX_NESTING`), and this generous stack (reserved, not
/// used, until touched) keeps what the pre-scan cannot see from aborting the process.
pub const STACK_SIZE: usize = 256 << 20;

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    if let Some(code) = distribution::run_npm_override(&args) {
        return code;
    }
    // Read before parsing, so that a usage error is coloured (or not) and shaped (JSON or not) as
    // asked too.
    let color = output::color_flag(&args);
    let json = output::wants_json(&args);
    output::init_colors(color);
    let parse = || {
        Cli::command()
            .color(output::clap_color(color))
            .try_get_matches_from(&args)
            .and_then(|matches| Cli::from_arg_matches(&matches))
    };
    let cli = match parse() {
        Ok(cli) => cli,
        Err(err) => return output::usage_error(&err, json),
    };
    one_heap_on_one_core();
    match std::thread::Builder::new()
        .name("modkit".into())
        .stack_size(STACK_SIZE)
        .spawn(move || run(cli))
    {
        Ok(handle) => handle.join().unwrap_or(ExitCode::from(101)),
        // No thread for the big stack: run on this one (the arguments parsed once already).
        Err(_) => match parse() {
            Ok(cli) => run(cli),
            Err(err) => output::usage_error(&err, json),
        },
    }
}

/// With one core for the process, every thread allocates from glibc's main heap. The command
/// runs on a thread of its own (for its stack), and glibc gives such a thread a heap of its own
/// that grows one page at a time, each an `mprotect` (860 of them in a doctor run of a
/// 200-module foundation, about 8 % of its time); the main heap grows by 128 KB at a time. With
/// more cores, threads that run side by side keep their own heaps.
fn one_heap_on_one_core() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: a zeroed cpu_set_t is a valid empty set for sched_getaffinity to fill, and
        // mallopt only sets a limit of the allocator (before any other thread is started).
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) == 0
                && libc::CPU_COUNT(&set) == 1
            {
                libc::mallopt(libc::M_ARENA_MAX, 1);
            }
        }
    }
}

fn run(cli: Cli) -> ExitCode {
    let printer = Printer::new(&cli.verbosity);
    let json = cli.command.json_output();
    let result = match cli.command {
        Command::Init(args) => commands::init::run(&args, printer),
        Command::Bootstrap(args) => commands::bootstrap::run(&args, printer),
        Command::Adapt(args) => commands::adapt::run(&args, printer),
        Command::Doctor(args) => commands::doctor::run(&args, printer),
        Command::Upgrade(args) => commands::upgrade::run(&args, printer),
        Command::Db(args) => commands::db::run(&args, printer),
        Command::Tenant(args) => commands::tenant::run(&args, printer),
        Command::Grant(args) => commands::access::grant(&args, printer),
        Command::Revoke(args) => commands::access::revoke(&args, printer),
        Command::Access(args) => commands::access::list(&args, printer),
        Command::Migration(args) => commands::migration::run(&args, printer),
        Command::Completions(args) => completions(args.shell),
    };
    match result {
        Ok(status) => status.into(),
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            output::print_error(&err);
            if json {
                // The error is also the one JSON document on stdout; a closed pipe changes nothing.
                let _ = output::write_stdout(&output::error_json(&err, ExitStatus::Error));
            }
            ExitStatus::Error.into()
        }
    }
}

/// `modkit completions <shell>`: the script on stdout, generated from the clap definitions.
fn completions(shell: clap_complete::Shell) -> anyhow::Result<ExitStatus> {
    let mut script = Vec::new();
    clap_complete::generate(
        shell,
        &mut with_check_codes(Cli::command()),
        "modkit",
        &mut script,
    );
    let text = String::from_utf8_lossy(&script);
    output::write_stdout(text.trim_end_matches('\n'))?;
    Ok(ExitStatus::Success)
}

/// `doctor --explain <TAB>` and `--ignore <TAB>` complete doctor's check codes, not file names. Only in
/// the completion scripts: parsing keeps taking any text, so an unknown code stays doctor's own
/// message (with the nearest codes), not clap's list of every code.
fn with_check_codes(cli: clap::Command) -> clap::Command {
    let codes: Vec<&'static str> = doctor::rule::all().map(|r| r.code).collect();
    cli.mut_subcommand("doctor", |doctor| {
        let codes = codes.clone();
        doctor
            .mut_arg("explain", |a| {
                a.value_parser(clap::builder::PossibleValuesParser::new(codes.clone()))
            })
            .mut_arg("ignore", |a| {
                a.value_parser(clap::builder::PossibleValuesParser::new(codes))
            })
    })
}

/// `modkit ... | head` closing the pipe early is not an error.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain()
        .filter_map(|e| e.downcast_ref::<std::io::Error>())
        .any(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}
