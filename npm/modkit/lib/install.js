"use strict";
// postinstall: puts the native binary in place of bin/modkit.js, as esbuild does with its own, so
// that node_modules/.bin/modkit, `npx modkit` and npm scripts run modkit without starting node
// first (node's start is ~0.1 s of every run; docs/performance.md, "modkit from npm"). The binary
// then does what the launcher did (MODKIT_BINARY, "installed from npm": src/distribution.rs).
//
// Only under npm on Unix, where node_modules/.bin/modkit is a symbolic link to bin/modkit.js, and
// only when every check passes: the platform package of this version is there, its binary is a
// program for this machine and answers `--version` with this version. Otherwise the JS launcher
// stays: it works everywhere and says what is wrong. Other package managers write a shim that runs
// `node bin/modkit.js` (pnpm, read from the file's `#!/usr/bin/env node` line when it links the
// bins, before this script runs: node would then parse the binary as JavaScript), or may (Yarn's
// Plug'n'Play); so does npm's .cmd shim on Windows. Never fails the install: a package manager
// that skips this script (--ignore-scripts, pnpm 10 until `pnpm approve-builds`) leaves the
// launcher too.

const { execFileSync } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");

const launcher = require("./launcher");

/** Why the launcher stays, or null when the binary may replace it. */
function keepLauncher({ env = process.env, platform = process.platform } = {}) {
  if (platform === "win32") return "on Windows, npm's shim runs bin/modkit.js with node";
  if (env.MODKIT_NPM_KEEP_LAUNCHER === "1") return "MODKIT_NPM_KEEP_LAUNCHER=1";
  const agent = env.npm_config_user_agent || "";
  if (!agent.startsWith("npm/")) {
    const manager = agent.split("/")[0] || "an unknown package manager";
    return `${manager} runs bins through a shim that may start node on bin/modkit.js`;
  }
  return null;
}

/**
 * Replaces `bin` (bin/modkit.js) with `binary`: a hard link (no second copy on disk) or a copy,
 * made beside it and renamed over it, so that the bin is at every moment either the launcher or
 * the whole binary. Returns true when done.
 */
function replaceBin(bin, binary, version) {
  const out = execFileSync(binary, ["--version"], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "ignore"],
    env: { ...process.env, MODKIT_NPM_LAUNCHER: version },
    timeout: 10000,
  });
  if (!out.split(/\s+/).includes(version)) return false;
  const temp = `${bin}.${process.pid}.tmp`;
  try {
    try {
      fs.linkSync(binary, temp);
    } catch {
      fs.copyFileSync(binary, temp);
    }
    fs.chmodSync(temp, 0o755);
    fs.renameSync(temp, bin);
  } finally {
    fs.rmSync(temp, { force: true });
  }
  return true;
}

function main() {
  const why = keepLauncher();
  if (why) return;
  const version = require("../package.json").version;
  // The binary the launcher would run, found as it finds it (MODKIT_BINARY is a run-time choice).
  const { binary } = launcher.findBinary({ env: {} });
  if (!launcher.looksExecutable(binary)) return;
  replaceBin(path.join(__dirname, "..", "bin", "modkit.js"), binary, version);
}

if (require.main === module) {
  try {
    main();
  } catch {
    // The launcher stays, and says at run time what is missing.
  }
}

module.exports = { keepLauncher, replaceBin };
