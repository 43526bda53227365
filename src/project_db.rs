//! The project's database, as every command finds it: the URL (`--db`, DATABASE_URL, .env,
//! modkit.toml, PG*, else the project's local database, started when needed), the first bootstrap
//! of a fresh local cluster, the bootstrap run itself with its progress and report, and a session
//! on that database for the tenant and access commands. Commands call this; it calls no command.

use std::io::IsTerminal;
use std::time::Instant;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sqlx::PgPool;

use crate::cli::{BootstrapArgs, DbArgs, DbTarget, Format, OutputArgs, Timeouts};
use crate::db::bootstrap::{self, DevSeed, Mode, Report, Request, TenantSpec, render};
use crate::db::connect;
use crate::db::url::{DbUrl, UrlSource};
use crate::exit::{ExitStatus, UserError};
use crate::localdb::{LocalDb, Started};
use crate::modules;
use crate::names;
use crate::output::{Level, Printer};
use crate::project::Project;

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
        if execute(&args, project, &url, printer)? == ExitStatus::Success {
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

/// The database URL (`DbUrl::resolve_given`: `--db`, `DATABASE_URL`, `.env`, modkit.toml, the PG*
/// variables), and when none is given the project's local database, started (not bootstrapped: the
/// caller does that) if needed.
pub fn resolve_url(flag: Option<&str>, project: &Project, printer: Printer) -> Result<DbUrl> {
    if let Some(url) = DbUrl::resolve_given(flag, project)? {
        for warning in url.password_warnings() {
            printer.warn(warning);
        }
        return Ok(url);
    }
    if !holds_a_project(project) {
        return DbUrl::resolve(flag, project); // "no database URL given", with the ways to give one
    }
    let started = start(project, None, printer, false)?;
    DbUrl::parse(&started.url, UrlSource::Local)
}

/// Bootstrap `project` on `url` as `args` ask (`modkit db start` calls it for a fresh cluster).
pub fn execute(args: &BootstrapArgs, project: &Project, url: &DbUrl, printer: Printer) -> Result<ExitStatus> {
    let modules = modules::discover(project)?;
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
    let dev = dev_seed(project, args, &modules);
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
        tenants.extend(TenantSpec::read_file(file)?);
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
        only_named: false,
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let started = Instant::now();
    let progress = progress_bar(args.output.format, printer, url, mode);
    let report = runtime.block_on(async {
        let connections = u32::try_from(jobs).unwrap_or(u32::MAX);
        // A sandbox's own dev database (named in modkit.toml) is created when missing; a database
        // named by --db or DATABASE_URL never is.
        let create_missing =
            mode == Mode::Apply && matches!(url.source, UrlSource::ProjectFile | UrlSource::Local);
        let settings = connect::Settings::new(&args.db.timeouts, connections, create_missing);
        let database = connect::connect(url, settings, printer).await?;
        let result = bootstrap::run(&database.pool, &request, &progress)
            .await
            .map_err(|e| database.explain(e));
        let created = database.created;
        database.close().await;
        result.map(|report| Report {
            database_created: created,
            ..report
        })
    });
    progress.finish_and_clear();
    let report = report.map_err(|e| url.scrub_error(e))?;

    let status = if !report.failures.is_empty() || (mode == Mode::Check && !report.pending.is_empty()) {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    };
    match args.output.format {
        Format::Json => render::json(url, &request, &report, status, started.elapsed())?,
        Format::Human => render::human(printer, url, &request, &report, started.elapsed()),
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

/// In a sandbox, the dev tenants of modkit.toml plus any `--tenant` get the dev role. In a
/// foundation with a `[dev]` section (the starter foundation has one), the dev user gets one role,
/// `developer`, holding every permission of every module, in the dev tenants of modkit.toml: so
/// that a foundation bootstrapped by modkit (`modkit db start`) answers 200 to its dev user, as one
/// bootstrapped by its own `npm run bootstrap` does (the same role: server/bootstrap.ts, devRoles).
fn dev_seed(project: &Project, args: &BootstrapArgs, modules: &[modules::Module]) -> Option<DevSeed> {
    if project.file.module.is_none()
        && project.file.foundation.is_some()
        && let Some(dev) = project.file.dev.as_ref()
    {
        modules.first()?;
        return Some(DevSeed {
            user: dev.user.clone(),
            role_code: "developer".to_string(),
            role_name: "Developer (every module)".to_string(),
            tenants: dev.tenants.clone(),
        });
    }
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

/// Hidden unless a person watches stderr. Its first line says what runs where (the report's
/// heading, printed once the work is done, replaces it); the rate is in whole tenants a second.
/// The bar under its header line.
const PROGRESS_TEMPLATE: &str = "{msg}\n  tenants {bar:30} {pos}/{len} {rate} eta {eta}";

fn progress_bar(format: Format, printer: Printer, url: &DbUrl, mode: Mode) -> ProgressBar {
    if format != Format::Human || printer.level == Level::Quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(PROGRESS_TEMPLATE)
            .map(|style| style.with_key("rate", rate))
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(progress_header(url, mode));
    bar
}

fn progress_header(url: &DbUrl, mode: Mode) -> String {
    let verb = match mode {
        Mode::Apply => "bootstrap",
        Mode::Check => "bootstrap --check",
        Mode::DryRun => "bootstrap --dry-run",
    };
    format!("modkit {verb}: {}", url.redacted())
}

/// `37/s`, not indicatif's `37.4821/s`.
fn rate(state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write) {
    let _ = write!(w, "{:.0}/s", state.per_sec());
}

/// A connection to the database a command targets: resolved as every command does (`--db`,
/// DATABASE_URL, .env, modkit.toml, PG*, the local database), closed on drop of the runtime.
pub struct Session {
    runtime: tokio::runtime::Runtime,
    database: Option<connect::Database>,
    pub url: DbUrl,
    pub project: Project,
}

impl Session {
    pub fn open(target: &DbTarget, printer: Printer) -> Result<Self> {
        let project = Project::load(&crate::project::find_root(&target.project))?;
        Self::open_in(project, &target.db, printer)
    }

    /// `open`, for a command that found its project itself (`modkit db query`).
    pub fn open_in(project: Project, db: &DbArgs, printer: Printer) -> Result<Self> {
        let target = db;
        let url = resolve_url(target.url.as_deref(), &project, printer)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        let settings = connect::Settings::new(&target.timeouts, 2, false);
        let database = runtime
            .block_on(connect::connect(&url, settings, printer))
            .map_err(|e| url.scrub_error(e))?;
        Ok(Self {
            runtime,
            database: Some(database),
            url,
            project,
        })
    }

    pub fn pool(&self) -> &PgPool {
        &self.database.as_ref().expect("open until closed").pool
    }

    /// Run `work` to its end; its error made actionable and without the password.
    pub fn run<T>(&self, work: impl std::future::Future<Output = Result<T>>) -> Result<T> {
        let database = self.database.as_ref().expect("open until closed");
        self.runtime
            .block_on(work)
            .map_err(|e| self.url.scrub_error(database.explain(e)))
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(database) = self.database.take() {
            self.runtime.block_on(database.close());
        }
    }
}
