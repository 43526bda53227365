"use strict";
// Writes the npm packages, ready for `npm pack` or `npm publish`, into a staging folder:
//
//   node npm/stage.js <version> <out-dir> [<platform-key>=<binary> ...]
//
// modkit (the launcher) and create-modkit always; @modkit/cli-<key> for each binary given. Every
// package gets <version> (scripts/npm-pack.sh passes Cargo.toml's), and the launcher lists every
// platform of npm/platforms.json as an optional dependency at exactly that version.
const fs = require("node:fs");
const path = require("node:path");

function die(message) {
  process.stderr.write(`npm/stage.js: ${message}\n`);
  process.exit(2);
}

const [version, out, ...binaries] = process.argv.slice(2);
if (!version || !out) die("usage: node npm/stage.js <version> <out-dir> [<platform-key>=<binary> ...]");
if (!/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/.test(version)) die(`${version} is not a version`);

const here = __dirname;
const { platforms } = JSON.parse(fs.readFileSync(path.join(here, "platforms.json"), "utf8"));
const readJson = (file) => JSON.parse(fs.readFileSync(file, "utf8"));
const writeJson = (file, value) => fs.writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);

function copyTree(from, to) {
  fs.mkdirSync(to, { recursive: true });
  for (const entry of fs.readdirSync(from, { withFileTypes: true })) {
    const source = path.join(from, entry.name);
    const target = path.join(to, entry.name);
    if (entry.isDirectory()) copyTree(source, target);
    else fs.copyFileSync(source, target);
  }
}

fs.mkdirSync(out, { recursive: true });

// The launcher.
const launcherDir = path.join(out, "modkit");
copyTree(path.join(here, "modkit"), launcherDir);
const launcher = readJson(path.join(launcherDir, "package.json"));
launcher.version = version;
launcher.optionalDependencies = Object.fromEntries(platforms.map((p) => [`@modkit/cli-${p.key}`, version]));
writeJson(path.join(launcherDir, "package.json"), launcher);

// create-modkit: the launcher of the same version does the work.
const createDir = path.join(out, "create-modkit");
copyTree(path.join(here, "create-modkit"), createDir);
const create = readJson(path.join(createDir, "package.json"));
create.version = version;
create.dependencies = { modkit: version };
writeJson(path.join(createDir, "package.json"), create);

// One package per binary.
for (const spec of binaries) {
  const at = spec.indexOf("=");
  const key = spec.slice(0, at);
  const binary = spec.slice(at + 1);
  const platform = platforms.find((p) => p.key === key);
  if (at < 1 || !platform) die(`${spec}: expected <platform-key>=<binary>, with a key of npm/platforms.json`);
  if (!fs.existsSync(binary)) die(`${binary} does not exist`);
  const dir = path.join(out, `cli-${key}`);
  fs.mkdirSync(dir, { recursive: true });
  const file = `modkit${platform.exe || ""}`;
  fs.copyFileSync(binary, path.join(dir, file));
  fs.chmodSync(path.join(dir, file), 0o755);
  const manifest = {
    name: `@modkit/cli-${key}`,
    version,
    description: `The modkit binary for ${key} (installed by the modkit package)`,
    license: launcher.license,
    files: [file],
    os: [platform.os],
    cpu: [platform.cpu],
    ...(platform.libc ? { libc: [platform.libc] } : {}),
    preferUnplugged: true,
  };
  writeJson(path.join(dir, "package.json"), manifest);
  fs.writeFileSync(
    path.join(dir, "README.md"),
    `# @modkit/cli-${key}\n\nThe modkit ${version} binary for ${key} (Rust target ${platform.target}). Install \`modkit\`, not this package: it picks the one for your platform.\n`,
  );
}
