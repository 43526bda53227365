//! The code's imports go one way: commands are leaves that nothing imports, and no two files of
//! `src/` need each other (directly or round a longer circle). A circle makes each of its files
//! harder to change alone; the sandbox's bootstrap.ts ↔ localdb.ts circle once deadlocked the first
//! `npm run bootstrap` of every fresh project.
//!
//! The graph is read from the source text: every `use crate::…`/`use super::…` tree and every
//! inline `crate::…`/`super::…` path, resolved to the file that defines the longest module prefix.
//! A file naming one of its own ancestor modules (`super::Kind` from a child, a shared type in a
//! `mod.rs`) is not an edge: a parent owns its children.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file of `src/` by its module path (`[]` for main.rs, `["db", "url"]` for db/url.rs).
fn modules(src: &Path) -> BTreeMap<Vec<String>, PathBuf> {
    let mut found = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src/") {
            let path = entry.expect("read src/ entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(src).expect("under src/");
            let mut parts: Vec<String> = relative
                .iter()
                .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
                .collect();
            if matches!(parts.last().map(String::as_str), Some("mod" | "main")) {
                parts.pop();
            }
            found.insert(parts, path);
        }
    }
    found
}

/// The file's text without comments and without its `#[cfg(test)]` tail (where `super::` means the
/// file itself).
fn code_of(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("read a source file");
    let text = match text.find("#[cfg(test)]") {
        Some(at) => &text[..at],
        None => &text[..],
    };
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) if !line[..at].contains('"') => &line[..at],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Expands one use tree (`a::{b, c::{d, e}}`) into its paths.
fn expand_use(tree: &str) -> Vec<Vec<String>> {
    fn split_top(list: &str) -> Vec<&str> {
        let (mut depth, mut start, mut out) = (0, 0, Vec::new());
        for (i, c) in list.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    out.push(&list[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        out.push(&list[start..]);
        out
    }
    let tree: String = tree.chars().filter(|c| !c.is_whitespace() || *c == ' ').collect();
    let tree = tree.trim();
    if let Some(open) = tree.find('{') {
        let prefix: Vec<String> = tree[..open]
            .split("::")
            .filter(|s| !s.is_empty())
            .map(|s| s.trim().to_string())
            .collect();
        let close = tree.rfind('}').filter(|c| *c > open).unwrap_or(tree.len());
        let inner = &tree[open + 1..close];
        let mut out = Vec::new();
        for item in split_top(inner) {
            for rest in expand_use(item) {
                let mut path = prefix.clone();
                path.extend(rest.into_iter().filter(|s| s != "self"));
                out.push(path);
            }
        }
        out
    } else {
        let tree = tree.split(" as ").next().unwrap_or(tree);
        vec![
            tree.split("::")
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty() && s != "*")
                .collect(),
        ]
    }
}

/// Every module path the code names: use trees and inline `crate::`/`super::` paths.
fn named_paths(code: &str) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    // Use declarations start a line (after `pub`/`pub(crate)`); prose in strings does not.
    let mut offset = 0;
    for line in code.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let body = ["use ", "pub use ", "pub(crate) use ", "pub(super) use "]
            .iter()
            .find_map(|p| trimmed.strip_prefix(p));
        if let Some(body) = body {
            let start = offset + (line.len() - body.len());
            let end = code[start..].find(';').map_or(code.len(), |e| start + e);
            paths.extend(expand_use(&code[start..end]));
        }
        offset += line.len();
    }
    for start in ["crate::", "super::"] {
        let mut rest = code;
        while let Some(at) = rest.find(start) {
            let before = rest[..at].chars().next_back();
            let tail = &rest[at..];
            let len = tail
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(tail.len());
            if !before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                paths.push(
                    tail[..len]
                        .split("::")
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect(),
                );
            }
            rest = &rest[at + start.len()..];
        }
    }
    paths
}

/// The files each file depends on, ancestors left out.
fn graph(src: &Path) -> BTreeMap<PathBuf, BTreeSet<PathBuf>> {
    let modules = modules(src);
    let mut edges = BTreeMap::new();
    for (module, file) in &modules {
        let mut targets = BTreeSet::new();
        for path in named_paths(&code_of(file)) {
            // Resolve crate:: and super:: to an absolute module path.
            let mut absolute: Vec<String> = Vec::new();
            let mut segments = path.iter().peekable();
            match segments.peek().map(|s| s.as_str()) {
                Some("crate") => {
                    segments.next();
                }
                Some("super") => {
                    absolute = module.clone();
                    while segments.peek().map(|s| s.as_str()) == Some("super") {
                        segments.next();
                        absolute.pop();
                    }
                }
                _ => continue,
            }
            absolute.extend(segments.cloned());
            // The longest prefix that is a file.
            let target = (0..=absolute.len())
                .rev()
                .find_map(|n| modules.get(&absolute[..n]).map(|f| (n, f)));
            let Some((n, target)) = target else { continue };
            let is_ancestor = n <= module.len() && module[..n] == absolute[..n];
            if target != file && !is_ancestor {
                targets.insert(target.strip_prefix(src).expect("under src/").to_path_buf());
            }
        }
        edges.insert(file.strip_prefix(src).expect("under src/").to_path_buf(), targets);
    }
    edges
}

