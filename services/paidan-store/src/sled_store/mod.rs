//! The sled implementation of [`Store`].
//!
//! This module opens the store (schema check, migration, band index), holds the tree table and
//! the [`Store`] impl, which only dispatches to the module of each concern:
//!
//! | module      | concern                                                                        |
//! |-------------|--------------------------------------------------------------------------------|
//! | `mod.rs`    | open (schema check, migration, band index load), options, tree table, `Drop` (snapshot), `Store` dispatch |
//! | `tx`        | `W`, the trees inside one transaction: a case with its indexes, enqueue, freezing payloads |
//! | `cases`     | insert, get, list, hot issues                                                  |
//! | `edit`      | `edit_cases`: a domain rule's edit written with its indexes, events, corrections |
//! | `entry`     | `StoredEntry`, the outbox entry as stored (used by `tx`, `outbox`, `migrate`)   |
//! | `outbox`    | due entries, delivery per sink, failures, dead letters                         |
//! | `dedup`     | dedup entries and the in-memory band index (load, refresh, evict, snapshot, lookup) |
//! | `links`     | a master's report links as rows apart from its record (schema 5), the `cases` value as stored |
//! | `migrate`   | schema 1 → 2 → 3 → 4 → 5 at open, and the consistency check                       |
//! | `audit`     | the audit trail                                                                |
//! | `figures`   | the figures' counters: changed in `W::put_case`, built once at open, summed by hour range |
//! | `deadlines` | `idx_due`, the cases a deadline watch owes an event: changed in `W::put_case`, built once at open, read by deadline |
//!
//! Why split so: every change of a case goes through `W` (one transaction for the case, its
//! indexes, its dedup entry and its outbox event), so that invariant is read in one file; the
//! operations on top of it are grouped by what they change. The encoding of every value is in
//! [`crate::record`], apart from all of them.
//!
//! Trees (all in one sled `Db`; every multi-tree change of a case in one sled transaction over
//! every tree but `audit`):
//!
//! | tree            | key                                            | value                                   |
//! |-----------------|------------------------------------------------|-----------------------------------------|
//! | `cases`         | case id                                        | [`CaseV4`](crate::record::CaseV4), then a master's [`CaseLinksV5`](crate::record::CaseLinksV5) head |
//! | `request_ids`   | request id                                     | case id                                 |
//! | `idx_time`      | enc(received_at) ‖ case id                     | master id (empty on a master)           |
//! | `idx_attr`      | tag ‖ len ‖ value ‖ enc(received_at) ‖ case id | empty                                   |
//! | `idx_counts`    | tag ‖ len ‖ value                              | u64 BE: cases under the value           |
//! | `dedup_entries` | case id                                        | [`DedupEntryV2`](crate::record::DedupEntryV2) |
//! | `corrections`   | u64 BE (monotonic)                             | [`CorrectionV2`](crate::record::CorrectionV2) |
//! | `outbox`        | seq u64 BE                                     | [`OutboxEntryV4`](crate::record::OutboxEntryV4), then [`OutboxLinksV5`](crate::record::OutboxLinksV5) if its frozen payload's links are rows |
//! | `outbox_queue`  | case id                                        | `Vec<u64>`: pending seqs                |
//! | `outbox_due`    | enc(next_attempt_at) ‖ seq                     | empty; only each case's head            |
//! | `dead_letters`  | seq u64 BE                                     | `OutboxEntryV4`, case always set        |
//! | `meta`          | name                                           | `schema_version` u32 BE; `dedup_key_version` u32 BE, `dedup_entries_tree` (the dedup entries' tree after a re-key, `dedup_entries.N`); `outbox_len`, `dead_len`, `band_index_snapshot` (token) u64 BE; `figures_built`; `deadlines_built` |
//! | `figures`       | enc(hour) ‖ counter ‖ dim ‖ len ‖ jurisdiction ‖ name | i64 BE: the counter (`figures.rs`)  |
//! | `idx_due`       | enc(due_at) ‖ case id                          | empty; only cases with a [`deadline_pending`](CaseRecord::deadline_pending) |
//! | `case_links`    | master id ‖ 0 ‖ version u32 BE                 | [`LinkRowV5`](crate::record::LinkRowV5): a report link, and the version that removed it |
//! | `audit`         | u64 BE (`generate_id`, monotonic)              | [`AuditEventV2`](crate::record::AuditEventV2); not in case transactions |
//!
//! Values are postcard (schema 5, the number in `meta/schema_version`; schema 5 only adds
//! optional trailing bytes and `case_links`, see [`crate::record::links`]). Postcard is positional,
//! so the values are written as the storage records of [`crate::record`], never as the domain types:
//! a domain type may change freely, a record only with a new schema version and a migration.
//! `tests/golden.rs` holds the bytes of every record as schema 2 and schema 3 wrote them. Schema 1
//! stores (JSON values and an on-disk band tree) and schema 2 stores (no dispatch data on cases)
//! are migrated in place when opened (see [`SledStore::open_with`]).
//!
//! The dedup band index lives in memory ([`crate::band_index`]): it holds the entries of the last
//! dedup window, is loaded at open from the snapshot the last clean close wrote (`Drop`; a token in
//! `meta` names it and is taken out at open, so a snapshot is used once and never after writes it
//! lacks) or else rebuilt from `dedup_entries`, and older entries are found through the
//! jurisdiction's `idx_attr` range. A case insert therefore writes one dedup entry, not one sled
//! key per band.
//!
//! An outbox entry carries "the case as it stood when the event happened". It is stored as
//! `case: None` while that is still the stored case — the entry is its case's newest event and the
//! case has not changed since — and frozen to a copy (`Some`) by the first change of the case after
//! it (or when it moves to the dead letters). The common path (a case created, its event delivered
//! before the case changes) therefore never stores a second copy of the case.
//!
//! Attribute tags: `s` status, `c` category, `d` department, `h` channel, `j` jurisdiction.
//! `outbox_due` holds only the first pending entry of every case, so `outbox_due()` is a range
//! scan that never returns a later event of a case before its earlier one (per-case order) and
//! never walks the backlog of a sink that is down.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, RwLock};

