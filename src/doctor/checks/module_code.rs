//! The module's code: its imports, links in `plugin/`, its meta id and its permissions.

use anyhow::Result;

use crate::diagnostics::{Diagnostic, Severity};
use crate::doctor::rule::{Rule, Scope};

use crate::doctor::*;

pub const RULES: &[Rule] = &[
    Rule {
        code: "module-file-link",
        severity: Severity::Error,
        scope: Scope::Both,
        what: "a symbolic link in the module's `plugin/` (or, in a foundation, its `migrations/` folder): adapt and bootstrap refuse to copy or run what it points at",
        fix: "replace the link with the file or folder itself",
    },
    Rule {
        code: "module-import-outside",
        severity: Severity::Error,
        scope: Scope::Both,
        what: "the module's code imports a file outside `plugin/`: the foundation would not have it",
        fix: "move it into `plugin/` or get it through `ctx`",
    },
    Rule {
        code: "module-imports-db-client",
        severity: Severity::Error,
        scope: Scope::Both,
        what: "the module's code imports a database client (`pg`, `postgres`, `knex`, `kysely`, `@prisma/client`, `drizzle-orm`, ...)",
        fix: "query through `ctx.withTenantTx(tenant, db => db.query(...))`",
    },
    Rule {
        code: "module-package-unlisted",
        severity: Severity::Warning,
        scope: Scope::Foundation,
        what: "the module imports a package the foundation's `package.json` does not list",
        fix: "`npm install` it in the foundation",
    },
    Rule {
        code: "module-index-missing",
        severity: Severity::Error,
        scope: Scope::Both,
        what: "no `plugin/index.ts`",
        fix: "",
    },
    Rule {
        code: "module-meta-id",
        severity: Severity::Error,
        scope: Scope::Both,
        what: "the plugin object has no `meta: { id, version, api }`, or its `id` is not the module's",
        fix: "routes are mounted at `/api/plugins/<id>`: make them the same",
    },
    Rule {
        code: "permissions-missing",
        severity: Severity::Error,
        scope: Scope::Both,
        what: "`plugin/index.ts` exports no `permissions` array of string literals",
        fix: "`export const permissions = ['items.read'] satisfies string[];`",
    },
    Rule {
        code: "permission-prefix",
        severity: Severity::Warning,
        scope: Scope::Both,
        what: "a permission does not start with `<module id>.`",
        fix: "prefix it, so modules never share a permission by accident",
    },
];

/// The module's code: its imports, its meta id and its permissions.
pub fn check(target: &Target, out: &mut Vec<Diagnostic>) -> Result<()> {
    let packages = match target.kind {
        Kind::Foundation { .. } => Some(package_names(&target.root)),
        Kind::Sandbox { .. } => None,
    };
    for module in target.modules() {
        let plugin_dir = target.root.join(&module.plugin);
        // Links among the migrations are reported by the migrations check.
        let migrations_dir = target.root.join(&module.migrations);
        for link in links_in(&target.sources, &plugin_dir)
            .into_iter()
            .filter(|l| !l.starts_with(&migrations_dir))
        {
            out.push(
                Diagnostic::error("module-file-link", "is a symbolic link: `modkit adapt` and `modkit bootstrap` refuse it rather than copy or run what it points at")
                    .at(target.relative(&link), None)
                    .hint("replace the link with the file (or folder) itself"),
            );
        }
        // A file that does not parse is reported (as adapt would refuse it) and the module's
        // other checks skipped.
        let mut findings = Vec::new();
        let mut unparsed = None;
        for file in plugin_files(target, &plugin_dir, out) {
            match target.facts(&file.file) {
                Some(Ok(facts)) => findings.extend(adapt::file_import_findings(
                    &file.path,
                    &facts.imports,
                    packages.as_deref(),
                )),
                Some(Err(failure)) => {
                    unparsed = Some(failure.error(&format!("plugin/{}", file.path)));
                    break;
                }
                None => {}
            }
        }
        if let Some(e) = unparsed {
            syntax_error(target, e.into(), out)?;
            continue;
        }
        for finding in findings {
            let code = match finding.problem {
                ImportProblem::OutsidePlugin => "module-import-outside",
                ImportProblem::DbClient(_) => "module-imports-db-client",
                ImportProblem::UnlistedPackage(_) => "module-package-unlisted",
            };
            let file = format!("{}/{}", module.plugin, finding.file.trim_start_matches("plugin/"));
            let message = finding
                .message()
                .replacen(&format!("{}:{} ", finding.file, finding.line), "", 1);
            let d = match finding.problem {
                ImportProblem::UnlistedPackage(_) => Diagnostic::warning(code, message),
                _ => Diagnostic::error(code, message),
            };
            out.push(d.at(file, Some(finding.line)).hint(finding.hint()));
        }
        let index_rel = format!("{}/index.ts", module.plugin);
        let index_path = target.root.join(&index_rel);
        if !target.sources.exists_unfollowed(&index_path) {
            out.push(Diagnostic::error(
                "module-index-missing",
                format!("module `{}` has no {index_rel}", module.id),
            ));
            continue;
        }
        if read_or_report(target, &index_path, out).is_none() {
            continue;
        }
        let facts = match target.facts(&index_path) {
            Some(Ok(facts)) => facts,
            Some(Err(failure)) => return Err(failure.error(&index_rel).into()),
            None => continue,
        };
        let meta = facts.meta.as_ref();
        match meta.as_ref().and_then(|m| m.get("id")) {
            Some(id) if *id == module.id => {}
            Some(id) => out.push(
                Diagnostic::error(
                    "module-meta-id",
                    format!("`meta.id` is `{id}`, but the module is `{}`", module.id),
                )
                .at(&index_rel, line_of(&target.root.join(&index_rel), "meta"))
                .hint(format!(
                    "make them the same: the routes are mounted at /api/plugins/{}",
                    module.id
                )),
            ),
            None => out.push(
                Diagnostic::error(
                    "module-meta-id",
                    "the plugin object has no `meta: { id, version, api }` of string literals",
                )
                .at(&index_rel, None)
                .hint(format!(
                    "write `meta: {{ id: '{}', version: '1.0.0', api: '1.x' }}`",
                    module.id
                )),
            ),
        }
        match &facts.permissions {
            Ok(Some(permissions)) => {
                for p in permissions
                    .iter()
                    .filter(|p| !p.starts_with(&format!("{}.", module.id)))
                {
                    out.push(
                        Diagnostic::warning("permission-prefix", format!("permission `{p}` does not start with `{}.`", module.id))
                            .at(&index_rel, line_of(&target.root.join(&index_rel), p))
                            .hint("prefix every permission with the module id, so that modules never share one by accident"),
                    );
                }
            }
            Ok(None) => out.push(
                Diagnostic::error("permissions-missing", "the module exports no `permissions`")
                    .at(&index_rel, None)
                    .hint(format!(
                        "add `export const permissions = ['{}.read'] satisfies string[];`",
                        module.id
                    )),
            ),
            Err((message, _)) => {
                out.push(Diagnostic::error("permissions-missing", message.clone()).at(&index_rel, None))
            }
        }
    }
    Ok(())
}
