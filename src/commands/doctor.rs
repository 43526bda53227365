//! `modkit doctor [DIR] [--db [URL]]`: report what is broken or drifting; exit 1 on any error.

use anyhow::{Context, Result};
use serde_json::json;

use crate::cli::{DoctorArgs, DoctorFormat};
use crate::db::connect;
use crate::db::url::DbUrl;
use crate::diagnostics::{self, Severity};
use crate::doctor::ignore::{Ignore, unknown_code};
use crate::doctor::{self, Target, checks, rule};
use crate::exit::ExitStatus;
use crate::output::Printer;

pub fn run(args: &DoctorArgs, printer: Printer) -> Result<ExitStatus> {
    if let Some(code) = &args.explain {
        let rule = rule::find(code).ok_or_else(|| unknown_code(code, "--explain"))?;
        crate::output::write_stdout(rule::explain(rule).trim_end())?;
        return Ok(ExitStatus::Success);
    }
    // From a subfolder too, as cargo finds its manifest.
    let dir = crate::project::find_root(&args.dir);
    let target = Target::load(&dir)?;
    let ignore = Ignore::new(&target.project.file.doctor.ignore, &args.ignore)?;
    let fixed = if args.fix {
        doctor::fix::run(&target, &ignore)?
    } else {
        Vec::new()
    };
    for change in &fixed {
        // On stdout for a person; on stderr when stdout carries a document for tools.
        match args.format {
            DoctorFormat::Human => printer.line(change.to_string()),
            _ if printer.level >= crate::output::Level::Normal => eprintln!("{change}"),
            _ => {}
        }
    }
    let skip = |code: &str| ignore.skips(code);
    // The toolchain waits on `node --version` (tens of milliseconds): run it beside the static checks.
    let (toolchain, mut found, static_found) = std::thread::scope(|scope| {
        let toolchain = scope.spawn(|| checks::toolchain::check(&target, &skip));
        let static_found = doctor::run_static(&target, &skip);
        let (lines, found) = toolchain
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (lines, found, static_found)
    });
    found.extend(static_found?);
    let mut database = None;
    let mut citus = None;
    if let Some(flag) = &args.db {
        let flag = Some(flag.as_str()).filter(|f| !f.is_empty());
        // Like bootstrap, the project's local database when no URL is given; doctor only reads,
        // so it never starts it (a stopped one is "cannot reach", with the hint to start it).
        let url = match DbUrl::resolve_given(flag, &target.project)? {
            Some(url) => url,
            None => crate::project_db::made_local_url(&target.project)
                .map_or_else(|| DbUrl::resolve(flag, &target.project), Ok)?,
        };
        for warning in url.password_warnings() {
            printer.warn(warning);
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        let live = runtime.block_on(async {
            let settings = connect::Settings::new(&args.timeouts, 1, false);
            let database = connect::connect(&url, settings, printer).await?;
            let mut result = doctor::live::run(&database.pool, &target.project).await;
            if let Ok(found) = &mut result {
                match doctor::drift::run(&database.pool).await {
                    Ok(drift) => found.extend(drift),
                    Err(e) => result = Err(e),
                }
            }
            let result = result.map_err(|e| database.explain(e));
            // On a Citus coordinator, the summary says how the tenants are placed.
            if result.is_ok() {
                citus = doctor::citus::summary(&database.pool).await.ok().flatten();
            }
            database.close().await;
            result
        });
        found.extend(live.map_err(|e| url.scrub_error(e))?);
        database = Some(url.redacted());
    }
    found.retain(|d| !ignore.skips(d.code));
    found.sort_by_key(|d| d.severity);
    let checked = match (&database, &citus) {
        (Some(db), Some(citus)) => format!("{} and {db} ({citus})", target.describe()),
        (Some(db), None) => format!("{} and {db}", target.describe()),
        _ => target.describe(),
    };
    let root = dir.to_string_lossy();
    match args.format {
        DoctorFormat::Human => {
            checks::toolchain::print(&printer, &toolchain);
            diagnostics::print_human(&printer, &found, &checked);
        }
        DoctorFormat::Github => {
            diagnostics::print_github(&found, &root)?;
            if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) {
                diagnostics::append_step_summary(std::path::Path::new(&path), &found, &checked, &root)?;
            }
        }
        DoctorFormat::Sarif => {
            let doc = diagnostics::sarif(&found, &root, &rule::sarif_rules(), &rule::help_uri(""));
            crate::output::write_stdout(&serde_json::to_string_pretty(&doc)?)?;
        }
        DoctorFormat::Json => {
            let (errors, warnings) = diagnostics::counts(&found);
            let doc = json!({
                "checked": checked,
                "database": database,
                "errors": errors,
                "warnings": warnings,
                "diagnostics": found,
            });
            let mut doc = doc;
            if args.fix {
                doc["fixed"] = json!(fixed);
            }
            crate::output::write_stdout(&serde_json::to_string_pretty(&doc)?)?;
        }
    }
    // Every file read and parsed is kept to the end: freeing them one by one (2 % of a run on a
    // 200-module foundation) is left to the process's exit, which follows.
    std::mem::forget(target);
    Ok(if found.iter().any(|d| d.severity == Severity::Error) {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    })
}
