//! The partition owner's in-memory band index (issue 18 item 2): a node that holds a partition's
//! lease finds duplicate candidates of its jurisdictions in memory, and asks PostgreSQL only about
//! those candidates (their entries, spans, cases: primary-key probes), not about ~16 band keys
//! through the GIN index.
//!
//! Why this is exact, not a cache that may miss: band keys are written only by inserts (and by a
//! re-key, which drops every index when it is done, see below), and in a cluster only a
//! partition's owner inserts its cases (every insert is fenced by the lease, in its
//! transaction). So while this node holds a partition at epoch E, every entry of the partition is
//! either one that existed when E began — read by the rebuild, which runs after the lease at E
//! was taken, and a takeover waits for the previous owner's open transactions (they share-lock
//! the lease row) — or one of this node's own inserts since, added here after its COMMIT (a
//! writer round's inserts are kept aside as `Pending` until then, and its own lookups see them
//! from there). The index is per (partition, epoch): a lease lost and taken again is a new epoch,
//! and the first lookup under it rebuilds the partitions this node holds from `dedup_entries`.
//!
//! What the index may hold that the database no longer does: entries removed by an edit (a case
//! closed, on any node). The candidate query reports those (`shared = -1`) and they are
//! forgotten then (lazy removal); the span rule and the existence of the entry are always the
//! database's answer. A COMMIT whose outcome is unknown drops the partition's index (rebuilt at
//! the next lookup), so an insert that did commit is never missing from it.
//!
//! A re-key ([`paidan_store::Store::rekey_dedup`], `dedup`) replaces the keys of every entry:
//! once it has committed the last of them it drops every partition's index, and the next lookup
//! rebuilds it from the re-keyed rows (an index built meanwhile from half-re-keyed rows goes too).
//!
//! Without a lease (one node without fencing, tests, a partition held by another node) the
//! candidate query probes the GIN index as before (`dedup`).

use std::collections::HashMap;
use std::sync::Mutex;

use paidan_store::{Millis, NewCase, OwnerIndex, Result};

use crate::lease::{Ownership, partition_of};
use crate::{PgStore, Tx};

/// The owner's indexes, one per partition held, each at the epoch it was built for.
#[derive(Default)]
pub(crate) struct Owned {
    parts: Mutex<HashMap<u16, Part>>,
}

struct Part {
    epoch: i64,
    index: OwnerIndex,
}

/// A case indexed by an insert not committed yet (a writer round's); added at its COMMIT.
#[derive(Clone, Debug)]
pub(crate) struct Pending {
    pub(crate) partition: u16,
    pub(crate) epoch: i64,
    pub(crate) case: u64,
    pub(crate) jurisdiction: String,
    /// Distinct, sorted.
    pub(crate) bands: Vec<u64>,
    pub(crate) received_at: Millis,
}

impl Pending {
    /// Distinct `bands` this case has, when it is of `jurisdiction` and received by `until`.
    pub(crate) fn shared(&self, jurisdiction: &str, bands: &[u64], until: Millis) -> u32 {
        if self.jurisdiction != jurisdiction || self.received_at > until {
            return 0;
        }
        let mut seen: Vec<u64> = bands
            .iter()
            .copied()
            .filter(|b| self.bands.binary_search(b).is_ok())
            .collect();
        seen.sort_unstable();
        seen.dedup();
        seen.len() as u32
    }
}

/// Every open case's entry, with the case's `received_at` (one scan for every partition to
/// rebuild: the partition is a hash of the jurisdiction, computed here).
const SCAN: &str = "SELECT e.case_id, e.jurisdiction, e.bands, c.received_at
                    FROM dedup_entries e JOIN cases c ON c.id = e.case_id";

impl PgStore {
    /// Candidates of `bands` in `jurisdiction` received by `until` from this node's index, when
    /// it holds the jurisdiction's partition (building the index first if this lease's epoch has
    /// none yet); None when it does not (or the rebuild failed): ask the database.
    pub(crate) fn owned_candidates(
        &self,
        jurisdiction: &str,
        bands: &[u64],
        until: Millis,
    ) -> Option<Vec<(u64, u32)>> {
        let own = self.fencing()?;
        let partition = partition_of(jurisdiction);
        let mut parts = self.owned.parts.lock().unwrap_or_else(|e| e.into_inner());
        let Some(lease) = own.lease(partition) else {
            parts.remove(&partition);
            return None;
        };
        if parts.get(&partition).map(|p| p.epoch) != Some(lease.epoch)
            && let Err(e) = self.rebuild_owned(&mut parts, own)
        {
            tracing::warn!(error = %e, "cannot build the owner's band index; asking the database");
            return None;
        }
        let part = parts
            .get_mut(&partition)
            .filter(|p| p.epoch == lease.epoch)?;
        Some(part.index.candidates(jurisdiction, bands, until))
    }

