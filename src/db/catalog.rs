//! What the database already holds, read once at the start of a bootstrap: a re-run over
//! thousands of tenants decides there is nothing to do from these few queries, without touching
//! any tenant.

use std::collections::{HashMap, HashSet};

use anyhow::{Context, Result};
use sqlx::{PgConnection, PgPool, Row};

use crate::db::simple;
use crate::db::statements::literal;

/// The shared schema extensions live in, after the tenant's schema on every search_path.
pub const EXTENSIONS_SCHEMA: &str = "extensions";

pub const SYSTEM_TABLES: [&str; 6] = [
    "sys_tenant",
    "sys_permission",
    "sys_role",
    "sys_role_permission",
    "sys_user_role",
    "sys_module_migration",
];

#[derive(Debug, Clone)]
pub struct TenantRow {
    pub code: String,
    pub schema_name: String,
}

#[derive(Debug, Default)]
pub struct Catalog {
    pub server_version_num: i32,
    pub server_version: String,
    pub has_pgcrypto: bool,
    /// Each installed extension: its schema, and whether it may be moved.
    pub extensions: HashMap<String, (String, bool)>,
    pub system_tables: HashSet<String>,
    /// code -> row
    pub tenants: HashMap<String, TenantRow>,
    pub schemas: HashSet<String>,
    /// Schemas this role may not use (USAGE and CREATE), with their owner: PostgreSQL silently
    /// leaves such a schema out of search_path, so a migration run "in" it would land elsewhere.
    pub unusable_schemas: HashMap<String, String>,
    /// The role modkit is connected as (`current_user`), for the GRANT that fixes a schema.
    pub role_name: String,
    /// tenant code -> (module, migration) -> checksum
    pub applied: HashMap<String, HashMap<(String, String), String>>,
    pub permissions: HashSet<String>,
    /// (tenant code, permission) the dev user holds through the dev role
    pub dev_grants: HashSet<(String, String)>,
    /// Tenants where the dev user holds the dev role (with or without permissions): a tenant once
    /// bootstrapped with `--tenant` stays a dev tenant for later plain runs.
    pub dev_tenants: HashSet<String>,
    /// Plain PostgreSQL or a Citus coordinator (read by `bootstrap::run` before this catalog).
    pub topology: crate::db::citus::Topology,
}

impl Catalog {
    /// What the extensions step has to do: the schema `extensions` to make, a declared extension
    /// to create, or one (pgcrypto included) to move there from another schema, one line each.
    pub fn extensions_pending(&self, declared: &[String]) -> Vec<String> {
        let mut out = Vec::new();
        if !self.schemas.contains(EXTENSIONS_SCHEMA) {
            out.push(format!("schema {EXTENSIONS_SCHEMA} is missing"));
        }
        for name in std::iter::once("pgcrypto").chain(declared.iter().map(String::as_str)) {
            match self.extensions.get(name) {
                None if name != "pgcrypto" => out.push(format!("extension {name} is not installed")),
                // Not movable: left where it is (reported by the run that finds it, and by doctor --db).
                Some((schema, true)) if schema != EXTENSIONS_SCHEMA => {
                    out.push(format!(
                        "extension {name} is in schema {schema}, not {EXTENSIONS_SCHEMA}"
                    ));
                }
                _ => {}
            }
        }
        out
    }

    pub fn has_system_tables(&self) -> bool {
        SYSTEM_TABLES.iter().all(|t| self.system_tables.contains(*t))
    }

