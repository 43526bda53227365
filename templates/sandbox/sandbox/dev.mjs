// @ts-check
// npm run dev: the Vite client, the API (restarted when plugin/ or sandbox/ changes) and, unless
// DATABASE_URL or modkit.toml names a server, the local database, all started at once. Vite proxies /api
// to the API. The API ending waits for the next change; Ctrl-C, SIGTERM or Vite's `q` stop the API and
// Vite, then the local database if this run started it.
//
// Why plain JavaScript, and why the API runs from .modkit/dev: a TypeScript loader (tsx) costs Node 20 a
// loader thread and esbuild on every start, about 0.4 s of the API's 0.7 s and most of a CPU. Here,
// esbuild compiles plugin/ and sandbox/ file by file into .modkit/dev/ (only what changed since the last
// run: nothing, on a warm start) and the API runs there on plain Node, with source maps to the .ts files.
// A warm `npm run dev` answers in about a second instead of 2.7 s (docs/performance.md). `import.meta.url`
// (and filename, dirname) keep naming the .ts source, so files found next to the code are found as under
// tsx. npm start and npm test still run the sources under tsx.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, watch, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
/** The folders the API is made of (a sandbox: the module and the sandbox that runs it). */
const SOURCE_DIRS = {{ dev_source_dirs }};
/** The folder of this file and of server.ts. */
const API_DIR = '{{ api_dir }}';
const OUT = join(root, '.modkit', 'dev');
const MANIFEST = join(OUT, 'manifest.json');
const LOCAL_URL = join(root, '.modkit', 'pg', 'url');
/** What the API is compiled from and restarted for (migrations and the rest are not the API's code). */
const SOURCE_FILE = /\.(ts|js|mjs|cjs|json)$/;
// The compiled file is .modkit/dev/<path>.js; its source is <path>.ts.
const SOURCE_BANNER = [
  "import { fileURLToPath as __modkitPath } from 'node:url';",
  "const __modkitSourceUrl = import.meta.url.replace(/\\/\\.modkit\\/dev\\/(?!.*\\/\\.modkit\\/dev\\/)/, '/').replace(/\\.js$/, '.ts');",
  'const __modkitSourceFile = __modkitPath(__modkitSourceUrl);',
  "const __modkitSourceDir = __modkitPath(new URL('.', __modkitSourceUrl));",
].join('\n');
// The dev API's entry; it ends with npm run dev even when that is killed outright (no orphan API).
// It loads its code (Node, Express, pg, the module: most of its start) while the launcher claims the
// ports, and listens once the launcher sends them (sendPorts).
const SERVE = [
  "process.on('disconnect', () => process.exit(0));",
  `import { serve } from './${API_DIR}/server.js';`,
  "const ports = await new Promise((resolve) => process.once('message', resolve));",
  'process.env.PORT = ports.api;',
  'process.env.VITE_PORT = ports.vite;',
  'await serve();',
  "process.channel?.unref(); // the channel alone must not keep the API running once it is closed",
  '',
].join('\n');
// The migration runner's entry: the project's own bootstrap (every dev tenant and every existing
// tenant, one transaction each; new permissions granted to the dev role), its report sent back, with
// the modules' ids (a report names a migration by its file alone when there is one module).
// It is started ahead (prewarmRunner): the module graph loaded, it waits for the word, so that a saved
// migration does not wait for Node to start.
const MIGRATE = [
  `import { bootstrap } from './${API_DIR}/bootstrap.js';`,
  `import { projectModules } from './${API_DIR}/modules.js';`,
  "process.on('disconnect', () => process.exit(0)); // the launcher is gone: never run",
  "await new Promise((resolve) => process.once('message', resolve));",
  'const t0 = performance.now();',
  'let message;',
  'try {',
  '  const report = await bootstrap({ log: () => {} });',
  '  message = { modules: (await projectModules()).map((m) => m.id), report, ms: performance.now() - t0 };',
  '} catch (err) {',
  '  message = { error: err instanceof Error ? err.message : String(err) };',
  '}',
  'process.send(message, () => process.exit(0));',
  '',
].join('\n');
// What the compiled form depends on besides the sources: when it changes, .modkit/dev is rebuilt whole.
const FORMAT = createHash('sha256').update(`${process.versions.node.split('.')[0]}\n${SOURCE_BANNER}\n${SERVE}\n${MIGRATE}`).digest('hex');
/** What each database was last brought in step with (migrations, permissions): see dbInputs(), recordInputs(). */
const DB_INPUTS = join(OUT, 'db-inputs');

// As root in a project another user owns: refuse before anything is written (see the function).
refuseRootInAnothersProject();

