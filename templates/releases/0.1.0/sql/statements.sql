-- modkit bootstrap statements, shared by `modkit bootstrap` (Rust) and a sandbox's
-- `npm run bootstrap` (sandbox/bootstrap.ts): one source, so both give the same database.
--
-- Each statement starts with a `-- name: <name>` line and takes parameters $1, $2, ... A client
-- binds them, or (modkit, to send a tenant's whole transaction in two round trips) puts them in as
-- quoted literals: `'` doubled, with standard_conforming_strings on, which modkit checks.
-- Identifiers are never parameters: a client quotes a schema name itself (double the `"`s, wrap in
-- `"`), after checking it against the tenant-code rule (docs/bootstrap.md).
--
-- Locks are transaction-scoped advisory locks: they are released by COMMIT/ROLLBACK, so they are
-- never orphaned on a pooled connection (a transaction-pooling PgBouncer included).
-- Key space 1836016499 ('modk') = the database-wide part; 1836016500 = one tenant, keyed by its code.

-- name: server_version
SELECT current_setting('server_version_num')::int AS version;

-- name: lock_database
SELECT pg_advisory_xact_lock(1836016499, 0);

-- name: has_pgcrypto
SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pgcrypto') AS present;

-- name: create_pgcrypto
CREATE EXTENSION IF NOT EXISTS pgcrypto;

-- name: lock_tenant
-- $1 tenant code
SELECT pg_advisory_xact_lock(1836016500, hashtext($1));

-- name: async_commit
-- Tenant transactions commit without waiting for the disk: atomicity is kept (no tenant is ever
-- half made), and a tenant lost to a server crash in the last moments is redone by the next run.
-- A run ends with flush_commits, which waits until all of them are on disk.
SET LOCAL synchronous_commit = off;

-- name: flush_commits
-- A transaction that takes a transaction id writes a commit record; committing it synchronously
-- flushes the WAL up to it, and so every asynchronous commit before it.
SELECT pg_current_xact_id()::text;

-- name: insert_tenant
-- $1 code, $2 name, $3 domain, $4 schema name; an existing tenant is left as it is (no row back).
INSERT INTO public.sys_tenant (code, name, domain, schema_name)
VALUES ($1, $2, $3, $4)
ON CONFLICT (code) DO NOTHING
RETURNING id::text AS id, schema_name;

-- name: insert_new_tenant
-- $1 code, $2 name, $3 domain, $4 schema name. modkit's fast path, for a tenant the catalog showed
-- missing: it fails if the row exists by now (a concurrent run got there first), which rolls the
-- whole transaction back, and modkit then does the tenant anew under its lock.
INSERT INTO public.sys_tenant (code, name, domain, schema_name)
VALUES ($1, $2, $3, $4);

-- name: find_tenant
-- $1 code
SELECT id::text AS id, schema_name FROM public.sys_tenant WHERE code = $1;

-- name: plan_check
-- $1 tenant code, $2 its schema: how many migration records the tenant has, if its row names that
-- schema and the schema exists (no row otherwise). modkit plans a tenant from the catalog it read at
-- the start and sends the whole transaction at once, this last and without COMMIT; it commits only
-- when the count is what the plan expects (what was applied plus what the script recorded), and
-- otherwise rolls back and does the tenant again from its state read under the lock.
SELECT (SELECT count(*) FROM public.sys_module_migration m WHERE m.tenant_id = t.id) AS modkit_applied
FROM public.sys_tenant t
WHERE t.code = $1 AND t.schema_name = $2
  AND EXISTS (SELECT 1 FROM pg_namespace n WHERE n.nspname = t.schema_name);

-- name: record_migration_for_code
-- $1 tenant code, $2 module, $3 migration file name, $4 sha-256 of the file (hex)
INSERT INTO public.sys_module_migration (tenant_id, module, migration, checksum)
SELECT id, $2, $3, $4 FROM public.sys_tenant WHERE code = $1;

-- name: tenant_state
-- $1 code: the tenant's id and schema, whether that schema exists, and one row per migration
-- already applied to it (module, migration and checksum are NULL when there is none).
SELECT t.id::text AS id, t.schema_name,
       EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = t.schema_name) AS schema_present,
       m.module, m.migration, m.checksum
FROM public.sys_tenant t
LEFT JOIN public.sys_module_migration m ON m.tenant_id = t.id
WHERE t.code = $1;

-- name: schema_exists
-- $1 schema name (unquoted)
SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1) AS present;

-- name: create_schema
-- Not bound: the client substitutes the quoted schema name for the placeholder.
CREATE SCHEMA IF NOT EXISTS :schema;

-- name: create_new_schema
-- Not bound, like create_schema. modkit's fast path: it fails if the schema exists (a leftover
-- with no row, or a concurrent run's), so the tenant is done anew, under its lock.
CREATE SCHEMA :schema;

-- name: set_search_path
-- Not bound: the client substitutes the quoted schema name. Transaction-local, like withTenantTx.
SET LOCAL search_path TO :schema, public;

-- name: list_tenants
SELECT id::text AS id, code, schema_name FROM public.sys_tenant ORDER BY code;

-- name: applied_for_tenant
-- $1 tenant id
SELECT module, migration, checksum FROM public.sys_module_migration WHERE tenant_id = $1::uuid;

-- name: scope_to_schema
-- $1 the quoted schema name; transaction-local, like withTenantTx.
SELECT set_config('search_path', $1 || ', public', true);

-- name: record_migration
-- $1 tenant id, $2 module, $3 migration file name, $4 sha-256 of the file (hex)
INSERT INTO public.sys_module_migration (tenant_id, module, migration, checksum)
VALUES ($1::uuid, $2, $3, $4);

-- name: register_permission
-- $1 permission code, $2 module
INSERT INTO public.sys_permission (code, module) VALUES ($1, $2)
ON CONFLICT (code) DO NOTHING;

-- name: ensure_role
-- $1 tenant id, $2 role code, $3 role name; returns the role's id, new or existing (no write when it exists).
WITH created AS (
  INSERT INTO public.sys_role (tenant_id, code, name) VALUES ($1::uuid, $2, $3)
  ON CONFLICT (tenant_id, code) DO NOTHING
  RETURNING id
)
SELECT id::text AS id FROM created
UNION ALL
SELECT id::text FROM public.sys_role WHERE tenant_id = $1::uuid AND code = $2
LIMIT 1;

-- name: grant_permission
-- $1 role id, $2 permission code
INSERT INTO public.sys_role_permission (role_id, permission) VALUES ($1::uuid, $2)
ON CONFLICT DO NOTHING;

-- name: assign_role
-- $1 user id, $2 tenant id, $3 role id
INSERT INTO public.sys_user_role (user_id, tenant_id, role_id) VALUES ($1, $2::uuid, $3::uuid)
ON CONFLICT DO NOTHING;
