// The {{ module_id }} module as the foundation's registry sees it, written by `modkit adapt` from the
// module's plugin/index.ts (meta, permissions) and its sandbox's modkit.toml (name).
export default {
  id: {{ module_id | tojson }},
  name: {{ module_name | tojson }},
  version: {{ version | tojson }},
  api: {{ api | tojson }},
  permissions: [{% for p in permissions %}{{ p | tojson }}{% if not loop.last %}, {% endif %}{% endfor %}],
  nav: {
    basePath: {{ base_path | tojson }},
    items: [{ path: {{ (base_path ~ "/list") | tojson }}, label: {{ module_name | tojson }}, permissions: [{% for p in nav_permissions %}{{ p | tojson }}{% if not loop.last %}, {% endif %}{% endfor %}] }],
  },
};
