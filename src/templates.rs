//! The templates embedded in the binary (`templates/`), rendered with minijinja.
//!
//! Undefined variables are errors, never silent empty strings, and a unit test renders every
//! template, so a typo in a template fails `cargo test`, not a user's `npm install`.

use anyhow::{Context, Result};
use include_dir::{Dir, include_dir};
use minijinja::{Environment, UndefinedBehavior, Value};

static TEMPLATES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/templates");

/// One file to write: its path relative to the target folder, and its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFile {
    pub path: String,
    pub contents: String,
}

/// The embedded text of `templates/<path>`, verbatim.
pub fn raw(path: &str) -> Result<&'static str> {
    TEMPLATES
        .get_file(path)
        .with_context(|| format!("template `{path}` is missing from this build of modkit"))?
        .contents_utf8()
        .with_context(|| format!("template `{path}` is not UTF-8"))
}

/// Render every file under `templates/<dir>/`, keeping its relative path.
pub fn render_dir(dir: &str, context: &Value) -> Result<Vec<RenderedFile>> {
    let root = TEMPLATES
        .get_dir(dir)
        .with_context(|| format!("template folder `{dir}` is missing"))?;
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // Generated files end with a newline like the templates do; `{%- -%}` trims where needed.
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .build()?,
    );

    let mut files = Vec::new();
    collect_files(root, &mut files);
    files.sort_by(|a, b| a.path().cmp(b.path()));

    let mut rendered = Vec::with_capacity(files.len());
    for file in files {
        let name = file.path().to_string_lossy().replace('\\', "/");
        let source = file
            .contents_utf8()
            .with_context(|| format!("template `{name}` is not UTF-8"))?;
        let text = env
            .render_str(source, context)
            .with_context(|| format!("failed to render template `{name}`"))?;
        let path = name.strip_prefix(&format!("{dir}/")).unwrap_or(&name).to_string();
        rendered.push(RenderedFile { path, contents: text });
    }
    Ok(rendered)
}

fn collect_files<'a>(dir: &'a Dir<'a>, out: &mut Vec<&'a include_dir::File<'a>>) {
    out.extend(dir.files());
    for sub in dir.dirs() {
        collect_files(sub, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sql_templates_are_embedded() {
        assert!(
            raw("sql/system.sql")
                .unwrap()
                .contains("CREATE TABLE IF NOT EXISTS public.sys_tenant")
        );
        assert!(
            raw("sql/statements.sql")
                .unwrap()
                .contains("-- name: lock_database")
        );
        assert!(raw("sql/nope.sql").is_err());
    }
}
