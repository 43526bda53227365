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

// An idle client whose connection drops emits 'error' on the pool; unhandled, that would kill the server.
pool.on('error', (err) => {
  console.error(`[db] idle connection lost: ${err.message}`);
});
