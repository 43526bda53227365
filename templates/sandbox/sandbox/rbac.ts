// requirePermission, mirroring the foundation's RBAC: the user (X-User-Id, in the sandbox) must hold the
// permission through a role *in the request's tenant* (X-Tenant-Id, an id or a code). A starter
// foundation renders this same file into server/rbac.ts: its nav filter reads heldPermissions() too.
import type { Request, RequestHandler, Response } from 'express';
import { devIdentity, type DevIdentity } from './config.js';
import { pool } from './db/client.js';
import { findTenant, type Tenant } from './db/tenant-db.js';

/**
 * The request's user and tenant, or undefined once it has been answered (401: the header identity is
 * refused or no user; 400: no tenant; 404: unknown tenant). The user is the X-User-Id header: real
 * authentication replaces this read (verify the session or token here and return its user).
 */
export async function requestIdentity(
  req: Request,
  res: Response,
  identity: DevIdentity,
): Promise<{ user: string; tenant: Tenant } | undefined> {
  if (!identity.allowed) {
    res.status(401).json({ error: identity.why });
    return undefined;
  }
  const user = req.get('x-user-id')?.trim();
  if (!user) {
    res.status(401).json({ error: 'missing X-User-Id header' });
    return undefined;
  }
  const tenantKey = req.get('x-tenant-id')?.trim();
  if (!tenantKey) {
    res.status(400).json({ error: 'missing X-Tenant-Id header (a tenant id or code)' });
    return undefined;
  }
  const tenant = await findTenant(pool, tenantKey);
  if (!tenant) {
    res.status(404).json({ error: `unknown tenant "${tenantKey}"` });
    return undefined;
  }
  return { user, tenant };
}

/** The permissions `user` holds in the tenant, through roles of that tenant: a grant in A opens nothing in B. */
export async function heldPermissions(user: string, tenantId: string): Promise<Set<string>> {
  const { rows } = await pool.query<{ permission: string }>(
    `SELECT DISTINCT rp.permission FROM public.sys_user_role ur
       JOIN public.sys_role r ON r.id = ur.role_id AND r.tenant_id = ur.tenant_id
       JOIN public.sys_role_permission rp ON rp.role_id = r.id
      WHERE ur.user_id = $1 AND ur.tenant_id = $2::uuid`,
    [user, tenantId],
  );
  return new Set(rows.map((r) => r.permission));
}

/** `identity` says whether X-User-Id may be trusted (default: refused when NODE_ENV=production). */
export function requirePermission(
  permission: string,
  identity: DevIdentity = devIdentity(process.env.NODE_ENV === 'production'),
): RequestHandler {
  return async (req, res, next) => {
    const who = await requestIdentity(req, res, identity);
    if (!who) return;
    if (!(await heldPermissions(who.user, who.tenant.id)).has(permission)) {
      res.status(403).json({ error: `user "${who.user}" lacks "${permission}" in tenant "${who.tenant.code}"` });
      return;
    }
    res.locals.tenant = who.tenant;
    res.locals.userId = who.user;
    next();
  };
}
