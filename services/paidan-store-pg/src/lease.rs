//! Partition leases with a fencing epoch: the ownership primitives of issue 18's multi-node
//! mode. The server's lease keeper (`paidan::cluster`) takes, renews and releases them and keeps
//! what it holds in an [`Ownership`]; a store given one ([`PgStore::fence_with`]) fences every
//! insert of a case with the lease of the case's partition.
//!
//! A jurisdiction belongs to one of [`PARTITIONS`] partitions ([`partition_of`]). A node owns a
//! partition while it holds its row in `partition_leases`: [`PgStore::acquire_lease`] takes a
//! free or expired partition and bumps its epoch (a renewal by the holder keeps it),
//! [`PgStore::renew_lease`] extends it (about every second, against a TTL of about five),
//! [`PgStore::release_lease`] frees it at a clean stop. Expiry is on the database's clock.
//!
//! Fencing: a write made for a partition runs [`fence`] inside its own transaction. It reads the
//! lease row `FOR SHARE`: while the write's transaction lasts, a takeover (which updates the row)
//! waits, and a write whose lease was taken over (other owner or epoch) or ran out is refused. So
//! a node that lost its lease — paused, partitioned away — cannot commit a write after the next
//! owner took over, however late it wakes up.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use crate::session::Txn;
use paidan_store::{Result, StoreError};
use postgres::Transaction;

use crate::{PgStore, Tx};

/// Partitions the jurisdictions are hashed into.
pub const PARTITIONS: u16 = 64;

/// The partition of a jurisdiction: FNV-1a of its bytes, modulo [`PARTITIONS`] (stable across
/// builds and platforms: it decides ownership between nodes).
pub fn partition_of(jurisdiction: &str) -> u16 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in jurisdiction.as_bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    (h % u64::from(PARTITIONS)) as u16
}

/// A partition held by a node at an epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub partition: u16,
    pub owner: String,
    pub epoch: i64,
}

/// The partitions a node holds right now, shared by the node's lease keeper (which writes it)
/// and the store and the request router (which read it).
///
/// A lease counts as held until a local deadline a little short of its expiry on the database
/// (taken before the renewal was sent, so a slow round trip only shortens it): past it the node
/// stops routing to itself, and the fence in the write's transaction refuses what is already
/// under way.
#[derive(Debug)]
pub struct Ownership {
    node: String,
    held: RwLock<HashMap<u16, (Lease, Instant)>>,
}

impl Ownership {
    pub fn new(node: &str) -> Ownership {
        Ownership {
            node: node.to_string(),
            held: RwLock::new(HashMap::new()),
        }
    }

    /// This node's id (the leases' owner).
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The lease of `partition`, while held.
    pub fn lease(&self, partition: u16) -> Option<Lease> {
        let held = self.held.read().unwrap_or_else(|e| e.into_inner());
        held.get(&partition)
            .filter(|(_, until)| Instant::now() < *until)
            .map(|(l, _)| l.clone())
    }

    /// Whether this node holds the partition of `jurisdiction`.
    pub fn owns(&self, jurisdiction: &str) -> bool {
        self.lease(partition_of(jurisdiction)).is_some()
    }

    /// The partitions held right now (not past their local deadline), in order.
    pub fn partitions(&self) -> Vec<u16> {
        let held = self.held.read().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let mut v: Vec<u16> = held
            .iter()
            .filter(|(_, (_, until))| now < *until)
            .map(|(p, _)| *p)
            .collect();
        v.sort_unstable();
        v
    }

    /// Every lease held (run-out ones included until the keeper drops them).
    pub fn leases(&self) -> Vec<Lease> {
        let held = self.held.read().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<Lease> = held.values().map(|(l, _)| l.clone()).collect();
        v.sort_by_key(|l| l.partition);
        v
    }

    /// Record `lease` as held until `until` (the keeper, after taking or renewing it).
    pub fn hold(&self, lease: Lease, until: Instant) {
        let mut held = self.held.write().unwrap_or_else(|e| e.into_inner());
        held.insert(lease.partition, (lease, until));
    }

    /// Stop counting `partition` as held (lost, or about to be released).
    pub fn drop_partition(&self, partition: u16) {
        let mut held = self.held.write().unwrap_or_else(|e| e.into_inner());
        held.remove(&partition);
    }
}

fn millis(ttl: Duration) -> f64 {
    ttl.as_secs_f64() * 1000.0
}

