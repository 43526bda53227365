//! The bootstrap engine: read the catalog once, plan what is missing, then do it.
//!
//! Steps, each idempotent: pgcrypto; the system tables; the modules' permissions (one transaction
//! under the database-wide advisory lock); each tenant's row, schema and module migrations (one
//! transaction per tenant under that tenant's advisory lock, so no tenant is ever half made and
//! parallel workers or concurrent runs never race); the dev role in a sandbox's dev tenants.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result};
use serde::Serialize;
use sqlx::{AssertSqlSafe, PgConnection, PgPool, Row};
use tokio::sync::Mutex;

use crate::db::catalog::{Catalog, SYSTEM_TABLES};
use crate::db::simple;
use crate::db::statements::{render, sql, system_sql};
use crate::db::tenant_script::TenantScript;
use crate::modules::Module;
use crate::names;

#[derive(Debug, Clone, Serialize)]
pub struct TenantSpec {
    pub code: String,
    pub name: String,
    pub domain: Option<String>,
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
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub server_version: String,
    /// The sandbox's dev database did not exist and was created.
    pub database_created: bool,
    pub pgcrypto: Count,
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
    /// The SQL a `--dry-run` would run.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sql: Vec<String>,
}

impl Report {
    pub fn changed(&self) -> bool {
        self.database_created
            || [
                self.pgcrypto,
                self.system_tables,
                self.permissions,
                self.tenants,
                self.schemas,
                self.migrations,
                self.dev_grants,
            ]
            .iter()
            .any(|c| c.created > 0)
    }
}

/// What one tenant needs, decided from the catalog (and decided again under its lock).
#[derive(Debug, Clone)]
struct TenantWork {
    spec: TenantSpec,
    /// The schema of an existing row (a foundation may name schemas its own way).
    schema: String,
    had_row: bool,
    had_schema: bool,
    /// Migrations not applied yet, per the catalog (`module/file.sql`), and how many are.
    pending: Vec<String>,
    applied: usize,
}

pub async fn run(pool: &PgPool, req: &Request, progress: &indicatif::ProgressBar) -> Result<Report> {
    let dev_key = req.dev.as_ref().map(|d| (d.user.as_str(), d.role_code.as_str()));
    let catalog = Catalog::read(pool, dev_key)
        .await
        .context("cannot read the database catalog")?;
    let mut report = Report {
        server_version: catalog.server_version.clone(),
        ..Report::default()
    };

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
    let database_wide_pending =
        !catalog.has_pgcrypto || !catalog.has_system_tables() || !missing_permissions.is_empty();

    let work = plan_tenants(req, &catalog, &mut report);
    let dev_pending = plan_dev(req, &catalog);

    if req.mode != Mode::Apply {
        // What is already there, counted as a run that finds it would count it.
        report.pgcrypto.existing = usize::from(catalog.has_pgcrypto);
        report.system_tables.existing = catalog.system_tables.len();
        report.permissions.existing = permissions.len() - missing_permissions.len();
        if let Some(dev) = &req.dev {
            report.dev_grants.existing = dev
                .tenants
                .iter()
                .flat_map(|t| permissions.iter().map(move |(p, _)| (t.clone(), p.to_string())))
                .filter(|grant| catalog.dev_grants.contains(grant))
                .count();
        }
    }
    match req.mode {
        Mode::Check => {
            describe_pending(&catalog, &missing_permissions, &work, &dev_pending, &mut report);
            report.failures.sort_by(|a, b| a.tenant.cmp(&b.tenant));
            return Ok(report);
        }
        Mode::DryRun => {
            describe_pending(&catalog, &missing_permissions, &work, &dev_pending, &mut report);
            report.sql = dry_run_sql(req, &catalog, &missing_permissions, &work, &dev_pending);
            return Ok(report);
        }
        Mode::Apply => {}
    }

    if database_wide_pending {
        database_wide(pool, &catalog, &missing_permissions, &mut report).await?;
    } else {
        report.pgcrypto.existing = 1;
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
                }),
            }
        }
        let expected = dev.tenants.len() * permissions.len();
        report.dev_grants.existing = expected.saturating_sub(report.dev_grants.created);
    }
    Ok(report)
}

