//! `modkit db query` and `modkit db psql`: one statement through modkit's own driver, and the
//! environment a `psql` is started with. A way to look at the tables where no PostgreSQL client
//! is installed (the embedded package has none).
//!
//! The statement goes over the simple-query protocol, so every value comes back in PostgreSQL's
//! own text form, whatever its type: that is what the table shows, as psql would.

use anyhow::{Context, Result};
use futures_util::TryStreamExt;
use sqlx::postgres::{PgColumn, PgRow, PgTypeInfo};
use sqlx::{AssertSqlSafe, Column, Either, Executor, PgPool, Row, Statement, TypeInfo, ValueRef};

use crate::db::split;
use crate::exit::UserError;
use crate::names;

/// What one statement gave back: its columns (name and type), its rows as text (None for NULL),
/// and the rows it touched (for a SELECT, the rows it returned).
#[derive(Debug, Default)]
pub struct Answer {
    pub columns: Vec<(String, String)>,
    pub rows: Vec<Vec<Option<String>>>,
    pub rows_affected: u64,
}

/// The one statement of `sql` (a trailing `;` and comments allowed); none, or more than one, is
/// a usage error: `db query` runs exactly what it is given, once.
pub fn single_statement(sql: &str) -> Result<&str> {
    let statements = split::split_checked(sql).map_err(|e| {
        UserError::new(format!("cannot read the statement: {e}"))
            .hint("close the string, quoted name or comment it opens")
    })?;
    match statements.as_slice() {
        [one] => Ok(one.sql),
        [] => Err(UserError::new("no SQL statement given")
            .hint("pass one, e.g. modkit db query \"SELECT * FROM items\"")
            .into()),
        many => Err(UserError::new(format!(
            "{} statements given; db query runs one at a time",
            many.len()
        ))
        .hint("run them one by one, or use `modkit db psql` (or psql -f) for a script")
        .into()),
    }
}

/// The schema of tenant `code` as sys_tenant records it; an unknown tenant is a usage error.
pub async fn tenant_schema(pool: &PgPool, code: &str) -> Result<String> {
    names::check_tenant_code(code)?;
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('public.sys_tenant') IS NOT NULL")
        .fetch_one(pool)
        .await?;
    let schema: Option<String> = if exists {
        sqlx::query_scalar("SELECT schema_name FROM public.sys_tenant WHERE code = $1")
            .bind(code)
            .fetch_optional(pool)
            .await?
    } else {
        None
    };
    let schema = schema.ok_or_else(|| {
        UserError::new(format!("there is no tenant `{code}` in this database")).hint(format!(
            "`modkit tenant list` shows the tenants; `modkit tenant add {code}` makes it"
        ))
    })?;
    // The schema goes into PGOPTIONS for psql, where a space or a backslash would split it.
    if !schema
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(UserError::new(format!(
            "tenant `{code}` has the schema `{}`, which is not a plain lowercase name",
            names::printable(&schema)
        ))
        .hint("rename the tenant (`modkit tenant rename`) to give it a schema tenant_<code>")
        .into());
    }
    Ok(schema)
}

/// The search_path of a tenant's session, as the bootstrap and the API set it: its schema, then
/// `extensions`.
pub fn tenant_search_path(schema: &str) -> String {
    format!("{schema}, extensions")
}

/// Run `sql` (one statement) with `schema`'s search_path. `Ok(Err(text))` is the server refusing
/// the statement (its message, detail and SQLSTATE); `Err` is anything else (no connection...).
pub async fn run(pool: &PgPool, schema: Option<&str>, sql: &str) -> Result<Result<Answer, String>> {
    let mut conn = pool
        .acquire()
        .await
        .context("no connection to run the statement on")?;
    if let Some(schema) = schema {
        sqlx::query("SELECT set_config('search_path', $1, false)")
            .bind(tenant_search_path(schema))
            .execute(&mut *conn)
            .await?;
    }
    let mut answer = Answer::default();
    let result: Result<(), sqlx::Error> = async {
        let mut stream = sqlx::raw_sql(AssertSqlSafe(sql.to_string())).fetch_many(&mut *conn);
        while let Some(item) = stream.try_next().await? {
            match item {
                Either::Left(done) => answer.rows_affected += done.rows_affected(),
                Either::Right(row) => {
                    if answer.columns.is_empty() {
                        answer.columns = columns(row.columns());
                    }
                    answer.rows.push(texts(&row)?);
                }
            }
        }
        Ok(())
    }
    .await;
    match result {
        Ok(()) => {}
        Err(sqlx::Error::Database(e)) => {
            // The session may be mid-transaction or poisoned: never hand it back to the pool.
            let _ = conn.detach();
            return Ok(Err(crate::output::server_error_text(e.as_ref())));
        }
        Err(e) => return Err(e.into()),
    }
    // A statement that returned no row still has columns: ask the server for them (a prepare,
    // not a second run). A statement that cannot be prepared (a utility one) simply has none.
    if answer.columns.is_empty()
        && let Ok(prepared) = (&mut *conn)
            .prepare(sqlx::SqlSafeStr::into_sql_str(AssertSqlSafe(sql.to_string())))
            .await
    {
        answer.columns = columns(prepared.columns());
    }
    Ok(Ok(answer))
}

fn columns(columns: &[PgColumn]) -> Vec<(String, String)> {
    columns
        .iter()
        .map(|c| (c.name().to_string(), type_name(c.type_info())))
        .collect()
}

