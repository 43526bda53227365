//! The module's routes: each one it registers (but its health check) is guarded by
//! `rbac.require('<permission>')`, and the permission is one its `permissions` export declares.

use anyhow::Result;

use crate::diagnostics::{Diagnostic, Severity};
use crate::doctor::rule::{Rule, Scope};
use crate::doctor::scan;
use crate::doctor::*;

pub const RULES: &[Rule] = &[
    Rule {
        code: "route-unguarded",
        severity: Severity::Error,
        scope: Scope::Both,
        what: "a route the module registers (`router.get/post/put/patch/delete/all/use` in `register`) has no `rbac.require(...)` guard: anyone with a tenant header reaches it (the health check is exempt)",
        fix: "add `ctx.rbac.require('<module>.<action>')` before the handler, with a permission the module declares",
    },
    Rule {
        code: "route-permission-undeclared",
        severity: Severity::Error,
        scope: Scope::Both,
        what: "a route's guard names a permission the module's `permissions` export does not declare: bootstrap never grants it, so no role holds it and the route always answers 403",
        fix: "add it to `export const permissions = [...]`, or guard with a declared one",
    },
];

pub fn check(target: &Target, out: &mut Vec<Diagnostic>) -> Result<()> {
    for module in target.modules() {
        let plugin_dir = target.root.join(&module.plugin);
        // Unreadable files were reported by the module code check: do not report them twice.
        let mut ignored = Vec::new();
        let mut files = plugin_files(target, &plugin_dir, &mut ignored);
        // index.ts first: it declares the permissions the other files' guards are checked against.
        files.sort_by_key(|f| f.path != "index.ts");
        let mut declared: Option<Vec<String>> = None;
        for file in files {
            let is_index = file.path == "index.ts";
            if !is_index && !scan::may_register_routes(&file.contents) {
                continue;
            }
            let rel = format!("{}/{}", module.plugin, file.path);
            let Some(Ok(facts)) = target.facts(&file.file) else {
                // A syntax error is reported (once) by the module code check.
                continue;
            };
            if is_index {
                declared = facts.permissions.clone().ok().flatten();
            }
            for route in facts.routes.iter().flatten().filter(|r| !r.is_health_check()) {
                let what = match &route.path {
                    Some(path) => format!("{} {path}", route.method.to_uppercase()),
                    None => format!("router.{}(...)", route.method),
                };
                if route.guards.is_empty() {
                    out.push(
                        Diagnostic::error("route-unguarded", format!("{what} has no `rbac.require(...)` guard: any caller reaches it"))
                            .at(&rel, Some(route.line))
                            .hint(format!("add `ctx.rbac.require('{}.<action>')` before the handler, with a permission the module declares", module.id)),
                    );
                    continue;
                }
                let Some(declared) = &declared else { continue };
                for permission in route.guards.iter().flatten() {
                    if !declared.contains(permission) {
                        out.push(
                            Diagnostic::error(
                                "route-permission-undeclared",
                                format!("{what} requires `{permission}`, which the module's `permissions` does not declare: no role gets it, so it always answers 403"),
                            )
                            .at(&rel, Some(route.line))
                            .hint(format!("add '{permission}' to `export const permissions` in plugin/index.ts, or require one of: {}", declared.join(", "))),
                        );
                    }
                }
            }
        }
    }
    Ok(())
}