/// The tenants to look at: those asked for, and every tenant the database already has (module
/// tables belong in every tenant schema). Only those with something missing become work.
fn plan_tenants(req: &Request, catalog: &Catalog, report: &mut Report) -> Vec<TenantWork> {
    let mut seen = HashSet::new();
    let mut all: Vec<TenantWork> = Vec::new();
    for spec in &req.tenants {
        if seen.insert(spec.code.clone()) {
            let schema = catalog.tenants.get(&spec.code).map(|t| t.schema_name.clone());
            let schema = schema.unwrap_or_else(|| names::tenant_schema(&spec.code));
            all.push(TenantWork {
                spec: spec.clone(),
                schema,
                had_row: false,
                had_schema: false,
                pending: Vec::new(),
                applied: 0,
            });
        }
    }
    let mut existing: Vec<_> = catalog
        .tenants
        .values()
        .filter(|t| !seen.contains(&t.code))
        .collect();
    existing.sort_by(|a, b| a.code.cmp(&b.code));
    for row in existing {
        let spec = TenantSpec {
            code: row.code.clone(),
            name: row.code.clone(),
            domain: None,
        };
        all.push(TenantWork {
            spec,
            schema: row.schema_name.clone(),
            had_row: false,
            had_schema: false,
            pending: Vec::new(),
            applied: 0,
        });
    }

    let mut work = Vec::new();
    for mut tenant in all {
        let code = tenant.spec.code.clone();
        let has_row = catalog.tenants.contains_key(&code);
        let has_schema = catalog.schemas.contains(&tenant.schema);
        (tenant.had_row, tenant.had_schema) = (has_row, has_schema);
        let applied = catalog.applied.get(&code);
        let mut pending = Vec::new();
        let mut mismatch = None;
        for module in &req.modules {
            for migration in &module.migrations {
                match applied.and_then(|a| a.get(&(module.id.clone(), migration.name.clone()))) {
                    None => pending.push(format!("{}/{}", module.id, migration.name)),
                    Some(sum) if *sum != migration.checksum => {
                        mismatch.get_or_insert_with(|| {
                            checksum_message(module, &migration.name, &code, sum, &migration.checksum)
                        });
                    }
                    Some(_) => report.migrations.existing += 1,
                }
            }
        }
        if has_row {
            report.tenants.existing += 1
        }
        if has_schema {
            report.schemas.existing += 1
        }
        if let Some(message) = mismatch {
            report.failures.push(TenantFailure {
                tenant: code,
                message,
            });
        } else if tenant.schema.len() > 63 {
            // PostgreSQL would cut it: the schema could never be found under this name.
            report.failures.push(TenantFailure {
                tenant: code,
                message: format!(
                    "its schema name `{}` is {} bytes, over PostgreSQL's 63-byte limit; rename it in public.sys_tenant",
                    tenant.schema,
                    tenant.schema.len()
                ),
            });
        } else if !has_row || !has_schema || !pending.is_empty() {
            tenant.pending = pending;
            tenant.applied = applied.map_or(0, HashMap::len);
            work.push(tenant);
        }
    }
    work
}

fn checksum_message(module: &Module, migration: &str, tenant: &str, applied: &str, now: &str) -> String {
    format!(
        "migration {}/{migration} was edited after it was applied to tenant `{tenant}`: applied sha256 {applied}, file now {now}; \
         nothing was applied over it (add a new migration file instead of editing an applied one)",
        module.id
    )
}

/// Dev tenants whose dev user lacks one of the module's permissions.
fn plan_dev(req: &Request, catalog: &Catalog) -> Vec<String> {
    let Some(dev) = &req.dev else { return Vec::new() };
    let permissions: Vec<&String> = req.modules.iter().flat_map(|m| &m.permissions).collect();
    dev.tenants
        .iter()
        .filter(|code| {
            permissions
                .iter()
                .any(|p| !catalog.dev_grants.contains(&((*code).clone(), (*p).clone())))
        })
        .cloned()
        .collect()
}

fn describe_pending(
    catalog: &Catalog,
    missing_permissions: &[(&str, &str)],
    work: &[TenantWork],
    dev_pending: &[String],
    report: &mut Report,
) {
    if !catalog.has_pgcrypto {
        report.pending.push("extension pgcrypto is not installed".into());
    }
    for table in SYSTEM_TABLES
        .iter()
        .filter(|t| !catalog.system_tables.contains(**t))
    {
        report
            .pending
            .push(format!("system table public.{table} is missing"));
    }
    for (permission, _) in missing_permissions {
        report
            .pending
            .push(format!("permission `{permission}` is not registered"));
    }
    for tenant in work {
        let code = &tenant.spec.code;
        let mut what = Vec::new();
        if !catalog.tenants.contains_key(code) {
            what.push("its sys_tenant row".to_string());
        }
        if !catalog.schemas.contains(&tenant.schema) {
            what.push(format!("schema {}", tenant.schema));
        }
        if !tenant.pending.is_empty() {
            what.push(format!("migrations {}", tenant.pending.join(", ")));
        }
        report
            .pending
            .push(format!("tenant `{code}` needs {}", what.join(", ")));
    }
    for code in dev_pending {
        report
            .pending
            .push(format!("dev access in tenant `{code}` is incomplete"));
    }
}

