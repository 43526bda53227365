// The sandbox's settings: modkit.toml (the same file the modkit CLI reads) and the environment.
import { readFileSync, realpathSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parse } from 'smol-toml';
import { fromDotEnv } from './env.js'; // .env under the environment, before anything here reads it

/** The sandbox's root folder (where package.json and modkit.toml are). */
export const projectRoot = fileURLToPath(new URL('..', import.meta.url));

export interface SandboxConfig {
  /** The module's id; undefined in a foundation (its modkit.toml has [foundation], no [module]). */
  moduleId: string | undefined;
  moduleName: string;
  /** A foundation's [foundation] section: where the adapted modules and their migrations live. */
  foundation: { modulesDir: string; migrationsDir: string } | undefined;
  databaseUrl: string | undefined;
  devUser: string;
  devTenants: string[];
  /** [database] extensions: made once by the bootstrap in schema `extensions`, never by a migration. */
  extensions: string[];
  /** [dev] api_port and vite_port: the ports `npm run dev` uses (else PORT / VITE_PORT, else kept ones). */
  apiPort: number | undefined;
  vitePort: number | undefined;
  /** [database] port: the local database's port (MODKIT_PG_PORT wins). */
  databasePort: number | undefined;
}

function table(doc: Record<string, unknown>, key: string): Record<string, unknown> {
  const value = doc[key];
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value : undefined;
}

function port(value: unknown, file: string, key: string, section = 'dev'): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 65535) return value;
  throw new Error(`${file}: [${section}] ${key} must be a port number (1-65535), got ${JSON.stringify(value)}`);
}

export function loadConfig(file = fileURLToPath(new URL('../modkit.toml', import.meta.url))): SandboxConfig {
  const doc = parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  const module = table(doc, 'module');
  const dev = table(doc, 'dev');
  const moduleId = str(module.id);
  const foundation = 'foundation' in doc ? { modulesDir: str(table(doc, 'foundation').modules_dir) ?? 'src/modules', migrationsDir: str(table(doc, 'foundation').migrations_dir) ?? 'migrations' } : undefined;
  if (!moduleId && !foundation) throw new Error(`${file}: [module] id is missing`);
  const tenants = Array.isArray(dev.tenants) ? dev.tenants.filter((t): t is string => typeof t === 'string') : ['dev'];
  return {
    moduleId,
    // Like modkit: `order-lines` -> `Order Lines` when the name is not set.
    moduleName: str(module.name) ?? (moduleId ?? 'app').split('-').map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join(' '),
    foundation,
    databaseUrl: str(table(doc, 'database').url),
    devUser: str(dev.user) ?? 'dev',
    devTenants: tenants,
    extensions: (Array.isArray(table(doc, 'database').extensions) ? (table(doc, 'database').extensions as unknown[]) : []).filter(
      (e): e is string => typeof e === 'string',
    ),
    apiPort: port(dev.api_port, file, 'api_port'),
    vitePort: port(dev.vite_port, file, 'vite_port'),
    databasePort: port(table(doc, 'database').port, file, 'port', 'database'),
  };
}

/** The local database's name: `<module>_dev` in a sandbox, `app_dev` in a foundation (as `modkit db`). */
export function localDatabaseName(config: SandboxConfig = loadConfig()): string {
  return `${(config.moduleId ?? 'app').replace(/-/g, '_')}_dev`;
}

/** The libpq variables that, set alone, name a database (as modkit reads them). */
const PG_TARGET_VARS = ['PGHOST', 'PGHOSTADDR', 'PGPORT', 'PGUSER', 'PGDATABASE'] as const;

/**
 * The URL the libpq variables name when at least one of PGHOST, PGHOSTADDR, PGPORT, PGUSER and
 * PGDATABASE is set in the environment (modkit's step 5): the rest as libpq fills it (localhost, 5432,
 * the login name, a database named as the user). Only the environment's own: modkit reads nothing but
 * DATABASE_URL from .env, and both sides must pick the same database. The password stays out: pg
 * reads PGPASSWORD or ~/.pgpass itself.
 */
