// npm run bootstrap [-- --tenant CODE ...] [--db URL]
//
// Prepares the database for this sandbox with exactly the protocol of `modkit bootstrap`, from the same
// SQL (sandbox/sql/, copied from modkit's templates): idempotent, and safe to run many times at once
// (advisory locks serialize the database-wide part and each tenant).
//   1. one transaction: lock; schema `extensions` with pgcrypto and modkit.toml's [database] extensions;
//      system tables; the module's permissions
//   2. per tenant (modkit.toml's dev tenants, --tenant, every existing tenant), one transaction each:
//      the tenant row, its schema, the module's migrations not applied yet (checksums verified)
//   3. per dev tenant: a role with all of the module's permissions, granted to the dev user
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { databaseUrl, isEntryPoint, loadConfig, pgEnvUrl, redactUrl } from './config.js';
import { hasExplicitDatabase, refuseRootInAnothersProject, type StartedLocalDb, startLocalDb } from './localdb.js';
import { projectModules } from './modules.js';
import type { ProjectModule } from './project-module.js';

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

/** Why a migration cannot be split for sure, with the line (1-based) where that starts. */
export class SplitError extends Error {
  constructor(readonly line: number, readonly reason: string) {
    super(`line ${line}: ${reason}`);
  }
}

const STRINGS_SETTING =
  "the script changes standard_conforming_strings, which changes where a string ends: modkit cannot be sure where its statements end; remove the setting (write E'...' for a string with backslash escapes)";

/**
 * Splits a migration into its statements the way `psql -f` does (modkit's src/db/split.rs, the same
 * rules): a `;` ends a statement only outside '...' and E'...' strings, "identifiers", $tag$ dollar
 * quotes, -- and nested /* *\/ comments, parentheses, and the BEGIN ATOMIC ... END body of a
 * CREATE [OR REPLACE] FUNCTION|PROCEDURE. Statements of only comments and whitespace are left out.
 * Never drops or changes a byte: only PostgreSQL's (ASCII) whitespace is trimmed, a BOM at the start
 * is skipped as psql skips it, a `--` comment ends at a CR too, a continued E'' string stays one, and
 * an unterminated comment or string, or a change of standard_conforming_strings, throws a SplitError
 * naming its line; the pieces are checked to cover the whole script.
 * Used on Citus, which forwards a CREATE INDEX's or a rename's whole query string to the worker,
 * where a string of several statements fails.
 */
export function splitStatements(sql: string): string[] {
  return scanStatements(sql).map((p) => p.text);
}

const isSpace = (c: string | undefined) => c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f';

