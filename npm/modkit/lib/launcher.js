"use strict";
// The modkit launcher: finds the native binary npm installed for this machine (the optional
// dependency @modkit/cli-<os>-<arch>[-musl] whose os/cpu/libc fields match) and runs it with the
// same arguments, stdio, exit code and signals. CommonJS and no dependencies, so any Node >= 18
// runs it before anything else is installed. Every failure is one line and exit 2, never a stack.

const { spawn } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");

/** The platforms a package is published for (npm/platforms.json; a unit test keeps them equal). */
const PLATFORMS = [
  "linux-x64",
  "linux-x64-musl",
  "linux-arm64",
  "linux-arm64-musl",
  "darwin-x64",
  "darwin-arm64",
  "win32-x64",
];

/** Exit code for an environment error, as modkit itself uses. */
const ENV_ERROR = 2;

const CARGO_HINT = "or install modkit with Rust: `cargo install modkit --locked`";

class LaunchError extends Error {}

/**
 * musl or glibc: /usr/bin/ldd names its C library (a file read, as detect-libc does); else Node's
 * own report (no child process, but ~40 ms: esbuild and napi-rs use it).
 */
function isMusl() {
  if (process.platform !== "linux") return false;
  try {
    const ldd = fs.readFileSync("/usr/bin/ldd", "latin1");
    if (ldd.includes("musl")) return true;
    if (ldd.includes("GNU C Library") || ldd.includes("GLIBC")) return false;
  } catch {
    // no ldd: ask Node
  }
  try {
    const header = process.report.getReport().header;
    return !header.glibcVersionRuntime;
  } catch {
    return false;
  }
}

/** `linux-x64`, `linux-x64-musl`, `darwin-arm64`, `win32-x64`, ... */
function platformKey(platform = process.platform, arch = process.arch, musl = isMusl()) {
  return `${platform}-${arch}${platform === "linux" && musl ? "-musl" : ""}`;
}

function packageName(key) {
  return `@modkit/cli-${key}`;
}

/** The launcher's own version: the platform package must have the same. */
function ownVersion() {
  return require("../package.json").version;
}

/**
 * The packages that may hold this machine's binary: on Linux the glibc and the musl one, of which
 * npm installed the one whose `libc` matches. Trying both spares asking which libc this is (Node's
 * diagnostic report costs more than the rest of the launcher) on every run.
 */
function candidates(platform = process.platform, arch = process.arch) {
  const base = `${platform}-${arch}`;
  return platform === "linux" ? [base, `${base}-musl`] : [base];
}

/**
 * Where the binary is, and its package (null for MODKIT_BINARY). `key`: one platform instead of
 * this machine's candidates; `resolve` (require.resolve) and `musl` (isMusl), replaceable in tests.
 */
function findBinary({ env = process.env, key, resolve = require.resolve, version = ownVersion(), musl = isMusl } = {}) {
  const override = env.MODKIT_BINARY;
  if (override !== undefined && override !== "") {
    let stat;
    try {
      stat = fs.statSync(override);
    } catch {
      throw new LaunchError(`MODKIT_BINARY is set to ${override}, which does not exist: unset it, or point it at a modkit binary`);
    }
    if (!stat.isFile()) {
      throw new LaunchError(`MODKIT_BINARY is set to ${override}, which is not a file: unset it, or point it at a modkit binary`);
    }
    // Absolute: spawn would look a bare name up on PATH, and run another program than the one checked.
    return { binary: path.resolve(override), pkg: null };
  }
  const keys = (key ? [key] : candidates()).filter((k) => PLATFORMS.includes(k));
  if (keys.length === 0) {
    const here = key || platformKey(process.platform, process.arch, musl());
    throw new LaunchError(`no prebuilt modkit for ${here} (there are: ${PLATFORMS.join(", ")}); ${CARGO_HINT}`);
  }
  let chosen;
  for (const k of keys) {
    try {
      chosen = { key: k, manifest: resolve(`${packageName(k)}/package.json`) };
      break;
    } catch {
      // not this one
    }
  }
  // The musl package beside the glibc one: Yarn classic ignores `libc` and installs both. Only
  // then is the libc asked; a stat otherwise.
  if (chosen && keys.length > 1 && chosen.key === keys[0]) {
    const sibling = path.join(path.dirname(path.dirname(chosen.manifest)), `cli-${keys[1]}`, "package.json");
    if (fs.existsSync(sibling) && musl()) chosen = { key: keys[1], manifest: sibling };
  }
  const manifest = chosen && chosen.manifest;
  const pkg = chosen && packageName(chosen.key);
  if (chosen) key = chosen.key;
  if (!manifest) {
    const wanted = packageName(keys.length > 1 ? platformKey(process.platform, process.arch, musl()) : keys[0]);
    throw new LaunchError(
      `the platform package ${wanted} is not installed (npm skips optional dependencies with --omit=optional or --no-optional): run \`npm install --include=optional\`, ${CARGO_HINT}`,
    );
  }
  let found;
  try {
    found = JSON.parse(fs.readFileSync(manifest, "utf8")).version;
  } catch {
    throw new LaunchError(`${manifest} cannot be read: reinstall with \`npm install modkit@${version}\``);
  }
  if (found !== version) {
    throw new LaunchError(
      `${pkg} is version ${found}, but the modkit launcher is ${version}: reinstall so that they match, \`npm install modkit@${version}\``,
    );
  }
  const binary = path.join(path.dirname(manifest), key.startsWith("win32") ? "modkit.exe" : "modkit");
  return { binary, pkg };
}

