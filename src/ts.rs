//! TypeScript analysis with a real parser (oxc), not regular expressions: comments, strings that
//! look like code, `satisfies` and `as const` are all read as TypeScript reads them.

use std::collections::BTreeMap;

use anyhow::Result;
use oxc_allocator::Allocator;
use oxc_ast::ast::{
    ArrayExpressionElement, BindingPattern, Declaration, Expression, ModuleExportName, ObjectPropertyKind,
    Program, PropertyKey, Statement,
};
use oxc_parser::Parser;
use oxc_span::SourceType;

use crate::exit::UserError;

/// The TypeScript source files under `dir` (`.ts`, `.mts`, `.cts`, `.tsx`; not `.d.ts`), sorted,
/// without hidden folders, `node_modules`, build output and the folders in `skip`.
pub fn source_files(dir: &std::path::Path, skip: &[std::path::PathBuf]) -> Vec<std::path::PathBuf> {
    source_files_and_folders(dir, skip).0
}

/// [`source_files`], and the folders it looked in.
pub(crate) fn source_files_and_folders(
    dir: &std::path::Path,
    skip: &[std::path::PathBuf],
) -> (Vec<std::path::PathBuf>, Vec<std::path::PathBuf>) {
    let mut out = Vec::new();
    let mut folders = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        folders.push(dir);
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().to_string();
            let Ok(kind) = entry.file_type() else { continue };
            if kind.is_dir() {
                if !ignored_folder(&name) && !skip.contains(&path) {
                    stack.push(path);
                }
            } else if kind.is_file() && is_source_file(&name) {
                out.push(path);
            }
        }
    }
    out.sort();
    (out, folders)
}

/// A folder [`source_files`] does not enter: hidden, `node_modules`, build output.
pub(crate) fn ignored_folder(name: &str) -> bool {
    name.starts_with('.') || ["node_modules", "dist", "build", "coverage"].contains(&name)
}

/// A TypeScript source file's name (`.ts`, `.mts`, `.cts`, `.tsx`; not `.d.ts`).
pub(crate) fn is_source_file(name: &str) -> bool {
    [".ts", ".mts", ".cts", ".tsx"].iter().any(|e| name.ends_with(e)) && !name.ends_with(".d.ts")
}

/// Deeper bracket nesting than this is refused before parsing: the parser and our visitors
/// recurse once per level, and 10,000 levels overflowed the stack (an abort, exit 134). Real code
/// stays far below; `main` also runs every command on a large stack as a second guard.
pub const MAX_NESTING: usize = 1000;

/// Parse `source` (the text of `file`, named in errors) as TypeScript.
pub(crate) fn parse<'a>(allocator: &'a Allocator, source: &'a str, file: &str) -> Result<Program<'a>> {
    parse_program(allocator, source).map_err(|failure| failure.error(file).into())
}

/// Why a file does not parse, without its name: doctor parses each file once and each check
/// names it in its own words ([`ParseFailure::error`]).
#[derive(Debug, Clone)]
pub struct ParseFailure {
    /// The 1-based line, when known.
    line: Option<usize>,
    reason: String,
    hint: &'static str,
}

impl ParseFailure {
    /// The error a reader of `file` reports.
    pub fn error(&self, file: &str) -> UserError {
        let at = self.line.map(|l| format!(":{l}")).unwrap_or_default();
        UserError::new(format!(
            "{file}{at} does not parse as TypeScript: {}",
            self.reason
        ))
        .hint(self.hint)
    }
}

/// [`parse`] with the failure unnamed.
pub(crate) fn parse_program<'a>(
    allocator: &'a Allocator,
    source: &'a str,
) -> std::result::Result<Program<'a>, ParseFailure> {
    parse_program_with(allocator, source, oxc_parser::ParseOptions::default())
}

