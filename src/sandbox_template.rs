//! The sandbox `modkit init <module>` writes (and `modkit upgrade` renders again): the
//! `templates/sandbox/` tree plus the bootstrap SQL it shares with modkit.

use anyhow::Result;
use minijinja::context;

use crate::names;
use crate::templates::{self, RenderedFile};

/// The bootstrap SQL every sandbox carries, copied verbatim: `npm run bootstrap` and
/// `modkit bootstrap` run the same statements.
const SHARED_SQL: [(&str, &str); 2] = [
    ("sql/system.sql", "sandbox/sql/system.sql"),
    ("sql/statements.sql", "sandbox/sql/statements.sql"),
];

/// The sandbox's files: the rendered `templates/sandbox/` tree plus the shared bootstrap SQL.
/// `npm`: made by the npm-installed modkit, so the sandbox depends on the `modkit` package.
pub fn render(module: &str, name: &str, tenants: &[String], npm: bool) -> Result<Vec<RenderedFile>> {
    let ctx = context! {
        module_id => module,
        module_name => name,
        table => module.replace('-', "_"),
        resource => module,
        const_name => names::camel_case(module),
        dev_tenants => tenants.to_vec(),
        modkit_version => env!("CARGO_PKG_VERSION"),
        npm => npm,
        // sandbox/dev.mjs: the folders of the API's code, and its own folder (a foundation has others).
        dev_source_dirs => "['plugin', 'sandbox']",
        api_dir => "sandbox",
        // sandbox/db/tenant-db.ts: the module's contract (plugin/context.ts; a foundation has its own copy).
        context_import => "../../plugin/context.js",
    };
    let mut files = templates::render_dir("sandbox", &ctx)?;
    for (source, target) in SHARED_SQL {
        files.push(RenderedFile {
            path: target.to_string(),
            contents: templates::raw(source)?.to_string(),
        });
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}
