//! The in-memory LSH band index of the dedup entries that can still match.
//!
//! A report is only ever compared with reports of matters active inside the dedup window around
//! its own `received_at`. Every indexed entry carries its *activity span*: from its own
//! `received_at` to `active_at`, the latest report of its matter as far as the index knows (at
//! least the true one: the store bumps it when a report is linked or cases are merged, and never
//! lowers it, so the span may be wider than the truth, never narrower; the index keeps its end
//! rounded up to the second). The index holds the entries whose `active_at` is at or after a
//! *horizon* that trails the newest `active_at` by `keep_ms` (the window plus slack); those it
//! passes leave within a few writes (and may be found here meanwhile, as well as in the store).
//! Older entries stay in sled (`dedup_entries`); a lookup whose time range reaches below the
//! horizon (a back-dated report) finds them with a range scan of the jurisdiction's time index
//! instead. Both together give every entry whose span meets the range; the caller takes each
//! once and applies the exact window rule to what it gets.
//!
//! The index is derived data: `dedup_entries` is the truth (written in the same transaction as the
//! case). A clean close writes the index to a snapshot file ([`BandIndex::write_snapshot`],
//! CRC-checked) and the next open loads it; after a crash, or when the snapshot is missing,
//! damaged or stale, the index is rebuilt from the entries of the last `keep_ms`.
//!
//! Memory (~190 bytes a windowed case at fingerprint version 3; bench-notes, session 14): one
//! 7-byte cell (26 bits of the key's hash beside the shard's, the slot) per band key of every
//! indexed case, in a Robin Hood table at most 90 % full (see `Table` and `Cells`); a 24-byte
//! slot per case; a hash table of slot numbers to find a case's slot (5 bytes a bucket); and the
//! slots listed by the hour their span ends in, for eviction (4 bytes a listing). The keys of a
//! case are not kept: closing or merging a case has them at hand (from its dedup entry in the
//! same edit), and evicting a case behind the horizon does not need them — its cells are left
//! behind and swept shard by shard (see `FREE`), so eviction reads nothing from the store.

use std::collections::BTreeMap;

use crate::types::Millis;

/// After the horizon could advance by this much, evict (amortises the eviction scans).
const EVICT_STEP_MS: Millis = 60 * 60 * 1000;
/// Most cases evicted per call: a jump of the newest time (a restart after a long pause, a
/// store filled with old data) is worked off over many writes instead of stalling one. (An
/// eviction reads nothing from the store, so this bounds only the in-memory work.)
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
///
/// Robin Hood probing with backward-shift deletion: a cell never sits further from its home than
/// the cells it passed, so a probe for a key stops at the first cell nearer its own home than the
/// probe has come (a missing key is known after a few cells), and a removal shifts the cells after
/// it back instead of leaving a tombstone. That keeps probes short at 90 % load, where linear
/// probing had to stop at 85 % and rebuild to 60 % (the table at 1M cases sat at 63 %: 598 of
/// the 699 index bytes a case, bench-notes session 11).
struct Table {
    shards: Vec<Shard>,
}

struct Shard {
    cells: Cells,
    live: usize,
    /// Cells in use: `live` here (no tombstones); kept for the snapshot format, whose version 3
    /// (linear probing) counted tombstones in it.
    used: usize,
}

/// Bits of a cell's slot: at most `MAX_SLOTS` slots (a billion cases; at ~190 bytes a case,
/// beyond the memory of any one node).
const SLOT_BITS: u32 = 30;
const SLOT_MASK: u64 = (1 << SLOT_BITS) - 1;
/// Slots an index holds at most (the last slot number, with all hash bits set, is `EMPTY`).
pub(crate) const MAX_SLOTS: usize = SLOT_MASK as usize;
/// Bits of the key hash a cell stores: the 32 of `hash32` less the shard's (implied by the
/// shard the cell is in).
const CELL_HASH_MASK: u64 = (1 << (32 - SHARD_BITS)) - 1;
/// A packed empty cell: all 56 bits set.
const PACKED_EMPTY: u64 = (1 << 56) - 1;
/// Bytes of a packed cell.
const CELL_BYTES: usize = 7;