/// [`parse_program`] with the parser's options: doctor reads names as text only, and does not
/// need the parser to hash every identifier (`enable_ident_hashes`).
pub(crate) fn parse_program_with<'a>(
    allocator: &'a Allocator,
    source: &'a str,
    options: oxc_parser::ParseOptions,
) -> std::result::Result<Program<'a>, ParseFailure> {
    if let Some(offset) = too_deep(source, MAX_NESTING) {
        return Err(ParseFailure {
            line: Some(line_at(source, offset)),
            reason: format!("brackets nest more than {MAX_NESTING} levels deep, and modkit reads no deeper"),
            hint: "flatten that expression (no hand-written module nests that deep; is it generated data? move it to a .json file)",
        });
    }
    let parsed = Parser::new(allocator, source, SourceType::ts())
        .with_options(options)
        .parse();
    if let Some(err) = parsed.diagnostics.errors().next() {
        return Err(ParseFailure {
            line: err.labels.first().map(|l| line_at(source, l.offset() as usize)),
            reason: err.message.to_string(),
            hint: "fix the syntax error (`npx tsc --noEmit` shows it too), then run again",
        });
    }
    Ok(parsed.program)
}

/// The byte offset where bracket nesting (`(`, `[`, `{`, template `${`) first exceeds `limit`, if
/// it does. Strings, comments and template text are skipped roughly; a regular expression's
/// brackets count as code, which only ever overstates an opening.
fn too_deep(source: &str, limit: usize) -> Option<usize> {
    let bytes = source.as_bytes();
    // Each level opened is one of these bytes (a template's `${` by its `{`): a file with no more
    // of them than the limit cannot nest deeper, and counting them is many times quicker than the
    // scan below (4 % of a doctor run, for files that nest a few levels).
    if openings(bytes) <= limit {
        return None;
    }
    too_deep_scanned(bytes, limit)
}

/// How many `(`, `[` and `{` a text holds.
fn openings(bytes: &[u8]) -> usize {
    count_bytes(bytes, |b| {
        u8::from(b == b'(') + u8::from(b == b'[') + u8::from(b == b'{')
    })
}

/// The sum of `each` (0 or 1) over the bytes, by blocks of 255 bytes summed into one byte each so
/// that the compiler counts many bytes at once (a plain count went byte by byte: the routes walk
/// spent most of its time counting the lines before each route).
fn count_bytes(bytes: &[u8], each: impl Fn(u8) -> u8 + Copy) -> usize {
    bytes
        .chunks(255)
        .map(|block| usize::from(block.iter().map(|&b| each(b)).sum::<u8>()))
        .sum()
}

/// [`too_deep`], scanning.
fn too_deep_scanned(bytes: &[u8], limit: usize) -> Option<usize> {
    // What each open bracket is: a plain one, or the `${` of a template literal.
    let mut stack: Vec<bool> = Vec::new();
    let mut i = 0;
    // Inside template text (after a backtick or the `}` closing a `${`)?
    let mut in_template = false;
    while i < bytes.len() {
        let b = bytes[i];
        if in_template {
            match b {
                b'\\' => i += 1,
                b'`' => in_template = false,
                b'$' if bytes.get(i + 1) == Some(&b'{') => {
                    stack.push(true);
                    if stack.len() > limit {
                        return Some(i);
                    }
                    in_template = false;
                    i += 1;
                }
                _ => {}
            }
            i += 1;
            continue;
        }
        match b {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < bytes.len() && !(bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/')) {
                    i += 1;
                }
                i += 1;
            }
            b'\'' | b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b && bytes[i] != b'\n' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'`' => in_template = true,
            b'(' | b'[' | b'{' => {
                stack.push(false);
                if stack.len() > limit {
                    return Some(i);
                }
            }
            // The `}` of a `${`: back to the template's text.
            b')' | b']' | b'}' if stack.pop() == Some(true) => in_template = true,
            _ => {}
        }
        i += 1;
    }
    None
}

/// The 1-based line of a byte offset.
pub(crate) fn line_at(source: &str, offset: usize) -> usize {
    // What `source[..offset].lines().count().max(1)` says, without splitting every line: a
    // newline ends a line, and a last line without one counts too.
    let before = &source.as_bytes()[..offset.min(source.len())];
    let newlines = count_bytes(before, |b| u8::from(b == b'\n'));
    let unterminated = usize::from(before.last().is_some_and(|&b| b != b'\n'));
    (newlines + unterminated).max(1)
}

