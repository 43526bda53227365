//! Live checks on a Citus coordinator (docs/citus.md): tenant schemas that are not distributed,
//! tenants placed unevenly over the workers, and module migrations that cannot run in a
//! distributed schema. Read-only, like every live check; nothing here runs off Citus.

use anyhow::Result;
use sqlx::{PgPool, Row};

use super::sql_words::sql_words;
use crate::db::citus::Topology;
use crate::db::split::split;
use crate::diagnostics::Diagnostic;
use crate::modules::Module;

/// The checks, or nothing when the database is not on a Citus coordinator.
pub async fn run(pool: &PgPool, modules: &[Module]) -> Result<Vec<Diagnostic>> {
    let mut out = Vec::new();
    if !Topology::detect(&mut *pool.acquire().await?).await?.is_citus() {
        return Ok(out);
    }
    if has_tenants(pool).await? {
        let rows = sqlx::query(
            "SELECT t.code, t.schema_name FROM public.sys_tenant t \
               JOIN pg_catalog.pg_namespace n ON n.nspname = t.schema_name \
              WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_schema d WHERE d.schemaid = n.oid) \
              ORDER BY 1",
        )
        .fetch_all(pool)
        .await?;
        for row in rows {
            let (code, schema): (String, String) = (row.try_get(0)?, row.try_get(1)?);
            out.push(
                Diagnostic::error(
                    "db-citus-schema-not-distributed",
                    format!("schema {schema} of tenant `{code}` is not distributed: its tables stay on the coordinator"),
                )
                .hint(format!(
                    "run `modkit bootstrap` (it distributes every tenant schema), or `SELECT citus_schema_distribute('{schema}');`"
                )),
            );
        }
        let placed = placement(pool).await?;
        let counts: Vec<i64> = placed.iter().map(|(_, n)| *n).collect();
        if let (Some(min), Some(max)) = (counts.iter().min(), counts.iter().max()) {
            // Citus places new schemas evenly; a gap like this comes from added workers or moves.
            if *max > 2 * *min + 1 {
                out.push(
                    Diagnostic::warning(
                        "db-citus-placement-uneven",
                        format!("tenant schemas are placed unevenly over the workers: {}", describe(&placed)),
                    )
                    .hint("rebalance with `SELECT citus_rebalance_start();` (moves whole schemas in the background)"),
                );
            }
        }
    }
    let reference: Vec<String> = sqlx::query(
        "SELECT c.relname::text FROM pg_catalog.pg_dist_partition p \
           JOIN pg_catalog.pg_class c ON c.oid = p.logicalrelid \
           JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
          WHERE n.nspname = 'public' AND p.partmethod = 'n' AND p.repmodel = 't'",
    )
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| r.try_get(0))
    .collect::<Result<_, _>>()?;
    for module in modules {
        for migration in &module.migrations {
            for statement in split(&migration.sql) {
                // The module's own name for the file, and the line its statement starts on.
                let file = format!(
                    "{}/{} (line {})",
                    module.id,
                    migration.name,
                    statement.line_in(&migration.sql)
                );
                for problem in distributed_problems(statement.sql, &reference) {
                    let d = match problem {
                        Problem::Trigger => Diagnostic::error(
                            "citus-migration-trigger",
                            format!("migration {file} creates a trigger, which Citus does not support on the tables of a distributed tenant schema"),
                        )
                        .hint("do the work in the module's code (or a view), or keep this module off Citus"),
                        Problem::ForeignKey(table) => Diagnostic::error(
                            "citus-migration-foreign-key",
                            format!("migration {file} adds a foreign key to public.{table}, which is not a Citus reference table"),
                        )
                        .hint(format!(
                            "make it one (`SELECT create_reference_table('public.{table}');`), or drop the foreign key"
                        )),
                    };
                    out.push(d);
                }
            }
        }
    }
    Ok(out)
}

/// One line for doctor's summary on a coordinator: how many tenant schemas each worker holds.
pub async fn summary(pool: &PgPool) -> Result<Option<String>> {
    if !Topology::detect(&mut *pool.acquire().await?).await?.is_citus() {
        return Ok(None);
    }
    Ok(Some(format!("Citus: {}", describe(&placement(pool).await?))))
}

