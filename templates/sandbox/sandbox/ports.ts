// The ports of this project's `npm run dev`: the API's and Vite's. They belong to the project: taken
// from PORT / VITE_PORT (the environment or .env), else modkit.toml's [dev] api_port / vite_port, else
// chosen free once and kept in .modkit/ports.json (as the local database keeps its port). A port named
// by the user and taken by another program is refused in one line naming the holder; a kept one is
// chosen again (and said so). Never a fallback onto a port where another project's server answers.
//
// .modkit/dev.json marks the running `npm run dev` (pid, ports, project folder): a second one in the
// same folder is told `already running` and exits 2. Both files name the project folder, so a copy
// made with `cp -a` while the original runs is its own project with its own ports.
import { mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { loadConfig, projectRoot } from './config.js';

const PORTS = join(projectRoot, '.modkit', 'ports.json');
const RUNNING = join(projectRoot, '.modkit', 'dev.json');

/** The defaults, when free: what the docs and a first sandbox use. */
const DEFAULT_API = 3001;
const DEFAULT_VITE = 5173;

export class PortError extends Error {}

export interface DevPorts {
  api: number;
  vite: number;
  /** Where each came from, for the messages. */
  apiFrom: string;
  viteFrom: string;
  /** Lines to print: a kept port chosen again. */
  notes: string[];
}

export interface RunningDev {
  pid: number;
  root: string;
  api: number;
  vite: number;
}

function envPort(name: string): number | undefined {
  const raw = process.env[name]?.trim();
  if (!raw) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new PortError(`${name}=${raw} is not a port number (1-65535)`);
  return n;
}

function bind(port: number, host: string): Promise<number | 'busy' | 'no-family'> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) =>
      resolve(err.code === 'EADDRNOTAVAIL' || err.code === 'EAFNOSUPPORT' ? 'no-family' : 'busy'),
    );
    server.listen({ port, host, exclusive: true }, () => {
      const chosen = (server.address() as { port: number }).port;
      server.close(() => resolve(chosen));
    });
  });
}

/**
 * Whether `port` is free now on 127.0.0.1 and ::1 (Vite listens on `localhost`, which may be either);
 * 0: any port free on both. The port, or undefined when taken.
 */
export async function tryPort(port: number): Promise<number | undefined> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const v4 = await bind(port, '127.0.0.1');
    if (typeof v4 !== 'number') return undefined;
    const v6 = await bind(v4, '::1');
    if (v6 !== 'busy') return v4;
    if (port !== 0) return undefined;
  }
  return undefined;
}

function readJson<T>(path: string): T | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

