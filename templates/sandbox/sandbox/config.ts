// The sandbox's settings: modkit.toml (the same file the modkit CLI reads) and the environment.
import { readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parse } from 'smol-toml';

/** The sandbox's root folder (where package.json and modkit.toml are). */
export const projectRoot = fileURLToPath(new URL('..', import.meta.url));

export interface SandboxConfig {
  /** The module's id; undefined in a foundation (its modkit.toml has [foundation], no [module]). */
  moduleId: string | undefined;
  moduleName: string;
  /** A foundation's [foundation] section: where the adapted modules live. */
  foundation: { modulesDir: string } | undefined;
  databaseUrl: string | undefined;
  devUser: string;
  devTenants: string[];
  /** [database] extensions: made once by the bootstrap in schema `extensions`, never by a migration. */
  extensions: string[];
}

function table(doc: Record<string, unknown>, key: string): Record<string, unknown> {
  const value = doc[key];
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value : undefined;
}

export function loadConfig(file = fileURLToPath(new URL('../modkit.toml', import.meta.url))): SandboxConfig {
  const doc = parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  const module = table(doc, 'module');
  const dev = table(doc, 'dev');
  const moduleId = str(module.id);
  const foundation = 'foundation' in doc ? { modulesDir: str(table(doc, 'foundation').modules_dir) ?? 'src/modules' } : undefined;
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
  };
}

/** The local database's name: `<module>_dev` in a sandbox, `app_dev` in a foundation (as `modkit db`). */
export function localDatabaseName(config: SandboxConfig = loadConfig()): string {
  return `${(config.moduleId ?? 'app').replace(/-/g, '_')}_dev`;
}

/** DATABASE_URL, else modkit.toml's [database] url, else the local database's (sandbox/localdb.ts, started
 * by `npm run dev`): the order the modkit CLI uses after --db. */
export function databaseUrl(): string {
  const url = str(process.env.DATABASE_URL) ?? loadConfig().databaseUrl ?? localDatabaseUrl();
  if (!url) {
    throw new Error(
      'no database: `npm run dev` or `npm run db:start` make and start the local one (.modkit/pg); or set DATABASE_URL, or [database] url in modkit.toml',
    );
  }
  return url;
}

/** The URL of the local database in .modkit/pg/url, once made (it holds the password: never print it). */
export function localDatabaseUrl(): string | undefined {
  try {
    return str(readFileSync(join(projectRoot, '.modkit', 'pg', 'url'), 'utf8').trim());
  } catch {
    return undefined;
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
