//! `modkit init <module>`: render a standalone sandbox for one business module.

use std::path::PathBuf;

use anyhow::{Context, Result};
use minijinja::context;

use crate::cli::InitArgs;
use crate::exit::{ExitStatus, UserError};
use crate::names;
use crate::output::Printer;
use crate::plan::{Action, FilePlan};
use crate::templates::{self, RenderedFile};

/// The bootstrap SQL every sandbox carries, copied verbatim: `npm run bootstrap` and
/// `modkit bootstrap` run the same statements.
const SHARED_SQL: [(&str, &str); 2] = [
    ("sql/system.sql", "sandbox/sql/system.sql"),
    ("sql/statements.sql", "sandbox/sql/statements.sql"),
];

pub fn run(args: &InitArgs, printer: Printer) -> Result<ExitStatus> {
    names::check_module_id(&args.module)?;
    if let Some(name) = &args.name {
        names::check_display_name(name)?;
    }
    let mut tenants = vec!["dev".to_string()];
    for code in &args.tenants {
        names::check_tenant_code(code)?;
        if !tenants.contains(code) {
            tenants.push(code.clone());
        }
    }
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from(&args.module));
    check_target(&dir, args.force)?;

    let plan = FilePlan::new(&dir, render_sandbox(args, &tenants)?)?;
    if args.dry_run {
        printer.heading(format!(
            "Would write {} files to {}:",
            plan.files.len(),
            dir.display()
        ));
        printer.line(plan.render_tree().trim_end());
        printer.line("Nothing was written (--dry-run).");
        return Ok(ExitStatus::Success);
    }
    plan.apply()?;

    let written = plan.count(Action::Create) + plan.count(Action::Overwrite);
    printer.heading(format!(
        "Wrote the `{}` sandbox to {} ({written} files):",
        args.module,
        dir.display()
    ));
    printer.line(plan.render_tree().trim_end());
    printer.line("");
    printer.line("Next steps:");
    printer.line(format!("  cd {} && npm install && npm run dev", shell_path(&dir)));
    Ok(ExitStatus::Success)
}

/// The sandbox's files: the rendered `templates/sandbox/` tree plus the shared bootstrap SQL.
pub fn render_sandbox(args: &InitArgs, tenants: &[String]) -> Result<Vec<RenderedFile>> {
    let module_name = args
        .name
        .clone()
        .unwrap_or_else(|| names::title_case(&args.module));
    let ctx = context! {
        module_id => &args.module,
        module_name => module_name,
        table => args.module.replace('-', "_"),
        resource => &args.module,
        const_name => names::camel_case(&args.module),
        dev_tenants => tenants.to_vec(),
        modkit_version => env!("CARGO_PKG_VERSION"),
    };
    let mut files = templates::render_dir("sandbox", &ctx)?;
    for (source, target) in SHARED_SQL {
        files.push(RenderedFile {
            path: target.to_string(),
            contents: templates::raw(source)?.to_string(),
        });
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// A folder that exists and is not empty is refused unless `--force`.
fn check_target(dir: &std::path::Path, force: bool) -> Result<()> {
    let meta = match std::fs::metadata(dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
    };
    if !meta.is_dir() {
        return Err(
            UserError::new(format!("{} exists and is not a folder", dir.display()))
                .hint("choose another place with --dir")
                .into(),
        );
    }
    let non_empty = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .next()
        .is_some();
    if non_empty && !force {
        return Err(UserError::new(format!("{} exists and is not empty", dir.display()))
            .hint("choose another place with --dir, or pass --force to overwrite the files modkit generates (nothing else is touched)")
            .into());
    }
    Ok(())
}

/// A path as the user would type it after `cd`.
fn shell_path(dir: &std::path::Path) -> String {
    let s = dir.display().to_string();
    if s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-".contains(c)) {
        s
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}
