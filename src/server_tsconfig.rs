//! Which tsconfig compiles a foundation's server. Usually `tsconfig.json` at its root; but a
//! solution file (`"files": []` with `references`, as Nx and `tsc --init` for project references
//! write) compiles nothing itself: its own `module` may say `esnext` while the app compiles as
//! CommonJS from `tsconfig.app.json`, so it is followed to the referenced project that holds the
//! server. `[foundation] tsconfig = "..."` in modkit.toml names it outright.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::Value;

use crate::exit::UserError;
use crate::tsconfig;

/// Referenced projects whose name says they compile tests, not the server.
const NOT_THE_SERVER: [&str; 7] = ["spec", "test", "e2e", "cypress", "vitest", "storybook", "jest"];

/// The tsconfig at the head of the server's project, as doctor and adapt both take it:
/// `[foundation] tsconfig` (a file inside the foundation, or an error saying so), else
/// `<server>/tsconfig.json` (which may not exist). Doctor checks it and every project it
/// references; [`find`] follows it to the one project that compiles the server.
pub fn head(root: &Path, server: &Path, configured: Option<&str>) -> Result<PathBuf> {
    let Some(file) = configured else {
        return Ok(server.join("tsconfig.json"));
    };
    let path = root.join(file);
    let inside = !file.is_empty()
        && Path::new(file)
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_) | std::path::Component::CurDir));
    if !inside || !path.is_file() {
        return Err(UserError::new(format!(
            "modkit.toml: [foundation] tsconfig = \"{file}\" is not a file inside {}",
            root.display()
        ))
        .hint("name the tsconfig that compiles the server, relative to the foundation, e.g. tsconfig = \"tsconfig.app.json\"")
        .into());
    }
    Ok(path)
}

/// The tsconfig that compiles the server, relative to `root` with `/` separators: [`head`], or,
/// when that is a solution file, the project it references that holds the modules folder.
pub fn find(root: &Path, server: &Path, configured: Option<&str>, modules_dir: &str) -> Result<String> {
    let top = head(root, server, configured)?;
    let rel = |p: &Path| crate::paths::slash(p.strip_prefix(root).unwrap_or(p));
    if configured.is_some() {
        return Ok(rel(&top));
    }
    if !top.is_file() {
        return Err(UserError::new(format!("{} has no tsconfig.json", server.display()))
            .hint("modkit reads it to learn how the foundation's TypeScript imports modules; is --foundation the project's root? (or name it: [foundation] tsconfig = \"...\" in modkit.toml)")
            .into());
    }
    let Some(references) = solution_references(&top)? else {
        return Ok(rel(&top));
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
    // Of several, the ones whose `include` (through `extends`) covers the modules folder.
    let chosen: Vec<&PathBuf> = if candidates.len() > 1 {
        candidates
            .iter()
            .filter(|p| includes(p, &root.join(modules_dir)))
            .collect()
    } else {
        candidates.iter().collect()
    };
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

/// The referenced tsconfig files when `path` is a solution file: `files: []`, no `include`, and
/// `references` (read by the tsconfig reader: each names a tsconfig file or a folder holding
/// `tsconfig.json`).
fn solution_references(path: &Path) -> Result<Option<Vec<PathBuf>>> {
    let Value::Object(config) = tsconfig::read_json(path)? else {
        return Ok(None);
    };
    let empty_files = config
        .get("files")
        .and_then(Value::as_array)
        .is_some_and(Vec::is_empty);
    if !empty_files || config.get("include").is_some() || config.get("references").is_none() {
        return Ok(None);
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let refs: Vec<PathBuf> = tsconfig::references_of(&config, dir)
        .into_iter()
        .filter(|p| p.is_file())
        .collect();
    Ok((!refs.is_empty()).then_some(refs))
}

/// Whether the project's `include` (default: everything under its folder) reaches `dir`: an entry
/// whose fixed part (before any wildcard) is `dir` or one of its parents, or inside it.
fn includes(path: &Path, dir: &Path) -> bool {
    let folder = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    // Through `extends`; when a base cannot be read (not installed yet), the file's own `include`.
    let include = match tsconfig::load(path) {
        Ok(options) => options.include,
        Err(_) => tsconfig::read_json(path).ok().and_then(|c| {
            let patterns = c.get("include")?.as_array()?;
            Some((
                patterns
                    .iter()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect(),
                folder.clone(),
            ))
        }),
    };
    let Some((include, base)) = include else {
        return dir.starts_with(&folder);
    };
    include.iter().any(|pattern| {
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
        assert_eq!(
            find(root, root, None, "src/modules").unwrap(),
            "tsconfig.app.json"
        );
        assert_eq!(
            find(root, root, Some("tsconfig.spec.json"), "src/modules").unwrap(),
            "tsconfig.spec.json"
        );
        assert!(find(root, root, Some("nope.json"), "src/modules").is_err());

        // Two that could be the server: the one whose include reaches the modules folder.
        write(
            root,
            "tsconfig.json",
            r#"{ "files": [], "references": [{ "path": "./tsconfig.app.json" }, { "path": "./tsconfig.worker.json" }] }"#,
        );
        write(root, "tsconfig.worker.json", r#"{ "include": ["worker"] }"#);
        assert_eq!(
            find(root, root, None, "src/modules").unwrap(),
            "tsconfig.app.json"
        );
        write(root, "tsconfig.worker.json", r#"{ "include": ["./src"] }"#);
        let err = find(root, root, None, "src/modules").unwrap_err().to_string();
        assert!(err.contains("tsconfig.app.json, tsconfig.worker.json"), "{err}");

        // Not a solution file: itself.
        write(
            root,
            "tsconfig.json",
            r#"{ "compilerOptions": {}, "references": [{ "path": "./tsconfig.app.json" }] }"#,
        );
        assert_eq!(find(root, root, None, "src/modules").unwrap(), "tsconfig.json");
    }

    #[test]
    fn a_referenced_projects_include_is_read_through_extends() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        write(
            root,
            "tsconfig.json",
            r#"{ "files": [], "references": [{ "path": "./tsconfig.app.json" }, { "path": "./tsconfig.tools.json" }] }"#,
        );
        // Each project's `include` comes from what it extends: both read as "everything" before,
        // and modkit could not tell which compiles the server.
        write(root, "tsconfig.base.json", r#"{ "include": ["src/**/*.ts"] }"#);
        write(
            root,
            "tsconfig.app.json",
            r#"{ "extends": "./tsconfig.base.json" }"#,
        );
        write(root, "tsconfig.tools-base.json", r#"{ "include": ["tools"] }"#);
        write(
            root,
            "tsconfig.tools.json",
            r#"{ "extends": "./tsconfig.tools-base.json" }"#,
        );
        assert_eq!(
            find(root, root, None, "src/modules").unwrap(),
            "tsconfig.app.json"
        );
    }

    #[test]
    fn the_server_folder_holds_the_default_tsconfig() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir(root.join("backend")).unwrap();
        write(&root.join("backend"), "tsconfig.json", "{}");
        let server = root.join("backend");
        assert_eq!(
            find(root, &server, None, "backend/src/modules").unwrap(),
            "backend/tsconfig.json"
        );
        assert_eq!(head(root, &server, None).unwrap(), server.join("tsconfig.json"));
        assert!(head(root, &server, Some("../tsconfig.json")).is_err());
        assert!(
            find(root, root, None, "src/modules").is_err(),
            "no tsconfig.json at the root"
        );
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