/**
 * Root compiling here would leave .modkit/dev root's, and every later reload as the project's owner
 * would fail with EACCES; and that user can swap any name under the project for a link while root
 * works. So, as root in a project (or a .modkit, .modkit/pg, .modkit/dev) another user owns, exit 2
 * with how to run it as them, as sandbox/localdb.ts does for npm run bootstrap and npm test. As root
 * in root's own project, npm run dev runs as before.
 */
function refuseRootInAnothersProject() {
  if (process.getuid?.() !== 0) return;
  for (const path of [root, join(root, '.modkit'), join(root, '.modkit', 'pg'), OUT]) {
    let uid;
    try {
      uid = lstatSync(path).uid;
    } catch {
      continue;
    }
    if (uid === 0) continue;
    const name = (readFileOr('/etc/passwd') ?? '').split('\n').map((line) => line.split(':')).find((f) => f[2] === String(uid))?.[0];
    console.error(
      `error: as root, npm does not run in ${root}: ${path} belongs to ${name ?? `uid ${uid}`}, who could redirect root's file operations, and would find what root writes there owned by root\n` +
        `hint: run npm as that user (e.g. su ${name ?? 'USER'} -s /bin/sh -c 'npm run dev'), or start the local database as root with \`modkit db start\` (which works as the project's owner), or use your own server with DATABASE_URL`,
    );
    process.exit(2);
  }
}

/**
 * What .modkit/dev was compiled from: a sha-256 per source file.
 * @typedef {object} Manifest
 * @property {string} [format]
 * @property {string} [root]
 * @property {string} [tsconfig]
 * @property {Record<string, string>} [files]
 */

/** @type {import('node:child_process').ChildProcess | undefined} */
let api;
/** @type {string | undefined} The local database's URL when the API was started (it moves only when its port had to change). */
let apiLocalUrl;
/** @type {import('vite').ViteDevServer | undefined} */
let vite;
let exiting = false;
/** @type {Promise<void> | undefined} */
let databaseStart;
let startedDb = false;
/** @type {number | undefined} The local database's postmaster, once started: stopped by signal if .modkit/pg vanishes. */
let serverPid;
let reloading = Promise.resolve();
/** A migration was saved since the last reload. */
let migrationsChanged = false;
/**
 * Where the migrations and the declared permissions are, from modkit.toml (read once the ports are
 * claimed): a sandbox's (no `foundation`) plugin/migrations/*.sql and plugin/index.ts; a foundation's
 * <migrations_dir>/<id>/*.sql (or <modules_dir>/<id>/migrations/*.sql, where a module adapted before
 * has them) and each <modules_dir>/<id>/module.config.ts.
 * @typedef {object} Layout
 * @property {Foundation | undefined} foundation
 * @typedef {object} Foundation
 * @property {string} modulesDir
 * @property {string} migrationsDir
 */
/** @type {Layout} */
let layout = { foundation: undefined };
/** @type {typeof import('./config.ts') | undefined} sandbox/config.ts, once readLayout() loaded it. */
let projectConfig;
/** The database is up (named, or the local one started): migrations can be applied. */
let databaseReady = false;
/** Source files compile() found changed on its last run. */
let lastCompiled = 0;
/** @type {NodeJS.Timeout | undefined} */
let pending;
/** @type {Map<string, import('node:fs').FSWatcher>} */
const watchers = new Map();

class PortInUse extends Error {}

/** @param {NodeJS.Signals} signal */
const onSignal = (signal) => void shutdown(0, signal);
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

/** @type {boolean} */
let compiled = false;
try {
  compiled = await compile();
} catch (err) {
  // A linked .modkit: nothing started yet, nothing to stop. (Later, a reload reports it and waits.)
  console.error(`error: ${/** @type {Error} */ (err).message}`);
  process.exit(2);
}
/** @type {typeof import('./ports.ts') | undefined} */
let ports;
// The API reads its database URL itself (sandbox/config.ts): with a server named in the environment, or
// the local database made already, it starts now, side by side with Vite and the local database.
// Otherwise it waits for the database, which then starts first. Started before the ports are claimed,
// it loads its code meanwhile and listens when they are sent (a second npm run dev here exits below,
// and its API with it: the IPC channel closes).
if (compiled && (Boolean(process.env.DATABASE_URL?.trim()) || localUrlIsOurs())) spawnApi();
// Vite's import (a quarter of a second of loading) overlaps the ports' claim too.
const viteModule = import('vite');
viteModule.catch(() => undefined); // reported by startVite
try {
  ports = await claimPorts();
} catch (err) {
  console.error(`error: ${/** @type {Error} */ (err).message}`);
  process.exit(2);
}
if (api) sendPorts(api);
layout = await readLayout();
// DATABASE_URL may come from .env, read with the ports (sandbox/env.ts).
const explicit = Boolean(process.env.DATABASE_URL?.trim());
if (compiled && explicit && !api) spawnApi();
// The local database starts now too, beside Vite (a foundation's first answer reads permissions: it
// waits for it); without a made one the API waits for it (startDatabase spawns it).
const database = explicit ? undefined : startDatabase();
try {
  vite = await startVite();
} catch (err) {
  if (err instanceof PortInUse) {
    console.error(`error: ${err.message}`);
    await shutdown(2);
  }
  console.error(`error: the Vite dev server did not start: ${/** @type {Error} */ (err).message}`);
  await shutdown(1);
}
if (!explicit) await (database ?? startDatabase());
databaseReady = true;
for (const dir of SOURCE_DIRS) watchTree(join(root, dir));
watchMigrations();
// Migrations or permissions changed while npm run dev was not running: applied now (nothing to do on
// a warm start, when .modkit/dev/db-inputs says this database is in step: no bootstrap is run).
if (compiled && !exiting && recordedInputs() !== dbInputs()) void reload('the database is behind the module (migrations or permissions)', true);