/// The string literals of `export const <name> = [...]` (optionally `satisfies T` / `as const`).
/// `Ok(None)` when the file has no such export; an error when it exists but is not a plain array
/// of string literals, or when the file does not parse.
pub fn exported_string_array(source: &str, file: &str, name: &str) -> Result<Option<Vec<String>>> {
    let allocator = Allocator::default();
    let program = parse(&allocator, source, file)?;
    exported_string_array_in(&program, file, name)
}

/// [`exported_string_array`] of a file already parsed (one parse for several readings).
pub(crate) fn exported_string_array_in(
    program: &Program,
    file: &str,
    name: &str,
) -> Result<Option<Vec<String>>> {
    for stmt in &program.body {
        let Statement::ExportDeclaration(export) = stmt else {
            continue;
        };
        let Declaration::VariableDeclaration(decl) = &export.declaration else {
            continue;
        };
        for declarator in &decl.declarations {
            let BindingPattern::BindingIdentifier(id) = &declarator.id else {
                continue;
            };
            if id.name != name {
                continue;
            }
            let not_literal = || {
                UserError::new(format!("`export const {name}` in {file} is not an array of string literals"))
                    .hint(format!("write it as `export const {name} = ['a.read', 'a.create'] satisfies string[];` so tools can read it without running it"))
            };
            let Some(init) = &declarator.init else {
                return Err(not_literal().into());
            };
            let Expression::ArrayExpression(array) = strip_type_wrappers(init) else {
                return Err(not_literal().into());
            };
            let mut values = Vec::with_capacity(array.elements.len());
            for element in &array.elements {
                match element {
                    ArrayExpressionElement::StringLiteral(s) => values.push(s.value.to_string()),
                    _ => return Err(not_literal().into()),
                }
            }
            return Ok(Some(values));
        }
    }
    Ok(None)
}

/// How a file exports a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportSite {
    /// Declared here: `export function name`, `export const name`, `export { name }`.
    Local,
    /// Passed on from another file: `export { name } from '...'`.
    ReExport,
}

/// Where the module exports a value called `name`: `export function name`, `export const name`,
/// `export class name`, `export { name }`, `export { x as name }` or `export { name } from '...'`.
/// Type-only exports do not count: the adapter needs a value.
pub fn export_site(source: &str, file: &str, name: &str) -> Result<Option<ExportSite>> {
    let allocator = Allocator::default();
    let program = parse(&allocator, source, file)?;
    let reexported = program.body.iter().any(|stmt| {
        matches!(stmt, Statement::ExportFromDeclaration(e) if e.export_kind.is_value()
            && e.specifiers.iter().any(|s| s.export_kind.is_value() && export_name_is(&s.exported, name)))
    });
    Ok(if reexported {
        Some(ExportSite::ReExport)
    } else if exports_value(source, file, name)? {
        Some(ExportSite::Local)
    } else {
        None
    })
}

fn export_name_is(n: &ModuleExportName, name: &str) -> bool {
    match n {
        ModuleExportName::IdentifierName(i) => i.name == name,
        ModuleExportName::IdentifierReference(i) => i.name == name,
        ModuleExportName::StringLiteral(s) => s.value == name,
    }
}

