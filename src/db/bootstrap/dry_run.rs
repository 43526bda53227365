//! `--dry-run`: the statements an apply would run, from the plan and each tenant's planned script.

use super::Request;
use super::plan::TenantWork;
use super::tenant::{batch_script, planned_script, units};
use crate::db::catalog::Catalog;
use crate::db::statements::{render, sql, system_sql};

/// The statements an apply would run, parameters shown inline.
pub(super) fn dry_run_sql(
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
    for unit in units(work, req.jobs) {
        if unit.len() > 1 {
            let tenants: Vec<&TenantWork> = unit.iter().map(|i| &work[*i]).collect();
            let codes: Vec<&str> = tenants.iter().map(|t| t.spec.code.as_str()).collect();
            out.push(format!(
                "-- new tenants {}: one transaction, each in a savepoint (should it fail, each is done alone, as for one tenant)",
                codes.join(", ")
            ));
            match batch_script(&req.modules, &tenants) {
                Ok((script, _)) => out.push(script),
                Err(message) => out.push(format!("-- not sent: {message}")),
            }
            continue;
        }
        let tenant = &work[unit[0]];
        out.push(format!("-- tenant {}", tenant.spec.code));
        match planned_script(&req.modules, tenant) {
            Ok((script, _)) => {
                out.push(script.text());
                if !script.commits() {
                    out.push(
                        "-- COMMIT is sent once plan_check counts the records the plan expects\nCOMMIT;"
                            .into(),
                    );
                }
            }
            Err(message) => out.push(format!("-- not sent: {message}")),
        }
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