use sled::transaction::TransactionalTree;
use sled::{Transactional, Tree};

use crate::band_index::{BandIndex, posting_keys};
use crate::keys::*;
use crate::record::Stored;
use crate::types::*;
use crate::{CaseEdit, CaseReader, Result, Store, StoreError};

mod audit;
mod cases;
mod deadlines;
mod dedup;
mod edit;
mod entry;
mod figures;
mod links;
mod migrate;
mod outbox;
mod tx;

use dedup::{load_band_index, take_band_snapshot};
use links::{
    CaseValue, MatterSpan, decode_case_value, decode_entry, encode_case_value, encode_entry,
};
use migrate::{migrate_v1, migrate_v2, migrate_v3, migrate_v4, migrate_v5};
use tx::{Tx, W, tx_err};

/// At open, before any write: unless `meta/<marker>` says it was done, empty `tree` and run
/// `build` to fill it from the stored cases, flush, then write the marker. A build cut short by
/// a crash runs again, from an empty tree, at the next open (the figures, the deadline index).
fn build_once(
    db: &sled::Db,
    trees: &[Tree],
    marker: &[u8],
    tree: usize,
    build: impl FnOnce() -> Result<()>,
) -> Result<()> {
    if trees[META].get(marker).map_err(storage)?.is_some() {
        return Ok(());
    }
    trees[tree].clear().map_err(storage)?;
    build()?;
    db.flush().map_err(storage)?;
    trees[META].insert(marker, &[1u8][..]).map_err(storage)?;
    db.flush().map_err(storage)?;
    Ok(())
}

/// Current on-disk layout version, stored in `meta/schema_version`.
pub const SCHEMA_VERSION: u32 = 6;

