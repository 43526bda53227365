//! Access in a tenant (`modkit grant|revoke|access list`): the rows of `sys_role`,
//! `sys_role_permission` and `sys_user_role` that `requirePermission` reads. A grant of a role
//! assigns it (made, empty, when the tenant has none of that code); a grant of a permission (a code
//! in `sys_permission`) assigns a role of that same code holding just that permission, made as
//! needed. Every change is idempotent and runs in one transaction under the tenant's lock.

use anyhow::Result;
use serde::Serialize;
use sqlx::{PgPool, Row};

use crate::db::statements;
use crate::exit::UserError;
use crate::names;

/// A user id as `X-User-Id` carries it: 1 to 200 characters, no control characters, not blank.
pub fn check_user(user: &str) -> Result<(), UserError> {
    if !user.trim().is_empty()
        && user.trim() == user
        && user.chars().count() <= 200
        && !user.chars().any(char::is_control)
    {
        return Ok(());
    }
    let shown: String = user.chars().take(60).flat_map(char::escape_debug).collect();
    Err(UserError::new(format!(
        "invalid user id \"{shown}\": 1 to 200 characters, no control characters, no leading or trailing space"
    ))
    .hint("pass the id your API sees in X-User-Id (or your authentication's user id), e.g. `alice`"))
}

/// A role or permission code: `items.read`, `items.developer`, `admin`.
fn check_code(code: &str) -> Result<(), UserError> {
    let valid = !code.is_empty()
        && code.len() <= 100
        && code.starts_with(|c: char| c.is_ascii_lowercase())
        && code
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
    if valid {
        return Ok(());
    }
    let shown: String = code.chars().take(60).flat_map(char::escape_debug).collect();
    Err(UserError::new(format!(
        "invalid role or permission `{shown}`: lowercase letters, digits, `.`, `_` and `-`, starting with a letter, at most 100"
    ))
    .hint("a permission is `<module>.<action>` (e.g. `items.read`), a role any such code (e.g. `items.developer`)"))
}

#[derive(Debug, Serialize)]
pub struct Change {
    pub user: String,
    pub tenant: String,
    /// The role assigned or unassigned.
    pub role: String,
    /// "permission" when the argument was a permission (its own role), else "role".
    pub kind: &'static str,
    /// False when it was so already (idempotent re-run).
    pub changed: bool,
    pub role_created: bool,
}

async fn tenant_id(tx: &mut sqlx::PgConnection, tenant: &str) -> Result<String> {
    let has_tables: bool = sqlx::query_scalar("SELECT to_regclass('public.sys_tenant') IS NOT NULL")
        .fetch_one(&mut *tx)
        .await?;
    let id: Option<String> = if has_tables {
        sqlx::query_scalar("SELECT id::text FROM public.sys_tenant WHERE code = $1")
            .bind(tenant)
            .fetch_optional(&mut *tx)
            .await?
    } else {
        None
    };
    id.ok_or_else(|| {
        UserError::new(format!("there is no tenant `{tenant}` in this database"))
            .hint("`modkit tenant list` shows the tenants; `modkit tenant add CODE` makes one")
            .into()
    })
}

async fn is_permission(tx: &mut sqlx::PgConnection, code: &str) -> Result<bool> {
    Ok(
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM public.sys_permission WHERE code = $1)")
            .bind(code)
            .fetch_one(&mut *tx)
            .await?,
    )
}

/// What grant and revoke share: the input checked, a transaction holding the tenant's lock (the
/// bootstrap's), the tenant's id, and whether `what` is a registered permission (else a role).
async fn begin<'a>(
    pool: &'a PgPool,
    user: &str,
    what: &str,
    tenant: &str,
) -> Result<(sqlx::Transaction<'a, sqlx::Postgres>, String, bool)> {
    check_user(user)?;
    check_code(what)?;
    names::check_tenant_code(tenant)?;
    let mut tx = pool.begin().await?;
    sqlx::query(statements::sql("lock_tenant"))
        .bind(tenant)
        .execute(&mut *tx)
        .await?;
    let tenant_id = tenant_id(&mut tx, tenant).await?;
    let permission = is_permission(&mut tx, what).await?;
    Ok((tx, tenant_id, permission))
}

