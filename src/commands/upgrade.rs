//! `modkit upgrade [DIR]`: bring a sandbox to this modkit's templates, keeping every edit. The
//! engine is in `crate::upgrade`; this file prints and writes.

use anyhow::Result;
use serde_json::json;

use crate::cli::{Format, UpgradeArgs};
use crate::exit::ExitStatus;
use crate::output::{Level, Printer, write_stdout};
use crate::plan::FilePlan;
use crate::plan::RECORD;
use crate::upgrade::{CURRENT, Change, Upgrade};

pub fn run(args: &UpgradeArgs, printer: Printer) -> Result<ExitStatus> {
    // From a subfolder of the sandbox too, as cargo finds its manifest.
    let dir = crate::project::find_root(&args.dir);
    let upgrade = Upgrade::plan(&dir, RECORD)?;
    let plan = FilePlan::new(&dir, upgrade.writes.clone())?;
    let write = !args.check && !args.dry_run;
    if write {
        plan.apply()?;
    }
    let conflicts = upgrade.count(Change::Conflict);
    match args.output.format {
        Format::Json => write_stdout(&serde_json::to_string_pretty(&json_report(&upgrade, write))?)?,
        Format::Human => print_human(&upgrade, &plan, args, write, &printer),
    }
    Ok(if conflicts > 0 || (args.check && upgrade.behind()) {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    })
}

fn json_report(upgrade: &Upgrade, written: bool) -> serde_json::Value {
    json!({
        "sandbox": upgrade.dir.display().to_string(),
        "module": &upgrade.origin.answers.module,
        "from": &upgrade.origin.version,
        "to": CURRENT,
        "record": if upgrade.origin.has_record { "found" } else { "missing" },
        "behind": upgrade.behind(),
        "written": written && !upgrade.writes.is_empty(),
        "conflicts": upgrade.count(Change::Conflict),
        "api_changed": upgrade.api_change.is_some(),
        "files": &upgrade.changes,
    })
}

fn print_human(upgrade: &Upgrade, plan: &FilePlan, args: &UpgradeArgs, written: bool, printer: &Printer) {
    let origin = &upgrade.origin;
    let dir = args.dir.display();
    let from = if origin.has_record {
        format!("modkit {}", origin.version)
    } else {
        format!(
            "modkit {} (no {RECORD}: answers from modkit.toml)",
            origin.version
        )
    };
    let kind = if origin.answers.foundation {
        "foundation"
    } else {
        "sandbox"
    };
    if !upgrade.behind() && upgrade.changes.is_empty() {
        printer.heading(format!(
            "The `{}` {kind} in {dir} is up to date with modkit {CURRENT}.",
            origin.answers.module
        ));
        return;
    }
    if upgrade.writes.is_empty() {
        printer.heading(format!(
            "The `{}` {kind} in {dir} is at modkit {CURRENT}, with something to do by hand:",
            origin.answers.module
        ));
    } else {
        let verb = if written { "Upgraded" } else { "Would upgrade" };
        printer.heading(format!(
            "{verb} the `{}` {kind} in {dir} from {from} to modkit {CURRENT}:",
            origin.answers.module
        ));
    }
    let width = upgrade.changes.iter().map(|c| c.path.len()).max().unwrap_or(0);
    for change in &upgrade.changes {
        let detail = if change.detail.is_empty() {
            String::new()
        } else {
            format!("  {}", change.detail)
        };
        let line = format!("  {:<8}  {:<width$}{detail}", change.change.label(), change.path);
        printer.line(line.trim_end());
        for key in &change.keys {
            printer.line(format!(
                "            {}: yours {} kept; the template has {}",
                key.key,
                show(key.yours.as_ref()),
                show(key.template.as_ref())
            ));
        }
    }
    let summary: Vec<String> = [Change::Updated, Change::Merged, Change::Added, Change::Conflict]
        .into_iter()
        .map(|c| match c {
            Change::Conflict => format!("{} conflicting", upgrade.count(c)),
            _ => format!("{} {}", upgrade.count(c), c.label()),
        })
        .collect();
    printer.line(format!("{}.", summary.join(", ")));
    if let Some((old, new)) = &upgrade.api_change {
        printer.warn(format!(
            "the module authoring API changed (plugin/context.ts, modkit {} → {CURRENT}); check plugin/ against it (`npx tsc --noEmit`){}",
            origin.version,
            if printer.level >= Level::Verbose { String::new() } else { "; -v shows the change".into() }
        ));
        if printer.level >= Level::Verbose {
            printer.line(unified("plugin/context.ts", old, new).trim_end());
        }
    }
    if args.dry_run {
        printer.line(diffs(plan).trim_end());
    }
    let conflicts = upgrade.count(Change::Conflict);
    if conflicts > 0 {
        printer.line(format!(
            "{conflicts} conflict(s): resolve them (search for <<<<<<< in the files listed), then run `modkit upgrade` again; nothing else was lost."
        ));
    }
    if !written && !upgrade.writes.is_empty() {
        printer.line(if args.check {
            "Nothing was written (--check)."
        } else {
            "Nothing was written (--dry-run)."
        });
    }
}

/// A JSON value as one line, or `(absent)`.
fn show(value: Option<&serde_json::Value>) -> String {
    value.map_or_else(|| "(absent)".to_string(), |v| v.to_string())
}

/// The plan's diffs of changed files, and each new file as a diff from nothing.
fn diffs(plan: &FilePlan) -> String {
    let mut out = plan.diffs();
    for file in plan
        .files
        .iter()
        .filter(|f| f.action == crate::plan::Action::Create)
    {
        out.push_str(&unified(&file.path, "", &file.contents));
    }
    out
}

fn unified(path: &str, old: &str, new: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{path}"), &format!("b/{path}"))
        .to_string()
}
