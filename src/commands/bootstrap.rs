//! `modkit bootstrap`: bring a PostgreSQL database to the state the modules need.

use anyhow::Result;

use crate::cli::BootstrapArgs;
use crate::db::url::UrlSource;
use crate::exit::ExitStatus;
use crate::output::Printer;
use crate::project::Project;
use crate::project_db::{execute, resolve_url};

pub fn run(args: &BootstrapArgs, printer: Printer) -> Result<ExitStatus> {
    // From a subfolder too, as cargo finds its manifest.
    let project = Project::load(&crate::project::find_root(&args.project))?;
    let url = resolve_url(args.db.url.as_deref(), &project, printer)?;
    let status = execute(args, &project, &url, printer)?;
    if url.source == UrlSource::Local && status == ExitStatus::Success && !args.dry_run && !args.check {
        crate::project_db::local(&project).mark_bootstrapped()?;
    }
    Ok(status)
}
