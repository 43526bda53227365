// withTenantTx, with the foundation's signature: one transaction per call, scoped to the tenant's
// schema with a transaction-local search_path, so nothing of the tenant outlives the call on a pooled
// connection (nor through a transaction-pooling PgBouncer).
import type pg from 'pg';
import type { TenantDb } from '../../plugin/context.js';
import { pool } from './client.js';

export interface Tenant {
  id: string;
  code: string;
  schemaName: string;
  /** False when the tenant's schema does not exist yet (not bootstrapped). */
  hasSchema: boolean;
}

/** The tenant does not exist: an HTTP 404, never a 500. */
export class TenantNotFoundError extends Error {
  readonly status = 404;
  constructor(readonly tenant: string) {
    super(`unknown tenant "${tenant}"`);
    this.name = 'TenantNotFoundError';
  }
}

/** The tenant exists but its schema does not: queries must not fall through to public. */
export class TenantNotReadyError extends Error {
  readonly status = 503;
  constructor(readonly tenant: string, readonly schema: string) {
    super(`tenant "${tenant}" has no schema "${schema}" yet: run npm run bootstrap`);
    this.name = 'TenantNotReadyError';
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Quotes an identifier for SQL: double every `"` and wrap in `"`. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

type Queryable = Pick<pg.Pool, 'query'> | Pick<pg.PoolClient, 'query'>;

/** Finds a tenant by id (uuid) or by code; null when there is none. */
export async function findTenant(db: Queryable, idOrCode: string): Promise<Tenant | null> {
  // Compare a uuid column only with a uuid: a malformed id is then "not found", not a cast error.
  const where = UUID.test(idOrCode) ? 't.id = $1::uuid' : 't.code = $1';
  const { rows } = await db.query<{ id: string; code: string; schema_name: string; has_schema: boolean }>(
    `SELECT t.id::text AS id, t.code, t.schema_name, n.oid IS NOT NULL AS has_schema
       FROM public.sys_tenant t LEFT JOIN pg_catalog.pg_namespace n ON n.nspname = t.schema_name
      WHERE ${where}`,
    [idOrCode],
  );
  const row = rows[0];
  return row ? { id: row.id, code: row.code, schemaName: row.schema_name, hasSchema: row.has_schema } : null;
}

export async function withTenantTx<T>(tenantId: string, run: (db: TenantDb) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let open = true; // the handle given to `run` stops working once the transaction has ended
  const db: TenantDb = {
    async query<R>(text: string, params?: readonly unknown[]) {
      if (!open) throw new Error('withTenantTx: query after the transaction ended (a missing await in run?)');
      const result = await client.query(text, params as unknown[] | undefined);
      return { rows: result.rows as R[], rowCount: result.rowCount };
    },
  };
  let broken = false;
  try {
    await client.query('BEGIN');
    const tenant = await findTenant(client, tenantId);
    if (!tenant) throw new TenantNotFoundError(tenantId);
    if (!tenant.hasSchema) throw new TenantNotReadyError(tenant.code, tenant.schemaName);
    // `true` = local to this transaction: COMMIT or ROLLBACK puts the connection's search_path back.
    await client.query(`SELECT set_config('search_path', $1 || ', public', true)`, [quoteIdent(tenant.schemaName)]);
    const result = await run(db);
    open = false;
    await client.query('COMMIT');
    return result;
  } catch (err) {
    open = false;
    await client.query('ROLLBACK').catch(() => {
      broken = true;
    });
    throw err;
  } finally {
    // A connection that could not roll back is closed instead of going back to the pool.
    client.release(broken);
  }
}
