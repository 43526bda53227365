"use strict";
// The launcher on node's own test runner: `node --test npm/test/` (tests/it/npm.rs runs it).
// The "binary" is node itself (a real ELF/Mach-O/PE program) through MODKIT_BINARY, or a copy of a
// small system program, so that exit codes and signals go through a real child process.
const test = require("node:test");
const assert = require("node:assert");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { spawn, spawnSync } = require("node:child_process");

const launcher = require("../modkit/lib/launcher");
const bin = path.join(__dirname, "..", "modkit", "bin", "modkit.js");
const version = require("../modkit/package.json").version;

function tmp() {
  return fs.mkdtempSync(path.join(os.tmpdir(), "modkit-launcher-"));
}

/** Runs the launcher's bin with MODKIT_BINARY=node, as a user would run `modkit`. */
function launch(args, env = {}) {
  return spawnSync(process.execPath, [bin, ...args], {
    env: { ...process.env, MODKIT_BINARY: process.execPath, ...env },
    encoding: "utf8",
  });
}

function oneCleanLine(stderr) {
  const lines = stderr.trimEnd().split("\n");
  assert.strictEqual(lines.length, 1, `one line expected, got:\n${stderr}`);
  assert.match(lines[0], /^modkit: /);
  assert.doesNotMatch(stderr, /\n\s+at /, "no JS stack trace");
}

/** A node_modules with @modkit/cli-<key> of `pkgVersion` holding `binary`. */
function platformPackage(key, pkgVersion, binary) {
  const root = tmp();
  const dir = path.join(root, "node_modules", "@modkit", `cli-${key}`);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: `@modkit/cli-${key}`, version: pkgVersion }));
  if (binary) fs.copyFileSync(binary, path.join(dir, "modkit"));
  return { root, dir, resolve: (id) => require.resolve(id, { paths: [root] }) };
}

test("platform keys: os-arch, -musl only on Linux", () => {
  assert.strictEqual(launcher.platformKey("linux", "x64", false), "linux-x64");
  assert.strictEqual(launcher.platformKey("linux", "arm64", true), "linux-arm64-musl");
  assert.strictEqual(launcher.platformKey("darwin", "arm64", true), "darwin-arm64");
  assert.strictEqual(launcher.platformKey("win32", "x64", false), "win32-x64");
  assert.strictEqual(launcher.packageName("linux-x64"), "@modkit/cli-linux-x64");
});

test("the launcher knows exactly the platforms of npm/platforms.json", () => {
  const { platforms } = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "platforms.json"), "utf8"));
  assert.deepStrictEqual([...launcher.PLATFORMS].sort(), platforms.map((p) => p.key).sort());
});

test("on Linux both libc packages are candidates (npm installed the matching one)", () => {
  assert.deepStrictEqual(launcher.candidates("linux", "arm64"), ["linux-arm64", "linux-arm64-musl"]);
  assert.deepStrictEqual(launcher.candidates("darwin", "x64"), ["darwin-x64"]);
  const { dir, resolve } = platformPackage("linux-x64-musl", "1.2.3", null);
  if (process.platform === "linux" && process.arch === "x64") {
    const found = launcher.findBinary({ env: {}, resolve, version: "1.2.3" });
    assert.strictEqual(found.binary, path.join(dir, "modkit"));
    assert.strictEqual(found.pkg, "@modkit/cli-linux-x64-musl");
  }
});

test("both libc packages installed (Yarn classic ignores libc): the one of this machine's libc", { skip: process.platform !== "linux" }, () => {
  const [glibc, musl] = launcher.candidates();
  const { root } = platformPackage(glibc, "1.2.3", null);
  const other = path.join(root, "node_modules", "@modkit", `cli-${musl}`);
  fs.mkdirSync(other, { recursive: true });
  fs.writeFileSync(path.join(other, "package.json"), JSON.stringify({ name: `@modkit/cli-${musl}`, version: "1.2.3" }));
  const resolve = (id) => require.resolve(id, { paths: [root] });
  const onMusl = launcher.findBinary({ env: {}, resolve, version: "1.2.3", musl: () => true });
  assert.strictEqual(onMusl.pkg, `@modkit/cli-${musl}`);
  const onGlibc = launcher.findBinary({ env: {}, resolve, version: "1.2.3", musl: () => false });
  assert.strictEqual(onGlibc.pkg, `@modkit/cli-${glibc}`);
});

test("the libc read from /usr/bin/ldd is the one Node's report names", { skip: process.platform !== "linux" }, () => {
  assert.strictEqual(launcher.isMusl(), !process.report.getReport().header.glibcVersionRuntime);
});