/// The strongly connected components of more than one file (Tarjan).
fn circles(edges: &BTreeMap<PathBuf, BTreeSet<PathBuf>>) -> Vec<Vec<PathBuf>> {
    struct State<'a> {
        edges: &'a BTreeMap<PathBuf, BTreeSet<PathBuf>>,
        index: BTreeMap<&'a PathBuf, usize>,
        low: BTreeMap<&'a PathBuf, usize>,
        stack: Vec<&'a PathBuf>,
        on_stack: BTreeSet<&'a PathBuf>,
        found: Vec<Vec<PathBuf>>,
    }
    fn visit<'a>(s: &mut State<'a>, node: &'a PathBuf) {
        let i = s.index.len();
        s.index.insert(node, i);
        s.low.insert(node, i);
        s.stack.push(node);
        s.on_stack.insert(node);
        let edges = s.edges;
        for next in edges.get(node).into_iter().flatten() {
            if !s.index.contains_key(next) {
                visit(s, next);
                let low = s.low[node].min(s.low[next]);
                s.low.insert(node, low);
            } else if s.on_stack.contains(next) {
                let low = s.low[node].min(s.index[next]);
                s.low.insert(node, low);
            }
        }
        if s.low[node] == s.index[node] {
            let mut component = Vec::new();
            while let Some(top) = s.stack.pop() {
                s.on_stack.remove(top);
                component.push(top.clone());
                if top == node {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut state = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for node in edges.keys() {
        if !state.index.contains_key(node) {
            visit(&mut state, node);
        }
    }
    state.found
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn nothing_imports_a_command() {
    let upward: Vec<String> = graph(&src())
        .into_iter()
        .filter(|(file, _)| file != Path::new("main.rs") && file != Path::new("commands/mod.rs"))
        .flat_map(|(file, targets)| {
            targets
                .into_iter()
                .filter(|t| t.starts_with("commands") && t != Path::new("commands/mod.rs"))
                .map(move |t| format!("src/{} -> src/{}", file.display(), t.display()))
        })
        .collect();
    assert!(
        upward.is_empty(),
        "a command is imported (commands are leaves: move the shared piece into an engine):\n{}",
        upward.join("\n")
    );
}

#[test]
fn no_two_source_files_need_each_other() {
    let found = circles(&graph(&src()));
    let text: Vec<String> = found
        .iter()
        .map(|c| {
            c.iter()
                .map(|f| format!("src/{}", f.display()))
                .collect::<Vec<_>>()
                .join(" <-> ")
        })
        .collect();
    assert!(
        found.is_empty(),
        "import circles in src/ (move what both need into a module below them):\n{}",
        text.join("\n")
    );
}

/// The checker itself finds a circle and an upward import (so the two tests above can fail).
#[test]
fn the_layer_check_sees_a_circle_and_an_upward_import() {
    let dir = tempfile::tempdir().expect("temp dir");
    let src = dir.path();
    std::fs::create_dir_all(src.join("commands")).expect("mkdir");
    std::fs::create_dir_all(src.join("db")).expect("mkdir");
    std::fs::write(src.join("main.rs"), "mod commands;\nmod db;\nmod render;\n").expect("write");
    std::fs::write(src.join("commands/mod.rs"), "pub mod init;\n").expect("write");
    std::fs::write(src.join("commands/init.rs"), "use crate::render::page;\n").expect("write");
    std::fs::write(
        src.join("render.rs"),
        "pub fn page() { crate::commands::init::x(); }\n",
    )
    .expect("write");
    std::fs::write(src.join("db/mod.rs"), "mod a;\nmod b;\n").expect("write");
    std::fs::write(src.join("db/a.rs"), "use super::b::{self, B};\n").expect("write");
    std::fs::write(
        src.join("db/b.rs"),
        "use crate::db::{a::A};\nuse super::Parent;\n",
    )
    .expect("write");
    let edges = graph(src);
    assert!(edges[Path::new("render.rs")].contains(Path::new("commands/init.rs")));
    let mut found = circles(&edges);
    found.sort();
    assert_eq!(
        found,
        vec![
            vec![PathBuf::from("commands/init.rs"), PathBuf::from("render.rs")],
            vec![PathBuf::from("db/a.rs"), PathBuf::from("db/b.rs")],
        ]
    );
    // A child naming its parent is no edge.
    assert!(!edges[Path::new("db/b.rs")].contains(Path::new("db/mod.rs")));
}