async fn has_tenants(pool: &PgPool) -> Result<bool> {
    Ok(sqlx::query("SELECT to_regclass('public.sys_tenant') IS NOT NULL")
        .fetch_one(pool)
        .await?
        .try_get(0)?)
}

/// Every active worker (`host:port`) with the number of distributed schemas it holds (0 included).
async fn placement(pool: &PgPool) -> Result<Vec<(String, i64)>> {
    let rows = sqlx::query(
        "SELECT w.nodename || ':' || w.nodeport, \
                (SELECT count(DISTINCT d.schemaid) FROM pg_catalog.pg_dist_schema d \
                   JOIN pg_catalog.pg_dist_shard s ON s.logicalrelid IN \
                        (SELECT p.logicalrelid FROM pg_catalog.pg_dist_partition p WHERE p.colocationid = d.colocationid) \
                   JOIN pg_catalog.pg_dist_placement pl ON pl.shardid = s.shardid \
                  WHERE pl.groupid = w.groupid) \
           FROM pg_catalog.pg_dist_node w \
          WHERE w.isactive AND w.noderole = 'primary' AND w.groupid <> 0 \
          ORDER BY 1",
    )
    .fetch_all(pool)
    .await?;
    rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
}

fn describe(placed: &[(String, i64)]) -> String {
    placed
        .iter()
        .map(|(worker, n)| format!("{n} tenant schema(s) on {worker}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Debug, PartialEq)]
enum Problem {
    Trigger,
    /// A foreign key to this table of `public`, which is not a reference table.
    ForeignKey(String),
}

/// What in one statement cannot run in a distributed schema: `CREATE [OR REPLACE] [CONSTRAINT]
/// TRIGGER`, and `REFERENCES public.<table>` to a table that is not in `reference`. (An unqualified
/// `REFERENCES x` resolves in the tenant's schema alone, where the table is distributed with it.)
fn distributed_problems(statement: &str, reference: &[String]) -> Vec<Problem> {
    let words = sql_words(statement);
    let word = |i: usize| words.get(i).map(|(w, _)| w.as_str()).unwrap_or_default();
    let mut out = Vec::new();
    let mut i = usize::from(word(0) == "create");
    if i == 1 {
        while matches!(word(i), "or" | "replace" | "constraint") {
            i += 1;
        }
        if word(i) == "trigger" {
            out.push(Problem::Trigger);
        }
    }
    for j in 0..words.len() {
        if word(j) == "references" && word(j + 1) == "public" && word(j + 2) == "." {
            if let Some((table, _)) = words.get(j + 3) {
                if !reference.contains(table) {
                    out.push(Problem::ForeignKey(table.clone()));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_triggers_and_foreign_keys_to_public_tables() {
        let reference = vec!["countries".to_string()];
        assert_eq!(
            distributed_problems(
                "CREATE OR REPLACE TRIGGER t BEFORE INSERT ON items EXECUTE FUNCTION f()",
                &reference
            ),
            [Problem::Trigger]
        );
        assert_eq!(
            distributed_problems(
                "create constraint trigger t after insert on items for each row execute function f()",
                &reference
            ),
            [Problem::Trigger]
        );
        assert_eq!(
            distributed_problems(
                "CREATE TABLE orders (id int, owner uuid REFERENCES public.sys_tenant (id), c text REFERENCES public.countries)",
                &reference
            ),
            [Problem::ForeignKey("sys_tenant".into())]
        );
        // Within the tenant's schema, in a comment or a string: fine.
        for fine in [
            "CREATE TABLE lines (order_id int REFERENCES orders (id))",
            "-- CREATE TRIGGER t ... REFERENCES public.x\nCREATE INDEX i ON items (name)",
            "COMMENT ON TABLE items IS 'CREATE TRIGGER; REFERENCES public.x'",
            "CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$",
        ] {
            assert!(distributed_problems(fine, &reference).is_empty(), "{fine}");
        }
    }
}