/// Whether the module exports a value called `name` (see [`export_site`]).
pub fn exports_value(source: &str, file: &str, name: &str) -> Result<bool> {
    let allocator = Allocator::default();
    let program = parse(&allocator, source, file)?;
    let named = |n: &ModuleExportName| export_name_is(n, name);
    for stmt in &program.body {
        let found = match stmt {
            Statement::ExportDeclaration(export) => match &export.declaration {
                Declaration::FunctionDeclaration(f) => f.id.as_ref().is_some_and(|id| id.name == name),
                Declaration::ClassDeclaration(c) => c.id.as_ref().is_some_and(|id| id.name == name),
                Declaration::VariableDeclaration(v) => v
                    .declarations
                    .iter()
                    .any(|d| matches!(&d.id, BindingPattern::BindingIdentifier(id) if id.name == name)),
                _ => false,
            },
            Statement::ExportNamedDeclaration(export) if export.export_kind.is_value() => export
                .specifiers
                .iter()
                .any(|s| s.export_kind.is_value() && named(&s.exported)),
            Statement::ExportFromDeclaration(export) if export.export_kind.is_value() => export
                .specifiers
                .iter()
                .any(|s| s.export_kind.is_value() && named(&s.exported)),
            _ => false,
        };
        if found {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The string properties of the object literal under `key` in a top-level object: `meta` in
/// `const plugin = { meta: { id: 'items', version: '1.0.0' }, ... }` or in `export default { ... }`.
/// `Ok(None)` when there is none.
pub fn object_strings(source: &str, file: &str, key: &str) -> Result<Option<BTreeMap<String, String>>> {
    let allocator = Allocator::default();
    let program = parse(&allocator, source, file)?;
    Ok(object_strings_in(&program, key))
}

/// [`object_strings`] of a file already parsed.
pub(crate) fn object_strings_in(program: &Program, key: &str) -> Option<BTreeMap<String, String>> {
    let mut objects: Vec<&Expression> = Vec::new();
    for stmt in &program.body {
        let declaration = match stmt {
            Statement::VariableDeclaration(v) => Some(&**v),
            Statement::ExportDeclaration(e) => match &e.declaration {
                Declaration::VariableDeclaration(v) => Some(&**v),
                _ => None,
            },
            Statement::ExportDefaultDeclaration(e) => {
                if let Some(expr) = e.declaration.as_expression() {
                    objects.push(expr);
                }
                None
            }
            _ => None,
        };
        if let Some(v) = declaration {
            objects.extend(v.declarations.iter().filter_map(|d| d.init.as_ref()));
        }
    }
    for object in objects {
        let Expression::ObjectExpression(object) = strip_type_wrappers(object) else {
            continue;
        };
        for property in &object.properties {
            let ObjectPropertyKind::ObjectProperty(p) = property else {
                continue;
            };
            if p.computed || property_name(&p.key).as_deref() != Some(key) {
                continue;
            }
            let Expression::ObjectExpression(inner) = strip_type_wrappers(&p.value) else {
                continue;
            };
            let mut out = BTreeMap::new();
            for property in &inner.properties {
                if let ObjectPropertyKind::ObjectProperty(p) = property
                    && let (Some(name), Expression::StringLiteral(value)) =
                        (property_name(&p.key), strip_type_wrappers(&p.value))
                {
                    out.insert(name, value.value.to_string());
                }
            }
            return Some(out);
        }
    }
    None
}

/// The string literals of `key: [...]` in the default export's object: `export default { key: [...] }`,
/// or `export default name` where `const name = { ... }`. `Ok(None)` when absent or not literals.
#[cfg(test)]
pub fn default_export_string_array(source: &str, file: &str, key: &str) -> Result<Option<Vec<String>>> {
    let allocator = Allocator::default();
    let program = parse(&allocator, source, file)?;
    Ok(default_export_string_array_in(&program, key))
}

/// [`default_export_string_array`] of a file already parsed.
pub(crate) fn default_export_string_array_in(program: &Program, key: &str) -> Option<Vec<String>> {
    let mut default = None;
    let mut consts: Vec<(&str, &Expression)> = Vec::new();
    for stmt in &program.body {
        match stmt {
            Statement::ExportDefaultDeclaration(e) => default = e.declaration.as_expression(),
            Statement::VariableDeclaration(v) => {
                consts.extend(v.declarations.iter().filter_map(|d| match (&d.id, &d.init) {
                    (BindingPattern::BindingIdentifier(id), Some(init)) => Some((id.name.as_str(), init)),
                    _ => None,
                }))
            }
            _ => {}
        }
    }
    let object = match default.map(strip_type_wrappers) {
        Some(Expression::Identifier(id)) => consts
            .iter()
            .find(|(n, _)| *n == id.name.as_str())
            .map(|(_, e)| strip_type_wrappers(e)),
        other => other,
    };
    let Some(Expression::ObjectExpression(object)) = object else {
        return None;
    };
    for property in &object.properties {
        if let ObjectPropertyKind::ObjectProperty(p) = property
            && !p.computed
            && property_name(&p.key).as_deref() == Some(key)
            && let Expression::ArrayExpression(array) = strip_type_wrappers(&p.value)
        {
            let mut values = Vec::new();
            for element in &array.elements {
                match element {
                    ArrayExpressionElement::StringLiteral(s) => values.push(s.value.to_string()),
                    _ => return None,
                }
            }
            return Some(values);
        }
    }
    None
}

fn property_name(key: &PropertyKey) -> Option<String> {
    match key {
        PropertyKey::StaticIdentifier(id) => Some(id.name.to_string()),
        PropertyKey::StringLiteral(s) => Some(s.value.to_string()),
        _ => None,
    }
}

/// A static import or re-export: `import ... from 'x'`, `import 'x'`, `export ... from 'x'`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticImport {
    pub specifier: String,
    pub line: usize,
    /// `import type` / `export type`: erased, never loaded at run time.
    pub type_only: bool,
}

pub fn static_imports(source: &str, file: &str) -> Result<Vec<StaticImport>> {
    let allocator = Allocator::default();
    let program = parse(&allocator, source, file)?;
    Ok(static_imports_in(&program, source))
}

/// [`static_imports`] of a file already parsed.
pub(crate) fn static_imports_in(program: &Program, source: &str) -> Vec<StaticImport> {
    let mut out = Vec::new();
    for stmt in &program.body {
        let (literal, type_only) = match stmt {
            Statement::ImportDeclaration(i) => (&i.source, i.import_kind.is_type()),
            Statement::ExportFromDeclaration(e) => (&e.source, e.export_kind.is_type()),
            Statement::ExportAllDeclaration(e) => (&e.source, e.export_kind.is_type()),
            _ => continue,
        };
        out.push(StaticImport {
            specifier: literal.value.to_string(),
            line: line_at(source, literal.span.start as usize),
            type_only,
        });
    }
    out
}

/// The lines of `cors({ origin: true, credentials: true, ... })` calls: CORS that reflects any
/// origin back with credentials allowed, which lets every web page call the API as the user.
#[cfg(test)]
pub fn cors_reflecting_any_origin(source: &str, file: &str) -> Result<Vec<usize>> {
    let allocator = Allocator::default();
    let program = parse(&allocator, source, file)?;
    Ok(cors_reflecting_any_origin_in(&program, source))
}

/// [`cors_reflecting_any_origin`] of a file already parsed. A file that never names `cors` calls
/// no `cors(...)`, and its syntax tree is not walked ([`may_name_cors`]).
pub(crate) fn cors_reflecting_any_origin_in(program: &Program, source: &str) -> Vec<usize> {
    if !may_name_cors(source) {
        return Vec::new();
    }
    cors_walked(program, source)
}

/// Whether a file may hold an identifier `cors`: the word itself, or a Unicode escape that spells
/// it (`\u0063ors`).
pub(crate) fn may_name_cors(source: &str) -> bool {
    source.contains("cors") || escape_may_spell(source, "cors")
}

/// Whether a Unicode escape in the text may stand for one of `letters` (`\u0072` and `\u{72}` are
/// `r`), so that a word of them may be spelt in a way a search for the word misses. An escape of
/// another character or code (`'\u0000'` in a string, a surrogate in a regular expression) cannot
/// make such a word; `\u` followed by no hexadecimal code counts as may.
pub(crate) fn escape_may_spell(source: &str, letters: &str) -> bool {
    memchr::memmem::find_iter(source.as_bytes(), b"\\u").any(|i| {
        let rest = &source[i + 2..];
        let hex = match rest.strip_prefix('{') {
            Some(braced) => braced.split_once('}').map(|(hex, _)| hex),
            None => rest.get(..4),
        };
        match hex
            .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .map(|h| u32::from_str_radix(h, 16))
        {
            Some(Ok(code)) => char::from_u32(code).is_some_and(|c| letters.contains(c)),
            _ => true,
        }
    })
}

pub(crate) fn cors_walked(program: &Program, source: &str) -> Vec<usize> {
    use oxc_ast::ast::CallExpression;
    use oxc_ast_visit::{Visit, walk};

    struct Finder<'s> {
        source: &'s str,
        lines: Vec<usize>,
    }
    impl<'a> Visit<'a> for Finder<'_> {
        fn visit_call_expression(&mut self, call: &CallExpression<'a>) {
            let is_cors = matches!(&call.callee, Expression::Identifier(id) if id.name == "cors");
            let options = call
                .arguments
                .first()
                .and_then(|a| a.as_expression())
                .map(strip_type_wrappers);
            if is_cors && let Some(Expression::ObjectExpression(object)) = options {
                let is_true = |key: &str| {
                    object.properties.iter().any(|p| {
                        matches!(p, ObjectPropertyKind::ObjectProperty(p)
                            if property_name(&p.key).as_deref() == Some(key)
                                && matches!(strip_type_wrappers(&p.value), Expression::BooleanLiteral(b) if b.value))
                    })
                };
                if is_true("origin") && is_true("credentials") {
                    self.lines.push(line_at(self.source, call.span.start as usize));
                }
            }
            walk::walk_call_expression(self, call);
        }
    }
    let mut finder = Finder {
        source,
        lines: Vec::new(),
    };
    finder.visit_program(program);
    finder.lines
}

