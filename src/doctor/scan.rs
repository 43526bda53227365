//! What the new checks read from TypeScript, with the same parser as `crate::ts`: the routes a
//! module registers and their guards, and every package a file loads (static, dynamic, `require`),
//! with whether it sits on a development-only path.

use anyhow::Result;
use oxc_allocator::Allocator;
use oxc_ast::ast::{
    Argument, BindingPattern, CallExpression, Expression, IfStatement, ImportExpression, Program, Statement,
    VariableDeclarator,
};
use oxc_ast_visit::{Visit, walk};
use oxc_span::GetSpan;

use crate::ts::{line_at, parse};

/// Router methods that register a route (or middleware) on an Express router.
const ROUTE_METHODS: [&str; 7] = ["get", "post", "put", "patch", "delete", "all", "use"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub method: String,
    /// The path when it is a string literal (`use` may have none).
    pub path: Option<String>,
    pub line: usize,
    /// The permissions of its `rbac.require('...')` / `requirePermission('...')` guards; `None`
    /// for a guard whose permission is not a string literal.
    pub guards: Vec<Option<String>>,
}

impl Route {
    /// `GET /health`, `/healthz`, `/<x>/health`: a health check answers without a user.
    pub fn is_health_check(&self) -> bool {
        self.path.as_deref().is_some_and(|p| {
            let last = p.trim_end_matches('/').rsplit('/').next().unwrap_or_default();
            matches!(last, "health" | "healthz" | "ready" | "live")
        })
    }
}

/// Calls like `router.get('/x', ...)`, `ctx.router.post(...)` or `r.delete(...)` after
/// `const r = ctx.router`: the receiver is a `router` (a variable, or a property) or an alias of one.
#[cfg(test)]
pub fn routes(source: &str, file: &str) -> Result<Vec<Route>> {
    Ok(routes_and_permissions(source, file)?.0)
}

/// The routes, and the `permissions` export when the file has one (read in the same parse; an
/// export that is not an array of string literals reads as None: `permissions-missing` says so).
#[cfg(test)]
pub fn routes_and_permissions(source: &str, file: &str) -> Result<(Vec<Route>, Option<Vec<String>>)> {
    let allocator = Allocator::default();
    let program = parse(&allocator, source, file)?;
    let permissions = crate::ts::exported_string_array_in(&program, file, "permissions")
        .ok()
        .flatten();
    Ok((routes_in(&program, source), permissions))
}

/// The routes of a file already parsed. A file that never names a `router` registers none, and
/// its syntax tree is not walked ([`may_name_router`]).
pub(crate) fn routes_in(program: &Program, source: &str) -> Vec<Route> {
    if !may_name_router(source) {
        return Vec::new();
    }
    routes_walked(program, source)
}

/// Whether a file may hold an identifier or a property called `router`, the receiver (or the alias
/// of one) of every route [`routes_in`] finds: the word itself, or a Unicode escape that spells it
/// (`\u0072outer`). When not, the file registers no route.
pub fn may_name_router(source: &str) -> bool {
    source.contains("router") || crate::ts::escape_may_spell(source, "router")
}

fn routes_walked(program: &Program, source: &str) -> Vec<Route> {
    struct Finder<'s> {
        source: &'s str,
        aliases: Vec<String>,
        out: Vec<Route>,
    }
    fn is_router(expr: &Expression, aliases: &[String]) -> bool {
        match expr {
            Expression::Identifier(id) => {
                id.name == "router" || aliases.iter().any(|a| a == id.name.as_str())
            }
            Expression::StaticMemberExpression(m) => m.property.name == "router",
            Expression::ParenthesizedExpression(p) => is_router(&p.expression, aliases),
            _ => false,
        }
    }
    impl<'a> Visit<'a> for Finder<'_> {
        fn visit_variable_declarator(&mut self, it: &VariableDeclarator<'a>) {
            if let (BindingPattern::BindingIdentifier(id), Some(init)) = (&it.id, &it.init)
                && is_router(init, &self.aliases)
            {
                self.aliases.push(id.name.to_string());
            }
            walk::walk_variable_declarator(self, it);
        }
        fn visit_call_expression(&mut self, call: &CallExpression<'a>) {
            if let Expression::StaticMemberExpression(m) = &call.callee
                && ROUTE_METHODS.contains(&m.property.name.as_str())
                && is_router(&m.object, &self.aliases)
                && !call.arguments.is_empty()
            {
                let path = call.arguments.first().and_then(|a| literal(a.as_expression()?));
                let guards = call.arguments.iter().filter_map(guard).collect();
                self.out.push(Route {
                    method: m.property.name.to_string(),
                    path,
                    line: line_at(self.source, call.span.start as usize),
                    guards,
                });
            }
            walk::walk_call_expression(self, call);
        }
    }
    let mut finder = Finder {
        source,
        aliases: Vec::new(),
        out: Vec::new(),
    };
    finder.visit_program(program);
    finder.out
}