/// A shard's cells, 7 bytes each: the 26 bits of the key hash below the shard's 6 and a 30-bit
/// slot. The table is most of the index (~17 cells a case at fingerprint version 3), and a cell
/// of `u64` spent a byte on bits the shard already says. The code works on unpacked cells
/// (`hash32 << 32 | slot`, [`EMPTY`] for an empty one): [`Cells::get`] and [`Cells::set`]
/// convert. One spare byte at the end lets `get` read every cell as an unaligned `u64`.
#[derive(Debug, PartialEq, Eq)]
struct Cells {
    bytes: Vec<u8>,
    n: usize,
    /// The shard's bits of every hash in it, in place (`shard << 26`).
    top: u32,
}

impl Cells {
    fn empty(top: u32) -> Cells {
        Cells {
            bytes: Vec::new(),
            n: 0,
            top,
        }
    }

    /// `n` empty cells, no spare capacity.
    fn filled(top: u32, n: usize) -> Cells {
        let bytes = if n == 0 {
            Vec::new()
        } else {
            vec![0xFF; n * CELL_BYTES + 1]
        };
        Cells { bytes, n, top }
    }

    fn len(&self) -> usize {
        self.n
    }

    fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Cells the buffer has room for.
    #[cfg(test)]
    fn capacity(&self) -> usize {
        self.bytes.capacity().saturating_sub(1) / CELL_BYTES
    }

    /// Bytes the buffer takes.
    fn bytes(&self) -> usize {
        self.bytes.capacity()
    }

    /// Cell `i` as packed (`PACKED_EMPTY` for an empty one).
    #[inline]
    fn raw(&self, i: usize) -> u64 {
        let at = i * CELL_BYTES;
        let word: &[u8; 8] = self.bytes[at..at + 8].try_into().expect("8 bytes");
        u64::from_le_bytes(*word) & PACKED_EMPTY
    }

    #[inline]
    fn set_raw(&mut self, i: usize, p: u64) {
        let at = i * CELL_BYTES;
        self.bytes[at..at + CELL_BYTES].copy_from_slice(&p.to_le_bytes()[..CELL_BYTES]);
    }

    #[inline]
    fn pack(&self, c: u64) -> u64 {
        if c == EMPTY {
            return PACKED_EMPTY;
        }
        debug_assert_eq!((c >> 32) as u32 & !(CELL_HASH_MASK as u32), self.top);
        debug_assert!(c & 0xFFFF_FFFF < SLOT_MASK);
        (c >> 32 & CELL_HASH_MASK) << SLOT_BITS | (c & SLOT_MASK)
    }

    #[inline]
    fn unpack(&self, p: u64) -> u64 {
        if p == PACKED_EMPTY {
            return EMPTY;
        }
        u64::from(self.top | (p >> SLOT_BITS) as u32) << 32 | (p & SLOT_MASK)
    }

    fn get(&self, i: usize) -> u64 {
        self.unpack(self.raw(i))
    }

    fn set(&mut self, i: usize, c: u64) {
        let p = self.pack(c);
        self.set_raw(i, p);
    }

    /// The packed bytes of the cells (what the snapshot writes).
    fn packed(&self) -> &[u8] {
        &self.bytes[..self.n * CELL_BYTES]
    }

    /// Cells from their packed bytes (a snapshot's), the spare byte added without spare room.
    fn from_packed(top: u32, mut bytes: Vec<u8>) -> Cells {
        let n = bytes.len() / CELL_BYTES;
        if n > 0 {
            bytes.reserve_exact(1);
            bytes.push(0xFF);
        }
        Cells { bytes, n, top }
    }

    fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        (0..self.n).map(|i| self.get(i))
    }
}

