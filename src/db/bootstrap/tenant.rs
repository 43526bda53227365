//! Tenant work: one transaction per tenant, over `jobs` connections, sent as scripts.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result};
use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, Column, PgConnection, PgPool, Row};
use tokio::sync::Mutex;

use super::plan::{Applied, TenantWork, checksum_message, recorded_elsewhere};
use super::tenant_script::TenantScript;
use super::{FailureKind, Report, Request, TenantFailure, failure_message, unusable_schema_message};
use crate::db::simple;
use crate::db::statements::render;
use crate::modules::Module;
use crate::names;

/// Tenant work over `jobs` connections. One tenant failing never stops the others.
pub(super) async fn run_tenants(
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
            // What exists outside the tenant schemas now, for the check before each COMMIT, and
            // that check prepared once: planning it (ten catalog reads) costs more than running it.
            simple(&mut conn, render("remember_outside_objects", &[])).await?;
            prepare_checks(&mut conn).await?;
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
                if done.tenant_created && !done.schema_created {
                    report.warnings.push(format!(
                        "schema {} was already there with no sys_tenant row; tenant `{code}` was given it, with whatever it holds \
                         (if it was not meant for this tenant, drop the tenant's row and rename the schema)",
                        tenant.schema
                    ));
                }
                // A concurrent run may have made the row or schema since the catalog was read.
                report.tenants.created += usize::from(done.tenant_created);
                report.tenants.existing += usize::from(!done.tenant_created && !tenant.had_row);
                report.schemas.created += usize::from(done.schema_created);
                report.schemas.existing += usize::from(!done.schema_created && !tenant.had_schema);
                report.migrations.created += done.migrations_applied;
                if let Some(citus) = report.citus.as_mut() {
                    if done.schema_distributed {
                        citus.distributed.created += 1;
                    } else if tenant.undistributed {
                        // Distributed by a concurrent run meanwhile.
                        citus.distributed.existing += 1;
                    }
                }
                // What the run found under the lock replaces what the catalog showed.
                report.migrations.existing =
                    report.migrations.existing.saturating_sub(tenant.present) + done.migrations_present;
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
                kind: if e.chain().any(|c| c.downcast_ref::<UnusableSchema>().is_some()) {
                    FailureKind::SchemaUnusable
                } else if e.chain().any(|c| c.downcast_ref::<EditedMigration>().is_some()) {
                    FailureKind::MigrationEdited
                } else {
                    FailureKind::Other
                },
                message: failure_message(&e),
            }),
        }
    }
    report.failures.sort_by(|a, b| a.tenant.cmp(&b.tenant));
    Ok(())
}

/// A tenant's schema this role may not use, found under the tenant's lock.
#[derive(Debug)]
struct UnusableSchema(String);

impl std::fmt::Display for UnusableSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UnusableSchema {}

/// An applied migration whose file changed, found under the tenant's lock.
#[derive(Debug)]
struct EditedMigration(String);

impl std::fmt::Display for EditedMigration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for EditedMigration {}

#[derive(Debug, Default)]
pub(super) struct TenantDone {
    tenant_created: bool,
    schema_created: bool,
    migrations_applied: usize,
    migrations_present: usize,
    /// On Citus: the schema was created distributed, or distributed by this transaction.
    schema_distributed: bool,
}

/// One tenant, one transaction: row, schema, migrations, sent as scripts over the simple-query
/// protocol with parameters inlined as literals (at thousands of tenants the round trips, not the
/// DDL, would otherwise dominate).
///
/// First as planned from the catalog: the whole transaction in one script ending with `plan_check`,
/// then COMMIT once it shows the plan held. If it does not (a concurrent run got there first), or if
/// anything failed, the tenant is rolled back and done again with everything decided anew under its
/// lock, whose failure, if any, is the one reported.
async fn bootstrap_tenant(
    conn: &mut PgConnection,
    modules: &[Module],
    tenant: &TenantWork,
) -> Result<TenantDone> {
    match bootstrap_as_planned(conn, modules, tenant).await? {
        Some(done) => Ok(done),
        None => bootstrap_anew(conn, modules, tenant).await,
    }
}

