//! Dedup entries and the in-memory band index: loading it at open (from the clean-close snapshot
//! or by a rebuild from `dedup_entries`), widening a matter's span, evicting behind the horizon,
//! saving the snapshot on close, and the candidate lookup (in memory, plus a range scan for the
//! part of a lookup older than the horizon).

use std::collections::HashSet;
use std::path::Path;

use super::*;

pub(super) fn dedup_candidates(
    s: &SledStore,
    jurisdiction: &str,
    bands: &[u64],
    since: Millis,
    until: Millis,
    limit: usize,
) -> Result<Vec<(String, u32)>> {
    if until < since || bands.is_empty() {
        return Ok(Vec::new());
    }
    let keys = posting_keys(jurisdiction, bands);
    let mut shared: Vec<(u64, u32)> = Vec::new();
    let horizon = {
        let b = s.bands_read();
        b.candidates(&keys, since, until, &mut shared);
        b.horizon()
    };
    // Most shared first, then newest: ranked on case numbers (`PD` and twelve digits, so the
    // same order as their ids), and only the ones returned are named. A matter reported
    // thousands of times makes every one of its reports a candidate.
    let rank = |a: &(u64, u32), b: &(u64, u32)| b.1.cmp(&a.1).then_with(|| b.0.cmp(&a.0));
    if since >= horizon {
        if shared.len() > limit {
            if limit == 0 {
                return Ok(Vec::new());
            }
            shared.select_nth_unstable_by(limit, rank);
            shared.truncate(limit);
        }
        shared.sort_unstable_by(rank);
        return Ok(shared
            .into_iter()
            .map(|(n, c)| (case_id_of(n), c))
            .collect());
    }
    let mut out: Vec<(String, u32)> = shared
        .into_iter()
        .map(|(n, c)| (case_id_of(n), c))
        .collect();
    if since < horizon {
        s.candidates_before_horizon(
            jurisdiction,
            &keys,
            since,
            until.min(horizon - 1),
            horizon,
            &mut out,
        )?;
    }
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| b.0.cmp(&a.0)));
    out.truncate(limit);
    Ok(out)
}

pub(super) fn dedup_entry(s: &SledStore, case_id: &str) -> Result<Option<DedupEntry>> {
    match s
        .tree(DEDUP_ENTRIES)
        .get(case_id.as_bytes())
        .map_err(storage)?
    {
        None => Ok(None),
        Some(v) => decode("dedup_entries", case_id.as_bytes(), &v).map(Some),
    }
}

