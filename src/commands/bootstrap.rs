//! `modkit bootstrap`: bring a PostgreSQL database to the state the modules need.

use std::io::IsTerminal;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::{BootstrapArgs, Format};
use crate::db::bootstrap::{self, DevSeed, Mode, Report, Request, TenantSpec};
use crate::db::connect;
use crate::db::url::{DbUrl, UrlSource};
use crate::exit::{ExitStatus, UserError};
use crate::modules;
use crate::names;
use crate::output::{Level, Printer};
use crate::project::Project;

pub fn run(args: &BootstrapArgs, printer: Printer) -> Result<ExitStatus> {
    let project = Project::load(&args.project)?;
    let url = DbUrl::resolve(args.db.url.as_deref(), project.file.database.url.as_deref())?;
    let modules = modules::discover(&project)?;
    let mut tenants = Vec::new();
    // modkit.toml's dev tenants are input like --tenant: a code that breaks the rule could name
    // a schema PostgreSQL cuts to 63 bytes, shared by two tenants.
    for code in project.file.dev.iter().flat_map(|d| &d.tenants) {
        names::check_tenant_code(code).map_err(|e| {
            let file = project.root.join(crate::project::PROJECT_FILE);
            UserError::new(format!("{} [dev] tenants: {}", file.display(), e.message))
                .hint(e.hint.unwrap_or_default())
        })?;
    }
    let dev = dev_seed(&project, args, &modules);
    if let Some(dev) = &dev {
        tenants.extend(dev.tenants.iter().map(|code| TenantSpec {
            code: code.clone(),
            name: code.clone(),
            domain: None,
        }));
    }
    for code in &args.tenants {
        names::check_tenant_code(code)?;
        tenants.push(TenantSpec {
            code: code.clone(),
            name: code.clone(),
            domain: None,
        });
    }
    if let Some(file) = &args.tenants_file {
        tenants.extend(read_tenants_file(file)?);
    }
    let mode = if args.check {
        Mode::Check
    } else if args.dry_run {
        Mode::DryRun
    } else {
        Mode::Apply
    };
    let jobs = args.jobs.unwrap_or_else(default_jobs).max(1);
    let request = Request {
        modules,
        tenants,
        dev,
        jobs,
        mode,
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let started = Instant::now();
    let progress = progress_bar(args.output.format, printer);
    let report = runtime.block_on(async {
        let connections = u32::try_from(jobs).unwrap_or(u32::MAX);
        // A sandbox's own dev database (named in modkit.toml) is created when missing; a database
        // named by --db or DATABASE_URL never is.
        let create_missing = mode == Mode::Apply && url.source == UrlSource::ProjectFile;
        let timeout = Duration::from_secs(args.db.connect_timeout);
        let (pool, created) = connect::connect(&url, connections, timeout, create_missing).await?;
        let result = bootstrap::run(&pool, &request, &progress).await;
        pool.close().await;
        result.map(|report| Report {
            database_created: created,
            ..report
        })
    });
    progress.finish_and_clear();
    let report = report.map_err(|e| scrub_error(&url, e))?;

    let status = if !report.failures.is_empty() || (mode == Mode::Check && !report.pending.is_empty()) {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    };
    match args.output.format {
        Format::Json => print_json(&url, &request, &report, status, started.elapsed())?,
        Format::Human => print_human(printer, &url, &request, &report, started.elapsed()),
    }
    Ok(status)
}

/// Two connections per CPU: a tenant's transaction waits on round trips about as long as the
/// server works on it, so one connection per core leaves the cores idle half the time
/// (docs/performance.md has the measurements). Capped, to stay far from max_connections.
fn default_jobs() -> usize {
    std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .saturating_mul(2)
        .clamp(2, 16)
}

/// In a sandbox, the dev tenants of modkit.toml plus any `--tenant` get the dev role.
fn dev_seed(project: &Project, args: &BootstrapArgs, modules: &[modules::Module]) -> Option<DevSeed> {
    let module = project.file.module.as_ref()?;
    let dev = project.file.dev.as_ref();
    let mut tenants: Vec<String> = dev
        .map(|d| d.tenants.clone())
        .unwrap_or_else(|| vec!["dev".to_string()]);
    for code in &args.tenants {
        if !tenants.contains(code) {
            tenants.push(code.clone());
        }
    }
    let name = module
        .name
        .clone()
        .unwrap_or_else(|| names::title_case(&module.id));
    modules.first()?;
    Some(DevSeed {
        user: dev.map_or_else(|| "dev".to_string(), |d| d.user.clone()),
        role_code: format!("{}.developer", module.id),
        role_name: format!("{name} developer"),
        tenants,
    })
}

/// `code[,name[,domain]]` a line; `#` comments and blank lines skipped.
fn read_tenants_file(path: &Path) -> Result<Vec<TenantSpec>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        UserError::new(format!("cannot read tenants file {}: {e}", path.display()))
            .hint("check the --tenants-file path")
    })?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.splitn(3, ',').map(str::trim);
        let code = fields.next().unwrap_or_default();
        names::check_tenant_code(code).map_err(|e| {
            UserError::new(format!("{}:{}: {}", path.display(), i + 1, e.message))
                .hint(e.hint.unwrap_or_default())
        })?;
        let name = fields
            .next()
            .filter(|s| !s.is_empty())
            .unwrap_or(code)
            .to_string();
        let domain = fields.next().filter(|s| !s.is_empty()).map(str::to_string);
        // A NUL would cut the SQL text short; other control characters are never meant.
        if name
            .chars()
            .chain(domain.iter().flat_map(|d| d.chars()))
            .any(char::is_control)
        {
            return Err(UserError::new(format!(
                "{}:{}: the name or domain of tenant `{code}` holds a control character",
                path.display(),
                i + 1
            ))
            .hint("remove it: a line is `code,name,domain` in plain text")
            .into());
        }
        out.push(TenantSpec {
            code: code.to_string(),
            name,
            domain,
        });
    }
    Ok(out)
}