/// `Ok(None)` when the plan no longer holds or the script failed: the transaction is rolled back.
async fn bootstrap_as_planned(
    conn: &mut PgConnection,
    modules: &[Module],
    tenant: &TenantWork,
) -> Result<Option<TenantDone>> {
    // The catalog already showed any edited migration: plan_tenants reports it and sends nothing.
    let (script, mut done) = planned_script(modules, tenant).map_err(|message| anyhow::anyhow!(message))?;
    let rows = match script.send(conn, tenant.citus).await {
        Ok(rows) => rows,
        Err(_) => {
            roll_back(conn).await;
            return Ok(None);
        }
    };
    done.schema_distributed = distributed(tenant, &done, &rows);
    if script.commits() {
        // A new tenant's script ends with its COMMIT: any change since the catalog was read made
        // one of its statements fail, so getting here means it was committed as planned.
        return Ok(Some(done));
    }
    let applied: Option<i64> = rows.iter().find_map(|r| r.try_get("modkit_applied").ok());
    // What was applied before, plus what this script recorded; and nothing made outside the
    // schema (done anew, that is reported with what and where).
    if applied != i64::try_from(tenant.applied.len() + done.migrations_applied).ok()
        || outside(&rows).is_some()
    {
        roll_back(conn).await;
        return Ok(None);
    }
    sqlx::raw_sql("COMMIT").execute(&mut *conn).await?;
    // insert_tenant returns a row only when it created the tenant.
    done.tenant_created = rows.iter().any(is_inserted_tenant);
    Ok(Some(done))
}

/// The whole transaction of a tenant as planned from the catalog (what `--dry-run` prints).
///
/// A tenant the catalog showed missing altogether (most of a first run) gets a script that ends
/// with its own COMMIT: its row and schema are created by statements that fail if either exists
/// by now, so a stale plan rolls back on its own and the script needs no check and no second
/// round trip. Its schema, created in this transaction, cannot vanish before the commit. Any
/// other tenant ends with `plan_check`, and COMMIT is sent once its answer shows the plan held.
pub(super) fn planned_script(
    modules: &[Module],
    tenant: &TenantWork,
) -> Result<(TenantScript, TenantDone), String> {
    let code = Some(tenant.spec.code.as_str());
    let mut script = TenantScript::default();
    let brand_new = !tenant.had_row && !tenant.had_schema && tenant.applied.is_empty();
    if brand_new {
        let mut done = TenantDone {
            tenant_created: true,
            ..TenantDone::default()
        };
        for statement in open_new_tenant(tenant) {
            script.prelude(statement);
        }
        let quoted = names::quote_ident(&tenant.schema);
        script.setup(render("create_new_schema", &[]).replace(":schema", &quoted));
        done.schema_created = true;
        add_migrations(
            &mut script,
            &mut done,
            modules,
            tenant,
            &tenant.schema,
            &Applied::new(),
            true,
            false,
        )?;
        return Ok((script, done));
    }
    for statement in open_transaction(tenant) {
        script.prelude(statement);
    }
    let mut done = TenantDone::default();
    plan_script(
        &mut script,
        &mut done,
        modules,
        tenant,
        &tenant.schema,
        tenant.had_schema,
        &tenant.applied,
        false,
    )?;
    // Last: the row still names the schema, the schema exists (a migration run without it would
    // have landed in public), and the records are exactly those planned.
    script.check_before_commit(render("plan_check", &[code, Some(&tenant.schema)]));
    Ok((script, done))
}

