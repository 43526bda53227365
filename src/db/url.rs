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
        Ok(Self { url, source })
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

    /// Every secret string this URL holds, so error texts from the driver can be scrubbed too.
    pub fn secrets(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(p) = self.url.password().filter(|p| !p.is_empty()) {
            out.push(p.to_string());
            if let Ok(decoded) = url::form_urlencoded::parse(format!("p={p}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .ok_or(())
            {
                out.push(decoded);
            }
        }
        for (k, v) in self.url.query_pairs() {
            if k.eq_ignore_ascii_case("password") && !v.is_empty() {
                out.push(v.into_owned());
            }
        }
        out
    }

    /// An error with every secret removed, keeping its hint: the driver's own texts may quote
    /// the URL or the password.
    pub fn scrub_error(&self, err: anyhow::Error) -> anyhow::Error {
        if err.chain().any(|e| e.is::<UserError>()) && self.secrets().is_empty() {
            return err;
        }
        let text = self.scrub(&format!("{err:#}"));
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
    fn refuses_other_schemes() {
        assert!(DbUrl::parse("mysql://root@localhost/app", UrlSource::Flag).is_err());
        assert!(DbUrl::parse("not a url", UrlSource::Flag).is_err());
        assert!(DbUrl::parse("postgresql://localhost/app", UrlSource::Flag).is_ok());
    }
}
