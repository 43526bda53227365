//! The database URL: where it comes from and how it is shown. A password never appears in any
//! output: everything printed goes through `redacted`.
//!
//! Where, first found wins (docs/bootstrap.md, "Which database"):
//!
//! 1. `--db URL`;
//! 2. `DATABASE_URL` in the environment;
//! 3. `DATABASE_URL` in the project's `.env` file (as sqlx and most web frameworks read it);
//! 4. modkit.toml's `[database] url`;
//! 5. the libpq variables alone (`PGHOST`, `PGHOSTADDR`, `PGPORT`, `PGUSER`, `PGDATABASE`), when
//!    at least one is set;
//! 6. the project's local database (`modkit db`, src/localdb): `bootstrap` starts it, `doctor` only
//!    reads one that was made.
//!
//! Whichever URL is used, the libpq variables fill what it leaves out (host, port, user, database,
//! `PGSSLMODE`), and the password comes from `PGPASSWORD` or the password file, as in libpq: the
//! driver does this when it parses the URL. A socket is a host that is a folder:
//! `postgres://app@/app?host=/var/run/postgresql`, `postgres://app@%2Fvar%2Frun%2Fpostgresql/app`
//! or `PGHOST=/var/run/postgresql`.

use std::path::Path;

use anyhow::Result;

use crate::exit::UserError;
use crate::project::Project;

/// Where the URL was found, for messages ("from DATABASE_URL").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlSource {
    Flag,
    Env,
    DotEnv,
    ProjectFile,
    PgEnv,
    /// The project's own local cluster (`modkit db`), used when none of the others is given.
    Local,
}

impl UrlSource {
    pub fn describe(self) -> &'static str {
        match self {
            UrlSource::Flag => "--db",
            UrlSource::Env => "DATABASE_URL",
            UrlSource::DotEnv => "DATABASE_URL in .env",
            UrlSource::ProjectFile => "modkit.toml [database] url",
            UrlSource::PgEnv => "PGHOST, PGPORT, PGUSER and PGDATABASE",
            UrlSource::Local => "the local database in .modkit/pg",
        }
    }
}

/// The libpq variables that, set alone, name a database to connect to.
const PG_TARGET_VARS: [&str; 5] = ["PGHOST", "PGHOSTADDR", "PGPORT", "PGUSER", "PGDATABASE"];

#[derive(Clone)]
pub struct DbUrl {
    url: url::Url,
    pub source: UrlSource,
    /// The password the driver will send when the URL has none: from `PGPASSWORD`, or the
    /// `PGPASSFILE` / `~/.pgpass` line for this host, port, database and user. Kept only to scrub it.
    outside: Option<String>,
}

impl std::fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DbUrl({})", self.redacted())
    }
}

impl DbUrl {
    /// The URL of the first source that gives one (see the module's docs); none is a usage error.
    pub fn resolve(flag: Option<&str>, project: &Project) -> Result<Self> {
        Self::resolve_given(flag, project)?.ok_or_else(|| {
            UserError::new("no database URL given")
                .hint("pass --db postgres://user@host:5432/dbname, set DATABASE_URL (in the environment or the project's .env) or PGHOST/PGDATABASE, or run inside a sandbox whose modkit.toml has [database] url")
                .into()
        })
    }

    /// The URL from the first of places 1–5 that gives one; `None` when none does, so that the
    /// caller may fall back to the project's local database (place 6, `modkit db`).
    pub fn resolve_given(flag: Option<&str>, project: &Project) -> Result<Option<Self>> {
        let (text, source) = if let Some(flag) = flag {
            (flag.to_string(), UrlSource::Flag)
        } else if let Some(env) = std::env::var("DATABASE_URL")
            .ok()
            .filter(|s| !s.trim().is_empty())
        {
            (env, UrlSource::Env)
        } else if let Some(dotenv) = dotenv_url(&project.root)? {
            (dotenv, UrlSource::DotEnv)
        } else if let Some(file) = project.file.database.url.clone() {
            (file, UrlSource::ProjectFile)
        } else if let Some(pg) = pg_env_url() {
            (pg, UrlSource::PgEnv)
        } else {
            return Ok(None);
        };
        Self::parse(&text, source).map(Some)
    }

