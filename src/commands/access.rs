//! `modkit grant|revoke USER ROLE|PERMISSION --tenant T` and `modkit access list`: parse, connect
//! (as `modkit tenant`), call `crate::access`, print.

use anyhow::Result;
use serde_json::json;

use crate::access;
use crate::cli::{AccessAction, AccessArgs, Format, GrantArgs};
use crate::exit::ExitStatus;
use crate::names;
use crate::output::{self, Printer};

use crate::project_db::Session;

pub fn grant(args: &GrantArgs, printer: Printer) -> Result<ExitStatus> {
    change(args, printer, true)
}

pub fn revoke(args: &GrantArgs, printer: Printer) -> Result<ExitStatus> {
    change(args, printer, false)
}

fn change(args: &GrantArgs, printer: Printer, grant: bool) -> Result<ExitStatus> {
    // Checked before connecting: a hostile id never reaches the database.
    access::check_user(&args.user)?;
    names::check_tenant_code(&args.tenant)?;
    let session = Session::open(&args.target, printer)?;
    let pool = session.pool();
    let change = if grant {
        session.run(access::grant(pool, &args.user, &args.what, &args.tenant))?
    } else {
        session.run(access::revoke(pool, &args.user, &args.what, &args.tenant))?
    };
    match args.target.output.format {
        Format::Json => output::write_stdout(&serde_json::to_string_pretty(&json!(change))?)?,
        Format::Human => {
            let (verb, already) = if grant {
                ("Granted", "already held")
            } else {
                ("Revoked", "did not hold")
            };
            let kind = change.kind;
            if change.changed {
                printer.heading(format!(
                    "{verb} {kind} `{}` {} user `{}` in tenant `{}`{}.",
                    change.role,
                    if grant { "to" } else { "from" },
                    change.user,
                    change.tenant,
                    if change.role_created { " (role made)" } else { "" }
                ));
            } else {
                printer.heading(format!(
                    "Nothing to do: user `{}` {already} {kind} `{}` in tenant `{}`.",
                    change.user, change.role, change.tenant
                ));
            }
        }
    }
    Ok(ExitStatus::Success)
}

pub fn list(args: &AccessArgs, printer: Printer) -> Result<ExitStatus> {
    let AccessAction::List(list) = &args.action;
    let session = Session::open(&list.target, printer)?;
    let rows = session.run(access::list(
        session.pool(),
        list.tenant.as_deref(),
        list.user.as_deref(),
    ))?;
    match list.target.output.format {
        Format::Json => {
            output::write_stdout(&serde_json::to_string_pretty(&json!({ "assignments": rows }))?)?
        }
        Format::Human if rows.is_empty() => printer.heading("No role assignments."),
        Format::Human => {
            for r in &rows {
                printer.line(format!(
                    "{}  {}  {}  [{}]",
                    r.tenant,
                    r.user,
                    r.role,
                    r.permissions.join(", ")
                ));
            }
        }
    }
    Ok(ExitStatus::Success)
}