/**
 * This folder's `npm run dev`, on the project's own ports (sandbox/ports.ts): a second one here is
 * refused with the first one's pid and address; a port the user named and another program holds is one
 * line naming it. PORT and VITE_PORT are then set for the API, vite.config.ts's proxy and this process.
 * .env is read here too (sandbox/env.ts, imported by config.ts), below the environment.
 */
async function claimPorts() {
  /** @type {typeof import('./ports.ts')} */
  const mod = await import(pathToFileURL(join(OUT, API_DIR, 'ports.js')).href).catch((err) => {
    throw new Error(`sandbox/ports.ts did not compile (${err.message}); fix it and run npm run dev again`);
  });
  const other = mod.claimDev();
  if (other) {
    const error = new Error(
      `npm run dev is already running in this folder (pid ${other.pid}, http://localhost:${other.vite}/); stop it first (Ctrl-C there, or kill ${other.pid})`,
    );
    throw error;
  }
  try {
    const chosen = await mod.devPorts();
    for (const note of chosen.notes) console.log(note);
    process.env.PORT = String(chosen.api);
    process.env.VITE_PORT = String(chosen.vite);
    mod.recordDev(chosen);
  } catch (err) {
    mod.releaseDev();
    throw err;
  }
  return mod;
}

/**
 * Restart the API when a source file under `dir` changes. One watcher per folder, not `recursive`:
 * Node 20's recursive watch on Linux throws from inside when a file it meets cannot be watched (an
 * editor's or sed's private temp file), which would end `npm run dev`.
 * @param {string} dir
 */
function watchTree(dir) {
  if (watchers.has(dir)) return;
  let watcher;
  try {
    if (!lstatSync(dir).isDirectory()) return;
    watcher = watch(dir, (event, name) => {
      if (!name) return;
      const path = join(dir, name);
      let folder = false;
      if (event === 'rename') {
        // A new folder: its files may have been written before its watcher existed (`modkit adapt`
        // writes a module's whole folder at once), so its arrival is a change itself.
        if (existsSync(path)) {
          try {
            folder = lstatSync(path).isDirectory();
          } catch {
            // gone meanwhile: nothing to watch
          }
          watchTree(path);
        } else unwatchTree(path); // a folder gone: watched again if it comes back
      }
      if (isMigration(path)) migrationsChanged = true;
      else if (!folder && !SOURCE_FILE.test(name)) return;
      clearTimeout(pending);
      pending = setTimeout(() => void reload(`${relative(root, path).split(sep).join('/')} changed`), 80);
    });
    watchers.set(dir, watcher);
    watcher.on('error', () => unwatchTree(dir));
    for (const entry of readdirSync(dir, { withFileTypes: true })) if (entry.isDirectory()) watchTree(join(dir, entry.name));
  } catch {
    // gone meanwhile, or not readable: nothing (more) to watch
  }
}

/** modkit.toml's layout (sandbox/config.ts, loaded already by ports.ts). */
async function readLayout() {
  try {
    /** @type {typeof import('./config.ts')} */
    const config = await import(pathToFileURL(join(OUT, API_DIR, 'config.js')).href);
    projectConfig = config;
    return { foundation: config.loadConfig().foundation };
  } catch {
    return { foundation: undefined }; // reported by the API and the bootstrap, which read it too
  }
}

/**
 * A foundation's migrations folder is outside the API's code (<migrations_dir>/<id>/ at the root):
 * watched too, and watched once it appears (the first `modkit adapt` makes it).
 */