/// pgcrypto, system tables and permissions, in one transaction under the database-wide lock.
async fn database_wide(
    pool: &PgPool,
    catalog: &Catalog,
    permissions: &[(&str, &str)],
    report: &mut Report,
) -> Result<()> {
    let mut tx = pool.begin().await?;
    simple(&mut tx, render("lock_database", &[])).await?;
    let has_pgcrypto = simple(&mut tx, render("has_pgcrypto", &[]))
        .await?
        .first()
        .map(|r| r.try_get::<bool, _>(0))
        .transpose()?;
    if has_pgcrypto == Some(true) {
        report.pgcrypto.existing = 1;
    } else {
        // A savepoint, so a refused CREATE EXTENSION does not abort the whole transaction.
        simple(&mut tx, "SAVEPOINT modkit_pgcrypto".into()).await?;
        match simple(&mut tx, render("create_pgcrypto", &[])).await {
            Ok(_) => report.pgcrypto.created = 1,
            Err(e) if sqlstate(&e).as_deref() == Some("42501") => {
                simple(&mut tx, "ROLLBACK TO SAVEPOINT modkit_pgcrypto".into()).await?;
                if catalog.server_version_num < 130_000 {
                    return Err(crate::exit::UserError::new(format!(
                        "this role may not create the pgcrypto extension, and PostgreSQL {} has no built-in gen_random_uuid()",
                        catalog.server_version
                    ))
                    .hint("ask a superuser to run `CREATE EXTENSION pgcrypto;` in this database, then run again")
                    .into());
                }
                report.warnings.push(
                    "this role may not create the pgcrypto extension; going on with PostgreSQL's built-in gen_random_uuid() \
                     (a superuser can run `CREATE EXTENSION pgcrypto;` to silence this)"
                        .into(),
                );
            }
            Err(e) => return Err(e).context("cannot create the pgcrypto extension"),
        }
    }
    let before = count_system_tables(&mut tx).await?;
    simple(&mut tx, system_sql().to_string()).await.map_err(|e| {
        privilege_hint(
            e,
            "create the system tables in schema public",
            "GRANT CREATE ON SCHEMA public TO <role>;",
        )
    })?;
    report.system_tables.created = count_system_tables(&mut tx).await?.saturating_sub(before);
    if !permissions.is_empty() {
        let script: Vec<String> = permissions
            .iter()
            .map(|(p, m)| render("register_permission", &[Some(p), Some(m)]))
            .collect();
        let done = sqlx::raw_sql(AssertSqlSafe(script.join(";\n")))
            .execute(&mut *tx)
            .await?;
        report.permissions.created = usize::try_from(done.rows_affected()).unwrap_or(0);
    }
    tx.commit().await?;
    Ok(())
}

async fn count_system_tables(conn: &mut PgConnection) -> Result<usize> {
    let present = Catalog::system_tables_present(conn).await?;
    Ok(present.len())
}

