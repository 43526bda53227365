//! Citus: whether the database modkit talks to is plain PostgreSQL, a Citus coordinator, or a
//! Citus worker (which modkit refuses before writing anything).
//!
//! On a coordinator, schema-based sharding (Citus 12+) places each tenant schema whole on one
//! worker: modkit creates tenant schemas with `citus.enable_schema_based_sharding` on, distributes
//! existing ones with `citus_schema_distribute`, keeps the system tables on the coordinator, and
//! sends migrations one statement per query (see `db::split`). docs/citus.md says why.

use std::collections::HashSet;

use anyhow::Result;
use sqlx::{PgConnection, Row};

use crate::db::simple;
use crate::exit::UserError;

/// What kind of server the database is on.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Topology {
    /// No citus extension in this database (or Citus with no nodes: nothing to distribute to).
    #[default]
    Plain,
    /// A Citus coordinator: tenant schemas are distributed.
    Coordinator(Cluster),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    /// The citus extension's version (`13.2-1`).
    pub version: String,
    /// Active primary workers (the coordinator itself not counted).
    pub workers: usize,
    /// The schemas that are distributed (`pg_dist_schema`).
    pub distributed: HashSet<String>,
}

impl Topology {
    pub fn is_citus(&self) -> bool {
        matches!(self, Topology::Coordinator(_))
    }

    /// Whether `schema` must still be distributed (always false off Citus).
    pub fn undistributed(&self, schema: &str) -> bool {
        matches!(self, Topology::Coordinator(c) if !c.distributed.contains(schema))
    }

    /// Read what this database is. A Citus worker is an error that names the coordinator.
    pub async fn detect(conn: &mut PgConnection) -> Result<Topology> {
        let rows = simple(
            conn,
            "SELECT extversion::text FROM pg_catalog.pg_extension WHERE extname = 'citus'".into(),
        )
        .await?;
        let Some(row) = rows.first() else {
            return Ok(Topology::Plain);
        };
        let version: String = row.try_get(0)?;
        // groupid 0 is the coordinator's group; a worker's is its own. citus_is_coordinator() is
        // false on a coordinator with no nodes yet, so the group tells a worker apart.
        let rows = simple(
            conn,
            "SELECT (SELECT groupid FROM pg_catalog.pg_dist_local_group), citus_is_coordinator(), \
             (SELECT count(*) FROM pg_catalog.pg_dist_node WHERE groupid <> 0 AND isactive AND noderole = 'primary'), \
             (SELECT nodename || ':' || nodeport FROM pg_catalog.pg_dist_node WHERE groupid = 0 LIMIT 1)"
                .into(),
        )
        .await?;
        let row = rows
            .first()
            .ok_or_else(|| anyhow::anyhow!("no row from the Citus metadata"))?;
        let group: i32 = row.try_get(0)?;
        let coordinator: bool = row.try_get(1)?;
        let workers: i64 = row.try_get(2)?;
        let coordinator_at: Option<String> = row.try_get(3)?;
        if group != 0 {
            let at = coordinator_at.map_or_else(
                || "the coordinator's host and port".to_string(),
                |a| format!("the coordinator ({a})"),
            );
            return Err(UserError::new(format!(
                "this database is on a Citus worker node (group {group}), not on the coordinator: \
                 nothing was changed"
            ))
            .hint(format!(
                "point the database URL at {at}: it creates the tenant schemas and places each on a worker"
            ))
            .into());
        }
        if !coordinator {
            return Ok(Topology::Plain);
        }
        let distributed = simple(
            conn,
            "SELECT n.nspname::text FROM pg_catalog.pg_dist_schema d \
             JOIN pg_catalog.pg_namespace n ON n.oid = d.schemaid"
                .into(),
        )
        .await?
        .iter()
        .map(|r| r.try_get::<String, _>(0))
        .collect::<Result<_, _>>()?;
        Ok(Topology::Coordinator(Cluster {
            version,
            workers: usize::try_from(workers).unwrap_or_default(),
            distributed,
        }))
    }
}
