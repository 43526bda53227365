//! Which tsconfig compiles a foundation's server. Usually `tsconfig.json` at its root; but a
//! solution file (`"files": []` with `references`, as Nx and `tsc --init` for project references
//! write) compiles nothing itself: its own `module` may say `esnext` while the app compiles as
//! CommonJS from `tsconfig.app.json`, so it is followed to the referenced project that holds the
//! server. `[foundation] tsconfig = "..."` in modkit.toml names it outright.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::Value;

use crate::exit::UserError;

/// Referenced projects whose name says they compile tests, not the server.
const NOT_THE_SERVER: [&str; 7] = ["spec", "test", "e2e", "cypress", "vitest", "storybook", "jest"];

/// The tsconfig that compiles the server, relative to `root` with `/` separators.
pub fn find(root: &Path, configured: Option<&str>, modules_dir: &str) -> Result<String> {
    if let Some(file) = configured {
        if !root.join(file).is_file() {
            return Err(UserError::new(format!(
                "{}/{file} (modkit.toml's [foundation] tsconfig) does not exist",
                root.display()
            ))
            .hint("name the tsconfig that compiles the server, relative to the foundation (e.g. \"tsconfig.app.json\")")
            .into());
        }
        return Ok(file.to_string());
    }
    let top = root.join("tsconfig.json");
    if !top.is_file() {
        return Err(UserError::new(format!("{} has no tsconfig.json", root.display()))
            .hint("modkit reads it to learn how the foundation's TypeScript imports modules; is --foundation the project's root? (or name it: [foundation] tsconfig = \"...\" in modkit.toml)")
            .into());
    }
    let config = read(&top)?;
    let Some(references) = solution_references(&config, root) else {
        return Ok("tsconfig.json".to_string());
    };
    let candidates: Vec<PathBuf> = references
        .into_iter()
        .filter(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().to_ascii_lowercase())
                .unwrap_or_default();
            !NOT_THE_SERVER.iter().any(|word| name.contains(word))
        })
        .collect();
    // Of several, the ones whose `include` covers the modules folder.
    let chosen: Vec<&PathBuf> = if candidates.len() > 1 {
        candidates
            .iter()
            .filter(|p| read(p).is_ok_and(|c| includes(&c, p, &root.join(modules_dir))))
            .collect()
    } else {
        candidates.iter().collect()
    };
    let rel = |p: &Path| crate::paths::slash(p.strip_prefix(root).unwrap_or(p));
    match chosen.as_slice() {
        [one] => Ok(rel(one)),
        _ => Err(UserError::new(format!(
            "{} is a solution file (`files: []` with `references`), and modkit cannot tell which referenced project compiles the server ({})",
            top.display(),
            if candidates.is_empty() {
                "none is left once test projects are set aside".to_string()
            } else {
                candidates.iter().map(|p| rel(p)).collect::<Vec<_>>().join(", ")
            }
        ))
        .hint("name it in the foundation's modkit.toml: [foundation] tsconfig = \"tsconfig.app.json\"")
        .into()),
    }
}

/// The type-check command for this tsconfig: `-p` unless it is the default one.
pub fn typecheck_command(tsconfig: &str) -> String {
    if tsconfig == "tsconfig.json" {
        "npx tsc --noEmit".to_string()
    } else {
        format!("npx tsc --noEmit -p {tsconfig}")
    }
}

fn read(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        UserError::new(format!("cannot read {}: {e}", path.display()))
            .hint("modkit reads the foundation's tsconfig to learn its module system")
    })?;
    let options = jsonc_parser::ParseOptions {
        allow_comments: true,
        allow_trailing_commas: true,
        allow_loose_object_property_names: false,
        ..Default::default()
    };
    Ok(
        jsonc_parser::parse_to_serde_value::<Option<Value>>(&text, &options)
            .map_err(|e| {
                UserError::new(format!("{} is not valid JSON with comments: {e}", path.display()))
                    .hint("fix it (`npx tsc --showConfig` shows what TypeScript makes of it), then run again")
            })?
            .unwrap_or(Value::Null),
    )
}

