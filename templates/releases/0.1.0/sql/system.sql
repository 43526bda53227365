-- modkit system tables: the database-wide part of the bootstrap.
--
-- This file is the one source of this SQL: `modkit bootstrap` embeds it, and `modkit init` copies it
-- into every sandbox (sandbox/sql/system.sql) for `npm run bootstrap`. Both run it inside one
-- transaction that first takes the database-wide advisory lock (see statements.sql, lock_database),
-- so concurrent bootstraps never race on CREATE ... IF NOT EXISTS.
--
-- pgcrypto is created separately, before this file, because a role that may not create extensions
-- can still bootstrap on PostgreSQL 13+ (gen_random_uuid() is built in there).

-- Tenants, exactly as the design note defines them.
CREATE TABLE IF NOT EXISTS public.sys_tenant (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  code        text UNIQUE NOT NULL,
  name        text        NOT NULL,
  domain      text,
  schema_name text        NOT NULL
);
-- Two tenants must never share a schema (PostgreSQL cuts identifiers at 63 bytes).
CREATE UNIQUE INDEX IF NOT EXISTS sys_tenant_schema_name_key ON public.sys_tenant (schema_name);

-- Every permission a module declares (`items.read`, ...), registered once per database.
CREATE TABLE IF NOT EXISTS public.sys_permission (
  code        text PRIMARY KEY,
  module      text        NOT NULL,
  description text,
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- Roles belong to one tenant: a grant in tenant A opens nothing in tenant B.
CREATE TABLE IF NOT EXISTS public.sys_role (
  id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id  uuid        NOT NULL REFERENCES public.sys_tenant (id) ON DELETE CASCADE,
  code       text        NOT NULL,
  name       text        NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, code)
);

CREATE TABLE IF NOT EXISTS public.sys_role_permission (
  role_id    uuid NOT NULL REFERENCES public.sys_role (id) ON DELETE CASCADE,
  permission text NOT NULL REFERENCES public.sys_permission (code) ON DELETE CASCADE,
  PRIMARY KEY (role_id, permission)
);

-- Users are owned by the identity provider; only their id is stored here.
CREATE TABLE IF NOT EXISTS public.sys_user_role (
  user_id    text NOT NULL,
  tenant_id  uuid NOT NULL REFERENCES public.sys_tenant (id) ON DELETE CASCADE,
  role_id    uuid NOT NULL REFERENCES public.sys_role (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, tenant_id, role_id)
);
CREATE INDEX IF NOT EXISTS sys_user_role_tenant_user_idx ON public.sys_user_role (tenant_id, user_id);

-- Which module migration was applied to which tenant schema, with the SHA-256 of the file applied.
CREATE TABLE IF NOT EXISTS public.sys_module_migration (
  tenant_id  uuid        NOT NULL REFERENCES public.sys_tenant (id) ON DELETE CASCADE,
  module     text        NOT NULL,
  migration  text        NOT NULL,
  checksum   text        NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, module, migration)
);
