-- The {{ module_id }} module's table. It runs once per tenant, with search_path set to the tenant's
-- schema, so the name is unqualified and there is no tenant_id column: the schema is the tenant.
CREATE TABLE IF NOT EXISTS "{{ table }}" (
  id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name       text        NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
