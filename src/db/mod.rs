//! The database engine: where the URL comes from, connecting, and the bootstrap.
//!
//! Everything modkit sends goes over the simple-query protocol with parameters inlined as
//! literals (`statements::render`): no named prepared statements, so a transaction-pooling
//! PgBouncer in front of the server is fine, and a tenant's work is two round trips.

pub mod bootstrap;
pub mod catalog;
pub mod citus;
pub mod connect;
pub mod query;
pub mod split;
pub mod statements;
pub mod url;
pub mod waits;

use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, PgConnection};

/// Run one script (one or more statements) and return the rows of all of them.
pub async fn simple(conn: &mut PgConnection, script: String) -> Result<Vec<PgRow>, sqlx::Error> {
    sqlx::raw_sql(AssertSqlSafe(script)).fetch_all(conn).await
}
