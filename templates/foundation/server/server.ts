// The foundation's API: the route registry (every adapted module's router at /api/plugins/<id>), the
// registry endpoint the client shell reads (/api/modules) and health (/api/health). `npm start` runs it;
// `npm run dev` runs it compiled, restarted on change; the tests import createApp().
import type { Server } from 'node:http';
import express from 'express';
import type { ErrorRequestHandler, Express, RequestHandler, Router } from 'express';
import { devIdentity, isEntryPoint, listenHost } from './config.js';
import { pool } from './db/client.js';
import { databaseUnavailable, findTenant } from './db/tenant-db.js';
import { projectFileUrl, projectModules, type ModuleConfig } from './modules.js';

/** Origins allowed by the development CORS: http://localhost[:port] and http://127.0.0.1[:port]. */
const LOCAL_ORIGIN = /^http:\/\/(localhost|127\.0\.0\.1)(:\d{1,5})?$/;

export interface AppOptions {
  /** Default: NODE_ENV === 'production'. No CORS at all; X-User-Id refused unless MODKIT_DEV_IDENTITY=1. */
  production?: boolean;
}

export interface Registry {
  /** The modules mounted. */
  modules: ModuleConfig[];
  /** Modules whose code failed to load: their routes answer 503, the others work. */
  failed: { id: string; error: string }[];
}

/**
 * The user of a request. Development: the X-User-Id header (the client shell's user picker sets it).
 * This, and the same read in server/rbac.ts, is where real authentication goes (docs: "Real
 * authentication" in the README): verify the session or token there and return its user.
 */
function requestUser(req: express.Request): string | undefined {
  return req.get('x-user-id')?.trim() || undefined;
}

export async function createApp(options: AppOptions = {}): Promise<{ app: Express; registry: Registry }> {
  const production = options.production ?? process.env.NODE_ENV === 'production';
  const identity = devIdentity(production);
  const app = express();
  app.disable('x-powered-by');
  if (!production) {
    // cors is a dev dependency: load it only here, so production (no dev deps installed) never needs it.
    const { default: cors } = await import('cors');
    app.use(cors({ origin: (origin, cb) => cb(null, origin !== undefined && LOCAL_ORIGIN.test(origin)), credentials: true }));
  }
  app.use(express.json());

  const registry: Registry = { modules: [], failed: [] };
  for (const module of await projectModules()) {
    try {
      const routes = (await import(projectFileUrl(module.routes))) as { default?: Router; ready?: Promise<unknown> };
      // A CommonJS adapter cannot await at top level: it exports a `ready` promise instead.
      await routes.ready;
      if (typeof routes.default !== 'function') throw new Error(`${module.routes} has no default export (the module's Router)`);
      app.use(`/api/plugins/${module.id}`, routes.default);
      registry.modules.push(module.config);
    } catch (err) {
      // One broken module must not take the platform down: its routes answer 503 saying why.
      const error = err instanceof Error ? err.message : String(err);
      console.error(`[api] module "${module.id}" failed to load:`, err);
      registry.failed.push({ id: module.id, error });
      const unavailable: RequestHandler = (_req, res) => {
        res.status(503).json({ error: `module "${module.id}" failed to load: ${error}` });
      };
      app.use(`/api/plugins/${module.id}`, unavailable);
    }
  }

  app.get('/api/health', (_req, res) => {
    res.status(registry.failed.length ? 503 : 200).json({
      status: registry.failed.length ? 'degraded' : 'ok',
      modules: registry.modules.map((m) => m.id),
      failed: registry.failed,
    });
  });

  // The modules and the nav entries this user may see in this tenant.
  app.get('/api/modules', async (req, res) => {
    if (!identity.allowed) {
      res.status(401).json({ error: identity.why });
      return;
    }
    const user = requestUser(req);
    if (!user) {
      res.status(401).json({ error: 'missing X-User-Id header' });
      return;
    }
    const tenantKey = req.get('x-tenant-id')?.trim();
    if (!tenantKey) {
      res.status(400).json({ error: 'missing X-Tenant-Id header (a tenant id or code)' });
      return;
    }
    const tenant = await findTenant(pool, tenantKey);
    if (!tenant) {
      res.status(404).json({ error: `unknown tenant "${tenantKey}"` });
      return;
    }
    const { rows } = await pool.query<{ permission: string }>(
      `SELECT DISTINCT rp.permission FROM public.sys_user_role ur
         JOIN public.sys_role r ON r.id = ur.role_id AND r.tenant_id = ur.tenant_id
         JOIN public.sys_role_permission rp ON rp.role_id = r.id
        WHERE ur.user_id = $1 AND ur.tenant_id = $2::uuid`,
      [user, tenant.id],
    );
    const held = new Set(rows.map((r) => r.permission));
    res.json({
      data: registry.modules.map(({ id, name, version, nav }) => ({
        id,
        name,
        version,
        nav: (nav?.items ?? [])
          .filter((item) => (item.permissions ?? []).every((p) => held.has(p)))
          .map(({ path, label }) => ({ path, label })),
      })),
      failed: registry.failed.map((f) => f.id),
    });
  });

  app.use((_req, res) => {
    res.status(404).json({ error: 'not found' });
  });
  app.use(errorHandler);
  return { app, registry };
}

