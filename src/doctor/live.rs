//! Live checks, with `--db`: the database against the project's modules. Read-only: it runs the
//! bootstrap's own `--check` (the catalog read once, nothing written) and a few catalog queries.

use std::collections::BTreeSet;

use anyhow::Result;
use sqlx::{PgPool, Row};

use super::sql_words::sql_words;
use crate::db::bootstrap::{self, FailureKind, Mode, Request, unusable_schema_fix};
use crate::diagnostics::Diagnostic;
use crate::modules;
use crate::project::Project;

pub async fn run(pool: &PgPool, project: &Project) -> Result<Vec<Diagnostic>> {
    let mut out = Vec::new();
    let modules = modules::discover(project)?;
    let request = Request {
        modules: modules.clone(),
        tenants: Vec::new(),
        dev: None,
        jobs: 1,
        mode: Mode::Check,
        only_named: false,
    };
    let report = bootstrap::run(pool, &request, &indicatif::ProgressBar::hidden()).await?;
    for pending in &report.pending {
        out.push(
            Diagnostic::error(
                "db-pending",
                format!("the database is behind the code: {pending}"),
            )
            .hint("run `modkit bootstrap` to bring it up to date (with the same --db if doctor was given one; in a sandbox, `npm run dev` applies a saved migration by itself)"),
        );
    }
    for failure in &report.failures {
        let code = match failure.kind {
            FailureKind::MigrationEdited => "db-migration-edited",
            // Reported below for every tenant schema, whether or not it has work pending.
            FailureKind::SchemaUnusable => continue,
            FailureKind::Other => "db-tenant-failure",
        };
        out.push(Diagnostic::error(
            code,
            format!("tenant `{}`: {}", failure.tenant, failure.message),
        ));
    }

    let has_tenants: bool = sqlx::query("SELECT to_regclass('public.sys_tenant') IS NOT NULL AS present")
        .fetch_one(pool)
        .await?
        .try_get("present")?;
    module_tables_in_public(pool, &modules, has_tenants, &mut out).await?;
    out.extend(super::citus::run(pool, &modules).await?);
    if !has_tenants {
        return Ok(out);
    }
    super::objects::run(pool, &mut out).await?;
    // Tenant schemas (or schemas named like one) this role may not use: PostgreSQL leaves them out
    // of search_path without a word, and a bootstrap of that tenant is refused.
    let rows = sqlx::query(
        r"SELECT n.nspname::text, t.code, pg_get_userbyid(n.nspowner)::text, current_user::text
            FROM pg_namespace n
            LEFT JOIN public.sys_tenant t ON t.schema_name = n.nspname
           WHERE (t.code IS NOT NULL OR n.nspname LIKE 'tenant\_%')
             AND NOT (has_schema_privilege(n.oid, 'USAGE') AND has_schema_privilege(n.oid, 'CREATE'))
           ORDER BY 1",
    )
    .fetch_all(pool)
    .await?;
    for row in rows {
        let (schema, code, owner, role): (String, Option<String>, String, String) =
            (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?, row.try_get(3)?);
        let whose = code.map_or_else(|| "no tenant row yet".to_string(), |c| format!("tenant `{c}`"));
        out.push(
            Diagnostic::error(
                "db-schema-unusable",
                format!(
                    "schema {schema} ({whose}, owned by {owner}): this role ({role}) may not use it (USAGE and CREATE), \
                     so PostgreSQL leaves it out of search_path and bootstrap refuses the tenant"
                ),
            )
            .hint(unusable_schema_fix(&schema, &role)),
        );
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

/// Module tables in `public`, where every tenant would share them: relations there named like one a
/// tenant schema holds, or like one the modules' migrations create.
async fn module_tables_in_public(
    pool: &PgPool,
    modules: &[modules::Module],
    has_tenants: bool,
    out: &mut Vec<Diagnostic>,
) -> Result<()> {
    let created: Vec<String> = modules
        .iter()
        .flat_map(|m| &m.migrations)
        .flat_map(|m| created_relations(&m.sql))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let in_tenants = if has_tenants {
        "OR EXISTS (SELECT 1 FROM pg_class c2 JOIN pg_namespace n2 ON n2.oid = c2.relnamespace \
                    JOIN public.sys_tenant t ON t.schema_name = n2.nspname WHERE c2.relname = c.relname)"
    } else {
        ""
    };
    // Only one of two fixed texts is put in: no user input.
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT c.relname::text, CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' \
                WHEN 'S' THEN 'sequence' ELSE 'table' END \
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
          WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') \
            AND (c.relname = ANY($1) {in_tenants}) \
          ORDER BY 1"
    )))
    .bind(&created)
    .fetch_all(pool)
    .await?;
    for row in rows {
        let (name, kind): (String, String) = (row.try_get(0)?, row.try_get(1)?);
        out.push(
            Diagnostic::error(
                "db-module-table-in-public",
                format!(
                    "{kind} public.{name} is a module's, in schema public: every tenant whose search_path reaches \
                     public shares its rows"
                ),
            )
            .hint(format!(
                "move its rows into the tenant schemas they belong to, then drop it (`DROP {} public.{name};`); \
                 bootstrap now runs migrations in the tenant's schema alone",
                kind.to_uppercase()
            )),
        );
    }
    Ok(())
}

/// The names of the tables, views and sequences an SQL text creates (`CREATE [OR REPLACE]
/// [TEMP|UNLOGGED|MATERIALIZED] TABLE|VIEW|SEQUENCE [IF NOT EXISTS] [schema.]name`), unquoted names
/// folded to lower case as PostgreSQL does. Comments, string literals and dollar-quoted bodies
/// are skipped.
fn created_relations(sql: &str) -> Vec<String> {
    let words = sql_words(sql);
    let word = |i: usize| words.get(i).map(|(w, _)| w.as_str()).unwrap_or_default();
    let mut out = Vec::new();
    for i in 0..words.len() {
        if word(i) != "create" || words[i].1 {
            continue;
        }
        let mut j = i + 1;
        while matches!(
            word(j),
            "or" | "replace"
                | "temp"
                | "temporary"
                | "unlogged"
                | "global"
                | "local"
                | "materialized"
                | "recursive"
        ) {
            j += 1;
        }
        if !matches!(word(j), "table" | "view" | "sequence") {
            continue;
        }
        j += 1;
        if (word(j), word(j + 1), word(j + 2)) == ("if", "not", "exists") {
            j += 3;
        }
        // `schema.name`: the last part is the relation's name.
        while word(j + 1) == "." {
            j += 2;
        }
        if let Some((name, _)) = words.get(j).filter(|(w, _)| w != "(" && w != ".") {
            out.push(name.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::created_relations;

    #[test]
    fn finds_what_a_migration_creates() {
        let sql = "-- CREATE TABLE not_this (x int);\nCREATE TABLE items (id uuid);\n\
                   create unlogged table IF NOT EXISTS public.\"Logs\" (x text default 'create table nope');\n\
                   CREATE OR REPLACE VIEW v_items AS SELECT 1;\nCREATE MATERIALIZED VIEW mv AS SELECT 1;\n\
                   CREATE SEQUENCE seq1;\nCREATE FUNCTION f() RETURNS int AS $f$ CREATE TABLE hidden (x int) $f$ LANGUAGE sql;\n\
                   /* CREATE TABLE commented (x int) */ CREATE INDEX items_name ON items (name);";
        assert_eq!(created_relations(sql), ["items", "Logs", "v_items", "mv", "seq1"]);
    }
}