function scanStatements(sql: string): { text: string; offset: number }[] {
  const out: { text: string; offset: number }[] = [];
  const identStart = (c: string) => /[A-Za-z_\u0080-\uffff]/.test(c);
  const identCont = (c: string) => identStart(c) || /[0-9$]/.test(c);
  let trouble: [number, string] | undefined;
  const fail = (at: number, reason: string) => {
    trouble ??= [at, reason];
  };
  let start = sql.startsWith('\ufeff') ? 1 : 0;
  let i = start;
  let sawToken = false;
  let parens = 0;
  let blocks = 0;
  let words: string[] = [];
  const end = (at: number) => {
    if (sawToken) {
      let from = start;
      let to = at;
      while (from < to && isSpace(sql[from])) from++;
      while (to > from && isSpace(sql[to - 1])) to--;
      out.push({ text: sql.slice(from, to), offset: from });
    }
    start = at + 1;
    sawToken = false;
    parens = 0;
    blocks = 0;
    words = [];
  };
  // After a string's closing quote: the index past the quote that continues it, when only
  // whitespace with a newline, and -- comments, come between (PostgreSQL's quotecontinue).
  const continuation = (from: number): number | undefined => {
    let j = from;
    let newline = false;
    while (j < sql.length) {
      const c = sql[j];
      if (c === '\n' || c === '\r') {
        newline = true;
        j++;
      } else if (c === ' ' || c === '\t' || c === '\f') j++;
      else if (c === '-' && sql[j + 1] === '-') {
        while (j < sql.length && sql[j] !== '\n' && sql[j] !== '\r') j++;
      } else if (c === "'" && newline) return j + 1;
      else return undefined;
    }
    return undefined;
  };
  const skipQuoted = (quote: string, backslash: boolean) => {
    const from = i;
    i++;
    while (i < sql.length) {
      const c = sql[i];
      if (backslash && c === '\\') i += 2;
      else if (c === quote && sql[i + 1] === quote) i += 2;
      else if (c === quote) {
        i++;
        if (quote === "'") {
          if (/standard_conforming_strings/i.test(sql.slice(from, i))) fail(from, STRINGS_SETTING);
          const next = continuation(i);
          if (next !== undefined) {
            i = next;
            continue;
          }
        }
        return;
      } else i++;
    }
    i = sql.length;
    fail(from, quote === '"' ? 'unterminated quoted identifier' : 'unterminated quoted string');
  };
  while (i < sql.length) {
    const c = sql[i]!;
    const next = sql[i + 1];
    if (c === '-' && next === '-') {
      while (i < sql.length && sql[i] !== '\n' && sql[i] !== '\r') i++;
    } else if (c === '/' && next === '*') {
      const from = i;
      let depth = 0;
      let closed = false;
      while (i < sql.length) {
        if (sql[i] === '/' && sql[i + 1] === '*') {
          depth++;
          i += 2;
        } else if (sql[i] === '*' && sql[i + 1] === '/') {
          depth--;
          i += 2;
          if (depth === 0) {
            closed = true;
            break;
          }
        } else i++;
      }
      if (!closed) fail(from, 'unterminated /* comment (comments nest: a /* inside one opens another)');
    } else if (c === ';' && parens === 0 && blocks === 0) {
      end(i);
      i++;
    } else if (isSpace(c)) {
      i++;
    } else {
      sawToken = true;
      if (c === "'" || c === '"') skipQuoted(c, false);
      else if (c === '(') {
        parens++;
        i++;
      } else if (c === ')') {
        parens = Math.max(0, parens - 1);
        i++;
      } else if (c === '$') {
        const tag = /^\$(?:[A-Za-z_\u0080-\uffff][A-Za-z_0-9\u0080-\uffff]*)?\$/.exec(sql.slice(i));
        if (tag) {
          const close = sql.indexOf(tag[0], i + tag[0].length);
          if (close < 0) fail(i, 'unterminated dollar-quoted string');
          i = close < 0 ? sql.length : close + tag[0].length;
        } else {
          i++;
          while (i < sql.length && /[0-9]/.test(sql[i]!)) i++;
        }
      } else if (identStart(c)) {
        const from = i;
        while (i < sql.length && identCont(sql[i]!)) i++;
        const word = sql.slice(from, i).toLowerCase();
        if (word === 'standard_conforming_strings') fail(from, STRINGS_SETTING);
        if (word === 'e' && sql[i] === "'") {
          skipQuoted("'", true);
          continue;
        }
        // psql's heuristic: in CREATE [OR REPLACE] FUNCTION|PROCEDURE, BEGIN opens a block, CASE
        // inside one opens another, END closes one.
        if (words.length < 4) words.push(['create', 'or', 'replace', 'function', 'procedure'].includes(word) ? word : '');
        const routine =
          words[0] === 'create' &&
          (words[1] === 'function' || words[1] === 'procedure' ||
            (words[1] === 'or' && words[2] === 'replace' && (words[3] === 'function' || words[3] === 'procedure')));
        if (routine && parens === 0) {
          if (word === 'begin') blocks++;
          else if (word === 'case' && blocks > 0) blocks++;
          else if (word === 'end') blocks = Math.max(0, blocks - 1);
        }
      } else if (/[0-9]/.test(c)) {
        while (i < sql.length && identCont(sql[i]!)) i++;
      } else i++;
    }
  }
  end(sql.length);
  const lineAt = (at: number) => sql.slice(0, at).split('\n').length;
  if (trouble) throw new SplitError(lineAt(trouble[0]), trouble[1]);
  // Every character is in a piece, or between pieces where only whitespace, comments and `;` are.
  let at = sql.startsWith('\ufeff') ? 1 : 0;
  for (const piece of out) {
    const gap = sql.slice(at, piece.offset);
    if (piece.offset < at || sql.slice(piece.offset, piece.offset + piece.text.length) !== piece.text || !onlyGap(gap)) {
      throw new SplitError(lineAt(piece.offset), 'modkit could not split this script into whole statements (a bug: please report it)');
    }
    at = piece.offset + piece.text.length;
  }
  if (!onlyGap(sql.slice(at))) throw new SplitError(lineAt(at), 'modkit could not split this script into whole statements (a bug: please report it)');
  return out;
}

