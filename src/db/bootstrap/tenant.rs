//! Tenant work: one transaction per tenant (new tenants in batches, `units`), over `jobs`
//! connections, sent as scripts.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

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
    let units = Arc::new(units(&work, req.jobs));
    let work = Arc::new(work);
    let next = Arc::new(AtomicUsize::new(0));
    let batching = Arc::new(AtomicBool::new(true));
    let results = Arc::new(Mutex::new(Vec::new()));
    let modules = Arc::new(req.modules.clone());
    let mut workers = Vec::new();
    for _ in 0..req.jobs.clamp(1, units.len()) {
        let (pool, work, units, next, results, modules, progress, batching) = (
            pool.clone(),
            work.clone(),
            units.clone(),
            next.clone(),
            results.clone(),
            modules.clone(),
            progress.clone(),
            batching.clone(),
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
                let u = next.fetch_add(1, Ordering::Relaxed);
                let Some(unit) = units.get(u) else { break };
                let tenants: Vec<&TenantWork> = unit.iter().map(|i| &work[*i]).collect();
                let outcomes = bootstrap_batch(&mut conn, &modules, &tenants, &batching).await;
                let mut results = results.lock().await;
                for (i, outcome) in unit.iter().zip(outcomes) {
                    results.push((*i, outcome));
                    progress.inc(1);
                }
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
        for statement in open_new_tenant(tenant) {
            script.prelude(statement);
        }
        let done = new_schema_and_migrations(&mut script, modules, tenant, Check::NewTenant)?;
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
    let check = if careful { Check::Full } else { Check::Prepared };
    add_migrations(script, done, modules, tenant, schema, applied, check)
}

/// Which check a tenant's script ends with, before its COMMIT.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Check {
    /// created_outside_schema in full, not prepared: the careful path, which names what it finds.
    Full,
    /// The statement prepared on the connection: an existing tenant's new migrations.
    Prepared,
    /// A new tenant alone: refuse_outside_new_schema and its rare half, which fail the transaction.
    NewTenant,
    /// A new tenant in a batch: the batch's check, once after all of them (batch_script).
    InBatch,
}

