//! Waiting for a lock is never silent: a watcher on a connection of its own looks, every half
//! second, for sessions of this modkit process (found by their `application_name`) that wait for a
//! lock, and says on stderr what they wait for and which session holds it. The wait itself is
//! bounded by the session's `lock_timeout` (`--lock-timeout`); when it runs out, [`Watch::explain`]
//! turns the server's bare "canceling statement due to lock timeout" into the lock, its holder and
//! the fix.
//!
//! The watcher only connects once a run has lasted [`FIRST_LOOK`]: a run that is over by then
//! costs no extra connection.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgRow};
use sqlx::{Connection, PgConnection, Row};

use crate::exit::UserError;
use crate::output::Printer;

/// When the watcher first looks, and how long a wait must have been seen before it is announced:
/// together, a wait is announced about two seconds after it began.
const FIRST_LOOK: Duration = Duration::from_secs(1);
const ANNOUNCE_AFTER: Duration = Duration::from_millis(1500);
const POLL: Duration = Duration::from_millis(500);

/// A lock one of our sessions waits for, and who holds it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Wait {
    /// "table public.sys_tenant", "an advisory lock (another modkit run on this database)", ...
    pub what: String,
    pub mode: String,
    pub holders: Vec<Holder>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Holder {
    pub pid: i32,
    /// "user postgres, application psql, idle in transaction" (what the role may see of it).
    pub about: String,
}

impl Wait {
    fn holders_text(&self) -> String {
        if self.holders.is_empty() {
            return "held by a session this role cannot see".to_string();
        }
        let list: Vec<String> = self
            .holders
            .iter()
            .map(|h| {
                if h.about.is_empty() {
                    format!("pid {}", h.pid)
                } else {
                    format!("pid {} ({})", h.pid, h.about)
                }
            })
            .collect();
        format!("held by {}", list.join(", "))
    }

    fn pids(&self) -> Vec<String> {
        self.holders.iter().map(|h| h.pid.to_string()).collect()
    }
}

/// The running watcher; stopped when dropped.
pub struct Watch {
    last: Arc<Mutex<Option<Wait>>>,
    task: tokio::task::JoinHandle<()>,
    lock_timeout: Duration,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Watch {
    /// Watch the sessions named `application` on the server of `options`.
    pub fn start(
        options: PgConnectOptions,
        application: String,
        lock_timeout: Duration,
        printer: Printer,
    ) -> Self {
        let last = Arc::new(Mutex::new(None));
        let seen = last.clone();
        let task = tokio::spawn(async move {
            tokio::time::sleep(FIRST_LOOK).await;
            // Its own name, so that it never watches itself; a failure to connect only means no
            // announcements (the work itself is bounded by lock_timeout all the same).
            let options = options.application_name(&format!("{application} (lock watcher)"));
            let Some(mut conn) = watcher_connection(&options).await else {
                return;
            };
            let mut names = Names::new(options);
            let mut first_seen: HashMap<Wait, Instant> = HashMap::new();
            let mut announced: Vec<Wait> = Vec::new();
            loop {
                let Ok(waits) = current_waits(&mut conn, &application, &mut names).await else {
                    return;
                };
                first_seen.retain(|w, _| waits.contains(w));
                for wait in waits {
                    let since = *first_seen.entry(wait.clone()).or_insert_with(Instant::now);
                    if let Ok(mut last) = seen.lock() {
                        *last = Some(wait.clone());
                    }
                    if since.elapsed() >= ANNOUNCE_AFTER && !announced.contains(&wait) {
                        printer.warn(announcement(&wait, lock_timeout));
                        announced.push(wait);
                    }
                }
                tokio::time::sleep(POLL).await;
            }
        });
        Self {
            last,
            task,
            lock_timeout,
        }
    }

    /// A lock timeout (SQLSTATE 55P03) as the user can act on it: which lock, who holds it, how
    /// to end the wait. Any other error is returned as it is.
    pub fn explain(&self, err: anyhow::Error) -> anyhow::Error {
        let timed_out = err.chain().any(|e| {
            e.downcast_ref::<sqlx::Error>()
                .and_then(|e| e.as_database_error())
                .and_then(|d| d.code())
                .is_some_and(|c| c == "55P03")
        });
        if !timed_out {
            return err;
        }
        let secs = self.lock_timeout.as_secs();
        let last = self.last.lock().ok().and_then(|l| l.clone());
        let error = match last {
            Some(wait) => {
                let pids = wait.pids();
                let terminate = match pids.as_slice() {
                    [] => "SELECT pg_terminate_backend(<pid>)".to_string(),
                    [one] => format!("SELECT pg_terminate_backend({one})"),
                    many => format!("SELECT pg_terminate_backend(pid) FROM unnest(ARRAY[{}]) AS pid", many.join(", ")),
                };
                UserError::new(format!(
                    "gave up after {secs}s waiting for a lock on {} ({} wanted), {}",
                    wait.what,
                    wait.mode,
                    wait.holders_text()
                ))
                .hint(format!(
                    "wait for that session to finish and run again, or end it (`{terminate}`) if it is stuck; \
                     --lock-timeout SECS waits longer (0 = forever)"
                ))
            }
            None => UserError::new(format!(
                "gave up after {secs}s waiting for a lock another session holds"
            ))
            .hint("find it with `SELECT pid, pg_blocking_pids(pid) FROM pg_stat_activity WHERE wait_event_type = 'Lock'` \
                   and wait for it or end it (pg_terminate_backend); --lock-timeout SECS waits longer (0 = forever)"),
        };
        error.into()
    }
}

fn announcement(wait: &Wait, lock_timeout: Duration) -> String {
    let bound = if lock_timeout.is_zero() {
        "modkit waits until it is released (--lock-timeout 0)".to_string()
    } else {
        format!(
            "modkit gives up after {}s (--lock-timeout)",
            lock_timeout.as_secs()
        )
    };
    format!(
        "waiting for a lock on {} ({} wanted), {}; {bound}",
        wait.what,
        wait.mode,
        wait.holders_text()
    )
}

/// The watcher's connection: to the `postgres` maintenance database when the role may (pg_locks
/// and pg_stat_activity see the whole server from there, and polling leaves the watched database's
/// statistics alone), else to the watched database itself.
async fn watcher_connection(options: &PgConnectOptions) -> Option<PgConnection> {
    let connect = |options: PgConnectOptions| async move {
        tokio::time::timeout(Duration::from_secs(10), PgConnection::connect_with(&options))
            .await
            .ok()?
            .ok()
    };
    match connect(options.clone().database("postgres")).await {
        Some(conn) => Some(conn),
        None => connect(options.clone()).await,
    }
}

/// Table names by oid, read in the watched database (an oid means nothing elsewhere) on a
/// connection opened the first time a table lock is waited for.
struct Names {
    options: PgConnectOptions,
    conn: Option<PgConnection>,
    known: HashMap<i64, String>,
}

impl Names {
    fn new(options: PgConnectOptions) -> Self {
        Self {
            options,
            conn: None,
            known: HashMap::new(),
        }
    }

