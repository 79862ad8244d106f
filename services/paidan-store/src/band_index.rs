//! The in-memory LSH band index of the dedup entries that can still match.
//!
//! A report is only ever compared with reports of matters active inside the dedup window around
//! its own `received_at`. Every indexed entry carries its *activity span*: from its own
//! `received_at` to `active_at`, the latest report of its matter as far as the index knows (at
//! least the true one: the store bumps it when a report is linked or cases are merged, and never
//! lowers it, so the span may be wider than the truth, never narrower). The index holds the
//! entries whose `active_at` is at or after a *horizon* that trails the newest `active_at` by
//! `keep_ms` (the window plus slack). Older entries stay in sled (`dedup_entries`); a lookup whose
//! time range reaches below the horizon (a back-dated report) finds them with a range scan of the
//! jurisdiction's time index instead. Both together give every entry whose span meets the range;
//! the caller applies the exact window rule to what it gets.
//!
//! The index is derived data: `dedup_entries` is the truth (written in the same transaction as the
//! case) and the index is rebuilt from the entries of the last `keep_ms` when the store opens.
//!
//! Memory: one posting (4 bytes) per band key of every indexed case plus one hash-map slot per
//! distinct key; the keys of every case are kept with it so closing or evicting it is local.

use std::collections::{BTreeSet, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

use crate::types::Millis;

/// Keys are already uniform 64-bit hashes: one multiply spreads them over the table.
#[derive(Default)]
pub(crate) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0 ^ v).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    fn write_u32(&mut self, v: u32) {
        self.write_u64(u64::from(v));
    }
}

pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<KeyHasher>>;

/// After the horizon could advance by this much, evict (amortises the eviction scans).
const EVICT_STEP_MS: Millis = 60 * 60 * 1000;

fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// FNV-1a of the jurisdiction, mixed.
fn jurisdiction_hash(j: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in j.as_bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    mix(h)
}

/// The key of band `band` at position `index` in `jurisdiction` (same bucket as the sled key
/// `len ‖ jurisdiction ‖ band index ‖ band` of schema 1, up to 64-bit hash collisions).
pub(crate) fn posting_key(jurisdiction_hash: u64, index: usize, band: u64) -> u64 {
    mix(band ^ jurisdiction_hash ^ mix(index as u64 + 1))
}

