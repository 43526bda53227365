//! Live drift across tenant schemas (`--db`): every tenant's schema should hold the same module
//! tables, columns (type, nullability, default), indexes and constraints. One catalog query, whatever
//! the number of tenants: it fingerprints each object of each tenant schema (the schema's own name
//! taken out of definitions) and groups the schemas by (object, fingerprint), so what comes back is
//! one row per distinct shape, not per tenant. The majority shape of each object is the reference;
//! a tenant that lacks it, has another shape, or has an object most tenants lack is named.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;
use sqlx::{PgPool, Row};

use crate::diagnostics::Diagnostic;

/// (kind, object, fingerprint) -> the tenant codes whose schema has that shape, from one query.
/// `kind` is table, column, index or constraint; `object` names it within the schema.
const SHAPES: &str = r"
WITH tenants AS (
  SELECT t.code, n.oid AS nsp, n.nspname
    FROM public.sys_tenant t JOIN pg_namespace n ON n.nspname = t.schema_name
), tables AS (
  SELECT t.code, t.nspname, c.oid, c.relname
    FROM tenants t JOIN pg_class c ON c.relnamespace = t.nsp AND c.relkind IN ('r', 'p')
), objects AS (
  SELECT code, 'table' AS kind, relname AS object, '' AS fp FROM tables
  UNION ALL
  SELECT t.code, 'column', t.relname || '.' || a.attname,
         format_type(a.atttypid, a.atttypmod)
           || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
           || coalesce(' DEFAULT ' || replace(pg_get_expr(d.adbin, d.adrelid), t.nspname || '.', ''), '')
    FROM tables t
    JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_attrdef d ON d.adrelid = t.oid AND d.adnum = a.attnum
  UNION ALL
  SELECT t.code, 'index', t.relname || '.' || i.relname,
         replace(pg_get_indexdef(x.indexrelid), t.nspname || '.', '')
    FROM tables t
    JOIN pg_index x ON x.indrelid = t.oid
    JOIN pg_class i ON i.oid = x.indexrelid
  UNION ALL
  SELECT t.code, 'constraint', t.relname || '.' || k.conname,
         replace(pg_get_constraintdef(k.oid), t.nspname || '.', '')
    FROM tables t JOIN pg_constraint k ON k.conrelid = t.oid
)
SELECT kind, object, fp, array_agg(code ORDER BY code) AS codes,
       (SELECT count(*) FROM tenants) AS tenants
  FROM objects
 GROUP BY kind, object, fp
 ORDER BY kind, object, fp";