fn type_name(info: &PgTypeInfo) -> String {
    info.name().to_lowercase()
}

fn texts(row: &PgRow) -> Result<Vec<Option<String>>, sqlx::Error> {
    (0..row.len())
        .map(|i| {
            let value = row.try_get_raw(i)?;
            if value.is_null() {
                return Ok(None);
            }
            let text = value.as_str().map_err(sqlx::Error::Decode)?.to_string();
            Ok(Some(text))
        })
        .collect()
}

/// A value for `--format json`: a number, boolean or JSON document where PostgreSQL's text of
/// that type is one, else the text itself (numeric stays text: it may not fit a double).
pub fn json_value(type_name: &str, text: Option<&str>) -> serde_json::Value {
    let Some(text) = text else {
        return serde_json::Value::Null;
    };
    let parsed = match type_name {
        "int2" | "int4" | "int8" | "oid" => text.parse::<i64>().ok().map(serde_json::Value::from),
        "float4" | "float8" => text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(serde_json::Value::Number),
        "bool" => match text {
            "t" => Some(serde_json::Value::Bool(true)),
            "f" => Some(serde_json::Value::Bool(false)),
            _ => None,
        },
        "json" | "jsonb" => serde_json::from_str(text).ok(),
        _ => None,
    };
    parsed.unwrap_or_else(|| serde_json::Value::String(text.to_string()))
}

/// A value as one table cell: control characters (a newline in a text column) escaped, so each
/// row stays one line and the columns stay aligned.
pub fn cell(text: Option<&str>) -> String {
    text.map(crate::names::printable).unwrap_or_default()
}

/// What `db psql` hands to psql: the URL without its password, the password in PGPASSWORD (never
/// on the command line, where `ps` shows it), and the tenant's search_path in PGOPTIONS.
pub struct PsqlLaunch {
    pub url: String,
    pub password: Option<String>,
    pub options: Option<String>,
}

impl PsqlLaunch {
    /// `full` is the URL with its password (`DbUrl::secret`); `existing_options` the PGOPTIONS of
    /// the environment, kept.
    pub fn new(full: &str, schema: Option<&str>, existing_options: Option<&str>) -> Result<Self> {
        let mut url = url::Url::parse(full).context("the database URL is not a valid URL")?;
        let mut password = url.password().filter(|p| !p.is_empty()).map(|p| {
            percent_encoding::percent_decode_str(p)
                .decode_utf8_lossy()
                .into_owned()
        });
        let _ = url.set_password(None);
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if pairs.iter().any(|(k, _)| k.eq_ignore_ascii_case("password")) {
            let mut kept = Vec::new();
            for (k, v) in pairs {
                if k.eq_ignore_ascii_case("password") {
                    password = Some(v);
                } else {
                    kept.push((k, v));
                }
            }
            if kept.is_empty() {
                url.set_query(None);
            } else {
                url.query_pairs_mut().clear().extend_pairs(kept);
            }
        }
        let options = schema.map(|schema| {
            // PGOPTIONS splits on spaces: the one in the value is escaped, as libpq reads it.
            let mine = format!("-c search_path={schema},\\ extensions");
            match existing_options.filter(|o| !o.trim().is_empty()) {
                Some(existing) => format!("{existing} {mine}"),
                None => mine,
            }
        });
        Ok(Self {
            url: url.to_string(),
            password,
            options,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_statement_only() {
        assert_eq!(single_statement("SELECT 1;").unwrap(), "SELECT 1");
        assert_eq!(single_statement("SELECT ';' -- c\n").unwrap(), "SELECT ';' -- c");
        assert!(single_statement("SELECT 1; SELECT 2").is_err());
        assert!(single_statement("  ; -- nothing").is_err());
        assert!(single_statement("SELECT 'open").is_err());
    }

    #[test]
    fn psql_gets_no_password_on_its_command_line() {
        let launch = PsqlLaunch::new(
            "postgres://app:s%40cret@127.0.0.1:5432/app_dev?sslmode=disable&password=other",
            Some("tenant_acme"),
            Some("-c work_mem=64MB"),
        )
        .unwrap();
        assert_eq!(
            launch.url,
            "postgres://app@127.0.0.1:5432/app_dev?sslmode=disable"
        );
        assert_eq!(launch.password.as_deref(), Some("other"));
        assert_eq!(
            launch.options.as_deref(),
            Some("-c work_mem=64MB -c search_path=tenant_acme,\\ extensions")
        );
        let plain = PsqlLaunch::new("postgres://app:pw@h/db", None, None).unwrap();
        assert_eq!(plain.url, "postgres://app@h/db");
        assert_eq!(plain.password.as_deref(), Some("pw"));
        assert!(plain.options.is_none());
    }

    #[test]
    fn json_values_keep_their_type_where_they_have_one() {
        assert_eq!(json_value("int8", Some("42")), serde_json::json!(42));
        assert_eq!(json_value("bool", Some("t")), serde_json::json!(true));
        assert_eq!(json_value("numeric", Some("1.10")), serde_json::json!("1.10"));
        assert_eq!(
            json_value("jsonb", Some("{\"a\":1}")),
            serde_json::json!({"a": 1})
        );
        assert_eq!(json_value("float8", Some("NaN")), serde_json::json!("NaN"));
        assert_eq!(json_value("text", None), serde_json::Value::Null);
        assert_eq!(cell(Some("a\nb")), "a\\nb");
    }
}