export function pgEnvUrl(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const given = (name: string) => (fromDotEnv.includes(name) ? undefined : str(env[name]));
  if (!PG_TARGET_VARS.some((name) => given(name) !== undefined)) return undefined;
  const user = given('PGUSER') ?? userInfo().username;
  const host = given('PGHOST') ?? given('PGHOSTADDR') ?? 'localhost';
  const port = given('PGPORT') ?? '5432';
  const database = given('PGDATABASE') ?? user;
  const query = new URLSearchParams();
  const sslmode = str(env.PGSSLMODE);
  if (sslmode) query.set('sslmode', sslmode);
  const enc = encodeURIComponent;
  if (host.startsWith('/')) {
    // A socket folder: pg takes it from `host` in the query.
    query.set('host', host);
    query.set('port', port);
    return `postgres://${enc(user)}@/${enc(database)}?${query.toString()}`;
  }
  const q = query.toString();
  return `postgres://${enc(user)}@${host.includes(':') ? `[${host}]` : host}:${port}/${enc(database)}${q ? `?${q}` : ''}`;
}

/** DATABASE_URL (the environment's, else .env's), else modkit.toml's [database] url, else the libpq
 * variables (pgEnvUrl), else the local database's (sandbox/localdb.ts, started by `npm run dev`): the
 * order the modkit CLI uses after --db. */
export function databaseUrl(): string {
  const url = str(process.env.DATABASE_URL) ?? loadConfig().databaseUrl ?? pgEnvUrl() ?? localDatabaseUrl();
  if (!url) {
    throw new Error(
      'no database: `npm run dev` or `npm run db:start` make and start the local one (.modkit/pg); or set DATABASE_URL (or PGHOST/PGDATABASE), or [database] url in modkit.toml',
    );
  }
  return url;
}

/**
 * The URL of the local database in .modkit/pg/url, once made (it holds the password: never print it).
 * None in a copy of another project's .modkit/pg until its next start gives it a port of its own: the
 * copied URL is the original's server.
 */
export function localDatabaseUrl(): string | undefined {
  if (localDbCopiedFrom() !== undefined) return undefined;
  try {
    return str(readFileSync(join(projectRoot, '.modkit', 'pg', 'url'), 'utf8').trim());
  } catch {
    return undefined;
  }
}

/** The .modkit/pg folder this one was made as, when it is not this one (a `cp -a` copy); else undefined. */
export function localDbCopiedFrom(): string | undefined {
  const dir = join(projectRoot, '.modkit', 'pg');
  try {
    const home = readFileSync(join(dir, 'home'), 'utf8').trim();
    return home !== '' && home !== realpathSync(dir) ? home : undefined;
  } catch {
    return undefined; // made before the home file, or not made yet
  }
}

/** A database URL fit for output: a password never appears. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    if (u.searchParams.has('password')) u.searchParams.set('password', '***');
    return u.toString();
  } catch {
    return '(unparseable database URL)';
  }
}

/** True when the module at `metaUrl` is the script node (or tsx) was started with. */
export function isEntryPoint(metaUrl: string): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return pathToFileURL(realpathSync(script)).href === metaUrl;
  } catch {
    return false;
  }
}

/** Whether the sandbox may take the user from the X-User-Id header, and why (for the log and 401s). */
export interface DevIdentity {
  allowed: boolean;
  why: string;
}

/**
 * The sandbox has no authentication: in development the user is whatever X-User-Id says. That must
 * never quietly reach production, where anyone could claim any user: with `production` the header is
 * refused unless MODKIT_DEV_IDENTITY=1 says, knowingly, to trust it anyway.
 */
export function devIdentity(production: boolean, env: NodeJS.ProcessEnv = process.env): DevIdentity {
  if (!production) return { allowed: true, why: 'development: the user is taken from the X-User-Id header' };
  if (env.MODKIT_DEV_IDENTITY?.trim() === '1') {
    return {
      allowed: true,
      why: 'NODE_ENV=production with MODKIT_DEV_IDENTITY=1: the X-User-Id header is trusted, anyone can claim any user',
    };
  }
  return {
    allowed: false,
    why:
      'NODE_ENV=production: the X-User-Id header identity of the sandbox is refused, since the sandbox has no ' +
      'authentication and anyone could claim any user; serve the module from the foundation, or set ' +
      'MODKIT_DEV_IDENTITY=1 to trust the header anyway',
  };
}

/** The address the API listens on: HOST, else 127.0.0.1 (the development server is not for the network). */
export function listenHost(env: NodeJS.ProcessEnv = process.env): string {
  return env.HOST?.trim() || '127.0.0.1';
}