test("with one libc package installed (npm's libc filter chose it), the libc is not asked", { skip: process.platform !== "linux" }, () => {
  const notAsked = () => assert.fail("the libc was asked although npm installed only one package");
  for (const key of launcher.candidates()) {
    const { resolve } = platformPackage(key, "1.2.3", null);
    assert.strictEqual(launcher.findBinary({ env: {}, resolve, version: "1.2.3", musl: notAsked }).pkg, `@modkit/cli-${key}`);
  }
});

test("no platform package on a musl machine: the message names the musl package", { skip: process.platform !== "linux" }, () => {
  const { resolve } = platformPackage("darwin-arm64", "1.2.3", null);
  const [glibcKey, muslKey] = launcher.candidates();
  assert.throws(
    () => launcher.findBinary({ env: {}, resolve, version: "1.2.3", musl: () => true }),
    (e) => e.message.includes(`@modkit/cli-${muslKey} is not installed`),
  );
  assert.throws(
    () => launcher.findBinary({ env: {}, resolve, version: "1.2.3", musl: () => false }),
    (e) => e.message.includes(`@modkit/cli-${glibcKey} is not installed`),
  );
});

test("this machine's platform is one a package exists for", () => {
  assert.ok(launcher.PLATFORMS.includes(launcher.platformKey()), launcher.platformKey());
});

test("an unsupported platform names itself, the list and cargo", () => {
  assert.throws(
    () => launcher.findBinary({ env: {}, key: "freebsd-x64" }),
    (e) => e instanceof launcher.LaunchError && /no prebuilt modkit for freebsd-x64/.test(e.message) && /cargo install modkit/.test(e.message),
  );
});

test("a missing platform package says npm install --include=optional and cargo install", () => {
  const { resolve } = platformPackage("linux-arm64", version);
  assert.throws(
    () => launcher.findBinary({ env: {}, key: "linux-x64", resolve, version }),
    (e) =>
      /@modkit\/cli-linux-x64 is not installed/.test(e.message) &&
      /npm install --include=optional/.test(e.message) &&
      /cargo install modkit/.test(e.message),
  );
});

test("a platform package of another version is refused, naming both", () => {
  const { resolve } = platformPackage("linux-x64", "9.9.9", process.execPath);
  assert.throws(
    () => launcher.findBinary({ env: {}, key: "linux-x64", resolve, version: "1.2.3" }),
    (e) => /@modkit\/cli-linux-x64 is version 9\.9\.9, but the modkit launcher is 1\.2\.3/.test(e.message),
  );
});

test("the platform package of the same version gives its binary", () => {
  const { dir, resolve } = platformPackage("linux-x64", "1.2.3", null);
  const found = launcher.findBinary({ env: {}, key: "linux-x64", resolve, version: "1.2.3" });
  assert.strictEqual(found.binary, path.join(dir, "modkit"));
  assert.strictEqual(found.pkg, "@modkit/cli-linux-x64");
  const win = platformPackage("win32-x64", "1.2.3", null);
  assert.match(launcher.findBinary({ env: {}, key: "win32-x64", resolve: win.resolve, version: "1.2.3" }).binary, /modkit\.exe$/);
});

test("MODKIT_BINARY wins over the platform package", () => {
  const found = launcher.findBinary({ env: { MODKIT_BINARY: process.execPath }, key: "plan9-mips" });
  assert.deepStrictEqual(found, { binary: process.execPath, pkg: null });
});

test("a relative MODKIT_BINARY is the file in the current folder, never a program on PATH", { skip: process.platform === "win32" }, () => {
  // ./node is a copy of echo: run, it prints its arguments; the node on PATH would run them.
  const dir = tmp();
  fs.copyFileSync(fs.realpathSync("/bin/echo"), path.join(dir, "node"));
  fs.chmodSync(path.join(dir, "node"), 0o755);
  const r = spawnSync(process.execPath, [bin, "-e", "process.stdout.write('the node on PATH ran')"], {
    cwd: dir,
    env: { ...process.env, MODKIT_BINARY: "node" },
    encoding: "utf8",
  });
  assert.strictEqual(r.status, 0, r.stderr);
  assert.match(r.stdout, /process\.stdout\.write/);
});

test("arguments reach the binary and its exit code comes back", () => {
  const ok = launch(["-e", "process.stdout.write(JSON.stringify(process.argv.slice(1)))", "a b", "--x=1", ""]);
  assert.strictEqual(ok.status, 0, ok.stderr);
  assert.deepStrictEqual(JSON.parse(ok.stdout), ["a b", "--x=1", ""]);
  for (const code of [1, 2, 3, 101]) {
    assert.strictEqual(launch(["-e", `process.exit(${code})`]).status, code);
  }
});

