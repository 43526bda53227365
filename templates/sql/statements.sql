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

-- name: create_pgcrypto
CREATE EXTENSION IF NOT EXISTS pgcrypto SCHEMA extensions;

-- name: create_extensions_schema
-- The one home of database-wide objects a module needs (Supabase's convention): extensions are
-- created here once, never in a tenant's schema, and every tenant's search_path ends with it. Every
-- role may use it; only its owner may create in it, and a migration that does is refused.
CREATE SCHEMA IF NOT EXISTS extensions;
GRANT USAGE ON SCHEMA extensions TO PUBLIC;

-- name: extension_schemas
-- Each installed extension, the schema it is in and whether it may be moved to another.
SELECT e.extname::text AS name, n.nspname::text AS schema, e.extrelocatable AS relocatable
FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace;

-- name: create_extension
-- Not bound: the client substitutes the quoted extension name, one modkit.toml declares.
CREATE EXTENSION IF NOT EXISTS :extension SCHEMA extensions;

-- name: move_extension
-- Not bound, like create_extension: an extension installed elsewhere before (pgcrypto in public,
-- by modkit before 0.3; one a migration made in a tenant's schema) is moved to its one home.
ALTER EXTENSION :extension SET SCHEMA extensions;

-- name: lock_tenant
-- $1 tenant code
SELECT pg_advisory_xact_lock(1836016500, hashtext($1));

-- name: remember_outside_objects
-- Once per connection, before its first tenant: the OIDs of the relations, functions, types and
-- schemas that exist outside every tenant's schema (the system tables, extensions' objects, a
-- foundation's own tables), kept in a session setting for created_outside_schema and the new
-- tenant's check, which then look these up by OID instead of reading the catalogs whole for every
-- tenant; and, apart, the relations among them, and the tables, whose rows stats_baseline counts. Objects made after
-- this are new, and found by their OID range or xmin.
WITH own AS (
  SELECT n.oid FROM pg_catalog.pg_namespace n
  WHERE n.nspname IN ('pg_catalog', 'information_schema', 'pg_toast') OR n.nspname ~ '^pg_(toast_)?temp_'
     OR n.nspname IN (SELECT t.schema_name FROM public.sys_tenant t)
), outside (oid, relation, is_table) AS (
  SELECT c.oid, true, c.relkind IN ('r', 'p', 'm') FROM pg_catalog.pg_class c WHERE c.relnamespace NOT IN (SELECT oid FROM own)
  UNION ALL SELECT p.oid, false, false FROM pg_catalog.pg_proc p WHERE p.pronamespace NOT IN (SELECT oid FROM own)
  UNION ALL SELECT t.oid, false, false FROM pg_catalog.pg_type t WHERE t.typnamespace NOT IN (SELECT oid FROM own)
  UNION ALL SELECT n.oid, false, false FROM pg_catalog.pg_namespace n WHERE n.oid NOT IN (SELECT oid FROM own)
)
SELECT pg_catalog.set_config('modkit.outside_objects',
         coalesce((SELECT pg_catalog.array_agg(o.oid)::text FROM outside o), '{}'), false) IS NOT NULL
   AND pg_catalog.set_config('modkit.outside_relations',
         coalesce((SELECT pg_catalog.array_agg(o.oid)::text FROM outside o WHERE o.relation), '{}'), false) IS NOT NULL
   AND pg_catalog.set_config('modkit.outside_tables',
         coalesce((SELECT pg_catalog.array_agg(o.oid)::text FROM outside o WHERE o.is_table), '{}'), false) IS NOT NULL
   AS modkit_remembered;

-- name: stats_baseline
-- First in a tenant's transaction: the session's row counts (inserted + updated + deleted) of each
-- table outside the tenant schemas, which include earlier transactions' until the server reports
-- them, kept transaction-local for created_outside_schema and refuse_outside_new_schema to
-- subtract; and the same session's counts of the catalog rows the new tenant's check reads only
-- where the transaction wrote: pg_class's updated rows, pg_policy's and pg_trigger's, and the sum
-- of the inserted and updated rows of pg_namespace, pg_proc, pg_policy, pg_trigger,
-- pg_event_trigger and pg_extension and the updated ones of pg_type (their OIDs are fixed in
-- PostgreSQL: 1259 pg_class, 2615 pg_namespace, 1255 pg_proc, 1247 pg_type, 3256 pg_policy, 2620
-- pg_trigger, 3466 pg_event_trigger, 3079 pg_extension).
SELECT pg_catalog.set_config('modkit.writes_before', coalesce((
  SELECT pg_catalog.json_object_agg(t.t, pg_catalog.pg_stat_get_xact_tuples_inserted(t.t)
           + pg_catalog.pg_stat_get_xact_tuples_updated(t.t) + pg_catalog.pg_stat_get_xact_tuples_deleted(t.t))::text
  FROM pg_catalog.unnest(coalesce(nullif(pg_catalog.current_setting('modkit.outside_tables', true), ''), '{}')::oid[]) t (t)), '{}'),
  true) IS NOT NULL
  AND pg_catalog.set_config('modkit.class_updates_before', pg_catalog.pg_stat_get_xact_tuples_updated(1259)::text, true) IS NOT NULL
  AND pg_catalog.set_config('modkit.policy_trigger_updates_before',
        ARRAY[pg_catalog.pg_stat_get_xact_tuples_updated(3256), pg_catalog.pg_stat_get_xact_tuples_updated(2620)]::text, true) IS NOT NULL
  AND pg_catalog.set_config('modkit.rare_writes_before', (
  pg_catalog.pg_stat_get_xact_tuples_inserted(2615)
      + pg_catalog.pg_stat_get_xact_tuples_updated(2615)
      + pg_catalog.pg_stat_get_xact_tuples_inserted(1255)
      + pg_catalog.pg_stat_get_xact_tuples_updated(1255)
      + pg_catalog.pg_stat_get_xact_tuples_updated(1247)
      + pg_catalog.pg_stat_get_xact_tuples_inserted(3256)
      + pg_catalog.pg_stat_get_xact_tuples_updated(3256)
      + pg_catalog.pg_stat_get_xact_tuples_inserted(2620)
      + pg_catalog.pg_stat_get_xact_tuples_updated(2620)
      + pg_catalog.pg_stat_get_xact_tuples_inserted(3466)
      + pg_catalog.pg_stat_get_xact_tuples_updated(3466)
      + pg_catalog.pg_stat_get_xact_tuples_inserted(3079)
      + pg_catalog.pg_stat_get_xact_tuples_updated(3079))::text, true) IS NOT NULL AS modkit_baseline;

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
-- schema, the schema exists and this role may use it (USAGE and CREATE: PostgreSQL silently leaves
-- a schema the role may not use out of search_path) (no row otherwise). modkit plans a tenant from
-- the catalog it read at the start and sends the whole transaction at once, this last and without
-- COMMIT; it commits only when the count is what the plan expects (what was applied plus what the
-- script recorded), and otherwise rolls back and does the tenant again from its state read under
-- the lock.
SELECT (SELECT count(*) FROM public.sys_module_migration m WHERE m.tenant_id = t.id) AS modkit_applied
FROM public.sys_tenant t
WHERE t.code = $1 AND t.schema_name = $2
  AND EXISTS (SELECT 1 FROM pg_catalog.pg_namespace n WHERE n.nspname = t.schema_name
                AND pg_catalog.has_schema_privilege(n.oid, 'USAGE')
                AND pg_catalog.has_schema_privilege(n.oid, 'CREATE'));

-- name: record_migration_for_code
-- $1 tenant code, $2 module, $3 migration file name, $4 sha-256 of the file (hex)
INSERT INTO public.sys_module_migration (tenant_id, module, migration, checksum)
SELECT id, $2, $3, $4 FROM public.sys_tenant WHERE code = $1;

-- name: tenant_state
-- $1 code: the tenant's id and schema, whether that schema exists, whether this role may use it
-- (USAGE and CREATE), its owner and the role's name (for the GRANT that fixes it), and one row per
-- migration already applied to it (module, migration and checksum are NULL when there is none).
SELECT t.id::text AS id, t.schema_name,
       n.oid IS NOT NULL AS schema_present,
       coalesce(pg_catalog.has_schema_privilege(n.oid, 'USAGE')
                AND pg_catalog.has_schema_privilege(n.oid, 'CREATE'), false) AS schema_usable,
       pg_catalog.pg_get_userbyid(n.nspowner)::text AS schema_owner, current_user::text AS role_name,
       m.module, m.migration, m.checksum
FROM public.sys_tenant t
LEFT JOIN pg_catalog.pg_namespace n ON n.nspname = t.schema_name
LEFT JOIN public.sys_module_migration m ON m.tenant_id = t.id
WHERE t.code = $1;

-- name: schema_state
-- $1 schema name (unquoted): whether it exists, whether this role may use it (USAGE and CREATE),
-- its owner and the role's name.
SELECT n.oid IS NOT NULL AS present,
       coalesce(pg_catalog.has_schema_privilege(n.oid, 'USAGE')
                AND pg_catalog.has_schema_privilege(n.oid, 'CREATE'), false) AS usable,
       pg_catalog.pg_get_userbyid(n.nspowner)::text AS owner, current_user::text AS role_name
FROM (SELECT $1::text AS name) want
LEFT JOIN pg_catalog.pg_namespace n ON n.nspname = want.name;

-- name: recorded_checksums
-- $1 module: each of its migrations applied to some tenant, with one checksum recorded for it and
-- a tenant it was recorded in (a checksum that differs between tenants shows as two rows). The
-- checksum already recorded is the truth: a new tenant never records an edited file.
SELECT DISTINCT ON (m.migration, m.checksum) m.migration, m.checksum, t.code
FROM public.sys_module_migration m JOIN public.sys_tenant t ON t.id = m.tenant_id
WHERE m.module = $1
ORDER BY m.migration, m.checksum, t.code;

-- name: create_schema
-- Not bound: the client substitutes the quoted schema name for the placeholder.
CREATE SCHEMA IF NOT EXISTS :schema;

-- name: create_new_schema
-- Not bound, like create_schema. modkit's fast path: it fails if the schema exists (a leftover
-- with no row, or a concurrent run's), so the tenant is done anew, under its lock.
CREATE SCHEMA :schema;

-- name: set_search_path
-- Not bound: the client substitutes the quoted schema name. Transaction-local. The tenant's schema,
-- then the shared `extensions` (a declared extension's types and functions, e.g. citext), no
-- `public`: an unqualified name a migration creates can only land in the first (or fail, with
-- "no schema has been selected to create in", if the role may not use it). Built-in functions such
-- as gen_random_uuid() (PostgreSQL 13+) are in pg_catalog, which is always searched.
SET LOCAL search_path TO :schema, extensions;

-- name: list_tenants
SELECT id::text AS id, code, schema_name FROM public.sys_tenant ORDER BY code;

-- name: applied_for_tenant
-- $1 tenant id
SELECT module, migration, checksum FROM public.sys_module_migration WHERE tenant_id = $1::uuid;

-- name: scope_to_schema
-- $1 the quoted schema name; transaction-local, the tenant's schema then `extensions` (see set_search_path).
SELECT set_config('search_path', $1 || ', extensions', true);

-- name: created_outside_schema
-- $1 the tenant's schema (unquoted), $2 true when this transaction created that schema, $3 the
-- tenant's code, $4 how many migration records this transaction wrote. Run after a tenant's
-- migrations, before COMMIT: everything this transaction created, changed or wrote anywhere but in
-- the tenant's schema, as one line (NULL when there is none). Temporary objects (pg_temp_*) are the
-- session's own and allowed.
--
-- Objects: a catalog row was written by this transaction when its xmin is the transaction's id
-- (age 0) or one of its subtransactions' (a later id, still in progress: rows other sessions are
-- still writing are invisible here). Read in pg_class (relations), pg_namespace (schemas), pg_proc
-- (functions, procedures, aggregates), pg_type (types that are not a relation's row type or an
-- array), pg_policy and pg_trigger (on tables outside the schema), pg_event_trigger and
-- pg_extension (database-wide, never a migration's). When the schema is new, what the transaction
-- made has a higher OID than it, and what it changed is among the objects remember_outside_objects
-- listed: only those rows are read (index lookups); otherwise the catalogs are read whole.
-- Rows: each table outside the tenant schemas (that list) has the transaction's inserts, updates
-- and deletes counted (pg_stat_get_xact_*, less stats_baseline's); they must be exactly the
-- bootstrap's own: its tenant row, when new, and its migration records.
WITH me AS (
  SELECT n.oid AS tenant, CASE WHEN $2::boolean THEN n.oid ELSE 0::oid END AS low,
         coalesce(nullif(pg_catalog.current_setting('modkit.outside_objects', true), ''), '{}')::oid[] AS listed,
         nullif(pg_catalog.current_setting('modkit.outside_objects', true), '') IS NULL AS unlisted
  FROM pg_catalog.pg_namespace n WHERE n.nspname = $1
), own AS (
  -- The session's temporary schemas are named after pg_my_temp_schema() (pg_temp_N, pg_toast_temp_N).
  SELECT n.oid FROM pg_catalog.pg_namespace n
  WHERE n.nspname IN ($1, 'pg_toast', pg_catalog.pg_my_temp_schema()::pg_catalog.regnamespace::text,
                      'pg_toast_temp_' || pg_catalog.substr(pg_catalog.pg_my_temp_schema()::pg_catalog.regnamespace::text, 9))
), xact AS (
  SELECT pg_catalog.txid_current() AS id
), found (what) AS (
  SELECT CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence'
           WHEN 'i' THEN 'index' WHEN 'I' THEN 'index' WHEN 'c' THEN 'type' WHEN 'f' THEN 'foreign table'
           ELSE 'table' END || ' ' || c.oid::pg_catalog.regclass::text
  FROM me, xact, LATERAL (
    SELECT x.oid, x.xmin, x.relnamespace, x.relkind FROM pg_catalog.pg_class x WHERE x.oid >= me.low
    UNION ALL
    SELECT x.oid, x.xmin, x.relnamespace, x.relkind FROM pg_catalog.pg_class x
    WHERE x.oid = ANY (me.listed) AND x.oid < me.low) c
  WHERE c.relnamespace NOT IN (SELECT oid FROM own) AND c.relkind <> 't'
    AND (pg_catalog.age(c.xmin) = 0 OR (pg_catalog.age(c.xmin) < 0
         AND pg_catalog.txid_status(xact.id - pg_catalog.age(c.xmin)) = 'in progress'))
  UNION ALL
  SELECT 'schema ' || pg_catalog.quote_ident(n.nspname)
  FROM me, xact, LATERAL (
    SELECT x.oid, x.xmin, x.nspname FROM pg_catalog.pg_namespace x WHERE x.oid >= me.low
    UNION ALL
    SELECT x.oid, x.xmin, x.nspname FROM pg_catalog.pg_namespace x WHERE x.oid = ANY (me.listed) AND x.oid < me.low) n
  WHERE n.oid NOT IN (SELECT oid FROM own)
    AND (pg_catalog.age(n.xmin) = 0 OR (pg_catalog.age(n.xmin) < 0
         AND pg_catalog.txid_status(xact.id - pg_catalog.age(n.xmin)) = 'in progress'))
  UNION ALL
  SELECT 'function ' || p.oid::pg_catalog.regprocedure::text
  FROM me, xact, LATERAL (
    SELECT x.oid, x.xmin, x.pronamespace FROM pg_catalog.pg_proc x WHERE x.oid >= me.low
    UNION ALL
    SELECT x.oid, x.xmin, x.pronamespace FROM pg_catalog.pg_proc x WHERE x.oid = ANY (me.listed) AND x.oid < me.low) p
  WHERE p.pronamespace NOT IN (SELECT oid FROM own)
    AND (pg_catalog.age(p.xmin) = 0 OR (pg_catalog.age(p.xmin) < 0
         AND pg_catalog.txid_status(xact.id - pg_catalog.age(p.xmin)) = 'in progress'))
  UNION ALL
  SELECT 'type ' || t.oid::pg_catalog.regtype::text
  FROM me, xact, LATERAL (
    SELECT x.oid, x.xmin, x.typnamespace, x.typrelid, x.typcategory FROM pg_catalog.pg_type x WHERE x.oid >= me.low
    UNION ALL
    SELECT x.oid, x.xmin, x.typnamespace, x.typrelid, x.typcategory FROM pg_catalog.pg_type x
    WHERE x.oid = ANY (me.listed) AND x.oid < me.low) t
  WHERE t.typnamespace NOT IN (SELECT oid FROM own)
    AND t.typrelid = 0 AND t.typcategory <> 'A'
    AND (pg_catalog.age(t.xmin) = 0 OR (pg_catalog.age(t.xmin) < 0
         AND pg_catalog.txid_status(xact.id - pg_catalog.age(t.xmin)) = 'in progress'))
  UNION ALL
  SELECT 'policy ' || pg_catalog.quote_ident(p.polname) || ' on ' || p.polrelid::pg_catalog.regclass::text
  FROM pg_catalog.pg_policy p JOIN pg_catalog.pg_class c ON c.oid = p.polrelid, me, xact
  WHERE p.oid BETWEEN me.low AND 4294967295::oid AND c.relnamespace NOT IN (SELECT oid FROM own)
    AND (pg_catalog.age(p.xmin) = 0 OR (pg_catalog.age(p.xmin) < 0
         AND pg_catalog.txid_status(xact.id - pg_catalog.age(p.xmin)) = 'in progress'))
  UNION ALL
  SELECT 'trigger ' || pg_catalog.quote_ident(g.tgname) || ' on ' || g.tgrelid::pg_catalog.regclass::text
  FROM pg_catalog.pg_trigger g JOIN pg_catalog.pg_class c ON c.oid = g.tgrelid, me, xact
  WHERE g.oid BETWEEN me.low AND 4294967295::oid AND c.relnamespace NOT IN (SELECT oid FROM own)
    AND (pg_catalog.age(g.xmin) = 0 OR (pg_catalog.age(g.xmin) < 0
         AND pg_catalog.txid_status(xact.id - pg_catalog.age(g.xmin)) = 'in progress'))
  UNION ALL
  -- Reading a new schema's range only, with no list (a connection that did not run
  -- remember_outside_objects): not sure, so not clean.
  SELECT '(objects outside the tenants were not listed on this connection: checked again in full)'
  FROM me WHERE me.low <> 0 AND me.unlisted
  UNION ALL
  SELECT 'event trigger ' || pg_catalog.quote_ident(e.evtname)
  FROM pg_catalog.pg_event_trigger e, xact
  WHERE pg_catalog.age(e.xmin) = 0 OR (pg_catalog.age(e.xmin) < 0
        AND pg_catalog.txid_status(xact.id - pg_catalog.age(e.xmin)) = 'in progress')
  UNION ALL
  SELECT 'extension ' || pg_catalog.quote_ident(x.extname)
  FROM pg_catalog.pg_extension x, xact
  WHERE pg_catalog.age(x.xmin) = 0 OR (pg_catalog.age(x.xmin) < 0
        AND pg_catalog.txid_status(xact.id - pg_catalog.age(x.xmin)) = 'in progress')
  UNION ALL
  SELECT pg_catalog.format('%s row(s) inserted, updated or deleted in table %s%s', w.written - w.expected,
           w.rel::pg_catalog.regclass::text, CASE WHEN w.expected > 0 THEN ' besides the bootstrap''s own' ELSE '' END)
  FROM (SELECT c.oid AS rel,
               pg_catalog.pg_stat_get_xact_tuples_inserted(c.oid) + pg_catalog.pg_stat_get_xact_tuples_updated(c.oid)
                 + pg_catalog.pg_stat_get_xact_tuples_deleted(c.oid)
                 - coalesce((coalesce(nullif(pg_catalog.current_setting('modkit.writes_before', true), ''), '{}')::json
                             ->> c.oid::text)::bigint, 0) AS written,
               CASE c.oid
                 WHEN 'public.sys_tenant'::pg_catalog.regclass THEN
                   (SELECT count(*) FROM public.sys_tenant s, xact
                    WHERE s.code = $3 AND (pg_catalog.age(s.xmin) = 0 OR (pg_catalog.age(s.xmin) < 0
                          AND pg_catalog.txid_status(xact.id - pg_catalog.age(s.xmin)) = 'in progress')))
                 WHEN 'public.sys_module_migration'::pg_catalog.regclass THEN $4::bigint
                 ELSE 0 END AS expected
        FROM pg_catalog.pg_class c, me
        WHERE c.oid = ANY (me.listed) AND c.relkind IN ('r', 'p', 'm')) w
  WHERE w.written <> w.expected
)
SELECT pg_catalog.string_agg(what, ', ' ORDER BY what) AS outside FROM found;

-- name: refuse_outside_new_schema
-- $1 the tenant's schema as a quoted identifier ("tenant_acme"), created by this very transaction
-- with the tenant's row (insert_new_tenant); $2 how many migration records the transaction wrote;
-- $3 every schema the transaction created for its new tenants, an array of quoted identifiers
-- ('{"\"tenant_acme\""}'), $1 the first created (the lowest OID); $4 how many new tenants (rows
-- in sys_tenant, schemas) it made. modkit makes several new tenants in one transaction (a batch,
-- docs/bootstrap.md), checked once for all of them: anything outside all their schemas is refused,
-- and each tenant is then done alone.
-- modkit's fast path for a new tenant, whose script ends with its own COMMIT: with
-- refuse_rare_outside_new_schema after it, what created_outside_schema finds, reduced to failing the
-- transaction (division by zero, or an error raised) so that the one round trip stays one; the
-- tenant is then done anew, where created_outside_schema names what was made, and where.
-- Why not created_outside_schema itself: CREATE SCHEMA resets every cached plan (a prepared
-- statement's and a function's too), so it would be planned anew for every new tenant, some
-- milliseconds for its dozen catalog reads. This one reads three, as regnamespace constants the
-- planner sees (index lookups); refuse_rare_outside_new_schema reads the other catalogs only where
-- the transaction wrote in them:
-- - new relations and types: their OIDs are at or above the new schema's (the OID counter only
--   grows, until it wraps around at 2^32), and their xmin is this transaction's or one of its
--   subtransactions' (a later id, still in progress); they must be in the tenant's schema or the
--   session's temporary ones;
-- - changed relations: among those remember_outside_objects listed, read only when the
--   transaction updated a pg_class row at all (pg_stat_get_xact_tuples_updated, less
--   stats_baseline's; with track_counts off, always);
-- - rows written to the tables outside the tenants (stats_baseline's list): exactly the
--   bootstrap's own, its tenant row and its migration records;
-- - a connection that did not list what was outside, or no baseline: not sure, so not clean;
-- - in a batch, each new tenant runs in a savepoint of its own, so what it writes has a transaction
--   id of its own: the relations and types in a new tenant's schema must have been written while
--   that tenant ran (their xmin from its sys_tenant row's to the next tenant's: ids only grow, and
--   any other write to sys_tenant is refused here), never by another tenant's migration. With one
--   tenant (no savepoint) that span is the whole transaction.
SELECT 1 / (NOT EXISTS (
  WITH batch AS (
    -- Each new tenant's schema, and the span of transaction ids its savepoint ran in: from its
    -- sys_tenant row's xmin to the next tenant's.
    SELECT n.oid AS nsp, -pg_catalog.age(t.xmin) AS since,
           coalesce(pg_catalog.lead(-pg_catalog.age(t.xmin)) OVER (ORDER BY -pg_catalog.age(t.xmin)), 2147483647) AS until
    FROM public.sys_tenant t JOIN pg_catalog.pg_namespace n ON n.nspname = t.schema_name
    WHERE n.oid = ANY ($3::pg_catalog.regnamespace[]::pg_catalog.oid[])
      AND (pg_catalog.age(t.xmin) = 0 OR (pg_catalog.age(t.xmin) < 0
         AND pg_catalog.txid_status(pg_catalog.txid_current() - pg_catalog.age(t.xmin)) = 'in progress'))
  )
  -- Rows written to tables outside the tenants: exactly the bootstrap's own (its tenant row, its
  -- migration records).
  SELECT FROM pg_catalog.json_each_text(coalesce(nullif(pg_catalog.current_setting('modkit.writes_before', true), ''), 'null')::json) w (rel, n)
  WHERE pg_catalog.pg_stat_get_xact_tuples_inserted(w.rel::oid) + pg_catalog.pg_stat_get_xact_tuples_updated(w.rel::oid)
        + pg_catalog.pg_stat_get_xact_tuples_deleted(w.rel::oid) - w.n::bigint
        <> CASE w.rel::oid WHEN 'public.sys_tenant'::pg_catalog.regclass THEN $4::bigint
                           WHEN 'public.sys_module_migration'::pg_catalog.regclass THEN $2::bigint ELSE 0 END
  UNION ALL
  -- What was there before is unknown on this connection (no list, no baseline): not sure, so not clean.
  SELECT WHERE nullif(pg_catalog.current_setting('modkit.outside_objects', true), '') IS NULL
     OR nullif(pg_catalog.current_setting('modkit.outside_relations', true), '') IS NULL
     OR nullif(pg_catalog.current_setting('modkit.writes_before', true), '') IS NULL
  UNION ALL
  -- New relations.
  SELECT FROM pg_catalog.pg_class c
  WHERE c.oid >= $1::pg_catalog.regnamespace AND c.relnamespace <> ALL ($3::pg_catalog.regnamespace[]::pg_catalog.oid[]) AND c.relnamespace NOT IN ('pg_toast'::pg_catalog.regnamespace, pg_catalog.pg_my_temp_schema(),
           coalesce(pg_catalog.to_regnamespace('pg_toast_temp_' || pg_catalog.substr(pg_catalog.pg_my_temp_schema()::pg_catalog.regnamespace::text, 9))::oid, 0::oid)) AND c.relkind <> 't'
    AND (pg_catalog.age(c.xmin) = 0 OR (pg_catalog.age(c.xmin) < 0
         AND pg_catalog.txid_status(pg_catalog.txid_current() - pg_catalog.age(c.xmin)) = 'in progress'))
  UNION ALL
  -- Changed relations, when the transaction updated any pg_class row.
  SELECT FROM pg_catalog.pg_class c
  WHERE (pg_catalog.pg_stat_get_xact_tuples_updated(1259) > nullif(pg_catalog.current_setting('modkit.class_updates_before', true), '')::bigint IS NOT FALSE
           OR NOT pg_catalog.current_setting('track_counts')::boolean)
    AND c.oid = ANY (nullif(pg_catalog.current_setting('modkit.outside_relations', true), '')::oid[]) AND c.oid < $1::pg_catalog.regnamespace
    AND c.relnamespace <> ALL ($3::pg_catalog.regnamespace[]::pg_catalog.oid[]) AND c.relnamespace NOT IN ('pg_toast'::pg_catalog.regnamespace, pg_catalog.pg_my_temp_schema(),
           coalesce(pg_catalog.to_regnamespace('pg_toast_temp_' || pg_catalog.substr(pg_catalog.pg_my_temp_schema()::pg_catalog.regnamespace::text, 9))::oid, 0::oid)) AND c.relkind <> 't'
    AND (pg_catalog.age(c.xmin) = 0 OR (pg_catalog.age(c.xmin) < 0
         AND pg_catalog.txid_status(pg_catalog.txid_current() - pg_catalog.age(c.xmin)) = 'in progress'))
  UNION ALL
  -- New types (not a relation's row type or its array).
  SELECT FROM pg_catalog.pg_type t
  WHERE t.oid >= $1::pg_catalog.regnamespace AND t.typnamespace <> ALL ($3::pg_catalog.regnamespace[]::pg_catalog.oid[]) AND t.typnamespace NOT IN ('pg_toast'::pg_catalog.regnamespace, pg_catalog.pg_my_temp_schema(),
           coalesce(pg_catalog.to_regnamespace('pg_toast_temp_' || pg_catalog.substr(pg_catalog.pg_my_temp_schema()::pg_catalog.regnamespace::text, 9))::oid, 0::oid)) AND t.typrelid = 0 AND t.typcategory <> 'A'
    AND (pg_catalog.age(t.xmin) = 0 OR (pg_catalog.age(t.xmin) < 0
         AND pg_catalog.txid_status(pg_catalog.txid_current() - pg_catalog.age(t.xmin)) = 'in progress'))
  UNION ALL
  -- Relations and types in a new tenant's schema written while another tenant of the batch ran.
  SELECT FROM batch b JOIN pg_catalog.pg_class c ON c.relnamespace = b.nsp
  WHERE c.oid >= $1::pg_catalog.regnamespace AND (pg_catalog.age(c.xmin) = 0 OR (pg_catalog.age(c.xmin) < 0
         AND pg_catalog.txid_status(pg_catalog.txid_current() - pg_catalog.age(c.xmin)) = 'in progress'))
    AND NOT (-pg_catalog.age(c.xmin) >= b.since AND -pg_catalog.age(c.xmin) < b.until)
  UNION ALL
  SELECT FROM batch b JOIN pg_catalog.pg_type t ON t.typnamespace = b.nsp
  WHERE t.oid >= $1::pg_catalog.regnamespace AND (pg_catalog.age(t.xmin) = 0 OR (pg_catalog.age(t.xmin) < 0
         AND pg_catalog.txid_status(pg_catalog.txid_current() - pg_catalog.age(t.xmin)) = 'in progress'))
    AND NOT (-pg_catalog.age(t.xmin) >= b.since AND -pg_catalog.age(t.xmin) < b.until)
))::int AS modkit_nothing_outside;

-- name: refuse_rare_outside_new_schema
-- $1..$4 as refuse_outside_new_schema, after it. The catalogs a module's migrations seldom write:
-- pg_namespace (besides the one insert of the tenant's own schema), pg_proc, pg_type (changed
-- types; new ones are refuse_outside_new_schema's), pg_policy, pg_trigger, pg_event_trigger and
-- pg_extension. Their probes are read only when the transaction's own counts show it inserted or
-- updated a row in one of them (less stats_baseline's; with track_counts off or no baseline,
-- always): a plpgsql block, because a plain statement is planned whole whether its parts run or
-- not, and the probes sit in a string it runs (EXECUTE), so that they are not even parsed
-- otherwise. What they read is created_outside_schema's for those catalogs: new objects from the
-- new schema's OID on, changed ones among those listed, policies and triggers on tables outside
-- the schema (all of them when one was updated), and every event trigger and extension.
DO $modkit$
DECLARE
  found boolean;
BEGIN
  -- Only when the transaction inserted or updated a row in these catalogs (each new tenant's own
  -- schema is one insert), or its counts are unknown.
  IF NOT pg_catalog.current_setting('track_counts')::boolean
     OR pg_catalog.pg_stat_get_xact_tuples_inserted(2615)
      + pg_catalog.pg_stat_get_xact_tuples_updated(2615)
      + pg_catalog.pg_stat_get_xact_tuples_inserted(1255)
      + pg_catalog.pg_stat_get_xact_tuples_updated(1255)
      + pg_catalog.pg_stat_get_xact_tuples_updated(1247)
      + pg_catalog.pg_stat_get_xact_tuples_inserted(3256)
      + pg_catalog.pg_stat_get_xact_tuples_updated(3256)
      + pg_catalog.pg_stat_get_xact_tuples_inserted(2620)
      + pg_catalog.pg_stat_get_xact_tuples_updated(2620)
      + pg_catalog.pg_stat_get_xact_tuples_inserted(3466)
      + pg_catalog.pg_stat_get_xact_tuples_updated(3466)
      + pg_catalog.pg_stat_get_xact_tuples_inserted(3079)
      + pg_catalog.pg_stat_get_xact_tuples_updated(3079)
       > nullif(pg_catalog.current_setting('modkit.rare_writes_before', true), '')::bigint + $4::bigint IS NOT FALSE THEN
    EXECUTE pg_catalog.format('WITH batch AS (
      -- Each new tenant''s schema, and the span of transaction ids its savepoint ran in: from its
      -- sys_tenant row''s xmin to the next tenant''s.
      SELECT n.oid AS nsp, -pg_catalog.age(t.xmin) AS since,
             coalesce(pg_catalog.lead(-pg_catalog.age(t.xmin)) OVER (ORDER BY -pg_catalog.age(t.xmin)), 2147483647) AS until
      FROM public.sys_tenant t JOIN pg_catalog.pg_namespace n ON n.nspname = t.schema_name
      WHERE n.oid = ANY (%2$L::pg_catalog.oid[])
        AND (pg_catalog.age(t.xmin) = 0 OR (pg_catalog.age(t.xmin) < 0
           AND pg_catalog.txid_status(pg_catalog.txid_current() - pg_catalog.age(t.xmin)) = ''in progress''))
    )
    SELECT EXISTS (
    -- New schemas besides the new tenants'' own (one insert each expected), changed ones.
    SELECT FROM pg_catalog.pg_namespace s
    WHERE s.oid >= %1$s::pg_catalog.oid AND s.oid <> ALL (%2$L::pg_catalog.oid[]) AND s.oid NOT IN (''pg_toast''::pg_catalog.regnamespace, pg_catalog.pg_my_temp_schema(),
             coalesce(pg_catalog.to_regnamespace(''pg_toast_temp_'' || pg_catalog.substr(pg_catalog.pg_my_temp_schema()::pg_catalog.regnamespace::text, 9))::oid, 0::oid))
      AND (pg_catalog.age(s.xmin) = 0 OR (pg_catalog.age(s.xmin) < 0
           AND pg_catalog.txid_status(pg_catalog.txid_current() - pg_catalog.age(s.xmin)) = ''in progress''))
    UNION ALL
    SELECT FROM pg_catalog.pg_namespace s
    WHERE s.oid = ANY (nullif(pg_catalog.current_setting(''modkit.outside_objects'', true), '''')::oid[]) AND s.oid < %1$s::pg_catalog.oid
      AND s.oid <> ALL (%2$L::pg_catalog.oid[]) AND s.oid NOT IN (''pg_toast''::pg_catalog.regnamespace, pg_catalog.pg_my_temp_schema(),
             coalesce(pg_catalog.to_regnamespace(''pg_toast_temp_'' || pg_catalog.substr(pg_catalog.pg_my_temp_schema()::pg_catalog.regnamespace::text, 9))::oid, 0::oid))
      AND (pg_catalog.age(s.xmin) = 0 OR (pg_catalog.age(s.xmin) < 0
           AND pg_catalog.txid_status(pg_catalog.txid_current() - pg_catalog.age(s.xmin)) = ''in progress''))
    UNION ALL
    -- Functions, procedures, aggregates.
    SELECT FROM pg_catalog.pg_proc p
    WHERE p.oid >= %1$s::pg_catalog.oid AND p.pronamespace <> ALL (%2$L::pg_catalog.oid[]) AND p.pronamespace NOT IN (''pg_toast''::pg_catalog.regnamespace, pg_catalog.pg_my_temp_schema(),
             coalesce(pg_catalog.to_regnamespace(''pg_toast_temp_'' || pg_catalog.substr(pg_catalog.pg_my_temp_schema()::pg_catalog.regnamespace::text, 9))::oid, 0::oid))
      AND (pg_catalog.age(p.xmin) = 0 OR (pg_catalog.age(p.xmin) < 0
           AND pg_catalog.txid_status(pg_catalog.txid_current() - pg_catalog.age(p.xmin)) = ''in progress''))
    UNION ALL
    SELECT FROM pg_catalog.pg_proc p
    WHERE p.oid = ANY (nullif(pg_catalog.current_setting(''modkit.outside_objects'', true), '''')::oid[]) AND p.oid < %1$s::pg_catalog.oid
      AND p.pronamespace <> ALL (%2$L::pg_catalog.oid[]) AND p.pronamespace NOT IN (''pg_toast''::pg_catalog.regnamespace, pg_catalog.pg_my_temp_schema(),
             coalesce(pg_catalog.to_regnamespace(''pg_toast_temp_'' || pg_catalog.substr(pg_catalog.pg_my_temp_schema()::pg_catalog.regnamespace::text, 9))::oid, 0::oid))
      AND (pg_catalog.age(p.xmin) = 0 OR (pg_catalog.age(p.xmin) < 0
           AND pg_catalog.txid_status(pg_catalog.txid_current() - pg_catalog.age(p.xmin)) = ''in progress''))
    UNION ALL
    -- Changed types.
    SELECT FROM pg_catalog.pg_type t
    WHERE t.oid = ANY (nullif(pg_catalog.current_setting(''modkit.outside_objects'', true), '''')::oid[]) AND t.oid < %1$s::pg_catalog.oid
      AND t.typnamespace <> ALL (%2$L::pg_catalog.oid[]) AND t.typnamespace NOT IN (''pg_toast''::pg_catalog.regnamespace, pg_catalog.pg_my_temp_schema(),
             coalesce(pg_catalog.to_regnamespace(''pg_toast_temp_'' || pg_catalog.substr(pg_catalog.pg_my_temp_schema()::pg_catalog.regnamespace::text, 9))::oid, 0::oid)) AND t.typrelid = 0 AND t.typcategory <> ''A''
      AND (pg_catalog.age(t.xmin) = 0 OR (pg_catalog.age(t.xmin) < 0
           AND pg_catalog.txid_status(pg_catalog.txid_current() - pg_catalog.age(t.xmin)) = ''in progress''))
    UNION ALL
    -- Policies and triggers on tables outside the schema: the new ones, all when one changed.
    SELECT FROM pg_catalog.pg_policy p JOIN pg_catalog.pg_class r ON r.oid = p.polrelid
    WHERE (p.oid >= %1$s::pg_catalog.oid OR (pg_catalog.pg_stat_get_xact_tuples_updated(3256) > (nullif(pg_catalog.current_setting(''modkit.policy_trigger_updates_before'', true), '''')::bigint[])[1] IS NOT FALSE
           OR NOT pg_catalog.current_setting(''track_counts'')::boolean))
      AND r.relnamespace <> ALL (%2$L::pg_catalog.oid[]) AND r.relnamespace NOT IN (''pg_toast''::pg_catalog.regnamespace, pg_catalog.pg_my_temp_schema(),
           coalesce(pg_catalog.to_regnamespace(''pg_toast_temp_'' || pg_catalog.substr(pg_catalog.pg_my_temp_schema()::pg_catalog.regnamespace::text, 9))::oid, 0::oid))
      AND (pg_catalog.age(p.xmin) = 0 OR (pg_catalog.age(p.xmin) < 0
         AND pg_catalog.txid_status(pg_catalog.txid_current() - pg_catalog.age(p.xmin)) = ''in progress''))
    UNION ALL
    SELECT FROM pg_catalog.pg_trigger g JOIN pg_catalog.pg_class r ON r.oid = g.tgrelid
    WHERE (g.oid >= %1$s::pg_catalog.oid OR (pg_catalog.pg_stat_get_xact_tuples_updated(2620) > (nullif(pg_catalog.current_setting(''modkit.policy_trigger_updates_before'', true), '''')::bigint[])[2] IS NOT FALSE
           OR NOT pg_catalog.current_setting(''track_counts'')::boolean))
      AND r.relnamespace <> ALL (%2$L::pg_catalog.oid[]) AND r.relnamespace NOT IN (''pg_toast''::pg_catalog.regnamespace, pg_catalog.pg_my_temp_schema(),
           coalesce(pg_catalog.to_regnamespace(''pg_toast_temp_'' || pg_catalog.substr(pg_catalog.pg_my_temp_schema()::pg_catalog.regnamespace::text, 9))::oid, 0::oid))
      AND (pg_catalog.age(g.xmin) = 0 OR (pg_catalog.age(g.xmin) < 0
         AND pg_catalog.txid_status(pg_catalog.txid_current() - pg_catalog.age(g.xmin)) = ''in progress''))
    UNION ALL
    -- In a new tenant''s schema, written while another tenant of the batch ran: the schema itself,
    -- functions, policies and triggers on its tables.
    SELECT FROM batch b JOIN pg_catalog.pg_namespace s ON s.oid = b.nsp
    WHERE (pg_catalog.age(s.xmin) = 0 OR (pg_catalog.age(s.xmin) < 0
         AND pg_catalog.txid_status(pg_catalog.txid_current() - pg_catalog.age(s.xmin)) = ''in progress'')) AND NOT (-pg_catalog.age(s.xmin) >= b.since AND -pg_catalog.age(s.xmin) < b.until)
    UNION ALL
    SELECT FROM batch b JOIN pg_catalog.pg_proc p ON p.pronamespace = b.nsp
    WHERE p.oid >= %1$s::pg_catalog.oid AND (pg_catalog.age(p.xmin) = 0 OR (pg_catalog.age(p.xmin) < 0
         AND pg_catalog.txid_status(pg_catalog.txid_current() - pg_catalog.age(p.xmin)) = ''in progress'')) AND NOT (-pg_catalog.age(p.xmin) >= b.since AND -pg_catalog.age(p.xmin) < b.until)
    UNION ALL
    SELECT FROM batch b JOIN pg_catalog.pg_class r ON r.relnamespace = b.nsp JOIN pg_catalog.pg_policy p ON p.polrelid = r.oid
    WHERE (pg_catalog.age(p.xmin) = 0 OR (pg_catalog.age(p.xmin) < 0
         AND pg_catalog.txid_status(pg_catalog.txid_current() - pg_catalog.age(p.xmin)) = ''in progress'')) AND NOT (-pg_catalog.age(p.xmin) >= b.since AND -pg_catalog.age(p.xmin) < b.until)
    UNION ALL
    SELECT FROM batch b JOIN pg_catalog.pg_class r ON r.relnamespace = b.nsp JOIN pg_catalog.pg_trigger g ON g.tgrelid = r.oid
    WHERE (pg_catalog.age(g.xmin) = 0 OR (pg_catalog.age(g.xmin) < 0
         AND pg_catalog.txid_status(pg_catalog.txid_current() - pg_catalog.age(g.xmin)) = ''in progress'')) AND NOT (-pg_catalog.age(g.xmin) >= b.since AND -pg_catalog.age(g.xmin) < b.until)
    UNION ALL
    -- Event triggers and extensions: database-wide, never a migration''s.
    SELECT FROM pg_catalog.pg_event_trigger e WHERE (pg_catalog.age(e.xmin) = 0 OR (pg_catalog.age(e.xmin) < 0
         AND pg_catalog.txid_status(pg_catalog.txid_current() - pg_catalog.age(e.xmin)) = ''in progress''))
    UNION ALL
    SELECT FROM pg_catalog.pg_extension x WHERE (pg_catalog.age(x.xmin) = 0 OR (pg_catalog.age(x.xmin) < 0
         AND pg_catalog.txid_status(pg_catalog.txid_current() - pg_catalog.age(x.xmin)) = ''in progress'')))', $1::pg_catalog.regnamespace::pg_catalog.oid,
      $3::pg_catalog.regnamespace[]::pg_catalog.oid[]::text) INTO found;
    IF found THEN
      RAISE EXCEPTION 'modkit: an object outside schemas %', $3;
    END IF;
  END IF;
END
$modkit$;

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

-- name: dev_grants_held
-- $1 user id, $2 tenant id, $3 role code: how many permissions the user holds through that role in
-- that tenant, counted from the rows (before and after seeding: the report counts what happened).
SELECT count(*) AS held
FROM public.sys_user_role ur
JOIN public.sys_role r ON r.id = ur.role_id AND r.tenant_id = ur.tenant_id
JOIN public.sys_role_permission rp ON rp.role_id = r.id
WHERE ur.user_id = $1 AND ur.tenant_id = $2::uuid AND r.code = $3;

-- name: assign_role
-- $1 user id, $2 tenant id, $3 role id
INSERT INTO public.sys_user_role (user_id, tenant_id, role_id) VALUES ($1, $2::uuid, $3::uuid)
ON CONFLICT DO NOTHING;

-- name: citus_schema_sharding
-- On a Citus coordinator only, first in a tenant's transaction: a schema created in this
-- transaction becomes a distributed schema (Citus 12+ schema-based sharding), placed whole on one
-- worker with every table created in it. The system tables in public stay on the coordinator.
SET LOCAL citus.enable_schema_based_sharding = on;

-- name: citus_distribute_schema
-- On a Citus coordinator only. $1 schema name (unquoted): distributes an existing schema that is not
-- distributed yet (made before Citus, or with sharding off), moving its tables to one worker; does
-- nothing when it already is. Under the tenant's lock, in its transaction.
SELECT pg_catalog.citus_schema_distribute(s.oid::regnamespace) AS modkit_distributed
FROM pg_catalog.pg_namespace s
WHERE s.nspname = $1
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_schema d WHERE d.schemaid = s.oid);