// SQLSTATEs of a value PostgreSQL cannot store (a NUL byte in text, a character outside the encoding).
const BAD_CHARACTER_SQLSTATES = new Set(['22021', '22P05']);

// 4xx errors (bad JSON, unknown tenant...) keep their status and message; a database that went away is a
// 503 saying so; anything else a module throws (Express 5 forwards rejected promises here) is a logged
// 500 without detail.
export const errorHandler: ErrorRequestHandler = (err, _req, res, next) => {
  const unavailable = databaseUnavailable(err);
  const e = (unavailable ?? err) as { status?: unknown; statusCode?: unknown; message?: unknown; code?: unknown };
  if (typeof e.code === 'string' && BAD_CHARACTER_SQLSTATES.has(e.code)) {
    if (!res.headersSent) res.status(400).json({ error: 'the request holds a character the database cannot store (e.g. a NUL byte)' });
    return;
  }
  const raw = Number(e.status ?? e.statusCode);
  const status = Number.isInteger(raw) && raw >= 400 && raw < 600 ? raw : 500;
  if (status === 503) console.error(`[api] 503: ${String(e.message)}`);
  else if (status >= 500) console.error(err);
  if (res.headersSent) return next(err);
  res.status(status).json({ error: status >= 500 && status !== 503 ? 'internal error' : String(e.message) });
};

/** Starts the API on PORT (default 3001) and HOST (default 127.0.0.1); resolves once it listens. */
export async function start(port = Number(process.env.PORT ?? 3001), host = listenHost()): Promise<Server> {
  const { app, registry } = await createApp();
  const identity = devIdentity(process.env.NODE_ENV === 'production');
  return new Promise((resolve, reject) => {
    const server = app.listen(port, host, (err?: Error) => {
      if (err) return reject(err);
      const shown = host.includes(':') ? `[${host}]` : host;
      const ids = registry.modules.map((m) => m.id).join(', ') || 'none yet (modkit adapt <module> --foundation .)';
      console.log(`API on http://${shown}:${port}/api (modules: ${ids})`);
      for (const f of registry.failed) console.log(`module ${f.id} FAILED to load: ${f.error}`);
      console.log(`identity: ${identity.why}`);
      resolve(server);
    });
  });
}

/** start(), then Ctrl-C or SIGTERM closes the server and the pool: `npm start`, and `npm run dev`'s API. */
export async function serve(): Promise<Server> {
  // A module's stray rejection or throw outside a request (a timer, an event) is logged, not fatal: the
  // other modules keep serving. Requests are covered by the error handler above.
  process.on('unhandledRejection', (reason) => console.error('[api] unhandled rejection (ignored):', reason));
  process.on('uncaughtException', (err) => console.error('[api] uncaught exception (ignored):', err));
  const server = await start();
  let stopping = false;
  const stop = () => {
    if (stopping) return; // Ctrl-C reaches npm run dev's API twice: from the terminal and from dev.mjs
    stopping = true;
    server.close(() => void pool.end());
    server.closeAllConnections(); // keep-alive sockets (e.g. Vite's proxy) would hold close() open
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return server;
}

if (isEntryPoint(import.meta.url)) await serve();