function writeJson(path: string, value: unknown): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(value)}\n`, { flag: 'w' });
  renameSync(tmp, path);
}

/** What the system says holds 127.0.0.1:`port` (Linux: /proc), e.g. `pid 4242 (node) in /home/me/shop`. */
export function portHolder(port: number): string | undefined {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // local address hex:PORT, state 0A = LISTEN, inode in column 10
      if (f.length > 9 && f[3] === '0A' && Number.parseInt(f[1]!.split(':')[1] ?? '', 16) === port) inodes.add(f[9]!);
    }
  }
  if (inodes.size === 0) return undefined;
  let pids: string[] = [];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return undefined;
  }
  for (const pid of pids) {
    let fds: string[] = [];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue; // another user's process: not ours to look into
    }
    for (const fd of fds) {
      let target = '';
      try {
        target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      const m = /^socket:\[(\d+)\]$/.exec(target);
      if (!m || !inodes.has(m[1]!)) continue;
      let what = `pid ${pid}`;
      try {
        what += ` (${readFileSync(`/proc/${pid}/comm`, 'utf8').trim()})`;
        what += ` in ${readlinkSync(`/proc/${pid}/cwd`)}`;
      } catch {
        // gone meanwhile
      }
      return what;
    }
  }
  return 'another user\'s process';
}

/** The running `npm run dev` of this folder, if any (a copied dev.json names another folder: not this one's). */
export function runningDev(): RunningDev | undefined {
  const r = readJson<RunningDev>(RUNNING);
  if (!r || r.root !== projectRoot || !Number.isInteger(r.pid) || r.pid === process.pid) return undefined;
  return isDevLauncher(r.pid) ? r : undefined;
}

/** A live process whose command line is this project's dev.mjs (a pid reused by another program is not). */
function isDevLauncher(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (!cmdline.includes('dev.mjs')) return false;
    return readlinkSync(`/proc/${pid}/cwd`) === projectRoot.replace(/\/$/, '');
  } catch {
    return !existsProc(); // no /proc (macOS): trust the signal check
  }
}

function existsProc(): boolean {
  try {
    readdirSync('/proc/self');
    return true;
  } catch {
    return false;
  }
}

/**
 * Make this process the folder's `npm run dev` (.modkit/dev.json, created exclusively, so that of two
 * started at once only one wins); the one already running when there is one. Undone by releaseDev().
 */
export function claimDev(): RunningDev | undefined {
  mkdirSync(dirname(RUNNING), { recursive: true });
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      writeFileSync(RUNNING, `${JSON.stringify({ pid: process.pid, root: projectRoot, api: 0, vite: 0 })}\n`, { flag: 'wx' });
      return undefined;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const other = runningDev();
    if (other) return other;
    rmSync(RUNNING, { force: true }); // left by a killed run, or copied from another folder
  }
  throw new PortError(`cannot claim ${RUNNING}: another npm run dev keeps replacing it`);
}

/** Record the ports of this run in .modkit/dev.json (for a second `npm run dev` and for doctor). */
export function recordDev(ports: { api: number; vite: number }): void {
  writeJson(RUNNING, { pid: process.pid, root: projectRoot, api: ports.api, vite: ports.vite } satisfies RunningDev);
}

export function releaseDev(): void {
  if (readJson<RunningDev>(RUNNING)?.pid !== process.pid) return;
  rmSync(RUNNING, { force: true });
}

function busy(port: number, whose: string, how: string): PortError {
  const holder = portHolder(port);
  return new PortError(
    `port ${port} (${whose}) is in use${holder ? ` by ${holder}` : ''}; choose another: ${how}`,
  );
}

/**
 * The API's and Vite's ports for this run, each checked free now. Throws PortError (one line: the
 * port, what holds it, how to choose another) when a port the user named is taken.
 */
export async function devPorts(): Promise<DevPorts> {
  const config = loadConfig();
  const kept = readJson<{ root?: string; api?: number; vite?: number }>(PORTS);
  const own = kept?.root === projectRoot ? kept : undefined; // a copied ports.json is the original's
  const notes: string[] = [];
  const pick = async (
    env: string,
    key: string,
    whose: string,
    fallback: number,
    keptPort: number | undefined,
    avoid: number | undefined,
  ): Promise<{ port: number; from: string }> => {
    const named = envPort(env);
    const how = `${env}=<port> npm run dev, or ${key} = <port> under [dev] in modkit.toml`;
    if (named !== undefined) {
      if ((await tryPort(named)) === undefined) throw busy(named, whose, how.replace(`${env}=<port>`, `${env}=<another port>`));
      return { port: named, from: env };
    }
    const configured = key === 'api_port' ? config.apiPort : config.vitePort;
    if (configured !== undefined) {
      if ((await tryPort(configured)) === undefined) throw busy(configured, whose, how);
      return { port: configured, from: `modkit.toml [dev] ${key}` };
    }
    if (keptPort !== undefined && keptPort !== avoid && (await tryPort(keptPort)) !== undefined) return { port: keptPort, from: '.modkit/ports.json' };
    const port = (fallback !== avoid ? await tryPort(fallback) : undefined) ?? (await tryPort(0))!;
    if (keptPort !== undefined) {
      const holder = portHolder(keptPort);
      notes.push(`[dev] ${whose}'s port ${keptPort} is in use${holder ? ` by ${holder}` : ''}: this project now uses ${port} (kept in .modkit/ports.json)`);
    }
    return { port, from: 'chosen free' };
  };
  const api = await pick('PORT', 'api_port', "the API", DEFAULT_API, own?.api, undefined);
  const vite = await pick('VITE_PORT', 'vite_port', 'Vite', DEFAULT_VITE, own?.vite, api.port);
  if (api.port === vite.port) throw new PortError(`the API and Vite cannot share port ${api.port}: set PORT and VITE_PORT to two ports`);
  if (!own || own.api !== api.port || own.vite !== vite.port) {
    // Kept: only the chosen ones (a port named by PORT or modkit.toml is read from there every time).
    writeJson(PORTS, {
      root: projectRoot,
      api: api.from === 'PORT' || api.from.startsWith('modkit.toml') ? own?.api : api.port,
      vite: vite.from === 'VITE_PORT' || vite.from.startsWith('modkit.toml') ? own?.vite : vite.port,
    });
  }
  return { api: api.port, vite: vite.port, apiFrom: api.from, viteFrom: vite.from, notes };
}
