// The foundation's API over HTTP against a real PostgreSQL (DATABASE_URL, modkit.toml's [database] url,
// else the local database): health, the registry endpoint and the dev identity. Each adapted module
// brings its own tests in its sandbox; here, every mounted module answers 200 to the dev user.
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { bootstrap } from '../server/bootstrap.js';
import { loadConfig } from '../server/config.js';
import { pool } from '../server/db/client.js';
import { createApp } from '../server/server.js';

let url = '';
let server: Server | undefined;
const config = loadConfig();
const tenant = config.devTenants[0] ?? 'dev';

function as(user: string | null, tenantKey: string | null): Record<string, string> {
  const h: Record<string, string> = { 'content-type': 'application/json' };
  if (user !== null) h['x-user-id'] = user;
  if (tenantKey !== null) h['x-tenant-id'] = tenantKey;
  return h;
}

before(async () => {
  const report = await bootstrap({ log: () => {} });
  assert.deepEqual(report.errors, []);
  const { app } = await createApp({ production: false });
  server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  await new Promise((resolve) => server?.close(resolve));
  await pool.end();
});

test('health lists the mounted modules', async () => {
  const res = await fetch(`${url}/api/health`);
  assert.equal(res.status, 200);
  const body = (await res.json()) as { status: string; failed: unknown[] };
  assert.equal(body.status, 'ok');
  assert.deepEqual(body.failed, []);
});

test('the registry needs a user and a known tenant', async () => {
  assert.equal((await fetch(`${url}/api/modules`, { headers: as(null, tenant) })).status, 401);
  assert.equal((await fetch(`${url}/api/modules`, { headers: as(config.devUser, null) })).status, 400);
  assert.equal((await fetch(`${url}/api/modules`, { headers: as(config.devUser, 'no_such_tenant') })).status, 404);
});

test('the dev user sees every module and its nav, and a stranger sees no nav entry', async () => {
  const mine = (await (await fetch(`${url}/api/modules`, { headers: as(config.devUser, tenant) })).json()) as {
    data: { id: string; nav: unknown[] }[];
  };
  const theirs = (await (await fetch(`${url}/api/modules`, { headers: as('foundation-test-stranger', tenant) })).json()) as {
    data: { id: string; nav: unknown[] }[];
  };
  assert.deepEqual(
    mine.data.map((m) => m.id),
    theirs.data.map((m) => m.id),
  );
  for (const m of theirs.data) assert.deepEqual(m.nav, [], `module ${m.id}`);
});

test('every module answers its health to the dev user', async () => {
  const { data } = (await (await fetch(`${url}/api/modules`, { headers: as(config.devUser, tenant) })).json()) as { data: { id: string }[] };
  for (const { id } of data) {
    const res = await fetch(`${url}/api/plugins/${id}/health`, { headers: as(config.devUser, tenant) });
    assert.equal(res.status, 200, `module ${id}`);
  }
});