    pub fn parse(text: &str, source: UrlSource) -> Result<Self> {
        let text = socket_host(text.trim());
        let url = url::Url::parse(&text).map_err(|e| {
            UserError::new(format!(
                "the database URL from {} is not a valid URL ({e})",
                source.describe()
            ))
            .hint("write it as postgres://user:password@host:5432/dbname")
        })?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err(UserError::new(format!(
                "the database URL from {} is `{}:`, not PostgreSQL",
                source.describe(),
                url.scheme()
            ))
            .hint("modkit works with PostgreSQL only: postgres://user@host:5432/dbname")
            .into());
        }
        let outside = outside_password(&url);
        Ok(Self { url, source, outside })
    }

    /// What to say about where the password comes from: from `--db`, where every local user can
    /// read it (`ps`, /proc/<pid>/cmdline) for as long as modkit runs; or not at all because the
    /// password file is one others may read, which the driver (like libpq) then ignores.
    pub fn password_warnings(&self) -> Vec<String> {
        let in_url = self.url.password().is_some_and(|p| !p.is_empty())
            || self
                .url
                .query_pairs()
                .any(|(k, v)| k.eq_ignore_ascii_case("password") && !v.is_empty());
        let mut out = Vec::new();
        if self.source == UrlSource::Flag && in_url {
            out.push(
                "the password in --db is visible to every local user (ps) while modkit runs: \
                 leave it out of the URL and set PGPASSWORD, a ~/.pgpass line (or PGPASSFILE), or put the whole URL in DATABASE_URL"
                    .to_string(),
            );
        }
        if !in_url && self.outside.is_none() {
            out.extend(ignored_password_file());
        }
        out
    }

    /// The full URL, password included: only ever handed to the driver.
    pub fn secret(&self) -> &str {
        self.url.as_str()
    }

    /// The URL with any password replaced by `***`, safe to print.
    pub fn redacted(&self) -> String {
        let mut shown = self.url.clone();
        if shown.password().is_some() {
            let _ = shown.set_password(Some("***"));
        }
        // A password may also hide in the query string (?password=...).
        if shown
            .query_pairs()
            .any(|(k, _)| k.eq_ignore_ascii_case("password"))
        {
            let pairs: Vec<(String, String)> = shown
                .query_pairs()
                .map(|(k, v)| {
                    let v = if k.eq_ignore_ascii_case("password") {
                        "***".to_string()
                    } else {
                        v.into_owned()
                    };
                    (k.into_owned(), v)
                })
                .collect();
            shown.query_pairs_mut().clear().extend_pairs(pairs);
        }
        shown.to_string()
    }

    /// Where the driver will connect, for "cannot reach ..." messages: `host:port`, or the socket's
    /// path. Asked of the driver, so the libpq variables that fill the URL's gaps count too.
    pub fn host_port(&self) -> String {
        match driver_options(self.url.as_str()) {
            Some(options) => match options.get_socket() {
                Some(dir) => format!("{}/.s.PGSQL.{}", dir.display(), options.get_port()),
                None => format!("{}:{}", options.get_host(), options.get_port()),
            },
            None => {
                let host = self
                    .url
                    .host_str()
                    .filter(|h| !h.is_empty())
                    .unwrap_or("localhost");
                format!("{host}:{}", self.url.port().unwrap_or(5432))
            }
        }
    }

    /// Every secret string this URL holds, in every form it can take in a text, longest first,
    /// so error texts from the driver or the server can be scrubbed too.
    pub fn secrets(&self) -> Vec<String> {
        let mut known = Vec::new();
        if let Some(p) = self.url.password() {
            known.push(p.to_string());
        }
        // The raw text of `password=` values (query_pairs would already have decoded them).
        for pair in self.url.query().unwrap_or_default().split('&') {
            if let Some((k, v)) = pair.split_once('=')
                && k.eq_ignore_ascii_case("password")
            {
                known.push(v.to_string());
            }
        }
        known.extend(self.outside.clone());
        let mut out: Vec<String> = known.iter().flat_map(|s| spellings(s)).collect();
        out.retain(|s| !s.is_empty());
        out.sort_by_key(|s| std::cmp::Reverse(s.len()));
        out.dedup();
        out
    }

    /// An error with every secret removed, keeping its hint: the driver's own texts may quote
    /// the URL or the password.
    pub fn scrub_error(&self, err: anyhow::Error) -> anyhow::Error {
        if err.chain().any(|e| e.is::<UserError>()) && self.secrets().is_empty() {
            return err;
        }
        let text = self.scrub(&crate::output::error_line(&err));
        match err.chain().find_map(|e| e.downcast_ref::<UserError>()) {
            Some(user) => UserError {
                message: self.scrub(&user.message),
                hint: user.hint.clone(),
            }
            .into(),
            None => anyhow::anyhow!(text),
        }
    }

    /// Remove every secret from a text before it is printed.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in self.secrets() {
            out = out.replace(&secret, "***");
        }
        out
    }
}

