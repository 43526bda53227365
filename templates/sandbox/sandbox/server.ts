// The sandbox's Express app: mounts the module at /api/plugins/<id> with the sandbox's pool,
// withTenantTx and RBAC. `npm start` runs it; the tests import createApp().
import type { Server } from 'node:http';
import express from 'express';
import type { ErrorRequestHandler, Express } from 'express';
import plugin from '../plugin/index.js';
import { devIdentity, isEntryPoint, listenHost, projectRoot } from './config.js';
import { withTenantTx } from './db/tenant-db.js';
import { apiErrorHandler, serveUntilStopped, useLocalCors } from './http.js';
import { requirePermission } from './rbac.js';

export interface AppOptions {
  /** Default: NODE_ENV === 'production'. No CORS at all; X-User-Id refused unless MODKIT_DEV_IDENTITY=1. */
  production?: boolean;
}

export async function createApp(options: AppOptions = {}): Promise<Express> {
  const production = options.production ?? process.env.NODE_ENV === 'production';
  const app = express();
  app.disable('x-powered-by');

  if (!production) {
    // cors is a dev dependency: load it only here, so production (no dev deps installed) never needs it.
    const { default: cors } = await import('cors');
    useLocalCors(app, cors);
  }
  app.use(express.json());
  if (!production) {
    // Whose API this is: the client, doctor and a second `npm run dev` tell this project's server from
    // another's on the same port by it (a page must never list another project's rows).
    app.use((_req, res, next) => {
      res.setHeader('X-Modkit-Project', encodeURIComponent(projectRoot));
      next();
    });
    app.get('/api/sandbox/health', (_req, res) => {
      res.json({ ok: true, project: projectRoot, module: plugin.meta.id, pid: process.pid });
    });
  }

  const router = express.Router();
  const identity = devIdentity(production);
  await plugin.register({
    router,
    rbac: { require: (permission) => requirePermission(permission, identity) },
    withTenantTx,
    log: (msg, meta) => console.log(JSON.stringify({ at: 'plugin', plugin: plugin.meta.id, msg, ...meta })),
  });
  app.use(`/api/plugins/${plugin.meta.id}`, router);

  app.use((_req, res) => {
    res.status(404).json({ error: 'not found' });
  });
  app.use(errorHandler);
  return app;
}

/** Where a migration the code needs and the database lacks yet would be (the 500 for a missing column says it). */
const MIGRATION_HINT =
  'a migration in plugin/migrations/ not applied yet? npm run dev applies one when it is saved (see its [db] lines), else run npm run bootstrap';

/** The error handler of every API of the project (sandbox/http.ts), with the sandbox's migration hint. */
export const errorHandler: ErrorRequestHandler = apiErrorHandler(MIGRATION_HINT);

/** Starts the API on PORT (default 3001) and HOST (default 127.0.0.1); resolves once it listens. */
export async function start(port = Number(process.env.PORT ?? 3001), host = listenHost()): Promise<Server> {
  const app = await createApp();
  const identity = devIdentity(process.env.NODE_ENV === 'production');
  return new Promise((resolve, reject) => {
    const server = app.listen(port, host, (err?: Error) => {
      if (err) return reject(err);
      const shown = host.includes(':') ? `[${host}]` : host;
      console.log(`API on http://${shown}:${port}/api/plugins/${plugin.meta.id}`);
      console.log(`identity: ${identity.why}`);
      resolve(server);
    });
  });
}

/** start(), then Ctrl-C or SIGTERM closes the server and the pool: `npm start`, and `npm run dev`'s API. */
export async function serve(): Promise<Server> {
  return serveUntilStopped(() => start());
}

if (isEntryPoint(import.meta.url)) await serve();
