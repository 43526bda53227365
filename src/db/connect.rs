//! Connecting: a pool sized for the work, a deadline, and errors that name the server and the fix
//! without ever showing the password.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Result;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::db::url::DbUrl;
use crate::exit::UserError;

pub async fn connect(url: &DbUrl, connections: u32, timeout: Duration) -> Result<PgPool> {
    let options = PgConnectOptions::from_str(url.secret())
        .map_err(|e| {
            UserError::new(format!("the database URL from {} is not usable: {}", url.source.describe(), url.scrub(&e.to_string())))
                .hint("write it as postgres://user:password@host:5432/dbname")
        })?
        .application_name("modkit");
    let pool = PgPoolOptions::new()
        .max_connections(connections.max(1))
        .acquire_timeout(timeout)
        .connect_lazy_with(options);
    // Open one connection now, within the deadline, so a wrong URL fails here and clearly.
    match tokio::time::timeout(timeout, pool.acquire()).await {
        Ok(Ok(conn)) => drop(conn),
        Ok(Err(e)) => return Err(describe(url, &e, timeout).into()),
        Err(_) => return Err(unreachable(url, timeout, "no answer").into()),
    }
    Ok(pool)
}

/// A connection error as the user can act on it.
pub fn describe(url: &DbUrl, err: &sqlx::Error, timeout: Duration) -> UserError {
    if let Some(db) = err.as_database_error() {
        let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
        let message = url.scrub(db.message());
        return match code.as_str() {
            "28P01" | "28000" => UserError::new(format!("PostgreSQL at {} refused the login: {message}", url.host_port()))
                .hint("check the user and password in the database URL (shown here as ***)"),
            "3D000" => UserError::new(format!("PostgreSQL at {}: {message}", url.host_port()))
                .hint("create it first (createdb), or point the URL at an existing database"),
            _ => UserError::new(format!("PostgreSQL at {} refused the connection: {message}", url.host_port())),
        };
    }
    match err {
        sqlx::Error::PoolTimedOut => unreachable(url, timeout, "no answer"),
        sqlx::Error::Io(io) => unreachable(url, timeout, &url.scrub(&io.to_string())),
        sqlx::Error::Tls(tls) => UserError::new(format!("TLS with PostgreSQL at {} failed: {}", url.host_port(), url.scrub(&tls.to_string())))
            .hint("check sslmode in the database URL"),
        other => UserError::new(format!("cannot connect to PostgreSQL at {}: {}", url.host_port(), url.scrub(&other.to_string()))),
    }
}

fn unreachable(url: &DbUrl, timeout: Duration, why: &str) -> UserError {
    UserError::new(format!("cannot reach PostgreSQL at {} within {}s ({why})", url.host_port(), timeout.as_secs()))
        .hint(format!("is the server running and the URL from {} right? (--connect-timeout sets the wait)", url.source.describe()))
}