const EMPTY: u64 = u64::MAX;
/// A removed cell of a version-3 snapshot (linear probing); never written since.
const TOMB: u64 = u64::MAX - 1;
const SHARD_BITS: u32 = 6;
/// A shard grows when a put would fill more than this share of its cells (percent) …
const GROW_AT: usize = 90;
/// … to a size that this share fills (percent).
const GROW_TO: usize = 75;

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

    /// Keep the load at most `GROW_AT` %; grow to `GROW_TO` %.
    fn reserve(&mut self) {
        if (self.live + 1) * 100 <= self.cells.len() * GROW_AT {
            return;
        }
        self.resize(((self.live + 1) * 100 / GROW_TO).max(16));
    }

    /// Put every live cell into a table of `len` cells (more than there are live cells).
    ///
    /// In one pass: a Robin Hood table holds its runs in the order of their homes, and a home in
    /// the new table follows the same order, so the cells, taken from the smallest home up, each
    /// go to their new home or just after the cell before, whichever is later (what `put` would
    /// give them). `put`, one by one, walks the whole run of its key for every cell: a key with
    /// thousands of postings (one matter reported thousands of times) made a growth of its shard
    /// quadratic. What does not fit that order (the cells that wrap past the end, a version 3
    /// snapshot's linear-probing cells) is put one by one.
    fn resize(&mut self, len: usize) {
        let old: Vec<u64> = self.cells.iter().collect();
        self.put_all(old, len);
    }

    /// Put `old` (cells in the order of a table, empty ones included) into a table of `len`
    /// cells, as [`Shard::resize`] says.
    fn put_all(&mut self, old: Vec<u64>, len: usize) {
        self.cells = Cells::filled(self.cells.top, len);
        self.live = 0;
        self.used = 0;
        let n = old.len();
        // From just after an empty cell (no run crosses it) once around: homes ascend, then
        // drop once to the smallest; start there.
        let start = old.iter().position(|&c| c == EMPTY).map_or(0, |p| p + 1);
        let mut order: Vec<u64> = (0..n)
            .map(|r| old[(start + r) % n.max(1)])
            .filter(|&c| c != EMPTY && c != TOMB)
            .collect();
        drop(old);
        let rot = |c: u64| ((c >> 32) as u32).rotate_left(SHARD_BITS);
        if let Some(i) = order.windows(2).position(|w| rot(w[1]) < rot(w[0])) {
            order.rotate_left(i + 1);
        }
        let mut write = 0;
        let mut last = 0;
        let mut in_order = true;
        for c in order {
            let home = self.home((c >> 32) as u32);
            if in_order && (home < last || home.max(write) >= len) {
                in_order = false;
            }
            if in_order {
                let to = home.max(write);
                self.cells.set(to, c);
                self.live += 1;
                self.used += 1;
                write = to + 1;
                last = home;
            } else {
                self.put(c);
            }
        }
    }

    /// How far the packed cell `p`, at index `i`, sits from its home.
    #[inline]
    fn dist_packed(&self, p: u64, i: usize) -> usize {
        let home = self.home(self.cells.top | (p >> SLOT_BITS) as u32);
        if i >= home {
            i - home
        } else {
            i + self.cells.len() - home
        }
    }

    // The probing loops below work on packed cells (`Cells::raw`): unpacking every cell a probe
    // passes made a walk of a long run (one matter reported thousands of times) ~15 % slower
    // than on the 8-byte cells before.

    fn put(&mut self, cell: u64) {
        let mut p = self.cells.pack(cell);
        let mut i = self.home((cell >> 32) as u32);
        let mut d = 0;
        loop {
            let r = self.cells.raw(i);
            if r == PACKED_EMPTY {
                self.cells.set_raw(i, p);
                self.live += 1;
                self.used += 1;
                return;
            }
            // A resident of the same hash has the same home, so it is as far from it as this
            // cell is: walk on without working that out (the run of a key with thousands of
            // postings, one matter reported thousands of times, is walked cell by cell).
            if r >> SLOT_BITS == p >> SLOT_BITS {
                i = self.next(i);
                d += 1;
                continue;
            }
            // The resident is nearer its home than this cell is to its own: it moves on instead.
            let rd = self.dist_packed(r, i);
            if rd < d {
                self.cells.set_raw(i, p);
                p = r;
                d = rd;
            }
            i = self.next(i);
            d += 1;
        }
    }

    fn remove(&mut self, cell: u64) -> bool {
        if self.cells.is_empty() {
            return false;
        }
        let p = self.cells.pack(cell);
        let mut i = self.home((cell >> 32) as u32);
        let mut d = 0;
        loop {
            let r = self.cells.raw(i);
            if r == PACKED_EMPTY {
                return false;
            }
            if r == p {
                self.delete_at(i);
                return true;
            }
            if r >> SLOT_BITS != p >> SLOT_BITS && self.dist_packed(r, i) < d {
                return false;
            }
            i = self.next(i);
            d += 1;
        }
    }

    /// Empty cell `i` and shift the cells after it, up to an empty cell or one at its home, one
    /// back: every cell stays reachable from its home, with no tombstone left.
    fn delete_at(&mut self, mut i: usize) {
        loop {
            let j = self.next(i);
            let r = self.cells.raw(j);
            if r == PACKED_EMPTY || self.dist_packed(r, j) == 0 {
                self.cells.set_raw(i, PACKED_EMPTY);
                break;
            }
            self.cells.set_raw(i, r);
            i = j;
        }
        self.live -= 1;
        self.used -= 1;
    }

    /// Remove every cell `drop` says, in one pass: each kept cell moves back to its home or
    /// just after the kept cell before it, whichever is later (what deleting the others one by
    /// one with backward shifts would leave, without shifting a run once per deleted cell).
    /// Calls `dropped` with each removed cell.
    fn remove_where(&mut self, drop: impl Fn(u64) -> bool, mut dropped: impl FnMut(u64)) {
        let n = self.cells.len();
        // Start just after an empty cell (the load is below 100 %): no run crosses it.
        let Some(start) = (0..n).find(|&i| self.cells.raw(i) == PACKED_EMPTY) else {
            return;
        };
        let at = |r: usize| (start + r) % n;
        // `write`: the first position (relative to `start`) a kept cell may move back to.
        let mut write = 1;
        for r in 1..n {
            let i = at(r);
            let p = self.cells.raw(i);
            if p == PACKED_EMPTY {
                write = r + 1;
                continue;
            }
            let c = self.cells.unpack(p);
            if drop(c) {
                self.cells.set_raw(i, PACKED_EMPTY);
                self.live -= 1;
                self.used -= 1;
                dropped(c);
                continue;
            }
            let home = r - self.dist_packed(p, i);
            let to = home.max(write);
            if to != r {
                self.cells.set_raw(at(to), p);
                self.cells.set_raw(i, PACKED_EMPTY);
            }
            write = to + 1;
        }
    }

    fn find(&self, h: u32, mut f: impl FnMut(u32)) {
        if self.cells.is_empty() {
            return;
        }
        let want = u64::from(h) & CELL_HASH_MASK;
        let mut i = self.home(h);
        let mut d = 0;
        loop {
            let r = self.cells.raw(i);
            if r == PACKED_EMPTY {
                return;
            }
            if r >> SLOT_BITS == want {
                f((r & SLOT_MASK) as u32);
            } else if self.dist_packed(r, i) < d {
                return;
            }
            i = self.next(i);
            d += 1;
        }
    }
}

