// requirePermission, mirroring the foundation's RBAC: the user (X-User-Id, in the sandbox) must hold the
// permission through a role *in the request's tenant* (X-Tenant-Id, an id or a code).
import type { RequestHandler } from 'express';
import { pool } from './db/client.js';
import { findTenant } from './db/tenant-db.js';

export function requirePermission(permission: string): RequestHandler {
  return async (req, res, next) => {
    const user = req.get('x-user-id')?.trim();
    if (!user) {
      res.status(401).json({ error: 'missing X-User-Id header' });
      return;
    }
    const tenantKey = req.get('x-tenant-id')?.trim();
    if (!tenantKey) {
      res.status(400).json({ error: 'missing X-Tenant-Id header (a tenant id or code)' });
      return;
    }
    const tenant = await findTenant(pool, tenantKey);
    if (!tenant) {
      res.status(404).json({ error: `unknown tenant "${tenantKey}"` });
      return;
    }
    // The role must belong to the same tenant as the assignment: a grant in A opens nothing in B.
    const { rows } = await pool.query<{ allowed: boolean }>(
      `SELECT EXISTS (
         SELECT 1 FROM public.sys_user_role ur
           JOIN public.sys_role r ON r.id = ur.role_id AND r.tenant_id = ur.tenant_id
           JOIN public.sys_role_permission rp ON rp.role_id = r.id
          WHERE ur.user_id = $1 AND ur.tenant_id = $2::uuid AND rp.permission = $3
       ) AS allowed`,
      [user, tenant.id, permission],
    );
    if (!rows[0]?.allowed) {
      res.status(403).json({ error: `user "${user}" lacks "${permission}" in tenant "${tenant.code}"` });
      return;
    }
    res.locals.tenant = tenant;
    res.locals.userId = user;
    next();
  };
}
