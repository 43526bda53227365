//! Live checks, with `--db`: the database against the project's modules. Read-only: it runs the
//! bootstrap's own `--check` (the catalog read once, nothing written) and two catalog queries.

use anyhow::Result;
use sqlx::{PgPool, Row};

use crate::db::bootstrap::{self, Mode, Request};
use crate::diagnostics::Diagnostic;
use crate::modules;
use crate::project::Project;

pub async fn run(pool: &PgPool, project: &Project) -> Result<Vec<Diagnostic>> {
    let mut out = Vec::new();
    let request = Request {
        modules: modules::discover(project)?,
        tenants: Vec::new(),
        dev: None,
        jobs: 1,
        mode: Mode::Check,
    };
    let report = bootstrap::run(pool, &request, &indicatif::ProgressBar::hidden()).await?;
    for pending in &report.pending {
        out.push(
            Diagnostic::error(
                "db-pending",
                format!("the database is behind the code: {pending}"),
            )
            .hint("run `modkit bootstrap` (with this --db) to bring it up to date"),
        );
    }
    for failure in &report.failures {
        out.push(Diagnostic::error(
            "db-migration-edited",
            format!("tenant `{}`: {}", failure.tenant, failure.message),
        ));
    }

    let has_tenants: bool = sqlx::query("SELECT to_regclass('public.sys_tenant') IS NOT NULL AS present")
        .fetch_one(pool)
        .await?
        .try_get("present")?;
    if !has_tenants {
        return Ok(out);
    }
    // Module tables in tenant schemas that grew a tenant_id column.
    let rows = sqlx::query(
        "SELECT t.code, c.table_schema, c.table_name
           FROM information_schema.columns c
           JOIN public.sys_tenant t ON t.schema_name = c.table_schema
          WHERE c.column_name = 'tenant_id'
          ORDER BY 1, 3",
    )
    .fetch_all(pool)
    .await?;
    for row in rows {
        let (code, schema, table): (String, String, String) =
            (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        out.push(
            Diagnostic::error("db-module-table-tenant-id", format!("table {schema}.{table} of tenant `{code}` has a tenant_id column"))
                .hint("module tables live in the tenant's schema, which is the tenant: add a migration that drops the column"),
        );
    }
    // Schemas named like a tenant's, with no tenant row: left over, or made by hand.
    let rows = sqlx::query(
        r"SELECT n.nspname FROM pg_namespace n
           WHERE n.nspname LIKE 'tenant\_%'
             AND NOT EXISTS (SELECT 1 FROM public.sys_tenant t WHERE t.schema_name = n.nspname)
           ORDER BY 1",
    )
    .fetch_all(pool)
    .await?;
    for row in rows {
        let schema: String = row.try_get(0)?;
        out.push(
            Diagnostic::warning("db-schema-without-tenant", format!("schema {schema} has no row in public.sys_tenant"))
                .hint("drop it if it is a leftover; `modkit bootstrap --tenant <code>` would give it to that tenant, with what it holds"),
        );
    }
    Ok(out)
}