impl Table {
    fn new() -> Table {
        Table {
            shards: (0..1u32 << SHARD_BITS)
                .map(|i| Shard {
                    cells: Cells::empty(i << (32 - SHARD_BITS)),
                    live: 0,
                    used: 0,
                })
                .collect(),
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

    /// Cells of the shards, empty ones included (what a round of the sweep scans).
    fn cells(&self) -> usize {
        self.shards.iter().map(|s| s.cells.len()).sum()
    }

    /// Bytes the shards hold (their capacity: what they take, not only what they use).
    fn bytes(&self) -> usize {
        self.shards.iter().map(|s| s.cells.bytes()).sum()
    }
}

/// A slot's state (the top two bits of [`Slot::word`]). A case evicted behind the horizon leaves
/// its cells in the posting table (finding them again would need its keys, which only the store
/// has): its slot becomes `EVICTED`, lookups skip its cells, and the sweep
/// ([`BandIndex::sweep_step`]) clears them one shard at a time. The slot is free for another case
/// only when its last cell is gone, so a stale cell never names a live case.
const FREE: u32 = 0;
const LIVE: u32 = 1;
const EVICTED: u32 = 2;
const STATE_SHIFT: u32 = 30;
/// Most cells a slot counts (keys of one case beyond it are not indexed; a case has ~16).
const MAX_CELLS: u32 = (1 << STATE_SHIFT) - 1;
/// The end of a span that never ends (the owner's index), in [`Slot::active_s`].
const OPEN_END: u32 = u32::MAX;
/// Seconds of an hour: the spans' ends are listed by the hour they fall in, for eviction.
const HOUR_S: u32 = 3600;

/// A span's end as a slot keeps it: whole seconds since the Unix epoch, rounded up, so the span
/// the index holds is only ever wider than the truth (what the horizon and the lookups need of
/// it); a time beyond `u32` seconds (the year 2106) is an open end.
fn end_secs(at: Millis) -> u32 {
    if at <= 0 {
        return 0;
    }
    let s = (at - 1) / 1000 + 1;
    u32::try_from(s).map_or(OPEN_END, |s| s)
}

fn end_millis(s: u32) -> Millis {
    if s == OPEN_END {
        Millis::MAX
    } else {
        Millis::from(s) * 1000
    }
}

/// One case of the index, or a slot waiting for its cells to be swept, or a free one: 24 bytes
/// (the enum of three variants it replaced took 40, and a map from case numbers to slots and a
/// B-tree of `(active_at, slot)` another ~60 a case; bench-notes, session 14).
#[derive(Clone, Copy, Default)]
struct Slot {
    case: u64,
    /// Exact: the lookups filter on it and the consistency check compares it with the store.
    received_at: Millis,
    /// The end of the case's activity span, rounded up to the second (see [`end_secs`]).
    active_s: u32,
    /// The state (top two bits: `FREE`, `LIVE`, `EVICTED`) and, below, the cells this slot has
    /// in the posting table (one per key it was inserted under).
    word: u32,
}

impl Slot {
    fn state(&self) -> u32 {
        self.word >> STATE_SHIFT
    }

    fn cells(&self) -> u32 {
        self.word & MAX_CELLS
    }

    fn is_live(&self) -> bool {
        self.state() == LIVE
    }

    fn active_at(&self) -> Millis {
        end_millis(self.active_s)
    }

    fn set(&mut self, state: u32, cells: u32) {
        self.word = state << STATE_SHIFT | cells.min(MAX_CELLS);
    }
}

/// The hour a span's end is listed under (none for an open end: it is never evicted).
fn hour_of(active_s: u32) -> Option<u32> {
    (active_s != OPEN_END).then_some(active_s / HOUR_S)
}

fn case_hash(case: u64) -> u64 {
    mix(case ^ 0x6361_7365_5f6e_6f21)
}

/// Inserts between two sweep steps while stale cells remain (eviction calls sweep too).
const SWEEP_EVERY: u32 = 256;
/// An eviction also sweeps a step once stale cells are at least 1/`STALE_SHARE` of the table's
/// cells (empty ones included). A step scans a whole shard, so sweeping after every eviction
/// call cost a shard scan per 64 evicted cases: when the newest time jumped over a 1M-case index
/// (a restart after a pause, the benchmark's live submits over synthetic history), sweeping was
/// 30 % of the writer thread (bench-notes, session 11). With the share, a step clears about 1/16
/// of what it scans or more, whatever the size of the index; what stays below the share is left
/// to the steps every `SWEEP_EVERY` inserts.
const STALE_SHARE: usize = 16;

pub(crate) struct BandIndex {
    keep_ms: Millis,
    newest: Millis,
    /// Every open dedup entry with `active_at >= horizon` is indexed here. Entries older than the
    /// horizon leave within a few writes of its move (see [`BandIndex::evict`]); until then a
    /// lookup may find one here as well as in the store, and the store's lookup takes it once.
    horizon: Millis,
    slots: Vec<Slot>,
    free: Vec<u32>,
    /// The live slots, found by their case number (hashed with [`case_hash`], compared through
    /// `slots`): 4 bytes and a control byte a bucket, where a map holding the case number took 16
    /// and one.
    by_case: hashbrown::HashTable<u32>,
    /// Slots by the hour their span ends in, for eviction. A slot is listed again when a report
    /// moves its end into a later hour, and a case that leaves (closed, merged, forgotten) stays
    /// listed: a listing counts only while its slot is live and ends in that hour, and all of an
    /// hour's listings go when the horizon passes the hour.
    by_hour: BTreeMap<u32, Vec<u32>>,
    postings: Table,
    /// One bit per slot: set while the slot is `EVICTED` (the sweep tests cells against this,
    /// not against `slots`, so it scans a shard without a cache miss per cell).
    stale: Vec<u64>,
    /// Cells of evicted slots still in the table.
    stale_cells: usize,
    /// The shard the next sweep step clears.
    sweep_next: usize,
    /// Inserts since the last sweep step.
    since_sweep: u32,
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
            by_case: hashbrown::HashTable::new(),
            by_hour: BTreeMap::new(),
            postings: Table::new(),
            stale: Vec::new(),
            stale_cells: 0,
            sweep_next: 0,
            since_sweep: 0,
        }
    }

