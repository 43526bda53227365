// withTenantTx, with the foundation's signature: one transaction per call, scoped to the tenant's
// schema with a transaction-local search_path, so nothing of the tenant outlives the call on a pooled
// connection (nor through a transaction-pooling PgBouncer).
//
// Two rules keep one tenant's query from ever reaching another tenant's rows:
// - the search_path is the tenant's schema *alone* (no `public`): a module table missing from it is an
//   error, never `public.<table>`, which every tenant would share. The runtime's own tables are always
//   named `public.sys_...`.
// - a schema the connecting role has no USAGE on is refused (503) before any module query: PostgreSQL
//   silently leaves such a schema out of the search_path.
import type pg from 'pg';
import type { TenantDb } from '{{ context_import }}';
import { pool } from './client.js';

export interface Tenant {
  id: string;
  code: string;
  schemaName: string;
  /** False when the tenant's schema does not exist yet (not bootstrapped). */
  hasSchema: boolean;
  /** False when the connecting role has no USAGE on the schema (PostgreSQL would skip it). */
  canUseSchema: boolean;
  /** The connecting role, for the GRANT that fixes a schema it cannot use. */
  role: string;
}

/** The tenant does not exist: an HTTP 404, never a 500. */
export class TenantNotFoundError extends Error {
  readonly status = 404;
  constructor(readonly tenant: string) {
    super(`unknown tenant "${tenant}"`);
    this.name = 'TenantNotFoundError';
  }
}

/** The tenant's schema, or a table of the module in it, does not exist yet: queries never fall
 *  through to public, the tenant needs its bootstrap. */
export class TenantNotReadyError extends Error {
  readonly status = 503;
  constructor(readonly tenant: string, readonly schema: string, missing?: string) {
    super(
      missing
        ? `tenant "${tenant}": ${missing} in its schema "${schema}" (a module table is never looked up in public): run npm run bootstrap`
        : `tenant "${tenant}" has no schema "${schema}" yet: run npm run bootstrap`,
    );
    this.name = 'TenantNotReadyError';
  }
}

/** The tenant's schema exists but the connecting role may not use it: no query is run. */
export class TenantSchemaUnusableError extends Error {
  readonly status = 503;
  constructor(readonly tenant: string, readonly schema: string, readonly role: string) {
    const s = quoteIdent(schema);
    const r = quoteIdent(role);
    super(
      `tenant "${tenant}": the database role ${r} has no USAGE on the schema ${s}, so its tables cannot be ` +
        `reached; fix it as a superuser or the schema's owner: GRANT USAGE, CREATE ON SCHEMA ${s} TO ${r}; ` +
        `(or ALTER SCHEMA ${s} OWNER TO ${r};)`,
    );
    this.name = 'TenantSchemaUnusableError';
  }
}

/** The database cannot be reached or dropped the connection: a 503 the client may retry, never a crash. */
export class DatabaseUnavailableError extends Error {
  readonly status = 503;
  constructor(readonly reason: string, options?: { cause?: unknown }) {
    super(`database unavailable (${reason}): the request did not complete; try again shortly`, options);
    this.name = 'DatabaseUnavailableError';
  }
}

// SQLSTATEs of a connection the server ended or refused (class 08, admin/crash shutdown, starting up,
// too many connections), and Node's socket errors: the database is away, not the request wrong.
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300', '08000', '08001', '08003', '08004', '08006']);
const UNAVAILABLE_SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
// What pg and pg-pool say, without a code, when a connection ends or cannot be had.
const UNAVAILABLE_MESSAGES = /^(Connection terminated|Client has encountered a connection error|timeout exceeded when trying to connect|Connection ended)/;

