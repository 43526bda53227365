//! Whether the foundation's own `requirePermission` fits what the module calls:
//! `ctx.rbac.require(permission: string)` returning a middleware. An app's function may take a
//! narrow permission type (`Permission`, a union of its own strings) or more arguments; adopting it
//! silently gave TS2345 at type-check. Read with the parser from its declaration, without running it.

use anyhow::Result;
use oxc_allocator::Allocator;
use oxc_ast::ast::{BindingPattern, Declaration, Expression, FormalParameters, Program, Statement, TSType};
use oxc_span::GetSpan;

use crate::ts;

/// Why the function does not fit, in a sentence; `Ok(None)` when it fits, or when its declaration
/// is not a plain function in that file (then only the type-check can tell).
pub fn misfit(source: &str, file: &str, name: &str) -> Result<Option<String>> {
    let allocator = Allocator::default();
    let program = ts::parse(&allocator, source, file)?;
    let mut params: Option<&FormalParameters> = None;
    let mut aliases: Vec<(&str, &TSType)> = Vec::new();
    for declaration in top_level_declarations(&program) {
        match declaration {
            Declaration::FunctionDeclaration(f) if f.id.as_ref().is_some_and(|id| id.name == name) => {
                params = Some(&f.params);
            }
            Declaration::VariableDeclaration(v) => {
                for d in &v.declarations {
                    let named = matches!(&d.id, BindingPattern::BindingIdentifier(id) if id.name == name);
                    match (&d.init, named) {
                        (Some(Expression::ArrowFunctionExpression(a)), true) => params = Some(&a.params),
                        (Some(Expression::FunctionExpression(f)), true) => params = Some(&f.params),
                        _ => {}
                    }
                }
            }
            Declaration::TSTypeAliasDeclaration(t) => aliases.push((t.id.name.as_str(), &t.type_annotation)),
            _ => {}
        }
    }
    let Some(params) = params else {
        return Ok(None);
    };
    let text = |t: &TSType| {
        source[t.span().start as usize..t.span().end as usize]
            .trim()
            .to_string()
    };
    // `string`, an alias of it, or nothing said (any) take every permission the module names.
    let takes_any_string = |t: &TSType| match t {
        TSType::TSStringKeyword(_) | TSType::TSAnyKeyword(_) | TSType::TSUnknownKeyword(_) => true,
        TSType::TSTypeReference(_) => {
            let named = text(t);
            aliases
                .iter()
                .any(|(alias, ty)| *alias == named && matches!(ty, TSType::TSStringKeyword(_)))
        }
        _ => false,
    };
    let Some(first) = params.items.first() else {
        return Ok(match &params.rest {
            Some(rest) => match rest.type_annotation.as_ref().map(|a| &a.type_annotation) {
                Some(TSType::TSArrayType(array)) if !takes_any_string(&array.element_type) => Some(format!(
                    "its permissions are `{}`, narrower than the `string` the module passes",
                    text(&array.element_type)
                )),
                _ => None,
            },
            None => Some("it takes no permission argument".to_string()),
        });
    };
    if let Some(annotation) = &first.type_annotation {
        if !takes_any_string(&annotation.type_annotation) {
            return Ok(Some(format!(
                "its permission parameter is `{}`, narrower than the `string` the module passes",
                text(&annotation.type_annotation)
            )));
        }
    }
    let required = params
        .items
        .iter()
        .skip(1)
        .filter(|p| !p.optional && p.initializer.is_none())
        .count();
    if required > 0 {
        return Ok(Some(format!(
            "it takes {} required argument(s) besides the permission, and the module passes only the permission",
            required
        )));
    }
    Ok(None)
}

/// Where the app's `requirePermission` reads the user another middleware must have set first
/// (`req.user`, `req.auth`, `req.session`, `res.locals.…`): the first such expression, if any. Its
/// own routes run it after their auth middleware; a module's routes are mounted by the route
/// loader, and when the loader is not behind that middleware every call answers 401. Read as
/// text inside the function's own span (no type information: a hint, not a verdict).
pub fn reads_authenticated_user(source: &str, file: &str, name: &str) -> Result<Option<String>> {
    let allocator = Allocator::default();
    let program = ts::parse(&allocator, source, file)?;
    let mut span = None;
    for declaration in top_level_declarations(&program) {
        match declaration {
            Declaration::FunctionDeclaration(f) if f.id.as_ref().is_some_and(|id| id.name == name) => {
                span = Some(f.span)
            }
            Declaration::VariableDeclaration(v) => {
                for d in &v.declarations {
                    if matches!(&d.id, BindingPattern::BindingIdentifier(id) if id.name == name) {
                        span = Some(d.span);
                    }
                }
            }
            _ => {}
        }
    }
    let Some(span) = span else {
        return Ok(None);
    };
    let body = &source[span.start as usize..span.end as usize];
    const READS: [&str; 6] = [
        ".user",
        ".auth",
        ".session",
        ".currentUser",
        ".principal",
        ".claims",
    ];
    let found = body.match_indices('.').find_map(|(at, _)| {
        let rest = &body[at..];
        let field = READS.iter().find(|r| {
            let after = &rest[r.len().min(rest.len())..];
            let next = after.trim_start();
            // Set here, not read: `res.locals.user = …`.
            let assigned = next.starts_with('=') && !next.starts_with("==");
            rest.starts_with(**r)
                && !after.starts_with(|c: char| c.is_alphanumeric() || c == '_')
                && !assigned
        })?;
        // The object read: `req`, `request`, `res.locals`.
        let object: String = body[..at]
            .chars()
            .rev()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '.')
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let of_request = ["req", "request", "res.locals", "response.locals"]
            .iter()
            .any(|o| object == *o || object.ends_with(&format!(".{o}")));
        of_request.then(|| format!("{object}{field}"))
    });
    Ok(found)
}

