//! `modkit db start|stop|status|url|logs|reset`: the project's own local PostgreSQL (src/localdb).

use anyhow::Result;

use crate::cli::{DbAction, DbCommandArgs};
use crate::db::url::{DbUrl, UrlSource};
use crate::exit::{ExitStatus, UserError};
use crate::localdb::{self, LocalDb, State};
use crate::output::Printer;
use crate::project::Project;
use crate::project_db::{holds_a_project, local, start_on};

pub fn run(args: &DbCommandArgs, printer: Printer) -> Result<ExitStatus> {
    let project = Project::load(&crate::project::find_root(&args.project))?;
    match &args.action {
        DbAction::Psql { tenant, db, args } => {
            return super::db_sql::psql(project, tenant.as_deref(), db, args, printer);
        }
        DbAction::Query {
            sql,
            tenant,
            db,
            output,
        } => {
            return super::db_sql::query(project, sql, tenant.as_deref(), db, output.format, printer);
        }
        _ => {}
    }
    let db = local(&project);
    match &args.action {
        DbAction::Start {
            run_as,
            create_user,
            port,
        } => {
            if !holds_a_project(&project) {
                return Err(UserError::new(format!(
                    "{} is not a modkit project (no modkit.toml, no src/modules)",
                    project.root.display()
                ))
                .hint("run it in a sandbox (modkit init) or a foundation, or pass --project DIR")
                .into());
            }
            let run_as = if *create_user {
                let name = run_as.as_deref().unwrap_or(localdb::DEFAULT_SYSTEM_USER);
                localdb::check_run_as(&db.project, name)?;
                if localdb::create_system_user(name)? {
                    printer.line(format!(
                        "created the system user {name} (useradd --system; no home, no login shell) to run the local database"
                    ));
                }
                Some(name.to_string())
            } else {
                run_as.clone()
            };
            start_on(&project, run_as.as_deref(), *port, printer, true)?;
            Ok(ExitStatus::Success)
        }
        DbAction::Stop => {
            if db.stop()? {
                printer.line(format!("stopped the local database in {}", db.dir.display()));
            } else {
                printer.line("the local database is not running");
            }
            Ok(ExitStatus::Success)
        }
        // As root these read the owner's files, so they run as the owner (src/localdb/owner.rs).
        DbAction::Status => {
            let failed = localdb::as_owner(&db.project, None, || {
                Ok(status(&db, printer) != ExitStatus::Success)
            })?;
            Ok(if failed {
                ExitStatus::Failure
            } else {
                ExitStatus::Success
            })
        }
        DbAction::Url => {
            let url = localdb::as_owner(&db.project, None, || {
                if let Some(original) = db.copied_from() {
                    return Err(copied(&original));
                }
                db.url().ok_or_else(not_made)
            })?;
            println!("{}", DbUrl::parse(&url, UrlSource::Local)?.redacted());
            Ok(ExitStatus::Success)
        }
        DbAction::Logs { lines } => {
            println!(
                "{}",
                localdb::as_owner(&db.project, None, || db.log_tail(*lines))?
            );
            Ok(ExitStatus::Success)
        }
        DbAction::Psql { .. } | DbAction::Query { .. } => unreachable!("run above"),
        DbAction::Reset => {
            if db.reset()? {
                printer.line(format!(
                    "deleted the local database in {} (the next start makes a fresh one)",
                    db.dir.display()
                ));
            } else {
                printer.line("there is no local database to delete");
            }
            Ok(ExitStatus::Success)
        }
    }
}

fn status(db: &LocalDb, printer: Printer) -> ExitStatus {
    let shown = db
        .url()
        .and_then(|u| DbUrl::parse(&u, UrlSource::Local).ok())
        .map(|u| u.redacted())
        .unwrap_or_default();
    let binaries = match db.binaries() {
        Ok(b) => format!(
            "{} (PostgreSQL {}, from {})",
            b.dir.display(),
            b.version().unwrap_or_default(),
            b.source
        ),
        Err(e) => format!("none found ({e})"),
    };
    let (line, code) = match db.state() {
        State::Absent => (
            "not made yet (modkit db start makes it)".to_string(),
            ExitStatus::Failure,
        ),
        State::Stopped => match db.copied_from() {
            Some(original) => (
                format!(
                    "stopped; copied from {} (its next start gives this copy a port of its own)",
                    original.display()
                ),
                ExitStatus::Failure,
            ),
            None => (format!("stopped: {shown}"), ExitStatus::Failure),
        },
        State::Running { pid } => {
            let port = db.port().unwrap_or_default();
            let answers = if localdb::answers(port) {
                ""
            } else {
                ", not answering yet"
            };
            (
                format!("running (pid {pid}{answers}): {shown}"),
                ExitStatus::Success,
            )
        }
    };
    printer.line(format!("local database: {line}"));
    printer.line(format!("  folder:       {}", db.dir.display()));
    printer.line(format!(
        "  bootstrapped: {}",
        if db.bootstrapped() { "yes" } else { "no" }
    ));
    printer.line(format!("  binaries:     {binaries}"));
    code
}

/// A `.modkit/pg` copied from another project: its url file is the original's server.
fn copied(original: &std::path::Path) -> anyhow::Error {
    UserError::new(format!(
        "this project's local database was copied from {}, and its url still names that server",
        original.display()
    ))
    .hint("`modkit db start` (or npm run dev) gives the copy a port of its own; or `modkit db reset` makes a fresh one")
    .into()
}

fn not_made() -> anyhow::Error {
    UserError::new("there is no local database in this project yet")
        .hint("`modkit db start` makes one (run it in the sandbox, or pass --project DIR)")
        .into()
}
