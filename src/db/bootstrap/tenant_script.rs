//! A tenant's script: opening statements, its schema, its pending migrations and their records,
//! and COMMIT, sent in one round trip. It remembers where each migration starts, so that a failure is reported
//! against the migration file and line that caused it, not against the whole script.
//!
//! On a Citus coordinator the same statements are sent one per query instead (`send` with
//! `one_by_one`), each migration split into its statements by `db::split`: Citus forwards the
//! whole query string of a `CREATE INDEX`, `ADD CONSTRAINT` or rename to the worker, where a string
//! of several statements fails. The transaction is the same; only the round trips differ.

use anyhow::anyhow;
use sqlx::postgres::{PgDatabaseError, PgErrorPosition, PgRow};
use sqlx::{AssertSqlSafe, PgConnection};

use super::privilege_hint;
use crate::db::split::split_checked;

/// Where a statement sent alone came from, attached to its error: the migration and the line of
/// the file it starts on, or nothing for modkit's own statements.
#[derive(Debug)]
struct SentAlone {
    migration: Option<(String, usize)>,
}

impl std::fmt::Display for SentAlone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.migration {
            Some((label, line)) => write!(f, "migration {label}, statement at line {line}"),
            None => f.write_str("a statement of modkit's"),
        }
    }
}

#[derive(Default)]
pub struct TenantScript {
    /// Statements that open the transaction (sent, but not replayed when looking for a culprit).
    prelude: Vec<String>,
    /// Statements that come before the migrations (schema, search_path).
    setup: Vec<String>,
    migrations: Vec<PendingMigration>,
    /// Statements after the migrations (the plan check).
    finale: Vec<String>,
    /// Leave COMMIT out: the caller checks what the script returned first.
    commit_later: bool,
}

struct PendingMigration {
    /// `module/file.sql`
    label: String,
    sql: String,
    record: String,
}

impl TenantScript {
    pub fn prelude(&mut self, statement: String) {
        self.prelude.push(statement);
    }

    /// A last statement whose result the caller checks before it sends COMMIT itself.
    pub fn check_before_commit(&mut self, statement: String) {
        self.finale.push(statement);
        self.commit_later = true;
    }

    /// A statement after the migrations, before the plan check and COMMIT.
    pub fn before_commit(&mut self, statement: String) {
        self.finale.push(statement);
    }

    pub fn setup(&mut self, statement: String) {
        self.setup.push(statement);
    }

    pub fn migration(&mut self, label: String, sql: &str, record: String) {
        // The file's own text, verbatim, then a newline: the `;` that separates it from what
        // follows cannot end up in a last-line comment (an extra empty statement is harmless).
        // A UTF-8 BOM at the start is skipped, as psql skips it (the server would read it as part
        // of the first word); it is one character, so lines are unchanged.
        // Only ASCII whitespace is trimmed: a Unicode space (NBSP) is part of an identifier to PostgreSQL.
        let sql = format!(
            "{}\n",
            sql.strip_prefix('\u{feff}')
                .unwrap_or(sql)
                .trim_end_matches(|c: char| c.is_ascii_whitespace())
        );
        self.migrations.push(PendingMigration { label, sql, record });
    }

    /// `module/file.sql` of each migration, in order.
    pub fn labels(&self) -> Vec<&str> {
        self.migrations.iter().map(|m| m.label.as_str()).collect()
    }

    /// Whether `text()` ends with COMMIT (otherwise the caller sends it after its check).
    pub fn commits(&self) -> bool {
        !self.commit_later
    }

    pub fn text(&self) -> String {
        let mut parts = self.statements();
        if !self.commit_later {
            parts.push("COMMIT");
        }
        parts.join(";\n") + ";"
    }

    /// The statements of `text()`, COMMIT left out.
    pub fn statements(&self) -> Vec<&str> {
        let mut parts: Vec<&str> = self
            .prelude
            .iter()
            .chain(&self.setup)
            .map(String::as_str)
            .collect();
        for m in &self.migrations {
            parts.push(&m.sql);
            parts.push(&m.record);
        }
        parts.extend(self.finale.iter().map(String::as_str));
        parts
    }

    /// Send the script: as one string (`text()`), or on Citus one statement per query, each
    /// migration split into its statements. The rows of every statement, in order.
    pub async fn send(&self, conn: &mut PgConnection, one_by_one: bool) -> anyhow::Result<Vec<PgRow>> {
        if !one_by_one {
            return Ok(sqlx::raw_sql(AssertSqlSafe(self.text()))
                .fetch_all(&mut *conn)
                .await?);
        }
        let mut statements: Vec<(&str, Option<(&str, usize)>)> = self
            .prelude
            .iter()
            .chain(&self.setup)
            .map(|s| (s.as_str(), None))
            .collect();
        for m in &self.migrations {
            // Checked before anything is sent: a piece cut short would swallow what follows.
            let pieces = split_checked(&m.sql).map_err(|e| {
                crate::exit::UserError::new(format!("migration {}, {e}; nothing was sent", m.label)).hint(
                    "sent one statement at a time (Citus), a migration must end every comment and string it opens",
                )
            })?;
            for statement in pieces {
                statements.push((statement.sql, Some((m.label.as_str(), statement.line_in(&m.sql)))));
            }
            statements.push((&m.record, None));
        }
        statements.extend(self.finale.iter().map(|s| (s.as_str(), None)));
        if !self.commit_later {
            statements.push(("COMMIT", None));
        }
        let mut rows = Vec::new();
        for (sql, migration) in statements {
            match sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
                .fetch_all(&mut *conn)
                .await
            {
                Ok(more) => rows.extend(more),
                Err(e) => {
                    // The line in the file: where the statement starts, plus the lines before the
                    // position PostgreSQL points at within it.
                    let migration = migration.map(|(label, line)| {
                        let within =
                            position(&e).map_or(0, |at| sql.chars().take(at).filter(|c| *c == '\n').count());
                        (label.to_string(), line + within)
                    });
                    return Err(anyhow::Error::new(e).context(SentAlone { migration }));
                }
            }
        }
        Ok(rows)
    }

