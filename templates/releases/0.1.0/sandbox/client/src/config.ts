// What the client needs to know about the module and the sandbox's dev setup (see modkit.toml).
export const moduleId = '{{ module_id }}';
export const apiBase = `/api/plugins/${moduleId}/{{ resource }}`;
/** The sandbox's dev user: bootstrap grants it every permission of the module in each dev tenant. */
export const devUser = 'dev';
export const devTenants: string[] = [{% for t in dev_tenants %}'{{ t }}'{% if not loop.last %}, {% endif %}{% endfor %}];
