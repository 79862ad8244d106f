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
//! case). A clean close writes the index to a snapshot file ([`BandIndex::write_snapshot`],
//! CRC-checked) and the next open loads it; after a crash, or when the snapshot is missing,
//! damaged or stale, the index is rebuilt from the entries of the last `keep_ms`.
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
/// Most cases evicted per call: a jump of the newest time (a restart after a long pause, a
/// store filled with old data) is worked off over many writes instead of stalling one.
pub(crate) const EVICT_BATCH: usize = 64;

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

/// The key of band `band` in `jurisdiction`. Where a band sits in the case's list does not
/// matter: the bands are a set. (`paidan-dedup` hashes each LSH band's number into its key and
/// appends a variable set of entity keys; a key that depended on its position would miss an
/// entity shared by two reports that name different numbers of places.)
pub(crate) fn posting_key(jurisdiction_hash: u64, band: u64) -> u64 {
    mix(band ^ jurisdiction_hash)
}

/// The posting keys of a case: one per distinct band.
pub(crate) fn posting_keys(jurisdiction: &str, bands: &[u64]) -> Vec<u64> {
    let jh = jurisdiction_hash(jurisdiction);
    let mut keys: Vec<u64> = bands.iter().map(|b| posting_key(jh, *b)).collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// Open-addressing multimap from 32-bit key hashes to slots, in shards that grow one at a time
/// (no whole-index rehash spike). A cell packs `hash << 32 | slot`. Storing 32 of the key's 64
/// bits means a foreign key matches with probability 2⁻³² per probe: a rare extra candidate, which
/// the caller scores and rejects like any other.
struct Table {
    shards: Vec<Shard>,
}

#[derive(Default)]
struct Shard {
    cells: Vec<u64>,
    live: usize,
    used: usize,
}

const EMPTY: u64 = u64::MAX;
const TOMB: u64 = u64::MAX - 1;
const SHARD_BITS: u32 = 6;

fn hash32(key: u64) -> u32 {
    (key >> 32) as u32
}

impl Shard {
    /// The shard is chosen by the top bits of `h`; the home cell by the others.
    fn home(&self, h: u32) -> usize {
        ((u64::from(h.rotate_left(SHARD_BITS)) * self.cells.len() as u64) >> 32) as usize
    }

    fn next(&self, i: usize) -> usize {
        if i + 1 == self.cells.len() { 0 } else { i + 1 }
    }

    /// Keep the load (live + tombstones) at most 85 %; rebuild at 60 %.
    fn reserve(&mut self) {
        if (self.used + 1) * 100 <= self.cells.len() * 85 {
            return;
        }
        let len = ((self.live + 1) * 100 / 60).max(16);
        let old = std::mem::replace(&mut self.cells, vec![EMPTY; len]);
        self.live = 0;
        self.used = 0;
        for c in old {
            if c != EMPTY && c != TOMB {
                self.put(c);
            }
        }
    }

    fn put(&mut self, cell: u64) {
        let mut i = self.home((cell >> 32) as u32);
        loop {
            let c = self.cells[i];
            if c == EMPTY || c == TOMB {
                if c == EMPTY {
                    self.used += 1;
                }
                self.cells[i] = cell;
                self.live += 1;
                return;
            }
            i = self.next(i);
        }
    }

    fn remove(&mut self, cell: u64) -> bool {
        if self.cells.is_empty() {
            return false;
        }
        let mut i = self.home((cell >> 32) as u32);
        loop {
            let c = self.cells[i];
            if c == EMPTY {
                return false;
            }
            if c == cell {
                self.cells[i] = TOMB;
                self.live -= 1;
                return true;
            }
            i = self.next(i);
        }
    }

    fn find(&self, h: u32, mut f: impl FnMut(u32)) {
        if self.cells.is_empty() {
            return;
        }
        let mut i = self.home(h);
        loop {
            let c = self.cells[i];
            if c == EMPTY {
                return;
            }
            if c != TOMB && (c >> 32) as u32 == h {
                f(c as u32);
            }
            i = self.next(i);
        }
    }
}

impl Table {
    fn new() -> Table {
        Table {
            shards: (0..1 << SHARD_BITS).map(|_| Shard::default()).collect(),
        }
    }

    fn shard(&mut self, h: u32) -> &mut Shard {
        &mut self.shards[(h >> (32 - SHARD_BITS)) as usize]
    }

    fn insert(&mut self, key: u64, slot: u32) {
        let h = hash32(key);
        let s = self.shard(h);
        s.reserve();
        s.put(u64::from(h) << 32 | u64::from(slot));
    }

    fn remove(&mut self, key: u64, slot: u32) -> bool {
        let h = hash32(key);
        self.shard(h).remove(u64::from(h) << 32 | u64::from(slot))
    }

    fn find(&self, key: u64, f: impl FnMut(u32)) {
        let h = hash32(key);
        self.shards[(h >> (32 - SHARD_BITS)) as usize].find(h, f)
    }

    fn len(&self) -> usize {
        self.shards.iter().map(|s| s.live).sum()
    }

    fn bytes(&self) -> usize {
        self.shards.iter().map(|s| s.cells.len() * 8).sum()
    }
}

struct Slot {
    case: u64,
    received_at: Millis,
    active_at: Millis,
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
    postings: Table,
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
            postings: Table::new(),
        }
    }

    pub(crate) fn horizon(&self) -> Millis {
        self.horizon
    }

    pub(crate) fn len(&self) -> usize {
        self.by_case.len()
    }

    /// (postings, bytes of the posting table).
    pub(crate) fn postings_stats(&self) -> (usize, usize) {
        (self.postings.len(), self.postings.bytes())
    }

    /// Index case number `case` under `keys` (from [`posting_keys`]), received at `at`, its
    /// matter last reported at `active_at` (≥ `at`). False (nothing kept) when the case is
    /// already indexed or older than the horizon (the store's range scan finds those).
    pub(crate) fn insert(
        &mut self,
        case: u64,
        keys: &[u64],
        at: Millis,
        active_at: Millis,
    ) -> bool {
        let active_at = active_at.max(at);
        if active_at < self.horizon || self.by_case.contains_key(&case) {
            return false;
        }
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.slots.push(None);
                (self.slots.len() - 1) as u32
            }
        };
        for &k in keys {
            self.postings.insert(k, slot);
        }
        self.slots[slot as usize] = Some(Slot {
            case,
            received_at: at,
            active_at,
        });
        self.by_case.insert(case, slot);
        self.by_time.insert((active_at, slot));
        self.newest = self.newest.max(active_at);
        true
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
            self.newest = self.newest.max(at);
        }
        true
    }

    /// Drop case `case`, indexed under `keys`.
    pub(crate) fn remove(&mut self, case: u64, keys: &[u64]) -> bool {
        let Some(slot) = self.by_case.remove(&case) else {
            return false;
        };
        for &k in keys {
            self.postings.remove(k, slot);
        }
        if let Some(s) = self.slots[slot as usize].take() {
            self.by_time.remove(&(s.active_at, slot));
        }
        self.free.push(slot);
        true
    }

    /// When the horizon is due to advance (amortised in steps of an hour): the new horizon and
    /// the cases (at most `limit`) to drop before moving it there ([`BandIndex::remove`] each,
    /// then [`BandIndex::set_horizon`]). With more than `limit` to go, the horizon stops at the
    /// oldest case that stays.
    pub(crate) fn expired(&self, limit: usize) -> Option<(Millis, Vec<u64>)> {
        let target = self.newest.saturating_sub(self.keep_ms);
        if target <= self.horizon.saturating_add(EVICT_STEP_MS) {
            return None;
        }
        let mut below = self.by_time.range(..(target, 0));
        let mut cases = Vec::new();
        for &(_, slot) in below.by_ref().take(limit) {
            if let Some(s) = &self.slots[slot as usize] {
                cases.push(s.case);
            }
        }
        let horizon = match below.next() {
            Some(&(at, _)) => at,
            None => target,
        };
        Some((horizon, cases))
    }

    pub(crate) fn set_horizon(&mut self, horizon: Millis) {
        self.horizon = self.horizon.max(horizon);
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
        for &k in keys {
            self.postings.find(k, |slot| {
                if let Some(s) = &self.slots[slot as usize]
                    && s.received_at <= until
                    && s.active_at >= since
                {
                    *out.entry(s.case).or_default() += 1;
                }
            });
        }
    }

    /// Whether `case` is indexed under every one of `keys` (consistency checks).
    pub(crate) fn indexed_under(&self, case: u64, keys: &[u64]) -> bool {
        let Some(&slot) = self.by_case.get(&case) else {
            return false;
        };
        keys.iter().all(|&k| {
            let mut found = false;
            self.postings.find(k, |s| found |= s == slot);
            found
        })
    }

    /// Every indexed case: (case number, received_at, active_at). For consistency checks.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (u64, Millis, Millis)> {
        self.slots
            .iter()
            .flatten()
            .map(|s| (s.case, s.received_at, s.active_at))
    }
}

