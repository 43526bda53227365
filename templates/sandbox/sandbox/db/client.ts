// The sandbox's own connection pool (the foundation owns its own). Only sandbox code imports it:
// the module's code reaches the database through ctx.withTenantTx.
import pg from 'pg';
import { databaseUrl } from '../config.js';

function poolMax(): number {
  const raw = process.env.PGPOOL_MAX?.trim();
  if (!raw) return 10;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`PGPOOL_MAX must be a positive integer, got "${raw}"`);
  return n;
}

export const pool = new pg.Pool({ connectionString: databaseUrl(), max: poolMax() });

// A pooled client whose connection drops (idle, or already released after a failure) emits 'error' on
// the pool; unhandled, that would kill the server. The pool has already discarded the client; the next
// request opens a new connection. (A client checked out by withTenantTx has its own listener there.)
pool.on('error', (err) => {
  console.error(`[db] a pooled connection was lost: ${err.message}`);
});