    /// How far behind the newest entry the index keeps entries.
    pub(crate) fn keep_ms(&self) -> Millis {
        self.keep_ms
    }

    pub(crate) fn horizon(&self) -> Millis {
        self.horizon
    }

    pub(crate) fn len(&self) -> usize {
        self.by_case.len()
    }

    /// The slot of case `case`, if it is indexed.
    fn slot_of(&self, case: u64) -> Option<u32> {
        let slots = &self.slots;
        self.by_case
            .find(case_hash(case), |&s| slots[s as usize].case == case)
            .copied()
    }

    /// Take case `case` out of `by_case`; its slot, if it was there.
    fn unmap(&mut self, case: u64) -> Option<u32> {
        let slots = &self.slots;
        match self
            .by_case
            .find_entry(case_hash(case), |&s| slots[s as usize].case == case)
        {
            Ok(e) => Some(e.remove().0),
            Err(_) => None,
        }
    }

    /// Put slot `slot` (live, holding its case) into `by_case` and list it under its hour.
    fn map(&mut self, slot: u32) {
        let s = self.slots[slot as usize];
        let slots = &self.slots;
        self.by_case.insert_unique(case_hash(s.case), slot, |&x| {
            case_hash(slots[x as usize].case)
        });
        self.list(slot, s.active_s);
    }

