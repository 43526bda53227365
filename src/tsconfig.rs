//! A project's effective tsconfig: JSON with comments and trailing commas (read with the
//! `jsonc-parser` crate), following `extends` (a path, a package in node_modules, or a list of
//! them), later files overriding earlier ones option by option, as TypeScript merges them.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::Value;

use crate::exit::UserError;

/// The compiler options that decide how generated TypeScript must import and await.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompilerOptions {
    /// `module`, lower-cased (`nodenext`, `commonjs`, `esnext`, `preserve`, ...).
    pub module: Option<String>,
    /// `moduleResolution`, lower-cased.
    pub module_resolution: Option<String>,
    pub verbatim_module_syntax: Option<bool>,
    /// The file that sets `baseUrl`, if one does (TypeScript 7 rejects the option: TS5102).
    pub base_url_in: Option<PathBuf>,
    /// The folder `baseUrl` names, resolved against the file that sets it.
    pub base_url: Option<PathBuf>,
    /// `ignoreDeprecations` (`"6.0"` silences TypeScript 6's TS5101 on `baseUrl`).
    pub ignore_deprecations: Option<String>,
    /// `paths` aliases with their targets, and the folder they resolve from: `baseUrl` when it is
    /// set, else the folder of the file that sets them (as TypeScript resolves them).
    pub paths: Vec<PathAlias>,
    /// The file that sets `paths`.
    pub paths_in: Option<PathBuf>,
    /// `outDir` and `rootDir`, resolved against the file that sets each.
    pub out_dir: Option<PathBuf>,
    pub root_dir: Option<PathBuf>,
    /// Project `references` of the file asked for (not inherited through `extends`, as in
    /// TypeScript): each a tsconfig file.
    pub references: Vec<PathBuf>,
    /// The files these came from, first the one asked for, then what it extends.
    pub files: Vec<PathBuf>,
    /// `include`, inherited through `extends` like the options, with the folder of the file that
    /// sets it (its patterns are relative to that file, as in TypeScript).
    pub include: Option<(Vec<String>, PathBuf)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathAlias {
    pub alias: String,
    pub targets: Vec<String>,
    pub base_dir: PathBuf,
}

/// Read `path` and everything it extends.
pub fn load(path: &Path) -> Result<CompilerOptions> {
    let mut merged = Merged::new();
    let mut files = Vec::new();
    let mut include = None;
    let references = collect(path, &mut merged, &mut files, &mut include)?;
    let dir_of = |key: &str| {
        merged.get(key).and_then(|(v, from)| {
            let dir = from.parent().unwrap_or(Path::new("."));
            v.as_str().map(|s| normalize(&dir.join(s)))
        })
    };
    let base_url = dir_of("baseUrl");
    let text = |key: &str| {
        merged
            .get(key)
            .and_then(|(v, _)| v.as_str())
            .map(str::to_ascii_lowercase)
    };
    let paths = match merged.get("paths") {
        Some((Value::Object(map), from)) => map
            .iter()
            .map(|(alias, targets)| PathAlias {
                alias: alias.clone(),
                targets: targets
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
                    .unwrap_or_default(),
                base_dir: base_url
                    .clone()
                    .unwrap_or_else(|| from.parent().unwrap_or(Path::new(".")).to_path_buf()),
            })
            .collect(),
        _ => Vec::new(),
    };
    Ok(CompilerOptions {
        module: text("module"),
        module_resolution: text("moduleResolution"),
        verbatim_module_syntax: merged.get("verbatimModuleSyntax").and_then(|(v, _)| v.as_bool()),
        base_url_in: merged.get("baseUrl").map(|(_, from)| from.clone()),
        ignore_deprecations: text("ignoreDeprecations"),
        paths_in: merged.get("paths").map(|(_, from)| from.clone()),
        out_dir: dir_of("outDir"),
        root_dir: dir_of("rootDir"),
        base_url,
        paths,
        files,
        references,
        include,
    })
}