function watchMigrations() {
  if (!layout.foundation) return; // a sandbox's plugin/migrations is under plugin/, watched already
  const dir = join(root, layout.foundation.migrationsDir);
  watchTree(dir);
  if (watchers.has(dir) || relative(root, dir).split(sep).length !== 1) return;
  try {
    const top = watch(root, (_event, name) => {
      if (name !== relative(root, dir) || watchers.has(dir) || !existsSync(dir)) return;
      watchTree(dir);
      clearTimeout(pending);
      pending = setTimeout(() => void reload(`${name}/ appeared`, true), 80);
    });
    top.on('error', () => top.close());
  } catch {
    // the project folder cannot be watched: its migrations are applied at the next start
  }
}

/**
 * A module's migration file, as bootstrap.ts reads them (see `layout`).
 * @param {string} path
 */
function isMigration(path) {
  if (!path.endsWith('.sql')) return false;
  /** @param {string} base */
  const under = (base) => {
    const parts = relative(join(root, base), path).split(sep);
    return parts[0] === '..' ? [] : parts;
  };
  if (!layout.foundation) return under(join('plugin', 'migrations')).length === 1;
  const old = under(layout.foundation.modulesDir);
  return under(layout.foundation.migrationsDir).length === 2 || (old.length === 3 && old[1] === 'migrations');
}

/** The migration files (paths from the root, sorted) and the text declaring each module's permissions. */
function dbSources() {
  /** @param {string} dir */
  const entries = (dir) => {
    try {
      return readdirSync(join(root, dir), { withFileTypes: true });
    } catch {
      return []; // no such folder
    }
  };
  /** @param {string} dir */
  const sql = (dir) => entries(dir).filter((e) => e.isFile() && e.name.endsWith('.sql')).map((e) => join(dir, e.name));
  if (!layout.foundation) {
    const index = readFileOr(join(root, 'plugin', 'index.ts')) ?? '';
    return { files: sql(join('plugin', 'migrations')).sort(), permissions: [/export\s+const\s+permissions\b[^=]*=\s*\[[^\]]*\]/.exec(index)?.[0] ?? ''] };
  }
  const { modulesDir, migrationsDir } = layout.foundation;
  const files = entries(migrationsDir).filter((e) => e.isDirectory()).flatMap((e) => sql(join(migrationsDir, e.name)));
  const permissions = [];
  for (const e of entries(modulesDir).filter((e) => e.isDirectory()).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    files.push(...sql(join(modulesDir, e.name, 'migrations')));
    // The compiled module.config.js, as the migration runner reads it (server/modules.ts): a module
    // that `modkit adapt` is still writing counts once it is compiled, and changes the inputs then.
    const config = readFileOr(join(OUT, modulesDir, e.name, 'module.config.js'));
    if (config !== undefined) permissions.push(`${e.name}:${/\bpermissions\s*:\s*\[[^\]]*\]/.exec(config)?.[0] ?? ''}`);
  }
  return { files: files.sort(), permissions };
}

/** @param {string} dir */
function unwatchTree(dir) {
  for (const [path, watcher] of watchers) {
    if (path === dir || path.startsWith(dir + sep)) {
      watcher.close();
      watchers.delete(path);
    }
  }
}

/**
 * Vite in this process rather than its own: one Node start less on the way to the first answer (about
 * 0.15 s). It is what `vite` would run: vite.config.ts, its restarts, the keyboard shortcuts on a TTY.
 */
async function startVite() {
  const t0 = performance.now();
  const { createServer, version } = await viteModule;
  const server = await createServer({
    // The project's own port or none: never Vite's next free one, whose /api would be another project's.
    server: { port: Number(process.env.VITE_PORT), strictPort: true },
    plugins: [
      {
        // Vite's own SIGTERM and stdin handlers exit the process once Vite is closed, before the API
        // and the local database are stopped: this process owns the shutdown. Run on every (re)start.
        name: 'modkit-dev-shutdown',
        configureServer() {
          for (const listener of process.listeners('SIGTERM')) {
            if (listener === onSignal) continue;
            process.off('SIGTERM', listener);
            process.stdin.off('end', listener);
          }
        },
      },
    ],
  });
  try {
    await server.listen();
  } catch (err) {
    await server.close().catch(() => undefined);
    const e = /** @type {NodeJS.ErrnoException} */ (err);
    if (e.code === 'EADDRINUSE' || /already in use/.test(e.message)) {
      const holder = ports?.portHolder(Number(process.env.VITE_PORT));
      throw new PortInUse(
        `port ${process.env.VITE_PORT} (Vite) is in use${holder ? ` by ${holder}` : ''}; choose another: VITE_PORT=<port> npm run dev, or vite_port = <port> under [dev] in modkit.toml`,
      );
    }
    throw err;
  }
  console.log(`\n  VITE v${version}  ready in ${Math.ceil(performance.now() - t0)} ms\n`);
  server.printUrls();
  server.bindCLIShortcuts({
    print: true,
    customShortcuts: [{ key: 'q', description: 'quit (the API and the local database too)', action: () => void shutdown(0) }],
  });
  return server;
}

