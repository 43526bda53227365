//! modkit on a real Citus cluster (a coordinator and two workers, `support::citus`): schema-based
//! sharding puts each tenant schema whole on one worker.
//!
//! See docs/citus.md for what modkit does there.

use crate::support::citus::{CitusCluster, CitusDb};

/// The harness itself: every test database is a Citus database on the coordinator with both
/// workers active, and a distributed schema lands on a worker.
#[test]
fn a_test_database_is_distributed_over_two_workers() {
    let db = CitusDb::new();
    assert_eq!(CitusCluster::shared().worker_count(), 2);
    assert_eq!(db.scalar("SELECT citus_is_coordinator()"), "t");
    assert_eq!(
        db.scalar("SELECT count(*) FROM pg_dist_node WHERE groupid <> 0 AND isactive"),
        "2"
    );
    db.execute(
        "SET citus.enable_schema_based_sharding = on; CREATE SCHEMA probe; CREATE TABLE probe.t (id int)",
    );
    let placed = db.scalar(
        "SELECT nodename || ':' || nodeport FROM citus_shards WHERE citus_table_type = 'schema' AND table_name = 'probe.t'::regclass",
    );
    assert!(db.worker_addresses().contains(&placed), "{placed}");
}
