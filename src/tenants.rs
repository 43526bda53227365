//! Operations on tenants (`modkit tenant list|rename|remove`; `tenant add` is the bootstrap of one
//! tenant, done by the bootstrap engine). Each change runs in one transaction under the tenant's
//! advisory lock, the one bootstrap takes (`lock_tenant`), so it never interleaves with a bootstrap
//! of the same tenant.

use anyhow::{Context, Result};
use serde::Serialize;
use sqlx::{PgPool, Row};

use crate::db::statements;
use crate::exit::UserError;
use crate::modules::Module;
use crate::names;

/// One tenant as `tenant list` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct TenantRow {
    pub code: String,
    pub name: String,
    pub schema: String,
    /// Bytes of every table, index and TOAST of the schema (the planner's estimate, or measured on
    /// disk with `--exact-size`); None when the schema is missing.
    pub size_bytes: Option<i64>,
    /// Migrations of the project's modules not applied in this tenant yet.
    pub pending_migrations: usize,
    /// On Citus: the worker node holding the schema's shards (host:port).
    pub worker: Option<String>,
}

/// Every tenant, in a constant number of queries whatever their number: one for the tenants and
/// their sizes, one for the applied migrations, one on Citus for the workers.
pub async fn list(pool: &PgPool, modules: &[Module], exact: bool) -> Result<Vec<TenantRow>> {
    if !system_tables_exist(pool).await? {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(
        // One pass over pg_class grouped by schema: a subquery per tenant would scan pg_class once
        // per tenant (it has no index on relnamespace alone), 4 s at 1,000 tenants. The size is
        // the planner's (relpages, as of the last VACUUM/ANALYZE, no file touched) unless `exact`:
        // then each relation's files are measured, 0.5 s at 1,000 tenants.
        sqlx::AssertSqlSafe(format!("WITH sizes AS (
           SELECT c.relnamespace, sum({size})::bigint AS size
             FROM pg_catalog.pg_class c
             LEFT JOIN pg_catalog.pg_class toast ON toast.oid = c.reltoastrelid
            WHERE c.relkind IN ('r', 'm', 'p')
            GROUP BY c.relnamespace)
         SELECT t.code, t.name, t.schema_name, s.size, n.oid IS NOT NULL AS present
           FROM public.sys_tenant t
           LEFT JOIN pg_catalog.pg_namespace n ON n.nspname = t.schema_name
           LEFT JOIN sizes s ON s.relnamespace = n.oid
          ORDER BY t.code",
            size = if exact {
                "pg_catalog.pg_total_relation_size(c.oid)"
            } else {
                "(c.relpages::bigint + COALESCE(toast.relpages, 0)
                  + COALESCE((SELECT sum(i.relpages) FROM pg_catalog.pg_index x
                                JOIN pg_catalog.pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = c.oid), 0))
                 * current_setting('block_size')::bigint"
            }
        )),
    )
    .fetch_all(pool)
    .await
    .context("cannot list the tenants")?;
    let applied = sqlx::query(
        "SELECT t.code, m.module, m.migration
           FROM public.sys_module_migration m JOIN public.sys_tenant t ON t.id = m.tenant_id",
    )
    .fetch_all(pool)
    .await
    .context("cannot read the applied migrations")?;
    let mut done: std::collections::HashSet<(String, String, String)> = std::collections::HashSet::new();
    for row in applied {
        done.insert((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?));
    }
    let workers = citus_workers(pool).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let code: String = row.try_get(0)?;
        let schema: String = row.try_get(2)?;
        let present: bool = row.try_get(4)?;
        let pending = modules
            .iter()
            .flat_map(|m| m.migrations.iter().map(move |g| (m.id.clone(), g.name.clone())))
            .filter(|(module, migration)| !done.contains(&(code.clone(), module.clone(), migration.clone())))
            .count();
        out.push(TenantRow {
            worker: workers.get(&schema).cloned(),
            name: row.try_get(1)?,
            size_bytes: if present {
                Some(row.try_get::<Option<i64>, _>(3)?.unwrap_or(0))
            } else {
                None
            },
            pending_migrations: pending,
            schema,
            code,
        });
    }
    Ok(out)
}

