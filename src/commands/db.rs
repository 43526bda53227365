//! `modkit db start|stop|status|url|logs|reset`: the project's own local PostgreSQL (src/localdb);
//! `modkit db psql|query`: look at the tables of the database every command uses (src/project_db.rs),
//! with psql when there is one and without when there is not (src/db/query.rs).

use std::os::unix::process::CommandExt;

use anyhow::Result;
use serde_json::json;

use crate::cli::{DbAction, DbArgs, DbCommandArgs, Format};
use crate::db::query::{self, PsqlLaunch};
use crate::db::url::{DbUrl, UrlSource};
use crate::exit::{ExitStatus, UserError};
use crate::localdb::{self, LocalDb, State};
use crate::names;
use crate::output::{self, Printer};
use crate::project::Project;
use crate::project_db::{Session, holds_a_project, local, resolve_url, start_on};

pub fn run(args: &DbCommandArgs, printer: Printer) -> Result<ExitStatus> {
    let project = Project::load(&crate::project::find_root(&args.project))?;
    match &args.action {
        DbAction::Psql { tenant, db, args } => {
            return psql(project, tenant.as_deref(), db, args, printer);
        }
        DbAction::Query {
            sql,
            tenant,
            db,
            output,
        } => {
            return query(project, sql, tenant.as_deref(), db, output.format, printer);
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

/// Replace this process with psql, connected as the project's commands connect.
pub fn psql(
    project: Project,
    tenant: Option<&str>,
    db: &DbArgs,
    extra: &[String],
    printer: Printer,
) -> Result<ExitStatus> {
    let program = which::which("psql").map_err(|_| {
        UserError::new("there is no psql on PATH (the embedded PostgreSQL package has none)")
            .hint("`modkit db query \"SELECT ...\"` runs a statement with modkit's own driver; or install the PostgreSQL client (e.g. apt install postgresql-client) and run this again")
    })?;
    if let Some(code) = tenant {
        names::check_tenant_code(code)?;
    }
    let (url, schema) = match tenant {
        Some(code) => {
            let session = Session::open_in(project, db, printer)?;
            let schema = session.run(query::tenant_schema(session.pool(), code))?;
            (session.url.clone(), Some(schema))
        }
        None => (resolve_url(db.url.as_deref(), &project, printer)?, None),
    };
    let existing = std::env::var("PGOPTIONS").ok();
    let launch = PsqlLaunch::new(url.secret(), schema.as_deref(), existing.as_deref())?;
    printer.detail(format!(
        "running {} on {}{}",
        program.display(),
        url.redacted(),
        schema
            .as_deref()
            .map(|s| format!(" (search_path {})", query::tenant_search_path(s)))
            .unwrap_or_default()
    ));
    let mut command = std::process::Command::new(&program);
    command.arg("-d").arg(&launch.url).args(extra);
    if let Some(password) = &launch.password {
        command.env("PGPASSWORD", password);
    }
    if let Some(options) = &launch.options {
        command.env("PGOPTIONS", options);
    }
    let err = command.exec();
    Err(UserError::new(format!("cannot run {}: {err}", program.display()))
        .hint("check that it is an executable psql")
        .into())
}

/// Run one statement and print what it gave: an aligned table, or JSON.
pub fn query(
    project: Project,
    sql: &str,
    tenant: Option<&str>,
    db: &DbArgs,
    format: Format,
    printer: Printer,
) -> Result<ExitStatus> {
    let statement = query::single_statement(sql)?;
    if let Some(code) = tenant {
        names::check_tenant_code(code)?;
    }
    let session = Session::open_in(project, db, printer)?;
    let schema = match tenant {
        Some(code) => Some(session.run(query::tenant_schema(session.pool(), code))?),
        None => None,
    };
    let answer = match session.run(query::run(session.pool(), schema.as_deref(), statement))? {
        Ok(answer) => answer,
        Err(text) => {
            let err: anyhow::Error = UserError::new(format!(
                "the server refused the statement: {}",
                session.url.scrub(&text)
            ))
            .hint("fix the statement; nothing it would have changed was kept")
            .into();
            match format {
                Format::Json => output::write_stdout(&output::error_json(&err, ExitStatus::Failure))?,
                Format::Human => output::print_error(&err),
            }
            return Ok(ExitStatus::Failure);
        }
    };
    match format {
        Format::Json => {
            let rows: Vec<serde_json::Value> = answer
                .rows
                .iter()
                .map(|row| {
                    row.iter()
                        .zip(&answer.columns)
                        .map(|(value, (_, ty))| query::json_value(ty, value.as_deref()))
                        .collect()
                })
                .collect();
            let columns: Vec<serde_json::Value> = answer
                .columns
                .iter()
                .map(|(name, ty)| json!({ "name": name, "type": ty }))
                .collect();
            output::write_stdout(&serde_json::to_string_pretty(&json!({
                "columns": columns,
                "rows": rows,
                "rows_affected": answer.rows_affected,
                "search_path": schema.as_deref().map(query::tenant_search_path),
            }))?)?;
        }
        Format::Human => print_table(&answer)?,
    }
    Ok(ExitStatus::Success)
}

/// psql's aligned format: the header, a rule, the rows, then `(N rows)`.
fn print_table(answer: &query::Answer) -> Result<()> {
    if answer.columns.is_empty() {
        output::write_stdout(&format!("done ({} row(s) affected)", answer.rows_affected))?;
        return Ok(());
    }
    let cells: Vec<Vec<String>> = answer
        .rows
        .iter()
        .map(|row| row.iter().map(|v| query::cell(v.as_deref())).collect())
        .collect();
    let widths: Vec<usize> = answer
        .columns
        .iter()
        .enumerate()
        .map(|(i, (name, _))| {
            cells
                .iter()
                .map(|row| row.get(i).map_or(0, |c| c.chars().count()))
                .chain([name.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |values: Vec<&str>| -> String {
        values
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!(" {v:<w$} "))
            .collect::<Vec<_>>()
            .join("|")
            .trim_end()
            .to_string()
    };
    let mut out = vec![line(answer.columns.iter().map(|(n, _)| n.as_str()).collect())];
    out.push(
        widths
            .iter()
            .map(|w| "-".repeat(w + 2))
            .collect::<Vec<_>>()
            .join("+"),
    );
    for row in &cells {
        out.push(line(row.iter().map(String::as_str).collect()));
    }
    let n = answer.rows.len();
    out.push(format!("({n} row{})", if n == 1 { "" } else { "s" }));
    output::write_stdout(&out.join("\n"))?;
    Ok(())
}