/// `x satisfies T`, `x as const`, `(x)` -> `x`
fn strip_type_wrappers<'a, 'b>(expr: &'b Expression<'a>) -> &'b Expression<'a> {
    match expr {
        Expression::TSSatisfiesExpression(e) => strip_type_wrappers(&e.expression),
        Expression::TSAsExpression(e) => strip_type_wrappers(&e.expression),
        Expression::ParenthesizedExpression(e) => strip_type_wrappers(&e.expression),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_at_counts_lines_as_lines_does() {
        let text = "a\n\nb\r\ncd\n";
        for offset in 0..=text.len() {
            assert_eq!(
                line_at(text, offset),
                text[..offset].lines().count().max(1),
                "{offset}"
            );
        }
    }

    #[test]
    fn nesting_depth_skips_strings_comments_and_template_text() {
        let deep = format!("x = {}{};", "[".repeat(11), "]".repeat(11));
        assert_eq!(too_deep(&deep, 10), Some(14));
        assert_eq!(too_deep(&deep, 11), None);
        let hidden = "a = '((((((((((((' + \"[[[[[[[[[[[[\" // {{{{{{{{{{{{\n/* (((((((((((( */ `${f(`((((((((((((`)}`;";
        assert_eq!(too_deep(hidden, 3), None);
        assert!(too_deep("`${`${`${`${1}`}`}`}`", 3).is_some());
    }

    /// The count that spares most files the scan answers as the scan: on every fixture and
    /// template file and the cases above, at every limit from 0 to past the file's brackets.
    #[test]
    fn nesting_depth_counted_first_answers_as_the_scan() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut sources: Vec<String> = ["tests/fixtures", "templates"]
            .iter()
            .flat_map(|dir| source_files(&root.join(dir), &[]))
            .filter_map(|f| std::fs::read_to_string(f).ok())
            .collect();
        assert!(sources.len() > 100, "the fixtures are missing");
        sources.extend(
            [
                "x = [[[[[[[[[[[]]]]]]]]]]];",
                "a = '((((' + \"[[[[\" // {{{{\n/* (((( */ `${f(`((((`)}`;",
                "`${`${`${`${1}`}`}`}`",
                "f(a)(b)(c)(d)(e);",
            ]
            .map(str::to_string),
        );
        let (mut counted, mut scanned) = (0, 0);
        for source in &sources {
            let brackets = source.bytes().filter(|b| b"([{".contains(b)).count();
            assert_eq!(openings(source.as_bytes()), brackets);
            for limit in (0..=brackets + 1)
                .step_by(brackets.div_ceil(40).max(1))
                .chain([brackets])
            {
                let scan = too_deep_scanned(source.as_bytes(), limit);
                assert_eq!(too_deep(source, limit), scan, "limit {limit}: {source:.80}");
                if limit >= brackets {
                    counted += 1;
                } else {
                    scanned += 1;
                }
            }
        }
        assert!(
            counted > 100 && scanned > 100,
            "{counted} counted, {scanned} scanned"
        );
    }

    #[test]
    fn reads_permissions_like_typescript_does() {
        let src = r#"
            // export const permissions = ['commented.out'];
            const s = "export const permissions = ['in.a.string']";
            export const permissions = [
              'items.read', "items.create", // trailing comment
              'items.update', 'items.delete',
            ] satisfies string[];
        "#;
        let got = exported_string_array(src, "index.ts", "permissions")
            .unwrap()
            .unwrap();
        assert_eq!(
            got,
            ["items.read", "items.create", "items.update", "items.delete"]
        );
        let as_const = "export const permissions = ['a.read'] as const;";
        assert_eq!(
            exported_string_array(as_const, "x.ts", "permissions")
                .unwrap()
                .unwrap(),
            ["a.read"]
        );
    }

    #[test]
    fn absent_computed_and_broken() {
        assert!(
            exported_string_array("export const other = [];", "x.ts", "permissions")
                .unwrap()
                .is_none()
        );
        assert!(exported_string_array("export const permissions = make();", "x.ts", "permissions").is_err());
        assert!(
            exported_string_array("export const permissions = ['a', b];", "x.ts", "permissions").is_err()
        );
        let err = exported_string_array("export const = [;", "x.ts", "permissions").unwrap_err();
        assert!(err.to_string().contains("x.ts:1"), "{err}");
    }

    #[test]
    fn finds_value_exports_of_every_shape() {
        let cases = [
            ("export async function withTenantTx() {}", true),
            ("export const withTenantTx = async () => {};", true),
            ("const impl = 1; export { impl as withTenantTx };", true),
            ("export { withTenantTx } from './tx.js';", true),
            ("function withTenantTx() {}\nexport { withTenantTx };", true),
            ("export type withTenantTx = () => void;", false),
            ("export type { withTenantTx } from './tx.js';", false),
            (
                "// export function withTenantTx() {}\nexport function other() {}",
                false,
            ),
            ("const s = 'export function withTenantTx() {}';", false),
        ];
        for (src, expected) in cases {
            assert_eq!(
                exports_value(src, "x.ts", "withTenantTx").unwrap(),
                expected,
                "{src}"
            );
        }
    }

    #[test]
    fn reads_the_plugin_meta_and_the_imports() {
        let src = r#"
            import type { Plugin } from './context.js';
            import express from 'express';
            export { helper } from "../outside/helper.js";
            const plugin = {
              meta: { id: 'items', "version": '1.2.0', api: '1.x', count: 3 },
              async register() {},
            } satisfies Plugin;
            export default plugin;
        "#;
        let meta = object_strings(src, "index.ts", "meta").unwrap().unwrap();
        assert_eq!(meta.get("id").map(String::as_str), Some("items"));
        assert_eq!(meta.get("version").map(String::as_str), Some("1.2.0"));
        assert_eq!(meta.get("api").map(String::as_str), Some("1.x"));
        assert!(!meta.contains_key("count"));
        let inline = "export default { meta: { id: 'x' } };";
        assert_eq!(
            object_strings(inline, "i.ts", "meta").unwrap().unwrap()["id"],
            "x"
        );
        assert!(object_strings("const a = 1;", "i.ts", "meta").unwrap().is_none());

        let imports = static_imports(src, "index.ts").unwrap();
        let got: Vec<(&str, usize, bool)> = imports
            .iter()
            .map(|i| (i.specifier.as_str(), i.line, i.type_only))
            .collect();
        assert_eq!(
            got,
            [
                ("./context.js", 2, true),
                ("express", 3, false),
                ("../outside/helper.js", 4, false)
            ]
        );
    }

    #[test]
    fn finds_cors_that_reflects_every_origin_with_credentials() {
        let src = "import cors from 'cors';\nif (dev) {\n  app.use(cors({ origin: true, credentials: true }));\n}\napp.use(cors({ origin: (o, cb) => cb(null, ok(o)), credentials: true }));\napp.use(cors({ origin: true }));\n";
        assert_eq!(cors_reflecting_any_origin(src, "server.ts").unwrap(), [3]);
    }

    #[test]
    fn reads_an_array_of_the_default_export() {
        let inline = "export default { id: 'items', permissions: ['items.read', \"items.create\"] };";
        assert_eq!(
            default_export_string_array(inline, "m.ts", "permissions")
                .unwrap()
                .unwrap(),
            ["items.read", "items.create"]
        );
        let named = "const config = { permissions: ['a.read'] } satisfies Config;\nexport default config;";
        assert_eq!(
            default_export_string_array(named, "m.ts", "permissions")
                .unwrap()
                .unwrap(),
            ["a.read"]
        );
        assert!(
            default_export_string_array("export default {};", "m.ts", "permissions")
                .unwrap()
                .is_none()
        );
    }
}