/** `err` as a DatabaseUnavailableError when it says the database went away; null for any other error. */
export function databaseUnavailable(err: unknown): DatabaseUnavailableError | null {
  if (err instanceof DatabaseUnavailableError) return err;
  if (typeof err !== 'object' || err === null) return null;
  const { code, message } = err as { code?: unknown; message?: unknown };
  const text = typeof message === 'string' ? message : '';
  const matches =
    (typeof code === 'string' && (UNAVAILABLE_SQLSTATES.has(code) || UNAVAILABLE_SOCKET_CODES.has(code))) ||
    UNAVAILABLE_MESSAGES.test(text);
  if (!matches) return null;
  // The first line only: a socket error's message holds the host and port, never a password.
  const reason = (text.split('\n')[0] || String(code)).trim();
  return new DatabaseUnavailableError(reason, { cause: err });
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
  const { rows } = await db.query<{
    id: string;
    code: string;
    schema_name: string;
    has_schema: boolean;
    can_use: boolean;
    role: string;
  }>(
    `SELECT t.id::text AS id, t.code, t.schema_name, n.oid IS NOT NULL AS has_schema,
            COALESCE(pg_catalog.has_schema_privilege(n.oid, 'USAGE'), false) AS can_use,
            current_user::text AS role
       FROM public.sys_tenant t LEFT JOIN pg_catalog.pg_namespace n ON n.nspname = t.schema_name
      WHERE ${where}`,
    [idOrCode],
  );
  const row = rows[0];
  return row
    ? { id: row.id, code: row.code, schemaName: row.schema_name, hasSchema: row.has_schema, canUseSchema: row.can_use, role: row.role }
    : null;
}

export async function withTenantTx<T>(tenantId: string, run: (db: TenantDb) => Promise<T>): Promise<T> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (err) {
    throw databaseUnavailable(err) ?? err;
  }
  // While checked out, a client has no 'error' listener of the pool's: a connection dropped now (a
  // terminated backend, a server stopping) would be an unhandled 'error' event that ends the process.
  let lost: Error | undefined;
  const onError = (err: Error) => {
    lost ??= err;
  };
  client.on('error', onError);
  let open = true; // the handle given to `run` stops working once the transaction has ended
  const db: TenantDb = {
    async query<R>(text: string, params?: readonly unknown[]) {
      if (!open) throw new Error('withTenantTx: query after the transaction ended (a missing await in run?)');
      const result = await client.query(text, params as unknown[] | undefined);
      return { rows: result.rows as R[], rowCount: result.rowCount };
    },
  };
  let broken = false;
  let tenant: Tenant | null = null;
  try {
    await client.query('BEGIN');
    tenant = await findTenant(client, tenantId);
    if (!tenant) throw new TenantNotFoundError(tenantId);
    if (!tenant.hasSchema) throw new TenantNotReadyError(tenant.code, tenant.schemaName);
    if (!tenant.canUseSchema) throw new TenantSchemaUnusableError(tenant.code, tenant.schemaName, tenant.role);
    // The tenant's schema, then `extensions` (never `public`); `true` = local to this transaction:
    // COMMIT or ROLLBACK puts the connection's search_path back.
    // Then `extensions`, where the bootstrap makes the extensions modkit.toml declares (citext's type).
    await client.query(`SELECT pg_catalog.set_config('search_path', $1, true)`, [`${quoteIdent(tenant.schemaName)}, extensions`]);
    const result = await run(db);
    open = false;
    await client.query('COMMIT');
    return result;
  } catch (err) {
    open = false;
    await client.query('ROLLBACK').catch(() => {
      broken = true;
    });
    // The server's own reason (e.g. 57P01 "terminating connection due to administrator command")
    // when the query got one, else what the dropped socket said.
    const unavailable = databaseUnavailable(err) ?? (lost ? databaseUnavailable(lost) : null);
    if (unavailable) throw unavailable;
    // 42P01 undefined_table: the module's table is not in the tenant's schema (with `public` on the
    // search_path this would have read a shared public table instead).
    if (tenant && (err as { code?: unknown }).code === '42P01') {
      throw new TenantNotReadyError(tenant.code, tenant.schemaName, String((err as Error).message));
    }
    throw err;
  } finally {
    // A connection that dropped or could not roll back is destroyed instead of going back to the pool.
    client.release(lost ?? broken);
    // release() has put the pool's own listener back (or destroyed the client): ours can go.
    client.removeListener('error', onError);
  }
}
