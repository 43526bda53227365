// The seed's definition of done, over HTTP against a real PostgreSQL: `npm test` runs it on a database of
// its own beside the dev one (sandbox/db.ts, `<dev database>_test`, made again at every run).
// The tests bootstrap their own two tenants there; rerunning them is fine.
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import express from 'express';
import plugin from '../plugin/index.js';
import { bootstrap } from '../sandbox/bootstrap.js';
import { pool } from '../sandbox/db/client.js';
import { withTenantTx } from '../sandbox/db/tenant-db.js';
import { createApp, errorHandler } from '../sandbox/server.js';

const A = 'sandbox_test_a';
const B = 'sandbox_test_b';
const STRANGER = 'sandbox-test-stranger'; // a user with no role until a test grants one
const base = `/api/plugins/${plugin.meta.id}`;
const items = `${base}/{{ resource }}`;

const servers: Server[] = [];
let dev = ''; // development app (with CORS)
let prod = ''; // production app (no CORS)

async function listen(production: boolean): Promise<string> {
  const app = await createApp({ production });
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function as(user: string | null, tenant: string | null, extra: Record<string, string> = {}): Record<string, string> {
  const h: Record<string, string> = { 'content-type': 'application/json', ...extra };
  if (user !== null) h['x-user-id'] = user;
  if (tenant !== null) h['x-tenant-id'] = tenant;
  return h;
}

async function call(method: string, path: string, headers: Record<string, string>, body?: unknown, url = dev) {
  const res = await fetch(`${url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as { data?: any; error?: string; ok?: boolean }) : {} };
}

before(async () => {
  const report = await bootstrap({ tenants: [A, B], log: () => {} });
  assert.deepEqual(report.errors, []);
  // Start from a known state: no rows, and the stranger holds no role anywhere.
  for (const t of [A, B]) await withTenantTx(t, (db) => db.query('DELETE FROM "{{ table }}"'));
  await pool.query('DELETE FROM public.sys_user_role WHERE user_id = $1', [STRANGER]);
  dev = await listen(false);
  prod = await listen(true);
});

after(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
  await pool.end();
});

describe('smoke', () => {
  test('health answers 200 without any header', async () => {
    const res = await call('GET', `${base}/health`, {});
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { ok: true, plugin: plugin.meta.id });
  });

  test('no user is 401, no tenant is 400, an unknown tenant is 404', async () => {
    assert.equal((await call('GET', items, as(null, A))).status, 401);
    assert.equal((await call('GET', items, as('dev', null))).status, 400);
    assert.equal((await call('GET', items, as('dev', 'no_such_tenant'))).status, 404);
    assert.equal((await call('GET', items, as('dev', '00000000-0000-4000-8000-000000000000'))).status, 404);
  });

  test('403 without the permission, 200 once granted, and only in that tenant', async () => {
    assert.equal((await call('GET', items, as(STRANGER, A))).status, 403);
    await pool.query(
      `INSERT INTO public.sys_user_role (user_id, tenant_id, role_id)
       SELECT $1, r.tenant_id, r.id FROM public.sys_role r JOIN public.sys_tenant t ON t.id = r.tenant_id
        WHERE t.code = $2 AND r.code = $3`,
      [STRANGER, A, `${plugin.meta.id}.developer`],
    );
    const ok = await call('GET', items, as(STRANGER, A));
    assert.equal(ok.status, 200);
    assert.ok(Array.isArray(ok.body.data));
    assert.equal((await call('GET', items, as(STRANGER, B))).status, 403, 'a grant in A must open nothing in B');
  });
});

describe('tenancy', () => {
  test('two tenants each see only their own rows', async () => {
    await withTenantTx(A, (db) => db.query('INSERT INTO "{{ table }}" (name) VALUES ($1), ($2)', ['alpha 1', 'alpha 2']));
    await withTenantTx(B, (db) => db.query('INSERT INTO "{{ table }}" (name) VALUES ($1)', ['beta 1']));
    const names = async (tenant: string) =>
      ((await call('GET', items, as('dev', tenant))).body.data as { name: string }[]).map((i) => i.name).sort();
    assert.deepEqual(await names(A), ['alpha 1', 'alpha 2']);
    assert.deepEqual(await names(B), ['beta 1']);
    // X-Tenant-Id may also be the tenant's id.
    const { rows } = await pool.query<{ id: string }>('SELECT id::text AS id FROM public.sys_tenant WHERE code = $1', [B]);
    assert.deepEqual(await names(rows[0]!.id), ['beta 1']);
  });

  test('CRUD stays inside the tenant', async () => {
    const created = await call('POST', items, as('dev', A), { name: '  gamma ' });
    assert.equal(created.status, 201);
    assert.equal(created.body.data.name, 'gamma');
    const id = created.body.data.id as string;

    assert.equal((await call('GET', `${items}/${id}`, as('dev', A))).status, 200);
    assert.equal((await call('GET', `${items}/${id}`, as('dev', B))).status, 404, 'B must not see A\'s row');
    assert.equal((await call('PATCH', `${items}/${id}`, as('dev', B), { name: 'x' })).status, 404);

    const patched = await call('PATCH', `${items}/${id}`, as('dev', A), { name: 'delta' });
    assert.equal(patched.status, 200);
    assert.equal(patched.body.data.name, 'delta');

    assert.equal((await call('DELETE', `${items}/${id}`, as('dev', A))).status, 200);
    assert.equal((await call('GET', `${items}/${id}`, as('dev', A))).status, 404);
    assert.equal((await call('DELETE', `${items}/${id}`, as('dev', A))).status, 404);
  });

  test('bad input is a 4xx, never a 500', async () => {
    assert.equal((await call('POST', items, as('dev', A), {})).status, 400);
    assert.equal((await call('POST', items, as('dev', A), { name: '   ' })).status, 400);
    assert.equal((await call('POST', items, as('dev', A), { name: 42 })).status, 400);
    assert.equal((await call('GET', `${items}/not-a-uuid`, as('dev', A))).status, 404);
    const badJson = await fetch(`${dev}${items}`, { method: 'POST', headers: as('dev', A), body: '{"name":' });
    assert.equal(badJson.status, 400);
  });

  test('a NUL byte in a name is a 400, not a 500', async () => {
    const res = await call('POST', items, as('dev', A), { name: 'a\u0000b' });
    assert.equal(res.status, 400);
    assert.match(res.body.error ?? '', /NUL/);
  });

  test('a character the database cannot store is a 400 from the error handler too', async () => {
    // The backstop for any route: PostgreSQL's 22021 (e.g. a NUL byte in text) and 22P05.
    const app = express();
    app.get('/x', () => {
      throw Object.assign(new Error('invalid byte sequence for encoding "UTF8": 0x00'), { code: '22021' });
    });
    app.use(errorHandler);
    const server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    servers.push(server);
    const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/x`);
    assert.equal(res.status, 400);
  });
});