impl SledStore {
    /// Back-dated lookups: the part `[since, until]` of the range lies before the band index's
    /// horizon. Walk the jurisdiction's cases received in it, and the matters they belong to, and
    /// compare their stored keys; add what shares keys and is not in `out` yet.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn candidates_before_horizon(
        &self,
        jurisdiction: &str,
        keys: &[u64],
        since: Millis,
        until: Millis,
        horizon: Millis,
        out: &mut Vec<(String, u32)>,
    ) -> Result<()> {
        if until < since {
            return Ok(());
        }
        let query: HashSet<u64> = keys.iter().copied().collect();
        let mut seen: HashSet<Vec<u8>> = out.iter().map(|(id, _)| id.as_bytes().to_vec()).collect();
        let mut consider = |id: &[u8], out: &mut Vec<(String, u32)>| -> Result<()> {
            if !seen.insert(id.to_vec()) {
                return Ok(());
            }
            let Some(v) = self.tree(DEDUP_ENTRIES).get(id).map_err(storage)? else {
                return Ok(());
            };
            let d: DedupEntry = decode("dedup_entries", id, &v)?;
            if d.jurisdiction != jurisdiction {
                return Ok(());
            }
            let n = posting_keys(&d.jurisdiction, &d.bands)
                .iter()
                .filter(|k| query.contains(k))
                .count() as u32;
            if n > 0 {
                out.push((String::from_utf8_lossy(id).to_string(), n));
            }
            Ok(())
        };
        let prefix = attr_prefix(TAG_JURISDICTION, jurisdiction);
        let lo = time_key(&prefix, since, "");
        let hi = time_key(&prefix, until.saturating_add(1), "");
        for kv in self.tree(IDX_ATTR).range(lo..hi) {
            let (k, _) = kv.map_err(storage)?;
            consider(&k[prefix.len() + 8..], out)?;
        }
        // A linked report received from `since` up to the horizon (in any jurisdiction: merges
        // may cross them) keeps its whole matter linkable: a matter whose span meets the range
        // has its latest report at or after `since`, and if that report is at or after the
        // horizon, the matter is in memory. Scanning only up to `until` missed a matter reported
        // once before the range and once after it. (A matter whose reports all predate the range
        // but whose master falls in it is not expanded here: reports are received before their
        // master only when back-dated, and such a lookup is back-dated too.)
        let mut masters: HashSet<Vec<u8>> = HashSet::new();
        let range = time_key(&[], since, "")..time_key(&[], horizon.max(since), "");
        for kv in self.tree(IDX_TIME).range(range) {
            let (_, m) = kv.map_err(storage)?;
            if !m.is_empty() {
                masters.insert(m.to_vec());
            }
        }
        for m in masters {
            let Some(master) = self.load_case(&m)? else {
                continue;
            };
            if master.reports.is_empty() {
                continue;
            }
            consider(master.id.as_bytes(), out)?;
            for r in &master.reports {
                consider(r.case_id.as_bytes(), out)?;
            }
        }
        Ok(())
    }

    /// The in-memory band index: cases, postings, bytes of the posting table and of the whole
    /// index, horizon (diagnostics, benches).
    pub fn band_index_stats(&self) -> BandIndexStats {
        let b = self.bands_read();
        let (postings, table_bytes) = b.postings_stats();
        BandIndexStats {
            cases: b.len(),
            postings,
            table_bytes,
            index_bytes: b.bytes(),
            stale_cells: b.stale_cells(),
            horizon: b.horizon(),
            from_snapshot: self.from_snapshot,
        }
    }

    /// Save the band index for the next open: flush, write the snapshot file (synced, renamed
    /// into place), then record its token in `meta` and flush again. Called on drop, when no
    /// other write can follow; the next open takes the token out before anything else writes.
    pub(super) fn save_band_snapshot(&self, dir: &Path) -> Result<()> {
        let io = |what: &str, e: std::io::Error| {
            StoreError::Storage(format!("band index snapshot: {what}: {e}"))
        };
        let _writer = self.dedup_write_lock();
        let bands = self.bands_read();
        self.db.flush().map_err(storage)?;
        let token = {
            use std::hash::{BuildHasher, Hasher};
            // Unique per close (time, process, a random std hasher key); not a secret.
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u128(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos()),
            );
            h.write_u32(std::process::id());
            h.finish()
        };
        let file = dir.join(BAND_SNAPSHOT_FILE);
        let tmp = dir.join(format!("{BAND_SNAPSHOT_FILE}.tmp"));
        let f = std::fs::File::create(&tmp).map_err(|e| io("create", e))?;
        bands
            .write_snapshot(&f, token)
            .map_err(|e| io("write", e))?;
        f.sync_all().map_err(|e| io("sync", e))?;
        std::fs::rename(&tmp, &file).map_err(|e| io("rename", e))?;
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io("sync directory", e))?;
        self.tree(META)
            .insert(META_BAND_SNAPSHOT, &token.to_be_bytes())
            .map_err(storage)?;
        self.db.flush().map_err(storage)?;
        Ok(())
    }
}

/// Entries written per batch by a re-key.
const REKEY_BATCH: usize = 1_000;

impl SledStore {
    /// `meta/dedup_key_version`, 0 when never recorded.
    pub(super) fn key_version(&self) -> Result<u32> {
        match self.tree(META).get(META_DEDUP_KEYS).map_err(storage)? {
            None => Ok(0),
            Some(v) => <[u8; 4]>::try_from(v.as_ref())
                .map(u32::from_be_bytes)
                .map_err(|_| StoreError::Corrupt {
                    key: "meta/dedup_key_version".into(),
                    reason: format!("expected 4 bytes, found {}", v.len()),
                }),
        }
    }