/// Whether a file may register routes at all (a method call on something), so that files that
/// cannot are not parsed.
pub fn may_register_routes(source: &str) -> bool {
    source.contains("router")
        && ROUTE_METHODS
            .iter()
            .any(|m| memchr::memmem::find(source.as_bytes(), format!(".{m}(").as_bytes()).is_some())
}

/// A string literal, or a template literal without expressions.
fn literal(expr: &Expression) -> Option<String> {
    match expr {
        Expression::StringLiteral(s) => Some(s.value.to_string()),
        Expression::TemplateLiteral(t) if t.expressions.is_empty() => {
            Some(t.quasis.iter().map(|q| q.value.raw.as_str()).collect())
        }
        _ => None,
    }
}

/// `x.rbac.require('p')`, `rbac.require('p')`, `requirePermission('p')`: Some(permission).
fn guard(arg: &Argument) -> Option<Option<String>> {
    let Expression::CallExpression(call) = arg.as_expression()? else {
        return None;
    };
    let is_guard = match &call.callee {
        Expression::StaticMemberExpression(m) if m.property.name == "require" => match &m.object {
            Expression::Identifier(id) => id.name == "rbac",
            Expression::StaticMemberExpression(o) => o.property.name == "rbac",
            _ => false,
        },
        Expression::Identifier(id) => id.name == "requirePermission",
        _ => false,
    };
    is_guard.then(|| call.arguments.first().and_then(|a| literal(a.as_expression()?)))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadKind {
    /// `import x from 'p'`, `export ... from 'p'`, `require('p')`: loaded when the file is.
    Static,
    /// `import type`: erased, never loaded.
    TypeOnly,
    /// `await import('p')` inside `if (!production)` (or `NODE_ENV !== 'production'`).
    DevOnly,
    /// `await import('p')` anywhere else: loaded when that code runs.
    Dynamic,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Load {
    pub specifier: String,
    pub line: usize,
    pub kind: LoadKind,
}

/// Every module specifier the file loads, and how.
pub fn loads(source: &str, file: &str) -> Result<Vec<Load>> {
    let allocator = Allocator::default();
    let program = parse(&allocator, source, file)?;
    Ok(loads_in(&program, source))
}

/// [`loads`] of a file already parsed.
pub(crate) fn loads_in(program: &Program, source: &str) -> Vec<Load> {
    loads_walking_if(program, source, may_load_dynamically)
}

/// [`loads_in`], walking the whole syntax tree when `walk` says so.
fn loads_walking_if(program: &Program, source: &str, walk: fn(&str) -> bool) -> Vec<Load> {
    struct Finder<'s> {
        source: &'s str,
        dev_depth: usize,
        out: Vec<Load>,
    }
    impl Finder<'_> {
        fn push(&mut self, specifier: Option<String>, at: u32, kind: LoadKind) {
            if let Some(specifier) = specifier {
                self.out.push(Load {
                    specifier,
                    line: line_at(self.source, at as usize),
                    kind,
                });
            }
        }
        fn dynamic_kind(&self) -> LoadKind {
            if self.dev_depth > 0 {
                LoadKind::DevOnly
            } else {
                LoadKind::Dynamic
            }
        }
    }
    impl<'a> Visit<'a> for Finder<'_> {
        fn visit_if_statement(&mut self, it: &IfStatement<'a>) {
            self.visit_expression(&it.test);
            let test = &self.source[it.test.span().start as usize..it.test.span().end as usize];
            let dev = is_dev_guard(test);
            self.dev_depth += usize::from(dev);
            self.visit_statement(&it.consequent);
            self.dev_depth -= usize::from(dev);
            if let Some(alternate) = &it.alternate {
                self.visit_statement(alternate);
            }
        }
        fn visit_import_expression(&mut self, it: &ImportExpression<'a>) {
            let kind = self.dynamic_kind();
            self.push(literal(&it.source), it.span.start, kind);
            walk::walk_import_expression(self, it);
        }
        fn visit_call_expression(&mut self, call: &CallExpression<'a>) {
            if matches!(&call.callee, Expression::Identifier(id) if id.name == "require") {
                let spec = call.arguments.first().and_then(|a| literal(a.as_expression()?));
                self.push(spec, call.span.start, LoadKind::Static);
            }
            walk::walk_call_expression(self, call);
        }
    }
    let mut finder = Finder {
        source,
        dev_depth: 0,
        out: Vec::new(),
    };
    for stmt in &program.body {
        let (literal, type_only) = match stmt {
            Statement::ImportDeclaration(i) => (&i.source, i.import_kind.is_type()),
            Statement::ExportFromDeclaration(e) => (&e.source, e.export_kind.is_type()),
            Statement::ExportAllDeclaration(e) => (&e.source, e.export_kind.is_type()),
            _ => continue,
        };
        let kind = if type_only {
            LoadKind::TypeOnly
        } else {
            LoadKind::Static
        };
        finder.push(Some(literal.value.to_string()), literal.span.start, kind);
    }
    // The walk finds `require(...)` and `import(...)` only: a file without them is not walked.
    if walk(source) {
        finder.visit_program(program);
    }
    finder.out
}