mod snapshot;

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

    fn add(
        ix: &mut BandIndex,
        case: u64,
        j: &str,
        bands: &[u64],
        at: Millis,
        active: Millis,
    ) -> bool {
        ix.insert(case, &posting_keys(j, bands), at, active)
    }

    fn evict(ix: &mut BandIndex, keys_of: impl Fn(u64) -> Vec<u64>) {
        while let Some((h, cases)) = ix.expired(2) {
            for c in cases {
                ix.remove(c, &keys_of(c));
            }
            ix.set_horizon(h);
        }
    }

    #[test]
    fn candidates_share_keys_by_value_jurisdiction_and_time() {
        let mut ix = BandIndex::new(30 * DAY, Millis::MIN);
        let t = 1_000 * DAY;
        add(&mut ix, 1, "A", &[10, 20, 30], t, t);
        add(&mut ix, 2, "A", &[10, 21, 31], t + DAY, t + DAY);
        add(&mut ix, 3, "B", &[10, 20, 30], t, t);
        // The same keys in another order (a report naming more places shifts its entity keys).
        add(&mut ix, 4, "A", &[20, 10, 30], t, t);
        add(&mut ix, 5, "A", &[7, 8, 9, 30], t, t);
        type Row<'a> = (&'a str, &'a [u64], Millis, Millis, &'a [(u64, u32)]);
        let table: &[Row<'_>] = &[
            (
                "A",
                &[10, 20, 30],
                t,
                t + DAY,
                &[(1, 3), (2, 1), (4, 3), (5, 1)],
            ),
            ("A", &[30], t, t, &[(1, 1), (4, 1), (5, 1)]),
            ("A", &[10, 20, 30], t + 1, t + DAY, &[(2, 1)]),
            ("A", &[10, 20, 30], t - DAY, t - 1, &[]),
            ("B", &[10, 20, 30], 0, Millis::MAX, &[(3, 3)]),
            ("C", &[10, 20, 30], 0, Millis::MAX, &[]),
            ("A", &[99, 98, 97], 0, Millis::MAX, &[]),
        ];
        for (j, bands, since, until, want) in table {
            assert_eq!(found(&ix, j, bands, *since, *until), *want, "{j} {bands:?}");
        }
        assert!(ix.remove(1, &posting_keys("A", &[10, 20, 30])));
        assert!(!ix.remove(1, &posting_keys("A", &[10, 20, 30])));
        assert_eq!(
            found(&ix, "A", &[10, 20, 30], 0, Millis::MAX),
            vec![(2, 1), (4, 3), (5, 1)]
        );
        assert!(!add(&mut ix, 2, "A", &[50], t, t), "already indexed");
        assert_eq!(ix.len(), 4);
        assert!(ix.indexed_under(4, &posting_keys("A", &[20, 10, 30])));
        assert!(!ix.indexed_under(4, &posting_keys("A", &[20, 10, 31])));
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
        let keys = |_| posting_keys("A", &[1]);
        add(&mut ix, 1, "A", &[1], t, t);
        add(&mut ix, 2, "A", &[1], t + 10 * DAY, t + 10 * DAY);
        add(&mut ix, 6, "A", &[1], t, t);
        assert!(ix.bump(6, t + 6 * DAY));
        evict(&mut ix, keys);
        assert_eq!(ix.len(), 3);
        // newest moves 35 days past case 1: horizon = t + 5 days, case 1 leaves; case 6 stays
        // (its matter was reported on day 6)
        add(&mut ix, 3, "A", &[1], t + 35 * DAY, t + 35 * DAY);
        evict(&mut ix, keys);
        assert_eq!(ix.horizon(), t + 5 * DAY);
        assert_eq!(
            found(&ix, "A", &[1], 0, Millis::MAX),
            vec![(2, 1), (3, 1), (6, 1)]
        );
        // back-dated entries below the horizon are not kept
        assert!(!add(&mut ix, 4, "A", &[1], t, t));
        assert_eq!(ix.len(), 3);
        // slots are reused
        add(&mut ix, 5, "A", &[1], t + 20 * DAY, t + 20 * DAY);
        assert_eq!(ix.len(), 4);
        assert_eq!(ix.slots.len(), 4);
        assert_eq!(ix.postings_stats().0, 4);
    }

    #[test]
    fn the_posting_table_grows_removes_and_finds_every_posting() {
        let mut t = Table::new();
        // (key, slot): many keys, some shared by several slots, hashes colliding in the top bits
        let pairs: Vec<(u64, u32)> = (0..20_000u64)
            .map(|i| (mix(i % 7_000) | (i % 3) << 63, (i % 5_000) as u32))
            .collect();
        let mut unique = std::collections::HashSet::new();
        for &(k, s) in &pairs {
            if unique.insert((hash32(k), s)) {
                t.insert(k, s);
            }
        }
        assert_eq!(t.len(), unique.len());
        for &(k, s) in pairs.iter().step_by(7) {
            let mut got = Vec::new();
            t.find(k, |x| got.push(x));
            assert!(got.contains(&s), "{k:x} {s}");
        }
        // remove half, the rest is still found, the removed are not
        for (i, &(k, s)) in pairs.iter().enumerate() {
            if i % 2 == 0 {
                t.remove(k, s);
            }
        }
        for (i, &(k, s)) in pairs.iter().enumerate().step_by(3) {
            let mut got = Vec::new();
            t.find(k, |x| got.push(x));
            let kept = pairs
                .iter()
                .enumerate()
                .any(|(j, p)| j % 2 == 1 && hash32(p.0) == hash32(k) && p.1 == s);
            assert_eq!(got.contains(&s), kept, "{i}");
        }
    }
    #[test]
    fn a_snapshot_reads_back_as_the_same_index_and_refuses_damage() {
        let mut ix = BandIndex::new(30 * DAY, Millis::MIN);
        let t = 1_000 * DAY;
        let bands = |c: u64| vec![c % 7, c % 11 + 100, c % 13 + 200];
        for c in 1..400 {
            add(
                &mut ix,
                c,
                if c % 3 == 0 { "B" } else { "A" },
                &bands(c),
                t + c as Millis * 3_600_000,
                t + c as Millis * 3_600_000,
            );
        }
        for c in (1..400).step_by(5) {
            let j = if c % 3 == 0 { "B" } else { "A" };
            assert!(ix.remove(c, &posting_keys(j, &bands(c))));
        }
        assert!(ix.bump(2, t + 40 * DAY));
        let mut bytes = Vec::new();
        ix.write_snapshot(&mut bytes, 42).unwrap();

        let back = BandIndex::read_snapshot(bytes.as_slice(), 42, 30 * DAY)
            .unwrap()
            .expect("same token and keep");
        assert_eq!(back.len(), ix.len());
        assert_eq!(back.horizon(), ix.horizon());
        assert_eq!(back.postings_stats(), ix.postings_stats());
        assert_eq!(
            back.entries().collect::<Vec<_>>(),
            ix.entries().collect::<Vec<_>>()
        );
        assert_eq!(back.expired(1000), ix.expired(1000));
        for q in 0..40 {
            for j in ["A", "B"] {
                for (since, until) in [(0, Millis::MAX), (t + 10 * DAY, t + 41 * DAY)] {
                    assert_eq!(
                        found(&back, j, &bands(q), since, until),
                        found(&ix, j, &bands(q), since, until),
                        "{j} {q}"
                    );
                }
            }
        }
        // the read-back index takes writes like the original (free slots reused)
        let mut back = back;
        assert!(add(&mut back, 1000, "A", &bands(1), t, t));
        assert!(found(&back, "A", &bands(1), 0, Millis::MAX).contains(&(1000, 3)));

        // another store's token or another window: not this index
        assert!(
            BandIndex::read_snapshot(bytes.as_slice(), 43, 30 * DAY)
                .unwrap()
                .is_none()
        );
        assert!(
            BandIndex::read_snapshot(bytes.as_slice(), 42, 31 * DAY)
                .unwrap()
                .is_none()
        );
        // damage: truncated, one flipped bit anywhere after the header, not a snapshot
        for cut in [0, 7, 30, bytes.len() / 2, bytes.len() - 1] {
            assert!(
                BandIndex::read_snapshot(&bytes[..cut], 42, 30 * DAY).is_err(),
                "cut at {cut}"
            );
        }
        for at in [40, 100, bytes.len() / 3, bytes.len() - 200, bytes.len() - 2] {
            let mut bad = bytes.clone();
            bad[at] ^= 0x10;
            assert!(
                BandIndex::read_snapshot(bad.as_slice(), 42, 30 * DAY).is_err(),
                "flip at {at}"
            );
        }
        assert!(BandIndex::read_snapshot(&b"not a snapshot at all"[..], 42, 30 * DAY).is_err());
    }
}
