//! The bootstrap report for people (`--format human`) and for machines (`--format json`). A
//! renderer only shows the report; the exit status is decided before it runs.

use std::time::Duration;

use anyhow::Result;

use super::{Count, Mode, Report, Request};
use crate::db::url::DbUrl;
use crate::exit::ExitStatus;
use crate::output::Printer;

pub fn human(printer: Printer, url: &DbUrl, req: &Request, report: &Report, elapsed: Duration) {
    for warning in &report.warnings {
        printer.warn(warning);
    }
    for line in &report.tenant_lines {
        printer.detail(line);
    }
    let verb = match req.mode {
        Mode::Apply => "bootstrap",
        Mode::Check => "bootstrap --check",
        Mode::DryRun => "bootstrap --dry-run",
    };
    let citus = report.citus.as_ref().map_or_else(String::new, |c| {
        format!(", Citus {} coordinator with {} worker(s)", c.version, c.workers)
    });
    printer.heading(format!(
        "modkit {verb}: {} (PostgreSQL {}{citus})",
        url.redacted(),
        report.server_version
    ));
    if report.database_created {
        printer.line(format!("  database         created ({})", url.source.describe()));
    }
    match req.mode {
        Mode::DryRun => {
            if report.sql.is_empty() {
                printer.line("Nothing to do: the database is up to date.");
            } else {
                printer.line("-- The SQL this bootstrap would run (nothing was changed):");
                for statement in &report.sql {
                    let terminated = statement.ends_with(';')
                        || statement.lines().last().is_some_and(|l| l.starts_with("--"));
                    printer.line(if terminated {
                        statement.clone()
                    } else {
                        format!("{statement};")
                    });
                }
            }
        }
        Mode::Check => {
            if report.pending.is_empty() && report.failures.is_empty() {
                printer.line("Up to date: nothing is pending.");
            }
            for line in &report.pending {
                printer.line(format!("  pending: {line}"));
            }
        }
        Mode::Apply => {
            let row = |label: &str, c: Count, made: &str, there: &str| {
                printer.line(format!(
                    "  {label:<16} {} {made}, {} {there}",
                    c.created, c.existing
                ));
            };
            row("pgcrypto", report.pgcrypto, "created", "already there");
            if !report.extensions.is_zero() {
                row("extensions", report.extensions, "created", "already there");
            }
            row("system tables", report.system_tables, "created", "already there");
            row("permissions", report.permissions, "registered", "already there");
            row("tenants", report.tenants, "created", "already there");
            row("tenant schemas", report.schemas, "created", "already there");
            row("migrations", report.migrations, "applied", "already applied");
            if let Some(citus) = &report.citus {
                // Schema-based sharding: each tenant schema placed whole on one worker.
                row("distributed", citus.distributed, "distributed", "already were");
            }
            if req.dev.is_some() {
                row("dev grants", report.dev_grants, "granted", "already there");
            }
            let modules = req
                .modules
                .iter()
                .map(|m| m.id.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            let modules = if modules.is_empty() {
                "no module".to_string()
            } else {
                format!("module {modules}")
            };
            if report.failures.is_empty() && !report.changed() {
                printer.line(format!(
                    "Nothing to do: the database was already up to date ({modules}). {:.2}s",
                    elapsed.as_secs_f64()
                ));
            } else if report.failures.is_empty() {
                printer.line(format!("Done ({modules}) in {:.2}s.", elapsed.as_secs_f64()));
            }
        }
    }
    if !report.failures.is_empty() {
        eprintln!("{} tenant(s) failed:", report.failures.len());
        for failure in &report.failures {
            eprintln!(
                "  {} {}: {}",
                console::style("error:").red().bold(),
                failure.tenant,
                url.scrub(&failure.message)
            );
        }
        let hint = match req.mode {
            Mode::Apply => {
                "the other tenants were done; fix the cause and run again: it picks up exactly what is missing"
            }
            Mode::Check | Mode::DryRun => "nothing was changed; fix the cause, then bootstrap",
        };
        eprintln!("{} {hint}", console::style("hint:").cyan().bold());
    }
}

pub fn json(
    url: &DbUrl,
    req: &Request,
    report: &Report,
    status: ExitStatus,
    elapsed: Duration,
) -> Result<()> {
    let modules: Vec<&str> = req.modules.iter().map(|m| m.id.as_str()).collect();
    let doc = serde_json::json!({
        "database": url.redacted(),
        "mode": req.mode,
        "modules": modules,
        "changed": report.changed(),
        "ok": status == ExitStatus::Success,
        "elapsed_ms": elapsed.as_millis() as u64,
        "report": report,
    });
    let text = serde_json::to_string_pretty(&doc)?;
    crate::output::write_stdout(&url.scrub(&text))?;
    Ok(())
}
