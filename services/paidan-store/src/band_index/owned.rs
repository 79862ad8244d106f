//! [`OwnerIndex`]: the band index for a store that keeps the truth elsewhere and asks memory only
//! *which* cases share keys with a report (paidan-store-pg: a partition's owner, issue 18).
//!
//! Why a separate face on the same table: the sled store's index tracks each matter's activity
//! span and evicts behind a horizon, because sled has nothing cheaper to answer the time rule
//! with. On PostgreSQL the span is a column the candidate query reads anyway (with the
//! candidates' entries and cases), so the owner's index keeps no span: it filters on the
//! case's own `received_at` (which never changes) and leaves the rest of the rule, and whether
//! the entry still exists, to the store. What it saves is the part that costs: finding the cases
//! under ~16 band keys (~46 before fingerprint version 3). Cases are forgotten when the store finds their entry gone (a case closed
//! on any node), without their keys: their cells leave with the sweep, as evicted ones do.

use super::{BandIndex, posting_keys};
use crate::types::Millis;

/// Band postings of the open cases of some jurisdictions, by case number.
pub struct OwnerIndex {
    index: BandIndex,
}

impl Default for OwnerIndex {
    fn default() -> Self {
        OwnerIndex::new()
    }
}

impl OwnerIndex {
    pub fn new() -> OwnerIndex {
        OwnerIndex {
            // Nothing is ever behind the horizon: every case is indexed with an open-ended span.
            index: BandIndex::new(0, Millis::MIN),
        }
    }

    /// Index case number `case` of `jurisdiction` under its `bands`, received at `received_at`.
    /// False (nothing changes) when the case is indexed already.
    pub fn insert(
        &mut self,
        case: u64,
        jurisdiction: &str,
        bands: &[u64],
        received_at: Millis,
    ) -> bool {
        let keys = posting_keys(jurisdiction, bands);
        let added = self.index.insert(case, &keys, received_at, Millis::MAX);
        self.index.sweep_if_due();
        added
    }

    /// Drop case `case` (its dedup entry is gone). False when it was not indexed.
    pub fn forget(&mut self, case: u64) -> bool {
        let gone = self.index.forget(case);
        self.index.sweep_if_due();
        gone
    }

    /// Indexed cases of `jurisdiction` received at or before `until` that share at least one of
    /// `bands`, with the number of distinct bands shared, in no particular order. A case may
    /// share a 32-bit key hash by chance (probability 2⁻³² a probe) and come back with one band
    /// too many: the caller scores every candidate on its fingerprint, as with the sled store.
    pub fn candidates(&self, jurisdiction: &str, bands: &[u64], until: Millis) -> Vec<(u64, u32)> {
        let keys = posting_keys(jurisdiction, bands);
        let mut out = Vec::new();
        self.index.candidates(&keys, Millis::MIN, until, &mut out);
        out
    }

    /// Cases indexed.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes the index holds (see the sled store's index).
    pub fn bytes(&self) -> usize {
        self.index.bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(mut v: Vec<(u64, u32)>) -> Vec<(u64, u32)> {
        v.sort_unstable();
        v
    }

    #[test]
    fn finds_by_shared_bands_within_a_jurisdiction_and_forgets() {
        let mut ix = OwnerIndex::new();
        assert!(ix.insert(1, "330106", &[10, 20, 30], 100));
        assert!(ix.insert(2, "330106", &[10, 99], 200));
        assert!(ix.insert(3, "330102", &[10, 20, 30], 100));
        assert!(!ix.insert(1, "330106", &[10], 100), "indexed once");
        // (jurisdiction, bands, until, expected)
        type Row = (&'static str, Vec<u64>, Millis, Vec<(u64, u32)>);
        let table: Vec<Row> = vec![
            ("330106", vec![10, 20, 30], 1000, vec![(1, 3), (2, 1)]),
            ("330106", vec![30, 20, 10, 10], 1000, vec![(1, 3), (2, 1)]),
            ("330106", vec![10], 150, vec![(1, 1)]),
            ("330102", vec![10, 99], 1000, vec![(3, 1)]),
            ("110000", vec![10, 20, 30], 1000, vec![]),
            ("330106", vec![], 1000, vec![]),
        ];
        for (j, bands, until, want) in table {
            assert_eq!(
                sorted(ix.candidates(j, &bands, until)),
                want,
                "{j} {bands:?}"
            );
        }
        assert!(ix.forget(1));
        assert!(!ix.forget(1));
        assert_eq!(
            sorted(ix.candidates("330106", &[10, 20], 1000)),
            vec![(2, 1)]
        );
        assert_eq!(ix.len(), 2);
    }

    #[test]
    fn memory_stays_bounded_as_cases_come_and_go() {
        let mut ix = OwnerIndex::new();
        let rounds = 64u64;
        for round in 0..rounds {
            for c in 0..1000u64 {
                ix.insert(round * 1000 + c, "j", &[c, c + 1_000_000, 7], 0);
            }
            for c in 0..1000u64 {
                assert!(ix.forget(round * 1000 + c));
            }
        }
        assert!(ix.is_empty());
        assert!(ix.candidates("j", &[7], 0).is_empty());
        // Forgotten cases' cells are swept a shard at a time and their slots reused: the index
        // does not grow with the 64,000 cases it has seen (a full sweep pass takes 64 × 256
        // operations, so about 16,000 forgotten cases can wait for theirs).
        let slots = ix.index.slots.len();
        assert!(slots < 32_000, "slots: {slots}");
        assert!(
            ix.index.stale_cells() < 3 * 32_000,
            "{}",
            ix.index.stale_cells()
        );
    }
}
