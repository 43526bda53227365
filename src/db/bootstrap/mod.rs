//! The bootstrap engine: read the catalog once, plan what is missing, then do it.
//!
//! Steps, each idempotent: pgcrypto; the system tables; the modules' permissions (one transaction
//! under the database-wide advisory lock); each tenant's row, schema and module migrations (one
//! transaction per tenant under that tenant's advisory lock, so no tenant is ever half made and
//! parallel workers or concurrent runs never race; new tenants up to 16 to a transaction, each in
//! a savepoint, and one at a time again should that fail); the dev role in a sandbox's dev tenants.

mod database;
mod dry_run;
mod guard;
mod plan;
pub mod render;
mod tenant;
mod tenant_script;

use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;
use sqlx::PgPool;

use self::database::{database_wide, seed_dev};
use self::dry_run::dry_run_sql;
use self::plan::{describe_pending, plan_dev, plan_tenants};
use self::tenant::run_tenants;
use crate::db::catalog::{Catalog, SYSTEM_TABLES};
use crate::db::citus::Topology;
use crate::exit::UserError;
use crate::modules::Module;
use crate::names;

#[derive(Debug, Clone, Serialize)]
pub struct TenantSpec {
    pub code: String,
    pub name: String,
    pub domain: Option<String>,
}