    fn list(&mut self, slot: u32, active_s: u32) {
        if let Some(h) = hour_of(active_s) {
            self.by_hour.entry(h).or_default().push(slot);
        }
    }

    /// (postings of indexed cases, bytes of the posting table). Cells of evicted cases not swept
    /// yet are not postings (they take table bytes until the sweep clears them).
    pub(crate) fn postings_stats(&self) -> (usize, usize) {
        (
            self.postings.len() - self.stale_cells,
            self.postings.bytes(),
        )
    }

    /// Cells of evicted cases still in the posting table.
    pub(crate) fn stale_cells(&self) -> usize {
        self.stale_cells
    }

    /// Bytes the index holds: the posting table, the slots and free list, the stale bitmap, the
    /// case table (hashbrown: a 4-byte slot and a control byte per bucket, buckets a power of two
    /// at up to 7/8 load) and the hour lists (their vectors, and an estimate of the B-tree's
    /// nodes: 56 bytes a listed hour).
    pub(crate) fn bytes(&self) -> usize {
        let buckets = if self.by_case.capacity() == 0 {
            0
        } else {
            (self.by_case.capacity() * 8 / 7).next_power_of_two()
        };
        let by_hour: usize = self.by_hour.values().map(|v| v.capacity() * 4 + 56).sum();
        self.postings.bytes()
            + self.slots.capacity() * std::mem::size_of::<Slot>()
            + self.free.capacity() * 4
            + self.stale.capacity() * 8
            + buckets * 5
            + by_hour
    }