/// Compiler options by name, each with the file that set it last.
type Merged = std::collections::BTreeMap<String, (Value, PathBuf)>;

/// Merge the compiler options of `path` over those of the files it extends (depth first); the
/// project `references` of `path` itself.
fn collect(
    path: &Path,
    merged: &mut Merged,
    files: &mut Vec<PathBuf>,
    include: &mut Option<(Vec<String>, PathBuf)>,
) -> Result<Vec<PathBuf>> {
    let path = &std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    if files.iter().any(|f| f == path) {
        return Err(
            UserError::new(format!("{} extends itself (through `extends`)", path.display()))
                .hint("remove the cycle from the `extends` chain")
                .into(),
        );
    }
    files.push(path.to_path_buf());
    let Value::Object(config) = read_json(path)? else {
        return Err(
            UserError::new(format!("{} does not hold a JSON object", path.display()))
                .hint("a tsconfig is an object: { \"compilerOptions\": { ... } }")
                .into(),
        );
    };
    let bases = match config.get("extends") {
        None => Vec::new(),
        Some(Value::String(one)) => vec![one.clone()],
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).map(String::from).collect(),
        Some(_) => {
            return Err(UserError::new(format!(
                "`extends` in {} is not a string or a list of strings",
                path.display()
            ))
            .hint("write \"extends\": \"./tsconfig.base.json\"")
            .into());
        }
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    for base in bases {
        collect(&resolve_extends(dir, &base, path)?, merged, files, include)?;
    }
    if let Some(Value::Array(patterns)) = config.get("include") {
        let patterns = patterns
            .iter()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect();
        *include = Some((patterns, dir.to_path_buf()));
    }
    if let Some(Value::Object(options)) = config.get("compilerOptions") {
        for (key, value) in options {
            merged.insert(key.clone(), (value.clone(), path.clone()));
        }
    }
    // `{ "path": "./tsconfig.app.json" }` or a folder holding a tsconfig.json.
    Ok(references_of(&config, dir))
}