/// `grant USER ROLE|PERMISSION --tenant T`.
pub async fn grant(pool: &PgPool, user: &str, what: &str, tenant: &str) -> Result<Change> {
    let (mut tx, tenant_id, permission) = begin(pool, user, what, tenant).await?;
    let existing: Option<String> =
        sqlx::query_scalar("SELECT id::text FROM public.sys_role WHERE tenant_id = $1::uuid AND code = $2")
            .bind(&tenant_id)
            .bind(what)
            .fetch_optional(&mut *tx)
            .await?;
    let role_created = existing.is_none();
    let role_id: String = match existing {
        Some(id) => id,
        None => {
            sqlx::query_scalar(
                "INSERT INTO public.sys_role (tenant_id, code, name) VALUES ($1::uuid, $2, $2) RETURNING id::text",
            )
            .bind(&tenant_id)
            .bind(what)
            .fetch_one(&mut *tx)
            .await?
        }
    };
    if permission {
        sqlx::query(
            "INSERT INTO public.sys_role_permission (role_id, permission) VALUES ($1::uuid, $2) ON CONFLICT DO NOTHING",
        )
        .bind(&role_id)
        .bind(what)
        .execute(&mut *tx)
        .await?;
    }
    let changed = sqlx::query(
        "INSERT INTO public.sys_user_role (user_id, tenant_id, role_id) VALUES ($1, $2::uuid, $3::uuid) ON CONFLICT DO NOTHING",
    )
    .bind(user)
    .bind(&tenant_id)
    .bind(&role_id)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        > 0;
    tx.commit().await?;
    Ok(Change {
        user: user.to_string(),
        tenant: tenant.to_string(),
        role: what.to_string(),
        kind: if permission { "permission" } else { "role" },
        changed,
        role_created,
    })
}

/// `revoke USER ROLE|PERMISSION --tenant T`: unassigns the role of that code (the role stays).
pub async fn revoke(pool: &PgPool, user: &str, what: &str, tenant: &str) -> Result<Change> {
    let (mut tx, tenant_id, permission) = begin(pool, user, what, tenant).await?;
    let changed = sqlx::query(
        "DELETE FROM public.sys_user_role ur USING public.sys_role r
          WHERE r.id = ur.role_id AND r.tenant_id = ur.tenant_id
            AND ur.user_id = $1 AND ur.tenant_id = $2::uuid AND r.code = $3",
    )
    .bind(user)
    .bind(&tenant_id)
    .bind(what)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        > 0;
    tx.commit().await?;
    Ok(Change {
        user: user.to_string(),
        tenant: tenant.to_string(),
        role: what.to_string(),
        kind: if permission { "permission" } else { "role" },
        changed,
        role_created: false,
    })
}

/// One assignment, with the permissions the role gives.
#[derive(Debug, Serialize)]
pub struct Assignment {
    pub tenant: String,
    pub user: String,
    pub role: String,
    pub permissions: Vec<String>,
}

/// `access list [--tenant T] [--user U]`: every assignment, in one query.
pub async fn list(pool: &PgPool, tenant: Option<&str>, user: Option<&str>) -> Result<Vec<Assignment>> {
    if let Some(t) = tenant {
        names::check_tenant_code(t)?;
    }
    if let Some(u) = user {
        check_user(u)?;
    }
    let has_tables: bool = sqlx::query_scalar("SELECT to_regclass('public.sys_user_role') IS NOT NULL")
        .fetch_one(pool)
        .await?;
    if !has_tables {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(
        "SELECT t.code, ur.user_id, r.code,
                COALESCE(array_agg(rp.permission ORDER BY rp.permission) FILTER (WHERE rp.permission IS NOT NULL), '{}')
           FROM public.sys_user_role ur
           JOIN public.sys_tenant t ON t.id = ur.tenant_id
           JOIN public.sys_role r ON r.id = ur.role_id AND r.tenant_id = ur.tenant_id
           LEFT JOIN public.sys_role_permission rp ON rp.role_id = r.id
          WHERE ($1::text IS NULL OR t.code = $1) AND ($2::text IS NULL OR ur.user_id = $2)
          GROUP BY t.code, ur.user_id, r.code
          ORDER BY t.code, ur.user_id, r.code",
    )
    .bind(tenant)
    .bind(user)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(Assignment {
                tenant: row.try_get(0)?,
                user: row.try_get(1)?,
                role: row.try_get(2)?,
                permissions: row.try_get(3)?,
            })
        })
        .collect()
}