pub async fn run(pool: &PgPool) -> Result<Vec<Diagnostic>> {
    let has_tenants: bool = sqlx::query("SELECT to_regclass('public.sys_tenant') IS NOT NULL")
        .fetch_one(pool)
        .await?
        .try_get(0)?;
    if !has_tenants {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(SHAPES).fetch_all(pool).await?;
    let mut shapes: Shapes = BTreeMap::new();
    let mut tenants = 0;
    for row in rows {
        let (kind, object, fp, codes): (String, String, String, Vec<String>) =
            (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?, row.try_get(3)?);
        tenants = row.try_get::<i64, _>(4)? as usize;
        shapes.entry((kind, object)).or_default().push((fp, codes));
    }
    Ok(compare(&shapes, tenants))
}

type Shapes = BTreeMap<(String, String), Vec<(String, Vec<String>)>>;

/// The drift, given each object's shapes and the tenants holding each. A table a tenant lacks (or
/// alone has) is one finding, not one more per column, index and constraint of it.
fn compare(shapes: &Shapes, tenants: usize) -> Vec<Diagnostic> {
    if tenants < 2 {
        return Vec::new();
    }
    // A tenant whose schema has no table at all is not seen here: `db-pending` reports it.
    let everyone: BTreeSet<&String> = shapes.values().flatten().flat_map(|(_, codes)| codes).collect();
    // (tenant, table) already reported whole.
    let mut whole: BTreeSet<(String, String)> = BTreeSet::new();
    let mut found: Vec<(String, String, String)> = Vec::new();
    for kind in ["table", "column", "index", "constraint"] {
        for ((_, object), variants) in shapes
            .range((kind.to_string(), String::new())..)
            .take_while(|((k, _), _)| k == kind)
        {
            let table = object.split('.').next().unwrap_or(object);
            let skip = |code: &String| kind != "table" && whole.contains(&(code.clone(), table.to_string()));
            let holders: BTreeSet<&String> = variants.iter().flat_map(|(_, codes)| codes).collect();
            let present = holders.len();
            let mut report = |code: &String, message: String| {
                found.push((code.clone(), object.clone(), message));
            };
            if present * 2 <= tenants {
                // Most tenants lack it (or half do: a hand-made addition is likelier than a loss):
                // it is extra where it is.
                for code in holders.iter().filter(|c| !skip(c)) {
                    report(
                        code,
                        format!(
                            "tenant `{code}`: {kind} {object} is extra ({} of {tenants} tenant schemas lack it)",
                            tenants - present
                        ),
                    );
                }
                if kind == "table" {
                    whole.extend(holders.iter().map(|c| ((*c).clone(), table.to_string())));
                }
                continue;
            }
            let (reference, count) = variants
                .iter()
                .max_by(|a, b| a.1.len().cmp(&b.1.len()).then_with(|| b.0.cmp(&a.0)))
                .map(|(fp, codes)| (fp.as_str(), codes.len()))
                .unwrap_or_default();
            for (fp, codes) in variants.iter().filter(|(fp, _)| fp != reference) {
                for code in codes.iter().filter(|c| !skip(c)) {
                    report(
                        code,
                        format!(
                            "tenant `{code}`: {kind} {object} is `{fp}`, where {count} of {tenants} tenant schemas have `{reference}`"
                        ),
                    );
                }
            }
            let lacking: Vec<&String> = everyone
                .iter()
                .copied()
                .filter(|c| !holders.contains(c) && !skip(c))
                .collect();
            for code in lacking {
                report(
                    code,
                    format!(
                        "tenant `{code}`: {kind} {object} is missing ({present} of {tenants} tenant schemas have it)"
                    ),
                );
                if kind == "table" {
                    whole.insert((code.clone(), table.to_string()));
                }
            }
        }
    }
    found.sort();
    found
        .into_iter()
        .map(|(_, _, message)| {
            Diagnostic::error("db-tenant-schema-drift", message)
                .hint("every tenant schema is made by the same migrations: find what was changed by hand (or a migration that failed half-way) and add a migration that brings every tenant to one shape")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_tenant_and_the_object_against_the_majority() {
        let t = |codes: &[&str]| codes.iter().map(|c| c.to_string()).collect::<Vec<_>>();
        let mut shapes: Shapes = BTreeMap::new();
        let mut add = |kind: &str, object: &str, variants: Vec<(&str, Vec<String>)>| {
            shapes.insert(
                (kind.into(), object.into()),
                variants.into_iter().map(|(fp, c)| (fp.to_string(), c)).collect(),
            );
        };
        add("table", "items", vec![("", t(&["a", "b", "c"]))]);
        add("table", "notes", vec![("", t(&["a", "b"]))]);
        add("column", "notes.id", vec![("uuid", t(&["a", "b"]))]);
        add(
            "column",
            "items.name",
            vec![("text", t(&["a", "b"])), ("character varying(50)", t(&["c"]))],
        );
        add("column", "items.note", vec![("text", t(&["a", "b"]))]);
        add(
            "index",
            "items.items_x_idx",
            vec![("CREATE INDEX ...", t(&["c"]))],
        );
        let got: Vec<String> = compare(&shapes, 3).into_iter().map(|d| d.message).collect();
        assert_eq!(
            got,
            [
                "tenant `c`: index items.items_x_idx is extra (2 of 3 tenant schemas lack it)",
                "tenant `c`: column items.name is `character varying(50)`, where 2 of 3 tenant schemas have `text`",
                "tenant `c`: column items.note is missing (2 of 3 tenant schemas have it)",
                "tenant `c`: table notes is missing (2 of 3 tenant schemas have it)",
            ]
        );
    }
}