const TREE_NAMES: [&str; 16] = [
    "cases",
    "request_ids",
    "idx_time",
    "idx_attr",
    "idx_counts",
    "dedup_entries",
    "corrections",
    "outbox",
    "outbox_queue",
    "outbox_due",
    "dead_letters",
    "meta",
    "figures",
    "idx_due",
    "case_links",
    "audit",
];
const CASES: usize = 0;
const REQUEST_IDS: usize = 1;
const IDX_TIME: usize = 2;
const IDX_ATTR: usize = 3;
const IDX_COUNTS: usize = 4;
const DEDUP_ENTRIES: usize = 5;
const CORRECTIONS: usize = 6;
const OUTBOX: usize = 7;
const OUTBOX_QUEUE: usize = 8;
const OUTBOX_DUE: usize = 9;
const DEAD_LETTERS: usize = 10;
const META: usize = 11;
/// The figures' counters (`figures.rs`), changed with the case in its transaction.
const FIGURES: usize = 12;
/// The cases a deadline watch owes an event, by deadline (`deadlines.rs`).
const IDX_DUE: usize = 13;
/// A master's report links (`links.rs`), written with the master in its transaction.
const CASE_LINKS: usize = 14;
/// The audit trail: outside the case transactions (an audit entry follows the change it records).
const AUDIT: usize = 15;
/// The trees a case transaction spans: all but `audit`.
const TX_TREES: usize = AUDIT;

const META_SCHEMA: &[u8] = b"schema_version";
const META_OUTBOX_LEN: &[u8] = b"outbox_len";
const META_DEAD_LEN: &[u8] = b"dead_len";
/// The key version of the dedup entries ([`Store::rekey_dedup`]), u32 BE; absent before the
/// first re-key.
const META_DEDUP_KEYS: &[u8] = b"dedup_key_version";
/// The name of the tree holding the dedup entries, when a re-key wrote them to a new tree;
/// absent: `dedup_entries`.
const META_DEDUP_TREE: &[u8] = b"dedup_entries_tree";
/// Token of the band index snapshot written by the last clean close (absent while open).
const META_BAND_SNAPSHOT: &[u8] = b"band_index_snapshot";
/// The band index snapshot, next to sled's own files in the store directory.
const BAND_SNAPSHOT_FILE: &str = "paidan-band-index.bin";

/// Length of the text excerpt kept in a [`ReportLink`].
const DEFAULT_PAGE_SIZE: usize = 50;
const MAX_PAGE_SIZE: usize = 1000;

/// Tuning of a [`SledStore`].
#[derive(Clone, Debug, PartialEq)]
pub struct StoreOptions {
    /// sled's page cache, bytes (sled's own default is 1 GiB, which the serving RSS would grow
    /// into).
    pub cache_capacity: u64,
    /// How far behind the newest `received_at` the in-memory dedup band index reaches. Lookups
    /// reaching further back are still exact, through a slower range scan; set it to at least the
    /// dedup window.
    pub dedup_keep_ms: Millis,
}

/// See [`SledStore::band_index_stats`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BandIndexStats {
    pub cases: usize,
    pub postings: usize,
    pub table_bytes: usize,
    /// Everything the index holds: the posting table, the slots, the case and time maps
    /// (estimated from their lengths). Divided by `cases`: index bytes per windowed case.
    pub index_bytes: usize,
    /// Cells of evicted cases that the sweep has not cleared yet (counted in `table_bytes`).
    pub stale_cells: usize,
    pub horizon: Millis,
    /// The index was read from the snapshot of the last clean close, not rebuilt.
    pub from_snapshot: bool,
}

/// One day in milliseconds.
const DAY_MS: Millis = 24 * 60 * 60 * 1000;

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            cache_capacity: 128 * 1024 * 1024,
            dedup_keep_ms: 366 * DAY_MS,
        }
    }
}

/// A [`Store`] on a sled database.
pub struct SledStore {
    db: sled::Db,
    /// The trees, in `TREE_NAMES` order. Swapped whole only by a re-key, which replaces the
    /// dedup entries' tree with a freshly written one (see `dedup.rs`).
    trees: arc_swap::ArcSwap<Vec<Tree>>,
    /// In-memory band index (see the module docs).
    bands: RwLock<BandIndex>,
    /// Held by every write that changes dedup entries, from its transaction until the band index
    /// agrees with it, so the index applies changes in commit order.
    dedup_writer: Mutex<()>,
    /// The store directory; None for a temporary store (no snapshot is kept).
    dir: Option<PathBuf>,
    from_snapshot: bool,
    /// Set when the index missed a change it should hold (see `refresh_matter`); such an index
    /// is not saved, the next open rebuilds it.
    index_degraded: AtomicBool,
}

use crate::{case_id_of, case_number as case_num};

fn storage(e: sled::Error) -> StoreError {
    StoreError::Storage(e.to_string())
}