    /// The system tables that exist in `public`.
    pub async fn system_tables_present(conn: &mut PgConnection) -> Result<HashSet<String>> {
        let names: Vec<String> = SYSTEM_TABLES.iter().map(|t| literal(t)).collect();
        let rows = simple(
            conn,
            format!(
                "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname IN ({})",
                names.join(", ")
            ),
        )
        .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    /// Read it in one read-only transaction on one pooled connection: one snapshot, one
    /// transaction whatever the number of tenants, and each statement bounded by `statement_timeout`
    /// (`connect::catalog_statement_timeout_ms`): a catalog read never hangs a run.
    pub async fn read(pool: &PgPool, dev: Option<(&str, &str)>) -> Result<Self> {
        let mut conn = pool.acquire().await?;
        let ms = crate::db::connect::catalog_statement_timeout_ms();
        simple(
            &mut conn,
            format!("BEGIN READ ONLY; SET LOCAL statement_timeout = {ms}"),
        )
        .await?;
        match Self::read_on(&mut conn, dev).await {
            Ok(cat) => {
                simple(&mut conn, "COMMIT".into()).await?;
                Ok(cat)
            }
            Err(e) => {
                // The error is the news; a connection that cannot even roll back is the pool's to close.
                let _ = simple(&mut conn, "ROLLBACK".into()).await;
                Err(e)
            }
        }
    }

    async fn read_on(conn: &mut PgConnection, dev: Option<(&str, &str)>) -> Result<Self> {
        let mut cat = Catalog::default();
        let rows = simple(
            conn,
            "SELECT current_setting('server_version_num')::int, current_setting('server_version'), \
             EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pgcrypto'), \
             current_setting('standard_conforming_strings'), current_user::text"
                .into(),
        )
        .await?;
        let row = rows.first().context("the server answered no row")?;
        cat.server_version_num = row.try_get(0)?;
        cat.server_version = row
            .try_get::<String, _>(1)?
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string();
        cat.has_pgcrypto = row.try_get(2)?;
        cat.role_name = row.try_get(4)?;
        // Tenant scripts carry names as '...' literals, which are only plain text with this on.
        if row.try_get::<String, _>(3)? != "on" {
            return Err(crate::exit::UserError::new("the server runs with standard_conforming_strings off")
                .hint("modkit needs it on (the default since PostgreSQL 9.1): ALTER DATABASE <db> SET standard_conforming_strings = on")
                .into());
        }
        cat.system_tables = Self::system_tables_present(conn).await?;
        for row in simple(conn, crate::db::statements::render("extension_schemas", &[])).await? {
            cat.extensions.insert(
                row.try_get("name")?,
                (row.try_get("schema")?, row.try_get("relocatable")?),
            );
        }
        for row in simple(
            conn,
            "SELECT nspname::text, has_schema_privilege(oid, 'USAGE') AND has_schema_privilege(oid, 'CREATE'), \
             pg_get_userbyid(nspowner)::text FROM pg_namespace"
                .into(),
        )
        .await?
        {
            let name: String = row.try_get(0)?;
            if !row.try_get::<bool, _>(1)? {
                cat.unusable_schemas.insert(name.clone(), row.try_get(2)?);
            }
            cat.schemas.insert(name);
        }

        if cat.system_tables.contains("sys_tenant") {
            for row in simple(
                conn,
                "SELECT id::text, code, schema_name FROM public.sys_tenant".into(),
            )
            .await?
            {
                let tenant = TenantRow {
                    code: row.try_get(1)?,
                    schema_name: row.try_get(2)?,
                };
                cat.tenants.insert(tenant.code.clone(), tenant);
            }
        }
        if cat.system_tables.contains("sys_module_migration") && cat.system_tables.contains("sys_tenant") {
            let rows = simple(
                conn,
                "SELECT t.code, m.module, m.migration, m.checksum FROM public.sys_module_migration m \
                 JOIN public.sys_tenant t ON t.id = m.tenant_id"
                    .into(),
            )
            .await?;
            for row in rows {
                let code: String = row.try_get(0)?;
                cat.applied
                    .entry(code)
                    .or_default()
                    .insert((row.try_get(1)?, row.try_get(2)?), row.try_get(3)?);
            }
        }
        if cat.system_tables.contains("sys_permission") {
            cat.permissions = column(conn, "SELECT code FROM public.sys_permission")
                .await?
                .into_iter()
                .collect();
        }
        if let Some((user, role)) = dev.filter(|_| cat.has_system_tables()) {
            let rows = simple(
                conn,
                format!(
                    "SELECT t.code, rp.permission FROM public.sys_user_role ur \
                     JOIN public.sys_tenant t ON t.id = ur.tenant_id \
                     JOIN public.sys_role r ON r.id = ur.role_id AND r.tenant_id = ur.tenant_id \
                     LEFT JOIN public.sys_role_permission rp ON rp.role_id = r.id \
                     WHERE ur.user_id = {} AND r.code = {}",
                    literal(user),
                    literal(role)
                ),
            )
            .await?;
            for row in rows {
                let tenant: String = row.try_get(0)?;
                if let Some(permission) = row.try_get::<Option<String>, _>(1)? {
                    cat.dev_grants.insert((tenant.clone(), permission));
                }
                cat.dev_tenants.insert(tenant);
            }
        }
        Ok(cat)
    }
}

async fn column(conn: &mut PgConnection, query: &str) -> Result<Vec<String>> {
    simple(conn, query.to_string())
        .await?
        .iter()
        .map(|r| Ok(r.try_get(0)?))
        .collect()
}
