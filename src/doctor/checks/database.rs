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
];
