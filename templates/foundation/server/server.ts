// The foundation's API: the route registry (every adapted module's router at /api/plugins/<id>), the
// registry endpoint the client shell reads (/api/modules) and health (/api/health). `npm start` runs it;
// `npm run dev` runs it compiled, restarted on change; the tests import createApp().
import type { Server } from 'node:http';
import express from 'express';
import type { ErrorRequestHandler, Express, RequestHandler, Router } from 'express';
import { devIdentity, isEntryPoint, listenHost } from './config.js';
import { apiErrorHandler, serveUntilStopped, useLocalCors } from './http.js';
import { projectFileUrl, projectModules, type ModuleConfig } from './modules.js';
import { heldPermissions, requestIdentity } from './rbac.js';

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

export async function createApp(options: AppOptions = {}): Promise<{ app: Express; registry: Registry }> {
  const production = options.production ?? process.env.NODE_ENV === 'production';
  const identity = devIdentity(production);
  const app = express();
  app.disable('x-powered-by');
  if (!production) {
    // cors is a dev dependency: load it only here, so production (no dev deps installed) never needs it.
    const { default: cors } = await import('cors');
    useLocalCors(app, cors);
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

  // The modules and the nav entries this user may see in this tenant. The user and the tenant are read
  // by server/rbac.ts, as requirePermission reads them: the one place real authentication goes
  // (README: "Real authentication"; the client shell's user picker sets X-User-Id in development).
  app.get('/api/modules', async (req, res) => {
    const who = await requestIdentity(req, res, identity);
    if (!who) return;
    const held = await heldPermissions(who.user, who.tenant.id);
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

/** Where a migration the code needs and the database lacks yet would be (the 500 for a missing column says it). */
const MIGRATION_HINT =
  'a migration in migrations/<module>/ not applied yet? npm run dev applies one when it is saved (see its [db] lines), else run npm run bootstrap';

/** The error handler of every API of the project (server/http.ts), with the foundation's migration hint. */
export const errorHandler: ErrorRequestHandler = apiErrorHandler(MIGRATION_HINT);

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
  return serveUntilStopped(() => start());
}

if (isEntryPoint(import.meta.url)) await serve();