/** The local database, unless modkit.toml names a server; then the API if it was waiting for it. */
async function startDatabase() {
  if (exiting) return;
  databaseStart = (async () => {
    /** @type {typeof import('./localdb.ts')} */
    const localdb = await import(pathToFileURL(join(OUT, API_DIR, 'localdb.js')).href);
    if (localdb.hasExplicitDatabase()) return;
    // bootstrap.ts's ensureLocalDb, with bootstrap.ts (and pg) loaded only when a cluster is made or
    // was never bootstrapped: a warm start leaves the launcher's thread to Vite's start.
    const started = await localdb.startLocalDb(console.log, async (url, log) => {
      /** @type {typeof import('./bootstrap.ts')} */
      const { bootstrapNewLocalDb } = await import(pathToFileURL(join(OUT, API_DIR, 'bootstrap.js')).href);
      return bootstrapNewLocalDb(url, log);
    });
    startedDb = !started.reused;
    const state = localdb.localDbState();
    if (state.state === 'running') serverPid = state.pid;
    // A cluster made just now was bootstrapped from these very migrations and permissions.
    if (started.created) {
      projectConfig ??= await import(pathToFileURL(join(OUT, API_DIR, 'config.js')).href); // for dbKey()
      recordInputs(dbInputs());
    }
  })();
  try {
    await databaseStart;
  } catch (err) {
    console.error(`error: ${/** @type {Error} */ (err).message}`);
    await shutdown(2);
  }
  // Made just now, or moved to another port: the API needs the URL as it is now.
  if (!compiled || exiting) return;
  if (!api) spawnApi();
  else if (readLocalUrl() !== apiLocalUrl) await restartApi('the local database moved to another port');
}

/**
 * Recompile, bring the database in step when a migration was saved or the module's permissions
 * changed, and restart the API; one reload at a time. A migration that fails leaves the database as it
 * was (one transaction per tenant) and the API running on the old schema.
 * @param {string} why
 * @param {boolean} [database] bring the database in step even if no migration file was saved
 */
function reload(why, database = false) {
  reloading = reloading.then(async () => {
    if (exiting) return;
    try {
      const saved = migrationsChanged;
      migrationsChanged = false;
      const ok = await compile();
      const code = lastCompiled > 0;
      const inputs = dbInputs();
      if (databaseReady && ok && (saved || database || recordedInputs() !== inputs)) {
        const result = await migrate();
        if (!result.ok) return; // reported; the API keeps serving the old schema
        recordInputs(inputs);
        if (!code && result.applied === 0 && api) return; // nothing new for the API
      } else if (saved && !code && api) {
        return;
      }
      if (ok) await restartApi(why);
      if (ok) prewarmRunner();
      else await stopApi();
    } catch (err) {
      // A file that vanished mid-read, a full disk: say it, keep watching (the next change retries).
      console.error(`[api] not restarted: ${/** @type {Error} */ (err).message}`);
    }
  });
  return reloading;
}

/**
 * The sandbox's bootstrap in a child (the module as it is on disk now, not as this process imported
 * it): prints `[db] applied items/0002_add_description.sql to 2 tenants in 40 ms`, or the failure with
 * its file and line. `applied`: how many migrations ran.
 * @returns {Promise<{ ok: boolean; applied: number }>}
 */
async function migrate() {
  const child = takeRunner();
  /** @type {any} */
  const message = await new Promise((resolve) => {
    child.once('message', resolve);
    child.once('exit', (code, signal) => resolve({ error: `the migration runner exited (${signal ?? `code ${code}`})` }));
    child.send('run', (err) => {
      if (err) resolve({ error: `the migration runner did not start (${err.message})` });
    });
  });
  prewarmRunner();
  if (message.error) {
    // Ctrl-C reaches the runner too: no failure to report on the way out.
    if (!exiting) console.error(`[db] not brought in step: ${message.error}`);
    return { ok: false, applied: 0 };
  }
  /** @type {import('./bootstrap.ts').BootstrapReport} */
  const report = message.report;
  /** @type {string[]} */
  const ids = message.modules;
  const prefix = ids.length === 1 ? `${ids[0]}/` : ''; // else the report names each module
  /** @type {Map<string, number>} */
  const applied = new Map();
  for (const t of report.tenants) for (const file of t.applied) applied.set(file, (applied.get(file) ?? 0) + 1);
  const ms = Math.round(message.ms);
  for (const [file, n] of applied) console.log(`[db] applied ${prefix}${file} to ${n} tenant${n === 1 ? '' : 's'} in ${ms} ms`);
  for (const w of report.warnings) console.log(`[db] warning: ${w}`);
  if (report.errors.length > 0) {
    for (const e of report.errors) console.error(`[db] error: ${e}`);
    console.error('[db] the database is as it was (each tenant rolled back); the API keeps the old schema: fix the file and save it again');
    return { ok: false, applied: applied.size };
  }
  return { ok: true, applied: applied.size };
}