/// The file's top-level declarations, exported or not.
fn top_level_declarations<'a>(program: &'a Program<'a>) -> impl Iterator<Item = &'a Declaration<'a>> {
    program.body.iter().filter_map(|stmt| match stmt {
        Statement::ExportDeclaration(export) => Some(&export.declaration),
        other => other.as_declaration(),
    })
}

/// What to write instead: a wrapper with the module's signature, in a file of its own that
/// modkit.toml then names.
pub fn wrapper_hint(rbac_file: &str, specifier: &str) -> String {
    format!(
        "write a wrapper with the module's signature and point modkit at it, e.g. src/lib/security/module-rbac.ts:\n\
         \n  import type {{ RequestHandler }} from 'express';\n  \
         import {{ requirePermission as appRequirePermission }} from '{specifier}';\n\n  \
         // The module names its permissions `<module>.<action>`: map them onto the app's own here.\n  \
         export function requirePermission(permission: string): RequestHandler {{\n    \
         return appRequirePermission(permission as Parameters<typeof appRequirePermission>[0]);\n  }}\n\n\
         then set [foundation] rbac = \"src/lib/security/module-rbac.ts\" in the foundation's modkit.toml (it now exports the one the modules use; {rbac_file} stays as it is)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(source: &str) -> Option<String> {
        misfit(source, "rbac.ts", "requirePermission").unwrap()
    }

    #[test]
    fn what_reads_a_user_another_middleware_sets() {
        let reads = |source: &str| reads_authenticated_user(source, "rbac.ts", "requirePermission").unwrap();
        assert_eq!(
            reads(
                "export function requirePermission(p: string) {\n  return (req, res, next) => {\n    if (!req.user) return res.status(401).end();\n    next();\n  };\n}"
            )
            .as_deref(),
            Some("req.user")
        );
        assert_eq!(
            reads("export const requirePermission = (p: string) => (request, response, next) => { const who = response.locals.auth; next(); };")
                .as_deref(),
            Some("response.locals.auth")
        );
        // Its own lookup of the user (the tenant header, a query): nothing to mount first.
        assert_eq!(
            reads(
                "export function requirePermission(p: string) { return (req, res, next) => { const id = req.header('x-user-id'); next(); }; }"
            ),
            None
        );
        // Set here, not read.
        assert_eq!(
            reads(
                "export function requirePermission(p: string) { return (req, res, next) => { res.locals.user = req.get('x-user'); next(); }; }"
            ),
            None
        );
        // `.user` of something else, `.userId`, another function's body.
        assert_eq!(
            reads(
                "function other(req) { return req.user; }\nexport function requirePermission(p: string) { return (req, res, next) => { const u = db.user; const v = req.userId; next(); }; }"
            ),
            None
        );
    }

    #[test]
    fn what_fits_and_what_does_not() {
        assert_eq!(
            check("export function requirePermission(p: string) { return p; }"),
            None
        );
        assert_eq!(check("export const requirePermission = (p) => p;"), None);
        assert_eq!(
            check(
                "type Perm = string;\nexport const requirePermission = function (p: Perm, opts?: object) { return p; };"
            ),
            None
        );
        assert_eq!(
            check("function requirePermission(...ps: string[]) {}\nexport { requirePermission };"),
            None
        );
        // Not a plain function here: the type-check decides.
        assert_eq!(check("export const requirePermission = makeGuard();"), None);

        let narrow = check(
            "type Permission = 'users.read' | 'users.write';\nexport function requirePermission(p: Permission) {}",
        );
        assert!(narrow.unwrap().contains("`Permission`, narrower"));
        let union = check("export const requirePermission = (p: 'a' | 'b') => p;").unwrap();
        assert!(union.contains("`'a' | 'b'`"), "{union}");
        let rest = check("export function requirePermission(...ps: Permission[]) {}").unwrap();
        assert!(rest.contains("`Permission`"), "{rest}");
        let two = check("export function requirePermission(p: string, resource: string) {}").unwrap();
        assert!(two.contains("1 required argument(s)"), "{two}");
        assert!(
            check("export function requirePermission() {}")
                .unwrap()
                .contains("no permission")
        );
    }
}
