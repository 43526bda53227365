//! Connecting: a pool sized for the work, deadlines, and errors that name the server and the fix
//! without ever showing the password.
//!
//! Nothing here waits forever. `--connect-timeout` bounds the whole set-up of a connection: TCP,
//! TLS, the startup and authentication exchange, and its first statement (the first connection
//! directly, the pool's through its acquire timeout). Each session gets `lock_timeout` from
//! `--lock-timeout`, and a watcher ([`crate::db::waits`]) announces a lock wait within seconds.

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgSslMode};
use sqlx::{Connection, PgConnection};

use crate::cli::Timeouts;
use crate::db::url::DbUrl;
use crate::db::waits::Watch;
use crate::exit::UserError;
use crate::output::Printer;

/// How long a catalog read may work once it has its locks: each catalog statement is bounded by
/// `--lock-timeout` plus this (`statement_timeout` counts the lock wait too, and a lock wait must
/// end as a lock timeout, which names the holder, not as a statement timeout).
const CATALOG_WORK: Duration = Duration::from_secs(30);

/// The catalog reads' `statement_timeout` in milliseconds (0: none), set by [`connect`]. A global
/// because the catalog is read deep in the bootstrap engine, which knows nothing of flags.
static CATALOG_STATEMENT_TIMEOUT_MS: AtomicU64 = AtomicU64::new(0);

/// The catalog reads' `statement_timeout`, in milliseconds (0: none).
pub fn catalog_statement_timeout_ms() -> u64 {
    CATALOG_STATEMENT_TIMEOUT_MS.load(Ordering::Relaxed)
}

/// What a command asks of the connection.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub connect_timeout: Duration,
    /// Zero: wait for locks forever.
    pub lock_timeout: Duration,
    pub connections: u32,
    /// When the database does not exist, create it (a sandbox's dev database named in its
    /// modkit.toml) and say so through [`Database::created`].
    pub create_missing: bool,
}

impl Settings {
    pub fn new(timeouts: &Timeouts, connections: u32, create_missing: bool) -> Self {
        Self {
            connect_timeout: Duration::from_secs(timeouts.connect_timeout),
            lock_timeout: Duration::from_secs(timeouts.lock_timeout),
            connections,
            create_missing,
        }
    }

    /// The statement every session runs first: it sets the lock bound, and proves that the server
    /// answers queries, not only logins.
    fn session_setup(&self) -> String {
        format!("SET lock_timeout = {}", self.lock_timeout.as_millis())
    }
}

/// A connected pool, and the lock watcher of its sessions.
pub struct Database {
    pub pool: PgPool,
    pub created: bool,
    watch: Watch,
    host_port: String,
    connect_timeout: Duration,
}

impl Database {
    /// An error from work on this database, made actionable where it can be: a lock timeout
    /// names the lock and its holder; a pooled connection that could not be set up in time says so.
    pub fn explain(&self, err: anyhow::Error) -> anyhow::Error {
        let pool_timed_out = err
            .chain()
            .any(|e| matches!(e.downcast_ref::<sqlx::Error>(), Some(sqlx::Error::PoolTimedOut)));
        if pool_timed_out {
            return UserError::new(format!(
                "PostgreSQL at {} gave no usable connection within {}s",
                self.host_port,
                self.connect_timeout.as_secs()
            ))
            .hint("the server stopped answering, or has no connection slot left (max_connections): check it, lower --jobs, or raise --connect-timeout")
            .into();
        }
        self.watch.explain(err)
    }

    pub async fn close(self) {
        self.pool.close().await;
    }
}

/// Connect; when `settings.create_missing` and the database does not exist, create it first.
pub async fn connect(url: &DbUrl, settings: Settings, printer: Printer) -> Result<Database> {
    let statement_ms = if settings.lock_timeout.is_zero() {
        0
    } else {
        (settings.lock_timeout + CATALOG_WORK).as_millis()
    };
    CATALOG_STATEMENT_TIMEOUT_MS.store(u64::try_from(statement_ms).unwrap_or(0), Ordering::Relaxed);
    // Our own name, so that the lock watcher finds our sessions and no one else's.
    let application = format!("modkit {}", std::process::id());
    let mut options = options(url)?.application_name(&application);
    let first = match open(url, &options, settings).await {
        // libpq's `prefer` (the default): TLS when the handshake succeeds, plain text when it
        // fails; it verifies nothing either way. rustls cannot even read some certificates a
        // server may have, such as the self-signed X.509 v1 one Citus makes when it turns TLS on.
        Err(e) if e.tls && matches!(options.get_ssl_mode(), PgSslMode::Prefer) => {
            options = options.ssl_mode(PgSslMode::Disable);
            open(url, &options, settings).await
        }
        other => other,
    };
    let (pool, created) = match first {
        Err(e) if settings.create_missing && e.sqlstate.as_deref() == Some("3D000") => {
            create_database(url, &options, settings.connect_timeout).await?;
            (open(url, &options, settings).await.map_err(|e| e.error)?, true)
        }
        Err(e) => return Err(e.error.into()),
        Ok(pool) => (pool, false),
    };
    let watch = Watch::start(options, application, settings.lock_timeout, printer);
    Ok(Database {
        pool,
        created,
        watch,
        host_port: url.host_port(),
        connect_timeout: settings.connect_timeout,
    })
}