fn key_str(key: &[u8]) -> String {
    match std::str::from_utf8(key) {
        Ok(s) if s.chars().all(|c| !c.is_control()) => s.to_string(),
        _ => key.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

/// Read a stored value: postcard of its storage record, converted to the domain type.
/// Whether opening failed because another handle still holds the directory's lock. sled 0.34
/// reports it as `ErrorKind::Other` with the lock's own error in the message ("could not acquire
/// lock on …: … WouldBlock …"), not as `WouldBlock`: matching the kind alone never retried.
fn is_lock_held(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::WouldBlock
        || (e.kind() == std::io::ErrorKind::Other
            && e.to_string().starts_with("could not acquire lock"))
}

fn decode<T: Stored>(tree: &str, key: &[u8], bytes: &[u8]) -> Result<T> {
    postcard::from_bytes::<T::Record>(bytes)
        .map(Into::into)
        .map_err(|e| StoreError::Corrupt {
            key: format!("{tree}/{}", key_str(key)),
            reason: e.to_string(),
        })
}

/// The bytes of a value: its storage record, in postcard. Never the domain type itself (see
/// [`crate::record`]).
fn encode<T: Stored>(v: &T) -> Vec<u8> {
    encode_record(&T::Record::from(v.clone()))
}

fn encode_record<R: serde::Serialize>(r: &R) -> Vec<u8> {
    // The records are plain data (no maps, no untagged enums), so serialisation cannot fail.
    postcard::to_stdvec(r).expect("store records serialise to postcard")
}

fn decode_u64(tree: &str, key: &[u8], bytes: &[u8]) -> Result<u64> {
    dec_u64(bytes).ok_or_else(|| StoreError::Corrupt {
        key: format!("{tree}/{}", key_str(key)),
        reason: format!("expected 8 bytes, found {}", bytes.len()),
    })
}

impl SledStore {
    /// Open (or create) the store in directory `path` with [`StoreOptions::default`].
    pub fn open(path: &Path) -> Result<SledStore> {
        SledStore::open_with(path, &StoreOptions::default())
    }

    /// Open (or create) the store in directory `path`.
    ///
    /// A store of schema 1 (JSON values, on-disk band index) or 2 (no dispatch data on cases) is
    /// migrated in place first (1 → 2 → 3): every
    /// value is re-encoded (idempotently, so an interrupted migration resumes), the band tree is
    /// dropped, and the schema version is written last. A store of an unknown version is refused
    /// with `StoreError::Corrupt` naming both versions. The in-memory band index is then loaded
    /// from the snapshot of the last clean close, or rebuilt from the dedup entries of the last
    /// `opts.dedup_keep_ms` when there is none (a crash, a damaged or foreign snapshot).
    ///
    /// sled releases its directory lock from a background thread shortly after the previous
    /// handle is dropped, so a reopen in the same process (restart tests, model reloads) waits for
    /// the lock for up to 10 s before giving up.
    pub fn open_with(path: &Path, opts: &StoreOptions) -> Result<SledStore> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match sled::Config::new()
                .path(path)
                .cache_capacity(opts.cache_capacity)
                .open()
            {
                Ok(db) => return SledStore::from_db(db, opts, Some(path)),
                Err(sled::Error::Io(e))
                    if is_lock_held(&e) && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => return Err(storage(e)),
            }
        }
    }

    /// A store in a temporary directory that is removed when dropped (tests, benches).
    pub fn open_temporary() -> Result<SledStore> {
        let opts = StoreOptions::default();
        let db = sled::Config::new()
            .temporary(true)
            .cache_capacity(opts.cache_capacity)
            .open()
            .map_err(storage)?;
        SledStore::from_db(db, &opts, None)
    }

    fn from_db(db: sled::Db, opts: &StoreOptions, dir: Option<&Path>) -> Result<SledStore> {
        // The dedup entries are in the tree the last re-key wrote, if any.
        let dedup_tree = db
            .open_tree(TREE_NAMES[META])
            .and_then(|meta| meta.get(META_DEDUP_TREE))
            .map_err(storage)?;
        let trees = TREE_NAMES
            .iter()
            .enumerate()
            .map(|(i, n)| match &dedup_tree {
                Some(name) if i == DEDUP_ENTRIES => db.open_tree(name),
                _ => db.open_tree(n),
            })
            .collect::<sled::Result<Vec<_>>>()
            .map_err(storage)?;
        let meta = &trees[META];
        match meta.get(META_SCHEMA).map_err(storage)? {
            None => {
                if !trees[CASES].is_empty() {
                    return Err(StoreError::Corrupt {
                        key: "meta/schema_version".into(),
                        reason: "missing, but the store holds cases".into(),
                    });
                }
                meta.insert(META_SCHEMA, &SCHEMA_VERSION.to_be_bytes())
                    .map_err(storage)?;
                db.flush().map_err(storage)?;
            }
            Some(v) => {
                let version = <[u8; 4]>::try_from(v.as_ref())
                    .map(u32::from_be_bytes)
                    .map_err(|_| StoreError::Corrupt {
                        key: "meta/schema_version".into(),
                        reason: format!("expected 4 bytes, found {}", v.len()),
                    })?;
                match version {
                    SCHEMA_VERSION => {}
                    1..=5 => {
                        // Each step converts what the one before it wrote.
                        if version == 1 {
                            migrate_v1(&db, &trees)?;
                        }
                        if version <= 2 {
                            migrate_v2(&db, &trees)?;
                        }
                        if version <= 3 {
                            migrate_v3(&db, &trees)?;
                        }
                        if version <= 4 {
                            migrate_v4(&db, &trees)?;
                        }
                        migrate_v5(&db, &trees)?;
                    }
                    _ => {
                        return Err(StoreError::Corrupt {
                            key: "meta/schema_version".into(),
                            reason: format!(
                                "store has schema version {version}, this build reads {SCHEMA_VERSION} (and migrates 1 to 5)"
                            ),
                        });
                    }
                }
            }
        }
        figures::build_once(&db, &trees)?;
        deadlines::build_once(&db, &trees)?;
        let started = std::time::Instant::now();
        let snapshot = match dir {
            Some(dir) => take_band_snapshot(&db, &trees[META], dir, opts.dedup_keep_ms)?,
            None => None,
        };
        let from_snapshot = snapshot.is_some();
        let bands = match snapshot {
            Some(ix) => ix,
            None => load_band_index(&trees, opts.dedup_keep_ms)?,
        };
        tracing::info!(
            dedup_indexed = bands.len(),
            from_snapshot,
            ms = started.elapsed().as_millis() as u64,
            "store opened, band index ready"
        );
        Ok(SledStore {
            db,
            trees: arc_swap::ArcSwap::from_pointee(trees),
            bands: RwLock::new(bands),
            dedup_writer: Mutex::new(()),
            dir: dir.map(Path::to_path_buf),
            from_snapshot,
            index_degraded: AtomicBool::new(false),
        })
    }

    fn tree(&self, i: usize) -> Tree {
        self.trees.load()[i].clone()
    }

    fn tx<T>(&self, f: impl Fn(&W<'_>) -> Tx<T>) -> Result<T> {
        self.trees.load()[..TX_TREES]
            .transaction(|v: &Vec<TransactionalTree>| {
                f(&W {
                    trees: v,
                    fresh: RefCell::new(Vec::new()),
                })
            })
            .map_err(tx_err)
    }

    fn bands_read(&self) -> std::sync::RwLockReadGuard<'_, BandIndex> {
        self.bands.read().unwrap_or_else(|p| p.into_inner())
    }

    fn bands_write(&self) -> std::sync::RwLockWriteGuard<'_, BandIndex> {
        self.bands.write().unwrap_or_else(|p| p.into_inner())
    }

    fn dedup_write_lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.dedup_writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Direct access to the underlying sled database (diagnostics, tests).
    pub fn db(&self) -> &sled::Db {
        &self.db
    }
}