/// The referenced tsconfig files when `config` is a solution file: `files: []`, no `include`, and
/// `references`. A reference names a tsconfig file or a folder holding `tsconfig.json`.
fn solution_references(config: &Value, root: &Path) -> Option<Vec<PathBuf>> {
    let empty_files = config
        .get("files")
        .and_then(Value::as_array)
        .is_some_and(Vec::is_empty);
    if !empty_files || config.get("include").is_some() {
        return None;
    }
    let refs: Vec<PathBuf> = config
        .get("references")?
        .as_array()?
        .iter()
        .filter_map(|r| r.get("path").and_then(Value::as_str))
        .map(|p| {
            let path = root.join(p);
            if path.is_dir() {
                path.join("tsconfig.json")
            } else {
                path
            }
        })
        .filter(|p| p.is_file())
        .collect();
    (!refs.is_empty()).then_some(refs)
}

/// Whether the project's `include` (default: everything under its folder) reaches `dir`: an entry
/// whose fixed part (before any wildcard) is `dir` or one of its parents, or inside it.
fn includes(config: &Value, path: &Path, dir: &Path) -> bool {
    let base = path.parent().unwrap_or(Path::new("."));
    let Some(include) = config.get("include").and_then(Value::as_array) else {
        return dir.starts_with(base);
    };
    include.iter().filter_map(Value::as_str).any(|pattern| {
        let fixed: Vec<&str> = pattern
            .split('/')
            .take_while(|part| !part.contains('*') && !part.contains('?'))
            .collect();
        let fixed = normalize(&base.join(fixed.join("/")));
        let dir = normalize(dir);
        dir.starts_with(&fixed) || fixed.starts_with(&dir)
    })
}

/// `a/./b/../c` -> `a/c`, without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    #[test]
    fn a_solution_file_is_followed_to_the_project_that_compiles_the_server() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        write(
            root,
            "tsconfig.json",
            r#"{ "files": [], "compilerOptions": { "module": "esnext" },
            // Nx writes one project for the app, one for its tests
            "references": [{ "path": "./tsconfig.app.json" }, { "path": "./tsconfig.spec.json" }] }"#,
        );
        write(root, "tsconfig.app.json", r#"{ "include": ["src/**/*.ts"] }"#);
        write(
            root,
            "tsconfig.spec.json",
            r#"{ "include": ["src/**/*.spec.ts"] }"#,
        );
        assert_eq!(find(root, None, "src/modules").unwrap(), "tsconfig.app.json");
        assert_eq!(
            find(root, Some("tsconfig.spec.json"), "src/modules").unwrap(),
            "tsconfig.spec.json"
        );
        assert!(find(root, Some("nope.json"), "src/modules").is_err());

        // Two that could be the server: the one whose include reaches the modules folder.
        write(
            root,
            "tsconfig.json",
            r#"{ "files": [], "references": [{ "path": "./tsconfig.app.json" }, { "path": "./tsconfig.worker.json" }] }"#,
        );
        write(root, "tsconfig.worker.json", r#"{ "include": ["worker"] }"#);
        assert_eq!(find(root, None, "src/modules").unwrap(), "tsconfig.app.json");
        write(root, "tsconfig.worker.json", r#"{ "include": ["./src"] }"#);
        let err = find(root, None, "src/modules").unwrap_err().to_string();
        assert!(err.contains("tsconfig.app.json, tsconfig.worker.json"), "{err}");

        // Not a solution file: itself.
        write(
            root,
            "tsconfig.json",
            r#"{ "compilerOptions": {}, "references": [{ "path": "./tsconfig.app.json" }] }"#,
        );
        assert_eq!(find(root, None, "src/modules").unwrap(), "tsconfig.json");
    }

    #[test]
    fn typecheck_commands() {
        assert_eq!(typecheck_command("tsconfig.json"), "npx tsc --noEmit");
        assert_eq!(
            typecheck_command("apps/api/tsconfig.app.json"),
            "npx tsc --noEmit -p apps/api/tsconfig.app.json"
        );
    }
}