/// On a Citus coordinator, the worker of each distributed schema; empty elsewhere.
async fn citus_workers(pool: &PgPool) -> Result<std::collections::HashMap<String, String>> {
    let citus: bool = sqlx::query_scalar("SELECT to_regclass('pg_catalog.pg_dist_schema') IS NOT NULL")
        .fetch_one(pool)
        .await?;
    if !citus {
        return Ok(Default::default());
    }
    // A distributed schema's tables are colocated: the placement of any one shard names the node.
    // Citus's metadata only (citus_shards would ask every worker for sizes).
    let rows = sqlx::query(
        "SELECT DISTINCT ON (n.nspname) n.nspname::text, nd.nodename || ':' || nd.nodeport
           FROM pg_catalog.pg_dist_schema ds
           JOIN pg_catalog.pg_namespace n ON n.oid = ds.schemaid
           JOIN pg_catalog.pg_dist_partition p ON p.colocationid = ds.colocationid
           JOIN pg_catalog.pg_dist_shard s ON s.logicalrelid = p.logicalrelid
           JOIN pg_catalog.pg_dist_placement pl ON pl.shardid = s.shardid
           JOIN pg_catalog.pg_dist_node nd ON nd.groupid = pl.groupid
          ORDER BY n.nspname, nd.nodename, nd.nodeport",
    )
    .fetch_all(pool)
    .await
    .context("cannot read the Citus schemas' workers")?;
    let mut out = std::collections::HashMap::new();
    for row in rows {
        out.insert(row.try_get(0)?, row.try_get(1)?);
    }
    Ok(out)
}

async fn system_tables_exist(pool: &PgPool) -> Result<bool> {
    Ok(
        sqlx::query_scalar("SELECT to_regclass('public.sys_tenant') IS NOT NULL")
            .fetch_one(pool)
            .await?,
    )
}

fn unknown_tenant(code: &str) -> anyhow::Error {
    UserError::new(format!("there is no tenant `{code}` in this database"))
        .hint("`modkit tenant list` shows the tenants; `modkit tenant add CODE` makes one")
        .into()
}

/// `tenant rename CODE --to NEW`: the tenant's code and its schema (`tenant_<new>`), in one
/// transaction under both codes' locks (taken in a fixed order, so two renames cannot deadlock).
pub async fn rename(pool: &PgPool, code: &str, to: &str) -> Result<(String, String)> {
    names::check_tenant_code(code)?;
    names::check_tenant_code(to)?;
    if code == to {
        return Err(UserError::new(format!("tenant `{code}` already has that code"))
            .hint("pass another code to --to")
            .into());
    }
    if !system_tables_exist(pool).await? {
        return Err(unknown_tenant(code));
    }
    let mut tx = pool.begin().await?;
    let (first, second) = if code < to { (code, to) } else { (to, code) };
    for c in [first, second] {
        sqlx::query(statements::sql("lock_tenant"))
            .bind(c)
            .execute(&mut *tx)
            .await?;
    }
    let row = sqlx::query("SELECT schema_name FROM public.sys_tenant WHERE code = $1")
        .bind(code)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(row) = row else {
        return Err(unknown_tenant(code));
    };
    let old_schema: String = row.try_get(0)?;
    let taken: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM public.sys_tenant WHERE code = $1 OR schema_name = $2)
             OR EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $2)",
    )
    .bind(to)
    .bind(format!("{}{to}", names::TENANT_SCHEMA_PREFIX))
    .fetch_one(&mut *tx)
    .await?;
    let new_schema = format!("{}{to}", names::TENANT_SCHEMA_PREFIX);
    if taken {
        return Err(UserError::new(format!(
            "cannot rename tenant `{code}` to `{to}`: a tenant `{to}` or a schema {new_schema} exists already"
        ))
        .hint("choose another code, or remove that tenant first (`modkit tenant remove`)")
        .into());
    }
    let present: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1)")
            .bind(&old_schema)
            .fetch_one(&mut *tx)
            .await?;
    if present {
        // Both names quoted; the new one is `tenant_<checked code>`.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "ALTER SCHEMA {} RENAME TO {}",
            quote_ident(&old_schema),
            quote_ident(&new_schema)
        )))
        .execute(&mut *tx)
        .await
        .with_context(|| format!("cannot rename schema {old_schema}"))?;
    }
    // The display name follows the code only where it was the code (bootstrap's default).
    sqlx::query(
        "UPDATE public.sys_tenant SET code = $2, schema_name = $3,
                name = CASE WHEN name = $1 THEN $2 ELSE name END
          WHERE code = $1",
    )
    .bind(code)
    .bind(to)
    .bind(&new_schema)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((old_schema, new_schema))
}