/// `DATABASE_URL` from `<project>/.env`, when the file exists and sets it. Only that variable is
/// read; nothing is put in modkit's environment.
fn dotenv_url(root: &Path) -> Result<Option<String>> {
    let path = root.join(".env");
    match std::fs::metadata(&path) {
        Err(_) => return Ok(None),
        // A folder or a FIFO named .env is named as such, never opened (a FIFO would block).
        Ok(meta) if !meta.is_file() => {
            return Err(
                UserError::new(format!("{} is not a regular file", path.display()))
                    .hint("modkit reads DATABASE_URL from a project's .env file: make it one, or remove it")
                    .into(),
            );
        }
        Ok(_) => {}
    }
    let bad = |e: dotenvy::Error| -> anyhow::Error {
        UserError::new(format!("cannot read {}: {e}", path.display()))
            .hint("write it as lines of NAME=value, e.g. DATABASE_URL=postgres://app@localhost:5432/app")
            .into()
    };
    for item in dotenvy::from_path_iter(&path).map_err(bad)? {
        let (name, value) = item.map_err(bad)?;
        if name == "DATABASE_URL" && !value.trim().is_empty() {
            return Ok(Some(value));
        }
    }
    Ok(None)
}

/// `postgres://` naming what the libpq variables name, when one of them is set: the driver fills
/// in the rest from them (this URL carries no value of its own, so it shows where it came from).
pub fn pg_env_url() -> Option<String> {
    PG_TARGET_VARS
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()))
        .then_some(())?;
    // Spelled out for messages: user, host (or socket folder), port and database as the driver sees them.
    let options = driver_options("postgres://")?;
    let enc = |s: &str| percent_encoding::utf8_percent_encode(s, URL_PART).to_string();
    let host = match options.get_socket() {
        Some(dir) => enc(&dir.to_string_lossy()),
        None => options.get_host().to_string(),
    };
    let database = options.get_database().map(enc).unwrap_or_default();
    Some(format!(
        "postgres://{}@{host}:{}/{database}",
        enc(options.get_username()),
        options.get_port()
    ))
}

/// The driver's options for a URL, with a socket folder that came as a host (from `PGHOST`, or
/// the driver's default socket) set as the socket: it connects to either alike, but turning the
/// options back into a URL (`to_url_lossy`) panics on a host that is a path.
fn driver_options(url: &str) -> Option<sqlx::postgres::PgConnectOptions> {
    use std::str::FromStr;
    let options = sqlx::postgres::PgConnectOptions::from_str(url).ok()?;
    if options.get_socket().is_none() && options.get_host().starts_with('/') {
        let dir = options.get_host().to_string();
        return Some(options.socket(dir));
    }
    Some(options)
}

/// What must be escaped in a user name, a host or a database name put into a URL (a socket
/// folder's `/` included); `-`, `_`, `.` and `~` are left as they are, for readable messages.
const URL_PART: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// `postgres://user@/db?host=/dir`, libpq's socket URL, as a URL parser accepts it: the url crate
/// refuses a user with an empty host, so the socket folder of `host=` becomes the (percent-encoded)
/// host, which the driver reads as a socket too. Any other text is returned as it is.
fn socket_host(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://") else {
        return text.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let Some(userinfo) = authority.strip_suffix('@') else {
        return text.to_string();
    };
    let (path, query) = tail.split_once('?').unwrap_or((tail, ""));
    let socket = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == "host")
        .map(|(_, v)| {
            percent_encoding::percent_decode_str(v)
                .decode_utf8_lossy()
                .into_owned()
        })
        .filter(|v| v.starts_with('/'));
    let Some(socket) = socket else {
        // No socket folder given: leave the host to libpq's rule (PGHOST, else the default socket)
        // by moving user and password into the query, where an empty host is allowed.
        let mut pairs: Vec<String> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect();
        let (user, password) = userinfo
            .split_once(':')
            .map_or((userinfo, None), |(u, p)| (u, Some(p)));
        if !user.is_empty() {
            pairs.push(format!("user={user}"));
        }
        if let Some(password) = password {
            pairs.push(format!("password={password}"));
        }
        return format!("{scheme}://{path}?{}", pairs.join("&"));
    };
    let host = percent_encoding::utf8_percent_encode(&socket, URL_PART);
    let rest: Vec<&str> = query.split('&').filter(|p| !p.starts_with("host=")).collect();
    let query = rest.join("&");
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    };
    format!("{scheme}://{userinfo}@{host}{path}{query}")
}