/** Text between statements: `;`s, whitespace and (nested) comments only. */
function onlyGap(gap: string): boolean {
  let j = 0;
  while (j < gap.length) {
    const c = gap[j];
    if (isSpace(c) || c === ';') j++;
    else if (c === '-' && gap[j + 1] === '-') {
      while (j < gap.length && gap[j] !== '\n' && gap[j] !== '\r') j++;
    } else if (c === '/' && gap[j + 1] === '*') {
      let depth = 0;
      do {
        if (gap[j] === '/' && gap[j + 1] === '*') {
          depth++;
          j += 2;
        } else if (gap[j] === '*' && gap[j + 1] === '/') {
          depth--;
          j += 2;
        } else j++;
      } while (depth > 0 && j < gap.length);
      if (depth > 0) return false;
    } else return false;
  }
  return true;
}

/** The extension a statement creates, when it is a `CREATE EXTENSION` (modkit's guard.rs, the same rule). */
export function createdExtension(statement: string): string | undefined {
  const rest = statement.replace(/^(?:\s+|--[^\r\n]*|\/\*[\s\S]*?\*\/)*/, '');
  const m = /^create\s+extension\s+(?:if\s+not\s+exists\s+)?("(?:[^"]|"")+"|[^\s;]+)/i.exec(rest);
  if (!m) return undefined;
  const name = m[1]!;
  return name.startsWith('"') ? name.slice(1, -1).replaceAll('""', '"') : name.toLowerCase();
}

/** What the database is: plain PostgreSQL or a Citus coordinator; a Citus worker is refused. */
async function detectCitus(client: pg.Client): Promise<boolean> {
  const ext = await client.query(`SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'citus'`);
  if (!ext.rowCount) return false;
  const row = (
    await client.query<{ groupid: number; coordinator: boolean }>(
      'SELECT (SELECT groupid FROM pg_catalog.pg_dist_local_group) AS groupid, citus_is_coordinator() AS coordinator',
    )
  ).rows[0];
  if (row && Number(row.groupid) !== 0) {
    throw new BootstrapUsageError(
      `this database is on a Citus worker node (group ${row.groupid}), not on the coordinator: nothing was changed; point the database URL at the coordinator`,
    );
  }
  return Boolean(row?.coordinator);
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** The same text as modkit's: an applied migration's file changed. */
/** A module's migrations, in name order, with the sha-256 of each file's bytes. */
function readMigrations(dir: URL): { file: string; text: string; checksum: string }[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return names
    .filter((f) => f.endsWith('.sql'))
    .sort()
    .map((file) => {
      const bytes = readFileSync(new URL(file, dir));
      return { file, text: bytes.toString('utf8'), checksum: createHash('sha256').update(bytes).digest('hex') };
    });
}

function editedMessage(moduleId: string, file: string, tenant: string, applied: string, now: string): string {
  return `migration ${moduleId}/${file} was edited after it was applied to tenant \`${tenant}\`: applied sha256 ${applied}, file now ${now}; nothing was applied over it (add a new migration file instead of editing an applied one)`;
}

/** An identifier as it can be pasted into SQL: bare when plain lowercase, quoted otherwise. */
function shownIdent(name: string): string {
  return /^[a-z_][a-z0-9_]*$/.test(name) && !['user', 'public', 'all', 'group', 'current_user', 'session_user'].includes(name) ? name : quoteIdent(name);
}

/** The same text as modkit's: a tenant schema this role may not use, and the fix. */
function unusableSchemaMessage(schema: string, owner: string, role: string): string {
  const [s, r] = [shownIdent(schema), shownIdent(role)];
  return `this role (${role}) may not use schema ${schema} (owned by ${owner}): it needs USAGE and CREATE on it; nothing was done in it (fix: as the schema's owner or a superuser run \`GRANT USAGE, CREATE ON SCHEMA ${s} TO ${r};\` or \`ALTER SCHEMA ${s} OWNER TO ${r};\`)`;
}

function sqlState(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}

/**
 * The database was created a moment ago by another bootstrap: 42P04, or, when both passed the server's
 * existence check at once, the loser's unique violation on pg_database's name index.
 */
export function databaseExists(err: unknown): boolean {
  const constraint = (err as { constraint?: unknown } | null)?.constraint;
  return sqlState(err) === '42P04' || (sqlState(err) === '23505' && constraint === 'pg_database_datname_index');
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
    if (!databaseExists(err)) throw err;
  } finally {
    await admin.end().catch(() => {});
  }
}

