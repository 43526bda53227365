//! Whether two TypeScript sources are the same code whatever their formatting: their syntax trees
//! compared without positions, comments, quote style, parentheses or the raw spelling of literals
//! (oxc's `ContentEq`). A formatter run over files modkit wrote (Prettier, Biome) is not an edit.

use oxc_allocator::Allocator;
use oxc_parser::{ParseOptions, Parser};
use oxc_span::{ContentEq, SourceType};

/// Files this applies to: what the parser reads as TypeScript.
pub fn applies_to(path: &str) -> bool {
    [".ts", ".mts", ".cts"].iter().any(|e| path.ends_with(e)) && !path.ends_with(".d.ts")
}

/// `a` and `b` parse, and to the same tree.
pub fn same_code(a: &str, b: &str) -> bool {
    let (one, two) = (Allocator::default(), Allocator::default());
    let options = ParseOptions {
        preserve_parens: false,
        ..ParseOptions::default()
    };
    let parse = |allocator, source| {
        let parsed = Parser::new(allocator, source, SourceType::ts())
            .with_options(options)
            .parse();
        (!parsed.panicked && parsed.diagnostics.errors().next().is_none()).then_some(parsed.program)
    };
    match (parse(&one, a), parse(&two, b)) {
        (Some(x), Some(y)) => x.directives.content_eq(&y.directives) && x.body.content_eq(&y.body),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_is_not_a_change_but_code_is() {
        let ours = "import { a } from './a.js';\nexport const f = (x: string) => a(x, 'y')\n";
        let biome = "import { a } from \"./a.js\";\n\n// formatted\nexport const f = (x: string) =>\n  a(\n    x,\n    \"y\",\n  );\n";
        assert!(same_code(ours, biome));
        assert!(same_code("const x = (1 + 2);", "const x = 1 + 2"));
        assert!(!same_code(ours, &ours.replace("'y'", "'z'")));
        assert!(!same_code(ours, &ours.replace("(x, ", "(x, 1, ")));
        assert!(!same_code("const x = 1;", "const x = 1 +"));
        assert!(applies_to("src/a.ts") && !applies_to("src/a.d.ts") && !applies_to("m/0001.sql"));
    }
}
