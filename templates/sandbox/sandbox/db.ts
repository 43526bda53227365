// npm run db:start | db:stop | db:status, and `npm test`: the local database by hand (the same as
// `modkit db start|stop|status`), and the tests' own database. An entry script: it only calls
// localdb.ts and bootstrap.ts.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { bootstrap, ensureLocalDb } from './bootstrap.js';
import { databaseUrl, isEntryPoint, projectRoot, redactUrl } from './config.js';
import { hasExplicitDatabase, LOCAL_DIR, localDbState, localDbUrl, refuseRootInAnothersProject, stopLocalDb } from './localdb.js';

/**
 * The tests' database: `<the dev database>_test` on the same server (the local cluster, or the one
 * DATABASE_URL / modkit.toml names), so that `npm test` never reads or leaves rows and tenants in the
 * dev database. Same user, same password.
 */
export function testDatabaseUrl(devUrl: string): string {
  const url = new URL(devUrl);
  const name =
    decodeURIComponent(url.pathname.replace(/^\//, '')) || process.env.PGDATABASE?.trim() || decodeURIComponent(url.username) || 'postgres';
  url.pathname = `/${encodeURIComponent(`${name}_test`)}`;
  return url.toString();
}

function databaseName(url: string): string {
  return decodeURIComponent(new URL(url).pathname.replace(/^\//, ''));
}

/** Drop the tests' database (what the last run left) and make it again, empty: a reset per run. */
async function resetTestDatabase(devUrl: string, testUrl: string): Promise<void> {
  const name = databaseName(testUrl);
  if (!name.endsWith('_test') || name === databaseName(devUrl)) throw new Error(`refusing to reset ${name}: not a tests' database`);
  let admin = new pg.Client({ connectionString: devUrl });
  try {
    await admin.connect();
  } catch (err) {
    if ((err as { code?: string }).code !== '3D000') throw err;
    // The dev database is not made yet (a server of one's own before its bootstrap): the maintenance one.
    const maintenance = new URL(devUrl);
    maintenance.pathname = '/postgres';
    admin = new pg.Client({ connectionString: maintenance.toString() });
    await admin.connect();
  }
  const quoted = `"${name.replace(/"/g, '""')}"`;
  try {
    // FORCE (PostgreSQL 13+): a test run killed halfway may have left sessions on it.
    await admin.query(`DROP DATABASE IF EXISTS ${quoted} WITH (FORCE)`).catch(async (err: { code?: string }) => {
      if (err.code !== '42601') throw err;
      await admin.query(`DROP DATABASE IF EXISTS ${quoted}`);
    });
    await admin.query(`CREATE DATABASE ${quoted}`);
  } catch (err) {
    throw new Error(
      `cannot make the tests' database ${name} beside ${redactUrl(devUrl)}: ${(err as Error).message} ` +
        '(npm test runs on a database of its own on the same server: the user needs CREATEDB, or run the tests against the local database)',
    );
  } finally {
    await admin.end().catch(() => {});
  }
}

/**
 * npm test: reset the tests' database, bootstrap it (the dev tenants and the module's tables, as the
 * dev database has them), then run node's test runner on `args` (files, and flags such as
 * --test-name-pattern) with DATABASE_URL naming it. Returns the runner's exit code.
 */
async function runTests(args: string[]): Promise<number> {
  if (!hasExplicitDatabase()) await ensureLocalDb();
  const devUrl = databaseUrl();
  const testUrl = testDatabaseUrl(devUrl);
  await resetTestDatabase(devUrl, testUrl);
  const report = await bootstrap({ databaseUrl: testUrl, log: () => {} });
  if (report.errors.length) {
    for (const e of report.errors) console.error(`error: bootstrap of the tests' database: ${e}`);
    return 1;
  }
  console.log(`tests on their own database: ${redactUrl(testUrl)}`);
  const local = join(projectRoot, 'node_modules', '.bin', 'tsx');
  const flags = args.filter((a) => a.startsWith('-'));
  const files = args.filter((a) => !a.startsWith('-'));
  const run = spawnSync(existsSync(local) ? local : 'tsx', ['--test', '--test-reporter=spec', ...flags, ...files], {
    stdio: 'inherit',
    env: { ...process.env, DATABASE_URL: testUrl },
  });
  if (run.error) throw run.error;
  return run.status ?? 1;
}

async function main(command: string | undefined): Promise<number> {
  refuseRootInAnothersProject(); // before anything is read or written in another user's project
  switch (command) {
    case 'ensure': // the local database unless a server is named; quiet when it runs already
      if (!hasExplicitDatabase()) await ensureLocalDb();
      return 0;
    case 'test': // npm test: the tests on a database of their own
      return runTests(process.argv.slice(3));
    case 'start':
      if (hasExplicitDatabase()) {
        console.log('DATABASE_URL or modkit.toml names a database server: the local database is not used');
        return 0;
      }
      if ((await ensureLocalDb()).reused) console.log(`the local database is running: ${redactUrl(localDbUrl()!)}`);
      return 0;
    case 'stop':
      console.log((await stopLocalDb()) ? 'stopped the local database' : 'the local database is not running');
      return 0;
    case 'status': {
      const s = localDbState();
      const url = localDbUrl();
      console.log(`local database: ${s.state === 'running' ? `running (pid ${s.pid})` : s.state}${url ? `: ${redactUrl(url)}` : ''}`);
      console.log(`  folder: ${LOCAL_DIR}`);
      return s.state === 'running' ? 0 : 1;
    }
    default:
      console.error('usage: tsx sandbox/db.ts start|stop|status|ensure|test [TEST FILES and node --test flags]');
      return 2;
  }
}

if (isEntryPoint(import.meta.url)) {
  main(process.argv[2]).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      console.error(`error: ${(err as Error).message}`);
      process.exitCode = 2;
    },
  );
}