/// The project `references` of one tsconfig's JSON, in folder `dir`: each a tsconfig file (a
/// reference to a folder means its `tsconfig.json`).
pub fn references_of(config: &serde_json::Map<String, Value>, dir: &Path) -> Vec<PathBuf> {
    config
        .get("references")
        .and_then(Value::as_array)
        .map(|refs| {
            refs.iter()
                .filter_map(|r| r.get("path").and_then(Value::as_str))
                .map(|p| {
                    let p = normalize(&dir.join(p));
                    if p.is_dir() { p.join("tsconfig.json") } else { p }
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Every tsconfig a project compiles with: `path`, then what its `references` name (followed
/// through theirs; each once). A reference that does not load is left out (tsc names it).
/// One tsconfig file as JSON with comments and trailing commas (`extends` not followed).
pub fn read_json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        UserError::new(format!("cannot read {}: {e}", path.display()))
            .hint("modkit reads the foundation's tsconfig.json to learn its module system")
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

pub fn load_project(path: &Path) -> Result<Vec<(PathBuf, CompilerOptions)>> {
    let first = load(path)?;
    let mut out = vec![(path.to_path_buf(), first)];
    let mut i = 0;
    while i < out.len() {
        let refs = out[i].1.references.clone();
        for r in refs {
            let canonical = std::fs::canonicalize(&r).unwrap_or(r.clone());
            if out
                .iter()
                .any(|(p, _)| std::fs::canonicalize(p).unwrap_or(p.clone()) == canonical)
            {
                continue;
            }
            if let Ok(options) = load(&r) {
                out.push((r, options));
            }
        }
        i += 1;
    }
    Ok(out)
}

/// `a/b/../c` -> `a/c`, without touching the disk.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// The major version of the TypeScript a project compiles with: the installed one
/// (node_modules/typescript/package.json, in `root` or a folder above it), else the range its
/// package.json declares (`^5.8.3` -> 5, `~4.7` -> 4). With where it came from, for messages.
pub fn typescript_major(root: &Path) -> Option<(u64, String)> {
    for dir in root.ancestors() {
        let installed = dir.join("node_modules/typescript/package.json");
        if let Ok(text) = std::fs::read_to_string(&installed)
            && let Ok(Value::Object(package)) = serde_json::from_str::<Value>(&text)
            && let Some(version) = package.get("version").and_then(Value::as_str)
            && let Some(major) = leading_major(version)
        {
            return Some((major, format!("TypeScript {version}, installed")));
        }
    }
    let text = std::fs::read_to_string(root.join("package.json")).ok()?;
    let Ok(Value::Object(package)) = serde_json::from_str::<Value>(&text) else {
        return None;
    };
    ["devDependencies", "dependencies", "peerDependencies"]
        .iter()
        .filter_map(|s| package.get(*s)?.get("typescript")?.as_str())
        .find_map(|range| leading_major(range).map(|m| (m, format!("TypeScript {range}, in package.json"))))
}

/// `^5.8.3`, `~5.0.4`, `>=4.7`, `v6`, `5.x` -> the first number; `latest`, `*` -> None.
fn leading_major(range: &str) -> Option<u64> {
    let digits: String = range
        .trim_start_matches(|c: char| !c.is_ascii_digit())
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    // Only the first comparator: `>=4.7 <6` is 4 (the lowest it allows).
    let first = range.split_whitespace().next().unwrap_or_default();
    if !first.chars().any(|c| c.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Where `extends: "<spec>"`, written in a file in `dir`, points: a path relative to `dir`, or a
/// package (or a file inside one) in the nearest node_modules up from `dir`.
fn resolve_extends(dir: &Path, spec: &str, from: &Path) -> Result<PathBuf> {
    // As TypeScript does: a path that is not a file and does not end in `.json` gets `.json`.
    let with_json = |p: PathBuf| {
        if p.is_file() || p.to_string_lossy().ends_with(".json") {
            p
        } else {
            PathBuf::from(format!("{}.json", p.display()))
        }
    };
    let candidates: Vec<PathBuf> =
        if spec.starts_with("./") || spec.starts_with("../") || Path::new(spec).is_absolute() {
            vec![with_json(dir.join(spec))]
        } else {
            dir.ancestors()
                .map(|d| d.join("node_modules").join(spec))
                .flat_map(|p| [p.join("tsconfig.json"), with_json(p)])
                .collect()
        };
    candidates.iter().find(|p| p.is_file()).cloned().ok_or_else(|| {
        UserError::new(format!(
            "{} extends `{spec}`, which cannot be found",
            from.display()
        ))
        .hint(if spec.starts_with('.') {
            "fix the path in `extends`".to_string()
        } else {
            format!("install it (npm install) so node_modules/{spec} exists, then run again")
        })
        .into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn follows_extends_with_comments_and_trailing_commas() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "node_modules/@tsconfig/node20/tsconfig.json",
            r#"{ "compilerOptions": { "module": "node16", "moduleResolution": "node16", "strict": true } }"#,
        );
        write(
            dir.path(),
            "tsconfig.base.json",
            "{\n  // shared\n  \"extends\": \"@tsconfig/node20/tsconfig.json\",\n  \"compilerOptions\": { \"verbatimModuleSyntax\": true, },\n}\n",
        );
        let main = write(
            dir.path(),
            "tsconfig.json",
            "/* app */ { \"extends\": \"./tsconfig.base\", \"compilerOptions\": { \"module\": \"NodeNext\", }, }",
        );
        let got = load(&main).unwrap();
        assert_eq!(got.module.as_deref(), Some("nodenext"));
        assert_eq!(got.module_resolution.as_deref(), Some("node16"));
        assert_eq!(got.verbatim_module_syntax, Some(true));
        assert_eq!(got.files.len(), 3);
    }

    #[test]
    fn malformed_missing_and_cyclic_configs_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let bad = write(dir.path(), "bad.json", "{ \"compilerOptions\": { \"module\": } }");
        let err = load(&bad).unwrap_err().to_string();
        assert!(err.contains("bad.json is not valid JSON with comments"), "{err}");
        assert!(err.contains("line 1"), "{err}");

        let missing = write(dir.path(), "missing.json", "{ \"extends\": \"@acme/tsconfig\" }");
        let err = load(&missing).unwrap_err().to_string();
        assert!(
            err.contains("extends `@acme/tsconfig`, which cannot be found"),
            "{err}"
        );

        write(dir.path(), "a.json", "{ \"extends\": \"./b.json\" }");
        let b = write(dir.path(), "b.json", "{ \"extends\": \"./a.json\" }");
        let err = load(&b).unwrap_err().to_string();
        assert!(err.contains("extends itself"), "{err}");
    }

    #[test]
    fn paths_resolve_against_base_url_and_references_are_followed() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        write(
            &root,
            "tsconfig.json",
            r#"{ "compilerOptions": { "baseUrl": "src", "paths": { "@/*": ["*"] } }, "files": [], "references": [{ "path": "./tsconfig.app.json" }, { "path": "./api" }] }"#,
        );
        write(
            &root,
            "tsconfig.app.json",
            r#"{ "extends": "./tsconfig.json", "compilerOptions": { "outDir": "dist/app", "rootDir": "src" } }"#,
        );
        write(
            &root,
            "api/tsconfig.json",
            r#"{ "compilerOptions": { "paths": { "~/*": ["./lib/*"] } } }"#,
        );
        let projects = load_project(&root.join("tsconfig.json")).unwrap();
        assert_eq!(projects.len(), 3);
        let (_, top) = &projects[0];
        assert_eq!(top.base_url.as_deref(), Some(root.join("src").as_path()));
        assert_eq!(top.paths[0].base_dir, root.join("src"));
        let (_, app) = &projects[1];
        assert_eq!(app.out_dir.as_deref(), Some(root.join("dist/app").as_path()));
        assert_eq!(app.root_dir.as_deref(), Some(root.join("src").as_path()));
        assert_eq!(
            app.paths[0].base_dir,
            root.join("src"),
            "inherited with its baseUrl"
        );
        let (_, api) = &projects[2];
        assert_eq!(
            api.paths[0].base_dir,
            root.join("api"),
            "no baseUrl: the file's folder"
        );
    }

    #[test]
    fn the_installed_typescript_decides_then_the_declared_range() {
        assert_eq!(leading_major("^5.8.3"), Some(5));
        assert_eq!(leading_major("~4.7.4"), Some(4));
        assert_eq!(leading_major(">=6.0.0 <8"), Some(6));
        assert_eq!(leading_major("7.0.2"), Some(7));
        assert_eq!(leading_major("latest"), None);
        assert_eq!(leading_major("*"), None);
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(typescript_major(dir.path()), None);
        write(
            dir.path(),
            "package.json",
            r#"{ "devDependencies": { "typescript": "^7.0.2" } }"#,
        );
        assert_eq!(typescript_major(dir.path()).map(|v| v.0), Some(7));
        write(
            dir.path(),
            "node_modules/typescript/package.json",
            r#"{ "version": "5.9.2" }"#,
        );
        assert_eq!(typescript_major(dir.path()).map(|v| v.0), Some(5));
    }

    #[test]
    fn reference_cycles_and_missing_references_end() {
        let dir = tempfile::tempdir().unwrap();
        let a = write(
            dir.path(),
            "a.json",
            r#"{ "references": [{ "path": "./b.json" }, { "path": "./gone.json" }] }"#,
        );
        write(
            dir.path(),
            "b.json",
            r#"{ "references": [{ "path": "./a.json" }] }"#,
        );
        let projects = load_project(&a).unwrap();
        assert_eq!(projects.len(), 2, "a, b; the missing one left to tsc");
    }
}