    /// [`Store::rekey_dedup`]. The entries are written to a new tree in key order, and the store
    /// then switches to it (`meta/dedup_entries_tree`, with the version, in one batch) and drops
    /// the old one. Rewriting each entry in place would leave most of the tree's leaves as a base
    /// and a chain of up to nine deltas (sled consolidates a page at its tenth), and every
    /// lookup's read of an uncached leaf pulls each of them: a re-keyed store answered
    /// lookups ~1.7× slower than one written fresh (bench-notes, session 13). Written in order,
    /// leaves are filled and split, never patched. Until the switch the old tree is the store's
    /// (an interrupted run is started over by the next); after it, the band index is rebuilt
    /// from the new entries. Writers wait on the dedup writer lock meanwhile.
    pub(super) fn rekey(
        &self,
        version: u32,
        rekey: &(dyn Fn(&DedupEntry) -> Option<DedupEntry> + Sync),
    ) -> Result<u64> {
        let _writer = self.dedup_write_lock();
        let old = self.tree(DEDUP_ENTRIES);
        // `dedup_entries`, then `dedup_entries.1`, `.2` … one per re-key that changed entries.
        let generation = String::from_utf8_lossy(&old.name())
            .rsplit_once('.')
            .and_then(|(_, n)| n.parse::<u64>().ok())
            .unwrap_or(0);
        let name = format!("{}.{}", TREE_NAMES[DEDUP_ENTRIES], generation + 1);
        // What an interrupted run left.
        self.db.drop_tree(&name).map_err(storage)?;
        let new = self.db.open_tree(&name).map_err(storage)?;
        let (mut rewritten, mut batch, mut pending) = (0u64, sled::Batch::default(), 0usize);
        for kv in old.iter() {
            let (k, v) = kv.map_err(storage)?;
            let changed = match decode::<DedupEntry>("dedup_entries", &k, &v) {
                Ok(entry) => rekey(&entry).map(|e| encode(&e)),
                Err(e) => {
                    // Copied as it is: it surfaces when read, like at open.
                    tracing::warn!(error = %e, "dedup entry not re-keyed");
                    None
                }
            };
            rewritten += u64::from(changed.is_some());
            batch.insert(k, changed.map_or(v, sled::IVec::from));
            pending += 1;
            if pending == REKEY_BATCH {
                new.apply_batch(std::mem::take(&mut batch))
                    .map_err(storage)?;
                pending = 0;
            }
        }
        new.apply_batch(batch).map_err(storage)?;
        if rewritten == 0 {
            // Nothing changed: the old tree stays.
            self.db.drop_tree(&name).map_err(storage)?;
            self.tree(META)
                .insert(META_DEDUP_KEYS, &version.to_be_bytes())
                .map_err(storage)?;
            self.db.flush().map_err(storage)?;
            return Ok(0);
        }
        self.db.flush().map_err(storage)?;
        let mut switch = sled::Batch::default();
        switch.insert(META_DEDUP_TREE, name.as_bytes());
        switch.insert(META_DEDUP_KEYS, &version.to_be_bytes());
        self.tree(META).apply_batch(switch).map_err(storage)?;
        self.db.flush().map_err(storage)?;
        let mut trees = Vec::clone(&self.trees.load());
        trees[DEDUP_ENTRIES] = new;
        self.trees.store(std::sync::Arc::new(trees));
        self.db.drop_tree(old.name()).map_err(storage)?;
        let keep_ms = self.bands_read().keep_ms();
        *self.bands_write() = load_band_index(&self.trees.load(), keep_ms)?;
        Ok(rewritten)
    }
}

