// withTenantTx and bootstrap against a real PostgreSQL: the tenant scope dies with its transaction,
// and bootstrap is idempotent, also when several run at once.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

// One connection, so every call below reuses the connection the previous one used.
process.env.PGPOOL_MAX = '1';
const { bootstrap } = await import('../sandbox/bootstrap.js');
const { pool } = await import('../sandbox/db/client.js');
const { withTenantTx, TenantNotFoundError, DatabaseUnavailableError, databaseUnavailable } = await import('../sandbox/db/tenant-db.js');
const { databaseUrl } = await import('../sandbox/config.js');
const { default: pg } = await import('pg');

const A = 'sandbox_test_c';

before(async () => {
  const report = await bootstrap({ tenants: [A], log: () => {} });
  assert.deepEqual(report.errors, []);
});

after(async () => {
  await pool.end();
});

test('the search_path does not outlive the transaction', async () => {
  const { rows: before } = await pool.query<{ path: string }>(`SELECT current_setting('search_path') AS path`);
  const inside = await withTenantTx(A, async (db) => {
    const { rows } = await db.query<{ path: string }>(`SELECT current_setting('search_path') AS path`);
    return rows[0]!.path;
  });
  // The tenant's schema, then the shared `extensions` (declared extensions live there), never public.
  assert.equal(inside, '"tenant_sandbox_test_c", extensions');
  const { rows: afterwards } = await pool.query<{ path: string }>(`SELECT current_setting('search_path') AS path`);
  assert.equal(afterwards[0]!.path, before[0]!.path);
});

test('public is not on the search_path: system tables are reachable only schema-qualified', async () => {
  const found = await withTenantTx(A, async (db) => {
    const { rows } = await db.query<{ bare: string | null; qualified: string | null }>(
      `SELECT to_regclass('sys_tenant')::text AS bare, to_regclass('public.sys_tenant')::text AS qualified`,
    );
    return rows[0]!;
  });
  assert.deepEqual(found, { bare: null, qualified: 'public.sys_tenant' });
});

test('a dropped connection is a 503 DatabaseUnavailableError; other errors are not', () => {
  const terminated = databaseUnavailable(Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }));
  assert.equal(terminated?.status, 503);
  assert.match(terminated!.message, /database unavailable \(terminating connection/);
  assert.equal(databaseUnavailable(new Error('Connection terminated unexpectedly'))?.status, 503);
  assert.equal(databaseUnavailable(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }))?.status, 503);
  assert.equal(databaseUnavailable(Object.assign(new Error('duplicate key'), { code: '23505' })), null);
  assert.equal(databaseUnavailable('boom'), null);
});

test('a connection dropped inside withTenantTx is a 503, not a crash, and the pool recovers', async () => {
  await assert.rejects(
    withTenantTx(A, async (db) => {
      const { rows } = await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      const other = new pg.Client({ connectionString: databaseUrl() });
      await other.connect();
      await other.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
      await other.end();
      // The drop arrives while no query runs: an 'error' event on the checked-out client, which
      // nobody but withTenantTx listens to (unhandled, it would end this process).
      await new Promise((resolve) => setTimeout(resolve, 300));
      await db.query('SELECT 1');
    }),
    (err: unknown) => err instanceof DatabaseUnavailableError && err.status === 503,
  );
  // The broken client was destroyed, not pooled: the one-connection pool serves the next call.
  const n = await withTenantTx(A, async (db) => (await db.query<{ n: number }>('SELECT 1 AS n')).rows[0]!.n);
  assert.equal(n, 1);
});

test('an error rolls the transaction back', async () => {
  const marker = `rollback-${Date.now()}`;
  await assert.rejects(
    withTenantTx(A, async (db) => {
      await db.query('INSERT INTO "{{ table }}" (name) VALUES ($1)', [marker]);
      throw new Error('boom');
    }),
    /boom/,
  );
  const count = await withTenantTx(A, async (db) => {
    const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM "{{ table }}" WHERE name = $1', [marker]);
    return rows[0]!.n;
  });
  assert.equal(count, 0);
});

test('an unknown tenant is a TenantNotFoundError (404)', async () => {
  await assert.rejects(withTenantTx('no_such_tenant', async () => 1), TenantNotFoundError);
  await assert.rejects(withTenantTx('not-a-uuid-nor-code"', async () => 1), TenantNotFoundError);
});

test('bootstrap again, four at once: no error, no duplicate', async () => {
  const snapshot = async () =>
    (
      await pool.query(
        `SELECT (SELECT count(*) FROM public.sys_tenant WHERE code = $1)::int AS tenants,
                (SELECT count(*) FROM pg_namespace WHERE nspname = 'tenant_' || $1)::int AS schemas,
                (SELECT count(*) FROM public.sys_role r JOIN public.sys_tenant t ON t.id = r.tenant_id WHERE t.code = $1)::int AS roles,
                (SELECT count(*) FROM public.sys_user_role ur JOIN public.sys_tenant t ON t.id = ur.tenant_id WHERE t.code = $1)::int AS grants,
                (SELECT count(*) FROM public.sys_module_migration m JOIN public.sys_tenant t ON t.id = m.tenant_id WHERE t.code = $1)::int AS migrations`,
        [A],
      )
    ).rows[0];
  const first = await snapshot();
  assert.deepEqual({ tenants: first.tenants, schemas: first.schemas, roles: first.roles }, { tenants: 1, schemas: 1, roles: 1 });
  const reports = await Promise.all([1, 2, 3, 4].map(() => bootstrap({ tenants: [A], log: () => {} })));
  for (const r of reports) assert.deepEqual(r.errors, []);
  assert.deepEqual(await snapshot(), first);
});
