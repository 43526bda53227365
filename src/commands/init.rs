//! `modkit init <module>`: render a standalone sandbox for one business module.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::json;

use crate::cli::InitArgs;
use crate::exit::{ExitStatus, UserError};
use crate::names;
use crate::output::{Level, Printer};
use crate::plan::RECORD;
use crate::plan::{self, Action, FilePlan, Record};
use crate::templates::RenderedFile;
use crate::{foundation_template, sandbox_template};

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
    check_target(&dir)?;

    let kind = if args.foundation { "foundation" } else { "sandbox" };
    let npm = crate::distribution::from_npm();
    let mut files = if args.foundation {
        foundation_template::render(&args.module, &module_name(args), &tenants)?
    } else {
        sandbox_template::render(&args.module, &module_name(args), &tenants, npm)?
    };
    let mut answers = json!({
        "module": &args.module,
        "name": module_name(args),
        "tenants": &tenants,
    });
    if npm && !args.foundation {
        // Recorded, so that `modkit upgrade` renders the same kind of sandbox (docs/install.md).
        answers["npm"] = json!(true);
    }
    if args.foundation {
        // `modkit upgrade` renders a foundation again from this (absent: a sandbox).
        answers["foundation"] = json!(true);
    }
    let record = Record::of(&files, Some(answers));
    files.push(RenderedFile {
        path: RECORD.to_string(),
        contents: record.to_json()?,
    });
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let plan = FilePlan::new(&dir, files)?;
    if !args.force
        && let Some(found) = foreign_entry(&dir, &plan)?
    {
        return Err(UserError::new(format!(
            "{} exists and is not empty (it has {})",
            dir.display(),
            found.display()
        ))
        .hint("choose another place with --dir, or pass --force to update the files modkit generates (an edited file is never overwritten without --overwrite-edits; nothing else is touched)")
        .into());
    }
    let previous = Record::read(&dir.join(RECORD), "modkit init")?;
    let conflicts = plan.conflicts("", RECORD, &previous, "modkit init", |_| None);

    let created = plan.count(Action::Create);
    let updated = plan.count(Action::Overwrite) - conflicts.len();
    let unchanged = plan.count(Action::Unchanged);
    let summary = format!(
        "{created} new, {updated} updated, {} conflicting, {unchanged} unchanged",
        conflicts.len()
    );
    if args.dry_run {
        if created + plan.count(Action::Overwrite) == 0 {
            printer.heading(format!(
                "Nothing would change in {}: every file is as modkit renders it.",
                dir.display()
            ));
        } else {
            printer.heading(format!("Would change {} ({summary}):", dir.display()));
            printer.line(plan.render_changes(&conflicts).trim_end());
        }
        if !conflicts.is_empty() {
            printer.line(format!(
                "{} conflicting file(s) would stop a real run: keep them, or add --overwrite-edits to replace them.",
                conflicts.len()
            ));
        }
        if printer.level >= Level::Verbose {
            printer.line(plan.diffs().trim_end());
        }
        printer.line("Nothing was written (--dry-run).");
        return Ok(ExitStatus::Success);
    }
    if !conflicts.is_empty() && !args.overwrite_edits {
        let list: Vec<String> = conflicts
            .iter()
            .map(|c| format!("  {}: {}", c.path, c.why))
            .collect();
        return Err(UserError::new(format!(
            "{} file(s) in {} would be overwritten, and nothing was written:\n{}",
            list.len(),
            dir.display(),
            list.join("\n")
        ))
        .hint("see the changes with `--dry-run -v`; keep your edits (nothing else needs doing), or replace them with --force --overwrite-edits")
        .into());
    }
    plan.apply()?;

    let overwritten = if conflicts.is_empty() {
        String::new()
    } else {
        format!(" ({} of them overwriting an edit)", conflicts.len())
    };
    let summary = format!(
        "{created} new, {} updated{overwritten}, {unchanged} unchanged",
        plan.count(Action::Overwrite)
    );
    let written = created + plan.count(Action::Overwrite);
    if unchanged == 0 {
        printer.heading(format!(
            "Wrote the `{}` {kind} to {} ({written} files):",
            args.module,
            dir.display()
        ));
        printer.line(plan.render_tree().trim_end());
    } else if written == 0 {
        printer.heading(format!(
            "Nothing to do: the `{}` {kind} in {} is as modkit renders it ({unchanged} files).",
            args.module,
            dir.display()
        ));
    } else {
        printer.heading(format!(
            "Updated the `{}` {kind} in {} ({summary}):",
            args.module,
            dir.display()
        ));
        printer.line(plan.render_changes(&[]).trim_end());
    }
    let install = if args.install {
        npm_install(&dir, printer)?;
        ""
    } else {
        "npm install && "
    };
    printer.line("");
    printer.line("Next steps:");
    printer.line(format!("  cd {} && {install}npm run dev", shell_path(&dir)));
    if args.foundation {
        printer.line(format!(
            "  modkit adapt <module> --foundation {}   # from next to the module's sandbox",
            shell_path(&dir)
        ));
    }
    Ok(ExitStatus::Success)
}