/// The careful way: read the tenant's state under its lock, then decide.
async fn bootstrap_anew(
    conn: &mut PgConnection,
    modules: &[Module],
    tenant: &TenantWork,
) -> Result<TenantDone> {
    let code = Some(tenant.spec.code.as_str());
    let mut open = open_transaction(tenant);
    open.push(render("tenant_state", &[code]));
    let rows = match sqlx::raw_sql(AssertSqlSafe(open.join(";\n") + ";"))
        .fetch_all(&mut *conn)
        .await
    {
        Ok(rows) => rows,
        Err(e) => return Err(rollback(conn, e.into()).await),
    };
    // insert_tenant returns a row only when it created the tenant; tenant_state one per migration.
    let mut done = TenantDone {
        tenant_created: rows.iter().any(is_inserted_tenant),
        ..TenantDone::default()
    };
    let state: Vec<&PgRow> = rows.iter().filter(|r| has_column(r, "schema_present")).collect();
    let Some(first) = state.first() else {
        let e = anyhow::anyhow!(
            "tenant `{}` vanished during its own transaction",
            tenant.spec.code
        );
        return Err(rollback(conn, e).await);
    };
    let schema: String = first.try_get("schema_name")?;
    let schema_present: bool = first.try_get("schema_present")?;
    if schema_present && !first.try_get::<bool, _>("schema_usable")? {
        let owner: String = first.try_get("schema_owner")?;
        let role: String = first.try_get("role_name")?;
        let e = UnusableSchema(unusable_schema_message(&schema, &owner, &role));
        return Err(rollback(conn, e.into()).await);
    }
    let mut applied = Applied::new();
    for row in &state {
        if let (Some(module), Some(migration), Some(sum)) = (
            row.try_get::<Option<String>, _>("module")?,
            row.try_get::<Option<String>, _>("migration")?,
            row.try_get::<Option<String>, _>("checksum")?,
        ) {
            applied.insert((module, migration), sum);
        }
    }
    let mut script = TenantScript::default();
    if let Err(message) = plan_script(
        &mut script,
        &mut done,
        modules,
        tenant,
        &schema,
        schema_present,
        &applied,
        true,
    ) {
        return Err(rollback(conn, EditedMigration(message).into()).await);
    }
    script.check_before_commit(render("plan_check", &[code, Some(&schema)]));
    let rows = match script.send(conn, tenant.citus).await {
        Ok(rows) => rows,
        Err(e) => {
            let e = rollback(conn, e).await;
            if e.downcast_ref::<sqlx::Error>()
                .and_then(super::sqlstate)
                .as_deref()
                == Some("40P01")
            {
                return Err(deadlock(&script, &schema, &e));
            }
            return Err(script
                .explain(conn, e, &schema, &render("lock_tenant", &[code]))
                .await);
        }
    };
    if let Some(outside) = outside(&rows) {
        let e = crate::exit::UserError::new(format!(
            "migrations {} created or changed objects outside schema {schema}: {outside}; nothing was kept",
            script.labels().join(", ")
        ))
        .hint(
            "a module's migrations run in the tenant's schema alone: create objects with unqualified names \
             (no `public.` or other schema), and leave other schemas alone",
        );
        return Err(rollback(conn, e.into()).await);
    }
    let recorded: Option<i64> = rows.iter().find_map(|r| r.try_get("modkit_applied").ok());
    if recorded != i64::try_from(applied.len() + done.migrations_applied).ok() {
        let e = anyhow::anyhow!(
            "schema {schema} or the tenant's row changed while it was bootstrapped (dropped or renamed by someone else?); nothing was kept, run again"
        );
        return Err(rollback(conn, e).await);
    }
    sqlx::raw_sql("COMMIT").execute(&mut *conn).await?;
    done.schema_distributed = distributed(tenant, &done, &rows);
    Ok(done)
}

/// The prepared check: its name carries a hash of its text, so that a pooled server connection
/// holding another modkit version's never answers for this one.
fn prepared_check() -> &'static (String, String) {
    static PREPARED: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();
    PREPARED.get_or_init(|| {
        let check = crate::db::statements::sql("created_outside_schema")
            .trim_end()
            .trim_end_matches(';');
        let hash = crate::modules::sha256_hex(check.as_bytes());
        (format!("modkit_outside_{}", &hash[..12]), check.to_string())
    })
}

/// What each connection runs before its first tenant, for `--dry-run`.
pub(super) fn connection_setup_sql() -> Vec<String> {
    let (name, body) = prepared_check();
    vec![
        render("remember_outside_objects", &[]),
        format!("PREPARE {name} (name, boolean, text, bigint) AS {body}"),
    ]
}

