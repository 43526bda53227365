//! `doctor --db`: database-wide objects a tenant migration left behind before modkit refused them
//! (issue 15): an extension installed in a tenant's schema, event triggers, policies and triggers on
//! the system tables, and functions and types in `public`, none of them an extension's own (Citus's
//! event triggers are).

use anyhow::Result;
use sqlx::{PgPool, Row};

use crate::diagnostics::Diagnostic;

pub async fn run(pool: &PgPool, out: &mut Vec<Diagnostic>) -> Result<()> {
    // Extensions in a tenant's schema: the other tenants cannot see them, and dropping that schema
    // would drop them under every tenant's columns.
    let rows = sqlx::query(
        r"SELECT e.extname::text, n.nspname::text, t.code
            FROM pg_catalog.pg_extension e
            JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
            JOIN public.sys_tenant t ON t.schema_name = n.nspname
           ORDER BY 1",
    )
    .fetch_all(pool)
    .await?;
    for row in rows {
        let (name, schema, code): (String, String, String) =
            (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        out.push(
            Diagnostic::error(
                "db-extension-in-tenant-schema",
                format!(
                    "extension {name} is in schema {schema} of tenant `{code}`: other tenants do not find it, and dropping \
                     that schema would drop it under every tenant's columns"
                ),
            )
            .hint(format!(
                "declare it in modkit.toml (`[database] extensions = [\"{name}\"]`) and run `modkit bootstrap`, which moves it \
                 to schema extensions (or, as its owner: `ALTER EXTENSION {name} SET SCHEMA extensions;`)"
            )),
        );
    }
    // Event triggers run on every tenant's DDL; policies and triggers on the system tables change
    // what every tenant's bootstrap and runtime do; functions and types in public are shared.
    let rows = sqlx::query(
        r"SELECT 'event trigger ' || quote_ident(e.evtname) AS what, format('DROP EVENT TRIGGER %I;', e.evtname) AS fix
            FROM pg_catalog.pg_event_trigger e
           WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                              WHERE d.classid = 'pg_event_trigger'::regclass AND d.objid = e.oid AND d.deptype = 'e')
          UNION ALL
          SELECT 'policy ' || quote_ident(p.polname) || ' on public.' || quote_ident(c.relname),
                 format('DROP POLICY %I ON public.%I;', p.polname, c.relname)
            FROM pg_catalog.pg_policy p JOIN pg_catalog.pg_class c ON c.oid = p.polrelid
           WHERE c.relnamespace = 'public'::regnamespace AND c.relname LIKE 'sys\_%'
          UNION ALL
          SELECT 'trigger ' || quote_ident(g.tgname) || ' on public.' || quote_ident(c.relname),
                 format('DROP TRIGGER %I ON public.%I;', g.tgname, c.relname)
            FROM pg_catalog.pg_trigger g JOIN pg_catalog.pg_class c ON c.oid = g.tgrelid
           WHERE NOT g.tgisinternal AND c.relnamespace = 'public'::regnamespace AND c.relname LIKE 'sys\_%'
          UNION ALL
          SELECT format('function public.%I(%s)', p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid)),
                 format('DROP ROUTINE public.%I(%s);', p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid))
            FROM pg_catalog.pg_proc p
           WHERE p.pronamespace = 'public'::regnamespace
             AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                              WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
          UNION ALL
          SELECT format('type public.%I', t.typname), format('DROP TYPE public.%I;', t.typname)
            FROM pg_catalog.pg_type t
           WHERE t.typnamespace = 'public'::regnamespace AND t.typrelid = 0 AND t.typcategory <> 'A'
             AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                              WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')
          ORDER BY 1",
    )
    .fetch_all(pool)
    .await?;
    for row in rows {
        let (what, fix): (String, String) = (row.try_get(0)?, row.try_get(1)?);
        out.push(
            Diagnostic::warning(
                "db-object-outside-tenants",
                format!(
                    "{what} is outside every tenant's schema, shared by all of them: a module's migration may have made it \
                     before modkit refused that"
                ),
            )
            .hint(format!("if no one made it on purpose, drop it: `{fix}`")),
        );
    }
    Ok(())
}