export async function bootstrap(options: BootstrapOptions = {}): Promise<BootstrapReport> {
  const log = options.log ?? ((line: string) => console.log(line));
  const config = loadConfig();
  let modules;
  try {
    modules = await projectModules();
  } catch (err) {
    throw new BootstrapUsageError((err as Error).message);
  }
  for (const { id, permissions, source } of modules) {
    const foreign = permissions.filter((p) => !p.startsWith(`${id}.`));
    if (foreign.length) {
      throw new BootstrapUsageError(`${source}: permission ${foreign.join(', ')} does not belong to module "${id}" (name them "${id}.<action>")`);
    }
  }
  const moduleIds = modules.map((m) => m.id).join(', ') || 'no modules';
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
  const migrationsOf = modules.map((m) => ({
    module: m,
    migrations: readMigrations(m.migrationsDir),
  }));

  const url = options.databaseUrl ?? databaseUrl();
  // Like modkit bootstrap: the sandbox's own dev database (the URL in modkit.toml) is created when
  // missing; one given by --db, DATABASE_URL or the PG* variables never is.
  const ownDatabase =
    options.databaseUrl === undefined && !process.env.DATABASE_URL?.trim() && (config.databaseUrl !== undefined || pgEnvUrl() === undefined);
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
    // Before anything is written: a Citus worker is refused; on a coordinator every tenant schema
    // is distributed and migrations are sent one statement per query (docs/citus.md in modkit).
    const citus = await detectCitus(client);
    log(`bootstrap ${moduleIds} on ${redactUrl(url)}${citus ? ' (Citus coordinator: tenant schemas distributed)' : ''}`);

    // 1. The database-wide part, under the database lock.
    let newPermissions = 0;
    await client.query('BEGIN');
    try {
      await q('lock_database');
      const version = Number((await q<{ version: number }>('server_version')).rows[0]?.version);
      // The one home of extensions (modkit's database.rs, the same steps): pgcrypto and the declared
      // ones are made there, or moved there from another schema (pgcrypto in public, before).
      await client.query('SAVEPOINT extensions_schema');
      try {
        await client.query(stmt('create_extensions_schema'));
        await client.query('RELEASE SAVEPOINT extensions_schema');
      } catch (err) {
        // A role that may not create schemas still bootstraps, as before, without declared extensions.
        if (sqlState(err) !== '42501' || config.extensions.length) throw err;
        await client.query('ROLLBACK TO SAVEPOINT extensions_schema');
        report.warnings.push(
          'this role may not create schema extensions, the one home of extensions (pgcrypto is not made there); a superuser can run `CREATE SCHEMA extensions; GRANT USAGE ON SCHEMA extensions TO PUBLIC;`',
        );
      }
      const installed = new Map(
        (await q<{ name: string; schema: string; relocatable: boolean }>('extension_schemas')).rows.map((r) => [r.name, r]),
      );
      for (const name of ['pgcrypto', ...config.extensions]) {
        const ext = installed.get(name);
        if (ext && ext.schema !== 'extensions') {
          await client.query('SAVEPOINT move_extension');
          try {
            if (!ext.relocatable) throw new Error('it cannot be moved (not relocatable)');
            await client.query(stmt('move_extension').replace(':extension', quoteIdent(name)));
            await client.query('RELEASE SAVEPOINT move_extension');
          } catch (err) {
            await client.query('ROLLBACK TO SAVEPOINT move_extension');
            report.warnings.push(
              `extension ${name} is in schema ${ext.schema}, not in extensions (${(err as Error).message}): a tenant's migrations find only what is in extensions; as its owner or a superuser run \`ALTER EXTENSION ${name} SET SCHEMA extensions;\``,
            );
          }
        } else if (!ext && name !== 'pgcrypto') {
          try {
            await client.query(stmt('create_extension').replace(':extension', quoteIdent(name)));
          } catch (err) {
            throw new BootstrapUsageError(
              `cannot create extension ${name}, which modkit.toml declares ([database] extensions): ${(err as Error).message} (a superuser runs \`CREATE SCHEMA IF NOT EXISTS extensions; CREATE EXTENSION ${name} SCHEMA extensions;\` in this database, then run again)`,
            );
          }
        }
      }
      if (!installed.has('pgcrypto')) {
        await client.query('SAVEPOINT pgcrypto');
        try {
          await q('create_pgcrypto');
          await client.query('RELEASE SAVEPOINT pgcrypto');
        } catch (err) {
          // Refused (42501), or not on the server at all (no contrib): "extension is not available"
          // is 0A000 since PostgreSQL 15, 58P01 "could not open extension control file" before.
          const state = sqlState(err);
          // 3F000: schema extensions could not be made (warned about above).
          if (state !== '42501' && state !== '0A000' && state !== '58P01' && state !== '3F000') throw err;
          await client.query('ROLLBACK TO SAVEPOINT pgcrypto');
          const why = state === '42501' || state === '3F000' ? 'this role may not create pgcrypto' : 'pgcrypto is not installed on this server (no contrib)';
          if (version < 130000) {
            throw new BootstrapUsageError(
              `${why}, and PostgreSQL < 13 needs it for gen_random_uuid(): ${state === '42501' ? 'ask a superuser to run CREATE EXTENSION pgcrypto' : 'install the server\'s contrib package, or use PostgreSQL 13 or later'}`,
            );
          }
          report.warnings.push(`${why}; using the built-in gen_random_uuid() of PostgreSQL 13+`);
        }
      }
      await client.query(systemSql);
      for (const m of modules) {
        for (const code of m.permissions) newPermissions += (await q('register_permission', [code, m.id])).rowCount ?? 0;
      }
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    }
    log(`  system tables ready; ${modules.reduce((n, m) => n + m.permissions.length, 0)} permissions (${newPermissions} new)`);

    // 2. Each tenant in its own transaction, under its tenant lock. First, what exists outside the
    // tenant schemas now, for the check before each COMMIT (created_outside_schema).
    await q('remember_outside_objects');
    const existing = (await q<{ code: string }>('list_tenants')).rows.map((r) => r.code);
    // A tenant the dev role was granted in before (`--tenant X` once) stays a dev tenant: a later plain
    // run grants it what the module added since. Remembered where the grant is, in the database.
    const remembered = (
      await client.query<{ code: string }>(
        `SELECT DISTINCT t.code FROM public.sys_user_role ur
           JOIN public.sys_tenant t ON t.id = ur.tenant_id
           JOIN public.sys_role r ON r.id = ur.role_id AND r.tenant_id = ur.tenant_id
          WHERE ur.user_id = $1 AND r.code = ANY($2::text[])`,
        [config.devUser, modules.map((m) => `${m.id}.developer`)],
      )
    ).rows.map((r) => r.code);
    for (const code of remembered) if (!devTenants.includes(code)) devTenants.push(code);
    // The checksums already recorded in any tenant are the truth: a file that differs from one is
    // never applied, to a new tenant either (it would record the edited file as the truth).
    const recordedChecksums = new Map<string, { migration: string; checksum: string; code: string }[]>();
    for (const m of modules) {
      recordedChecksums.set(m.id, (await q<{ migration: string; checksum: string; code: string }>('recorded_checksums', [m.id])).rows);
    }
    // A tenant migration never creates an extension (it would land in the first tenant's schema):
    // one not applied anywhere yet is refused, naming how to declare it instead.
    for (const { module, migrations } of migrationsOf) {
      const appliedSomewhere = new Set((recordedChecksums.get(module.id) ?? []).map((r) => r.migration));
      for (const m of migrations.filter((m) => !appliedSomewhere.has(m.file))) {
        let statements: string[];
        try {
          statements = splitStatements(m.text);
        } catch {
          continue; // the server reports what cannot be split when the file is sent
        }
        for (const statement of statements) {
          const name = createdExtension(statement);
          if (name) {
            throw new BootstrapUsageError(
              `migration ${module.id}/${m.file} creates extension ${name}: in a tenant's migration it would land in the first tenant's schema, and every other tenant would fail on it; declare it in modkit.toml instead, \`[database] extensions = ["${name}"]\`, and remove the statement: the bootstrap creates it once, in schema extensions, which every tenant's search_path ends with`,
            );
          }
        }
      }
    }
    const failed = new Set<string>();
    for (const code of [...new Set([...devTenants, ...existing])].sort()) {
      await client.query('BEGIN');
      try {
        if (citus) await q('citus_schema_sharding');
        await q('lock_tenant', [code]);
        await q('stats_baseline');
        // insert_tenant returns the new row, or nothing when the tenant exists (then find_tenant).
        const inserted = (await q<{ id: string; schema_name: string }>('insert_tenant', [code, code, null, `tenant_${code}`])).rows[0];
        const tenant = inserted ?? (await q<{ id: string; schema_name: string }>('find_tenant', [code])).rows[0];
        if (!tenant) throw new Error(`tenant "${code}" vanished during bootstrap`);
        const schema = quoteIdent(tenant.schema_name);
        const created: string[] = inserted ? ['new tenant'] : [];
        // Only create a missing schema: an existing one needs no CREATE privilege on the database.
        // An existing one this role may not use (USAGE and CREATE) is refused: PostgreSQL would
        // leave it out of search_path and the module's tables would land elsewhere.
        const state = (await q<{ present: boolean; usable: boolean; owner: string; role_name: string }>('schema_state', [tenant.schema_name])).rows[0];
        const schemaCreated = !state?.present;
        if (schemaCreated) {
          await client.query(stmt('create_schema').replace(':schema', schema));
          created.push('schema created');
        } else if (!state?.usable) {
          throw new Error(unusableSchemaMessage(tenant.schema_name, state?.owner ?? '?', state?.role_name ?? '?'));
        } else if (citus && (await q('citus_distribute_schema', [tenant.schema_name])).rowCount) {
          created.push('schema distributed');
        }
        const appliedRows = (await q<{ module: string; migration: string; checksum: string }>('applied_for_tenant', [tenant.id])).rows;
        await q('scope_to_schema', [schema]);
        const done: string[] = [];
        let total = 0;
        for (const { module, migrations } of migrationsOf) {
          const moduleId = module.id;
          const applied = new Map(appliedRows.filter((r) => r.module === moduleId).map((r) => [r.migration, r.checksum]));
          total += migrations.length;
          for (const m of migrations) {
            const recorded = applied.get(m.file);
            if (recorded === undefined) {
              const truth = recordedChecksums.get(moduleId)?.find((r) => r.migration === m.file && r.checksum !== m.checksum);
              if (truth) throw new Error(editedMessage(moduleId, m.file, truth.code, truth.checksum, m.checksum));
              let statements = [m.text.replace(/^\ufeff/, '')];
              if (citus) {
                try {
                  statements = splitStatements(m.text);
                } catch (err) {
                  throw new Error(`migration ${moduleId}/${m.file}, ${(err as Error).message}; nothing was sent`);
                }
              }
              for (const statement of statements) await runMigrationStatement(client, `${moduleId}/${m.file}`, m.text, statement);
              await q('record_migration', [tenant.id, moduleId, m.file, m.checksum]);
              done.push(modules.length > 1 ? `${moduleId}/${m.file}` : m.file);
            } else if (recorded !== m.checksum) {
              throw new Error(editedMessage(moduleId, m.file, code, recorded, m.checksum));
            }
          }
          for (const file of applied.keys()) {
            if (!migrations.some((m) => m.file === file)) {
              report.warnings.push(`tenant "${code}": migration ${file} was applied but its file is gone`);
            }
          }
        }
        if (done.length) {
          // Before COMMIT: nothing the migrations made may live outside the tenant's schema.
          const outside = (await q<{ outside: string | null }>('created_outside_schema', [tenant.schema_name, schemaCreated, code, done.length])).rows[0]?.outside;
          if (outside) {
            throw new Error(
              `migrations ${done.map((f) => (modules.length > 1 ? f : `${moduleIds}/${f}`)).join(', ')} created or changed objects outside schema ${tenant.schema_name}: ${outside}; nothing was kept (a module's migrations run in the tenant's schema alone: create objects with unqualified names, no \`public.\` or other schema)`,
            );
          }
        }
        await client.query('COMMIT');
        report.tenants.push({ code, schema: tenant.schema_name, applied: done, upToDate: total - done.length });
        const what = [...created, ...(done.length ? [`applied ${done.join(', ')}`] : [])];
        log(`  tenant ${code} (schema ${tenant.schema_name}): ${what.length ? what.join(', ') : 'up to date'}`);
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        failed.add(code);
        // The tenants' transactions only meet on the system tables: a migration locked one.
        const deadlock =
          sqlState(err) === '40P01'
            ? " (a migration locks a table outside the tenant's schema, e.g. a trigger, policy, index, ALTER or foreign key on public.sys_tenant, which every tenant's bootstrap writes: keep a module's migrations to the tenant's schema)"
            : '';
        report.errors.push(`tenant "${code}": ${(err as Error).message}${deadlock}`);
        log(`  tenant ${code}: FAILED, rolled back`);
      }
    }

    // 3. Dev seed: the dev role(s) holding every permission (devRoles), for the dev user, in each dev tenant.
    const roles = devRoles(modules, config.foundation !== undefined);
    const roleCode = roles.map((r) => r.code).join(', ');
    const seeded: string[] = [];
    for (const code of devTenants.filter((c) => !failed.has(c))) {
      await client.query('BEGIN');
      try {
        await q('lock_tenant', [code]);
        const tenant = (await q<{ id: string }>('find_tenant', [code])).rows[0];
        if (!tenant) throw new Error(`tenant "${code}" vanished during bootstrap`);
        for (const r of roles) {
          const role = (await q<{ id: string }>('ensure_role', [tenant.id, r.code, r.name])).rows[0];
          if (!role) throw new Error(`could not create role ${r.code}`);
          for (const perm of r.permissions) await q('grant_permission', [role.id, perm]);
          await q('assign_role', [config.devUser, tenant.id, role.id]);
        }
        await client.query('COMMIT');
        seeded.push(code);
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        report.errors.push(`dev seed in tenant "${code}": ${(err as Error).message}`);
      }
    }
    if (seeded.length && roles.length) log(`  dev seed: role ${roleCode} for user "${config.devUser}" in ${seeded.join(', ')}`);
  } finally {
    await client.end().catch(() => {});
  }

  for (const w of report.warnings) log(`warning: ${w}`);
  for (const e of report.errors) log(`error: ${e}`);
  log(`${report.errors.length ? 'failed' : 'done'} in ${((Date.now() - started) / 1000).toFixed(2)} s`);
  return report;
}

