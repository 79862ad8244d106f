//! Tests of the band index: lookups, the horizon, lazy eviction and its sweep, the snapshot.

use super::*;

const DAY: Millis = 24 * 3600 * 1000;

fn found(ix: &BandIndex, j: &str, bands: &[u64], since: Millis, until: Millis) -> Vec<(u64, u32)> {
    let mut v = Vec::new();
    ix.candidates(&posting_keys(j, bands), since, until, &mut v);
    v.sort_unstable();
    v
}

fn add(ix: &mut BandIndex, case: u64, j: &str, bands: &[u64], at: Millis, active: Millis) -> bool {
    ix.insert(case, &posting_keys(j, bands), at, active)
}

/// Evict (two at a time) until the horizon stops moving.
fn evict(ix: &mut BandIndex) {
    loop {
        let h = ix.horizon();
        if ix.evict(2) == 0 && ix.horizon() == h {
            return;
        }
    }
}

/// One whole round of the sweep: every shard once.
fn sweep_all(ix: &mut BandIndex) {
    for _ in 0..ix.postings.shards.len() {
        ix.sweep_step();
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
    add(&mut ix, 1, "A", &[1], t, t);
    add(&mut ix, 2, "A", &[1], t + 10 * DAY, t + 10 * DAY);
    add(&mut ix, 6, "A", &[1], t, t);
    assert!(ix.bump(6, t + 6 * DAY));
    evict(&mut ix);
    assert_eq!(ix.len(), 3);
    // newest moves 35 days past case 1: horizon = t + 5 days, case 1 leaves; case 6 stays
    // (its matter was reported on day 6)
    add(&mut ix, 3, "A", &[1], t + 35 * DAY, t + 35 * DAY);
    evict(&mut ix);
    assert_eq!(ix.horizon(), t + 5 * DAY);
    assert_eq!(
        found(&ix, "A", &[1], 0, Millis::MAX),
        vec![(2, 1), (3, 1), (6, 1)]
    );
    // back-dated entries below the horizon are not kept
    assert!(!add(&mut ix, 4, "A", &[1], t, t));
    assert_eq!(ix.len(), 3);
    // case 1's cell is still in the table, so its slot is not free yet; after a sweep it is,
    // and it is reused
    assert_eq!((ix.stale_cells(), ix.free.len()), (1, 0));
    assert_eq!(ix.postings_stats().0, 3);
    sweep_all(&mut ix);
    assert_eq!((ix.stale_cells(), ix.free.len()), (0, 1));
    add(&mut ix, 5, "A", &[1], t + 20 * DAY, t + 20 * DAY);
    assert_eq!(ix.len(), 4);
    assert_eq!(ix.slots.len(), 4);
    assert_eq!(ix.postings_stats().0, 4);
    assert_eq!(ix.postings.len(), 4);
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
    // a newer case moves the target horizon to t + 10 days: evict 50 of the cases behind it,
    // so the snapshot holds evicted slots whose cells are only partly swept
    assert!(add(
        &mut ix,
        1_000,
        "A",
        &bands(3),
        t + 40 * DAY,
        t + 40 * DAY
    ));
    assert_eq!(ix.evict(50), 50);
    assert!(ix.stale_cells() > 0);
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
    assert_eq!(back.stale_cells(), ix.stale_cells());
    assert_eq!(back.sweep_next, ix.sweep_next);
    // read back at its size: no shard or slot vector keeps room it does not use
    for (a, b) in back.postings.shards.iter().zip(&ix.postings.shards) {
        assert_eq!(a.cells.len(), b.cells.len());
        assert_eq!(a.cells.capacity(), a.cells.len());
    }
    assert_eq!(back.slots.capacity(), back.slots.len());
    assert!(back.bytes() <= ix.bytes());
    let mut back = back;
    assert_eq!(back.evict(1000), ix.evict(1000));
    assert_eq!(back.horizon(), ix.horizon());
    assert_eq!(back.stale_cells(), ix.stale_cells());
    assert_eq!(back.free, ix.free);
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
    let late = t + 40 * DAY;
    assert!(add(&mut back, 2000, "A", &bands(1), late, late));
    assert!(found(&back, "A", &bands(1), 0, Millis::MAX).contains(&(2000, 3)));

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
    // a snapshot of the previous format (version 2: no cell counts) is refused whole: the store
    // rebuilds the index from its entries
    let mut v2 = bytes.clone();
    v2[..8].copy_from_slice(b"PDBIX\x00\x00\x02");
    assert!(BandIndex::read_snapshot(v2.as_slice(), 42, 30 * DAY).is_err());
}

#[test]
fn evicted_cases_are_never_found_and_their_slots_wait_for_the_sweep() {
    let mut ix = BandIndex::new(10 * DAY, Millis::MIN);
    let t = 1_000 * DAY;
    // 300 cases over 30 days, each under its own keys and one shared key (0)
    let bands = |c: u64| vec![0, c * 10 + 1, c * 10 + 2, c * 10 + 3];
    for c in 0..300u64 {
        let at = t + c as Millis * DAY / 10;
        assert!(add(&mut ix, c, "A", &bands(c), at, at));
    }
    let slots_before = ix.slots.len();
    // the newest case is at t + 29.9 days: everything before t + 19.9 days leaves
    evict(&mut ix);
    let gone: Vec<u64> = (0..300)
        .filter(|c| !ix.entries().any(|(n, _, _)| n == *c))
        .collect();
    assert_eq!(gone.len(), 199, "horizon {}", ix.horizon() - t);
    assert_eq!(ix.len(), 101);
    // not one evicted case is found, under its own keys or the shared one, though most of
    // their cells are still in the table
    assert!(ix.stale_cells() > 0);
    for &c in &gone {
        assert_eq!(found(&ix, "A", &bands(c), 0, Millis::MAX).len(), 101, "{c}");
    }
    assert_eq!(ix.postings_stats().0, 101 * 4);
    // a slot is free only once all its cells are swept: new cases take new slots until then
    let free_before_sweep = ix.free.len();
    assert!(free_before_sweep < gone.len());
    for c in 300..310u64 {
        let at = t + 30 * DAY;
        assert!(add(&mut ix, c, "A", &bands(c), at, at));
    }
    assert!(ix.slots.len() >= slots_before + 10 - free_before_sweep);
    sweep_all(&mut ix);
    assert_eq!(ix.stale_cells(), 0);
    assert_eq!(ix.postings.len(), 111 * 4);
    let free = ix.free.len();
    assert_eq!(free + 111, ix.slots.len());
    // the freed slots are reused, and a case in a reused slot is found under its own keys
    // only, never under the keys of the case that held the slot before
    let slots = ix.slots.len();
    for c in 1_000..1_000 + free as u64 {
        let at = t + 30 * DAY;
        assert!(add(&mut ix, c, "A", &[c * 10 + 7], at, at));
    }
    assert_eq!((ix.slots.len(), ix.free.len()), (slots, 0));
    for &c in &gone {
        let mut m = Vec::new();
        ix.candidates(&posting_keys("A", &bands(c)[1..]), 0, Millis::MAX, &mut m);
        assert!(m.is_empty(), "case {c}'s keys find {m:?}");
    }
    assert_eq!(
        found(&ix, "A", &[1_000 * 10 + 7], 0, Millis::MAX),
        vec![(1_000, 1)]
    );
}

#[test]
fn memory_returns_to_a_steady_state_under_a_long_insert_and_evict_run() {
    // 100 cases a day for 400 days, 20 keys each, a 10-day window: about 1,000 cases indexed at
    // a time. Each insert is followed by an eviction call, as the store does.
    let mut ix = BandIndex::new(10 * DAY, Millis::MIN);
    let t = 1_000 * DAY;
    let per_day = 100u64;
    let mut peak = [(0usize, 0usize, 0usize); 4];
    for c in 0..400 * per_day {
        let at = t + (c * DAY as u64 / per_day) as Millis;
        let keys: Vec<u64> = (0..20).map(|k| mix(c * 32 + k)).collect();
        assert!(ix.insert(c, &keys, at, at));
        ix.evict(EVICT_BATCH);
        let day = c / per_day;
        if day >= 100 {
            let p = &mut peak[(day / 100) as usize];
            p.0 = p.0.max(ix.slots.len());
            p.1 = p.1.max(ix.postings.bytes());
            p.2 = p.2.max(ix.stale_cells());
        }
        assert_eq!(ix.postings_stats().0, ix.len() * 20);
    }
    // the windowed cases are about 10 days' worth (plus the hour the horizon lags)
    assert!(ix.len() <= 11 * per_day as usize, "{}", ix.len());
    // no growth from the second hundred days to the fourth: slots, table, stale cells (the
    // peaks wobble by a few per cent with where the sweep stands when a shard grows; a leak
    // would add a hundred days' worth, ten times the window)
    for later in &peak[2..] {
        assert!(later.0 <= peak[1].0, "slots {peak:?}");
        assert!(later.1 <= peak[1].1 * 21 / 20, "table bytes {peak:?}");
        assert!(later.2 <= peak[1].2 * 21 / 20, "stale cells {peak:?}");
    }
    // and the stale part is bounded: slots beyond the windowed cases are evicted cases waiting
    // for their sweep, at most what a round of 64 sweep steps evicts (the sweep runs at least
    // once an hour of newest time here, so a round spans under three days: 300 cases)
    assert!(
        peak[3].0 <= 11 * per_day as usize + 3 * per_day as usize,
        "{peak:?}"
    );
}

#[test]
fn a_snapshot_of_a_large_index_reads_back_without_spare_capacity() {
    // 24,000 cases × 20 keys: ~7,500 live cells a shard, a table of more than 8,192 cells each
    // (the reader's piece size), so a reader that grew the shards piece by piece would end with
    // doubled capacity (the real table at 1M cases took 537 MB for 300 MB of cells).
    let mut ix = BandIndex::new(30 * DAY, Millis::MIN);
    let t = 1_000 * DAY;
    for c in 0..24_000u64 {
        let keys: Vec<u64> = (0..20).map(|k| mix(c * 32 + k)).collect();
        assert!(ix.insert(c, &keys, t, t));
    }
    assert!(
        ix.postings.shards.iter().all(|s| s.cells.len() > 8192),
        "the shards must be larger than one piece of the reader"
    );
    let mut bytes = Vec::new();
    ix.write_snapshot(&mut bytes, 7).unwrap();
    let back = BandIndex::read_snapshot(bytes.as_slice(), 7, 30 * DAY)
        .unwrap()
        .expect("same token and keep");
    for (a, b) in back.postings.shards.iter().zip(&ix.postings.shards) {
        assert_eq!(a.cells, b.cells);
        assert_eq!(a.cells.capacity(), a.cells.len());
    }
    assert_eq!(back.slots.capacity(), back.slots.len());
    assert!(
        back.bytes() < ix.bytes(),
        "the original's slot vector grew by doubling"
    );
}

#[test]
fn a_jump_of_the_newest_time_sweeps_in_proportion_to_what_it_evicts() {
    // 400,000 cases × 2 keys, then one case 100 days later: every other case falls behind the
    // horizon and leaves, EVICT_BATCH a call. Sweeping a shard after every call would scan
    // 6,250 × 1/64 of the table (~78 M cells for 0.8 M stale ones); with the stale share a step
    // runs once stale cells are 1/16 of the table, so the cells scanned stay within ~16 per
    // stale cell, whatever the size of the index.
    let mut ix = BandIndex::new(10 * DAY, Millis::MIN);
    let t = 1_000 * DAY;
    let n = 400_000u64;
    for c in 0..n {
        let keys = [mix(c * 4), mix(c * 4 + 1)];
        assert!(ix.insert(c, &keys, t + c as Millis, t + c as Millis));
    }
    assert!(ix.insert(n, &[mix(n * 4)], t + 100 * DAY, t + 100 * DAY));
    let (mut calls, mut scanned) = (0u64, 0usize);
    loop {
        let shard = ix.sweep_next;
        let cells = ix.postings.shards[shard].cells.len();
        let evicted = ix.evict(EVICT_BATCH);
        if ix.sweep_next != shard {
            scanned += cells;
        }
        if evicted == 0 {
            break;
        }
        calls += 1;
    }
    assert_eq!(ix.len(), 1);
    assert_eq!(calls, n.div_ceil(EVICT_BATCH as u64));
    let created = 2 * n as usize;
    assert!(
        scanned <= 18 * created + 2 * ix.postings.bytes() / 8 / 64,
        "scanned {scanned} cells for {created} stale ones"
    );
    // nothing evicted is found, and a round of the sweep clears what is left
    for c in (0..n).step_by(997) {
        let mut m = Vec::new();
        ix.candidates(&[mix(c * 4), mix(c * 4 + 1)], 0, Millis::MAX, &mut m);
        assert!(m.is_empty(), "case {c}");
    }
    sweep_all(&mut ix);
    assert_eq!(ix.stale_cells(), 0);
    assert_eq!(ix.postings_stats().0, 1);
}

#[test]
fn robin_hood_cells_are_found_exactly_through_collisions_wraps_and_removals() {
    // Every key in one shard (the same top bits). Three mixes: 60 hashes with up to 40 slots each
    // (long runs of equal homes), 3,000 hashes with up to 3 (dense, abutting runs), and 4 hashes
    // with up to 3,000 (one matter reported thousands of times: growths move whole runs); runs wrap
    // past the shard's end, the shard grows, removals come in between, one by one and as the
    // sweep does them (a pass removing every cell of some slots). After every batch the table
    // answers exactly what a plain set of (hash, slot) pairs holds.
    let key = |h: u32| (u64::from(h & 0x03FF_FFFF | 0x2C00_0000) << 32) | 0xABCD;
    for (n_hashes, n_slots, steps) in [
        (60u64, 40u64, 20_000),
        (3_000, 3, 40_000),
        (4, 3_000, 20_000),
    ] {
        let mut t = Table::new();
        let mut model: std::collections::BTreeSet<(u32, u32)> = Default::default();
        let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ n_hashes;
        let mut rnd = |n: u64| {
            x = mix(x);
            x % n
        };
        let hashes: Vec<u32> = (0..n_hashes).map(|i| mix(i) as u32).collect();
        for step in 0..steps {
            let k = key(hashes[rnd(n_hashes) as usize]);
            let slot = rnd(n_slots) as u32;
            let present = model.contains(&(hash32(k), slot));
            if !present && rnd(3) > 0 {
                t.insert(k, slot);
                model.insert((hash32(k), slot));
            } else if present {
                assert!(t.remove(k, slot), "step {step}");
                model.remove(&(hash32(k), slot));
            } else {
                assert!(
                    !t.remove(k, slot),
                    "step {step}: removed a cell it never had"
                );
            }
            if step % 2_500 == 1_250 {
                // what the sweep does: every cell of some slots leaves in one pass
                let gone = |c: u64| (c as u32) % 5 == (step / 2_500) as u32 % 5;
                let shard = &mut t.shards[0x2C00_0000 >> (32 - SHARD_BITS)];
                let mut dropped = 0;
                shard.remove_where(gone, |_| dropped += 1);
                let before = model.len();
                model.retain(|&(h, s)| !gone(u64::from(h) << 32 | u64::from(s)));
                assert_eq!(dropped, before - model.len(), "step {step}");
            }
            if step % 1_000 == 0 || step % 2_500 == 1_250 || step + 50 > steps {
                for &h in &hashes {
                    let k = key(h);
                    let mut got = Vec::new();
                    t.find(k, |s| got.push(s));
                    got.sort_unstable();
                    let want: Vec<u32> = model
                        .range((hash32(k), 0)..=(hash32(k), u32::MAX))
                        .map(|p| p.1)
                        .collect();
                    assert_eq!(got, want, "{n_hashes} hashes, step {step}, hash {h:x}");
                }
                assert_eq!(t.len(), model.len());
            }
        }
        let s = &t.shards[0x2C00_0000 >> (32 - SHARD_BITS)];
        assert!(s.live * 100 <= s.cells.len() * GROW_AT, "load");
    }
}

#[test]
fn a_version_3_snapshot_is_read_into_robin_hood_order() {
    // A snapshot of the linear-probing build (magic version 3) is still read: its cells are put
    // again, and the index answers as before. Made here from a version-4 one (8-byte cells, as
    // version 3 had) by its magic (and checksum): the cells of any layout are put again the same
    // way.
    let mut ix = BandIndex::new(30 * DAY, Millis::MIN);
    let t = 1_000 * DAY;
    for c in 1..2_000u64 {
        add(&mut ix, c, "A", &[c % 97, c % 89 + 1_000, c], t, t);
    }
    let mut bytes = Vec::new();
    ix.write_snapshot_as(&mut bytes, 7, 4).unwrap();
    bytes[..8].copy_from_slice(b"PDBIX\x00\x00\x03");
    let body = bytes.len() - 4;
    let crc = crc32fast::hash(&bytes[..body]);
    bytes[body..].copy_from_slice(&crc.to_le_bytes());
    let back = BandIndex::read_snapshot(&bytes[..], 7, 30 * DAY)
        .unwrap()
        .expect("read");
    for q in [0u64, 5, 96, 1_001, 1_500] {
        assert_eq!(
            found(&back, "A", &[q], 0, Millis::MAX),
            found(&ix, "A", &[q], 0, Millis::MAX),
            "key {q}"
        );
    }
    assert_eq!(back.postings_stats().0, ix.postings_stats().0);
}

#[test]
fn a_version_4_snapshot_is_read_with_its_cells_packed_in_place() {
    // The build before wrote 8-byte cells (`hash32 << 32 | slot`); this one packs them in 7 bytes
    // where they are (the homes do not change), so a store upgraded over a clean close keeps
    // its snapshot instead of rebuilding the index.
    let mut ix = BandIndex::new(30 * DAY, Millis::MIN);
    let t = 1_000 * DAY;
    for c in 1..3_000u64 {
        add(
            &mut ix,
            c,
            "A",
            &[c % 97, c % 89 + 1_000, c],
            t,
            t + c as Millis,
        );
    }
    for c in (1..3_000u64).step_by(7) {
        assert!(ix.forget(c));
    }
    let mut v4 = Vec::new();
    ix.write_snapshot_as(&mut v4, 7, 4).unwrap();
    let mut v5 = Vec::new();
    ix.write_snapshot(&mut v5, 7).unwrap();
    assert!(
        v5.len() < v4.len() * 7 / 8 + 64 * 1024,
        "{} {}",
        v5.len(),
        v4.len()
    );
    for bytes in [&v4, &v5] {
        let back = BandIndex::read_snapshot(&bytes[..], 7, 30 * DAY)
            .unwrap()
            .expect("read");
        for (a, b) in back.postings.shards.iter().zip(&ix.postings.shards) {
            assert_eq!(a.cells, b.cells);
        }
        assert_eq!(back.stale_cells(), ix.stale_cells());
        assert_eq!(
            back.entries().collect::<Vec<_>>(),
            ix.entries().collect::<Vec<_>>()
        );
    }
    // a version-4 cell that cannot be packed (a slot beyond 30 bits) is damage, not a wrong index
    let mut bad = Vec::new();
    let mut one = BandIndex::new(30 * DAY, Millis::MIN);
    add(&mut one, 1, "A", &[5], t, t);
    one.write_snapshot_as(&mut bad, 7, 4).unwrap();
    let body = bad.len() - 4;
    let cell = u64::from(hash32(posting_keys("A", &[5])[0])) << 32;
    let at = (0..body - 8)
        .find(|&i| bad[i..i + 8] == cell.to_le_bytes())
        .expect("the cell of slot 0");
    bad[at + 3] = 0x40; // slot |= 1 << 30
    let crc = crc32fast::hash(&bad[..body]);
    bad[body..].copy_from_slice(&crc.to_le_bytes());
    let err = BandIndex::read_snapshot(&bad[..], 7, 30 * DAY)
        .err()
        .expect("refused");
    assert!(err.to_string().contains("does not fit its shard"), "{err}");
}

#[test]
fn packed_cells_keep_every_hash_and_slot_they_are_given() {
    // (hash32 within shard 11, slot): the extremes of both fields survive the 7-byte packing,
    // and a cell never reads as empty unless it was emptied.
    let top = 11u32 << (32 - SHARD_BITS);
    let mut cells = Cells::filled(top, 8);
    let cases: [(u32, u64); 6] = [
        (0, 0),
        (CELL_HASH_MASK as u32, 0),
        (0, SLOT_MASK - 1),
        (CELL_HASH_MASK as u32, SLOT_MASK - 1),
        (0x0155_5555, 0x2AAA_AAAA),
        (1, 1),
    ];
    for (i, &(h, slot)) in cases.iter().enumerate() {
        cells.set(i, u64::from(top | h) << 32 | slot);
    }
    for (i, &(h, slot)) in cases.iter().enumerate() {
        assert_eq!(cells.get(i), u64::from(top | h) << 32 | slot, "cell {i}");
    }
    assert_eq!((cells.get(6), cells.get(7)), (EMPTY, EMPTY));
    cells.set(3, EMPTY);
    assert_eq!(cells.get(3), EMPTY);
    assert_eq!(
        cells.get(4),
        u64::from(top | 0x0155_5555) << 32 | 0x2AAA_AAAA
    );
    assert_eq!(cells.bytes(), 8 * 7 + 1);
}

#[test]
fn spans_are_kept_to_the_second_and_only_ever_wider() {
    // The index keeps a span's end in whole seconds, rounded up: a lookup never misses a case it
    // should find, and one from just after the true end may find it (the caller's exact rule
    // rejects it). The start stays exact.
    let mut ix = BandIndex::new(30 * DAY, Millis::MIN);
    let t = 1_000 * DAY; // a whole second
    add(&mut ix, 1, "A", &[1], t + 10, t + 10);
    add(&mut ix, 2, "A", &[1], t + 1_000, t + 1_000);
    add(&mut ix, 3, "A", &[1], t + 1_001, t + 1_999);
    // (since, until, found)
    let table: &[(Millis, Millis, &[u64])] = &[
        (t + 10, t + 10, &[1]),
        (t + 11, Millis::MAX, &[1, 2, 3]), // 1's end held as t + 1 s
        (t + 1_001, Millis::MAX, &[3]),    // 2 ends on a whole second: held as it is
        (t + 2_000, Millis::MAX, &[3]),
        (t + 2_001, Millis::MAX, &[]),
        (0, t + 9, &[]), // received_at exact
        (0, t + 1_000, &[1, 2]),
    ];
    for &(since, until, want) in table {
        let got: Vec<u64> = found(&ix, "A", &[1], since, until)
            .into_iter()
            .map(|p| p.0)
            .collect();
        assert_eq!(got, want, "[{since}, {until}]");
    }
    let held: Vec<(u64, Millis, Millis)> = ix.entries().collect();
    assert_eq!(
        held,
        vec![
            (1, t + 10, t + 1_000),
            (2, t + 1_000, t + 1_000),
            (3, t + 1_001, t + 2_000)
        ]
    );
    // a bump within the held second changes nothing; one past it widens the span
    assert!(ix.bump(1, t + 999));
    assert_eq!(found(&ix, "A", &[1], t + 1_001, t + 1_001), vec![(3, 1)]);
    assert!(ix.bump(1, t + 1_001));
    assert_eq!(
        found(&ix, "A", &[1], t + 1_001, t + 1_001),
        vec![(1, 1), (3, 1)]
    );
    // times before 1970 and beyond 2106 stay conservative
    assert_eq!((end_secs(-5_000), end_secs(0), end_secs(1)), (0, 0, 1));
    assert_eq!(end_millis(end_secs(Millis::MAX)), Millis::MAX);
    assert_eq!(end_millis(end_secs(4_294_967_294_001)), Millis::MAX);
}

#[test]
fn the_hour_lists_evict_exactly_the_spans_that_end_behind_the_horizon() {
    // A case whose matter is reported again hours later is listed again and stays; a case that
    // left (closed) and whose slot another case took does not take that case with it when its
    // old hour is evicted.
    let mut ix = BandIndex::new(10 * DAY, Millis::MIN);
    let t = 1_000 * DAY;
    let h = 3_600_000;
    add(&mut ix, 1, "A", &[1], t, t);
    add(&mut ix, 2, "A", &[2], t, t);
    add(&mut ix, 3, "A", &[3], t + h, t + h);
    assert!(ix.bump(2, t + 3 * DAY));
    // case 3 closes (its keys at hand): its slot is free at once and case 4 takes it, ending
    // after the horizon to come
    assert!(ix.remove(3, &posting_keys("A", &[3])));
    add(&mut ix, 4, "A", &[4], t + 2 * DAY, t + 2 * DAY);
    assert_eq!(ix.slots.len(), 3, "case 4 reuses case 3's slot");
    // the newest end moves 11.5 days past t: the horizon goes to t + 1.5 days
    add(
        &mut ix,
        5,
        "A",
        &[5],
        t + 11 * DAY + 12 * h,
        t + 11 * DAY + 12 * h,
    );
    evict(&mut ix);
    assert_eq!(ix.horizon(), t + DAY + 12 * h);
    let mut left: Vec<u64> = ix.entries().map(|e| e.0).collect();
    left.sort_unstable();
    assert_eq!(left, vec![2, 4, 5]);
    // and the lists of the hours it passed are gone
    assert!(
        ix.by_hour
            .keys()
            .all(|&hr| end_millis((hr + 1) * HOUR_S) > ix.horizon())
    );
}

#[test]
fn an_index_of_city_cases_takes_under_200_bytes_a_case() {
    // 60,000 cases of 17 keys each (what fingerprint version 3 gives a case: 12 text bands and
    // ~5 place keys), at a day's rate of a large city, some reported again: the posting table
    // (7 bytes a cell, at 75–90 % load), the 24-byte slots, the case table and the hour lists.
    let mut ix = BandIndex::new(366 * DAY, Millis::MIN);
    let t = 1_000 * DAY;
    for c in 0..60_000u64 {
        let at = t + (c * 1_571) as Millis;
        let keys: Vec<u64> = (0..17).map(|k| mix(c * 32 + k)).collect();
        assert!(ix.insert(c, &keys, at, at));
        if c % 5 == 0 && c >= 5_000 {
            assert!(ix.bump(c - 5_000, at));
        }
        ix.evict(EVICT_BATCH);
    }
    let per_case = ix.bytes() as f64 / ix.len() as f64;
    let table = ix.postings.bytes() as f64 / ix.len() as f64;
    assert!(
        per_case < 200.0,
        "{per_case:.0} bytes a case ({table:.0} of them the table)"
    );
    assert!(
        per_case - table < 50.0,
        "{:.0} bytes a case beside the table",
        per_case - table
    );
}