struct ConnectError {
    error: UserError,
    sqlstate: Option<String>,
    /// The TLS handshake failed.
    tls: bool,
}

async fn open(url: &DbUrl, options: &PgConnectOptions, settings: Settings) -> Result<PgPool, ConnectError> {
    let timeout = settings.connect_timeout;
    let setup = settings.session_setup();
    // Open one connection now, directly (the pool would retry a refused connection until the
    // deadline), so a wrong URL fails here, at once and clearly; and run its first statement
    // under the same deadline, so a server that logs us in and then stalls fails here too.
    let logged_in = AtomicBool::new(false);
    let first = tokio::time::timeout(timeout, async {
        let mut conn = PgConnection::connect_with(options).await?;
        logged_in.store(true, Ordering::Relaxed);
        crate::db::simple(&mut conn, setup.clone()).await?;
        conn.close().await
    })
    .await;
    match first {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            let sqlstate = e
                .as_database_error()
                .and_then(|d| d.code())
                .map(|c| c.into_owned());
            return Err(ConnectError {
                error: describe(url, &e, timeout).await,
                sqlstate,
                tls: tls_failure(&e).is_some(),
            });
        }
        Err(_) => {
            let error = if logged_in.load(Ordering::Relaxed) {
                UserError::new(format!(
                    "PostgreSQL at {} accepted the login but did not answer a query within {}s",
                    url.host_port(),
                    timeout.as_secs()
                ))
                .hint("the server is overloaded or stuck (or a proxy in front of it is): check it, or give it longer with --connect-timeout SECS")
            } else {
                unreachable(url, timeout, "no answer")
            };
            return Err(ConnectError {
                error,
                sqlstate: None,
                tls: false,
            });
        }
    }
    Ok(PgPoolOptions::new()
        .max_connections(settings.connections.max(1))
        // Bounds each pooled connection's set-up, its first statement included.
        .acquire_timeout(timeout)
        .after_connect(move |conn, _| {
            let setup = setup.clone();
            Box::pin(async move { crate::db::simple(conn, setup).await.map(drop) })
        })
        .connect_lazy_with(options.clone()))
}

/// `CREATE DATABASE`, from the server's `postgres` maintenance database.
async fn create_database(url: &DbUrl, options: &PgConnectOptions, timeout: Duration) -> Result<()> {
    let name = options
        .get_database()
        .map(str::to_string)
        .context("the database URL names no database")?;
    let maintenance = options.clone().database("postgres");
    let mut conn = match tokio::time::timeout(timeout, PgConnection::connect_with(&maintenance)).await {
        Err(_) => return Err(unreachable(url, timeout, "no answer").into()),
        Ok(Err(e)) => return Err(describe(url, &e, timeout).await.into()),
        Ok(Ok(conn)) => conn,
    };
    let create = format!("CREATE DATABASE {}", crate::names::quote_ident(&name));
    match sqlx::raw_sql(sqlx::AssertSqlSafe(create))
        .execute(&mut conn)
        .await
    {
        Ok(_) => Ok(()),
        // Another bootstrap created it a moment ago: 42P04, or, when both passed the server's
        // existence check at once, the loser's unique violation on pg_database's name index.
        Err(e)
            if e.as_database_error().is_some_and(|d| {
                d.code().is_some_and(|c| c == "42P04")
                    || (d.code().is_some_and(|c| c == "23505")
                        && d.constraint() == Some("pg_database_datname_index"))
            }) =>
        {
            Ok(())
        }
        Err(e) => Err(UserError::new(format!(
            "cannot create the database `{name}`: {}",
            url.scrub(&crate::output::error_line(&e.into()))
        ))
        .hint("create it yourself (createdb), or give a role allowed to (ALTER ROLE ... CREATEDB)")
        .into()),
    }
}

fn options(url: &DbUrl) -> Result<PgConnectOptions, UserError> {
    PgConnectOptions::from_str(url.secret()).map_err(|e| {
        UserError::new(format!(
            "the database URL from {} is not usable: {}",
            url.source.describe(),
            url.scrub(&e.to_string())
        ))
        .hint("write it as postgres://user@host:5432/dbname (the password in PGPASSWORD or ~/.pgpass)")
    })
}

/// The TLS failure behind a connection error, if it is one. rustls reports a failed handshake (a
/// certificate it cannot read or does not trust) as an I/O error wrapping its own error.
fn tls_failure(err: &sqlx::Error) -> Option<String> {
    match err {
        sqlx::Error::Tls(e) => Some(e.to_string()),
        sqlx::Error::Io(io) => io
            .get_ref()?
            .downcast_ref::<rustls::Error>()
            .map(ToString::to_string),
        _ => None,
    }
}