/// `PREPARE` created_outside_schema on this connection, for an existing tenant's new migrations
/// on the fast path. Already prepared (a connection used before) is fine. A new tenant's check is
/// not prepared: its CREATE SCHEMA resets every cached plan, so that one is written to plan in
/// microseconds instead (refuse_outside_new_schema).
async fn prepare_checks(conn: &mut PgConnection) -> Result<()> {
    let (name, body) = prepared_check();
    let prepare = format!("PREPARE {name} (name, boolean, text, bigint) AS {body}");
    if let Err(e) = sqlx::raw_sql(AssertSqlSafe(prepare)).execute(&mut *conn).await {
        if super::sqlstate(&e).as_deref() != Some("42P05") {
            return Err(e.into());
        }
    }
    Ok(())
}

/// Whether this transaction distributed the tenant's schema on Citus: created it (with schema-based
/// sharding on), or distributed an existing one (citus_distribute_schema returned its row).
fn distributed(tenant: &TenantWork, done: &TenantDone, rows: &[PgRow]) -> bool {
    tenant.citus && (done.schema_created || rows.iter().any(|r| has_column(r, "modkit_distributed")))
}

/// BEGIN, asynchronous commit, the tenant's lock, its row (created if missing).
fn open_transaction(tenant: &TenantWork) -> Vec<String> {
    tenant_opening(tenant, |params| render("insert_tenant", params))
}

/// The same for a tenant planned as new, whose row insert fails if the row exists by now.
fn open_new_tenant(tenant: &TenantWork) -> Vec<String> {
    tenant_opening(tenant, |params| render("insert_new_tenant", params))
}

fn tenant_opening(tenant: &TenantWork, insert: impl Fn(&[Option<&str>]) -> String) -> Vec<String> {
    let spec = &tenant.spec;
    let code = Some(spec.code.as_str());
    let mut opening = vec!["BEGIN".to_string(), render("async_commit", &[])];
    if tenant.citus {
        opening.push(render("citus_schema_sharding", &[]));
    }
    opening.extend([
        render("lock_tenant", &[code]),
        render("stats_baseline", &[]),
        insert(&[
            code,
            Some(&spec.name),
            spec.domain.as_deref(),
            Some(&tenant.schema),
        ]),
    ]);
    opening
}

/// The schema (unless present), the tenant's search_path, and every migration not in `applied`
/// with its record; counted in `done`. An applied migration whose file changed is an error.
// The fast and the careful paths differ only in these flags; a struct for them would be read once.
#[allow(clippy::too_many_arguments)]
fn plan_script(
    script: &mut TenantScript,
    done: &mut TenantDone,
    modules: &[Module],
    tenant: &TenantWork,
    schema: &str,
    schema_present: bool,
    applied: &Applied,
    careful: bool,
) -> Result<(), String> {
    if !schema_present {
        let quoted = names::quote_ident(schema);
        script.setup(render("create_schema", &[]).replace(":schema", &quoted));
        done.schema_created = true;
    } else if tenant.citus {
        // A schema made before Citus, or with sharding off; a no-op when it is distributed already.
        script.setup(render("citus_distribute_schema", &[Some(schema)]));
    }
    add_migrations(script, done, modules, tenant, schema, applied, false, careful)
}

