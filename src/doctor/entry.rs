//! Where the server starts: the source files the real entry points name, for "what production
//! runs". Read from package.json's `start` script (followed through `npm run <script>`), the build
//! tool's entry (tsup's `entry`, an `esbuild <file>` script, nx's project.json `main`) and `main`.
//! A file in the compiled output is mapped back to its source (`outDir` -> `rootDir`), so that a
//! built `dist/` changes nothing.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{Target, normalize, resolve_relative};
use crate::tsconfig;

/// The scripts whose commands name what production runs.
const SCRIPTS: [&str; 3] = ["start", "start:prod", "serve"];

/// Commands whose path arguments are what runs.
const RUNTIMES: [&str; 10] = [
    "node",
    "ts-node",
    "ts-node-dev",
    "tsx",
    "nodemon",
    "node-dev",
    "bun",
    "pm2",
    "pm2-runtime",
    "esbuild",
];

/// The source files the entries name (folders: every source file in them), sorted, deduplicated.
pub fn entries(target: &Target) -> Vec<PathBuf> {
    let server = &target.server;
    let Ok(package) = crate::foundation::read_package_json(server) else {
        return Vec::new();
    };
    let scripts = package.get("scripts").and_then(Value::as_object);
    // The start scripts' commands, and the build's (whose only entries are its tool's: a
    // `ts-node copyStaticAssets.ts` step is not the server).
    let mut commands = Vec::new();
    for name in SCRIPTS {
        expand(scripts, name, 0, &mut commands);
    }
    let mut build = Vec::new();
    expand(scripts, "build", 0, &mut build);
    let build_only: Vec<String> = build.into_iter().filter(|c| !commands.contains(c)).collect();
    let mut build_tokens: Vec<String> = Vec::new();
    for command in &build_only {
        for segment in command.split(['&', '|', ';']) {
            let words: Vec<&str> = segment.split_whitespace().collect();
            if words.iter().any(|w| w.rsplit('/').next() == Some("esbuild")) {
                tokens_of_esbuild(&words, &mut build_tokens);
            }
        }
    }
    let outputs = outputs(target);
    let mut tokens: Vec<String> = Vec::new();
    for command in commands.iter().chain(&build_only) {
        for segment in command.split(['&', '|', ';']) {
            let words: Vec<&str> = segment.split_whitespace().collect();
            let tool = words.iter().position(|w| {
                let w = w.rsplit('/').next().unwrap_or(w);
                ["tsup", "esbuild", "nx"].contains(&w)
            });
            match tool.map(|i| (words[i].rsplit('/').next().unwrap_or_default(), i)) {
                Some(("tsup", _)) => tokens.extend(tsup_entries(server, &package)),
                Some(("nx", _)) => tokens.extend(nx_entries(server)),
                _ => {}
            }
            // Arguments that name files or folders, where a runtime (or esbuild) takes them:
            // `node -r ./config.js ./dist`, `tsx watch src/index.ts`, `esbuild src/index.ts`. Other
            // steps (`ts-node copyStaticAssets.ts` is a runtime too, but under `build`, see below).
            let runtime = words.iter().any(|w| {
                let w = w.rsplit('/').next().unwrap_or(w);
                RUNTIMES.contains(&w)
            });
            if runtime && !build_only.contains(command) {
                tokens.extend(
                    words
                        .iter()
                        .filter(|w| !w.starts_with('-') && !w.contains('='))
                        .map(|w| w.trim_matches(['"', '\'']).to_string())
                        .filter(|w| looks_like_path(w)),
                );
            }
        }
    }
    tokens.extend(build_tokens);
    if let Some(main) = package.get("main").and_then(Value::as_str) {
        tokens.push(main.to_string());
    }
    let mut out: Vec<PathBuf> = Vec::new();
    for token in tokens {
        let negated = token.starts_with('!');
        if negated || token.contains('*') {
            continue;
        }
        for file in source_of(server, &token, &outputs) {
            if !out.contains(&file) {
                out.push(file);
            }
        }
    }
    out.sort();
    out
}

/// `npm run build` -> the `build` script's command, recursively (at most 5 deep).
fn expand(scripts: Option<&serde_json::Map<String, Value>>, name: &str, depth: usize, out: &mut Vec<String>) {
    let Some(command) = scripts.and_then(|s| s.get(name)).and_then(Value::as_str) else {
        return;
    };
    if depth > 5 || out.iter().any(|c| c == command) {
        return;
    }
    out.push(command.to_string());
    for segment in command.split(['&', '|', ';']) {
        let words: Vec<&str> = segment.split_whitespace().collect();
        for (i, w) in words.iter().enumerate() {
            let runner = ["npm", "yarn", "pnpm", "bun"].contains(w);
            if !runner {
                continue;
            }
            let next = words.get(i + 1).copied().unwrap_or_default();
            let script = match next {
                "run" | "run-script" => words.get(i + 2).copied(),
                "start" => Some("start"),
                s if *w != "npm" && !s.is_empty() => Some(s),
                _ => None,
            };
            if let Some(script) = script {
                expand(scripts, script, depth + 1, out);
            }
        }
    }
}

/// `esbuild src/index.ts --bundle ...`: its entry arguments.
fn tokens_of_esbuild(words: &[&str], out: &mut Vec<String>) {
    let at = words
        .iter()
        .position(|w| w.rsplit('/').next() == Some("esbuild"))
        .unwrap_or(0);
    out.extend(
        words[at + 1..]
            .iter()
            .filter(|w| !w.starts_with('-'))
            .map(|w| w.trim_matches(['"', '\'']).to_string())
            .filter(|w| looks_like_path(w)),
    );
}

