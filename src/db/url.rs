//! The database URL: where it comes from (`--db`, then `DATABASE_URL`, then modkit.toml) and how it
//! is shown. A password never appears in any output: everything printed goes through `redacted`.

use anyhow::Result;

use crate::exit::UserError;

/// Where the URL was found, for messages ("from DATABASE_URL").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlSource {
    Flag,
    Env,
    ProjectFile,
    /// The project's own local cluster (`modkit db`), used when none of the others is given.
    Local,
}

impl UrlSource {
    pub fn describe(self) -> &'static str {
        match self {
            UrlSource::Flag => "--db",
            UrlSource::Env => "DATABASE_URL",
            UrlSource::ProjectFile => "modkit.toml [database] url",
            UrlSource::Local => "the local database in .modkit/pg",
        }
    }
}

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
    /// `--db`, then `DATABASE_URL`, then modkit.toml; none is a usage error.
    pub fn resolve(flag: Option<&str>, project_url: Option<&str>) -> Result<Self> {
        let env = std::env::var("DATABASE_URL")
            .ok()
            .filter(|s| !s.trim().is_empty());
        let (text, source) = match (flag, env, project_url) {
            (Some(f), _, _) => (f.to_string(), UrlSource::Flag),
            (None, Some(e), _) => (e, UrlSource::Env),
            (None, None, Some(p)) => (p.to_string(), UrlSource::ProjectFile),
            (None, None, None) => {
                return Err(UserError::new("no database URL given")
                    .hint("pass --db postgres://user@host:5432/dbname, set DATABASE_URL, or run inside a sandbox whose modkit.toml has [database] url")
                    .into());
            }
        };
        Self::parse(&text, source)
    }

    pub fn parse(text: &str, source: UrlSource) -> Result<Self> {
        let url = url::Url::parse(text.trim()).map_err(|e| {
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

    /// `host:port`, for "cannot reach ..." messages.
    pub fn host_port(&self) -> String {
        let host = self
            .url
            .host_str()
            .filter(|h| !h.is_empty())
            .unwrap_or("localhost");
        format!("{host}:{}", self.url.port().unwrap_or(5432))
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
    use std::str::FromStr;
    let options = sqlx::postgres::PgConnectOptions::from_str(url.as_str()).ok()?;
    let lossy = options.to_url_lossy();
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
    fn refuses_other_schemes() {
        assert!(DbUrl::parse("mysql://root@localhost/app", UrlSource::Flag).is_err());
        assert!(DbUrl::parse("not a url", UrlSource::Flag).is_err());
        assert!(DbUrl::parse("postgresql://localhost/app", UrlSource::Flag).is_ok());
    }
}
