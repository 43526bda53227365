"use strict";
// The postinstall (npm/modkit/lib/install.js) on node's own test runner, in a node_modules laid
// out as npm lays it: the launcher package and this machine's platform package. The "binary" is
// node itself, and the packages' version node's own (`node --version` answers it), so that the
// check the postinstall makes before swapping runs a real program.
const test = require("node:test");
const assert = require("node:assert");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { spawnSync } = require("node:child_process");

const { keepLauncher, replaceBin } = require("../modkit/lib/install");
const { candidates } = require("../modkit/lib/launcher");

const source = path.join(__dirname, "..", "modkit");
const unix = process.platform !== "win32";

/** node_modules/modkit (a copy of npm/modkit at `version`) and, unless `platformVersion` is null,
 * node_modules/@modkit/cli-<this machine> at that version holding node as its binary. */
function installed(version, platformVersion) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "modkit-install-"));
  const pkg = path.join(root, "node_modules", "modkit");
  fs.cpSync(source, pkg, { recursive: true });
  const manifest = JSON.parse(fs.readFileSync(path.join(pkg, "package.json"), "utf8"));
  fs.writeFileSync(path.join(pkg, "package.json"), JSON.stringify({ ...manifest, version }));
  if (platformVersion !== null) {
    const key = candidates()[0];
    const dir = path.join(root, "node_modules", "@modkit", `cli-${key}`);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: `@modkit/cli-${key}`, version: platformVersion }));
    fs.copyFileSync(process.execPath, path.join(dir, "modkit"));
    fs.chmodSync(path.join(dir, "modkit"), 0o755);
  }
  return { pkg, bin: path.join(pkg, "bin", "modkit.js") };
}

/** Runs the postinstall as npm does: `node lib/install.js` in the package's folder, with npm's
 * user agent (or the one in `env`). */
function postinstall(pkg, env = {}) {
  const asNpm = { npm_config_user_agent: "npm/11.6.2 node/v20.20.2 linux x64 workspaces/false" };
  const r = spawnSync(process.execPath, ["lib/install.js"], { cwd: pkg, env: { ...process.env, ...asNpm, ...env }, encoding: "utf8" });
  assert.strictEqual(r.status, 0, `the postinstall must never fail an install:\n${r.stderr}`);
}

const isLauncher = (bin) => fs.readFileSync(bin, "utf8").startsWith("#!/usr/bin/env node");

test("the launcher stays on Windows, under any package manager but npm and when asked; npm on Unix may swap", () => {
  const npm = { npm_config_user_agent: "npm/11.0.0 node/v20.0.0 linux x64 workspaces/false" };
  assert.match(keepLauncher({ env: npm, platform: "win32" }), /Windows/);
  assert.match(keepLauncher({ env: { npm_config_user_agent: "yarn/1.22.22 npm/? node/v20.0.0 linux x64" }, platform: "linux" }), /^yarn /);
  assert.match(keepLauncher({ env: { npm_config_user_agent: "pnpm/10.34.9 npm/? node/v20.20.2 linux x64" }, platform: "linux" }), /^pnpm /);
  assert.match(keepLauncher({ env: { npm_config_user_agent: "bun/1.2.0 npm/? node/v24.3.0 linux x64" }, platform: "darwin" }), /^bun /);
  assert.match(keepLauncher({ env: {}, platform: "linux" }), /unknown package manager/);
  assert.match(keepLauncher({ env: { ...npm, MODKIT_NPM_KEEP_LAUNCHER: "1" }, platform: "darwin" }), /KEEP_LAUNCHER/);
  assert.strictEqual(keepLauncher({ env: npm, platform: "linux" }), null);
});

test("under pnpm (its shim runs node on bin/modkit.js) the launcher stays", () => {
  const { pkg, bin } = installed(process.version, process.version);
  postinstall(pkg, { npm_config_user_agent: "pnpm/10.34.9 npm/? node/v20.20.2 linux x64" });
  assert.ok(isLauncher(bin));
});

test("installed with its platform package, the bin becomes the binary itself", { skip: !unix }, () => {
  const { pkg, bin } = installed(process.version, process.version);
  postinstall(pkg);
  assert.ok(!isLauncher(bin), "bin/modkit.js is still the JS launcher");
  const r = spawnSync(bin, ["-e", "process.stdout.write('ran natively')"], { encoding: "utf8" });
  assert.strictEqual(r.stdout, "ran natively", r.stderr);
  assert.ok((fs.statSync(bin).mode & 0o111) !== 0);
  // Run again (npm rebuild): still the binary, nothing left beside it.
  postinstall(pkg);
  assert.ok(!isLauncher(bin));
  assert.deepStrictEqual(fs.readdirSync(path.dirname(bin)), ["modkit.js"]);
});

test("without its platform package (--omit=optional) the launcher stays, to say what is missing", () => {
  const { pkg, bin } = installed(process.version, null);
  postinstall(pkg);
  assert.ok(isLauncher(bin));
});

test("a platform package of another version: the launcher stays, to refuse it at run time", () => {
  const { pkg, bin } = installed(process.version, "0.0.1");
  postinstall(pkg);
  assert.ok(isLauncher(bin));
});

test("MODKIT_NPM_KEEP_LAUNCHER=1 keeps the launcher", () => {
  const { pkg, bin } = installed(process.version, process.version);
  postinstall(pkg, { MODKIT_NPM_KEEP_LAUNCHER: "1" });
  assert.ok(isLauncher(bin));
});

test("a binary that answers another version is not swapped in", { skip: !unix }, () => {
  const { bin } = installed("1.2.3", null);
  assert.strictEqual(replaceBin(bin, process.execPath, "1.2.3"), false);
  assert.ok(isLauncher(bin));
  assert.strictEqual(replaceBin(bin, process.execPath, process.version), true);
  assert.ok(!isLauncher(bin));
});
