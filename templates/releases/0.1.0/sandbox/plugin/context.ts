// The contract between a module and its host. The sandbox (sandbox/server.ts) and the foundation's
// adapter both build a PluginContext; the module's code depends on nothing else.
import type { RequestHandler, Router } from 'express';

/** A database handle scoped to one tenant: every query runs in that tenant's transaction and schema. */
export interface TenantDb {
  query<R = Record<string, unknown>>(
    text: string,
    params?: readonly unknown[],
  ): Promise<{ rows: R[]; rowCount: number | null }>;
}

/** Runs `run` in one transaction whose search_path is the tenant's schema; commits or rolls back. */
export type WithTenantTx = <T>(tenantId: string, run: (db: TenantDb) => Promise<T>) => Promise<T>;

export interface PluginContext {
  /** Mounted by the host at /api/plugins/<id>. */
  router: Router;
  /** `require(perm)` answers 401/400/404/403 unless the request's user holds `perm` in its tenant. */
  rbac: { require: (permission: string) => RequestHandler };
  withTenantTx: WithTenantTx;
  log: (msg: string, meta?: object) => void;
}

export interface PluginMeta {
  id: string;
  version: string;
  api: string;
}

export interface Plugin {
  meta: PluginMeta;
  register(ctx: PluginContext): void | Promise<void>;
}