/// Hidden unless a person watches stderr.
fn progress_bar(format: Format, printer: Printer) -> ProgressBar {
    if format != Format::Human || printer.level == Level::Quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("  tenants {bar:30} {pos}/{len} {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// The driver's error texts may quote the URL: never let the password through.
fn scrub_error(url: &DbUrl, err: anyhow::Error) -> anyhow::Error {
    if err.chain().any(|e| e.is::<UserError>()) && url.secrets().is_empty() {
        return err;
    }
    let text = url.scrub(&format!("{err:#}"));
    match err.chain().find_map(|e| e.downcast_ref::<UserError>()) {
        Some(user) => UserError {
            message: url.scrub(&user.message),
            hint: user.hint.clone(),
        }
        .into(),
        None => anyhow::anyhow!(text),
    }
}

fn print_human(printer: Printer, url: &DbUrl, req: &Request, report: &Report, elapsed: Duration) {
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
    printer.heading(format!(
        "modkit {verb}: {} (PostgreSQL {})",
        url.redacted(),
        report.server_version
    ));
    if report.database_created {
        printer.line("  database         created (named in modkit.toml)");
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
            let row = |label: &str, c: bootstrap::Count, made: &str, there: &str| {
                printer.line(format!(
                    "  {label:<16} {} {made}, {} {there}",
                    c.created, c.existing
                ));
            };
            row("pgcrypto", report.pgcrypto, "created", "already there");
            row("system tables", report.system_tables, "created", "already there");
            row("permissions", report.permissions, "registered", "already there");
            row("tenants", report.tenants, "created", "already there");
            row("tenant schemas", report.schemas, "created", "already there");
            row("migrations", report.migrations, "applied", "already applied");
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

fn print_json(
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
    println!("{}", url.scrub(&text));
    Ok(())
}
