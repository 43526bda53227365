//! `modkit db start|stop|status|url|logs|reset`: the project's own local PostgreSQL (src/localdb).

use anyhow::Result;

use crate::cli::{BootstrapArgs, DbAction, DbArgs, DbCommandArgs, Format, OutputArgs, Timeouts};
use crate::db::url::{DbUrl, UrlSource};
use crate::exit::{ExitStatus, UserError};
use crate::localdb::{self, LocalDb, Started, State};
use crate::output::Printer;
use crate::project::Project;

pub fn run(args: &DbCommandArgs, printer: Printer) -> Result<ExitStatus> {
    let project = Project::load(&crate::project::find_root(&args.project))?;
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

/// The local database of a project: its database is `<module>_dev` in a sandbox, `app_dev` elsewhere.
pub fn local(project: &Project) -> LocalDb {
    let name = project
        .file
        .module
        .as_ref()
        .map_or_else(|| "app".to_string(), |m| m.id.replace('-', "_"));
    // Absolute, so messages and pg_ctl's -D name the real folder, not `.`.
    let root = std::fs::canonicalize(&project.root).unwrap_or_else(|_| project.root.clone());
    LocalDb::new(&root, &format!("{name}_dev"))
}

/// The port asked for the local database: MODKIT_PG_PORT, else `[database] port` in modkit.toml.
fn wanted_port(project: &Project) -> Result<Option<u16>> {
    match std::env::var("MODKIT_PG_PORT") {
        Ok(raw) if !raw.trim().is_empty() => match raw.trim().parse::<u16>() {
            Ok(port) if port > 0 => Ok(Some(port)),
            _ => Err(
                UserError::new(format!("MODKIT_PG_PORT={raw} is not a port number (1-65535)"))
                    .hint("set it to a free port, e.g. MODKIT_PG_PORT=55432, or unset it")
                    .into(),
            ),
        },
        _ => Ok(project.file.database.port),
    }
}

/// `start` on the port asked for (`--port`, else `wanted_port`).
pub fn start_on(
    project: &Project,
    run_as: Option<&str>,
    port: Option<u16>,
    printer: Printer,
    bootstrap: bool,
) -> Result<Started> {
    let port = match port {
        Some(p) => Some(p),
        None => wanted_port(project)?,
    };
    start_with(
        local(project).with_port(port),
        project,
        run_as,
        printer,
        bootstrap,
    )
}

/// Start (or reuse) the project's local database; with `bootstrap`, a cluster never bootstrapped
/// is bootstrapped now, with modkit's own engine.
pub fn start(project: &Project, run_as: Option<&str>, printer: Printer, bootstrap: bool) -> Result<Started> {
    start_on(project, run_as, None, printer, bootstrap)
}

fn start_with(
    db: LocalDb,
    project: &Project,
    run_as: Option<&str>,
    printer: Printer,
    bootstrap: bool,
) -> Result<Started> {
    let started = db.start(run_as)?;
    let url = DbUrl::parse(&started.url, UrlSource::Local)?;
    if started.reused {
        printer.detail(format!("the local database is running: {}", url.redacted()));
    } else {
        let how = if started.created {
            "made and started"
        } else {
            "started"
        };
        let from = started
            .binaries
            .as_ref()
            .map(|(version, source)| format!(" (PostgreSQL {version} from {source})"))
            .unwrap_or_default();
        printer.line(format!("{how} the local database{from}: {}", url.redacted()));
    }
    if bootstrap && started.needs_bootstrap {
        let args = BootstrapArgs {
            db: DbArgs {
                url: None,
                timeouts: Timeouts {
                    connect_timeout: 10,
                    lock_timeout: 60,
                },
            },
            tenants: Vec::new(),
            tenants_file: None,
            project: project.root.clone(),
            jobs: None,
            dry_run: false,
            check: false,
            output: OutputArgs {
                format: Format::Human,
            },
        };
        if crate::commands::bootstrap::execute(&args, project, &url, printer)? == ExitStatus::Success {
            db.mark_bootstrapped()?;
        }
    }
    Ok(started)
}

/// A cluster (60 MB of data) is made only where a project is (a sandbox's modkit.toml, a
/// foundation's src/modules), never in a folder named by mistake.
pub fn holds_a_project(project: &Project) -> bool {
    project.root.join(crate::project::PROJECT_FILE).is_file() || project.root.join("src/modules").is_dir()
}

/// The local database's URL when it has been made (whether it runs or not).
pub fn made_local_url(project: &Project) -> Option<DbUrl> {
    DbUrl::parse(&local(project).url()?, UrlSource::Local).ok()
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