/// The tenant's search_path (its schema alone), then every migration not in `applied` with its
/// record, then the check that nothing was made outside the schema; counted in `done`. An applied
/// migration whose file changed (in this tenant, or as recorded in any other) is an error.
fn add_migrations(
    script: &mut TenantScript,
    done: &mut TenantDone,
    modules: &[Module],
    tenant: &TenantWork,
    schema: &str,
    applied: &Applied,
    check: Check,
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
        if check == Check::Full {
            // Done anew (also where the connection lost what prepare_checks set up, as through a
            // transaction-pooling PgBouncer): the statement in full, reading the catalogs whole.
            script.before_commit(render(
                "created_outside_schema",
                &[Some(schema), Some("false"), Some(code), Some(&records)],
            ));
        } else if check == Check::NewTenant {
            // A new tenant: the cheap check, which fails the transaction on anything outside (it is
            // then done anew, where created_outside_schema names it).
            for statement in new_tenants_check(&[schema], done.migrations_applied) {
                script.before_commit(statement);
            }
        } else if check == Check::InBatch {
            // Checked once for the whole batch, after its last tenant.
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

/// The check before COMMIT of a transaction that made new tenants (one, or a batch): nothing
/// outside their `schemas` (in the order they were created), each tenant's objects made while it
/// ran, and exactly `records` migration records and one row per tenant written outside. Both
/// statements fail the transaction on anything else.
fn new_tenants_check(schemas: &[&str], records: usize) -> [String; 2] {
    // The schemas go in as quoted identifiers, which the statements cast to regnamespace: constants,
    // their OIDs known when they are planned. The array literal quotes each element for array_in.
    let quoted: Vec<String> = schemas.iter().map(|s| names::quote_ident(s)).collect();
    let array = format!(
        "{{{}}}",
        quoted
            .iter()
            .map(|q| format!("\"{}\"", q.replace('\\', "\\\\").replace('"', "\\\"")))
            .collect::<Vec<_>>()
            .join(",")
    );
    let (records, tenants) = (records.to_string(), schemas.len().to_string());
    let first = quoted.first().map(String::as_str);
    let params = [
        first,
        Some(records.as_str()),
        Some(array.as_str()),
        Some(tenants.as_str()),
    ];
    [
        render("refuse_outside_new_schema", &params),
        render("refuse_rare_outside_new_schema", &params),
    ]
}

/// The most new tenants one transaction makes. Each runs in a savepoint (a subtransaction id of
/// its own, which the check reads); PostgreSQL keeps 64 of them per transaction in shared memory
/// before every other session's snapshots get slower, so a batch stays well under that.
pub(super) const BATCH: usize = 16;

/// Whether a tenant is made by a batch: new per the catalog (no row, no schema, nothing applied),
/// and not on Citus (whose tenants are sent one statement per query, each schema placed on a
/// worker in its own transaction).
fn batchable(tenant: &TenantWork) -> bool {
    !tenant.citus && !tenant.had_row && !tenant.had_schema && tenant.applied.is_empty()
}

/// The work in the order it is done: each unit one transaction, the indexes of its tenants in
/// `work`. New tenants go in batches of up to BATCH, sorted by code (the order their locks are
/// taken, the same in every run: two runs never wait on each other's in a cycle), no larger than
/// needed for every one of the `jobs` connections to get one; every other tenant alone.
pub(super) fn units(work: &[TenantWork], jobs: usize) -> Vec<Vec<usize>> {
    let new = work.iter().filter(|t| batchable(t)).count();
    let size = new.div_ceil(jobs.max(1)).clamp(1, BATCH);
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut batch: Vec<usize> = Vec::new();
    for (i, tenant) in work.iter().enumerate() {
        if !batchable(tenant) {
            out.push(vec![i]);
            continue;
        }
        batch.push(i);
        if batch.len() == size {
            out.push(std::mem::take(&mut batch));
        }
    }
    if !batch.is_empty() {
        out.push(batch);
    }
    for unit in &mut out {
        unit.sort_by(|a, b| work[*a].spec.code.cmp(&work[*b].spec.code));
    }
    out
}

/// A new tenant's schema, created by a statement that fails if it exists by now, and every
/// migration in it, ended by `check`: what a new tenant's script holds, alone or in a batch.
fn new_schema_and_migrations(
    script: &mut TenantScript,
    modules: &[Module],
    tenant: &TenantWork,
    check: Check,
) -> Result<TenantDone, String> {
    let quoted = names::quote_ident(&tenant.schema);
    script.setup(render("create_new_schema", &[]).replace(":schema", &quoted));
    let mut done = TenantDone {
        tenant_created: true,
        schema_created: true,
        ..TenantDone::default()
    };
    add_migrations(
        script,
        &mut done,
        modules,
        tenant,
        &tenant.schema,
        &Applied::new(),
        check,
    )?;
    Ok(done)
}

/// Several new tenants in one transaction, one script with its own COMMIT: the transaction's
/// opening once, then each tenant in a savepoint of its own (its lock, row, schema, search_path,
/// migrations and records, as a new tenant's script has them), then one check for all of them.
/// What each tenant would count if made (the batch commits all of them or none).
pub(super) fn batch_script(
    modules: &[Module],
    tenants: &[&TenantWork],
) -> Result<(String, Vec<TenantDone>), String> {
    let mut parts = vec![
        "BEGIN".to_string(),
        render("async_commit", &[]),
        render("stats_baseline", &[]),
    ];
    let mut dones = Vec::new();
    let mut records = 0;
    for tenant in tenants {
        let spec = &tenant.spec;
        let code = Some(spec.code.as_str());
        let mut script = TenantScript::default();
        for statement in [
            "SAVEPOINT modkit_tenant".to_string(),
            render("lock_tenant", &[code]),
            render(
                "insert_new_tenant",
                &[
                    code,
                    Some(&spec.name),
                    spec.domain.as_deref(),
                    Some(&tenant.schema),
                ],
            ),
        ] {
            script.prelude(statement);
        }
        let done = new_schema_and_migrations(&mut script, modules, tenant, Check::InBatch)?;
        script.before_commit("RELEASE SAVEPOINT modkit_tenant".to_string());
        parts.extend(script.statements().into_iter().map(str::to_string));
        records += done.migrations_applied;
        dones.push(done);
    }
    let schemas: Vec<&str> = tenants.iter().map(|t| t.schema.as_str()).collect();
    parts.extend(new_tenants_check(&schemas, records));
    parts.push("COMMIT".to_string());
    Ok((parts.join(";\n") + ";", dones))
}

/// A batch of new tenants (`batch_script`), or each alone when the batch fails: a statement
/// failed or the check refused, for one of them or because of another (a concurrent run made one
/// meanwhile); each is then done in its own transaction, which commits the others and names the
/// one that fails. A batch that fails where each of its tenants alone succeeds (a migration that
/// makes a temporary table, say, which the next tenant in the same transaction makes again) turns
/// batching off for the rest of the run (`batching`).
async fn bootstrap_batch(
    conn: &mut PgConnection,
    modules: &[Module],
    tenants: &[&TenantWork],
    batching: &std::sync::atomic::AtomicBool,
) -> Vec<Result<TenantDone>> {
    if tenants.len() > 1 && batching.load(Ordering::Relaxed) {
        if let Ok((script, dones)) = batch_script(modules, tenants) {
            match sqlx::raw_sql(AssertSqlSafe(script)).execute(&mut *conn).await {
                Ok(_) => return dones.into_iter().map(Ok).collect(),
                Err(_) => roll_back(conn).await,
            }
        }
        let mut out = Vec::new();
        for tenant in tenants {
            out.push(bootstrap_tenant(conn, modules, tenant).await);
        }
        if out.iter().all(|r| r.as_ref().is_ok_and(|d| d.tenant_created)) {
            batching.store(false, Ordering::Relaxed);
        }
        return out;
    }
    let mut out = Vec::new();
    for tenant in tenants {
        out.push(bootstrap_tenant(conn, modules, tenant).await);
    }
    out
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
