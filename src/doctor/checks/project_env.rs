//! `db-sides-differ`: modkit (`modkit bootstrap`, `modkit db`) and the project's own scripts
//! (`npm run dev`, `npm run bootstrap`, `npm test`) would use two different databases. modkit reads
//! `DATABASE_URL` (environment, then `.env`), modkit.toml, the `PG*` variables, then the local
//! database; the scripts rendered by this modkit read them the same way (`sandbox/config.ts`), but a
//! project rendered by an older modkit may not read `.env` (no `env.ts`) or the `PG*` variables: then
//! the author's `modkit bootstrap` migrates one database and `npm run dev` serves another.

use anyhow::Result;

use crate::db::url::{DbUrl, UrlSource, pg_env_url};
use crate::diagnostics::{Diagnostic, Severity};
use crate::doctor::Target;
use crate::doctor::rule::{Rule, Scope};
use crate::project_db::made_local_url;

pub const RULES: &[Rule] = &[Rule {
    code: "db-sides-differ",
    severity: Severity::Warning,
    scope: Scope::Both,
    what: "modkit and the project's npm scripts would use two different databases: the project's `config.ts` does not read `.env` or the `PG*` variables as modkit does (a project rendered by an older modkit), so `modkit bootstrap` migrates one database and `npm run dev` serves another. The message names both, with where each came from (passwords shown as `***`)",
    fix: "`modkit upgrade` (the scripts then read `.env` and `PG*` as modkit does), or set `DATABASE_URL` in the environment, which both sides read first",
}];

/// Which database one side uses, as printed: the URL (password masked) and where it came from.
#[derive(PartialEq)]
struct Choice(String);

fn choice(url: &DbUrl) -> Choice {
    Choice(format!("{} (from {})", url.redacted(), url.source.describe()))
}

fn local(target: &Target) -> Choice {
    let url = made_local_url(&target.project).map_or_else(|| "not made yet".to_string(), |u| u.redacted());
    Choice(format!("{} ({url})", UrlSource::Local.describe()))
}

pub fn check(target: &Target, out: &mut Vec<Diagnostic>) -> Result<()> {
    // The scripts' settings file: `sandbox/config.ts`, or `server/config.ts` in a starter foundation.
    let Some(config) = ["sandbox/config.ts", "server/config.ts"]
        .iter()
        .map(|f| target.root.join(f))
        .find(|p| p.is_file())
    else {
        return Ok(());
    };
    let Ok(text) = std::fs::read_to_string(&config) else {
        return Ok(());
    };
    let reads_dotenv =
        text.contains("./env.js") && config.parent().is_some_and(|d| d.join("env.ts").is_file());
    let reads_pg = text.contains("PGHOST");
    // A URL modkit cannot parse is reported by the commands that use it; nothing to compare.
    let Ok(given) = DbUrl::resolve_given(None, &target.project) else {
        return Ok(());
    };
    let modkit = given.as_ref().map_or_else(|| local(target), choice);
    let scripts = scripts_choice(target, given.as_ref(), reads_dotenv, reads_pg);
    if modkit != scripts {
        let relative = config.strip_prefix(&target.root).unwrap_or(&config);
        out.push(
            Diagnostic::warning(
                "db-sides-differ",
                format!(
                    "modkit uses {}, but npm run dev and the project's scripts use {}: {} reads {}",
                    modkit.0,
                    scripts.0,
                    relative.display(),
                    missing(reads_dotenv, reads_pg),
                ),
            )
            .at(relative.display().to_string(), None)
            .hint("`modkit upgrade` brings the scripts to this modkit's order (.env and PG* read as modkit reads them); or set DATABASE_URL in the environment, which both read first"),
        );
    }
    Ok(())
}

fn missing(reads_dotenv: bool, reads_pg: bool) -> &'static str {
    match (reads_dotenv, reads_pg) {
        (false, false) => "neither .env nor the PG* variables",
        (false, true) => "no .env",
        (true, false) => "no PG* variables",
        (true, true) => "both",
    }
}

/// What the scripts pick, skipping the places they do not read: DATABASE_URL from the environment,
/// then from `.env` (if read), modkit.toml, `PG*` (if read), the local database.
fn scripts_choice(target: &Target, modkit: Option<&DbUrl>, reads_dotenv: bool, reads_pg: bool) -> Choice {
    match modkit.map(|u| u.source) {
        Some(UrlSource::DotEnv) if !reads_dotenv => {}
        Some(UrlSource::PgEnv) if !reads_pg => {}
        Some(_) => return modkit.map(choice).unwrap_or_else(|| local(target)),
        None => return local(target),
    }
    // The scripts skip modkit's pick: their next places, in order.
    if let Some(url) = target.project.file.database.url.as_deref()
        && let Ok(url) = DbUrl::parse(url, UrlSource::ProjectFile)
    {
        return choice(&url);
    }
    if reads_pg
        && let Some(url) = pg_env_url()
        && let Ok(url) = DbUrl::parse(&url, UrlSource::PgEnv)
    {
        return choice(&url);
    }
    local(target)
}
