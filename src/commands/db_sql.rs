//! `modkit db psql` and `modkit db query`: look at the project's tables, on the database every
//! command uses (src/project_db.rs), with psql when there is one and without when there is not.

use std::os::unix::process::CommandExt;

use anyhow::Result;
use serde_json::json;

use crate::cli::{DbArgs, Format};
use crate::db::query::{self, PsqlLaunch};
use crate::exit::{ExitStatus, UserError};
use crate::names;
use crate::output::{self, Printer};
use crate::project::Project;
use crate::project_db::{Session, resolve_url};

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