/// `init --install`: `npm install` in the new sandbox, like create-vite's `--immediate`. npm's own
/// output goes to stderr, so that stdout keeps only modkit's report.
fn npm_install(dir: &Path, printer: Printer) -> Result<()> {
    use std::os::fd::AsFd;
    printer.line("");
    printer.heading(format!("Running npm install in {}:", dir.display()));
    let mut npm = std::process::Command::new("npm");
    npm.arg("install")
        .current_dir(dir)
        .stdin(std::process::Stdio::null());
    if printer.level == Level::Quiet {
        npm.arg("--silent");
    }
    if let Ok(stderr) = std::io::stderr().as_fd().try_clone_to_owned() {
        npm.stdout(stderr);
    }
    let status = match npm.status() {
        Ok(status) => status,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(UserError::new(format!(
                "the sandbox is written in {}, but npm is not on PATH to install its dependencies",
                dir.display()
            ))
            .hint(format!(
                "install Node.js 20 or later with npm (https://nodejs.org/en/download), then run `cd {} && npm install`",
                shell_path(dir)
            ))
            .into());
        }
        Err(e) => return Err(e).context("cannot run npm install"),
    };
    if !status.success() {
        return Err(UserError::new(format!(
            "the sandbox is written in {}, but `npm install` failed ({status})",
            dir.display()
        ))
        .hint(format!(
            "read npm's messages above, fix the cause (network, registry, Node.js version), then run `cd {} && npm install`",
            shell_path(dir)
        ))
        .into());
    }
    Ok(())
}

fn module_name(args: &InitArgs) -> String {
    args.name
        .clone()
        .unwrap_or_else(|| names::title_case(&args.module))
}

/// The target must be a folder, or not exist yet.
fn check_target(dir: &Path) -> Result<()> {
    match std::fs::metadata(dir) {
        Ok(meta) if !meta.is_dir() => Err(UserError::new(format!(
            "{} exists and is not a folder",
            dir.display()
        ))
        .hint("choose another place with --dir")
        .into()),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", dir.display())),
    }
}

/// Something in `dir` that this init would not have written as it is: a file of the user's, or
/// one with other content. What an interrupted init left (its staging folder, the files it had
/// already put in place) does not count, so that a plain re-run completes it.
fn foreign_entry(dir: &Path, plan: &FilePlan) -> Result<Option<PathBuf>> {
    let ours: HashSet<&str> = plan
        .files
        .iter()
        .filter(|f| f.action == Action::Unchanged)
        .map(|f| f.path.as_str())
        .collect();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        let entries = match std::fs::read_dir(&current) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", current.display())),
        };
        for entry in entries {
            let entry = entry.with_context(|| format!("cannot read {}", current.display()))?;
            let path = entry.path();
            let kind = entry.file_type()?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if plan::is_debris(&name, kind.is_dir(), kind.is_file()) {
                continue;
            }
            if kind.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path
                .strip_prefix(dir)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            if !(kind.is_file() && ours.contains(rel.as_str())) {
                return Ok(Some(path));
            }
        }
    }
    Ok(None)
}

/// A path as the user would type it after `cd`.
fn shell_path(dir: &Path) -> String {
    let s = dir.display().to_string();
    if s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-".contains(c)) {
        s
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}
