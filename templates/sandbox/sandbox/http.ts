// What every API of the project shares, the sandbox's (sandbox/server.ts) and a starter foundation's
// (server/server.ts, rendered from this same file by modkit): the development CORS, the error
// handler, and serving until Ctrl-C or SIGTERM.
import type { Server } from 'node:http';
import type corsFactory from 'cors';
import type { ErrorRequestHandler, Express } from 'express';
import { pool } from './db/client.js';
import { databaseUnavailable } from './db/tenant-db.js';

/** Origins allowed by the development CORS: http://localhost[:port] and http://127.0.0.1[:port]. */
const LOCAL_ORIGIN = /^http:\/\/(localhost|127\.0\.0\.1)(:\d{1,5})?$/;

/**
 * Vite-style frontends on localhost, with credentials; any other origin gets no CORS headers. `cors`
 * is a dev dependency: the caller imports it under `if (!production)`, where production (no dev
 * dependencies installed) never goes and `modkit doctor` sees it is a development path.
 */
export function useLocalCors(app: Express, cors: typeof corsFactory): void {
  app.use(cors({ origin: (origin, cb) => cb(null, origin !== undefined && LOCAL_ORIGIN.test(origin)), credentials: true }));
}

// SQLSTATEs of a value PostgreSQL cannot store (a NUL byte in text, a character outside the encoding):
// bad input, whichever route let it through.
const BAD_CHARACTER_SQLSTATES = new Set(['22021', '22P05']);

// SQLSTATEs of a column or table that does not exist (42703, 42P01): in development, a migration the
// code needs and the database does not have yet.
const MISSING_SCHEMA_SQLSTATES = new Set(['42703', '42P01']);

/**
 * 4xx errors (bad JSON, unknown tenant...) keep their status and message; a database that went away is
 * a 503 saying so; a missing column or table is a 500 naming it and `migrationHint` (where the
 * migrations are); anything else a module throws (Express 5 forwards rejected promises here) is a
 * logged 500 without detail.
 */
export function apiErrorHandler(migrationHint: string): ErrorRequestHandler {
  return (err, _req, res, next) => {
    const unavailable = databaseUnavailable(err);
    const e = (unavailable ?? err) as { status?: unknown; statusCode?: unknown; message?: unknown; code?: unknown };
    if (typeof e.code === 'string' && BAD_CHARACTER_SQLSTATES.has(e.code)) {
      if (!res.headersSent) res.status(400).json({ error: 'the request holds a character the database cannot store (e.g. a NUL byte)' });
      return;
    }
    if (typeof e.code === 'string' && MISSING_SCHEMA_SQLSTATES.has(e.code)) {
      // The code uses a column or table the database does not have yet: one line, not a pg object dump.
      console.error(`[api] 500 (SQLSTATE ${e.code}): ${String(e.message)}; ${migrationHint}`);
      if (!res.headersSent) res.status(500).json({ error: `internal error: ${String(e.message)}; ${migrationHint}` });
      return;
    }
    const raw = Number(e.status ?? e.statusCode);
    const status = Number.isInteger(raw) && raw >= 400 && raw < 600 ? raw : 500;
    if (status === 503) console.error(`[api] 503: ${String(e.message)}`);
    else if (status >= 500) console.error(err);
    if (res.headersSent) return next(err);
    res.status(status).json({ error: status >= 500 && status !== 503 ? 'internal error' : String(e.message) });
  };
}

/**
 * `start()`, then Ctrl-C or SIGTERM closes the server and the pool: `npm start`, and `npm run dev`'s
 * API. A port in use or refused is one line naming it and how to choose another, exit 2.
 */
export async function serveUntilStopped(start: () => Promise<Server>): Promise<Server> {
  // The pool's first connection (TCP, PostgreSQL's start-up, the password exchange) opens while the
  // app is built and starts listening, not at the first request. Not there yet (the local database
  // still starting): the first request connects, as it would have.
  pool.connect().then(
    (client) => client.release(),
    () => undefined,
  );
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