    async fn table(&mut self, oid: i64) -> String {
        if let Some(name) = self.known.get(&oid) {
            return name.clone();
        }
        if self.conn.is_none() {
            self.conn =
                tokio::time::timeout(Duration::from_secs(10), PgConnection::connect_with(&self.options))
                    .await
                    .ok()
                    .and_then(Result::ok);
        }
        let query = format!(
            "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = {oid}"
        );
        let found = match self.conn.as_mut() {
            Some(conn) => crate::db::simple(conn, query)
                .await
                .ok()
                .and_then(|rows| rows.first().and_then(|r| r.try_get::<String, _>(0).ok())),
            None => None,
        };
        let name = found.unwrap_or_else(|| format!("the table with oid {oid}"));
        self.known.insert(oid, name.clone());
        name
    }
}

/// The locks our sessions wait for, with the sessions that block them (`pg_blocking_pids`).
async fn current_waits(
    conn: &mut PgConnection,
    application: &str,
    names: &mut Names,
) -> Result<Vec<Wait>, sqlx::Error> {
    let query = format!(
        "SELECT l.locktype, COALESCE(l.relation::int8, 0), l.mode, \
                COALESCE(array_agg(b.pid ORDER BY b.pid) FILTER (WHERE b.pid IS NOT NULL), '{{}}'), \
                COALESCE(array_agg(concat_ws(', ', 'user ' || h.usename, \
                    'application ' || NULLIF(h.application_name, ''), h.state) ORDER BY b.pid) \
                    FILTER (WHERE b.pid IS NOT NULL), '{{}}') \
         FROM pg_stat_activity w \
         JOIN pg_locks l ON l.pid = w.pid AND NOT l.granted \
         LEFT JOIN LATERAL unnest(pg_blocking_pids(w.pid)) AS b(pid) ON true \
         LEFT JOIN pg_stat_activity h ON h.pid = b.pid \
         WHERE w.application_name = {} \
         GROUP BY w.pid, l.locktype, l.relation, l.mode",
        crate::db::statements::literal(application)
    );
    let rows: Vec<PgRow> = crate::db::simple(conn, query).await?;
    let mut out = Vec::new();
    for row in rows {
        let locktype: String = row.try_get(0)?;
        let relation: i64 = row.try_get(1)?;
        let pids: Vec<i32> = row.try_get(3)?;
        let about: Vec<String> = row.try_get(4)?;
        let what = match locktype.as_str() {
            "relation" if relation != 0 => format!("table {}", names.table(relation).await),
            "advisory" => "modkit's advisory lock (another modkit run on this database holds it)".to_string(),
            "transactionid" | "tuple" => "a row another transaction is changing".to_string(),
            other => format!("a {other} lock"),
        };
        out.push(Wait {
            what,
            mode: row.try_get(2)?,
            holders: pids
                .into_iter()
                .zip(about.into_iter().chain(std::iter::repeat(String::new())))
                .map(|(pid, about)| Holder { pid, about })
                .collect(),
        });
    }
    out.sort_by(|a, b| a.what.cmp(&b.what));
    out.dedup();
    Ok(out)
}