describe('identity', () => {
  test('production refuses the X-User-Id identity, saying why', async () => {
    const res = await call('GET', items, as('dev', A), undefined, prod);
    assert.equal(res.status, 401);
    assert.match(res.body.error ?? '', /NODE_ENV=production/);
    assert.match(res.body.error ?? '', /MODKIT_DEV_IDENTITY=1/);
    assert.equal((await call('GET', `${base}/health`, {}, undefined, prod)).status, 200);
  });
});

describe('CORS', () => {
  const preflight = (url: string, origin: string) =>
    fetch(`${url}${items}`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-tenant-id,x-user-id' },
    });

  test('development allows a Vite origin on localhost or 127.0.0.1, with credentials', async () => {
    for (const origin of ['http://localhost:5173', 'http://127.0.0.1:4173', 'http://localhost']) {
      const res = await preflight(dev, origin);
      assert.ok(res.status < 300, `preflight from ${origin}: ${res.status}`);
      assert.equal(res.headers.get('access-control-allow-origin'), origin);
      assert.equal(res.headers.get('access-control-allow-credentials'), 'true');
    }
  });

  test('development refuses other origins', async () => {
    for (const origin of ['http://evil.example', 'http://localhost.evil.example:5173', 'https://localhost:5173']) {
      const res = await preflight(dev, origin);
      assert.equal(res.headers.get('access-control-allow-origin'), null, origin);
    }
  });

  test('production sends no CORS headers at all', async () => {
    const res = await preflight(prod, 'http://localhost:5173');
    assert.equal(res.headers.get('access-control-allow-origin'), null);
    assert.equal(res.headers.get('access-control-allow-credentials'), null);
  });
});