/// Whether a file may call `require(...)` or `import(...)`, which only a walk of its whole syntax
/// tree finds (static imports are read from its top level). Unsure means yes. Only the words
/// `require` and `import` themselves count (not `requirePermission`); then a `require` not right
/// after a member's `.` (`rbac.require` is a method, `...require(` a spread is not), an `import`
/// followed by `(` or a comment (or by anything but ASCII blanks and those), and any Unicode
/// escape (`\u0072equire` is `require` to the parser).
pub fn may_load_dynamically(source: &str) -> bool {
    let bytes = source.as_bytes();
    let blank = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c);
    // ASCII letters, digits, `_` and `$` continue a name; so may any other byte of a non-ASCII
    // letter, but those are read as a word boundary (unsure: a walk).
    let name_byte = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'$'));
    let words = |word: &'static str| {
        memchr::memmem::find_iter(bytes, word.as_bytes()).filter(move |&i| {
            !name_byte(i.checked_sub(1).and_then(|j| bytes.get(j))) && !name_byte(bytes.get(i + word.len()))
        })
    };
    let called_require = words("require").any(|i| {
        let mut before = bytes[..i].iter().rev().copied().filter(|&b| !blank(b));
        !(before.next() == Some(b'.') && before.next() != Some(b'.'))
    });
    let called_import = words("import").any(|i| {
        let next = bytes[i + "import".len()..].iter().copied().find(|&b| !blank(b));
        matches!(next, Some(b'(' | b'/') | Some(0x80..))
    });
    called_require || called_import || crate::ts::escape_may_spell(source, "requimpot")
}

/// `!production`, `!isProd`, `process.env.NODE_ENV !== 'production'`, `isDev`, `dev`.
fn is_dev_guard(test: &str) -> bool {
    let t: String = test.chars().filter(|c| !c.is_whitespace()).collect();
    let lower = t.to_ascii_lowercase();
    (lower.starts_with('!') && lower.contains("prod") && !lower.contains("&&") && !lower.contains("||"))
        || lower.contains("!=='production'")
        || lower.contains("!=\"production\"")
        || lower.contains("!==\"production\"")
        || lower.contains("!='production'")
        || lower.contains("==='development'")
        || matches!(lower.as_str(), "dev" | "isdev" | "development" | "isdevelopment")
}

/// The npm package a bare specifier names: `@scope/name/sub` -> `@scope/name`, `name/sub` -> `name`;
/// None for a relative path, a URL, or one of Node's own modules.
pub fn package_of(specifier: &str) -> Option<String> {
    if specifier.starts_with('.')
        || specifier.starts_with('/')
        || specifier.contains(':')
        || specifier.starts_with('#')
    {
        return None;
    }
    let mut parts = specifier.split('/');
    let first = parts.next()?;
    let name = if first.starts_with('@') {
        format!("{first}/{}", parts.next()?)
    } else {
        first.to_string()
    };
    (!NODE_BUILTINS.contains(&name.as_str())).then_some(name)
}