impl TenantSpec {
    /// `code[,name[,domain]]` a line, CSV-quoted where needed; `#` comments and blank lines skipped.
    pub fn read_file(path: &Path) -> Result<Vec<TenantSpec>> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            UserError::new(format!("cannot read tenants file {}: {e}", path.display()))
                .hint("check the --tenants-file path")
        })?;
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let at = || format!("{}:{}", path.display(), i + 1);
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            // A line is a CSV record, so that a name holding a comma can be quoted:
            // `acme,"Acme, Inc.",acme.example`. The parser reads an unclosed quote to the end of
            // the line, which is never what was meant: an odd number of quotes is an error.
            if line.matches('"').count() % 2 == 1 {
                return Err(UserError::new(format!("{}: a double quote is not closed", at()))
                    .hint(r#"close the quoted name, and double a quote inside it: acme,"Say ""hi""""#)
                    .into());
            }
            let record = csv::ReaderBuilder::new()
                .has_headers(false)
                .trim(csv::Trim::All)
                .from_reader(line.as_bytes())
                .records()
                .next()
                .transpose()
                .map_err(|e| UserError::new(format!("{}: {e}", at())))?
                .unwrap_or_default();
            if record.len() > 3 {
                return Err(UserError::new(format!(
                    "{}: {} fields, expected at most 3 (code,name,domain)",
                    at(),
                    record.len()
                ))
                .hint(r#"put a name that holds a comma in double quotes, right after its comma: acme,"Acme, Inc.",acme.example"#)
                .into());
            }
            let code = record.get(0).unwrap_or_default();
            names::check_tenant_code(code).map_err(|e| {
                UserError::new(format!("{}: {}", at(), e.message)).hint(e.hint.unwrap_or_default())
            })?;
            let name = record
                .get(1)
                .filter(|s| !s.is_empty())
                .unwrap_or(code)
                .to_string();
            let domain = record.get(2).filter(|s| !s.is_empty()).map(str::to_string);
            // A NUL would cut the SQL text short; other control characters are never meant.
            if name
                .chars()
                .chain(domain.iter().flat_map(|d| d.chars()))
                .any(char::is_control)
            {
                return Err(UserError::new(format!(
                    "{}: the name or domain of tenant `{code}` holds a control character",
                    at()
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
}

/// A sandbox's dev access: one role holding every permission of the module, granted to `user`.
#[derive(Debug, Clone)]
pub struct DevSeed {
    pub user: String,
    pub role_code: String,
    pub role_name: String,
    pub tenants: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    Apply,
    Check,
    DryRun,
}

pub struct Request {
    pub modules: Vec<Module>,
    pub tenants: Vec<TenantSpec>,
    pub dev: Option<DevSeed>,
    pub jobs: usize,
    pub mode: Mode,
    /// Only the tenants named in `tenants` (`modkit tenant add`); else those and every tenant the
    /// database has, so that a new migration reaches them all.
    pub only_named: bool,
}

/// Created vs already there, per step.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct Count {
    pub created: usize,
    pub existing: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct TenantFailure {
    pub tenant: String,
    pub message: String,
    /// What kind of failure, for `doctor --db`'s diagnostic codes.
    #[serde(skip)]
    pub kind: FailureKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// An applied migration's file changed.
    MigrationEdited,
    /// The tenant's schema exists but this role may not use it (USAGE and CREATE).
    SchemaUnusable,
    Other,
}

/// Why a tenant is not bootstrapped in a schema this role may not use, with the fix. PostgreSQL
/// silently leaves such a schema out of search_path, so a migration run "in" it would create its
/// tables somewhere else (in `public`, shared by every tenant, before modkit scoped migrations to
/// the tenant's schema alone).
pub fn unusable_schema_message(schema: &str, owner: &str, role: &str) -> String {
    format!(
        "this role ({role}) may not use schema {schema} (owned by {owner}): it needs USAGE and CREATE on it; \
         nothing was done in it (fix: {})",
        unusable_schema_fix(schema, role)
    )
}

/// The statements that let `role` use `schema`, for a message.
pub fn unusable_schema_fix(schema: &str, role: &str) -> String {
    let (schema, role) = (shown_ident(schema), shown_ident(role));
    format!(
        "as the schema's owner or a superuser run `GRANT USAGE, CREATE ON SCHEMA {schema} TO {role};` \
         or `ALTER SCHEMA {schema} OWNER TO {role};`"
    )
}

/// An identifier as it can be pasted into SQL: bare when it is a plain lowercase name, quoted otherwise.
fn shown_ident(name: &str) -> String {
    let plain = name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain
        && !matches!(
            name,
            "user" | "public" | "all" | "group" | "current_user" | "session_user"
        )
    {
        name.to_string()
    } else {
        names::quote_ident(name)
    }
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub server_version: String,
    /// The sandbox's dev database did not exist and was created.
    pub database_created: bool,
    pub pgcrypto: Count,
    /// The extensions modkit.toml declares (`[database] extensions`), in schema `extensions`.
    #[serde(skip_serializing_if = "Count::is_zero")]
    pub extensions: Count,
    pub system_tables: Count,
    pub permissions: Count,
    pub tenants: Count,
    pub schemas: Count,
    pub migrations: Count,
    pub dev_grants: Count,
    /// What a `--check` found pending, one line each.
    pub pending: Vec<String>,
    pub failures: Vec<TenantFailure>,
    pub warnings: Vec<String>,
    /// One line per tenant worked on, shown with `-v`.
    #[serde(skip)]
    pub tenant_lines: Vec<String>,
    /// On a Citus coordinator only: the cluster and the tenant schemas distributed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub citus: Option<CitusReport>,
    /// The SQL a `--dry-run` would run.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sql: Vec<String>,
}

/// What a bootstrap did on a Citus coordinator.
#[derive(Debug, Default, Serialize)]
pub struct CitusReport {
    /// The citus extension's version.
    pub version: String,
    /// Active workers.
    pub workers: usize,
    /// Tenant schemas distributed by this run (new ones, created distributed, and existing ones
    /// distributed with citus_schema_distribute) against those that already were.
    pub distributed: Count,
}

fn citus_report(topology: &Topology) -> Option<CitusReport> {
    match topology {
        Topology::Plain => None,
        Topology::Coordinator(cluster) => Some(CitusReport {
            version: cluster.version.clone(),
            workers: cluster.workers,
            distributed: Count::default(),
        }),
    }
}

impl Count {
    pub fn is_zero(&self) -> bool {
        self.created == 0 && self.existing == 0
    }
}

/// The extensions the modules declare, each once.
fn declared_extensions(modules: &[Module]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for name in modules.iter().flat_map(|m| &m.extensions) {
        if !out.contains(name) {
            out.push(name.clone());
        }
    }
    out
}

impl Report {
    pub fn changed(&self) -> bool {
        self.database_created
            || [
                self.pgcrypto,
                self.extensions,
                self.system_tables,
                self.permissions,
                self.tenants,
                self.schemas,
                self.migrations,
                self.dev_grants,
                self.citus.as_ref().map(|c| c.distributed).unwrap_or_default(),
            ]
            .iter()
            .any(|c| c.created > 0)
    }
}

pub async fn run(pool: &PgPool, req: &Request, progress: &indicatif::ProgressBar) -> Result<Report> {
    let dev_key = req.dev.as_ref().map(|d| (d.user.as_str(), d.role_code.as_str()));
    // Before anything is read or written: a Citus worker is refused here.
    let topology = Topology::detect(&mut *pool.acquire().await?).await?;
    let mut catalog = Catalog::read(pool, dev_key)
        .await
        .context("cannot read the database catalog")?;
    let widened = remembered_dev_tenants(req, &catalog);
    let req = widened.as_ref().unwrap_or(req);
    let mut report = Report {
        server_version: catalog.server_version.clone(),
        citus: citus_report(&topology),
        ..Report::default()
    };
    catalog.topology = topology;
    // A migration applied somewhere already stays as it is (its checksum is recorded); declaring
    // its extension moves that to `extensions`, and its IF NOT EXISTS then does nothing.
    guard::refuse_create_extension(&req.modules, |module, migration| {
        catalog
            .applied
            .values()
            .any(|a| a.contains_key(&(module.to_string(), migration.to_string())))
    })?;

    let permissions: Vec<(&str, &str)> = req
        .modules
        .iter()
        .flat_map(|m| m.permissions.iter().map(move |p| (p.as_str(), m.id.as_str())))
        .collect();
    let missing_permissions: Vec<(&str, &str)> = permissions
        .iter()
        .copied()
        .filter(|(p, _)| !catalog.permissions.contains(*p))
        .collect();
    let declared = declared_extensions(&req.modules);
    let database_wide_pending = !catalog.has_pgcrypto
        || !catalog.has_system_tables()
        || !missing_permissions.is_empty()
        || !catalog.extensions_pending(&declared).is_empty();

    let work = plan_tenants(req, &catalog, &mut report);
    let dev_pending = plan_dev(req, &catalog);

    if req.mode != Mode::Apply {
        // What is already there, counted as a run that finds it would count it.
        report.pgcrypto.existing = usize::from(catalog.has_pgcrypto);
        report.extensions.existing = declared
            .iter()
            .filter(|e| catalog.extensions.contains_key(*e))
            .count();
        report.system_tables.existing = catalog.system_tables.len();
        report.permissions.existing = permissions.len() - missing_permissions.len();
    }
    // Grants the dev user holds already, per the catalog, in dev tenants with nothing to add; the
    // others are counted from what seeding them finds and writes.
    if let Some(dev) = &req.dev {
        report.dev_grants.existing = dev
            .tenants
            .iter()
            .filter(|t| req.mode != Mode::Apply || !dev_pending.contains(t))
            .flat_map(|t| permissions.iter().map(move |(p, _)| (t.clone(), p.to_string())))
            .filter(|grant| catalog.dev_grants.contains(grant))
            .count();
    }
    match req.mode {
        Mode::Check => {
            report.pending.extend(catalog.extensions_pending(&declared));
            describe_pending(&catalog, &missing_permissions, &work, &dev_pending, &mut report);
            report.failures.sort_by(|a, b| a.tenant.cmp(&b.tenant));
            return Ok(report);
        }
        Mode::DryRun => {
            let extensions = catalog.extensions_pending(&declared);
            report.pending.extend(extensions.iter().cloned());
            describe_pending(&catalog, &missing_permissions, &work, &dev_pending, &mut report);
            if !extensions.is_empty() {
                report.sql = database::extensions_sql(&catalog, &declared);
            }
            let tenants = dry_run_sql(req, &catalog, &missing_permissions, &work, &dev_pending);
            if !work.is_empty() {
                report.sql.push(
                    "-- Each connection, before its first tenant (the check before each COMMIT):".into(),
                );
                report.sql.extend(tenant::connection_setup_sql());
            }
            report.sql.extend(tenants);
            return Ok(report);
        }
        Mode::Apply => {}
    }

    if database_wide_pending {
        database_wide(pool, &catalog, &declared, &missing_permissions, &mut report).await?;
    } else {
        report.pgcrypto.existing = 1;
        report.extensions.existing = declared.len();
    }
    report.system_tables.existing = SYSTEM_TABLES.len() - report.system_tables.created;
    report.permissions.existing = permissions.len() - report.permissions.created;

    run_tenants(pool, req, work, progress, &mut report).await?;
    if let Some(dev) = &req.dev {
        for code in dev_pending {
            if report.failures.iter().any(|f| f.tenant == code) {
                continue;
            }
            match seed_dev(pool, dev, &code, &permissions).await {
                Ok(count) => {
                    report.dev_grants.created += count.created;
                    report.dev_grants.existing += count.existing;
                }
                Err(e) => report.failures.push(TenantFailure {
                    tenant: code.clone(),
                    message: format!("dev access: {}", failure_message(&e)),
                    kind: FailureKind::Other,
                }),
            }
        }
    }
    Ok(report)
}

/// `req` with the tenants where the dev user already holds the dev role added to its dev tenants
/// (a tenant once bootstrapped with `--tenant` stays one: a later plain run grants it the
/// permissions the module added since; where it is remembered is the grant itself). None when
/// there is nothing to add.
fn remembered_dev_tenants(req: &Request, catalog: &Catalog) -> Option<Request> {
    // `tenant add` bootstraps its one tenant: the others, remembered or not, are left as they are.
    if req.only_named {
        return None;
    }
    let dev = req.dev.as_ref()?;
    let mut more: Vec<&String> = catalog
        .dev_tenants
        .iter()
        .filter(|t| !dev.tenants.contains(t) && catalog.tenants.contains_key(*t))
        .collect();
    if more.is_empty() {
        return None;
    }
    more.sort();
    let mut dev = dev.clone();
    dev.tenants.extend(more.into_iter().cloned());
    Some(Request {
        modules: req.modules.clone(),
        tenants: req.tenants.clone(),
        dev: Some(dev),
        jobs: req.jobs,
        mode: req.mode,
        only_named: req.only_named,
    })
}

/// A tenant's error as one report line, with its fix when it carries one (a missing privilege's
/// GRANT): a per-tenant report must say how to fix it as much as a fatal error does.
fn failure_message(err: &anyhow::Error) -> String {
    match err
        .chain()
        .find_map(|e| e.downcast_ref::<crate::exit::UserError>())
        .and_then(|u| u.hint.as_deref())
    {
        Some(hint) => format!("{} (fix: {hint})", crate::output::error_line(err)),
        None => crate::output::error_line(err),
    }
}

pub(crate) fn sqlstate(err: &sqlx::Error) -> Option<String> {
    err.as_database_error()
        .and_then(|d| d.code())
        .map(|c| c.into_owned())
}

/// A refused privilege becomes an error that names it and the GRANT that fixes it.
pub(crate) fn privilege_hint(err: sqlx::Error, what: &str, grant: &str) -> anyhow::Error {
    if sqlstate(&err).as_deref() == Some("42501") {
        let message = err
            .as_database_error()
            .map_or_else(|| err.to_string(), |d| d.message().to_string());
        crate::exit::UserError::new(format!("this database role may not {what}: {message}"))
            .hint(format!(
                "as an owner or superuser run `{grant}`, or bootstrap with a role that owns the database"
            ))
            .into()
    } else {
        err.into()
    }
}
