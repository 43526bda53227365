//! `project-files-owner`: files the dev loop writes (`.modkit/dev`, `.modkit`'s own files,
//! `node_modules`) owned by another user than the project's owner, typically after one `sudo npm
//! run dev` or `sudo npm install`: every later run as the user fails with EACCES while an old API
//! keeps serving stale code.
//!
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

pub const RULES: &[Rule] = &[
    Rule {
        code: "project-files-owner",
        severity: Severity::Error,
        scope: Scope::Both,
        what: "a folder the dev loop writes (`.modkit/dev`, `.modkit`, `node_modules`) holds files owned by another user than the project's owner (often root, after one `sudo npm run dev` or `sudo npm install`): `npm run dev` as the owner then fails with EACCES, and an old API may keep serving stale code. `.modkit/pg` is flagged only when root owns it (its server's user may be another one by design, `modkit db start --run-as`)",
        fix: "the `chown -R` the message gives, as root; then run npm as the project's owner",
    },
    Rule {
        code: "db-sides-differ",
        severity: Severity::Warning,
        scope: Scope::Both,
        what: "modkit and the project's npm scripts would use two different databases: the project's `config.ts` does not read `.env` or the `PG*` variables as modkit does (a project rendered by an older modkit), so `modkit bootstrap` migrates one database and `npm run dev` serves another. The message names both, with where each came from (passwords shown as `***`)",
        fix: "`modkit upgrade` (the scripts then read `.env` and `PG*` as modkit does), or set `DATABASE_URL` in the environment, which both sides read first",
    },
];

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
    owners(target, out);
    sides(target, out);
    Ok(())
}

/// How deep into each folder to look, and at most how many entries: root-made files sit at the top
/// (a root `npm install` owns `node_modules` itself), so a shallow look finds them without walking
/// a tree of 100,000 files.
const OWNED: &[(&str, usize)] = &[(".modkit/dev", 6), (".modkit", 1), ("node_modules", 2)];
const MAX_ENTRIES: usize = 20_000;

fn owners(target: &Target, out: &mut Vec<Diagnostic>) {
    use std::os::unix::fs::MetadataExt;
    let Ok(root) = std::fs::metadata(&target.root) else {
        return;
    };
    let owner = root.uid();
    for (folder, depth) in OWNED {
        let path = target.root.join(folder);
        let mut found: Option<(std::path::PathBuf, u32)> = None;
        let mut seen = 0;
        walk(&path, *depth, &mut seen, &mut |p, uid| {
            // .modkit/pg belongs to its server's user, which may be another one (--run-as); never root.
            let in_pg = p.starts_with(target.root.join(".modkit/pg"));
            let wrong = if in_pg {
                uid == 0 && owner != 0
            } else {
                uid != owner
            };
            if wrong && found.is_none() {
                found = Some((p.to_path_buf(), uid));
            }
        });
        // `.modkit` at depth 1 covers `.modkit/pg` itself; `.modkit/dev` is its own entry.
        let Some((file, uid)) = found else { continue };
        if *folder == ".modkit" && file.starts_with(target.root.join(".modkit/dev")) {
            continue;
        }
        let relative = file.strip_prefix(&target.root).unwrap_or(&file);
        let fix_path = if file.starts_with(target.root.join(".modkit/pg")) {
            target.root.join(".modkit/pg")
        } else {
            path.clone()
        };
        let (user, group) = (user_name(owner), root.gid());
        out.push(
            Diagnostic::error(
                "project-files-owner",
                format!(
                    "{} is owned by {}, not by {}, the project's owner: npm run dev as {} cannot write it (EACCES)",
                    relative.display(),
                    user_name(uid),
                    user,
                    user
                ),
            )
            .hint(format!("sudo chown -R {user}:{group} {}", fix_path.display())),
        );
    }
}

/// Call `f` for `path` and what is under it, `depth` levels down, never following a link.
fn walk(path: &std::path::Path, depth: usize, seen: &mut usize, f: &mut dyn FnMut(&std::path::Path, u32)) {
    use std::os::unix::fs::MetadataExt;
    if *seen >= MAX_ENTRIES {
        return;
    }
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return;
    };
    *seen += 1;
    f(path, meta.uid());
    if depth == 0 || !meta.is_dir() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(path) else {
        return;
    };
    for entry in entries.flatten() {
        walk(&entry.path(), depth - 1, seen, f);
    }
}

/// A uid's name in /etc/passwd, else the number.
fn user_name(uid: u32) -> String {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.len() > 2 && fields[2].parse() == Ok(uid)).then(|| fields[0].to_string())
        })
        .unwrap_or_else(|| uid.to_string())
}

fn sides(target: &Target, out: &mut Vec<Diagnostic>) {
    // The scripts' settings file: `sandbox/config.ts`, or `server/config.ts` in a starter foundation.
    let Some(config) = ["sandbox/config.ts", "server/config.ts"]
        .iter()
        .map(|f| target.root.join(f))
        .find(|p| p.is_file())
    else {
        return;
    };
    let Ok(text) = std::fs::read_to_string(&config) else {
        return;
    };
    let reads_dotenv =
        text.contains("./env.js") && config.parent().is_some_and(|d| d.join("env.ts").is_file());
    let reads_pg = text.contains("PGHOST");
    // A URL modkit cannot parse is reported by the commands that use it; nothing to compare.
    let Ok(given) = DbUrl::resolve_given(None, &target.project) else {
        return;
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