/// Rebuild the in-memory band index: the dedup entries of the cases received since the horizon
/// (`keep_ms` before the newest case; one range scan of `idx_time`, one get per case), and the
/// older reports of the matters that linked reports in that range belong to. (A master newer
/// than the horizon whose every report is older is not found this way: such reports were
/// received more than the window before their master, which the window rule only allows for
/// reports linked by hand.)
pub(super) fn load_band_index(trees: &[Tree], keep_ms: Millis) -> Result<BandIndex> {
    let newest = match trees[IDX_TIME].last().map_err(storage)? {
        Some((k, _)) => dec_time(&k[..8]),
        None => None,
    };
    let Some(newest) = newest else {
        return Ok(BandIndex::new(keep_ms, Millis::MIN));
    };
    let horizon = newest.saturating_sub(keep_ms);
    let mut ix = BandIndex::new(keep_ms, horizon);
    let mut masters: HashSet<Vec<u8>> = HashSet::new();
    for kv in trees[IDX_TIME].range(time_key(&[], horizon, "")..) {
        let (k, master) = kv.map_err(storage)?;
        let id = &k[8..];
        let Some(at) = dec_time(&k[..8]) else {
            continue;
        };
        if let Some(v) = trees[DEDUP_ENTRIES].get(id).map_err(storage)? {
            // Only the leading fields (jurisdiction, bands): the fingerprint is not copied.
            // A corrupt record must not keep the store from opening: it surfaces when read.
            match postcard::take_from_bytes::<(String, Vec<u64>)>(&v) {
                Ok(((jurisdiction, bands), _)) => {
                    if let Some(n) = case_num(&String::from_utf8_lossy(id)) {
                        ix.insert(n, &posting_keys(&jurisdiction, &bands), at, at);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "dedup entry left out of the band index"),
            }
        }
        // A linked report in the window keeps its matter active: its older reports too.
        if !master.is_empty() {
            masters.insert(master.to_vec());
        }
    }
    for m in masters {
        if let Some(v) = trees[CASES].get(&m).map_err(storage)? {
            match decode_case_value(&m, &v) {
                Ok(master) => refresh_matter(trees, &mut ix, &MatterSpan::of(&master))?,
                Err(e) => tracing::warn!(error = %e, "matter left out of the band index"),
            }
        }
    }
    Ok(ix)
}

/// The matter was reported at `span.last`: widen the spans of its cases in the band index,
/// loading those not indexed (older than the horizon) when that reaches it.
pub(super) fn refresh_matter(trees: &[Tree], ix: &mut BandIndex, span: &MatterSpan) -> Result<()> {
    let last = span.last;
    let numbers = case_num(&span.master)
        .into_iter()
        .chain(span.numbers.iter().copied());
    for n in numbers {
        if ix.bump(n, last) || last < ix.horizon() {
            continue;
        }
        let id = case_id_of(n);
        if let Some(v) = trees[DEDUP_ENTRIES].get(id.as_bytes()).map_err(storage)? {
            let d: DedupEntry = decode("dedup_entries", id.as_bytes(), &v)?;
            ix.insert(
                n,
                &posting_keys(&d.jurisdiction, &d.bands),
                d.received_at,
                last,
            );
        }
    }
    Ok(())
}

/// The band index saved by the last clean close, if the store has not changed since. The token is
/// taken out of `meta` and flushed before anything else can write, so a snapshot is used at most
/// once and never after writes it does not hold (a crash after this open finds no token and
/// rebuilds). An unreadable or foreign snapshot is logged and rebuilt from the dedup entries.
pub(super) fn take_band_snapshot(
    db: &sled::Db,
    meta: &Tree,
    dir: &Path,
    keep_ms: Millis,
) -> Result<Option<BandIndex>> {
    let Some(v) = meta.remove(META_BAND_SNAPSHOT).map_err(storage)? else {
        return Ok(None);
    };
    db.flush().map_err(storage)?;
    let Ok(token) = <[u8; 8]>::try_from(v.as_ref()).map(u64::from_be_bytes) else {
        tracing::warn!("band index snapshot token is malformed; rebuilding the index");
        return Ok(None);
    };
    let file = dir.join(BAND_SNAPSHOT_FILE);
    match std::fs::File::open(&file).and_then(|f| BandIndex::read_snapshot(f, token, keep_ms)) {
        Ok(Some(ix)) => Ok(Some(ix)),
        Ok(None) => {
            tracing::info!(file = %file.display(), "band index snapshot is from another close or window; rebuilding");
            Ok(None)
        }
        Err(e) => {
            tracing::warn!(file = %file.display(), error = %e, "band index snapshot unreadable; rebuilding");
            Ok(None)
        }
    }
}

/// Advance the band index's horizon when it is due, dropping the entries it leaves behind (in
/// memory only: an evicted case's cells are swept later, so nothing is read from the store).
pub(super) fn evict(ix: &mut BandIndex) {
    ix.evict(crate::band_index::EVICT_BATCH);
}