/// Node's built-in modules, importable without `node:`.
const NODE_BUILTINS: [&str; 40] = [
    "assert",
    "async_hooks",
    "buffer",
    "child_process",
    "cluster",
    "console",
    "constants",
    "crypto",
    "dgram",
    "diagnostics_channel",
    "dns",
    "domain",
    "events",
    "fs",
    "http",
    "http2",
    "https",
    "inspector",
    "module",
    "net",
    "os",
    "path",
    "perf_hooks",
    "process",
    "punycode",
    "querystring",
    "readline",
    "repl",
    "stream",
    "string_decoder",
    "sys",
    "timers",
    "tls",
    "trace_events",
    "tty",
    "url",
    "util",
    "v8",
    "vm",
    "zlib",
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Every TypeScript file of the tests' fixtures and of the templates that parses, and files
    /// written to defeat the pre-filters (a Unicode escape, a spread, a comment before `(`, an
    /// optional call).
    fn corpus() -> Vec<(String, String)> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files: Vec<(String, String)> = ["tests/fixtures", "templates"]
            .iter()
            .flat_map(|dir| crate::ts::source_files(&root.join(dir), &[]))
            .filter_map(|f| Some((f.display().to_string(), std::fs::read_to_string(&f).ok()?)))
            .collect();
        assert!(
            files.len() > 100,
            "the fixtures are missing: {} files",
            files.len()
        );
        for (i, tricky) in [
            "const x = req\\u0075ire('pg');",
            "const x = [...require('pg')];",
            "const x = a ?? require('pg');",
            "module.exports = require ('pg');",
            "const x = await import /* pg */ ('pg');",
            "const x = await import\n('pg');",
            "if (!production) { await import('vite'); }",
            "\\u0072outer.get('/x', h);",
            "router?.get('/x', h);",
            "const r = ctx.router; r.post('/x', h);",
            "app.use(c\\u006frs({ origin: true, credentials: true }));",
            "app.use(c\\u{6f}rs({ origin: true, credentials: true })); const s = '\\u0000';",
            "const x = re\\u{71}uire('pg'); \\u{72}outer.get('/x', h);",
            "if (name.includes('\\u0000')) { router.get('/x', h); await import('pg'); }",
            "app.use(cors({ origin: true, credentials: true }));",
            "ctx.rbac.require('a.read'); requirePermission('a.read'); import.meta.url;",
        ]
        .iter()
        .enumerate()
        {
            files.push((format!("tricky {i}"), tricky.to_string()));
        }
        files
    }

    /// Each pre-filter against the walk it saves, on every file of [`corpus`]: a file the
    /// filter skips really has nothing the walk would find.
    #[test]
    fn the_pre_filters_skip_only_files_whose_walk_finds_nothing() {
        let (mut parsed, mut skipped) = (0, [0; 3]);
        for (name, source) in corpus() {
            let allocator = Allocator::default();
            let Ok(program) = crate::ts::parse_program(&allocator, &source) else {
                continue;
            };
            parsed += 1;
            let walked = loads_walking_if(&program, &source, |_| true);
            assert_eq!(loads_in(&program, &source), walked, "loads of {name}");
            if !may_load_dynamically(&source) {
                skipped[0] += 1;
            }
            let routes = routes_walked(&program, &source);
            assert_eq!(routes_in(&program, &source), routes, "routes of {name}");
            if !may_name_router(&source) {
                assert!(routes.is_empty(), "{name}");
                skipped[1] += 1;
            }
            let cors = crate::ts::cors_walked(&program, &source);
            assert_eq!(
                crate::ts::cors_reflecting_any_origin_in(&program, &source),
                cors,
                "cors of {name}"
            );
            if !crate::ts::may_name_cors(&source) {
                assert!(cors.is_empty(), "{name}");
                skipped[2] += 1;
            }
        }
        // The corpus exercises both paths of each filter.
        assert!(parsed > 100, "{parsed} files parsed");
        for (filter, skipped) in ["loads", "routes", "cors"].iter().zip(skipped) {
            assert!(
                skipped > 10 && skipped < parsed,
                "{filter}: {skipped} of {parsed} skipped"
            );
        }
    }

    #[test]
    fn the_pre_filters_walk_files_that_may_load_register_or_call_cors() {
        for source in [
            "const x = req\\u0075ire('pg');",
            "const x = [...require('pg')];",
            "module.exports = require ('pg');",
            "const x = await import /* pg */ ('pg');",
            "const x = await import\n('pg');",
        ] {
            assert!(may_load_dynamically(source), "{source}");
        }
        for source in [
            "ctx.rbac.require('a.read');",
            "ctx.rbac\n  .require('a.read');",
            "requirePermission('a.read'); import { x } from 'y'; import.meta.url;",
            "// the module imports (nothing at run time)",
        ] {
            assert!(!may_load_dynamically(source), "{source}");
        }
        assert!(may_name_router("\\u0072outer.get('/x', h);"));
        assert!(may_name_router("\\u{72}outer.get('/x', h);"));
        assert!(may_load_dynamically("const x = re\\u{0071}uire('pg');"));
        assert!(may_load_dynamically("const x = \\u{69}mport('pg');"));
        assert!(may_load_dynamically("const x = \\u{zz}mport('pg');"));
        // Escapes of other characters spell none of the words (every adapted plugin/index.ts has
        // some, in strings and a regular expression).
        for other in ["'\\u0000'", "/[\\uD800-\\uDBFF]/", "'\\u{1F600}'"] {
            let source = format!("ctx.rbac.require('a.read'); app.get('/x', h); const s = {other};");
            assert!(!may_load_dynamically(&source), "{source}");
            assert!(!may_name_router(&source), "{source}");
            assert!(!crate::ts::may_name_cors(&source), "{source}");
        }
        assert!(!may_name_router("app.get('/x', h);"));
        assert!(crate::ts::may_name_cors("c\\u006frs({})"));
        assert!(!crate::ts::may_name_cors("app.use(json());"));
    }

    #[test]
    fn finds_routes_and_their_guards() {
        let src = "export default { async register(ctx) {\n  const r = ctx.router;\n  r.get('/health', (_q, s) => s.json({}));\n  r.get('/items', ctx.rbac.require('items.read'), h);\n  ctx.router.post(`/items`, h);\n  r.delete('/items/:id', ctx.rbac.require(perm), h);\n  const m = new Map(); m.get('/x');\n} };";
        let got = routes(src, "i.ts").unwrap();
        type Row<'a> = (&'a str, Option<&'a str>, usize, Vec<Option<String>>);
        let got: Vec<Row> = got
            .iter()
            .map(|r| (r.method.as_str(), r.path.as_deref(), r.line, r.guards.clone()))
            .collect();
        assert_eq!(
            got,
            [
                ("get", Some("/health"), 3, vec![]),
                ("get", Some("/items"), 4, vec![Some("items.read".into())]),
                ("post", Some("/items"), 5, vec![]),
                ("delete", Some("/items/:id"), 6, vec![None]),
            ]
        );
    }

    #[test]
    fn finds_loads_and_dev_only_paths() {
        let src = "import type { X } from 'express';\nimport pg from 'pg';\nif (!production) {\n  const { default: cors } = await import('cors');\n}\nconst v = await import('vite');\nconst l = require('lodash/fp');\nexport { a } from './a.js';\n";
        let got: Vec<(String, usize, LoadKind)> = loads(src, "s.ts")
            .unwrap()
            .into_iter()
            .map(|l| (l.specifier, l.line, l.kind))
            .collect();
        assert_eq!(
            got,
            [
                ("express".into(), 1, LoadKind::TypeOnly),
                ("pg".into(), 2, LoadKind::Static),
                ("./a.js".into(), 8, LoadKind::Static),
                ("cors".into(), 4, LoadKind::DevOnly),
                ("vite".into(), 6, LoadKind::Dynamic),
                ("lodash/fp".into(), 7, LoadKind::Static),
            ]
        );
        assert_eq!(package_of("@types/node/fs"), Some("@types/node".into()));
        assert_eq!(package_of("node:fs"), None);
        assert_eq!(package_of("fs"), None);
        assert_eq!(package_of("./x"), None);
        assert_eq!(package_of("smol-toml"), Some("smol-toml".into()));
    }
}
