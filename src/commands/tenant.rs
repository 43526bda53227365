//! `modkit tenant list|add|rename|remove`: parse, connect as `modkit bootstrap` does, call the
//! engines (`crate::tenants`, and the bootstrap engine for `add`, on that one tenant), print.

use std::io::{BufRead, IsTerminal, Write};
use std::time::Instant;

use anyhow::Result;
use serde_json::json;

use crate::cli::{DbTarget, Format, TenantAction, TenantArgs};
use crate::db::bootstrap::{self, Mode, Request, TenantSpec, render};
use crate::exit::{ExitStatus, UserError};
use crate::output::{self, Printer};
use crate::project_db::Session;
use crate::{modules, names, tenants};

pub fn run(args: &TenantArgs, printer: Printer) -> Result<ExitStatus> {
    match &args.action {
        TenantAction::List { exact_size, target } => list(target, *exact_size, printer),
        TenantAction::Add { code, name, target } => add(code, name.as_deref(), target, printer),
        TenantAction::Rename { code, to, target } => {
            names::check_tenant_code(code)?;
            names::check_tenant_code(to)?;
            let session = Session::open(target, printer)?;
            let (old, new) = session.run(tenants::rename(session.pool(), code, to))?;
            match target.output.format {
                Format::Json => output::write_stdout(&serde_json::to_string_pretty(
                    &json!({ "renamed": code, "to": to, "schema": { "from": old, "to": new } }),
                )?)?,
                Format::Human => printer.heading(format!(
                    "Renamed tenant `{code}` to `{to}` (schema {old} is now {new})."
                )),
            }
            Ok(ExitStatus::Success)
        }
        TenantAction::Remove { code, yes, target } => remove(code, *yes, target, printer),
        TenantAction::Clone {
            code,
            to,
            data,
            target,
        } => {
            names::check_tenant_code(code)?;
            names::check_tenant_code(to)?;
            let session = Session::open(target, printer)?;
            let cloned = session.run(tenants::clone(session.pool(), code, to, *data))?;
            match target.output.format {
                Format::Json => output::write_stdout(&serde_json::to_string_pretty(&json!({ "cloned": cloned }))?)?,
                Format::Human => printer.heading(format!(
                    "Cloned tenant `{code}` to `{to}` (schema {}): {} table(s), {} index(es) and key(s), {} sequence(s){}.",
                    cloned.schema,
                    cloned.tables,
                    cloned.indexes,
                    cloned.sequences,
                    if *data {
                        format!(", {} row(s)", cloned.rows)
                    } else {
                        String::new()
                    }
                )),
            }
            Ok(ExitStatus::Success)
        }
    }
}

fn list(target: &DbTarget, exact: bool, printer: Printer) -> Result<ExitStatus> {
    let session = Session::open(target, printer)?;
    let modules = modules::discover(&session.project)?;
    let rows = session.run(tenants::list(session.pool(), &modules, exact))?;
    match target.output.format {
        Format::Json => output::write_stdout(&serde_json::to_string_pretty(&json!({ "tenants": rows }))?)?,
        Format::Human if rows.is_empty() => {
            printer.heading("No tenants yet: `modkit tenant add CODE` (or `modkit bootstrap`) makes one.");
        }
        Format::Human => {
            let citus = rows.iter().any(|r| r.worker.is_some());
            let mut table = vec![vec![
                "CODE".to_string(),
                "NAME".to_string(),
                "SCHEMA".to_string(),
                "SIZE".to_string(),
                "PENDING".to_string(),
            ]];
            if citus {
                table[0].push("WORKER".to_string());
            }
            for r in &rows {
                let mut line = vec![
                    r.code.clone(),
                    r.name.clone(),
                    r.schema.clone(),
                    r.size_bytes
                        .map_or_else(|| "(no schema)".to_string(), tenants::human_size),
                    r.pending_migrations.to_string(),
                ];
                if citus {
                    line.push(r.worker.clone().unwrap_or_else(|| "-".to_string()));
                }
                table.push(line);
            }
            let widths: Vec<usize> = (0..table[0].len())
                .map(|i| table.iter().map(|l| l[i].chars().count()).max().unwrap_or(0))
                .collect();
            for line in table {
                let cells: Vec<String> = line
                    .iter()
                    .zip(&widths)
                    .map(|(cell, w)| format!("{cell:<w$}"))
                    .collect();
                printer.line(cells.join("  ").trim_end());
            }
        }
    }
    Ok(ExitStatus::Success)
}

fn add(code: &str, name: Option<&str>, target: &DbTarget, printer: Printer) -> Result<ExitStatus> {
    names::check_tenant_code(code)?;
    if let Some(name) = name {
        names::check_display_name(name)?;
    }
    let session = Session::open(target, printer)?;
    let request = Request {
        modules: modules::discover(&session.project)?,
        tenants: vec![TenantSpec {
            code: code.to_string(),
            name: name.unwrap_or(code).to_string(),
            domain: None,
        }],
        dev: None,
        jobs: 1,
        mode: Mode::Apply,
        // This tenant alone: a migration pending elsewhere is `modkit bootstrap`'s to apply.
        only_named: true,
    };
    let started = Instant::now();
    let report = session.run(bootstrap::run(
        session.pool(),
        &request,
        &indicatif::ProgressBar::hidden(),
    ))?;
    let url = &session.url;
    let status = if report.failures.is_empty() {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    };
    match target.output.format {
        Format::Json => render::json(url, &request, &report, status, started.elapsed())?,
        Format::Human => render::human(printer, url, &request, &report, started.elapsed()),
    }
    Ok(status)
}

fn remove(code: &str, yes: bool, target: &DbTarget, printer: Printer) -> Result<ExitStatus> {
    names::check_tenant_code(code)?;
    let interactive = std::io::stdin().is_terminal();
    if !yes && !interactive {
        return Err(UserError::new(format!(
            "refusing to remove tenant `{code}` without --yes: stdin is not a terminal to ask on; nothing was changed"
        ))
        .hint(format!("run `modkit tenant remove {code} --yes` to drop its schema and its rows in the system tables"))
        .into());
    }
    let session = Session::open(target, printer)?;
    let pool = session.pool();
    let removed = session.run(async {
            if !yes {
                let what = tenants::describe_removal(pool, code).await?;
                eprint!(
                    "Remove tenant `{code}`: drop schema {} with all its data, {} role(s), {} role assignment(s), {} migration record(s)?\nType the tenant's code to confirm: ",
                    what.schema, what.roles, what.user_roles, what.migrations
                );
                let _ = std::io::stderr().flush();
                let mut answer = String::new();
                std::io::stdin().lock().read_line(&mut answer)?;
                if answer.trim() != code {
                    return Err(UserError::new(format!("tenant `{code}` was not removed: the answer was not its code"))
                        .hint("nothing was changed")
                        .into());
                }
            }
            tenants::remove(pool, code).await
    })?;
    match target.output.format {
        Format::Json => output::write_stdout(&serde_json::to_string_pretty(&json!({ "removed": removed }))?)?,
        Format::Human => printer.heading(format!(
            "Removed tenant `{code}`: {}, {} role(s), {} role assignment(s), {} migration record(s).",
            if removed.schema_dropped {
                format!("schema {} dropped", removed.schema)
            } else {
                format!("schema {} was already gone", removed.schema)
            },
            removed.roles,
            removed.user_roles,
            removed.migrations
        )),
    }
    Ok(ExitStatus::Success)
}