/**
 * The dev user's roles, as `modkit bootstrap` makes them (modkit's src/project_db.rs, dev_seed): in a
 * sandbox `<module>.developer` with the module's permissions; in a foundation one role, `developer`,
 * with every permission of every adapted module (none while no module is adapted).
 */
function devRoles(modules: ProjectModule[], foundation: boolean): { code: string; name: string; permissions: readonly string[] }[] {
  if (foundation) {
    if (modules.length === 0) return [];
    return [{ code: 'developer', name: 'Developer (every module)', permissions: modules.flatMap((m) => m.permissions) }];
  }
  return modules.map((m) => ({ code: `${m.id}.developer`, name: `${m.name} developer`, permissions: m.permissions }));
}

/**
 * One statement of a migration; a failure names the file and the line the server points at
 * (`items/0002_add_description.sql:3: syntax error at or near "COLUMNN"`), with the SQLSTATE.
 */
async function runMigrationStatement(client: pg.Client, file: string, text: string, statement: string): Promise<void> {
  try {
    await client.query(statement);
  } catch (err) {
    const e = err as Error & { position?: string; code?: string };
    const offset = Math.max(0, text.indexOf(statement)) + Math.max(0, Number(e.position ?? 1) - 1);
    const line = text.slice(0, offset).split('\n').length;
    const wrapped = new Error(`${file}:${line}: ${e.message}${e.code ? ` (SQLSTATE ${e.code})` : ''}`);
    Object.assign(wrapped, { code: e.code });
    throw wrapped;
  }
}

