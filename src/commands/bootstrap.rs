//! `modkit bootstrap`: bring a PostgreSQL database to the state the modules need.

use anyhow::Result;

use crate::cli::BootstrapArgs;
use crate::exit::ExitStatus;
use crate::output::Printer;

pub fn run(_args: &BootstrapArgs, _printer: Printer) -> Result<ExitStatus> {
    anyhow::bail!("modkit bootstrap is not built yet")
}