/// Tenant work over `jobs` connections. One tenant failing never stops the others.
async fn run_tenants(
    pool: &PgPool,
    req: &Request,
    work: Vec<TenantWork>,
    progress: &indicatif::ProgressBar,
    report: &mut Report,
) -> Result<()> {
    if work.is_empty() {
        return Ok(());
    }
    progress.set_length(work.len() as u64);
    let work = Arc::new(work);
    let next = Arc::new(AtomicUsize::new(0));
    let results = Arc::new(Mutex::new(Vec::new()));
    let modules = Arc::new(req.modules.clone());
    let mut workers = Vec::new();
    for _ in 0..req.jobs.clamp(1, work.len()) {
        let (pool, work, next, results, modules, progress) = (
            pool.clone(),
            work.clone(),
            next.clone(),
            results.clone(),
            modules.clone(),
            progress.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut conn = match pool.acquire().await {
                Ok(conn) => conn,
                Err(e) => return Err(anyhow::Error::from(e)),
            };
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(tenant) = work.get(i) else { break };
                let outcome = bootstrap_tenant(&mut conn, &modules, tenant).await;
                results.lock().await.push((i, outcome));
                progress.inc(1);
            }
            Ok(())
        }));
    }
    for worker in workers {
        worker.await.context("a bootstrap worker stopped")??;
    }
    // The tenants committed asynchronously: wait until they are all durable before reporting.
    let mut tx = pool.begin().await?;
    simple(&mut tx, render("flush_commits", &[])).await?;
    tx.commit().await?;
    let mut results = Arc::try_unwrap(results)
        .map(Mutex::into_inner)
        .unwrap_or_default();
    results.sort_by_key(|(i, _)| *i);
    for (i, outcome) in results {
        let tenant = &work[i];
        let code = tenant.spec.code.clone();
        match outcome {
            Ok(done) => {
                // A concurrent run may have made the row or schema since the catalog was read.
                report.tenants.created += usize::from(done.tenant_created);
                report.tenants.existing += usize::from(!done.tenant_created && !tenant.had_row);
                report.schemas.created += usize::from(done.schema_created);
                report.schemas.existing += usize::from(!done.schema_created && !tenant.had_schema);
                report.migrations.created += done.migrations_applied;
                report.migrations.existing += done.migrations_present;
                report.tenant_lines.push(format!(
                    "tenant {code}: {}, schema {} {}, {} migration(s) applied",
                    if done.tenant_created {
                        "created"
                    } else {
                        "already there"
                    },
                    tenant.schema,
                    if done.schema_created {
                        "created"
                    } else {
                        "already there"
                    },
                    done.migrations_applied
                ));
            }
            Err(e) => report.failures.push(TenantFailure {
                tenant: code,
                message: failure_message(&e),
            }),
        }
    }
    report.failures.sort_by(|a, b| a.tenant.cmp(&b.tenant));
    Ok(())
}

#[derive(Debug, Default)]
struct TenantDone {
    tenant_created: bool,
    schema_created: bool,
    migrations_applied: usize,
    migrations_present: usize,
}

/// One tenant, one transaction: row, schema, migrations, sent as scripts over the simple-query
/// protocol with parameters inlined as literals (at thousands of tenants the round trips, not the
/// DDL, would otherwise dominate).
///
/// First as planned from the catalog, in one round trip, guarded by `expect_plan`; if a concurrent
/// run changed the tenant since the catalog was read, again with everything decided anew under the
/// tenant's lock, in two.
async fn bootstrap_tenant(
    conn: &mut PgConnection,
    modules: &[Module],
    tenant: &TenantWork,
) -> Result<TenantDone> {
    match bootstrap_as_planned(conn, modules, tenant).await {
        Err(e) if e.downcast_ref::<StalePlan>().is_some() => bootstrap_anew(conn, modules, tenant).await,
        done => done,
    }
}

/// `expect_plan` stopped the transaction: the tenant changed since the catalog was read.
#[derive(Debug)]
struct StalePlan;

impl std::fmt::Display for StalePlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the plan for this tenant is stale")
    }
}

impl std::error::Error for StalePlan {}

async fn bootstrap_as_planned(
    conn: &mut PgConnection,
    modules: &[Module],
    tenant: &TenantWork,
) -> Result<TenantDone> {
    let spec = &tenant.spec;
    let code = Some(spec.code.as_str());
    let applied = tenant.applied.to_string();
    let mut script = TenantScript::default();
    script.prelude("BEGIN".to_string());
    script.prelude(render("async_commit", &[]));
    script.prelude(render("lock_tenant", &[code]));
    script.prelude(render(
        "insert_tenant",
        &[
            code,
            Some(&spec.name),
            spec.domain.as_deref(),
            Some(&tenant.schema),
        ],
    ));
    script.prelude(render(
        "expect_plan",
        &[code, Some(&tenant.schema), Some(&applied)],
    ));
    let quoted = names::quote_ident(&tenant.schema);
    if !tenant.had_schema {
        script.setup(sql("create_schema").replace(":schema", &quoted));
    }
    script.setup(render("scope_to_schema", &[Some(&quoted)]));
    let mut done = TenantDone {
        schema_created: !tenant.had_schema,
        ..TenantDone::default()
    };
    for module in modules {
        for migration in &module.migrations {
            let label = format!("{}/{}", module.id, migration.name);
            if !tenant.pending.contains(&label) {
                done.migrations_present += 1;
                continue;
            }
            let record = render(
                "record_migration_for_code",
                &[
                    code,
                    Some(&module.id),
                    Some(&migration.name),
                    Some(&migration.checksum),
                ],
            );
            script.migration(label, &migration.sql, record);
            done.migrations_applied += 1;
        }
    }
    match sqlx::raw_sql(AssertSqlSafe(script.text()))
        .fetch_all(&mut *conn)
        .await
    {
        Ok(rows) => {
            // insert_tenant returns its 2 columns only when it created the row.
            done.tenant_created = rows.iter().any(|r| r.len() == 2);
            Ok(done)
        }
        Err(e) if sqlstate(&e).as_deref() == Some("MK001") => Err(rollback(conn, StalePlan.into()).await),
        Err(e) => {
            let e = rollback(conn, e.into()).await;
            let lock = render("lock_tenant", &[code]);
            Err(script.explain(conn, e, &tenant.schema, &lock).await)
        }
    }
}