/// A connection error as the user can act on it.
async fn describe(url: &DbUrl, err: &sqlx::Error, timeout: Duration) -> UserError {
    if let Some(tls) = tls_failure(err) {
        let hint = if tls.contains("UnsupportedCertVersion") {
            "the server's certificate is X.509 v1 (as the one Citus makes when it turns TLS on), which modkit's TLS \
             library cannot read: give the server an X.509 v3 certificate, or use sslmode=prefer or disable on a \
             network you trust"
        } else {
            "sslmode=require, verify-ca and verify-full need TLS to succeed (verify-ca and verify-full also check \
             the certificate against sslrootcert); sslmode=prefer falls back to plain text"
        };
        return UserError::new(format!(
            "TLS with PostgreSQL at {} failed: {}",
            url.host_port(),
            url.scrub(&tls)
        ))
        .hint(hint);
    }
    if let Some(db) = err.as_database_error() {
        let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
        let message = url.scrub(db.message());
        return match code.as_str() {
            "28P01" | "28000" => UserError::new(format!(
                "PostgreSQL at {} refused the login: {message}",
                url.host_port()
            ))
            .hint("check the user, and the password in PGPASSWORD, ~/.pgpass (PGPASSFILE) or the URL (shown here as ***)"),
            "3D000" => UserError::new(format!("PostgreSQL at {}: {message}", url.host_port()))
                .hint("create it first (createdb), or point the URL at an existing database"),
            _ => UserError::new(format!(
                "PostgreSQL at {} refused the connection: {}",
                url.host_port(),
                url.scrub(&crate::output::server_error_text(db))
            )),
        };
    }
    // The driver could not make sense of what came back: say what is on that port, if we can tell.
    let garbled = match err {
        sqlx::Error::Protocol(_) | sqlx::Error::Decode(_) => true,
        sqlx::Error::Io(io) => matches!(
            io.kind(),
            std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::InvalidData
        ),
        _ => false,
    };
    if garbled && let Some(found) = sniff(&url.host_port(), timeout.min(Duration::from_secs(3))).await {
        return UserError::new(format!(
            "the server at {} answered {found}, not PostgreSQL",
            url.host_port()
        ))
        .hint(format!(
            "point the URL from {} at PostgreSQL's port (5432 by default)",
            url.source.describe()
        ));
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
        other => UserError::new(format!(
            "cannot connect to PostgreSQL at {}: {}",
            url.host_port(),
            url.scrub(&other.to_string())
        ))
        .hint(format!(
            "is {} PostgreSQL's port (5432 by default)?",
            url.host_port()
        )),
    }
}

/// What answers on `host_port`, when it is clearly not PostgreSQL: "like an HTTP server", "with
/// bytes 0x3c 0x68 ...". `None` when it looks like PostgreSQL or cannot be told.
///
/// It opens a connection and speaks the first step of the protocol, as the driver does: an
/// SSLRequest, whose only PostgreSQL answers are `S` or `N`; after `N`, a startup message, whose
/// answers start with `R` (authentication), `E` (error) or `v` (protocol version negotiation).
async fn sniff(host_port: &str, timeout: Duration) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(host_port).await.ok()?;
        stream.write_all(&SSL_REQUEST).await.ok()?;
        let mut answer = vec![0u8; 256];
        let n = stream.read(&mut answer).await.ok()?;
        answer.truncate(n);
        match answer.as_slice() {
            [] => None,
            [b'S'] => None,
            [b'N'] => {
                let mut startup = Vec::new();
                startup.extend_from_slice(&196_608_i32.to_be_bytes()); // protocol 3.0
                startup
                    .extend_from_slice(b"user\0modkit\0database\0modkit\0application_name\0modkit probe\0\0");
                let len = i32::try_from(startup.len() + 4).ok()?;
                stream.write_all(&len.to_be_bytes()).await.ok()?;
                stream.write_all(&startup).await.ok()?;
                let mut answer = vec![0u8; 256];
                let n = stream.read(&mut answer).await.ok()?;
                answer.truncate(n);
                match answer.first() {
                    None | Some(b'R' | b'E' | b'v' | b'N') => None,
                    Some(_) => Some(found(&answer)),
                }
            }
            other => Some(found(other)),
        }
    };
    tokio::time::timeout(timeout, exchange).await.ok().flatten()
}

/// A peer's first bytes, as a user recognises them.
fn found(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    if text.starts_with("HTTP/") {
        return "like an HTTP server".to_string();
    }
    for (prefix, what) in [
        ("SSH-", "like an SSH server"),
        ("+OK", "like a POP3 server"),
        ("220", "like an SMTP or FTP server"),
        ("-ERR", "like a Redis server"),
    ] {
        if text.starts_with(prefix) {
            return what.to_string();
        }
    }
    let shown: Vec<String> = bytes.iter().take(8).map(|b| format!("0x{b:02x}")).collect();
    format!(
        "with bytes that are not the PostgreSQL protocol ({} ...)",
        shown.join(" ")
    )
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
