//! `modkit doctor [DIR] [--db [URL]]`: report what is broken or drifting; exit 1 on any error.

use anyhow::{Context, Result};
use serde_json::json;

use crate::cli::{DoctorArgs, DoctorFormat};
use crate::db::connect;
use crate::db::url::DbUrl;
use crate::diagnostics::{self, Severity};
use crate::doctor::{self, Target};
use crate::exit::ExitStatus;
use crate::output::Printer;

pub fn run(args: &DoctorArgs, printer: Printer) -> Result<ExitStatus> {
    // From a subfolder too, as cargo finds its manifest.
    let dir = crate::project::find_root(&args.dir);
    let target = Target::load(&dir)?;
    let mut found = doctor::run_static(&target)?;
    let mut database = None;
    let mut citus = None;
    if let Some(flag) = &args.db {
        let flag = Some(flag.as_str()).filter(|f| !f.is_empty());
        // Like bootstrap, the project's local database when no URL is given; doctor only reads,
        // so it never starts it (a stopped one is "cannot reach", with the hint to start it).
        let url = match DbUrl::resolve_given(flag, &target.project)? {
            Some(url) => url,
            None => crate::commands::db::made_local_url(&target.project)
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
            let result = doctor::live::run(&database.pool, &target.project)
                .await
                .map_err(|e| database.explain(e));
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
    found.sort_by_key(|d| d.severity);
    let checked = match (&database, &citus) {
        (Some(db), Some(citus)) => format!("{} and {db} ({citus})", target.describe()),
        (Some(db), None) => format!("{} and {db}", target.describe()),
        _ => target.describe(),
    };
    match args.format {
        DoctorFormat::Human => diagnostics::print_human(&printer, &found, &checked),
        DoctorFormat::Github => diagnostics::print_github(&found, &dir.to_string_lossy())?,
        DoctorFormat::Json => {
            let (errors, warnings) = diagnostics::counts(&found);
            let doc = json!({
                "checked": checked,
                "database": database,
                "errors": errors,
                "warnings": warnings,
                "diagnostics": found,
            });
            crate::output::write_stdout(&serde_json::to_string_pretty(&doc)?)?;
        }
    }
    Ok(if found.iter().any(|d| d.severity == Severity::Error) {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    })
}