/// What `tenant remove` removed.
#[derive(Debug, Serialize)]
pub struct Removed {
    pub code: String,
    pub schema: String,
    pub schema_dropped: bool,
    pub roles: i64,
    pub user_roles: i64,
    pub migrations: i64,
}

/// The tenant as `tenant remove` would remove it, without changing anything.
pub async fn describe_removal(pool: &PgPool, code: &str) -> Result<Removed> {
    names::check_tenant_code(code)?;
    if !system_tables_exist(pool).await? {
        return Err(unknown_tenant(code));
    }
    let mut conn = pool.acquire().await?;
    removal_counts(&mut conn, code).await
}

async fn removal_counts(conn: &mut sqlx::PgConnection, code: &str) -> Result<Removed> {
    let row = sqlx::query(
        "SELECT t.schema_name,
                EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = t.schema_name),
                (SELECT count(*) FROM public.sys_role r WHERE r.tenant_id = t.id),
                (SELECT count(*) FROM public.sys_user_role u WHERE u.tenant_id = t.id),
                (SELECT count(*) FROM public.sys_module_migration m WHERE m.tenant_id = t.id)
           FROM public.sys_tenant t WHERE t.code = $1",
    )
    .bind(code)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Err(unknown_tenant(code));
    };
    Ok(Removed {
        code: code.to_string(),
        schema: row.try_get(0)?,
        schema_dropped: row.try_get(1)?,
        roles: row.try_get(2)?,
        user_roles: row.try_get(3)?,
        migrations: row.try_get(4)?,
    })
}

/// `tenant remove CODE`: its schema (with everything in it) and its rows in the system tables (the
/// roles, grants and migration records go with the tenant row: ON DELETE CASCADE), in one
/// transaction under the tenant's lock. Nothing of another tenant is touched: only this tenant's
/// schema is dropped, and only rows referencing this tenant's id are deleted.
pub async fn remove(pool: &PgPool, code: &str) -> Result<Removed> {
    names::check_tenant_code(code)?;
    if !system_tables_exist(pool).await? {
        return Err(unknown_tenant(code));
    }
    let mut tx = pool.begin().await?;
    sqlx::query(statements::sql("lock_tenant"))
        .bind(code)
        .execute(&mut *tx)
        .await?;
    let removed = removal_counts(&mut tx, code).await?;
    if removed.schema_dropped {
        // RESTRICT on anything outside the schema that depends on it: CASCADE drops what is in
        // the schema, and would also drop another schema's view on one of its tables; refuse that.
        let outside: Option<String> = sqlx::query_scalar(
            "SELECT string_agg(DISTINCT dn.nspname || '.' || dc.relname, ', ')
               FROM pg_catalog.pg_depend d
               JOIN pg_catalog.pg_class c ON c.oid = d.refobjid AND d.refclassid = 'pg_catalog.pg_class'::regclass
               JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
               JOIN pg_catalog.pg_rewrite rw ON rw.oid = d.objid AND d.classid = 'pg_catalog.pg_rewrite'::regclass
               JOIN pg_catalog.pg_class dc ON dc.oid = rw.ev_class
               JOIN pg_catalog.pg_namespace dn ON dn.oid = dc.relnamespace
              WHERE n.nspname = $1 AND dn.nspname <> $1",
        )
        .bind(&removed.schema)
        .fetch_one(&mut *tx)
        .await?;
        if let Some(outside) = outside {
            return Err(UserError::new(format!(
                "cannot remove tenant `{code}`: objects outside its schema depend on it ({outside}); nothing was changed"
            ))
            .hint("drop or change those objects first: removing a tenant never touches anything outside it")
            .into());
        }
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA {} CASCADE",
            quote_ident(&removed.schema)
        )))
        .execute(&mut *tx)
        .await
        .with_context(|| format!("cannot drop schema {}", removed.schema))?;
    }
    sqlx::query("DELETE FROM public.sys_tenant WHERE code = $1")
        .bind(code)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(removed)
}

/// A PostgreSQL identifier, quoted.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Bytes for people: `12.3 MB`.
pub fn human_size(bytes: i64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    #[allow(clippy::cast_precision_loss)] // a display value
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// What `tenant clone` made.
#[derive(Debug, Serialize)]
pub struct Cloned {
    pub from: String,
    pub to: String,
    pub schema: String,
    pub tables: usize,
    pub indexes: usize,
    pub sequences: usize,
    pub rows: u64,
}

async fn exec(tx: &mut sqlx::PgConnection, sql: String) -> Result<u64> {
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
        .execute(&mut *tx)
        .await
        .with_context(|| format!("cannot run: {sql}"))?
        .rows_affected())
}