    /// Turn the failure of `text()` into a message naming the migration. The transaction has been
    /// rolled back already; when the server gave no position and several migrations were pending,
    /// they are run again one by one in a transaction that is rolled back, to find the one.
    pub async fn explain(
        &self,
        conn: &mut PgConnection,
        err: anyhow::Error,
        schema: &str,
        lock: &str,
    ) -> anyhow::Error {
        let Some(db) = err
            .downcast_ref::<sqlx::Error>()
            .and_then(|e| e.as_database_error())
        else {
            return err.context(format!("bootstrapping schema {schema} failed"));
        };
        let message = db.message().to_string();
        // Sent one statement per query (Citus): the failing statement is known, no replay needed.
        if let Some(sent) = err.downcast_ref::<SentAlone>() {
            return match &sent.migration {
                Some((label, line)) => {
                    anyhow!("migration {label} failed at line {line} in schema {schema}: {message}")
                }
                None => match err.downcast::<sqlx::Error>() {
                    Ok(e) => privilege_hint(
                        e,
                        "create schemas in this database",
                        "GRANT CREATE ON DATABASE <db> TO <role>;",
                    )
                    .context(format!("bootstrapping schema {schema} failed")),
                    Err(e) => e,
                },
            };
        }
        let position = err.downcast_ref::<sqlx::Error>().and_then(position);
        if let Some((label, line)) = position.and_then(|at| self.at_position(at)) {
            return anyhow!("migration {label} failed at line {line} in schema {schema}: {message}");
        }
        match self.find_failing(conn, lock).await {
            Culprit::Migration(label) => anyhow!("migration {label} failed in schema {schema}: {message}"),
            Culprit::Setup => match err.downcast::<sqlx::Error>() {
                Ok(e) => privilege_hint(
                    e,
                    "create schemas in this database",
                    "GRANT CREATE ON DATABASE <db> TO <role>;",
                )
                .context(format!("cannot create schema {schema}")),
                Err(e) => e,
            },
            Culprit::Unknown => {
                anyhow!(
                    "bootstrapping schema {schema} (migrations {}) failed: {message}",
                    self.labels().join(", ")
                )
            }
        }
    }

    /// The migration and line (1-based, within its file) at a character offset of `text()`.
    fn at_position(&self, at: usize) -> Option<(String, usize)> {
        let mut offset: usize = self
            .prelude
            .iter()
            .chain(&self.setup)
            .map(|s| s.chars().count() + 2)
            .sum();
        for m in &self.migrations {
            let len = m.sql.chars().count();
            if at < offset + len + 2 {
                let line = m
                    .sql
                    .chars()
                    .take(at.saturating_sub(offset))
                    .filter(|c| *c == '\n')
                    .count()
                    + 1;
                // An error at the very end (a missing `)`) points past the file's last line.
                return Some((m.label.clone(), line.min(m.sql.trim_end().lines().count().max(1))));
            }
            offset += len + 2 + m.record.chars().count() + 2;
        }
        None
    }

    /// Replay the script a step at a time in a transaction that is rolled back.
    async fn find_failing(&self, conn: &mut PgConnection, lock: &str) -> Culprit {
        let mut culprit = Culprit::Unknown;
        let begun = sqlx::raw_sql(AssertSqlSafe(format!("BEGIN;\n{lock}")))
            .execute(&mut *conn)
            .await
            .is_ok();
        if begun {
            culprit = Culprit::Setup;
            let mut setup_ok = true;
            for statement in &self.setup {
                if sqlx::raw_sql(AssertSqlSafe(statement.clone()))
                    .execute(&mut *conn)
                    .await
                    .is_err()
                {
                    setup_ok = false;
                    break;
                }
            }
            if setup_ok {
                culprit = Culprit::Unknown;
                for m in &self.migrations {
                    if sqlx::raw_sql(AssertSqlSafe(m.sql.clone()))
                        .execute(&mut *conn)
                        .await
                        .is_err()
                    {
                        culprit = Culprit::Migration(m.label.clone());
                        break;
                    }
                }
            }
        }
        let _ = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await;
        culprit
    }
}

/// The 0-based character offset in the query string where PostgreSQL located an error, if it did.
fn position(err: &sqlx::Error) -> Option<usize> {
    err.as_database_error()?
        .try_downcast_ref::<PgDatabaseError>()?
        .position()
        .and_then(|p| match p {
            PgErrorPosition::Original(at) => Some(at.saturating_sub(1)),
            PgErrorPosition::Internal { .. } => None,
        })
}

enum Culprit {
    /// Creating the schema or scoping to it failed.
    Setup,
    Migration(String),
    /// Nothing failed on replay (a passing fault, or a concurrent change).
    Unknown,
}