impl Drop for SledStore {
    /// A clean close saves the band index so the next open need not rebuild it.
    fn drop(&mut self) {
        let Some(dir) = self.dir.clone() else {
            return;
        };
        if self.index_degraded.load(Ordering::Relaxed) {
            tracing::info!("band index missed a change; not saved, the next open rebuilds it");
            return;
        }
        let started = std::time::Instant::now();
        match self.save_band_snapshot(&dir) {
            Ok(()) => tracing::info!(
                ms = started.elapsed().as_millis() as u64,
                "band index saved for the next open"
            ),
            Err(e) => tracing::warn!(error = %e, "band index not saved; the next open rebuilds it"),
        }
    }
}

impl Store for SledStore {
    fn insert_case(&self, new: NewCase) -> Result<Inserted> {
        cases::insert_case(self, new)
    }

    fn get_case(&self, id: &str) -> Result<Option<CaseRecord>> {
        cases::get_case(self, id)
    }

    fn get_case_head(&self, id: &str) -> Result<Option<CaseHead>> {
        Ok(self.load_value(id.as_bytes())?.map(CaseValue::head))
    }

    fn list_cases(
        &self,
        filter: &CaseFilter,
        page_size: usize,
        page_token: Option<&str>,
    ) -> Result<Page> {
        cases::list_cases(self, filter, page_size, page_token)
    }

