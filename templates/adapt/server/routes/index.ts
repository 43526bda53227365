// The foundation's adapter for the {{ module_id }} module, written by `modkit adapt {{ module_id }}`.
// It builds the module's PluginContext from the foundation's own withTenantTx and requirePermission,
// and exports the Router the route registry mounts at /api/plugins/{{ module_id }}.
// Imports follow this foundation's module system: {{ style_because }}.
// Change the module in its sandbox and run `modkit adapt` again; an edit here is kept unless --force.
// The module's SQL names its tables unqualified, so the foundation's withTenantTx must guarantee: a
// search_path of the tenant's schema alone (never `public`, where a table would be shared by every
// tenant); a 503, before any query, for a tenant schema the role has no USAGE on (PostgreSQL silently
// skips such a schema); and a dropped connection as an error of that call, never a crash.
import { Router } from 'express';
import plugin, { permissions as pluginPermissions } from '{{ plugin_import }}';
import { withTenantTx } from '{{ tenant_db_import }}';
import { requirePermission } from '{{ rbac_import }}';

const router = Router();
const ctx = {
  router,
  rbac: { require: (permission: string) => requirePermission(permission) },
  withTenantTx,
  log: (msg: string, meta?: object) =>
    console.log(JSON.stringify({ at: 'plugin', plugin: plugin.meta.id, msg, ...meta })),
};
{% if top_level_await -%}
await plugin.register(ctx);
{%- else -%}
// CommonJS has no top-level await: the registry awaits `ready` before it mounts the router.
export const ready: Promise<void> = Promise.resolve(plugin.register(ctx));
{%- endif %}

export const permissions = pluginPermissions;
export default router;