/// The posting keys of a case: one per (position, band), de-duplicated.
pub(crate) fn posting_keys(jurisdiction: &str, bands: &[u64]) -> Vec<u64> {
    let jh = jurisdiction_hash(jurisdiction);
    let mut keys: Vec<u64> = bands
        .iter()
        .enumerate()
        .map(|(i, b)| posting_key(jh, i, *b))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

enum Postings {
    One(u32),
    Many(Vec<u32>),
}

struct Slot {
    case: u64,
    received_at: Millis,
    active_at: Millis,
    keys: Box<[u64]>,
}

pub(crate) struct BandIndex {
    keep_ms: Millis,
    newest: Millis,
    /// Every open dedup entry with `active_at >= horizon` is indexed here; none older is.
    horizon: Millis,
    slots: Vec<Option<Slot>>,
    free: Vec<u32>,
    by_case: FastMap<u64, u32>,
    by_time: BTreeSet<(Millis, u32)>,
    postings: FastMap<u64, Postings>,
}

impl BandIndex {
    /// An index that keeps `keep_ms` behind the newest entry, covering everything from `horizon`.
    pub(crate) fn new(keep_ms: Millis, horizon: Millis) -> BandIndex {
        BandIndex {
            keep_ms: keep_ms.max(0),
            newest: Millis::MIN,
            horizon,
            slots: Vec::new(),
            free: Vec::new(),
            by_case: FastMap::default(),
            by_time: BTreeSet::new(),
            postings: FastMap::default(),
        }
    }

    pub(crate) fn horizon(&self) -> Millis {
        self.horizon
    }

    pub(crate) fn len(&self) -> usize {
        self.by_case.len()
    }

    /// Index case number `case` (replacing what it had), received at `at`, its matter last
    /// reported at `active_at` (≥ `at`). Entries older than the horizon are not kept (they are
    /// found by the store's range scan).
    pub(crate) fn insert(
        &mut self,
        case: u64,
        jurisdiction: &str,
        bands: &[u64],
        at: Millis,
        active_at: Millis,
    ) {
        self.remove(case);
        let active_at = active_at.max(at);
        if active_at < self.horizon {
            return;
        }
        let keys = posting_keys(jurisdiction, bands).into_boxed_slice();
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.slots.push(None);
                (self.slots.len() - 1) as u32
            }
        };
        for &k in keys.iter() {
            match self.postings.get_mut(&k) {
                None => {
                    self.postings.insert(k, Postings::One(slot));
                }
                Some(p) => match p {
                    Postings::One(other) => *p = Postings::Many(vec![*other, slot]),
                    Postings::Many(v) => v.push(slot),
                },
            }
        }
        self.slots[slot as usize] = Some(Slot {
            case,
            received_at: at,
            active_at,
            keys,
        });
        self.by_case.insert(case, slot);
        self.by_time.insert((active_at, slot));
        self.advance(active_at);
    }

    /// The matter of `case` was reported at `at`: widen its span. False when the case is not
    /// indexed (the caller loads it from the store if `at` reaches the horizon).
    pub(crate) fn bump(&mut self, case: u64, at: Millis) -> bool {
        let Some(&slot) = self.by_case.get(&case) else {
            return false;
        };
        let Some(s) = self.slots[slot as usize].as_mut() else {
            return false;
        };
        if at > s.active_at {
            self.by_time.remove(&(s.active_at, slot));
            s.active_at = at;
            self.by_time.insert((at, slot));
            self.advance(at);
        }
        true
    }

    fn advance(&mut self, at: Millis) {
        if at > self.newest {
            self.newest = at;
            self.evict();
        }
    }

    pub(crate) fn remove(&mut self, case: u64) -> bool {
        let Some(slot) = self.by_case.remove(&case) else {
            return false;
        };
        self.drop_slot(slot);
        true
    }

    fn drop_slot(&mut self, slot: u32) {
        let Some(s) = self.slots[slot as usize].take() else {
            return;
        };
        for k in s.keys.iter() {
            // None: keep as is; Some(None): drop the key; Some(Some(x)): back to one posting.
            let action = match self.postings.get_mut(k) {
                Some(Postings::One(x)) if *x == slot => Some(None),
                Some(Postings::Many(v)) => {
                    if let Some(pos) = v.iter().position(|x| *x == slot) {
                        v.swap_remove(pos);
                    }
                    match v.len() {
                        0 => Some(None),
                        1 => Some(Some(v[0])),
                        _ => None,
                    }
                }
                _ => None,
            };
            match action {
                Some(None) => {
                    self.postings.remove(k);
                }
                Some(Some(x)) => {
                    self.postings.insert(*k, Postings::One(x));
                }
                None => {}
            }
        }
        self.by_time.remove(&(s.active_at, slot));
        self.by_case.remove(&s.case);
        self.free.push(slot);
    }

    fn evict(&mut self) {
        let target = self.newest.saturating_sub(self.keep_ms);
        if target <= self.horizon.saturating_add(EVICT_STEP_MS) {
            return;
        }
        while let Some(&(at, slot)) = self.by_time.first() {
            if at >= target {
                break;
            }
            self.drop_slot(slot);
        }
        self.horizon = target;
    }

    /// Indexed cases sharing at least one key with `keys` (from [`posting_keys`]) whose activity
    /// span meets `[since, until]`, with the number of shared keys.
    pub(crate) fn candidates(
        &self,
        keys: &[u64],
        since: Millis,
        until: Millis,
        out: &mut FastMap<u64, u32>,
    ) {
        let mut visit = |slot: u32| {
            if let Some(s) = &self.slots[slot as usize]
                && s.received_at <= until
                && s.active_at >= since
            {
                *out.entry(s.case).or_default() += 1;
            }
        };
        for k in keys {
            match self.postings.get(k) {
                None => {}
                Some(Postings::One(s)) => visit(*s),
                Some(Postings::Many(v)) => v.iter().for_each(|s| visit(*s)),
            }
        }
    }

    /// Every indexed case: (case number, received_at, active_at, keys). For consistency checks.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (u64, Millis, Millis, &[u64])> {
        self.slots
            .iter()
            .flatten()
            .map(|s| (s.case, s.received_at, s.active_at, &s.keys[..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Millis = 24 * 3600 * 1000;

    fn found(
        ix: &BandIndex,
        j: &str,
        bands: &[u64],
        since: Millis,
        until: Millis,
    ) -> Vec<(u64, u32)> {
        let mut m = FastMap::default();
        ix.candidates(&posting_keys(j, bands), since, until, &mut m);
        let mut v: Vec<(u64, u32)> = m.into_iter().collect();
        v.sort_unstable();
        v
    }

    #[test]
    fn candidates_share_keys_by_position_jurisdiction_and_time() {
        let mut ix = BandIndex::new(30 * DAY, Millis::MIN);
        let t = 1_000 * DAY;
        ix.insert(1, "A", &[10, 20, 30], t, t);
        ix.insert(2, "A", &[10, 21, 31], t + DAY, t + DAY);
        ix.insert(3, "B", &[10, 20, 30], t, t);
        ix.insert(4, "A", &[20, 10, 30], t, t);
        // (jurisdiction, bands, since, until, expected)
        type Row<'a> = (&'a str, &'a [u64], Millis, Millis, &'a [(u64, u32)]);
        let table: &[Row<'_>] = &[
            ("A", &[10, 20, 30], t, t + DAY, &[(1, 3), (2, 1), (4, 1)]),
            ("A", &[10, 20, 30], t + 1, t + DAY, &[(2, 1)]),
            ("A", &[10, 20, 30], t - DAY, t - 1, &[]),
            ("B", &[10, 20, 30], 0, Millis::MAX, &[(3, 3)]),
            ("C", &[10, 20, 30], 0, Millis::MAX, &[]),
            ("A", &[99, 98, 97], 0, Millis::MAX, &[]),
        ];
        for (j, bands, since, until, want) in table {
            assert_eq!(found(&ix, j, bands, *since, *until), *want, "{j} {bands:?}");
        }
        assert!(ix.remove(1));
        assert!(!ix.remove(1));
        assert_eq!(
            found(&ix, "A", &[10, 20, 30], 0, Millis::MAX),
            vec![(2, 1), (4, 1)]
        );
        // re-inserting replaces
        ix.insert(2, "A", &[50], t, t);
        assert_eq!(found(&ix, "A", &[10, 20, 30], 0, Millis::MAX), vec![(4, 1)]);
        assert_eq!(ix.len(), 3);
        // a later report of its matter widens a case's span
        assert_eq!(
            found(&ix, "A", &[20, 10, 30], t + 5 * DAY, t + 6 * DAY),
            vec![]
        );
        assert!(ix.bump(4, t + 5 * DAY));
        assert!(!ix.bump(99, t + 5 * DAY));
        assert_eq!(
            found(&ix, "A", &[20, 10, 30], t + 5 * DAY, t + 6 * DAY),
            vec![(4, 3)]
        );
        // but not before it was received
        assert_eq!(found(&ix, "A", &[20, 10, 30], t - 2 * DAY, t - DAY), vec![]);
    }

    #[test]
    fn old_entries_leave_as_the_horizon_advances() {
        let mut ix = BandIndex::new(30 * DAY, Millis::MIN);
        let t = 1_000 * DAY;
        ix.insert(1, "A", &[1], t, t);
        ix.insert(2, "A", &[1], t + 10 * DAY, t + 10 * DAY);
        ix.insert(6, "A", &[1], t, t);
        assert!(ix.bump(6, t + 6 * DAY));
        assert_eq!(ix.len(), 3);
        // newest moves 35 days past case 1: horizon = t + 5 days, case 1 leaves; case 6 stays
        // (its matter was reported on day 6)
        ix.insert(3, "A", &[1], t + 35 * DAY, t + 35 * DAY);
        assert_eq!(ix.horizon(), t + 5 * DAY);
        assert_eq!(
            found(&ix, "A", &[1], 0, Millis::MAX),
            vec![(2, 1), (3, 1), (6, 1)]
        );
        // back-dated entries below the horizon are not kept
        ix.insert(4, "A", &[1], t, t);
        assert_eq!(ix.len(), 3);
        // slots are reused
        ix.insert(5, "A", &[1], t + 20 * DAY, t + 20 * DAY);
        assert_eq!(ix.len(), 4);
        assert_eq!(ix.slots.len(), 4);
    }
}