/// The tenant's search_path (its schema alone), then every migration not in `applied` with its
/// record, then the check that nothing was made outside the schema; counted in `done`. An applied
/// migration whose file changed (in this tenant, or as recorded in any other) is an error.
#[allow(clippy::too_many_arguments)]
fn add_migrations(
    script: &mut TenantScript,
    done: &mut TenantDone,
    modules: &[Module],
    tenant: &TenantWork,
    schema: &str,
    applied: &Applied,
    commits_itself: bool,
    careful: bool,
) -> Result<(), String> {
    let code = tenant.spec.code.as_str();
    script.setup(render("set_search_path", &[]).replace(":schema", &names::quote_ident(schema)));
    for module in modules {
        for migration in &module.migrations {
            let key = (module.id.clone(), migration.name.clone());
            if !applied.contains_key(&key) {
                if let Some((sum, other)) = recorded_elsewhere(&tenant.recorded, &key, &migration.checksum) {
                    return Err(checksum_message(
                        module,
                        &migration.name,
                        other,
                        sum,
                        &migration.checksum,
                    ));
                }
            }
            match applied.get(&key) {
                Some(sum) if *sum == migration.checksum => done.migrations_present += 1,
                Some(sum) => {
                    return Err(checksum_message(
                        module,
                        &migration.name,
                        code,
                        sum,
                        &migration.checksum,
                    ));
                }
                None => {
                    let record = render(
                        "record_migration_for_code",
                        &[
                            Some(code),
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
    // Before COMMIT: nothing the migrations made may live outside the tenant's schema. A new
    // tenant's script, which commits itself, fails on it; any other returns what it found, read
    // before COMMIT.
    if done.migrations_applied > 0 {
        let created = if done.schema_created { "true" } else { "false" };
        let records = done.migrations_applied.to_string();
        if careful {
            // Done anew (also where the connection lost what prepare_checks set up, as through a
            // transaction-pooling PgBouncer): the statement in full, reading the catalogs whole.
            script.before_commit(render(
                "created_outside_schema",
                &[Some(schema), Some("false"), Some(code), Some(&records)],
            ));
        } else if commits_itself {
            // A new tenant: the cheap check, which fails the transaction on anything outside (it is
            // then done anew, where created_outside_schema names it).
            // The schema goes in as a quoted identifier, which the statements cast to regnamespace:
            // a constant, its OID known when they are planned.
            let quoted = names::quote_ident(schema);
            let params = [Some(quoted.as_str()), Some(records.as_str())];
            script.before_commit(render("refuse_outside_new_schema", &params));
            script.before_commit(render("refuse_rare_outside_new_schema", &params));
        } else {
            // The statement prepared on the connection (prepare_checks), parameters as literals.
            let (check, _) = prepared_check();
            let args = [schema, created, code, records.as_str()]
                .map(crate::db::statements::literal)
                .join(", ");
            script.before_commit(format!("EXECUTE {check} ({args})"));
        }
    }
    Ok(())
}

/// End a failed tenant transaction; a connection that cannot even roll back is closed by the pool.
async fn rollback(conn: &mut PgConnection, err: anyhow::Error) -> anyhow::Error {
    roll_back(conn).await;
    err
}

/// A deadlock in a tenant's transaction: the tenants' transactions only meet on the system tables,
/// so a migration took a lock there that the others' writes wait for (a trigger, a policy, an index,
/// an ALTER or a foreign key on `public.sys_tenant`, or on another table outside its schema).
fn deadlock(script: &TenantScript, schema: &str, err: &anyhow::Error) -> anyhow::Error {
    crate::exit::UserError::new(format!(
        "migrations {} deadlocked with another tenant's bootstrap in schema {schema} ({}): a migration locks a table \
         outside the tenant's schema (a trigger, policy, index, ALTER or foreign key on public.sys_tenant or another \
         shared table), which every tenant's bootstrap writes; nothing was kept",
        script.labels().join(", "),
        err.downcast_ref::<sqlx::Error>()
            .and_then(|e| e.as_database_error())
            .map_or_else(|| "deadlock detected".to_string(), |d| d.message().to_string())
    ))
    .hint("a module's migrations keep to the tenant's schema: leave tables outside it alone (with --jobs 1 such a migration is refused, naming what it made)")
    .into()
}

/// The row insert_tenant returns when it created the tenant (`id`, `schema_name`), told apart
/// from rows a migration's own SELECTs may return by its columns.
fn is_inserted_tenant(row: &PgRow) -> bool {
    row.len() == 2 && has_column(row, "id") && has_column(row, "schema_name")
}

/// What created_outside_schema found outside the tenant's schema, if anything.
fn outside(rows: &[PgRow]) -> Option<String> {
    rows.iter()
        .filter(|r| has_column(r, "outside"))
        .find_map(|r| r.try_get::<Option<String>, _>("outside").ok().flatten())
}

fn has_column(row: &PgRow, name: &str) -> bool {
    row.columns().iter().any(|c| c.name() == name)
}

async fn roll_back(conn: &mut PgConnection) {
    let _ = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await;
}