/**
 * A migration runner started ahead, and the manifest (the compiled code) it loaded.
 * @typedef {object} WarmRunner
 * @property {import('node:child_process').ChildProcess} child
 * @property {string | undefined} stamp
 */
/**
 * The next migration runner, started ahead with the compiled code as it is now: starting Node and
 * loading the bootstrap's modules was most of a migration's save-to-served time.
 * @type {WarmRunner | undefined}
 */
let warmRunner;

function startRunner() {
  const child = spawn(process.execPath, ['--enable-source-maps', join(OUT, 'migrate.js')], {
    cwd: root,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  child.on('error', () => {}); // reported through 'exit' by migrate()
  // Waiting, it must not keep npm run dev alive; the watchers and servers do that.
  child.unref();
  child.channel?.unref();
  return { child, stamp: readFileOr(MANIFEST) };
}

/** Whether the runner started ahead still has the code as compiled now, and waits. */
/** @param {WarmRunner | undefined} warm */
function runnerIsFresh(warm) {
  return warm !== undefined && warm.child.exitCode === null && warm.child.signalCode === null && warm.child.connected && warm.stamp === readFileOr(MANIFEST);
}

/** Start the next migration runner now (after a compile, after a migration), unless a fresh one waits. */
function prewarmRunner() {
  if (exiting || !compiled || runnerIsFresh(warmRunner)) return;
  warmRunner?.child.kill();
  warmRunner = startRunner();
}

/** The runner started ahead when it is still fresh, else a new one. */
function takeRunner() {
  const warm = warmRunner;
  warmRunner = undefined;
  if (warm && runnerIsFresh(warm)) return warm.child;
  warm?.child.kill();
  return startRunner().child;
}

/**
 * What the database must be in step with: each migration's name and content, the modules' declared
 * permissions (plugin/index.ts's `permissions` array in a sandbox, each compiled module.config.ts's in
 * a foundation).
 */
function dbInputs() {
  const h = createHash('sha256');
  const { files, permissions } = dbSources();
  for (const f of files) h.update(`${f}\0${hash(join(root, f))}\0`);
  h.update(permissions.join('\0'));
  return h.digest('hex');
}

/**
 * Which database the inputs are recorded for: the URL the API and the bootstrap use (config.ts's
 * databaseUrl(): DATABASE_URL, modkit.toml, the libpq variables, the local database), hashed (it may
 * hold a password). One record per database, so that going back and forth between the local database
 * and a named server runs no bootstrap on either when nothing changed.
 */
function dbKey() {
  let url;
  try {
    url = projectConfig?.databaseUrl();
  } catch {
    // no database at all: the migration runner reports it
  }
  return createHash('sha256').update(url ?? `${process.env.DATABASE_URL ?? ''}\0${readLocalUrl() ?? ''}`).digest('hex');
}

/** .modkit/dev/db-inputs: `{ [dbKey]: dbInputs }`, the last few databases. */
function readRecords() {
  try {
    const records = JSON.parse(readFileSync(DB_INPUTS, 'utf8'));
    return records && typeof records === 'object' && !Array.isArray(records) ? /** @type {Record<string, string>} */ (records) : {};
  } catch {
    return {}; // none yet, or unreadable: every database is brought in step once
  }
}

/** The inputs this database was last brought in step with. */
function recordedInputs() {
  return readRecords()[dbKey()];
}

/** @param {string} inputs what this database was just brought in step with */
function recordInputs(inputs) {
  const key = dbKey();
  const others = Object.entries(readRecords()).filter(([k]) => k !== key);
  writeAtomic(DB_INPUTS, JSON.stringify(Object.fromEntries([...others.slice(-7), [key, inputs]])));
}

/** @param {string} path */
function readFileOr(path) {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** The local database's url file exists and was written here, not copied from another project (cp -a). */
function localUrlIsOurs() {
  if (!existsSync(LOCAL_URL)) return false;
  try {
    return readFileSync(join(root, '.modkit', 'pg', 'home'), 'utf8').trim() === realpathSync(join(root, '.modkit', 'pg'));
  } catch {
    return true; // made before the home file: its next start writes one
  }
}

function readLocalUrl() {
  try {
    return readFileSync(LOCAL_URL, 'utf8').trim();
  } catch {
    return undefined;
  }
}

function spawnApi() {
  apiLocalUrl = readLocalUrl();
  // The IPC channel is how the API learns that this process is gone, however it ended (serve.js).
  const child = spawn(process.execPath, ['--enable-source-maps', join(OUT, 'serve.js')], {
    cwd: root,
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
  });
  api = child;
  if (ports) sendPorts(child);
  child.on('exit', (code, signal) => {
    if (api !== child) return; // stopped for a restart
    api = undefined;
    if (!exiting) console.error(`[api] exited (${signal ?? `code ${code}`}); it restarts when a file in ${SOURCE_DIRS.map((d) => `${d}/`).join(' or ')} changes`);
  });
}

/**
 * The API's ports (claimPorts), which it waits for before it listens (SERVE).
 * @param {import('node:child_process').ChildProcess} child
 */
function sendPorts(child) {
  if (child.connected) child.send({ api: process.env.PORT, vite: process.env.VITE_PORT }, () => undefined);
}

/** SIGTERM (the API closes its server and pool), then SIGKILL if it is still there after 5 s. */
async function stopApi() {
  const old = api;
  api = undefined;
  if (!old || old.exitCode !== null || old.signalCode !== null) return;
  const gone = once(old, 'exit');
  old.kill('SIGTERM');
  const timer = setTimeout(() => old.kill('SIGKILL'), 5000);
  await gone;
  clearTimeout(timer);
}

/** @param {string} why */
async function restartApi(why) {
  const running = api !== undefined;
  await stopApi();
  if (exiting) return;
  console.log(`[api] ${running ? 'restarting' : 'starting'}: ${why}`);
  spawnApi();
}

/**
 * Brings .modkit/dev up to date with plugin/ and sandbox/: each .ts file compiled by esbuild (reading
 * tsconfig.json as tsc does), each .js/.json file copied, outputs of deleted files removed. Only files
 * whose content changed since the manifest are touched. False (errors printed) when a file does not compile.
 */
async function compile() {
  refuseLinks();
  const tsconfig = hash(join(root, 'tsconfig.json'));
  /** @type {Manifest} */
  let before = {};
  try {
    before = JSON.parse(readFileSync(MANIFEST, 'utf8'));
  } catch {
    // none yet, or unreadable: compile everything
  }
  const whole = before.format !== FORMAT || before.root !== root || before.tsconfig !== tsconfig;
  const old = whole ? {} : (before.files ?? {});
  /** @type {Record<string, string>} */
  const files = {};
  for (const dir of SOURCE_DIRS) {
    for (const entry of readdirSync(join(root, dir), { recursive: true, withFileTypes: true })) {
      if (!entry.isFile() || !SOURCE_FILE.test(entry.name) || entry.name.endsWith('.d.ts')) continue;
      const rel = relative(root, join(entry.parentPath ?? entry.path, entry.name)).split(sep).join('/');
      if (rel === `${API_DIR}/dev.mjs`) continue;
      files[rel] = hash(join(root, rel));
    }
  }
  const changed = Object.keys(files).filter((rel) => old[rel] !== files[rel]);
  const removed = Object.keys(old).filter((rel) => !(rel in files));
  if (whole) rmSync(OUT, { recursive: true, force: true });
  for (const rel of removed) rmSync(join(OUT, rel.replace(/\.ts$/, '.js')), { force: true });
  lastCompiled = changed.length;
  if (changed.length === 0) return existsSync(join(OUT, 'serve.js'));

  mkdirSync(OUT, { recursive: true });
  const typescript = changed.filter((rel) => rel.endsWith('.ts'));
  for (const rel of changed.filter((r) => !r.endsWith('.ts'))) {
    mkdirSync(dirname(join(OUT, rel)), { recursive: true });
    writeAtomic(join(OUT, rel), readFileSync(join(root, rel)));
  }
  /** @type {string[]} */
  const failed = [];
  if (typescript.length > 0) {
    const esbuild = await import('esbuild');
    // One build per file: a file that does not compile leaves the others (and the local database's
    // code in sandbox/) compiled.
    const results = await Promise.allSettled(
      typescript.map((rel) =>
        esbuild.build({
          absWorkingDir: root,
          entryPoints: [rel],
          outdir: OUT,
          outbase: root,
          bundle: false,
          platform: 'node',
          format: 'esm',
          target: `node${process.versions.node.split('.')[0]}`,
          sourcemap: 'inline',
          logLevel: 'silent',
          // The compiled file stands in for its source: import.meta names the .ts file.
          define: {
            'import.meta.url': '__modkitSourceUrl',
            'import.meta.filename': '__modkitSourceFile',
            'import.meta.dirname': '__modkitSourceDir',
          },
          banner: { js: SOURCE_BANNER },
        }),
      ),
    );
    results.forEach((result, i) => {
      if (result.status === 'fulfilled') return;
      const err = result.reason;
      /** @type {import('esbuild').Message[]} */
      const errors = err instanceof Error && 'errors' in err && Array.isArray(err.errors) ? err.errors : [];
      for (const e of errors.length > 0 ? errors : [{ text: String(err), location: null }]) {
        const at = e.location ? `${e.location.file}:${e.location.line}:${e.location.column + 1}: ` : `${typescript[i]}: `;
        console.error(`[api] ${at}${e.text}`);
      }
      failed.push(typescript[i]);
    });
  }
  // What failed keeps its old entry in the manifest, so that the next run compiles it again.
  for (const rel of failed) {
    if (old[rel] === undefined) delete files[rel];
    else files[rel] = old[rel];
  }
  writeAtomic(join(OUT, 'serve.js'), SERVE);
  writeAtomic(join(OUT, 'migrate.js'), MIGRATE);
  writeManifest(tsconfig, files);
  if (failed.length === 0) return true;
  console.error('[api] not started: fix the error above (it restarts when a file changes)');
  return false;
}

/**
 * @param {string} tsconfig
 * @param {Record<string, string>} files
 */
function writeManifest(tsconfig, files) {
  writeAtomic(MANIFEST, JSON.stringify({ format: FORMAT, root, tsconfig, files }, null, 1));
}

/** @param {string} path */
function hash(path) {
  try {
    return createHash('sha256').update(readFileSync(path)).digest('hex');
  } catch {
    return '';
  }
}

/** A reader never sees half a file, and a link planted in .modkit/dev is replaced, not followed. */
/**
 * @param {string} path
 * @param {string | Buffer} content
 */
function writeAtomic(path, content) {
  // Checked again at every write: .modkit/dev may have been swapped for a link since the compile.
  refuseLinks();
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, content, { flag: 'wx' });
  renameSync(tmp, path);
}

/** `.modkit` or `.modkit/dev` as a symbolic link would make compiling write outside the project: throw. */
function refuseLinks() {
  for (const path of [join(root, '.modkit'), OUT]) {
    let link = false;
    try {
      link = lstatSync(path).isSymbolicLink();
    } catch {
      // not there yet: made below as a real folder
    }
    if (link) throw new Error(`${path} is a symbolic link; npm run dev writes the compiled API there, so remove the link`);
  }
}

/**
 * The server this run started, when its folder is gone (`rm -rf .modkit` while it ran): pg_ctl has no
 * data folder to stop it by, so it gets PostgreSQL's fast-shutdown signal; never a `stopped` that is not so.
 */
async function stopOrphanServer() {
  const pid = serverPid;
  const isPostgres = () => {
    try {
      process.kill(/** @type {number} */ (pid), 0);
      return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'postgres';
    } catch {
      return false;
    }
  };
  if (pid === undefined || !isPostgres()) {
    console.log('[db] the local database was not running');
    return;
  }
  process.kill(pid, 'SIGINT');
  for (let i = 0; i < 100 && isPostgres(); i++) await new Promise((r) => setTimeout(r, 50));
  if (isPostgres()) console.error(`[db] .modkit/pg is gone and its server (pid ${pid}) did not stop: kill ${pid}`);
  else console.log(`[db] .modkit/pg is gone: stopped its server (pid ${pid}) by signal`);
}

/**
 * Stop the children, wait for them, then the database this run started; exit with `code`.
 * @param {number} code
 * @param {NodeJS.Signals} [signal]
 */
async function shutdown(code, signal) {
  if (exiting) return;
  exiting = true;
  const child = api;
  if (child && child.exitCode === null && child.signalCode === null) child.kill(signal ?? 'SIGTERM');
  await Promise.race([
    Promise.all([vite?.close(), child && child.exitCode === null && child.signalCode === null ? once(child, 'exit') : undefined]),
    new Promise((r) => setTimeout(r, 5000)),
  ]);
  ports?.releaseDev();
  // A start still under way (Ctrl-C right after npm run dev) finishes first, so that it is stopped too.
  await databaseStart?.catch(() => undefined);
  if (startedDb) {
    try {
      /** @type {typeof import('./localdb.ts')} */
      const localdb = await import(pathToFileURL(join(OUT, API_DIR, 'localdb.js')).href);
      if (await localdb.stopLocalDb()) console.log('[db] stopped the local database');
      else await stopOrphanServer();
    } catch (err) {
      console.error(`[db] ${/** @type {Error} */ (err).message}`);
    }
  }
  process.exit(code);
}
