//! TypeScript analysis with a real parser (oxc), not regular expressions: comments, strings that
//! look like code, `satisfies` and `as const` are all read as TypeScript reads them.

use anyhow::Result;
use oxc_allocator::Allocator;
use oxc_ast::ast::{ArrayExpressionElement, BindingPattern, Declaration, Expression, Statement};
use oxc_parser::Parser;
use oxc_span::SourceType;

use crate::exit::UserError;

/// The string literals of `export const <name> = [...]` (optionally `satisfies T` / `as const`).
/// `Ok(None)` when the file has no such export; an error when it exists but is not a plain array
/// of string literals, or when the file does not parse.
pub fn exported_string_array(source: &str, file: &str, name: &str) -> Result<Option<Vec<String>>> {
    let allocator = Allocator::default();
    let parsed = Parser::new(&allocator, source, SourceType::ts()).parse();
    if let Some(err) = parsed.diagnostics.errors().next() {
        let line = err.labels.first().map(|l| {
            source[..(l.offset() as usize).min(source.len())]
                .lines()
                .count()
                .max(1)
        });
        let at = line.map(|l| format!(":{l}")).unwrap_or_default();
        return Err(UserError::new(format!(
            "{file}{at} does not parse as TypeScript: {}",
            err.message
        ))
        .hint("fix the syntax error (`npx tsc --noEmit` shows it too), then run again")
        .into());
    }
    for stmt in &parsed.program.body {
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
}