    fn set_stale(&mut self, slot: u32, on: bool) {
        let (w, b) = (slot as usize / 64, slot % 64);
        if self.stale.len() <= w {
            self.stale.resize(w + 1, 0);
        }
        if on {
            self.stale[w] |= 1 << b;
        } else {
            self.stale[w] &= !(1 << b);
        }
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
        if active_at < self.horizon || self.slot_of(case).is_some() {
            return false;
        }
        let keys = &keys[..keys.len().min(MAX_CELLS as usize)];
        let slot = match self.free.pop() {
            Some(s) => s,
            None if self.slots.len() >= MAX_SLOTS => {
                tracing::error!(
                    case,
                    "band index is full ({MAX_SLOTS} slots); case not indexed"
                );
                return false;
            }
            None => {
                self.slots.push(Slot::default());
                (self.slots.len() - 1) as u32
            }
        };
        debug_assert_eq!(self.slots[slot as usize].state(), FREE);
        for &k in keys {
            self.postings.insert(k, slot);
        }
        let s = &mut self.slots[slot as usize];
        s.case = case;
        s.received_at = at;
        s.active_s = end_secs(active_at);
        s.set(LIVE, keys.len() as u32);
        self.map(slot);
        self.newest = self.newest.max(active_at);
        self.since_sweep = self.since_sweep.saturating_add(1);
        true
    }

    /// The matter of `case` was reported at `at`: widen its span. False when the case is not
    /// indexed (the caller loads it from the store if `at` reaches the horizon).
    pub(crate) fn bump(&mut self, case: u64, at: Millis) -> bool {
        let Some(slot) = self.slot_of(case) else {
            return false;
        };
        let s = &mut self.slots[slot as usize];
        let end = end_secs(at);
        if end > s.active_s {
            let moved = hour_of(end) != hour_of(s.active_s);
            s.active_s = end;
            if moved {
                self.list(slot, end);
            }
        }
        self.newest = self.newest.max(at);
        true
    }

    /// Drop case `case`, indexed under `keys` (a case closed or merged: the caller has its keys,
    /// so its cells leave now and the slot is free at once).
    pub(crate) fn remove(&mut self, case: u64, keys: &[u64]) -> bool {
        let Some(slot) = self.unmap(case) else {
            return false;
        };
        let mut left = self.slots[slot as usize].cells();
        for &k in keys {
            if left > 0 && self.postings.remove(k, slot) {
                left -= 1;
            }
        }
        // Keys that do not match what was indexed: the rest leave with the sweep.
        self.retire(slot, left);
        true
    }

    /// Slot `slot` is no longer a case's but still has `cells` cells in the table.
    fn retire(&mut self, slot: u32, cells: u32) {
        if cells == 0 {
            self.slots[slot as usize].set(FREE, 0);
            self.free.push(slot);
            return;
        }
        self.slots[slot as usize].set(EVICTED, cells);
        self.set_stale(slot, true);
        self.stale_cells += cells as usize;
    }

    /// Drop case `case` without its keys (its dedup entry is gone from a store that does not
    /// say which keys it had): the slot leaves now, its cells with the sweep, as an eviction's.
    /// False when the case is not indexed.
    pub(crate) fn forget(&mut self, case: u64) -> bool {
        let Some(slot) = self.unmap(case) else {
            return false;
        };
        let cells = self.slots[slot as usize].cells();
        self.retire(slot, cells);
        self.since_sweep = self.since_sweep.saturating_add(1);
        true
    }

    /// One sweep step when stale cells are left and one is due (as [`BandIndex::evict`] does,
    /// for an index that never evicts by time).
    pub(crate) fn sweep_if_due(&mut self) {
        if self.stale_cells > 0 && self.since_sweep >= SWEEP_EVERY {
            self.sweep_step();
        }
    }

    /// Advance the horizon when it is due (in steps of an hour, to `keep_ms` behind the newest
    /// end), then evict at most `limit` of the cases whose spans end in the hours it has passed:
    /// each leaves `by_case` now, its cells later (see [`FREE`]). The rest leave in the next
    /// calls; until then they are found as well as the store's entries behind the horizon, which
    /// a lookup takes once. Then one sweep step if one is due. Reads nothing but the index.
    /// Returns how many cases were evicted (0: none is left to evict).
    pub(crate) fn evict(&mut self, limit: usize) -> usize {
        let target = self.newest.saturating_sub(self.keep_ms);
        if target > self.horizon.saturating_add(EVICT_STEP_MS) {
            self.set_horizon(target);
        }
        let mut evicted = 0;
        // Hours wholly before the horizon: every span listed there ends before it.
        while evicted < limit {
            let Some((&h, _)) = self.by_hour.first_key_value() else {
                break;
            };
            if end_millis((h + 1).saturating_mul(HOUR_S)) > self.horizon {
                break;
            }
            let mut list = self.by_hour.remove(&h).unwrap_or_default();
            while evicted < limit {
                let Some(slot) = list.pop() else { break };
                let s = self.slots[slot as usize];
                if s.is_live() && hour_of(s.active_s) == Some(h) {
                    if let Ok(e) = self.by_case.find_entry(case_hash(s.case), |&x| x == slot) {
                        e.remove();
                    }
                    self.retire(slot, s.cells());
                    evicted += 1;
                }
            }
            if !list.is_empty() {
                self.by_hour.insert(h, list);
            }
        }
        let worth_it = self.stale_cells * STALE_SHARE >= self.postings.cells();
        if self.stale_cells > 0 && ((evicted > 0 && worth_it) || self.since_sweep >= SWEEP_EVERY) {
            self.sweep_step();
        }
        evicted
    }

