// npm run bootstrap [-- --tenant CODE ...] [--db URL]
//
// Prepares the database for this sandbox with exactly the protocol of `modkit bootstrap`, from the same
// SQL (sandbox/sql/, copied from modkit's templates): idempotent, and safe to run many times at once
// (advisory locks serialize the database-wide part and each tenant).
//   1. one transaction: lock; pgcrypto; system tables; the module's permissions
//   2. per tenant (modkit.toml's dev tenants, --tenant, every existing tenant), one transaction each:
//      the tenant row, its schema, the module's migrations not applied yet (checksums verified)
//   3. per dev tenant: a role with all of the module's permissions, granted to the dev user
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import pg from 'pg';
import plugin, { permissions } from '../plugin/index.js';
import { databaseUrl, isEntryPoint, loadConfig, redactUrl } from './config.js';

/** A tenant code: it names the schema `tenant_<code>`, well under PostgreSQL's 63-byte identifiers. */
export const TENANT_CODE = /^[a-z][a-z0-9_]{0,47}$/;

/** Usage or environment error: exit 2. */
export class BootstrapUsageError extends Error {}

export interface BootstrapOptions {
  databaseUrl?: string;
  /** Extra dev tenants, as with --tenant. */
  tenants?: string[];
  /** Where the summary goes (default: console.log). */
  log?: (line: string) => void;
}

export interface BootstrapReport {
  /** Problems that make the run fail (exit 1), e.g. an applied migration whose file changed. */
  errors: string[];
  warnings: string[];
  tenants: { code: string; schema: string; applied: string[]; upToDate: number }[];
}

const SQL_DIR = new URL('./sql/', import.meta.url);
const MIGRATIONS_DIR = new URL('../plugin/migrations/', import.meta.url);

