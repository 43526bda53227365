//! `modkit adapt <module> --foundation DIR`: bring a module from its sandbox into a foundation.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::json;

use crate::adapt::Adaptation;
use crate::cli::{AdaptArgs, Format};
use crate::exit::{ExitStatus, UserError};
use crate::foundation::{REQUIRE_PERMISSION, WITH_TENANT_TX};
use crate::output::{Level, Printer};
use crate::plan::Action;
use crate::project::Project;

pub fn run(args: &AdaptArgs, printer: Printer) -> Result<ExitStatus> {
    crate::names::check_module_id(&args.module)?;
    let sandbox = match &args.from {
        Some(dir) => dir.clone(),
        None => default_sandbox(&args.module)?,
    };
    let adaptation = Adaptation::plan(&args.module, &sandbox, &args.foundation)?;
    if !adaptation.conflicts.is_empty() && !args.force && !args.dry_run {
        let list: Vec<String> = adaptation
            .conflicts
            .iter()
            .map(|c| format!("  {}: {}", c.path, c.why))
            .collect();
        return Err(UserError::new(format!(
            "{} file(s) in the foundation would be overwritten, and nothing was written:\n{}",
            list.len(),
            list.join("\n")
        ))
        .hint("move your changes into the module's sandbox and run again, or overwrite them with --force")
        .into());
    }
    let mut formatted = None;
    if !args.dry_run {
        adaptation.plan.apply()?;
        match crate::adapt_format::format_written(&adaptation)? {
            Ok(ran) => formatted = ran,
            Err(warning) => printer.warn(warning),
        }
    }
    match args.output.format {
        Format::Json => {
            crate::output::write_stdout(&serde_json::to_string_pretty(&json_report(&adaptation, args))?)?
        }
        Format::Human => {
            print_human(&adaptation, args, &printer);
            if let Some(name) = formatted {
                printer.line(format!(
                    "Formatted the TypeScript it wrote with the foundation's {name}."
                ));
            }
        }
    }
    Ok(ExitStatus::Success)
}

/// The sandbox around the current folder (as cargo finds its manifest) when it is this module's,
/// else `./<module>`.
fn default_sandbox(module: &str) -> Result<PathBuf> {
    let here = crate::project::find_root(Path::new("."));
    if here.join("modkit.toml").is_file()
        && let Ok(project) = Project::load(&here)
        && project.file.module.as_ref().is_some_and(|m| m.id == module)
    {
        return Ok(here);
    }
    if Path::new(module).join("modkit.toml").is_file() {
        return Ok(PathBuf::from(module));
    }
    Err(UserError::new(format!(
        "cannot find the sandbox of module `{module}`: neither the current folder nor ./{module} is one"
    ))
    .hint(format!(
        "run it from the sandbox, or pass it: modkit adapt {module} --foundation DIR --from path/to/{module}"
    ))
    .into())
}

fn print_human(a: &Adaptation, args: &AdaptArgs, printer: &Printer) {
    let f = &a.foundation;
    printer.heading(format!(
        "{} module `{}` from {} into {} ({}: {})",
        if args.dry_run { "Would adapt" } else { "Adapted" },
        a.module,
        a.sandbox.display(),
        f.root.display(),
        f.style.format,
        f.style.because
    ));
    printer.line(format!(
        "  {WITH_TENANT_TX:<18} from {:<32} as '{}'",
        f.tenant_db, a.tenant_db_import
    ));
    printer.line(format!(
        "  {REQUIRE_PERMISSION:<18} from {:<32} as '{}'",
        f.rbac, a.rbac_import
    ));
    printer.line(a.plan.render_tree().trim_end());
    for warning in &a.warnings {
        printer.warn(warning);
    }
    if args.dry_run {
        for c in &a.conflicts {
            printer.warn(format!("{} would need --force: {}", c.path, c.why));
        }
        if printer.level >= Level::Verbose {
            printer.line(a.plan.diffs().trim_end());
        }
        printer.line("Nothing was written (--dry-run).");
        return;
    }
    let written = a.plan.count(Action::Create) + a.plan.count(Action::Overwrite);
    if written == 0 {
        printer.line("Nothing to do: the foundation already has this version of the module.");
    } else {
        printer.line(format!(
            "Wrote {written} file(s), {} unchanged.",
            a.plan.count(Action::Unchanged)
        ));
    }
    printer.line("");
    printer.line("Next steps:");
    // A starter foundation (`modkit init --foundation`) bootstraps with its own script, which also
    // seeds the dev user's roles for the new module; any other foundation with modkit's.
    let bootstrap = if npm_script(&f.root, "bootstrap") {
        "npm run bootstrap"
    } else {
        "modkit bootstrap --project ."
    };
    printer.line(format!(
        "  cd {} && {} && {bootstrap}",
        f.root.display(),
        crate::server_tsconfig::typecheck_command(&f.tsconfig)
    ));
    if bootstrap == "npm run bootstrap" && npm_script(&f.root, "dev") {
        // The starter's launcher watches module.config.ts and migrations/<id>/ (docs/starter-foundation.md).
        printer.line("  (a running `npm run dev` migrates, grants and serves it by itself)");
    }
}

/// Whether the foundation's package.json has the npm script `name`.
fn npm_script(root: &std::path::Path, name: &str) -> bool {
    std::fs::read_to_string(root.join("package.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .is_some_and(|json| json["scripts"][name].is_string())
}

fn json_report(a: &Adaptation, args: &AdaptArgs) -> serde_json::Value {
    let f = &a.foundation;
    json!({
        "module": a.module,
        "from": a.sandbox,
        "foundation": f.root,
        "module_dir": a.module_dir,
        "dry_run": args.dry_run,
        "style": f.style,
        "tsconfig": f.tsconfig,
        "typecheck": crate::server_tsconfig::typecheck_command(&f.tsconfig),
        "imports": {
            WITH_TENANT_TX: { "file": f.tenant_db, "specifier": a.tenant_db_import },
            REQUIRE_PERMISSION: { "file": f.rbac, "specifier": a.rbac_import },
        },
        "files": a.plan.files,
        "conflicts": a.conflicts,
        "warnings": a.warnings,
    })
}
