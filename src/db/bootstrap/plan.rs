//! The plan: from the catalog read at the start, which tenants need work and what `--check` and
//! `--dry-run` report, without touching any tenant.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::{FailureKind, Report, Request, TenantFailure, TenantSpec, unusable_schema_message};
use crate::db::catalog::{Catalog, SYSTEM_TABLES};
use crate::modules::Module;
use crate::names;

/// What one tenant needs, decided from the catalog (and decided again under its lock).
/// (module, migration file) -> the checksum recorded when it was applied.
pub(super) type Applied = HashMap<(String, String), String>;

/// (module, migration file) -> each distinct checksum recorded for it in any tenant, with one
/// tenant it was recorded in. The checksum already recorded is the truth: a file that differs
/// from it is never applied, to a new tenant either.
pub(super) type Recorded = HashMap<(String, String), Vec<(String, String)>>;

/// The recorded checksum of `key` that differs from `now`, if any, and the tenant it was recorded in.
pub(super) fn recorded_elsewhere<'a>(
    recorded: &'a Recorded,
    key: &(String, String),
    now: &str,
) -> Option<&'a (String, String)> {
    recorded.get(key)?.iter().find(|(sum, _)| sum != now)
}

#[derive(Debug, Clone)]
pub(super) struct TenantWork {
    pub spec: TenantSpec,
    /// The schema of an existing row (a foundation may name schemas its own way).
    pub schema: String,
    pub had_row: bool,
    pub had_schema: bool,
    /// Migrations not applied yet, per the catalog (`module/file.sql`).
    pub pending: Vec<String>,
    /// The migrations the catalog showed applied to the tenant: (module, file) -> checksum.
    pub applied: Applied,
    /// How many of the modules' migrations the catalog showed applied (and unchanged).
    pub present: usize,
    /// What every tenant recorded, shared by all the work.
    pub recorded: Arc<Recorded>,
    /// On a Citus coordinator: the schema is created distributed, an existing one is distributed,
    /// and the migrations are sent one statement per query (docs/citus.md).
    pub citus: bool,
    /// On Citus, the catalog showed the schema present but not distributed.
    pub undistributed: bool,
}

/// The tenants to look at: those asked for, and every tenant the database already has (module
/// tables belong in every tenant schema), unless the request is for the named ones only (`tenant
/// add`: another tenant's pending migration stays pending). Only those with something missing
/// become work.
pub(super) fn plan_tenants(req: &Request, catalog: &Catalog, report: &mut Report) -> Vec<TenantWork> {
    let mut recorded = Recorded::new();
    for (code, applied) in &catalog.applied {
        for (key, sum) in applied {
            let sums = recorded.entry(key.clone()).or_default();
            match sums.iter_mut().find(|(s, _)| s == sum) {
                // One tenant per checksum, the same on every run: the first code in order.
                Some(known) if known.1 <= *code => {}
                Some(known) => known.1 = code.clone(),
                None => sums.push((sum.clone(), code.clone())),
            }
        }
    }
    let recorded = Arc::new(recorded);
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
                applied: Applied::new(),
                present: 0,
                recorded: recorded.clone(),
                citus: catalog.topology.is_citus(),
                undistributed: false,
            });
        }
    }
    let mut existing: Vec<_> = catalog
        .tenants
        .values()
        .filter(|t| !req.only_named && !seen.contains(&t.code))
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
            applied: Applied::new(),
            present: 0,
            recorded: recorded.clone(),
            citus: catalog.topology.is_citus(),
            undistributed: false,
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
        let mut present = 0;
        let mut mismatch = None;
        for module in &req.modules {
            for migration in &module.migrations {
                let key = (module.id.clone(), migration.name.clone());
                match applied.and_then(|a| a.get(&key)) {
                    None => {
                        // Edited since another tenant recorded it: the same refusal as there.
                        if let Some((sum, other)) = recorded_elsewhere(&recorded, &key, &migration.checksum) {
                            mismatch.get_or_insert_with(|| {
                                checksum_message(module, &migration.name, other, sum, &migration.checksum)
                            });
                        }
                        pending.push(format!("{}/{}", module.id, migration.name))
                    }
                    Some(sum) if *sum != migration.checksum => {
                        mismatch.get_or_insert_with(|| {
                            checksum_message(module, &migration.name, &code, sum, &migration.checksum)
                        });
                    }
                    Some(_) => present += 1,
                }
            }
        }
        tenant.undistributed = has_schema && catalog.topology.undistributed(&tenant.schema);
        if let Some(citus) = report
            .citus
            .as_mut()
            .filter(|_| has_schema && !tenant.undistributed)
        {
            citus.distributed.existing += 1;
        }
        let needs_work = !has_row || !has_schema || !pending.is_empty() || tenant.undistributed;
        if has_row {
            report.tenants.existing += 1
        }
        if has_schema {
            report.schemas.existing += 1
        }
        // Migrations found applied, counted once: a tenant that becomes work replaces this count
        // with what its own run finds under its lock (run_tenants).
        report.migrations.existing += present;
        if let Some(message) = mismatch {
            report.failures.push(TenantFailure {
                tenant: code,
                message,
                kind: FailureKind::MigrationEdited,
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
                kind: FailureKind::Other,
            });
        } else if let Some(owner) = catalog
            .unusable_schemas
            .get(&tenant.schema)
            .filter(|_| has_schema && needs_work)
        {
            report.failures.push(TenantFailure {
                tenant: code,
                message: unusable_schema_message(&tenant.schema, owner, &catalog.role_name),
                kind: FailureKind::SchemaUnusable,
            });
        } else if needs_work {
            tenant.pending = pending;
            tenant.applied = applied.cloned().unwrap_or_default();
            tenant.present = present;
            work.push(tenant);
        }
    }
    work
}

pub(super) fn checksum_message(
    module: &Module,
    migration: &str,
    tenant: &str,
    applied: &str,
    now: &str,
) -> String {
    format!(
        "migration {}/{migration} was edited after it was applied to tenant `{tenant}`: applied sha256 {applied}, file now {now}; \
         nothing was applied over it (add a new migration file instead of editing an applied one)",
        module.id
    )
}

/// Dev tenants whose dev user lacks one of the module's permissions.
pub(super) fn plan_dev(req: &Request, catalog: &Catalog) -> Vec<String> {
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

pub(super) fn describe_pending(
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
        if tenant.undistributed {
            what.push(format!("schema {} distributed (Citus)", tenant.schema));
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