/** ELF, Mach-O (thin or fat) or PE: anything else would be handed to a shell by execvp. */
function looksExecutable(file) {
  let fd;
  const head = Buffer.alloc(4);
  try {
    fd = fs.openSync(file, "r");
    if (fs.readSync(fd, head, 0, 4, 0) < 4) return false;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
  const magic = head.readUInt32BE(0);
  return (
    magic === 0x7f454c46 || // ELF
    [0xfeedface, 0xfeedfacf, 0xcefaedfe, 0xcffaedfe, 0xcafebabe].includes(magic) ||
    (head[0] === 0x4d && head[1] === 0x5a) // MZ
  );
}

function fail(message) {
  process.stderr.write(`modkit: ${message}\n`);
  process.exitCode = ENV_ERROR;
}

function whoToReinstall(found) {
  return found.pkg
    ? `reinstall it with \`npm install modkit@${ownVersion()}\`, ${CARGO_HINT}`
    : "point MODKIT_BINARY at a modkit binary, or unset it";
}

/**
 * Runs modkit with `args`; resolves to nothing, having set process.exitCode or re-raised the
 * child's signal. `MODKIT_NPM_LAUNCHER=<version>` tells modkit it came from npm (docs/install.md).
 */
function run(args, { env = process.env } = {}) {
  let found;
  try {
    found = findBinary({ env });
  } catch (e) {
    if (e instanceof LaunchError) return fail(e.message);
    return fail(`cannot find the modkit binary: ${e && e.message}`);
  }
  if (!looksExecutable(found.binary)) {
    return fail(`${found.binary} is not a program for this machine (a truncated or corrupt download?): ${whoToReinstall(found)}`);
  }
  const child = spawn(found.binary, args, {
    stdio: "inherit",
    env: { ...env, MODKIT_NPM_LAUNCHER: ownVersion() },
    windowsHide: false,
  });
  // A terminal's Ctrl-C reaches the whole process group, the binary included; a `kill <launcher>`
  // (a CI runner's timeout, a supervisor) reaches only this process. Forward either, and stay
  // alive until the binary has exited, so that its exit status is the one reported.
  const forward = {};
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT"]) {
    forward[signal] = () => {
      try {
        child.kill(signal);
      } catch {
        // already gone
      }
    };
    process.on(signal, forward[signal]);
  }
  return new Promise((resolve) => {
    child.on("error", (e) => {
      const why = e.code === "EACCES" ? "it is not executable" : e.code === "ENOEXEC" ? "it is not a program for this machine" : e.message;
      fail(`cannot run ${found.binary}: ${why}; ${whoToReinstall(found)}`);
      resolve();
    });
    child.on("exit", (code, signal) => {
      for (const [name, handler] of Object.entries(forward)) process.removeListener(name, handler);
      if (signal) {
        // Die of the same signal, as a shell expects of the program it ran.
        process.kill(process.pid, signal);
        // A signal this process cannot die of (SIGINT ignored by a parent): 128 + n, as shells do.
        process.exitCode = 128 + (require("node:os").constants.signals[signal] || 0);
      } else {
        process.exitCode = code;
      }
      resolve();
    });
  });
}

module.exports = { PLATFORMS, LaunchError, platformKey, candidates, packageName, findBinary, looksExecutable, run, isMusl };
