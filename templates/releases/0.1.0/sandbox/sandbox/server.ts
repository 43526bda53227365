// The sandbox's Express app: mounts the module at /api/plugins/<id> with the sandbox's pool,
// withTenantTx and RBAC. `npm start` runs it; the tests import createApp().
import type { Server } from 'node:http';
import express from 'express';
import type { ErrorRequestHandler, Express } from 'express';
import plugin from '../plugin/index.js';
import { isEntryPoint } from './config.js';
import { pool } from './db/client.js';
import { withTenantTx } from './db/tenant-db.js';
import { requirePermission } from './rbac.js';

/** Origins allowed by the development CORS: http://localhost[:port] and http://127.0.0.1[:port]. */
const LOCAL_ORIGIN = /^http:\/\/(localhost|127\.0\.0\.1)(:\d{1,5})?$/;

export interface AppOptions {
  /** Default: NODE_ENV === 'production'. Production has no CORS at all. */
  production?: boolean;
}

export async function createApp(options: AppOptions = {}): Promise<Express> {
  const production = options.production ?? process.env.NODE_ENV === 'production';
  const app = express();
  app.disable('x-powered-by');

  if (!production) {
    // cors is a dev dependency: load it only here, so production (no dev deps installed) never needs it.
    const { default: cors } = await import('cors');
    // Vite-style frontends on localhost, with credentials; any other origin gets no CORS headers.
    app.use(cors({ origin: (origin, cb) => cb(null, origin !== undefined && LOCAL_ORIGIN.test(origin)), credentials: true }));
  }
  app.use(express.json());

  const router = express.Router();
  await plugin.register({
    router,
    rbac: { require: requirePermission },
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

// 4xx errors (bad JSON, unknown tenant...) keep their status and message; anything else is a logged 500.
const errorHandler: ErrorRequestHandler = (err, _req, res, next) => {
  const e = err as { status?: unknown; statusCode?: unknown; message?: unknown };
  const raw = Number(e.status ?? e.statusCode);
  const status = Number.isInteger(raw) && raw >= 400 && raw < 600 ? raw : 500;
  if (status >= 500) console.error(err);
  if (res.headersSent) return next(err);
  res.status(status).json({ error: status >= 500 && status !== 503 ? 'internal error' : String(e.message) });
};

/** Starts the API on PORT (default 3001); resolves once it listens. */
export async function start(port = Number(process.env.PORT ?? 3001)): Promise<Server> {
  const app = await createApp();
  return new Promise((resolve, reject) => {
    const server = app.listen(port, (err?: Error) => {
      if (err) return reject(err);
      console.log(`API on http://localhost:${port}/api/plugins/${plugin.meta.id}`);
      resolve(server);
    });
  });
}

if (isEntryPoint(import.meta.url)) {
  const server = await start();
  const stop = () => {
    server.close(() => void pool.end());
    server.closeAllConnections(); // keep-alive sockets (e.g. Vite's proxy) would hold close() open
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