fn looks_like_path(word: &str) -> bool {
    let exts = [".ts", ".mts", ".cts", ".tsx", ".js", ".mjs", ".cjs"];
    word.starts_with("./") || exts.iter().any(|e| word.ends_with(e)) || word == "dist" || word == "src"
}

/// Compiled output folders and the source folder each mirrors: (outDir, rootDir), from every
/// tsconfig*.json of the server and the projects the server's tsconfig references. Without
/// `rootDir`, TypeScript uses the common folder of the inputs: `src/` when there is one.
fn outputs(target: &Target) -> Vec<(PathBuf, PathBuf)> {
    let mut configs: Vec<PathBuf> = vec![target.tsconfig.clone()];
    if let Ok(entries) = std::fs::read_dir(&target.server) {
        let mut found: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                let name = p.file_name().unwrap_or_default().to_string_lossy();
                name.starts_with("tsconfig") && name.ends_with(".json")
            })
            .collect();
        found.sort();
        configs.extend(found);
    }
    let mut out = Vec::new();
    for config in configs {
        let Ok(projects) = tsconfig::load_project(&config) else {
            continue;
        };
        for (file, options) in projects {
            let Some(out_dir) = options.out_dir else { continue };
            let dir = file.parent().unwrap_or(Path::new(".")).to_path_buf();
            let root = options.root_dir.unwrap_or_else(|| {
                if dir.join("src").is_dir() {
                    dir.join("src")
                } else {
                    dir
                }
            });
            if !out.contains(&(out_dir.clone(), root.clone())) {
                out.push((out_dir, root));
            }
        }
    }
    out
}

/// The source files an entry names: itself when it is a source, else its source through
/// `outDir` -> `rootDir` (or, when no tsconfig says, `dist/` -> `src/`); a folder is its
/// `index`, or, named as a build entry (`tsup src`), every source file in it.
fn source_of(server: &Path, token: &str, outputs: &[(PathBuf, PathBuf)]) -> Vec<PathBuf> {
    let path = normalize(&server.join(token));
    if !path.starts_with(server) {
        return Vec::new();
    }
    let mut candidates = Vec::new();
    for (out_dir, root) in outputs {
        if let Ok(rest) = path.strip_prefix(out_dir) {
            candidates.push(root.join(rest));
            // `outDir: dist` with rootDir `.`: dist/src/server.js.
            candidates.push(out_dir.parent().unwrap_or(server).join(rest));
        }
    }
    if let Ok(rest) = path.strip_prefix(server)
        && let Some(first) = rest.components().next()
        && ["dist", "build", "out", "lib"].contains(&first.as_os_str().to_string_lossy().as_ref())
    {
        let rest: PathBuf = rest.components().skip(1).collect();
        candidates.push(server.join("src").join(rest));
    }
    candidates.push(path.clone());
    for candidate in candidates {
        let text = candidate.to_string_lossy().to_string();
        let in_output = outputs.iter().any(|(o, _)| candidate.starts_with(o));
        if in_output {
            continue;
        }
        if candidate.is_dir() {
            if let Some(index) = resolve_relative(&candidate, "./index") {
                return vec![index];
            }
            // A build tool's folder entry: everything in it.
            return crate::ts::source_files(&candidate, &[]);
        }
        if let Some(file) = resolve_relative(Path::new("/"), &text)
            && !outputs.iter().any(|(o, _)| file.starts_with(o))
        {
            return vec![file];
        }
    }
    Vec::new()
}

/// tsup's `entry`: in package.json's `tsup` key, or a tsup.config.* file (its quoted strings in
/// `entry: [...]` or `entry: { ... }`).
fn tsup_entries(server: &Path, package: &serde_json::Map<String, Value>) -> Vec<String> {
    if let Some(entry) = package.get("tsup").and_then(|t| t.get("entry")) {
        return strings_in(entry);
    }
    for name in [
        "tsup.config.ts",
        "tsup.config.mts",
        "tsup.config.js",
        "tsup.config.mjs",
        "tsup.config.cjs",
        "tsup.config.json",
    ] {
        let Ok(text) = std::fs::read_to_string(server.join(name)) else {
            continue;
        };
        let Some(at) = text.find("entry") else { continue };
        let rest = &text[at..];
        let end = rest.find([']', '}']).unwrap_or(rest.len());
        return rest[..end]
            .split(['"', '\''])
            .skip(1)
            .step_by(2)
            .map(String::from)
            .collect();
    }
    Vec::new()
}

/// nx: each project.json (at the server's root and under apps/) names its entry as a target's
/// `options.main`.
fn nx_entries(server: &Path) -> Vec<String> {
    let mut files = vec![server.join("project.json")];
    if let Ok(apps) = std::fs::read_dir(server.join("apps")) {
        files.extend(apps.flatten().map(|a| a.path().join("project.json")));
    }
    let mut out = Vec::new();
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let Ok(project) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        let Some(targets) = project.get("targets").and_then(Value::as_object) else {
            continue;
        };
        for t in targets.values() {
            if let Some(main) = t
                .get("options")
                .and_then(|o| o.get("main"))
                .and_then(Value::as_str)
            {
                // project.json paths are relative to the workspace root.
                out.push(main.to_string());
            }
        }
    }
    out
}

fn strings_in(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().flat_map(strings_in).collect(),
        Value::Object(o) => o.values().flat_map(strings_in).collect(),
        _ => Vec::new(),
    }
}
