//! `modkit migration new <name> [--module ID]`: the next migration file (src/migration.rs).

use anyhow::Result;

use crate::cli::{MigrationAction, MigrationArgs};
use crate::exit::ExitStatus;
use crate::output::Printer;
use crate::project::Project;

pub fn run(args: &MigrationArgs, printer: Printer) -> Result<ExitStatus> {
    let project = Project::load(&crate::project::find_root(&args.project))?;
    match &args.action {
        MigrationAction::New { name, module } => {
            let path = crate::migration::create(&project, module.as_deref(), name)?;
            let shown = path.strip_prefix(&project.root).unwrap_or(&path);
            printer.line(format!(
                "created {} (npm run dev applies it when it is saved; else modkit bootstrap)",
                shown.display()
            ));
            Ok(ExitStatus::Success)
        }
    }
}