impl PgStore {
    /// Take `partition` for `owner` for `ttl`: when it is free or its lease ran out (a new epoch),
    /// or when `owner` holds it already (the same epoch, extended). `None` while another node
    /// holds it.
    pub fn acquire_lease(
        &self,
        partition: u16,
        owner: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>> {
        let row = self.with(|c| {
            c.query_opt(
                "INSERT INTO partition_leases AS l (partition, owner, epoch, expires_at)
                 VALUES ($1, $2, 1, now() + $3 * interval '1 millisecond')
                 ON CONFLICT (partition) DO UPDATE
                    SET owner = $2,
                        epoch = CASE WHEN l.owner = $2 AND l.expires_at > now()
                                     THEN l.epoch ELSE l.epoch + 1 END,
                        expires_at = now() + $3 * interval '1 millisecond'
                    WHERE l.owner = $2 OR l.expires_at <= now()
                 RETURNING epoch",
                &[&(partition as i16), &owner, &millis(ttl)],
            )
        })?;
        Ok(row.map(|r| Lease {
            partition,
            owner: owner.to_string(),
            epoch: r.get(0),
        }))
    }

    /// Extend a held lease by `ttl`; false when it was lost (taken over, or ran out).
    pub fn renew_lease(&self, lease: &Lease, ttl: Duration) -> Result<bool> {
        let n = self.with(|c| {
            c.execute(
                "UPDATE partition_leases SET expires_at = now() + $4 * interval '1 millisecond'
                 WHERE partition = $1 AND owner = $2 AND epoch = $3 AND expires_at > now()",
                &[
                    &(lease.partition as i16),
                    &lease.owner,
                    &lease.epoch,
                    &millis(ttl),
                ],
            )
        })?;
        Ok(n == 1)
    }

    /// Give a held lease up (a clean stop): the next node takes the partition at once.
    pub fn release_lease(&self, lease: &Lease) -> Result<()> {
        self.with(|c| {
            c.execute(
                "UPDATE partition_leases SET expires_at = now() - interval '1 millisecond'
                 WHERE partition = $1 AND owner = $2 AND epoch = $3",
                &[&(lease.partition as i16), &lease.owner, &lease.epoch],
            )
        })?;
        Ok(())
    }

    /// Run `write` in one transaction fenced by `lease` (see the module docs): when the lease is
    /// no longer held, the transaction is refused with a `Storage` error naming it before `write`
    /// runs, and nothing is written.
    pub fn fenced<T>(
        &self,
        lease: &Lease,
        mut write: impl FnMut(&mut Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        self.tx(|t| {
            fence(t, lease)?;
            write(t.c).map_err(crate::TxError::Store)
        })
    }
}

/// An insert of a fenced store checks its lease in the statement that draws the case number
/// (`insert::check_and_number`: one round trip, and no number is used up by a refused insert),
/// as [`fence`] does: the lease row stays share-locked until the transaction ends, and expiry is
/// checked against the statement's start, not the transaction's (`now()`), since a writer
/// round's transaction runs many inserts and a lease that ran out since the round began must
/// refuse the later ones.
pub(crate) fn lost(lease: &Lease) -> crate::TxError {
    StoreError::Fenced(format!(
        "{} no longer holds partition {} at epoch {}",
        lease.owner, lease.partition, lease.epoch
    ))
    .into()
}

/// Inside a write's transaction: the lease must still be held (same owner and epoch, not run
/// out); the row stays share-locked until the transaction ends, so no takeover commits between.
pub(crate) fn fence(t: &mut Txn<'_, '_>, lease: &Lease) -> Tx<()> {
    let held = t.query_opt(
        "SELECT 1 FROM partition_leases
         WHERE partition = $1 AND owner = $2 AND epoch = $3
           AND expires_at > statement_timestamp()
         FOR SHARE",
        &[&(lease.partition as i16), &lease.owner, &lease.epoch],
    )?;
    match held {
        Some(_) => Ok(()),
        None => Err(lost(lease)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_stable_and_in_range() {
        // (jurisdiction, partition): fixed values, since nodes of different builds must agree
        let table = [("", 37), ("A3区", 50), ("330106", 26), ("110101", 15)];
        for (j, want) in table {
            assert_eq!(partition_of(j), want, "{j}");
            assert!(partition_of(j) < PARTITIONS);
        }
        let used: std::collections::HashSet<u16> = (0..1000)
            .map(|i| partition_of(&format!("{i:06}")))
            .collect();
        assert_eq!(
            used.len(),
            PARTITIONS as usize,
            "1000 codes reach every partition"
        );
    }
}