/// The careful way: read the tenant's state under its lock, then decide.
async fn bootstrap_anew(
    conn: &mut PgConnection,
    modules: &[Module],
    tenant: &TenantWork,
) -> Result<TenantDone> {
    let mut done = TenantDone::default();
    let spec = &tenant.spec;
    let code = Some(spec.code.as_str());
    let open = [
        "BEGIN".to_string(),
        render("async_commit", &[]),
        render("lock_tenant", &[code]),
        render(
            "insert_tenant",
            &[
                code,
                Some(&spec.name),
                spec.domain.as_deref(),
                Some(&tenant.schema),
            ],
        ),
        render("tenant_state", &[code]),
    ]
    .join(";\n");
    let rows = match sqlx::raw_sql(AssertSqlSafe(open + ";"))
        .fetch_all(&mut *conn)
        .await
    {
        Ok(rows) => rows,
        Err(e) => return Err(rollback(conn, e.into()).await),
    };
    // insert_tenant returns 2 columns when it created the row; tenant_state returns 6.
    done.tenant_created = rows.iter().any(|r| r.len() == 2);
    let state: Vec<&sqlx::postgres::PgRow> = rows.iter().filter(|r| r.len() == 6).collect();
    let Some(first) = state.first() else {
        return Err(rollback(
            conn,
            anyhow::anyhow!("tenant `{}` vanished during its own transaction", spec.code),
        )
        .await);
    };
    let tenant_id: String = first.try_get("id")?;
    let schema: String = first.try_get("schema_name")?;
    let schema_present: bool = first.try_get("schema_present")?;
    let mut applied = HashMap::new();
    for row in &state {
        if let (Some(module), Some(migration), Some(sum)) = (
            row.try_get::<Option<String>, _>("module")?,
            row.try_get::<Option<String>, _>("migration")?,
            row.try_get::<Option<String>, _>("checksum")?,
        ) {
            applied.insert((module, migration), sum);
        }
    }

    let quoted = names::quote_ident(&schema);
    let mut script = TenantScript::default();
    if !schema_present {
        script.setup(sql("create_schema").replace(":schema", &quoted));
        done.schema_created = true;
    }
    script.setup(render("scope_to_schema", &[Some(&quoted)]));
    for module in modules {
        for migration in &module.migrations {
            match applied.get(&(module.id.clone(), migration.name.clone())) {
                Some(sum) if *sum == migration.checksum => done.migrations_present += 1,
                Some(sum) => {
                    let message =
                        checksum_message(module, &migration.name, &spec.code, sum, &migration.checksum);
                    return Err(rollback(conn, anyhow::anyhow!(message)).await);
                }
                None => {
                    let record = render(
                        "record_migration",
                        &[
                            Some(&tenant_id),
                            Some(&module.id),
                            Some(&migration.name),
                            Some(&migration.checksum),
                        ],
                    );
                    script.migration(
                        format!("{}/{}", module.id, migration.name),
                        &migration.sql,
                        record,
                    );
                    done.migrations_applied += 1;
                }
            }
        }
    }
    if let Err(e) = sqlx::raw_sql(AssertSqlSafe(script.text()))
        .execute(&mut *conn)
        .await
    {
        let e = rollback(conn, e.into()).await;
        let lock = render("lock_tenant", &[code]);
        return Err(script.explain(conn, e, &schema, &lock).await);
    }
    Ok(done)
}