/** Splits statements.sql into its `-- name: x` sections. */
export function parseStatements(text: string): Map<string, string> {
  const statements = new Map<string, string>();
  let name: string | undefined;
  let lines: string[] = [];
  const flush = () => {
    if (name !== undefined) statements.set(name, lines.join('\n').trim());
  };
  for (const line of text.split(/\r?\n/)) {
    const m = /^--\s*name:\s*(\S+)\s*$/.exec(line);
    if (m) {
      flush();
      name = m[1];
      lines = [];
    } else if (name !== undefined && !line.trimStart().startsWith('--')) {
      lines.push(line);
    }
  }
  flush();
  return statements;
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function sqlState(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}

/** CREATE DATABASE for `url`'s database, from the server's `postgres` maintenance database. */
async function createDatabase(url: string): Promise<void> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.replace(/^\//, ''));
  const maintenance = new URL(url);
  maintenance.pathname = '/postgres';
  const admin = new pg.Client({ connectionString: maintenance.toString() });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${quoteIdent(name)}`);
  } catch (err) {
    if (sqlState(err) !== '42P04') throw err; // another bootstrap created it a moment ago
  } finally {
    await admin.end().catch(() => {});
  }
}

export async function bootstrap(options: BootstrapOptions = {}): Promise<BootstrapReport> {
  const log = options.log ?? ((line: string) => console.log(line));
  const config = loadConfig();
  const moduleId = plugin.meta.id;
  if (config.moduleId !== moduleId) {
    throw new BootstrapUsageError(`modkit.toml says [module] id = "${config.moduleId}" but plugin/index.ts says meta.id = "${moduleId}"`);
  }
  const foreign = permissions.filter((p) => !p.startsWith(`${moduleId}.`));
  if (foreign.length) {
    throw new BootstrapUsageError(`plugin/index.ts: permission ${foreign.join(', ')} does not belong to module "${moduleId}" (name them "${moduleId}.<action>")`);
  }
  const devTenants = [...new Set([...config.devTenants, ...(options.tenants ?? [])])];
  for (const code of devTenants) {
    if (!TENANT_CODE.test(code)) {
      throw new BootstrapUsageError(
        `invalid tenant code "${code}": use a lowercase letter, then up to 47 lowercase letters, digits or _ (e.g. "${code.toLowerCase().replace(/[^a-z0-9_]/g, '_').replace(/^[^a-z]+/, '').slice(0, 48) || 'dev'}")`,
      );
    }
  }

  const sql = parseStatements(readFileSync(new URL('statements.sql', SQL_DIR), 'utf8'));
  const systemSql = readFileSync(new URL('system.sql', SQL_DIR), 'utf8');
  const stmt = (name: string): string => {
    const text = sql.get(name);
    if (text === undefined) throw new Error(`sandbox/sql/statements.sql has no statement "${name}"`);
    return text;
  };
  const migrations = readdirSync(MIGRATIONS_DIR)
    .filter((f) => f.endsWith('.sql'))
    .sort()
    .map((file) => {
      const bytes = readFileSync(new URL(file, MIGRATIONS_DIR));
      return { file, text: bytes.toString('utf8'), checksum: createHash('sha256').update(bytes).digest('hex') };
    });

  const url = options.databaseUrl ?? databaseUrl();
  // Like modkit bootstrap: the sandbox's own dev database (the URL in modkit.toml) is created when
  // missing; one given by --db or DATABASE_URL never is.
  const ownDatabase = options.databaseUrl === undefined && !process.env.DATABASE_URL?.trim();
  let client = new pg.Client({ connectionString: url });
  try {
    try {
      await client.connect();
    } catch (err) {
      if (!(ownDatabase && sqlState(err) === '3D000')) throw err;
      await createDatabase(url);
      log(`created the database ${redactUrl(url)} (named in modkit.toml)`);
      client = new pg.Client({ connectionString: url });
      await client.connect();
    }
  } catch (err) {
    const hint = sqlState(err) === '3D000' ? ' (create it first, e.g. with createdb)' : '';
    throw new BootstrapUsageError(`cannot connect to ${redactUrl(url)}: ${(err as Error).message}${hint}`);
  }
  const q = <R extends pg.QueryResultRow = Record<string, unknown>>(name: string, params: unknown[] = []) =>
    client.query<R>(stmt(name), params);
  const report: BootstrapReport = { errors: [], warnings: [], tenants: [] };
  const started = Date.now();

  try {
    log(`bootstrap ${moduleId} on ${redactUrl(url)}`);

    // 1. The database-wide part, under the database lock.
    let newPermissions = 0;
    await client.query('BEGIN');
    try {
      await q('lock_database');
      const version = Number((await q<{ version: number }>('server_version')).rows[0]?.version);
      if (!(await q<{ present: boolean }>('has_pgcrypto')).rows[0]?.present) {
        await client.query('SAVEPOINT pgcrypto');
        try {
          await q('create_pgcrypto');
          await client.query('RELEASE SAVEPOINT pgcrypto');
        } catch (err) {
          if (sqlState(err) !== '42501') throw err;
          await client.query('ROLLBACK TO SAVEPOINT pgcrypto');
          if (version < 130000) {
            throw new BootstrapUsageError('pgcrypto is missing and this role may not create it; PostgreSQL < 13 needs it for gen_random_uuid(): ask a superuser to run CREATE EXTENSION pgcrypto');
          }
          report.warnings.push('this role may not create pgcrypto; using the built-in gen_random_uuid() of PostgreSQL 13+');
        }
      }
      await client.query(systemSql);
      for (const code of permissions) newPermissions += (await q('register_permission', [code, moduleId])).rowCount ?? 0;
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    }
    log(`  system tables ready; ${permissions.length} permissions (${newPermissions} new)`);

    // 2. Each tenant in its own transaction, under its tenant lock.
    const existing = (await q<{ code: string }>('list_tenants')).rows.map((r) => r.code);
    const failed = new Set<string>();
    for (const code of [...new Set([...devTenants, ...existing])].sort()) {
      await client.query('BEGIN');
      try {
        await q('lock_tenant', [code]);
        // insert_tenant returns the new row, or nothing when the tenant exists (then find_tenant).
        const inserted = (await q<{ id: string; schema_name: string }>('insert_tenant', [code, code, null, `tenant_${code}`])).rows[0];
        const tenant = inserted ?? (await q<{ id: string; schema_name: string }>('find_tenant', [code])).rows[0];
        if (!tenant) throw new Error(`tenant "${code}" vanished during bootstrap`);
        const schema = quoteIdent(tenant.schema_name);
        const created: string[] = inserted ? ['new tenant'] : [];
        // Only create a missing schema: an existing one needs no CREATE privilege on the database.
        if (!(await q<{ present: boolean }>('schema_exists', [tenant.schema_name])).rows[0]?.present) {
          await client.query(stmt('create_schema').replace(':schema', schema));
          created.push('schema created');
        }
        const applied = new Map(
          (await q<{ module: string; migration: string; checksum: string }>('applied_for_tenant', [tenant.id])).rows
            .filter((r) => r.module === moduleId)
            .map((r) => [r.migration, r.checksum]),
        );
        await q('scope_to_schema', [schema]);
        const done: string[] = [];
        for (const m of migrations) {
          const recorded = applied.get(m.file);
          if (recorded === undefined) {
            await client.query(m.text);
            await q('record_migration', [tenant.id, moduleId, m.file, m.checksum]);
            done.push(m.file);
          } else if (recorded !== m.checksum) {
            throw new Error(
              `migration ${moduleId}/${m.file} was edited after it was applied to tenant \`${code}\`: applied sha256 ${recorded}, file now ${m.checksum}; nothing was applied over it (add a new migration file instead of editing an applied one)`,
            );
          }
        }
        for (const file of applied.keys()) {
          if (!migrations.some((m) => m.file === file)) {
            report.warnings.push(`tenant "${code}": migration ${file} was applied but its file is gone`);
          }
        }
        await client.query('COMMIT');
        report.tenants.push({ code, schema: tenant.schema_name, applied: done, upToDate: migrations.length - done.length });
        const what = [...created, ...(done.length ? [`applied ${done.join(', ')}`] : [])];
        log(`  tenant ${code} (schema ${tenant.schema_name}): ${what.length ? what.join(', ') : 'up to date'}`);
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        failed.add(code);
        report.errors.push(`tenant "${code}": ${(err as Error).message}`);
        log(`  tenant ${code}: FAILED, rolled back`);
      }
    }

    // 3. Dev seed: a role holding every permission of the module, for the dev user, in each dev tenant.
    const roleCode = `${moduleId}.developer`;
    const seeded: string[] = [];
    for (const code of devTenants.filter((c) => !failed.has(c))) {
      await client.query('BEGIN');
      try {
        await q('lock_tenant', [code]);
        const tenant = (await q<{ id: string }>('find_tenant', [code])).rows[0];
        if (!tenant) throw new Error(`tenant "${code}" vanished during bootstrap`);
        const role = (await q<{ id: string }>('ensure_role', [tenant.id, roleCode, `${config.moduleName} developer`])).rows[0];
        if (!role) throw new Error(`could not create role ${roleCode}`);
        for (const perm of permissions) await q('grant_permission', [role.id, perm]);
        await q('assign_role', [config.devUser, tenant.id, role.id]);
        await client.query('COMMIT');
        seeded.push(code);
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        report.errors.push(`dev seed in tenant "${code}": ${(err as Error).message}`);
      }
    }
    if (seeded.length) log(`  dev seed: role ${roleCode} for user "${config.devUser}" in ${seeded.join(', ')}`);
  } finally {
    await client.end().catch(() => {});
  }

  for (const w of report.warnings) log(`warning: ${w}`);
  for (const e of report.errors) log(`error: ${e}`);
  log(`${report.errors.length ? 'failed' : 'done'} in ${((Date.now() - started) / 1000).toFixed(2)} s`);
  return report;
}

const USAGE = `usage: npm run bootstrap [-- --tenant CODE ...] [--db URL]
  --tenant CODE  also create and seed this dev tenant (repeatable; besides modkit.toml's [dev] tenants)
  --db URL       database to use (default: DATABASE_URL, then modkit.toml's [database] url)`;

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: { tenant: { type: 'string', multiple: true }, db: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    }));
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  try {
    const report = await bootstrap({ tenants: values.tenant ?? [], databaseUrl: values.db });
    return report.errors.length ? 1 : 0;
  } catch (err) {
    if (err instanceof BootstrapUsageError) {
      console.error(`error: ${err.message}`);
      return 2;
    }
    console.error(err);
    return 1;
  }
}

if (isEntryPoint(import.meta.url)) process.exitCode = await main();
