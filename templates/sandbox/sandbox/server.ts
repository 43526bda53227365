// The sandbox's Express app: mounts the module at /api/plugins/<id> with the sandbox's pool,
// withTenantTx and RBAC. `npm start` runs it; the tests import createApp().
import type { Server } from 'node:http';
import express from 'express';
import type { ErrorRequestHandler, Express } from 'express';
import plugin from '../plugin/index.js';
import { devIdentity, isEntryPoint, listenHost, projectRoot } from './config.js';
import { pool } from './db/client.js';
import { databaseUnavailable, withTenantTx } from './db/tenant-db.js';
import { requirePermission } from './rbac.js';

/** Origins allowed by the development CORS: http://localhost[:port] and http://127.0.0.1[:port]. */
const LOCAL_ORIGIN = /^http:\/\/(localhost|127\.0\.0\.1)(:\d{1,5})?$/;

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
    // Vite-style frontends on localhost, with credentials; any other origin gets no CORS headers.
    app.use(cors({ origin: (origin, cb) => cb(null, origin !== undefined && LOCAL_ORIGIN.test(origin)), credentials: true }));
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

// SQLSTATEs of a value PostgreSQL cannot store (a NUL byte in text, a character outside the encoding):
// bad input, whichever route let it through.
const BAD_CHARACTER_SQLSTATES = new Set(['22021', '22P05']);

// SQLSTATEs of a column or table that does not exist (42703, 42P01): in a sandbox, a migration the code
// needs and the database does not have yet.
const MISSING_SCHEMA_SQLSTATES = new Set(['42703', '42P01']);
const MIGRATION_HINT =
  'a migration in plugin/migrations/ not applied yet? npm run dev applies one when it is saved (see its [db] lines), else run npm run bootstrap';

// 4xx errors (bad JSON, unknown tenant...) keep their status and message; a database that went away is
// a 503 saying so; anything else is a logged 500 without detail.
export const errorHandler: ErrorRequestHandler = (err, _req, res, next) => {
  const unavailable = databaseUnavailable(err);
  const e = (unavailable ?? err) as { status?: unknown; statusCode?: unknown; message?: unknown; code?: unknown };
  if (typeof e.code === 'string' && BAD_CHARACTER_SQLSTATES.has(e.code)) {
    if (!res.headersSent) res.status(400).json({ error: 'the request holds a character the database cannot store (e.g. a NUL byte)' });
    return;
  }
  if (typeof e.code === 'string' && MISSING_SCHEMA_SQLSTATES.has(e.code)) {
    // The code uses a column or table the database does not have yet: one line, not a pg object dump.
    console.error(`[api] 500 (SQLSTATE ${e.code}): ${String(e.message)}; ${MIGRATION_HINT}`);
    if (!res.headersSent) res.status(500).json({ error: `internal error: ${String(e.message)}; ${MIGRATION_HINT}` });
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
  let server: Server;
  try {
    server = await start();
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { port?: number };
    if (e.code !== 'EADDRINUSE' && e.code !== 'EACCES') throw err;
    // One line, not a stack trace: which port, and how to choose another.
    console.error(
      `[api] port ${e.port ?? process.env.PORT ?? 3001} is ${e.code === 'EACCES' ? 'not allowed' : 'in use'}; choose another: PORT=<port>, or api_port = <port> under [dev] in modkit.toml`,
    );
    process.exit(2);
  }
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
