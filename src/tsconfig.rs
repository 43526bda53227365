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
    /// `paths` aliases with their targets, and the folder they resolve from (that of the file
    /// that sets them, as TypeScript does without `baseUrl`).
    pub paths: Vec<PathAlias>,
    /// The files these came from, first the one asked for, then what it extends.
    pub files: Vec<PathBuf>,
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
    collect(path, &mut merged, &mut files)?;
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
                base_dir: from.parent().unwrap_or(Path::new(".")).to_path_buf(),
            })
            .collect(),
        _ => Vec::new(),
    };
    Ok(CompilerOptions {
        module: text("module"),
        module_resolution: text("moduleResolution"),
        verbatim_module_syntax: merged.get("verbatimModuleSyntax").and_then(|(v, _)| v.as_bool()),
        base_url_in: merged.get("baseUrl").map(|(_, from)| from.clone()),
        paths,
        files,
    })
}

/// Compiler options by name, each with the file that set it last.
type Merged = std::collections::BTreeMap<String, (Value, PathBuf)>;

/// Merge the compiler options of `path` over those of the files it extends (depth first).
fn collect(path: &Path, merged: &mut Merged, files: &mut Vec<PathBuf>) -> Result<()> {
    let path = &std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    if files.iter().any(|f| f == path) {
        return Err(
            UserError::new(format!("{} extends itself (through `extends`)", path.display()))
                .hint("remove the cycle from the `extends` chain")
                .into(),
        );
    }
    files.push(path.to_path_buf());
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
    let value = jsonc_parser::parse_to_serde_value::<Option<Value>>(&text, &options)
        .map_err(|e| {
            UserError::new(format!("{} is not valid JSON with comments: {e}", path.display()))
                .hint("fix it (`npx tsc --showConfig` shows what TypeScript makes of it), then run again")
        })?
        .unwrap_or(Value::Null);
    let Value::Object(config) = value else {
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
        collect(&resolve_extends(dir, &base, path)?, merged, files)?;
    }
    if let Some(Value::Object(options)) = config.get("compilerOptions") {
        for (key, value) in options {
            merged.insert(key.clone(), (value.clone(), path.clone()));
        }
    }
    Ok(())
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
}