async fn strings(tx: &mut sqlx::PgConnection, sql: &'static str, schema: &str) -> Result<Vec<Vec<String>>> {
    let rows = sqlx::query(sql).bind(schema).fetch_all(&mut *tx).await?;
    rows.iter()
        .map(|r| {
            (0..r.len())
                .map(|i| r.try_get::<String, _>(i).map_err(Into::into))
                .collect()
        })
        .collect()
}

/// `tenant clone CODE --to NEW [--data]`: a new tenant whose schema has the same tables, columns,
/// defaults, constraints, indexes and sequences (and with `data` the same rows and sequence
/// positions), and the source's migration records, so bootstrap applies nothing twice. One
/// transaction, under both codes' locks. Roles and grants are not copied. A schema holding
/// anything else (views, functions, triggers, types) is refused, naming it, rather than cloned in part.
pub async fn clone(pool: &PgPool, code: &str, to: &str, data: bool) -> Result<Cloned> {
    names::check_tenant_code(code)?;
    names::check_tenant_code(to)?;
    if !system_tables_exist(pool).await? {
        return Err(unknown_tenant(code));
    }
    let mut conn = pool.acquire().await?;
    let citus: bool = sqlx::query_scalar("SELECT to_regclass('pg_catalog.pg_dist_schema') IS NOT NULL")
        .fetch_one(&mut *conn)
        .await?;
    let mut tx = sqlx::Acquire::begin(&mut *conn).await?;
    if citus {
        sqlx::query(statements::sql("citus_schema_sharding"))
            .execute(&mut *tx)
            .await?;
    }
    let (first, second) = if code < to { (code, to) } else { (to, code) };
    for c in [first, second] {
        sqlx::query(statements::sql("lock_tenant"))
            .bind(c)
            .execute(&mut *tx)
            .await?;
    }
    // Names come back schema-qualified from pg_get_*def with only pg_catalog on the path.
    sqlx::query("SELECT pg_catalog.set_config('search_path', 'pg_catalog', true)")
        .execute(&mut *tx)
        .await?;
    let source =
        sqlx::query("SELECT id::text, name, domain, schema_name FROM public.sys_tenant WHERE code = $1")
            .bind(code)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(source) = source else {
        return Err(unknown_tenant(code));
    };
    let (source_id, name, domain, old): (String, String, Option<String>, String) = (
        source.try_get(0)?,
        source.try_get(1)?,
        source.try_get(2)?,
        source.try_get(3)?,
    );
    let new = format!("{}{to}", names::TENANT_SCHEMA_PREFIX);
    let taken: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM public.sys_tenant WHERE code = $1 OR schema_name = $2)
             OR EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $2)",
    )
    .bind(to)
    .bind(&new)
    .fetch_one(&mut *tx)
    .await?;
    if taken {
        return Err(UserError::new(format!(
            "cannot clone tenant `{code}` to `{to}`: a tenant `{to}` or a schema {new} exists already"
        ))
        .hint("choose another code")
        .into());
    }
    let unsupported: Option<String> = sqlx::query_scalar(
        "SELECT string_agg(what, ', ') FROM (
           SELECT CASE c.relkind WHEN 'v' THEN 'view ' WHEN 'm' THEN 'materialized view ' WHEN 'f' THEN 'foreign table '
                  ELSE 'relation ' END || c.relname AS what
             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = $1 AND c.relkind NOT IN ('r', 'i', 'S', 'p', 'I', 't', 'c')
           UNION ALL
           SELECT 'function ' || p.proname FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname = $1
           UNION ALL
           SELECT 'trigger ' || t.tgname FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND NOT t.tgisinternal
           UNION ALL
           SELECT 'type ' || t.typname FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
            WHERE n.nspname = $1 AND t.typcategory <> 'A' -- arrays come with their element type
              AND (t.typtype IN ('e', 'd', 'r', 'm', 'b')
                   OR (t.typtype = 'c' AND NOT EXISTS (
                         SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid AND c.relkind IN ('r', 'p'))))
         ) x",
    )
    .bind(&old)
    .fetch_one(&mut *tx)
    .await?;
    if let Some(list) = unsupported {
        return Err(UserError::new(format!(
            "cannot clone tenant `{code}`: schema {old} holds objects clone does not copy ({list}); nothing was changed"
        ))
        .hint(format!(
            "make the tenant with `modkit tenant add {to}` (the modules' migrations make their objects), then copy its rows"
        ))
        .into());
    }
    let (qo, qn) = (quote_ident(&old), quote_ident(&new));
    // A qualified reference to the source schema in a definition, made to name the new one.
    let requalify = |def: &str| -> String {
        def.replace(&format!("{old}."), &format!("{new}."))
            .replace(&format!("{qo}."), &format!("{qn}."))
    };

    exec(&mut tx, format!("CREATE SCHEMA {qn}")).await?;
    sqlx::query(statements::sql("insert_new_tenant"))
        .bind(to)
        .bind(if name == code { to } else { name.as_str() })
        .bind(domain)
        .bind(&new)
        .execute(&mut *tx)
        .await?;

    // Sequences not behind an identity column (those come with their table).
    let sequences = strings(
        &mut tx,
        "SELECT s.sequencename::text, s.data_type::regtype::text, s.start_value::text, s.min_value::text,
                s.max_value::text, s.increment_by::text, s.cache_size::text, CASE WHEN s.cycle THEN 'CYCLE' ELSE 'NO CYCLE' END,
                COALESCE(s.last_value::text, ''), CASE WHEN s.last_value IS NULL THEN 'false' ELSE 'true' END
           FROM pg_catalog.pg_sequences s
          WHERE s.schemaname = $1 AND NOT EXISTS (
                SELECT 1 FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_class c ON c.oid = d.objid
                 WHERE c.relname = s.sequencename AND c.relnamespace = $1::regnamespace AND d.deptype = 'i')
          ORDER BY 1",
        &old,
    )
    .await?;
    for s in &sequences {
        exec(
            &mut tx,
            format!(
                "CREATE SEQUENCE {qn}.{} AS {} START {} MINVALUE {} MAXVALUE {} INCREMENT {} CACHE {} {}",
                quote_ident(&s[0]),
                s[1],
                s[2],
                s[3],
                s[4],
                s[5],
                s[6],
                s[7]
            ),
        )
        .await?;
        if data && s[9] == "true" {
            exec(
                &mut tx,
                format!(
                    "SELECT pg_catalog.setval('{qn}.{}', {}, true)",
                    quote_ident(&s[0]).replace('\'', "''"),
                    s[8]
                ),
            )
            .await?;
        }
    }

    // Tables: columns, defaults, NOT NULL and CHECK constraints, identity, generated columns,
    // storage, comments; indexes and key constraints later, after the rows (faster to build once).
    let tables = strings(
        &mut tx,
        "SELECT c.relname::text FROM pg_catalog.pg_class c
          WHERE c.relnamespace = $1::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY 1",
        &old,
    )
    .await?;
    for t in &tables {
        let qt = quote_ident(&t[0]);
        exec(
            &mut tx,
            format!("CREATE TABLE {qn}.{qt} (LIKE {qo}.{qt} INCLUDING ALL EXCLUDING INDEXES)"),
        )
        .await?;
    }
    // Defaults that call the source schema's sequences call the new ones.
    let defaults = strings(
        &mut tx,
        "SELECT c.relname::text, a.attname::text, pg_catalog.pg_get_expr(d.adbin, d.adrelid)
           FROM pg_catalog.pg_attrdef d
           JOIN pg_catalog.pg_class c ON c.oid = d.adrelid
           JOIN pg_catalog.pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
          WHERE c.relnamespace = $1::regnamespace AND a.attgenerated = ''",
        &old,
    )
    .await?;
    for d in &defaults {
        let fixed = requalify(&d[2]);
        if fixed != d[2] {
            exec(
                &mut tx,
                format!(
                    "ALTER TABLE {qn}.{} ALTER COLUMN {} SET DEFAULT {fixed}",
                    quote_ident(&d[0]),
                    quote_ident(&d[1])
                ),
            )
            .await?;
        }
    }
    let mut rows = 0;
    if data {
        let columns = strings(
            &mut tx,
            "SELECT c.relname::text, string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum)
               FROM pg_catalog.pg_class c JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid
              WHERE c.relnamespace = $1::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition
                AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
              GROUP BY c.relname",
            &old,
        )
        .await?;
        for c in &columns {
            let qt = quote_ident(&c[0]);
            rows += exec(
                &mut tx,
                format!(
                    "INSERT INTO {qn}.{qt} ({cols}) OVERRIDING SYSTEM VALUE SELECT {cols} FROM {qo}.{qt}",
                    cols = c[1]
                ),
            )
            .await?;
        }
        // Identity sequences continue where the source's are.
        let identities = strings(
            &mut tx,
            "SELECT c.relname::text, a.attname::text,
                    COALESCE((SELECT s.last_value::text FROM pg_catalog.pg_sequences s
                               WHERE s.schemaname = $1
                                 AND s.sequencename = pg_catalog.split_part(pg_catalog.pg_get_serial_sequence(
                                       pg_catalog.quote_ident($1) || '.' || pg_catalog.quote_ident(c.relname), a.attname), '.', 2)), '')
               FROM pg_catalog.pg_class c JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid
              WHERE c.relnamespace = $1::regnamespace AND a.attidentity <> ''",
            &old,
        )
        .await?;
        for i in identities.iter().filter(|i| !i[2].is_empty()) {
            exec(
                &mut tx,
                format!(
                    "SELECT pg_catalog.setval(pg_catalog.pg_get_serial_sequence('{}', '{}'), {}, true)",
                    format!("{qn}.{}", quote_ident(&i[0])).replace('\'', "''"),
                    i[1].replace('\'', "''"),
                    i[2]
                ),
            )
            .await?;
        }
    }
    // Key and exclusion constraints, then the other indexes, then foreign keys (they need the keys).
    let constraints = strings(
        &mut tx,
        "SELECT c.relname::text, k.conname::text, pg_catalog.pg_get_constraintdef(k.oid), k.contype::text
           FROM pg_catalog.pg_constraint k JOIN pg_catalog.pg_class c ON c.oid = k.conrelid
          WHERE c.relnamespace = $1::regnamespace AND k.contype IN ('p', 'u', 'x', 'f') AND k.conparentid = 0
          ORDER BY CASE k.contype WHEN 'f' THEN 1 ELSE 0 END, 1, 2",
        &old,
    )
    .await?;
    let add_constraint = |k: &Vec<String>| {
        format!(
            "ALTER TABLE {qn}.{} ADD CONSTRAINT {} {}",
            quote_ident(&k[0]),
            quote_ident(&k[1]),
            requalify(&k[2])
        )
    };
    let mut indexes = 0;
    for k in constraints.iter().filter(|k| k[3] != "f") {
        exec(&mut tx, add_constraint(k)).await?;
        indexes += 1;
    }
    let plain_indexes = strings(
        &mut tx,
        "SELECT pg_catalog.pg_get_indexdef(i.indexrelid)
           FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
          WHERE c.relnamespace = $1::regnamespace
            AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k WHERE k.conindid = i.indexrelid)
          ORDER BY 1",
        &old,
    )
    .await?;
    for i in &plain_indexes {
        exec(
            &mut tx,
            i[0].replacen(&format!(" ON {old}."), &format!(" ON {new}."), 1)
                .replacen(&format!(" ON ONLY {old}."), &format!(" ON ONLY {new}."), 1),
        )
        .await?;
        indexes += 1;
    }
    for k in constraints.iter().filter(|k| k[3] == "f") {
        exec(&mut tx, add_constraint(k)).await?;
    }
    // Sequences owned by a column stay owned by the same column of the new table.
    let owned = strings(
        &mut tx,
        "SELECT s.relname::text, t.relname::text, a.attname::text
           FROM pg_catalog.pg_depend d
           JOIN pg_catalog.pg_class s ON s.oid = d.objid AND s.relkind = 'S'
           JOIN pg_catalog.pg_class t ON t.oid = d.refobjid
           JOIN pg_catalog.pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
          WHERE s.relnamespace = $1::regnamespace AND d.deptype = 'a'",
        &old,
    )
    .await?;
    for o in &owned {
        exec(
            &mut tx,
            format!(
                "ALTER SEQUENCE {qn}.{} OWNED BY {qn}.{}.{}",
                quote_ident(&o[0]),
                quote_ident(&o[1]),
                quote_ident(&o[2])
            ),
        )
        .await?;
    }
    // The migrations the structure came from: bootstrap applies none of them again.
    sqlx::query(
        "INSERT INTO public.sys_module_migration (tenant_id, module, migration, checksum, applied_at)
         SELECT t.id, m.module, m.migration, m.checksum, m.applied_at
           FROM public.sys_module_migration m, public.sys_tenant t
          WHERE m.tenant_id = $1::uuid AND t.code = $2",
    )
    .bind(&source_id)
    .bind(to)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Cloned {
        from: code.to_string(),
        to: to.to_string(),
        schema: new,
        tables: tables.len(),
        indexes,
        sequences: sequences.len(),
        rows,
    })
}