    fn for_each_deadline_pending(
        &self,
        until: Millis,
        f: &mut dyn FnMut(CaseRecord),
    ) -> Result<()> {
        deadlines::for_each_pending(self, until, f)
    }

    fn edit_cases(
        &self,
        rule: &dyn Fn(&mut dyn CaseReader) -> Result<CaseEdit>,
    ) -> Result<Vec<CaseRecord>> {
        edit::edit_cases(self, rule)
    }

    fn hot_issues(
        &self,
        jurisdiction: Option<&str>,
        category: Option<&str>,
        since: Millis,
        until: Millis,
        limit: usize,
    ) -> Result<Vec<HotIssue>> {
        cases::hot_issues(self, jurisdiction, category, since, until, limit)
    }

    fn corrections(&self) -> Result<Vec<CorrectionRecord>> {
        cases::corrections(self)
    }

    fn figures(&self, q: &crate::figures::FigureQuery) -> Result<Vec<crate::figures::FigureSum>> {
        figures::figures(self, q)
    }

    fn dedup_index_size(&self) -> Option<(usize, usize, usize)> {
        let b = self.band_index_stats();
        Some((b.cases, b.postings, b.index_bytes))
    }

    fn dedup_candidates(
        &self,
        jurisdiction: &str,
        bands: &[u64],
        since: Millis,
        until: Millis,
        limit: usize,
    ) -> Result<Vec<(String, u32)>> {
        dedup::dedup_candidates(self, jurisdiction, bands, since, until, limit)
    }

    fn dedup_entry(&self, case_id: &str) -> Result<Option<DedupEntry>> {
        dedup::dedup_entry(self, case_id)
    }

    fn dedup_key_version(&self) -> Result<u32> {
        self.key_version()
    }

    fn rekey_dedup(
        &self,
        version: u32,
        rekey: &(dyn Fn(&DedupEntry) -> Option<DedupEntry> + Sync),
    ) -> Result<u64> {
        self.rekey(version, rekey)
    }

    fn outbox_due(&self, now: Millis, limit: usize) -> Result<Vec<OutboxEntry>> {
        outbox::outbox_due(self, now, limit)
    }

    fn outbox_delivered(
        &self,
        seq: u64,
        sink: &str,
        all_sinks: &[String],
        at: Millis,
    ) -> Result<bool> {
        outbox::outbox_delivered(self, seq, sink, all_sinks, at)
    }

    fn outbox_failed(
        &self,
        seq: u64,
        error: &str,
        next_attempt_at: Millis,
        dead: bool,
    ) -> Result<()> {
        outbox::outbox_failed(self, seq, error, next_attempt_at, dead)
    }

    fn outbox_list(&self, dead: bool, limit: usize) -> Result<Vec<OutboxEntry>> {
        outbox::outbox_list(self, dead, limit)
    }

    fn outbox_len(&self, dead: bool) -> Result<u64> {
        outbox::outbox_len(self, dead)
    }

    fn outbox_retry_dead(&self, keys: &[String], now: Millis) -> Result<u32> {
        outbox::outbox_retry_dead(self, keys, now)
    }

    fn outbox_drop_dead(&self, keys: &[String]) -> Result<u32> {
        outbox::outbox_drop_dead(self, keys)
    }

    fn append_audit(&self, event: &AuditEvent) -> Result<()> {
        audit::append_audit(self, event)
    }

    fn audit_log(&self, limit: usize) -> Result<Vec<AuditEvent>> {
        audit::audit_log(self, limit)
    }

    fn flush(&self) -> Result<()> {
        self.db.flush().map_err(storage)?;
        Ok(())
    }
}