    /// Clear the stale cells of one shard (the next in turn), freeing the evicted slots whose
    /// last cell that was. Costs one pass over 1/64 of the table.
    pub(crate) fn sweep_step(&mut self) {
        self.since_sweep = 0;
        let at = self.sweep_next;
        self.sweep_next = (at + 1) % self.postings.shards.len();
        let shard = &mut self.postings.shards[at];
        let stale = &self.stale;
        let mut cleared: Vec<u32> = Vec::new();
        shard.remove_where(
            |c| {
                let slot = c as u32;
                stale
                    .get(slot as usize / 64)
                    .is_some_and(|w| w & (1 << (slot % 64)) != 0)
            },
            |c| cleared.push(c as u32),
        );
        self.stale_cells -= cleared.len();
        for slot in cleared {
            let s = &mut self.slots[slot as usize];
            if s.state() == EVICTED {
                let left = s.cells() - 1;
                if left == 0 {
                    s.set(FREE, 0);
                    self.set_stale(slot, false);
                    self.free.push(slot);
                } else {
                    s.set(EVICTED, left);
                }
            }
        }
    }

    pub(crate) fn set_horizon(&mut self, horizon: Millis) {
        self.horizon = self.horizon.max(horizon);
    }

    /// Indexed cases sharing at least one key with `keys` (from [`posting_keys`]) whose activity
    /// span meets `[since, until]`, each once with the number of shared keys, appended to `out`
    /// in slot order. Cells of evicted slots are skipped.
    ///
    /// The hits are gathered as slot numbers and sorted before any slot is read: each slot is
    /// read once however many keys it shares, in ascending order, and no map is grown. (A hot
    /// key is shared by hundreds of cases: at 5M cases a lookup met ~1,800 of them, and a map
    /// entry and a slot read per hit were the lookup's largest cost; bench-notes, session 16.)
    pub(crate) fn candidates(
        &self,
        keys: &[u64],
        since: Millis,
        until: Millis,
        out: &mut Vec<(u64, u32)>,
    ) {
        let mut hits: Vec<u32> = Vec::with_capacity(keys.len() * 16);
        for &k in keys {
            self.postings.find(k, |slot| hits.push(slot));
        }
        hits.sort_unstable();
        for run in hits.chunk_by(|a, b| a == b) {
            let s = &self.slots[run[0] as usize];
            if s.is_live() && s.received_at <= until && s.active_at() >= since {
                out.push((s.case, run.len() as u32));
            }
        }
    }

    /// Whether `case` is indexed under every one of `keys` (consistency checks).
    pub(crate) fn indexed_under(&self, case: u64, keys: &[u64]) -> bool {
        let Some(slot) = self.slot_of(case) else {
            return false;
        };
        keys.iter().all(|&k| {
            let mut found = false;
            self.postings.find(k, |s| found |= s == slot);
            found
        })
    }

    /// Every indexed case: (case number, received_at, active_at as the index holds it: the
    /// matter's latest report rounded up to the second). For consistency checks.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (u64, Millis, Millis)> {
        self.slots
            .iter()
            .filter(|s| s.is_live())
            .map(|s| (s.case, s.received_at, s.active_at()))
    }
}

mod owned;
mod snapshot;

pub use owned::OwnerIndex;

#[cfg(test)]
mod tests;
