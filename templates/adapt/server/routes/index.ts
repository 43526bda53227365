// The foundation's adapter for the {{ module_id }} module, written by `modkit adapt {{ module_id }}`.
// It builds the module's PluginContext from the foundation's own withTenantTx and requirePermission,
// and exports the Router the route registry mounts at /api/plugins/{{ module_id }}.
// Imports follow this foundation's module system: {{ style_because }}.
// Change the module in its sandbox and run `modkit adapt` again; an edit here is kept unless --force.
// The module's SQL names its tables unqualified, so the foundation's withTenantTx must guarantee: a
// search_path of the tenant's schema, then `extensions` (where the bootstrap keeps the declared
// extensions; never `public`, where a table would be shared by every tenant); a 503, before any query, for a tenant schema the role has no USAGE on (PostgreSQL silently
// skips such a schema); and a dropped connection as an error of that call, never a crash.
import { json, Router } from 'express';
import plugin, { permissions as pluginPermissions } from '{{ plugin_import }}';
import { withTenantTx } from '{{ tenant_db_import }}';
import { requirePermission } from '{{ rbac_import }}';

type Next = (err?: unknown) => void;
type Handler = (...args: unknown[]) => unknown;
type Methods = Record<string, unknown>;

const METHODS = ['all', 'get', 'post', 'put', 'patch', 'delete', 'options', 'head'];

/** A rejected promise from a handler goes to next(err): Express 5 does so itself, Express 4 does not
 * (the rejection would be unhandled and end the process), so the module's async handlers reach the
 * foundation's error handling on either. Error handlers keep their four parameters. */
function settle(result: unknown, next: Next): void {
  if (result instanceof Promise) {
    result.catch((err: unknown) => {
      next(err ?? new Error('Rejected promise'));
    });
  }
}

function forward(arg: unknown): unknown {
  if (Array.isArray(arg)) return arg.map(forward);
  // A router or an app passed to use() is left as it is: Express recognises them by their methods.
  if (typeof arg !== 'function' || 'handle' in arg) return arg;
  const run = arg as Handler;
  if (run.length === 4) {
    return (err: unknown, req: unknown, res: unknown, next: Next) => {
      settle(run(err, req, res, next), next);
    };
  }
  return (req: unknown, res: unknown, next: Next) => {
    settle(run(req, res, next), next);
  };
}

function patch<T extends object>(target: T, names: readonly string[]): T {
  const methods = target as unknown as Methods;
  for (const name of names) {
    const original = methods[name];
    if (typeof original !== 'function') continue;
    const call = original as Handler;
    methods[name] = (...args: unknown[]): unknown => call.apply(target, args.map(forward));
  }
  return target;
}

function forwardRejections(router: Router): Router {
  patch(router, [...METHODS, 'use']);
  const route = router.route.bind(router);
  return Object.assign(router, {
    route: (path: string): ReturnType<typeof route> => patch(route(path), METHODS),
  });
}

const router = forwardRejections(Router());
// The module reads JSON bodies, and not every app parses them for all its routes (express.json()
// leaves a body the app's own parser already read as it is).
router.use(json());
const ctx = {
  router,
  rbac: { require: (permission: string): ReturnType<typeof requirePermission> => requirePermission(permission) },
  withTenantTx,
  log: (msg: string, meta?: object): void =>
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