/// Every way a password written `raw` can be spelled in a text: as written, percent-decoded (what
/// the driver sends for a URL password), form-decoded (`+` as a space: what a query value becomes),
/// and percent-encoded (as written or again) in upper and lower case (a driver or proxy quoting
/// the URL).
fn spellings(raw: &str) -> Vec<String> {
    use percent_encoding::{NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
    let decoded = percent_decode_str(raw).decode_utf8_lossy().into_owned();
    let form_decoded = percent_decode_str(&raw.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned();
    let encoded = utf8_percent_encode(&decoded, NON_ALPHANUMERIC).to_string();
    vec![
        raw.to_string(),
        lower_escapes(raw),
        decoded,
        form_decoded,
        lower_escapes(&encoded),
        encoded,
    ]
}

/// `%2B` -> `%2b`: the escapes in lower case, the rest as it is.
fn lower_escapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let escape = rest.get(at..at + 3).unwrap_or(&rest[at..]);
        out.push_str(&escape.to_ascii_lowercase());
        rest = &rest[at + escape.len()..];
    }
    out.push_str(rest);
    out
}

/// The password file the driver would read, when it ignores it for its mode.
fn ignored_password_file() -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    if std::env::var_os("PGPASSWORD").is_some_and(|p| !p.is_empty()) {
        return None;
    }
    let (path, shown) = match std::env::var_os("PGPASSFILE") {
        Some(file) => {
            let path = std::path::PathBuf::from(file);
            let shown = format!("PGPASSFILE {}", path.display());
            (path, shown)
        }
        None => (std::env::home_dir()?.join(".pgpass"), "~/.pgpass".to_string()),
    };
    let mode = std::fs::metadata(&path).ok()?.permissions().mode();
    (mode & 0o077 != 0).then(|| {
        format!(
            "{shown} is ignored: group or others may read it (mode {:o}); `chmod 600 {}` to use it",
            mode & 0o777,
            path.display()
        )
    })
}

/// The password the driver finds outside the URL (PGPASSWORD, PGPASSFILE, ~/.pgpass), asked of
/// the driver itself so that it is exactly the one it will send.
fn outside_password(url: &url::Url) -> Option<String> {
    use sqlx::ConnectOptions;
    let lossy = driver_options(url.as_str())?.to_url_lossy();
    let password = lossy.password()?;
    Some(
        percent_encoding::percent_decode_str(password)
            .decode_utf8_lossy()
            .into_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        let url = DbUrl::parse(
            "postgres://app:s3cr%40t@db.example:6543/app?password=other&sslmode=require",
            UrlSource::Flag,
        )
        .unwrap();
        let shown = url.redacted();
        assert!(!shown.contains("s3cr"), "{shown}");
        assert!(!shown.contains("other"), "{shown}");
        assert_eq!(url.host_port(), "db.example:6543");
        assert_eq!(
            url.scrub("failed: s3cr@t and s3cr%40t and other"),
            "failed: *** and *** and ***"
        );
    }

    #[test]
    fn redacts_every_spelling_of_a_plus_encoded_password() {
        let url = DbUrl::parse("postgres://app:a%2Bb+c@db/app?password=x%2By+z", UrlSource::Flag).unwrap();
        for text in [
            "a%2Bb+c",
            "a%2bb+c",
            "a+b+c",
            "a+b c",
            "a%2bb%2bc",
            "a%2Bb%2Bc",
            "x%2By+z",
            "x+y z",
            "x+y+z",
        ] {
            assert_eq!(url.scrub(&format!("got \"{text}\"")), "got \"***\"", "{text}");
        }
    }

    #[test]
    fn reads_socket_urls() {
        let url = DbUrl::parse(
            "postgres://app@/appdb?host=/var/run/postgresql&sslmode=disable",
            UrlSource::Flag,
        )
        .unwrap();
        assert_eq!(url.host_port(), "/var/run/postgresql/.s.PGSQL.5432");
        assert_eq!(
            url.redacted(),
            "postgres://app@%2Fvar%2Frun%2Fpostgresql/appdb?sslmode=disable"
        );
        let url = DbUrl::parse("postgres://app@%2Ftmp:5433/appdb", UrlSource::Flag).unwrap();
        assert_eq!(url.host_port(), "/tmp/.s.PGSQL.5433");
        let url = DbUrl::parse("postgres://app@/appdb", UrlSource::Flag).unwrap();
        assert_eq!(url.redacted(), "postgres:///appdb?user=app");
        let url = DbUrl::parse("postgres://app:s3cret@/appdb?sslmode=disable", UrlSource::Flag).unwrap();
        assert_eq!(
            url.redacted(),
            "postgres:///appdb?sslmode=disable&user=app&password=***"
        );
        let url = DbUrl::parse("postgres:///appdb?host=/tmp", UrlSource::Flag).unwrap();
        assert_eq!(url.host_port(), "/tmp/.s.PGSQL.5432");
    }

    #[test]
    fn refuses_other_schemes() {
        assert!(DbUrl::parse("mysql://root@localhost/app", UrlSource::Flag).is_err());
        assert!(DbUrl::parse("not a url", UrlSource::Flag).is_err());
        assert!(DbUrl::parse("postgresql://localhost/app", UrlSource::Flag).is_ok());
    }
}
