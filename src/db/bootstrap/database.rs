//! The database-wide step (pgcrypto, system tables, permissions) and the sandbox's dev access.

use anyhow::{Context, Result};
use sqlx::{AssertSqlSafe, PgConnection, PgPool, Row};

use super::{Count, DevSeed, Report, privilege_hint, sqlstate};
use crate::db::catalog::{Catalog, EXTENSIONS_SCHEMA};
use crate::db::simple;
use crate::db::statements::{render, system_sql};
use crate::names;

/// The schema `extensions` with pgcrypto and the declared extensions in it, system tables and
/// permissions, in one transaction under the database-wide lock.
pub(super) async fn database_wide(
    pool: &PgPool,
    catalog: &Catalog,
    declared: &[String],
    permissions: &[(&str, &str)],
    report: &mut Report,
) -> Result<()> {
    let mut tx = pool.begin().await?;
    simple(&mut tx, render("lock_database", &[])).await?;
    extensions(&mut tx, catalog, declared, report).await?;
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

/// The schema `extensions`, then pgcrypto and each declared extension in it: created when missing,
/// moved there when installed elsewhere (pgcrypto in public, from modkit before 0.3). Each step in a
/// savepoint, so that a refusal is reported and the rest goes on.
async fn extensions(
    tx: &mut PgConnection,
    catalog: &Catalog,
    declared: &[String],
    report: &mut Report,
) -> Result<()> {
    // A role that may not create schemas still bootstraps, as before, without declared extensions.
    simple(tx, "SAVEPOINT modkit_extensions".into()).await?;
    match simple(tx, render("create_extensions_schema", &[])).await {
        Ok(_) => simple(tx, "RELEASE SAVEPOINT modkit_extensions".into())
            .await
            .map(drop)?,
        Err(e) if sqlstate(&e).as_deref() == Some("42501") && declared.is_empty() => {
            simple(tx, "ROLLBACK TO SAVEPOINT modkit_extensions".into()).await?;
            report.warnings.push(
                "this role may not create schema extensions, the one home of extensions (pgcrypto is not made there); \
                 a superuser can run `CREATE SCHEMA extensions; GRANT USAGE ON SCHEMA extensions TO PUBLIC;`"
                    .into(),
            );
        }
        Err(e) => {
            return Err(privilege_hint(
                e,
                "create schema extensions",
                "CREATE SCHEMA extensions; GRANT USAGE ON SCHEMA extensions TO PUBLIC;",
            ));
        }
    }
    // Read again under the lock: a concurrent run may have moved or made one since the catalog.
    let mut installed = std::collections::HashMap::new();
    for row in simple(tx, render("extension_schemas", &[])).await? {
        let name: String = row.try_get("name")?;
        installed.insert(
            name,
            (
                row.try_get::<String, _>("schema")?,
                row.try_get::<bool, _>("relocatable")?,
            ),
        );
    }
    match installed.get("pgcrypto") {
        Some((schema, relocatable)) => {
            report.pgcrypto.existing = 1;
            if schema != EXTENSIONS_SCHEMA {
                move_extension(tx, "pgcrypto", schema, *relocatable, report).await?;
            }
        }
        None => create_pgcrypto(tx, catalog, report).await?,
    }
    for name in declared {
        match installed.get(name) {
            Some((schema, relocatable)) => {
                report.extensions.existing += 1;
                if schema != EXTENSIONS_SCHEMA {
                    move_extension(tx, name, schema, *relocatable, report).await?;
                }
            }
            None => {
                let statement =
                    render("create_extension", &[]).replace(":extension", &names::quote_ident(name));
                simple(tx, statement).await.map_err(|e| {
                    let message = e
                        .as_database_error()
                        .map_or_else(|| e.to_string(), |d| d.message().to_string());
                    crate::exit::UserError::new(format!(
                        "cannot create extension {name}, which modkit.toml declares ([database] extensions): {message}"
                    ))
                    .hint(format!(
                        "a superuser runs `CREATE SCHEMA IF NOT EXISTS extensions; CREATE EXTENSION {name} SCHEMA extensions;` \
                         in this database (and the server needs the package that provides it), then run again"
                    ))
                })?;
                report.extensions.created += 1;
            }
        }
    }
    Ok(())
}

/// Move an extension installed in another schema to `extensions`; a refusal (not its owner, or an
/// extension that cannot move) is a warning, and it stays where it is.
async fn move_extension(
    tx: &mut PgConnection,
    name: &str,
    schema: &str,
    relocatable: bool,
    report: &mut Report,
) -> Result<()> {
    let why = if relocatable {
        simple(tx, "SAVEPOINT modkit_extension".into()).await?;
        let statement = render("move_extension", &[]).replace(":extension", &names::quote_ident(name));
        match simple(tx, statement).await {
            Ok(_) => {
                simple(tx, "RELEASE SAVEPOINT modkit_extension".into()).await?;
                return Ok(());
            }
            Err(e) => {
                simple(tx, "ROLLBACK TO SAVEPOINT modkit_extension".into()).await?;
                e.as_database_error()
                    .map_or_else(|| e.to_string(), |d| d.message().to_string())
            }
        }
    } else {
        "it cannot be moved (not relocatable)".to_string()
    };
    report.warnings.push(format!(
        "extension {name} is in schema {schema}, not in {EXTENSIONS_SCHEMA} ({why}): a tenant's migrations find only \
         what is in {EXTENSIONS_SCHEMA}; as its owner or a superuser run `ALTER EXTENSION {name} SET SCHEMA {EXTENSIONS_SCHEMA};`"
    ));
    Ok(())
}

/// pgcrypto in `extensions`; without it, PostgreSQL 13+ goes on with its built-in gen_random_uuid().
async fn create_pgcrypto(tx: &mut PgConnection, catalog: &Catalog, report: &mut Report) -> Result<()> {
    // A savepoint, so a refused CREATE EXTENSION does not abort the whole transaction.
    simple(tx, "SAVEPOINT modkit_pgcrypto".into()).await?;
    match simple(tx, render("create_pgcrypto", &[])).await {
        Ok(_) => report.pgcrypto.created = 1,
        // Refused (42501), or not installed on the server at all: a build without contrib says
        // "extension is not available" (0A000 since PostgreSQL 15, 58P01 "could not open
        // extension control file" before). PostgreSQL 13+ has gen_random_uuid() built in.
        // 3F000: schema extensions could not be made (warned about above).
        Err(e)
            if matches!(
                sqlstate(&e).as_deref(),
                Some("42501" | "0A000" | "58P01" | "3F000")
            ) =>
        {
            simple(tx, "ROLLBACK TO SAVEPOINT modkit_pgcrypto".into()).await?;
            let refused = matches!(sqlstate(&e).as_deref(), Some("42501" | "3F000"));
            let why = if refused {
                "this role may not create the pgcrypto extension"
            } else {
                "the pgcrypto extension is not installed on this server (no contrib)"
            };
            if catalog.server_version_num < 130_000 {
                return Err(crate::exit::UserError::new(format!(
                    "{why}, and PostgreSQL {} has no built-in gen_random_uuid()",
                    catalog.server_version
                ))
                .hint(if refused {
                    "ask a superuser to run `CREATE EXTENSION pgcrypto SCHEMA extensions;` in this database, then run again"
                } else {
                    "install the server's contrib package (e.g. postgresql-contrib), or use PostgreSQL 13 or later"
                })
                .into());
            }
            report.warnings.push(format!(
                "{why}; going on with PostgreSQL's built-in gen_random_uuid() \
                 ({})",
                if refused {
                    "a superuser can run `CREATE EXTENSION pgcrypto SCHEMA extensions;` to silence this"
                } else {
                    "migrations that call other pgcrypto functions will fail"
                }
            ));
        }
        Err(e) => return Err(e).context("cannot create the pgcrypto extension"),
    }
    Ok(())
}

/// What the extensions step runs, for `--dry-run`.
pub(super) fn extensions_sql(catalog: &Catalog, declared: &[String]) -> Vec<String> {
    let mut out = vec![render("create_extensions_schema", &[])];
    for name in std::iter::once("pgcrypto").chain(declared.iter().map(String::as_str)) {
        let quoted = names::quote_ident(name);
        match catalog.extensions.get(name) {
            // pgcrypto's CREATE is in the database-wide transaction the dry run shows next.
            None if name == "pgcrypto" => {}
            None => out.push(render("create_extension", &[]).replace(":extension", &quoted)),
            Some((schema, true)) if schema != EXTENSIONS_SCHEMA => {
                out.push(render("move_extension", &[]).replace(":extension", &quoted));
            }
            _ => {}
        }
    }
    out
}

/// The one count a statement returns.
async fn count_of(conn: &mut PgConnection, statement: &str) -> Result<usize> {
    let rows = simple(conn, statement.to_string()).await?;
    let n: i64 = rows.first().context("a count returned no row")?.try_get(0)?;
    Ok(usize::try_from(n).unwrap_or(0))
}

async fn count_system_tables(conn: &mut PgConnection) -> Result<usize> {
    let present = Catalog::system_tables_present(conn).await?;
    Ok(present.len())
}

/// The dev role with every permission, granted to the dev user, in one dev tenant.
pub(super) async fn seed_dev(
    pool: &PgPool,
    dev: &DevSeed,
    code: &str,
    permissions: &[(&str, &str)],
) -> Result<Count> {
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
    let held = render(
        "dev_grants_held",
        &[Some(&dev.user), Some(&tenant_id), Some(&dev.role_code)],
    );
    let before = count_of(&mut tx, &held).await?;
    let grants: Vec<String> = permissions
        .iter()
        .map(|(p, _)| render("grant_permission", &[Some(&role_id), Some(p)]))
        .chain([render(
            "assign_role",
            &[Some(&dev.user), Some(&tenant_id), Some(&role_id)],
        )])
        .collect();
    simple(&mut tx, grants.join(";\n")).await?;
    // The counts are what the rows say, before and after: never what the plan expected.
    let after = count_of(&mut tx, &held).await?;
    if after < permissions.len() {
        anyhow::bail!(
            "the dev user holds {after} of the {} permissions after seeding; nothing was kept",
            permissions.len()
        );
    }
    tx.commit().await?;
    count.existing = before;
    count.created = after.saturating_sub(before);
    Ok(count)
}
