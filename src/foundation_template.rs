//! The starter foundation `modkit init <name> --foundation` renders: `templates/foundation/`, plus
//! the files every sandbox has too, rendered from the same templates so that the two never drift:
//! the local database, bootstrap, `npm run dev`, `withTenantTx` and RBAC (`templates/sandbox/sandbox/`
//! → `server/`), the module contract (`templates/sandbox/plugin/context.ts` → `server/context.ts`)
//! and the bootstrap SQL (`templates/sql/` → `server/sql/`).

use anyhow::Result;
use minijinja::context;

use crate::templates::{self, RenderedFile};

/// The sandbox's own files that a foundation does not share: its server mounts the one module of
/// `plugin/`, its modules.ts lists that module; the foundation has its own of both (its server.ts
/// builds on the shared http.ts and rbac.ts).
const NOT_SHARED: [&str; 2] = ["server.ts", "modules.ts"];

/// Where the shared files go in a foundation (one folder deep, as `sandbox/` is in a sandbox:
/// config.ts finds the project root as its parent).
pub const API_DIR: &str = "server";

/// The foundation's files, sorted by path.
pub fn render(name: &str, title: &str, tenants: &[String]) -> Result<Vec<RenderedFile>> {
    let ctx = context! {
        project_name => name,
        project_title => title,
        dev_tenants => tenants.to_vec(),
        modkit_version => env!("CARGO_PKG_VERSION"),
        // server/dev.mjs compiles and watches the API's code and the adapted modules.
        dev_source_dirs => format!("['{API_DIR}', 'src']"),
        api_dir => API_DIR,
        context_import => "../context.js",
    };
    let mut files = templates::render_dir("foundation", &ctx)?;
    for file in templates::render_dir("sandbox/sandbox", &ctx)? {
        if NOT_SHARED.contains(&file.path.as_str()) {
            continue;
        }
        files.push(RenderedFile {
            path: format!("{API_DIR}/{}", file.path),
            contents: file.contents,
        });
    }
    // The contract between a module and its host, which server/db/tenant-db.ts implements.
    files.push(RenderedFile {
        path: format!("{API_DIR}/context.ts"),
        contents: templates::raw("sandbox/plugin/context.ts")?.to_string(),
    });
    for sql in ["system.sql", "statements.sql"] {
        files.push(RenderedFile {
            path: format!("{API_DIR}/sql/{sql}"),
            contents: templates::raw(&format!("sql/{sql}"))?.to_string(),
        });
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_shared_files_under_server() {
        let files = render("platform", "Platform", &["dev".into(), "acme".into()]).unwrap();
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        for expected in [
            "server/bootstrap.ts",
            "server/localdb.ts",
            "server/dev.mjs",
            "server/db/tenant-db.ts",
            "server/rbac.ts",
            "server/http.ts",
            "server/server.ts",
            "server/modules.ts",
            "server/project-module.ts",
            "server/sql/system.sql",
            "src/modules/.gitkeep",
            "client/src/main.ts",
        ] {
            assert!(paths.contains(&expected), "{expected} missing from {paths:?}");
        }
        let modules = files.iter().find(|f| f.path == "server/modules.ts").unwrap();
        assert!(
            !modules.contents.contains("../plugin/"),
            "the sandbox's modules.ts leaked in"
        );
        // What bootstrap.ts reads of a module is written once, in the shared project-module.ts.
        assert!(
            modules.contents.contains("from './project-module.js'")
                && !modules.contents.contains("migrationsDir: URL;"),
            "modules.ts declares the shared ProjectModule again"
        );
        // The foundation's own server.ts uses the shared files, never a copy of them.
        let server = files.iter().find(|f| f.path == "server/server.ts").unwrap();
        for shared in ["from './http.js'", "from './rbac.js'"] {
            assert!(
                server.contents.contains(shared),
                "server.ts does not import {shared}"
            );
        }
        for repeated in [
            "sys_role_permission",
            "closeAllConnections",
            "BAD_CHARACTER_SQLSTATES",
        ] {
            assert!(
                !server.contents.contains(repeated),
                "server.ts repeats {repeated} of the shared files"
            );
        }
        let dev = files.iter().find(|f| f.path == "server/dev.mjs").unwrap();
        assert!(dev.contents.contains("const SOURCE_DIRS = ['server', 'src'];"));
        let toml = files.iter().find(|f| f.path == "modkit.toml").unwrap();
        assert!(toml.contents.contains(r#"tenants = ["dev", "acme"]"#));
    }
}
