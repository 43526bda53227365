//! The live checks' codes (`--db`): their code is in `live.rs` and `drift.rs`, their documentation here.

use crate::diagnostics::Severity;
use crate::doctor::rule::{Rule, Scope};

pub const RULES: &[Rule] = &[
    Rule {
        code: "db-pending",
        severity: Severity::Error,
        scope: Scope::Database,
        what: "the database is behind the code: pgcrypto, a system table, a permission, a tenant's row, schema or migration is missing (one diagnostic each, as `modkit bootstrap --check` lists them)",
        fix: "`modkit bootstrap`",
    },
    Rule {
        code: "db-migration-edited",
        severity: Severity::Error,
        scope: Scope::Database,
        what: "a migration file differs from what was applied to a tenant (both checksums named)",
        fix: "add a new migration instead of editing an applied one",
    },
    Rule {
        code: "db-module-table-tenant-id",
        severity: Severity::Error,
        scope: Scope::Database,
        what: "a table in a tenant's schema has a `tenant_id` column",
        fix: "drop it in a new migration",
    },
    Rule {
        code: "db-schema-without-tenant",
        severity: Severity::Warning,
        scope: Scope::Database,
        what: "a `tenant_*` schema has no `sys_tenant` row: left over, or made by hand",
        fix: "drop it; `modkit bootstrap --tenant <code>` would give it to that tenant as it is",
    },
    Rule {
        code: "db-tenant-schema-drift",
        severity: Severity::Error,
        scope: Scope::Database,
        what: "tenant schemas differ in structure: against what most tenant schemas have, a tenant lacks a module table, a column, an index or a constraint, has one the others lack, or has another column type, nullability, default or definition (each named per tenant and object; one catalog query whatever the number of tenants)",
        fix: "find what was changed by hand (or a migration that failed half-way) and add a migration that brings every tenant to one shape",
    },
    Rule {
        code: "db-tenant-failure",
        severity: Severity::Error,
        scope: Scope::Database,
        what: "bootstrap could not bring a tenant up to date for another reason than an edited migration (a schema name over 63 bytes, a migration that fails): the message is bootstrap's",
        fix: "what the message says; then `modkit bootstrap`",
    },
    Rule {
        code: "db-schema-unusable",
        severity: Severity::Error,
        scope: Scope::Database,
        what: "a tenant schema (or a `tenant_*` schema with no row yet) that this role may not use (USAGE and CREATE): PostgreSQL silently leaves it out of `search_path`, so unqualified names would resolve in `public`; bootstrap refuses such a tenant",
        fix: "`GRANT USAGE, CREATE ON SCHEMA <schema> TO <role>;` or `ALTER SCHEMA <schema> OWNER TO <role>;`",
    },
    Rule {
        code: "db-module-table-in-public",
        severity: Severity::Error,
        scope: Scope::Database,
        what: "a table, view or sequence in `public` named like a module's (one in a tenant schema, or one its migrations create): every tenant whose `search_path` reaches `public` would share its rows",
        fix: "move its rows into the tenant schemas they belong to, then drop it",
    },
    Rule {
        code: "db-citus-schema-not-distributed",
        severity: Severity::Error,
        scope: Scope::Database,
        what: "on a Citus coordinator, a tenant schema that is not distributed: its tables stay on the coordinator (docs/citus.md)",
        fix: "`modkit bootstrap` (it distributes every tenant schema), or `SELECT citus_schema_distribute('<schema>');`",
    },
    Rule {
        code: "db-citus-placement-uneven",
        severity: Severity::Warning,
        scope: Scope::Database,
        what: "on Citus, tenant schemas are placed unevenly over the workers (more than twice as many on one), after added workers or moves",
        fix: "`SELECT citus_rebalance_start();` (moves whole schemas in the background)",
    },
    Rule {
        code: "citus-migration-trigger",
        severity: Severity::Error,
        scope: Scope::Database,
        what: "on Citus, a module migration creates a trigger, which Citus does not support on the tables of a distributed tenant schema",
        fix: "do the work in the module's code (or a view), or keep this module off Citus",
    },
    Rule {
        code: "citus-migration-foreign-key",
        severity: Severity::Error,
        scope: Scope::Database,
        what: "on Citus, a module migration adds a foreign key to a `public` table that is not a reference table",
        fix: "`SELECT create_reference_table('public.<table>');`, or drop the foreign key",
    },
];