    /// Build the index of every partition held whose index is missing or of another epoch, in one
    /// scan of the open entries; drop the indexes of partitions no longer held. Runs with the
    /// indexes locked, so an insert committing meanwhile is added after (`owned_commit` waits).
    fn rebuild_owned(&self, parts: &mut HashMap<u16, Part>, own: &Ownership) -> Result<()> {
        let held: HashMap<u16, i64> = own
            .partitions()
            .into_iter()
            .filter_map(|p| own.lease(p).map(|l| (p, l.epoch)))
            .collect();
        parts.retain(|p, part| held.get(p) == Some(&part.epoch));
        let mut fresh: HashMap<u16, Part> = held
            .iter()
            .filter(|(p, _)| !parts.contains_key(p))
            .map(|(&p, &epoch)| {
                let index = OwnerIndex::new();
                (p, Part { epoch, index })
            })
            .collect();
        if fresh.is_empty() {
            return Ok(());
        }
        let started = std::time::Instant::now();
        let mut scanned = 0u64;
        self.read(|s| -> Tx<()> {
            use postgres::fallible_iterator::FallibleIterator;
            let no_params: [&(dyn postgres::types::ToSql + Sync); 0] = [];
            let mut rows = s.c.query_raw(SCAN, no_params)?;
            while let Some(row) = rows.next()? {
                scanned += 1;
                let jurisdiction: &str = row.get(1);
                let Some(part) = fresh.get_mut(&partition_of(jurisdiction)) else {
                    continue;
                };
                let id: &str = row.get(0);
                let case = paidan_store::case_number(id).ok_or_else(|| {
                    paidan_store::StoreError::Corrupt {
                        key: format!("dedup_entries/{id}"),
                        reason: "not a case id this store writes".into(),
                    }
                })?;
                let bands: Vec<i64> = row.get(2);
                let bands: Vec<u64> = bands.into_iter().map(|b| b as u64).collect();
                part.index.insert(case, jurisdiction, &bands, row.get(3));
            }
            Ok(())
        })?;
        let cases: usize = fresh.values().map(|p| p.index.len()).sum();
        tracing::info!(
            partitions = fresh.len(),
            cases,
            scanned,
            ms = started.elapsed().as_millis() as u64,
            "built the owner's band index"
        );
        parts.extend(fresh);
        Ok(())
    }

    /// What an insert adds to the owner's index once it commits: its case, when it was created
    /// with a dedup entry in a partition this node holds.
    pub(crate) fn owned_pending(
        &self,
        new: &NewCase,
        inserted: &paidan_store::Inserted,
    ) -> Option<Pending> {
        let d = new.dedup.as_ref().filter(|_| inserted.created)?;
        let partition = partition_of(&d.jurisdiction);
        let lease = self.fencing()?.lease(partition)?;
        let mut bands = d.bands.clone();
        bands.sort_unstable();
        bands.dedup();
        Some(Pending {
            partition,
            epoch: lease.epoch,
            case: paidan_store::case_number(&inserted.case.id)?,
            jurisdiction: d.jurisdiction.clone(),
            bands,
            received_at: inserted.case.received_at,
        })
    }

    /// After a COMMIT: add the committed inserts to the index of their partition (at their epoch;
    /// an index of another epoch was or will be built from the database). With `committed` false
    /// (the COMMIT's outcome is unknown) their partitions' indexes are dropped instead.
    pub(crate) fn owned_commit(&self, pending: Vec<Pending>, committed: bool) {
        if pending.is_empty() {
            return;
        }
        let mut parts = self.owned.parts.lock().unwrap_or_else(|e| e.into_inner());
        for p in pending {
            if !committed {
                parts.remove(&p.partition);
                continue;
            }
            if let Some(part) = parts.get_mut(&p.partition)
                && part.epoch == p.epoch
            {
                part.index
                    .insert(p.case, &p.jurisdiction, &p.bands, p.received_at);
            }
        }
    }

    /// Drop the index of `partition` (an insert of it may or may not have committed): the next
    /// lookup rebuilds it from the database.
    pub(crate) fn owned_invalidate(&self, partition: u16) {
        let mut parts = self.owned.parts.lock().unwrap_or_else(|e| e.into_inner());
        parts.remove(&partition);
    }

    /// Drop the index of every partition (the entries' keys were re-keyed): the next lookup
    /// rebuilds the partitions held from the database.
    pub(crate) fn owned_invalidate_all(&self) {
        let mut parts = self.owned.parts.lock().unwrap_or_else(|e| e.into_inner());
        parts.clear();
    }

    /// The database has no entry for these cases of `jurisdiction` any more: forget them.
    pub(crate) fn owned_forget(&self, jurisdiction: &str, cases: &[u64]) {
        if cases.is_empty() {
            return;
        }
        let mut parts = self.owned.parts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(part) = parts.get_mut(&partition_of(jurisdiction)) {
            for &c in cases {
                part.index.forget(c);
            }
        }
    }

    /// (partitions indexed, cases indexed, bytes): for the tests and the figures.
    pub fn owner_index_stats(&self) -> (usize, usize, usize) {
        let parts = self.owned.parts.lock().unwrap_or_else(|e| e.into_inner());
        (
            parts.len(),
            parts.values().map(|p| p.index.len()).sum(),
            parts.values().map(|p| p.index.bytes()).sum(),
        )
    }
}
