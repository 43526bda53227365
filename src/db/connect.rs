//! Connecting: a pool sized for the work, a deadline, and errors that name the server and the fix
//! without ever showing the password.

use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, Result};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection, PgConnection};

use crate::db::url::DbUrl;
use crate::exit::UserError;

/// Connect; when `create_missing` and the database does not exist, create it first (a sandbox's
/// dev database, named in its modkit.toml) and say so through `created`.
pub async fn connect(
    url: &DbUrl,
    connections: u32,
    timeout: Duration,
    create_missing: bool,
) -> Result<(PgPool, bool)> {
    match open(url, connections, timeout).await {
        Err(e) if create_missing && e.sqlstate.as_deref() == Some("3D000") => {
            create_database(url, timeout).await?;
            Ok((open(url, connections, timeout).await.map_err(|e| e.error)?, true))
        }
        Err(e) => Err(e.error.into()),
        Ok(pool) => Ok((pool, false)),
    }
}

struct ConnectError {
    error: UserError,
    sqlstate: Option<String>,
}

async fn open(url: &DbUrl, connections: u32, timeout: Duration) -> Result<PgPool, ConnectError> {
    let options = options(url).map_err(|error| ConnectError {
        error,
        sqlstate: None,
    })?;
    // Open one connection now, directly (the pool would retry a refused connection until the
    // deadline), so a wrong URL fails here, at once and clearly.
    let first = tokio::time::timeout(timeout, <PgConnection as Connection>::connect_with(&options)).await;
    match first {
        Ok(Ok(conn)) => drop(conn),
        Ok(Err(e)) => {
            let sqlstate = e
                .as_database_error()
                .and_then(|d| d.code())
                .map(|c| c.into_owned());
            return Err(ConnectError {
                error: describe(url, &e, timeout),
                sqlstate,
            });
        }
        Err(_) => {
            return Err(ConnectError {
                error: unreachable(url, timeout, "no answer"),
                sqlstate: None,
            });
        }
    }
    Ok(PgPoolOptions::new()
        .max_connections(connections.max(1))
        .acquire_timeout(timeout)
        .connect_lazy_with(options))
}

/// `CREATE DATABASE`, from the server's `postgres` maintenance database.
async fn create_database(url: &DbUrl, timeout: Duration) -> Result<()> {
    let name = options(url)?
        .get_database()
        .map(str::to_string)
        .context("the database URL names no database")?;
    let maintenance = options(url)?.database("postgres");
    let mut conn = tokio::time::timeout(timeout, <PgConnection as Connection>::connect_with(&maintenance))
        .await
        .map_err(|_| unreachable(url, timeout, "no answer"))?
        .map_err(|e| describe(url, &e, timeout))?;
    let create = format!("CREATE DATABASE {}", crate::names::quote_ident(&name));
    match sqlx::raw_sql(sqlx::AssertSqlSafe(create))
        .execute(&mut conn)
        .await
    {
        Ok(_) => Ok(()),
        // Another bootstrap created it a moment ago.
        Err(e)
            if e.as_database_error()
                .and_then(|d| d.code())
                .is_some_and(|c| c == "42P04") =>
        {
            Ok(())
        }
        Err(e) => Err(UserError::new(format!(
            "cannot create the database `{name}`: {}",
            url.scrub(&e.to_string())
        ))
        .hint("create it yourself (createdb), or give a role allowed to (ALTER ROLE ... CREATEDB)")
        .into()),
    }
}

fn options(url: &DbUrl) -> Result<PgConnectOptions, UserError> {
    Ok(PgConnectOptions::from_str(url.secret())
        .map_err(|e| {
            UserError::new(format!(
                "the database URL from {} is not usable: {}",
                url.source.describe(),
                url.scrub(&e.to_string())
            ))
            .hint("write it as postgres://user:password@host:5432/dbname")
        })?
        .application_name("modkit"))
}

/// A connection error as the user can act on it.
pub fn describe(url: &DbUrl, err: &sqlx::Error, timeout: Duration) -> UserError {
    if let Some(db) = err.as_database_error() {
        let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
        let message = url.scrub(db.message());
        return match code.as_str() {
            "28P01" | "28000" => UserError::new(format!(
                "PostgreSQL at {} refused the login: {message}",
                url.host_port()
            ))
            .hint("check the user and password in the database URL (shown here as ***)"),
            "3D000" => UserError::new(format!("PostgreSQL at {}: {message}", url.host_port()))
                .hint("create it first (createdb), or point the URL at an existing database"),
            _ => UserError::new(format!(
                "PostgreSQL at {} refused the connection: {message}",
                url.host_port()
            )),
        };
    }
    match err {
        sqlx::Error::PoolTimedOut => unreachable(url, timeout, "no answer"),
        sqlx::Error::Io(io) => UserError::new(format!(
            "cannot reach PostgreSQL at {}: {}",
            url.host_port(),
            url.scrub(&io.to_string())
        ))
        .hint(format!(
            "is the server running and the URL from {} right?",
            url.source.describe()
        )),
        sqlx::Error::Tls(tls) => UserError::new(format!(
            "TLS with PostgreSQL at {} failed: {}",
            url.host_port(),
            url.scrub(&tls.to_string())
        ))
        .hint("check sslmode in the database URL"),
        other => UserError::new(format!(
            "cannot connect to PostgreSQL at {}: {}",
            url.host_port(),
            url.scrub(&other.to_string())
        )),
    }
}

fn unreachable(url: &DbUrl, timeout: Duration, why: &str) -> UserError {
    UserError::new(format!(
        "cannot reach PostgreSQL at {} within {}s ({why})",
        url.host_port(),
        timeout.as_secs()
    ))
    .hint(format!(
        "is the server running and the URL from {} right? (--connect-timeout sets the wait)",
        url.source.describe()
    ))
}
