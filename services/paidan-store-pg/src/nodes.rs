//! The nodes of a cluster over one database (`cluster_nodes`, migration 0004): each serving node
//! keeps a heartbeat row with the address it advertises, so any node can tell how many nodes are
//! alive (each takes its fair share of the partitions) and where the owner of a partition
//! listens (a complaint for a partition a node does not own is forwarded there). Liveness is on
//! the database's clock, like the leases.

use std::time::Duration;

use paidan_store::Result;

use crate::PgStore;
use crate::lease::PARTITIONS;

/// A node of the cluster as its heartbeat row says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeInfo {
    pub node_id: String,
    pub advertise_addr: String,
    /// Its heartbeat is younger than the TTL it was asked with.
    pub live: bool,
}

/// Who holds a partition under a lease that has not run out, and where it listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionOwner {
    pub partition: u16,
    pub node_id: String,
    pub epoch: i64,
    /// `None` when the owner has no node row (it left, or is not a server).
    pub advertise_addr: Option<String>,
}

fn millis(ttl: Duration) -> f64 {
    ttl.as_secs_f64() * 1000.0
}

impl PgStore {
    /// Record that `node` is alive and listens at `addr`; returns how many nodes (this one
    /// included) sent a heartbeat within `ttl`.
    pub fn heartbeat(&self, node: &str, addr: &str, ttl: Duration) -> Result<usize> {
        let row = self.with(|c| {
            c.execute(
                "INSERT INTO cluster_nodes (node_id, advertise_addr, heartbeat_at)
                 VALUES ($1, $2, now())
                 ON CONFLICT (node_id) DO UPDATE
                    SET advertise_addr = $2, heartbeat_at = now()",
                &[&node, &addr],
            )?;
            c.query_one(
                "SELECT count(*) FROM cluster_nodes
                 WHERE heartbeat_at > now() - $1 * interval '1 millisecond'",
                &[&millis(ttl)],
            )
        })?;
        Ok((row.get::<_, i64>(0) as usize).max(1))
    }

    /// Every node row, with whether its heartbeat is younger than `ttl`.
    pub fn nodes(&self, ttl: Duration) -> Result<Vec<NodeInfo>> {
        let rows = self.with(|c| {
            c.query(
                "SELECT node_id, advertise_addr,
                        heartbeat_at > now() - $1 * interval '1 millisecond'
                 FROM cluster_nodes ORDER BY node_id",
                &[&millis(ttl)],
            )
        })?;
        Ok(rows
            .iter()
            .map(|r| NodeInfo {
                node_id: r.get(0),
                advertise_addr: r.get(1),
                live: r.get(2),
            })
            .collect())
    }

    /// A clean stop: `node`'s leases run out now (the other nodes take its partitions at their
    /// next round) and its row goes.
    pub fn leave(&self, node: &str) -> Result<()> {
        self.with(|c| {
            c.execute(
                "UPDATE partition_leases SET expires_at = now() - interval '1 millisecond'
                 WHERE owner = $1 AND expires_at > now()",
                &[&node],
            )?;
            c.execute("DELETE FROM cluster_nodes WHERE node_id = $1", &[&node])
        })?;
        Ok(())
    }

    /// The partitions with a lease that has not run out, their owners and owners' addresses.
    pub fn partition_owners(&self) -> Result<Vec<PartitionOwner>> {
        let rows = self.with(|c| {
            c.query(
                "SELECT l.partition, l.owner, l.epoch, n.advertise_addr
                 FROM partition_leases l LEFT JOIN cluster_nodes n ON n.node_id = l.owner
                 WHERE l.expires_at > now() ORDER BY l.partition",
                &[],
            )
        })?;
        Ok(rows
            .iter()
            .map(|r| PartitionOwner {
                partition: r.get::<_, i16>(0) as u16,
                node_id: r.get(1),
                epoch: r.get(2),
                advertise_addr: r.get(3),
            })
            .collect())
    }

    /// The partitions nobody holds (never taken, released, or run out), in order.
    pub fn free_partitions(&self) -> Result<Vec<u16>> {
        let rows = self.with(|c| {
            c.query(
                "SELECT p::smallint FROM generate_series(0, $1 - 1) p
                 WHERE NOT EXISTS (SELECT 1 FROM partition_leases l
                                   WHERE l.partition = p AND l.expires_at > now())
                 ORDER BY p",
                &[&i32::from(PARTITIONS)],
            )
        })?;
        Ok(rows.iter().map(|r| r.get::<_, i16>(0) as u16).collect())
    }
}