test("the binary learns it came from npm, and which version", () => {
  const r = launch(["-e", "process.stdout.write(process.env.MODKIT_NPM_LAUNCHER || 'unset')"]);
  assert.strictEqual(r.stdout, version);
});

test("stdin reaches the binary", () => {
  const r = spawnSync(process.execPath, [bin, "-e", "process.stdin.pipe(process.stdout)"], {
    env: { ...process.env, MODKIT_BINARY: process.execPath },
    input: "piped\n",
    encoding: "utf8",
  });
  assert.strictEqual(r.stdout, "piped\n");
});

test("MODKIT_BINARY pointing nowhere: one line, exit 2", () => {
  const r = launch(["--version"], { MODKIT_BINARY: "/nonexistent/modkit" });
  assert.strictEqual(r.status, 2);
  oneCleanLine(r.stderr);
  assert.match(r.stderr, /MODKIT_BINARY is set to \/nonexistent\/modkit, which does not exist/);
  const dir = launch(["--version"], { MODKIT_BINARY: os.tmpdir() });
  assert.strictEqual(dir.status, 2);
  oneCleanLine(dir.stderr);
});

test("a corrupt binary (not a program) is refused before it runs: one line, exit 2", () => {
  const file = path.join(tmp(), "modkit");
  fs.writeFileSync(file, "echo this would run as a shell script\n", { mode: 0o755 });
  const r = launch(["--version"], { MODKIT_BINARY: file });
  assert.strictEqual(r.status, 2);
  oneCleanLine(r.stderr);
  assert.match(r.stderr, /is not a program for this machine/);
  assert.doesNotMatch(r.stdout, /would run/);
  fs.writeFileSync(file, "");
  assert.strictEqual(launch([], { MODKIT_BINARY: file }).status, 2);
});

test("a binary that is not executable: one line, exit 2", { skip: process.platform === "win32" }, () => {
  const file = path.join(tmp(), "modkit");
  fs.copyFileSync(fs.realpathSync("/bin/true"), file);
  fs.chmodSync(file, 0o644);
  const r = launch([], { MODKIT_BINARY: file });
  assert.strictEqual(r.status, 2);
  oneCleanLine(r.stderr);
  assert.match(r.stderr, /cannot run .*: it is not executable/);
});

/** Starts the launcher on a binary that writes its pid and waits; resolves once it is running. */
function startWaiting(script) {
  const dir = tmp();
  const pidFile = path.join(dir, "pid");
  const child = spawn(process.execPath, [bin, "-e", script, pidFile], {
    env: { ...process.env, MODKIT_BINARY: process.execPath },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const started = new Promise((resolve, reject) => {
    const poll = setInterval(() => {
      if (fs.existsSync(pidFile) && fs.readFileSync(pidFile, "utf8").endsWith("\n")) {
        clearInterval(poll);
        resolve(Number(fs.readFileSync(pidFile, "utf8")));
      }
    }, 20);
    child.on("exit", () => {
      clearInterval(poll);
      reject(new Error(`launcher exited early: ${stderr}`));
    });
  });
  const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal, stderr })));
  return { child, started, exited };
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const WAIT = "require('fs').writeFileSync(process.argv[1], process.pid + '\\n'); setInterval(() => {}, 1000);";

for (const signal of ["SIGINT", "SIGTERM"]) {
  test(`${signal} sent to the launcher alone reaches the binary, and the launcher dies of it too`, { skip: process.platform === "win32" }, async () => {
    const { child, started, exited } = startWaiting(WAIT);
    const pid = await started;
    child.kill(signal);
    const result = await exited;
    assert.strictEqual(result.signal, signal, JSON.stringify(result));
    assert.ok(!alive(pid), `the binary (pid ${pid}) outlived the launcher`);
  });
}

test("a binary that handles SIGINT and exits 130 gives 130", { skip: process.platform === "win32" }, async () => {
  const { child, started, exited } = startWaiting(
    "process.on('SIGINT', () => process.exit(130)); require('fs').writeFileSync(process.argv[1], process.pid + '\\n'); setInterval(() => {}, 1000);",
  );
  const pid = await started;
  child.kill("SIGINT");
  const result = await exited;
  assert.strictEqual(result.code, 130, JSON.stringify(result));
  assert.ok(!alive(pid));
});

test("a binary killed by a signal: the launcher dies of the same signal", { skip: process.platform === "win32" }, () => {
  const r = launch(["-e", "process.kill(process.pid, 'SIGKILL')"]);
  assert.strictEqual(r.signal, "SIGKILL");
});
