// The {{ module_id }} module: the authoring API. Business code never imports a DB client; it gets
// withTenantTx (and everything else) through ctx, so the same file runs in the sandbox and in the foundation.
import type { Request, RequestHandler, Response } from 'express';
import type { Plugin, PluginContext } from './context.js';

// Keep this a top-level array of string literals: modkit reads it without running the code.
export const permissions = ['{{ module_id }}.read', '{{ module_id }}.create', '{{ module_id }}.update', '{{ module_id }}.delete'] satisfies string[];

interface Item {
  id: string;
  name: string;
  createdAt: Date;
  updatedAt: Date;
}

// The table lives in each tenant's schema (no tenant_id column): withTenantTx's search_path finds it.
const COLUMNS = 'id, name, created_at AS "createdAt", updated_at AS "updatedAt"';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_NAME = 200;

/** The request's tenant (an id or a code), from X-Tenant-Id; rbac.require has already checked it. */
function tenantOf(req: Request): string {
  return req.get('x-tenant-id')?.trim() ?? '';
}

/** A valid `name` from the JSON body, or undefined after answering 400. */
function nameFrom(req: Request, res: Response): string | undefined {
  const body: unknown = req.body;
  const raw = typeof body === 'object' && body !== null ? (body as { name?: unknown }).name : undefined;
  const name = typeof raw === 'string' ? raw.trim() : '';
  if (name === '' || name.length > MAX_NAME) {
    res.status(400).json({ error: `"name" must be a non-empty string of at most ${MAX_NAME} characters` });
    return undefined;
  }
  // PostgreSQL's text cannot hold U+0000 (it would fail as a 500): refuse it like any bad name.
  if (name.includes('\u0000')) {
    res.status(400).json({ error: '"name" must not contain a NUL character (\\u0000)' });
    return undefined;
  }
  // A lone surrogate ("\ud800" in JSON) is no character: it would be stored as U+FFFD.
  if (/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(name)) {
    res.status(400).json({ error: '"name" must not contain a lone UTF-16 surrogate (\\ud800-\\udfff): it is not a character' });
    return undefined;
  }
  return name;
}

/** The :id parameter if it can name a row; otherwise answers 404 (a non-uuid names nothing). */
function idFrom(req: Request, res: Response): string | undefined {
  // Destructured: `req.params.id` is TS4111 under noPropertyAccessFromIndexSignature, and
  // `req.params['id']` trips Biome's useLiteralKeys.
  const { id } = req.params;
  if (typeof id === 'string' && UUID.test(id)) return id;
  notFound(res);
  return undefined;
}

function notFound(res: Response): void {
  res.status(404).json({ error: 'item not found' });
}

/**
 * An async handler as Express's own (req, res, next) => void: a rejection (a failed query) goes to
 * next(err), the host's error handling, on Express 4 as on 5, and lint rules such as
 * no-misused-promises see the void handler Express expects.
 */
function route(handle: (req: Request, res: Response) => Promise<void>): RequestHandler {
  return (req, res, next) => {
    handle(req, res).catch(next);
  };
}

const plugin = {
  meta: { id: '{{ module_id }}', version: '0.1.0', api: '1.x' },

  async register(ctx: PluginContext): Promise<void> {
    const r = ctx.router;

    r.get('/health', (_req, res) => {
      res.json({ ok: true, plugin: plugin.meta.id });
    });

    r.get('/{{ resource }}', ctx.rbac.require('{{ module_id }}.read'), route(async (req, res) => {
      const data = await ctx.withTenantTx(tenantOf(req), async (db) => {
        const { rows } = await db.query<Item>(`SELECT ${COLUMNS} FROM "{{ table }}" ORDER BY created_at DESC, id`);
        return rows;
      });
      res.json({ data });
    }));

    r.post('/{{ resource }}', ctx.rbac.require('{{ module_id }}.create'), route(async (req, res) => {
      const name = nameFrom(req, res);
      if (name === undefined) return;
      const data = await ctx.withTenantTx(tenantOf(req), async (db) => {
        const { rows } = await db.query<Item>(`INSERT INTO "{{ table }}" (name) VALUES ($1) RETURNING ${COLUMNS}`, [name]);
        return rows[0];
      });
      ctx.log('created', { id: data?.id });
      res.status(201).json({ data });
    }));

    r.get('/{{ resource }}/:id', ctx.rbac.require('{{ module_id }}.read'), route(async (req, res) => {
      const id = idFrom(req, res);
      if (id === undefined) return;
      // No row is a 404: the type says "maybe none" (rows[0] alone is typed as always there).
      const data = await ctx.withTenantTx(tenantOf(req), async (db): Promise<Item | undefined> => {
        const { rows } = await db.query<Item>(`SELECT ${COLUMNS} FROM "{{ table }}" WHERE id = $1`, [id]);
        return rows[0];
      });
      if (data) res.json({ data });
      else notFound(res);
    }));

    r.patch('/{{ resource }}/:id', ctx.rbac.require('{{ module_id }}.update'), route(async (req, res) => {
      const id = idFrom(req, res);
      if (id === undefined) return;
      const name = nameFrom(req, res);
      if (name === undefined) return;
      const data = await ctx.withTenantTx(tenantOf(req), async (db): Promise<Item | undefined> => {
        const { rows } = await db.query<Item>(
          `UPDATE "{{ table }}" SET name = $2, updated_at = now() WHERE id = $1 RETURNING ${COLUMNS}`,
          [id, name],
        );
        return rows[0];
      });
      if (data) res.json({ data });
      else notFound(res);
    }));

    r.delete('/{{ resource }}/:id', ctx.rbac.require('{{ module_id }}.delete'), route(async (req, res) => {
      const id = idFrom(req, res);
      if (id === undefined) return;
      const data = await ctx.withTenantTx(tenantOf(req), async (db): Promise<Item | undefined> => {
        const { rows } = await db.query<Item>(`DELETE FROM "{{ table }}" WHERE id = $1 RETURNING ${COLUMNS}`, [id]);
        return rows[0];
      });
      if (data) res.json({ data });
      else notFound(res);
    }));
  },
} satisfies Plugin;

export default plugin;