/**
 * The first bootstrap of a new local cluster (handed to startLocalDb): create its database, then bootstrap.
 * True when it succeeded.
 */
export async function bootstrapNewLocalDb(url: string, log: (line: string) => void): Promise<boolean> {
  const admin = new URL(url);
  const name = decodeURIComponent(admin.pathname.slice(1));
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`);
  } catch (err) {
    if (!databaseExists(err)) throw err; // made by another start a moment ago
  } finally {
    await client.end();
  }
  const report = await bootstrap({ databaseUrl: url, log: (line) => log(`[db] ${line}`) });
  return report.errors.length === 0;
}

/** The local database started (made and bootstrapped the first time): `npm run dev`, `npm run bootstrap`, `npm test`. */
export function ensureLocalDb(log: (line: string) => void = console.log): Promise<StartedLocalDb> {
  return startLocalDb(log, bootstrapNewLocalDb);
}

const USAGE = `usage: npm run bootstrap [-- --tenant CODE ...] [--db URL]
  --tenant CODE  also create and seed this dev tenant (repeatable; besides modkit.toml's [dev] tenants)
  --db URL       database to use (default: DATABASE_URL, then modkit.toml's [database] url)`;

async function main(): Promise<number> {
  try {
    refuseRootInAnothersProject(); // before anything is read or written in another user's project
  } catch (err) {
    console.error(`error: ${(err as Error).message}`);
    return 2;
  }
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
    // No server named: the sandbox's local database (started, and bootstrapped the first time).
    if (!values.db && !hasExplicitDatabase()) await ensureLocalDb();
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

// Not a top-level await: a module still awaiting at top level cannot be imported (sandbox/db.ts and
// dev.mjs import this one).
if (isEntryPoint(import.meta.url)) {
  main().then((code) => {
    process.exitCode = code;
  });
}