/// End a failed tenant transaction; a connection that cannot even roll back is closed by the pool.
async fn rollback(conn: &mut PgConnection, err: anyhow::Error) -> anyhow::Error {
    let _ = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await;
    err
}

/// The dev role with every permission, granted to the dev user, in one dev tenant.
async fn seed_dev(pool: &PgPool, dev: &DevSeed, code: &str, permissions: &[(&str, &str)]) -> Result<Count> {
    let mut count = Count::default();
    let mut tx = pool.begin().await?;
    simple(&mut tx, render("lock_tenant", &[Some(code)])).await?;
    let rows = simple(&mut tx, render("find_tenant", &[Some(code)])).await?;
    let tenant_id: String = rows
        .first()
        .with_context(|| format!("tenant `{code}` does not exist"))?
        .try_get("id")?;
    let rows = simple(
        &mut tx,
        render(
            "ensure_role",
            &[Some(&tenant_id), Some(&dev.role_code), Some(&dev.role_name)],
        ),
    )
    .await?;
    let role_id: String = rows
        .first()
        .context("the dev role was not created")?
        .try_get("id")?;
    if !permissions.is_empty() {
        let grants: Vec<String> = permissions
            .iter()
            .map(|(p, _)| render("grant_permission", &[Some(&role_id), Some(p)]))
            .collect();
        let done = sqlx::raw_sql(AssertSqlSafe(grants.join(";\n")))
            .execute(&mut *tx)
            .await?;
        count.created = usize::try_from(done.rows_affected()).unwrap_or(0);
    }
    simple(
        &mut tx,
        render(
            "assign_role",
            &[Some(&dev.user), Some(&tenant_id), Some(&role_id)],
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(count)
}

/// A tenant's error as one report line, with its fix when it carries one (a missing privilege's
/// GRANT): a per-tenant report must say how to fix it as much as a fatal error does.
fn failure_message(err: &anyhow::Error) -> String {
    match err
        .chain()
        .find_map(|e| e.downcast_ref::<crate::exit::UserError>())
        .and_then(|u| u.hint.as_deref())
    {
        Some(hint) => format!("{err:#} (fix: {hint})"),
        None => format!("{err:#}"),
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

/// The statements an apply would run, parameters shown inline.
fn dry_run_sql(
    req: &Request,
    catalog: &Catalog,
    permissions: &[(&str, &str)],
    work: &[TenantWork],
    dev_pending: &[String],
) -> Vec<String> {
    let mut out = Vec::new();
    if !catalog.has_pgcrypto || !catalog.has_system_tables() || !permissions.is_empty() {
        out.push("BEGIN;".into());
        out.push(render("lock_database", &[]));
        if !catalog.has_pgcrypto {
            out.push(sql("create_pgcrypto").into());
        }
        if !catalog.has_system_tables() {
            out.push(system_sql().trim().into());
        }
        for (permission, module) in permissions {
            out.push(render("register_permission", &[Some(permission), Some(module)]));
        }
        out.push("COMMIT;".into());
    }
    for tenant in work {
        let spec = &tenant.spec;
        let quoted = names::quote_ident(&tenant.schema);
        out.push(format!("-- tenant {}\nBEGIN;", spec.code));
        out.push(render("async_commit", &[]));
        out.push(render("lock_tenant", &[Some(&spec.code)]));
        out.push(render(
            "insert_tenant",
            &[
                Some(&spec.code),
                Some(&spec.name),
                spec.domain.as_deref(),
                Some(&tenant.schema),
            ],
        ));
        out.push(render("create_schema", &[]).replace(":schema", &quoted));
        out.push(render("scope_to_schema", &[Some(&quoted)]));
        let applied = catalog.applied.get(&spec.code);
        for module in &req.modules {
            for migration in &module.migrations {
                if applied.is_none_or(|a| !a.contains_key(&(module.id.clone(), migration.name.clone()))) {
                    out.push(format!(
                        "-- {}/{}\n{}",
                        module.id,
                        migration.name,
                        migration.sql.trim()
                    ));
                    out.push(render(
                        "record_migration",
                        &[
                            Some("<tenant id>"),
                            Some(&module.id),
                            Some(&migration.name),
                            Some(&migration.checksum),
                        ],
                    ));
                }
            }
        }
        out.push("COMMIT;".into());
    }
    for code in dev_pending {
        if let Some(dev) = &req.dev {
            out.push(format!(
                "-- dev access in tenant {code}: role {} with every permission, granted to user {}",
                dev.role_code, dev.user
            ));
        }
    }
    out
}
