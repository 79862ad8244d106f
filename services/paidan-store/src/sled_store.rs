//! The sled implementation of [`Store`].
//!
//! Trees (all in one sled `Db`, every multi-tree change in one sled transaction):
//!
//! | tree            | key                                             | value                          |
//! |-----------------|-------------------------------------------------|--------------------------------|
//! | `cases`         | case id                                         | [`CaseRecord`]                 |
//! | `request_ids`   | request id                                      | case id                        |
//! | `idx_time`      | enc(received_at) ‖ case id                      | master id (empty on a master)  |
//! | `idx_attr`      | tag ‖ len ‖ value ‖ enc(received_at) ‖ case id  | empty                          |
//! | `idx_counts`    | tag ‖ len ‖ value                               | u64 BE: cases under the value  |
//! | `dedup_entries` | case id                                         | [`DedupEntry`]                 |
//! | `corrections`   | u64 BE (monotonic)                              | [`CorrectionRecord`]           |
//! | `outbox`        | seq u64 BE                                      | `StoredEntry` (see below)      |
//! | `outbox_queue`  | case id                                         | `Vec<u64>`: pending seqs       |
//! | `outbox_due`    | enc(next_attempt_at) ‖ seq                      | empty; only each case's head   |
//! | `dead_letters`  | seq u64 BE                                      | `StoredEntry`, case always set |
//! | `meta`          | name                                            | schema version, counters       |
//!
//! Values are postcard (schema 2); schema 1 stores (JSON values and an on-disk band tree) are
//! migrated in place when opened (see [`SledStore::open_with`]).
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
use std::collections::{HashMap, HashSet};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, RwLock};

use sled::transaction::{
    ConflictableTransactionError, ConflictableTransactionResult, TransactionError,
    TransactionalTree,
};
use sled::{Transactional, Tree};

use crate::band_index::{BandIndex, FastMap, posting_keys};
use crate::keys::*;
use crate::types::*;
use crate::{Result, Store, StoreError};

/// Current on-disk layout version, stored in `meta/schema_version`.
pub const SCHEMA_VERSION: u32 = 2;

const TREE_NAMES: [&str; 12] = [
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

const META_SCHEMA: &[u8] = b"schema_version";
const META_OUTBOX_LEN: &[u8] = b"outbox_len";
const META_DEAD_LEN: &[u8] = b"dead_len";
/// Token of the band index snapshot written by the last clean close (absent while open).
const META_BAND_SNAPSHOT: &[u8] = b"band_index_snapshot";
/// The band index snapshot, next to sled's own files in the store directory.
const BAND_SNAPSHOT_FILE: &str = "paidan-band-index.bin";

/// Length of the text excerpt kept in a [`ReportLink`].
const EXCERPT_CHARS: usize = 80;
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
    trees: Vec<Tree>,
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

/// An outbox entry as stored: `case` is None while the stored case is the event's payload.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct StoredEntry {
    seq: u64,
    idempotency_key: String,
    case_id: String,
    sequence: u64,
    kind: EventKind,
    occurred_at: Millis,
    case: Option<CaseRecord>,
    delivered_to: Vec<String>,
    attempts: u32,
    last_error: String,
    enqueued_at: Millis,
    next_attempt_at: Millis,
}

impl StoredEntry {
    fn into_entry(self, case: CaseRecord) -> OutboxEntry {
        OutboxEntry {
            seq: self.seq,
            idempotency_key: self.idempotency_key,
            case_id: self.case_id,
            sequence: self.sequence,
            kind: self.kind,
            occurred_at: self.occurred_at,
            case,
            delivered_to: self.delivered_to,
            attempts: self.attempts,
            last_error: self.last_error,
            enqueued_at: self.enqueued_at,
            next_attempt_at: self.next_attempt_at,
        }
    }

    fn frozen(e: OutboxEntry) -> StoredEntry {
        StoredEntry {
            seq: e.seq,
            idempotency_key: e.idempotency_key,
            case_id: e.case_id,
            sequence: e.sequence,
            kind: e.kind,
            occurred_at: e.occurred_at,
            case: Some(e.case),
            delivered_to: e.delivered_to,
            attempts: e.attempts,
            last_error: e.last_error,
            enqueued_at: e.enqueued_at,
            next_attempt_at: e.next_attempt_at,
        }
    }
}

/// `PD000000000042` → 42 (every id this store hands out has that form).
fn case_num(id: &str) -> Option<u64> {
    id.strip_prefix("PD")?.parse().ok()
}

fn case_id_of(n: u64) -> String {
    format!("PD{n:012}")
}

type Tx<T> = ConflictableTransactionResult<T, StoreError>;

fn abort<T>(e: StoreError) -> Tx<T> {
    Err(ConflictableTransactionError::Abort(e))
}

fn storage(e: sled::Error) -> StoreError {
    StoreError::Storage(e.to_string())
}

fn tx_err(e: TransactionError<StoreError>) -> StoreError {
    match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => storage(e),
    }
}

fn key_str(key: &[u8]) -> String {
    match std::str::from_utf8(key) {
        Ok(s) if s.chars().all(|c| !c.is_control()) => s.to_string(),
        _ => key.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

fn decode<T: serde::de::DeserializeOwned>(tree: &str, key: &[u8], bytes: &[u8]) -> Result<T> {
    postcard::from_bytes(bytes).map_err(|e| StoreError::Corrupt {
        key: format!("{tree}/{}", key_str(key)),
        reason: e.to_string(),
    })
}

fn encode<T: serde::Serialize>(v: &T) -> Vec<u8> {
    // Our types are plain data (no maps, no untagged enums), so serialisation cannot fail.
    postcard::to_stdvec(v).expect("store types serialise to postcard")
}

fn decode_u64(tree: &str, key: &[u8], bytes: &[u8]) -> Result<u64> {
    dec_u64(bytes).ok_or_else(|| StoreError::Corrupt {
        key: format!("{tree}/{}", key_str(key)),
        reason: format!("expected 8 bytes, found {}", bytes.len()),
    })
}

fn excerpt(text: &str) -> String {
    text.chars().take(EXCERPT_CHARS).collect()
}

fn history_note(case: &CaseRecord, note: String, actor: &str, at: Millis) -> StatusChange {
    StatusChange {
        from: case.status,
        to: case.status,
        note,
        actor: actor.to_string(),
        at,
    }
}

/// The transactional view of every tree, and what this attempt of the transaction enqueued.
struct W<'a> {
    trees: &'a [TransactionalTree],
    /// Outbox seqs enqueued by this attempt (their payload is the case this attempt writes).
    fresh: RefCell<Vec<u64>>,
}

impl W<'_> {
    fn t(&self, i: usize) -> &TransactionalTree {
        &self.trees[i]
    }

    fn get_val<T: serde::de::DeserializeOwned>(&self, i: usize, key: &[u8]) -> Tx<Option<T>> {
        match self.t(i).get(key)? {
            None => Ok(None),
            Some(v) => match decode(TREE_NAMES[i], key, &v) {
                Ok(x) => Ok(Some(x)),
                Err(e) => abort(e),
            },
        }
    }

    fn case(&self, id: &str) -> Tx<CaseRecord> {
        match self.get_val::<CaseRecord>(CASES, id.as_bytes())? {
            Some(c) => Ok(c),
            None => abort(StoreError::NotFound(id.to_string())),
        }
    }

    fn add_counter(&self, tree: usize, key: &[u8], delta: i64) -> Tx<()> {
        let cur = match self.t(tree).get(key)? {
            None => 0,
            Some(v) => match decode_u64(TREE_NAMES[tree], key, &v) {
                Ok(x) => x,
                Err(e) => return abort(e),
            },
        };
        let next = (cur as i64 + delta).max(0) as u64;
        if next == 0 && tree == IDX_COUNTS {
            self.t(tree).remove(key)?;
        } else {
            self.t(tree).insert(key, &enc_u64(next))?;
        }
        Ok(())
    }

    /// Write `new` and bring every index in line with it (`old` = what was stored before).
    fn put_case(&self, old: Option<&CaseRecord>, new: &CaseRecord) -> Tx<()> {
        let id = new.id.as_str();
        if let Some(o) = old
            && o != new
        {
            // An earlier event whose payload is the stored case keeps that state.
            self.freeze_live(id, Some(o))?;
        }
        self.t(CASES).insert(id.as_bytes(), encode(new))?;
        let new_master = new.duplicate_of.clone().unwrap_or_default();
        let old_time = old.map(|o| (o.received_at, o.duplicate_of.clone().unwrap_or_default()));
        if old_time != Some((new.received_at, new_master.clone())) {
            if let Some(o) = old {
                self.t(IDX_TIME).remove(time_key(&[], o.received_at, id))?;
            }
            self.t(IDX_TIME)
                .insert(time_key(&[], new.received_at, id), new_master.as_bytes())?;
        }
        let new_prefixes = case_attr_prefixes(new);
        let old_prefixes = old.map(case_attr_prefixes).unwrap_or_default();
        let received_changed = old.is_some_and(|o| o.received_at != new.received_at);
        for p in &old_prefixes {
            if received_changed || !new_prefixes.contains(p) {
                self.t(IDX_ATTR)
                    .remove(time_key(p, old.map_or(0, |o| o.received_at), id))?;
                self.add_counter(IDX_COUNTS, p, -1)?;
            }
        }
        for p in &new_prefixes {
            if old.is_none() || received_changed || !old_prefixes.contains(p) {
                self.t(IDX_ATTR)
                    .insert(time_key(p, new.received_at, id), &[][..])?;
                self.add_counter(IDX_COUNTS, p, 1)?;
            }
        }
        Ok(())
    }

    /// The stored case is about to change: if its newest pending event (from an earlier
    /// transaction) still refers to it, store a copy in the entry. `snapshot` is the stored case
    /// when the caller has it at hand.
    fn freeze_live(&self, case_id: &str, snapshot: Option<&CaseRecord>) -> Tx<()> {
        let q = self.queue(case_id)?;
        let Some(&last) = q.last() else {
            return Ok(());
        };
        if self.fresh.borrow().contains(&last) {
            return Ok(());
        }
        let Some(mut e) = self.entry(OUTBOX, last)? else {
            return Ok(());
        };
        if e.case.is_some() {
            return Ok(());
        }
        e.case = Some(match snapshot {
            Some(c) => c.clone(),
            None => self.case(case_id)?,
        });
        self.t(OUTBOX).insert(&enc_u64(last), encode(&e))?;
        Ok(())
    }

    /// The entry with its payload: the stored case when the entry refers to it.
    fn materialize(&self, mut e: StoredEntry) -> Tx<OutboxEntry> {
        let case = match e.case.take() {
            Some(c) => c,
            None => self.case(&e.case_id)?,
        };
        Ok(e.into_entry(case))
    }

    fn queue(&self, case_id: &str) -> Tx<Vec<u64>> {
        Ok(self
            .get_val::<Vec<u64>>(OUTBOX_QUEUE, case_id.as_bytes())?
            .unwrap_or_default())
    }

    fn put_queue(&self, case_id: &str, q: &[u64]) -> Tx<()> {
        if q.is_empty() {
            self.t(OUTBOX_QUEUE).remove(case_id.as_bytes())?;
        } else {
            self.t(OUTBOX_QUEUE)
                .insert(case_id.as_bytes(), encode(&q))?;
        }
        Ok(())
    }

    fn entry(&self, tree: usize, seq: u64) -> Tx<Option<StoredEntry>> {
        self.get_val(tree, &enc_u64(seq))
    }

    /// Insert `seq` into its case's queue (sorted); keep `outbox_due` holding exactly the head.
    fn queue_insert(&self, entry: &StoredEntry) -> Tx<()> {
        let mut q = self.queue(&entry.case_id)?;
        let pos = q.partition_point(|&s| s < entry.seq);
        if q.get(pos) == Some(&entry.seq) {
            return Ok(());
        }
        if pos == 0 {
            if let Some(&old_head) = q.first()
                && let Some(h) = self.entry(OUTBOX, old_head)?
            {
                self.t(OUTBOX_DUE)
                    .remove(due_key(h.next_attempt_at, h.seq))?;
            }
            self.t(OUTBOX_DUE)
                .insert(due_key(entry.next_attempt_at, entry.seq), &[][..])?;
        }
        q.insert(pos, entry.seq);
        self.put_queue(&entry.case_id, &q)
    }

    /// Remove `entry` from its case's queue and `outbox_due`; index the next head.
    fn queue_remove(&self, entry: &StoredEntry) -> Tx<()> {
        self.t(OUTBOX_DUE)
            .remove(due_key(entry.next_attempt_at, entry.seq))?;
        let mut q = self.queue(&entry.case_id)?;
        if let Some(pos) = q.iter().position(|&s| s == entry.seq) {
            q.remove(pos);
            if pos == 0
                && let Some(&head) = q.first()
            {
                match self.entry(OUTBOX, head)? {
                    Some(h) => {
                        self.t(OUTBOX_DUE)
                            .insert(due_key(h.next_attempt_at, h.seq), &[][..])?;
                    }
                    None => {
                        return abort(StoreError::Corrupt {
                            key: format!("outbox_queue/{}", entry.case_id),
                            reason: format!("queued seq {head} has no outbox entry"),
                        });
                    }
                }
            }
        }
        self.put_queue(&entry.case_id, &q)
    }

    /// Append an event of `case` (as it stands, after this change) to the outbox. Updates the
    /// case's forwarding record; the caller writes the case afterwards (with `put_case`), which
    /// is then the event's payload until the case changes again.
    fn enqueue(&self, case: &mut CaseRecord, kind: EventKind, at: Millis) -> Tx<()> {
        // The case's previous event may still refer to the stored case, which is about to change.
        self.freeze_live(&case.id, None)?;
        let seq = self
            .t(OUTBOX)
            .generate_id()
            .map_err(ConflictableTransactionError::Storage)?;
        let sequence = case.forwarding.next_sequence.max(1);
        case.forwarding.next_sequence = sequence + 1;
        case.forwarding.events_pending += 1;
        case.forwarding.state = ForwardingState::Pending;
        let entry = StoredEntry {
            seq,
            idempotency_key: format!("{}:{}", case.id, sequence),
            case_id: case.id.clone(),
            sequence,
            kind,
            occurred_at: at,
            case: None,
            delivered_to: Vec::new(),
            attempts: 0,
            last_error: String::new(),
            enqueued_at: at,
            next_attempt_at: at,
        };
        self.t(OUTBOX).insert(&enc_u64(seq), encode(&entry))?;
        self.fresh.borrow_mut().push(seq);
        self.queue_insert(&entry)?;
        self.add_counter(META, META_OUTBOX_LEN, 1)
    }

    /// Linked reports are carried by their master; only masters get events of their own.
    fn enqueue_if_master(&self, case: &mut CaseRecord, kind: EventKind, at: Millis) -> Tx<()> {
        if case.duplicate_of.is_none() {
            self.enqueue(case, kind, at)?;
        }
        Ok(())
    }

    fn index_dedup(&self, case_id: &str, d: &DedupEntry) -> Tx<()> {
        self.t(DEDUP_ENTRIES)
            .insert(case_id.as_bytes(), encode(d))?;
        Ok(())
    }

    /// Returns the entry the case had.
    fn unindex_dedup(&self, case_id: &str) -> Tx<Option<DedupEntry>> {
        let d = self.get_val::<DedupEntry>(DEDUP_ENTRIES, case_id.as_bytes())?;
        if d.is_some() {
            self.t(DEDUP_ENTRIES).remove(case_id.as_bytes())?;
        }
        Ok(d)
    }
}

enum InsertOutcome {
    /// The new case, and the master it was linked to (as written).
    Created(CaseRecord, Option<Box<CaseRecord>>),
    Existing(CaseRecord),
}

fn matches(c: &CaseRecord, f: &CaseFilter) -> bool {
    f.status.is_none_or(|s| s == c.status)
        && f.category.as_deref().is_none_or(|v| v == c.category)
        && f.department.as_deref().is_none_or(|v| v == c.department)
        && f.channel.is_none_or(|v| v == c.channel)
        && f.jurisdiction
            .as_deref()
            .is_none_or(|v| v == c.jurisdiction)
        && f.received_after.is_none_or(|t| c.received_at >= t)
        && f.received_before.is_none_or(|t| c.received_at < t)
}

/// Rebuild the in-memory band index: the dedup entries of the cases received since the horizon
/// (`keep_ms` before the newest case; one range scan of `idx_time`, one get per case), and the
/// older reports of the matters that linked reports in that range belong to. (A master newer
/// than the horizon whose every report is older is not found this way: such reports were
/// received more than the window before their master, which the window rule only allows for
/// reports linked by hand.)
fn load_band_index(trees: &[Tree], keep_ms: Millis) -> Result<BandIndex> {
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
            match decode::<CaseRecord>("cases", &m, &v) {
                Ok(master) => refresh_matter(trees, &mut ix, &master)?,
                Err(e) => tracing::warn!(error = %e, "matter left out of the band index"),
            }
        }
    }
    Ok(ix)
}

/// `master`'s matter was reported at `master.last_report_at()`: widen the spans of its cases in
/// the band index, loading those not indexed (older than the horizon) when that reaches it.
fn refresh_matter(trees: &[Tree], ix: &mut BandIndex, master: &CaseRecord) -> Result<()> {
    let last = master.last_report_at();
    let ids = std::iter::once(master.id.as_str())
        .chain(master.reports.iter().map(|r| r.case_id.as_str()));
    for id in ids {
        let Some(n) = case_num(id) else {
            continue;
        };
        if ix.bump(n, last) || last < ix.horizon() {
            continue;
        }
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
fn take_band_snapshot(
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

/// Advance the band index's horizon when it is due, dropping the entries it leaves behind.
fn evict(trees: &[Tree], ix: &mut BandIndex) {
    let Some((horizon, cases)) = ix.expired(crate::band_index::EVICT_BATCH) else {
        return;
    };
    for n in cases {
        let id = case_id_of(n);
        let keys = match trees[DEDUP_ENTRIES].get(id.as_bytes()) {
            Ok(Some(v)) => match decode::<DedupEntry>("dedup_entries", id.as_bytes(), &v) {
                Ok(d) => posting_keys(&d.jurisdiction, &d.bands),
                Err(_) => Vec::new(),
            },
            _ => Vec::new(),
        };
        if keys.is_empty() {
            tracing::warn!(case = %id, "evicted from the band index without its keys");
        }
        ix.remove(n, &keys);
    }
    ix.set_horizon(horizon);
}

/// Schema 1 → 2 in place: JSON values become postcard, outbox entries keep their case copy,
/// the on-disk band tree goes. Each value is converted only if it still parses as JSON, so a
/// migration interrupted by a crash resumes where it stopped; the version is written last.
fn migrate_v1(db: &sled::Db, trees: &[Tree]) -> Result<()> {
    fn convert<T, S>(tree: &Tree, name: &str, map: impl Fn(T) -> S) -> Result<u64>
    where
        T: serde::de::DeserializeOwned,
        S: serde::Serialize + serde::de::DeserializeOwned,
    {
        let mut n = 0;
        for kv in tree.iter() {
            let (k, v) = kv.map_err(storage)?;
            match serde_json::from_slice::<T>(&v) {
                Ok(x) => {
                    tree.insert(&k, encode(&map(x))).map_err(storage)?;
                    n += 1;
                }
                // Already converted by an interrupted run: it must read as the new format.
                Err(_) => {
                    decode::<S>(name, &k, &v)?;
                }
            }
        }
        Ok(n)
    }
    let started = std::time::Instant::now();
    tracing::info!("migrating the store from schema 1 (JSON values) to 2 (postcard)");
    let cases = convert::<CaseRecord, CaseRecord>(&trees[CASES], "cases", |x| x)?;
    convert::<DedupEntry, DedupEntry>(&trees[DEDUP_ENTRIES], "dedup_entries", |x| x)?;
    convert::<CorrectionRecord, CorrectionRecord>(&trees[CORRECTIONS], "corrections", |x| x)?;
    convert::<Vec<u64>, Vec<u64>>(&trees[OUTBOX_QUEUE], "outbox_queue", |x| x)?;
    convert::<OutboxEntry, StoredEntry>(&trees[OUTBOX], "outbox", StoredEntry::frozen)?;
    convert::<OutboxEntry, StoredEntry>(&trees[DEAD_LETTERS], "dead_letters", StoredEntry::frozen)?;
    let audit = db.open_tree(AUDIT_TREE).map_err(storage)?;
    convert::<AuditEvent, AuditEvent>(&audit, AUDIT_TREE, |x| x)?;
    db.drop_tree("dedup_bands").map_err(storage)?;
    db.flush().map_err(storage)?;
    trees[META]
        .insert(META_SCHEMA, &SCHEMA_VERSION.to_be_bytes())
        .map_err(storage)?;
    db.flush().map_err(storage)?;
    tracing::info!(
        cases,
        seconds = started.elapsed().as_secs_f64(),
        "store migrated to schema 2"
    );
    Ok(())
}

impl SledStore {
    /// Open (or create) the store in directory `path` with [`StoreOptions::default`].
    pub fn open(path: &Path) -> Result<SledStore> {
        SledStore::open_with(path, &StoreOptions::default())
    }

    /// Open (or create) the store in directory `path`.
    ///
    /// A store of schema 1 (JSON values, on-disk band index) is migrated in place first: every
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
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        && std::time::Instant::now() < deadline =>
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
        let trees = TREE_NAMES
            .iter()
            .map(|n| db.open_tree(n))
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
                    1 => migrate_v1(&db, &trees)?,
                    _ => {
                        return Err(StoreError::Corrupt {
                            key: "meta/schema_version".into(),
                            reason: format!(
                                "store has schema version {version}, this build reads {SCHEMA_VERSION} (and migrates 1)"
                            ),
                        });
                    }
                }
            }
        }
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
            trees,
            bands: RwLock::new(bands),
            dedup_writer: Mutex::new(()),
            dir: dir.map(Path::to_path_buf),
            from_snapshot,
            index_degraded: AtomicBool::new(false),
        })
    }

    fn tree(&self, i: usize) -> &Tree {
        &self.trees[i]
    }

    fn tx<T>(&self, f: impl Fn(&W<'_>) -> Tx<T>) -> Result<T> {
        self.trees[..]
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

    /// Back-dated lookups: the part `[since, until]` of the range lies before the band index's
    /// horizon. Walk the jurisdiction's cases received in it, and the matters they belong to, and
    /// compare their stored keys; add what shares keys and is not in `out` yet.
    #[allow(clippy::too_many_arguments)]
    fn candidates_before_horizon(
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

    /// The in-memory band index: cases, postings, bytes of the posting table, horizon
    /// (diagnostics, benches).
    pub fn band_index_stats(&self) -> BandIndexStats {
        let b = self.bands_read();
        let (postings, table_bytes) = b.postings_stats();
        BandIndexStats {
            cases: b.len(),
            postings,
            table_bytes,
            horizon: b.horizon(),
            from_snapshot: self.from_snapshot,
        }
    }

    /// Save the band index for the next open: flush, write the snapshot file (synced, renamed
    /// into place), then record its token in `meta` and flush again. Called on drop, when no
    /// other write can follow; the next open takes the token out before anything else writes.
    fn save_band_snapshot(&self, dir: &Path) -> Result<()> {
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
        self.trees[META]
            .insert(META_BAND_SNAPSHOT, &token.to_be_bytes())
            .map_err(storage)?;
        self.db.flush().map_err(storage)?;
        Ok(())
    }

    fn new_case_id(&self) -> Result<String> {
        let n = self.db.generate_id().map_err(storage)?;
        Ok(format!("PD{n:012}"))
    }

    fn load_case(&self, id: &[u8]) -> Result<Option<CaseRecord>> {
        match self.tree(CASES).get(id).map_err(storage)? {
            None => Ok(None),
            Some(v) => decode("cases", id, &v).map(Some),
        }
    }

    fn counter(&self, tree: usize, key: &[u8]) -> Result<u64> {
        match self.tree(tree).get(key).map_err(storage)? {
            None => Ok(0),
            Some(v) => decode_u64(TREE_NAMES[tree], key, &v),
        }
    }

    fn dead_matching(&self, keys: &[String]) -> Result<Vec<StoredEntry>> {
        let mut out = Vec::new();
        for kv in self.tree(DEAD_LETTERS).iter() {
            let (k, v) = kv.map_err(storage)?;
            let e: StoredEntry = decode("dead_letters", &k, &v)?;
            let seq = e.seq.to_string();
            if keys.is_empty() || keys.iter().any(|k| *k == e.idempotency_key || *k == seq) {
                out.push(e);
            }
        }
        Ok(out)
    }

    /// Stored entries with their payloads, read in one transaction so a case change (which
    /// freezes the entry it affects) cannot fall between reading an entry and its case.
    fn materialize_all(&self, tree: usize, seqs: &[u64]) -> Result<Vec<OutboxEntry>> {
        if seqs.is_empty() {
            return Ok(Vec::new());
        }
        self.tx(|w| {
            let mut out = Vec::with_capacity(seqs.len());
            for &seq in seqs {
                match w.entry(tree, seq)? {
                    Some(e) => out.push(w.materialize(e)?),
                    None => {
                        return abort(StoreError::Corrupt {
                            key: format!("{}/{seq}", TREE_NAMES[tree]),
                            reason: "entry vanished while being read".into(),
                        });
                    }
                }
            }
            Ok(out)
        })
    }

    /// Walk every case and check that all indexes agree with it (and nothing else is indexed).
    /// Returns the number of cases checked; an inconsistency is `StoreError::Corrupt`.
    pub fn check_consistency(&self) -> Result<usize> {
        let corrupt = |key: String, reason: String| StoreError::Corrupt { key, reason };
        let mut want_time: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
        let mut want_attr: HashSet<Vec<u8>> = HashSet::new();
        let mut want_counts: HashMap<Vec<u8>, u64> = HashMap::new();
        let mut want_rids: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
        let mut n = 0;
        for kv in self.tree(CASES).iter() {
            let (k, v) = kv.map_err(storage)?;
            let c: CaseRecord = decode("cases", &k, &v)?;
            if c.id.as_bytes() != k.as_ref() {
                return Err(corrupt(
                    format!("cases/{}", key_str(&k)),
                    format!("holds case {}", c.id),
                ));
            }
            n += 1;
            want_time.insert(
                time_key(&[], c.received_at, &c.id),
                c.duplicate_of.clone().unwrap_or_default().into_bytes(),
            );
            for p in case_attr_prefixes(&c) {
                want_attr.insert(time_key(&p, c.received_at, &c.id));
                *want_counts.entry(p).or_default() += 1;
            }
            if !c.request_id.is_empty() {
                want_rids.insert(c.request_id.clone().into_bytes(), c.id.clone().into_bytes());
            }
            if let Some(m) = &c.duplicate_of {
                let master = self.load_case(m.as_bytes())?.ok_or_else(|| {
                    corrupt(format!("cases/{}", c.id), format!("master {m} missing"))
                })?;
                if !master.reports.iter().any(|r| r.case_id == c.id) {
                    return Err(corrupt(
                        format!("cases/{}", c.id),
                        format!("master {m} does not list it"),
                    ));
                }
            }
        }
        let check_map = |tree: usize, want: &HashMap<Vec<u8>, Vec<u8>>| -> Result<()> {
            let mut seen = 0;
            for kv in self.tree(tree).iter() {
                let (k, v) = kv.map_err(storage)?;
                match want.get(k.as_ref()) {
                    Some(w) if w.as_slice() == v.as_ref() => seen += 1,
                    _ => {
                        return Err(corrupt(
                            format!("{}/{}", TREE_NAMES[tree], key_str(&k)),
                            "index entry does not match any case".into(),
                        ));
                    }
                }
            }
            if seen != want.len() {
                return Err(corrupt(
                    TREE_NAMES[tree].into(),
                    format!("{} entries missing", want.len() - seen),
                ));
            }
            Ok(())
        };
        check_map(IDX_TIME, &want_time)?;
        check_map(REQUEST_IDS, &want_rids)?;
        let attr: HashMap<Vec<u8>, Vec<u8>> =
            want_attr.into_iter().map(|k| (k, Vec::new())).collect();
        check_map(IDX_ATTR, &attr)?;
        let counts: HashMap<Vec<u8>, Vec<u8>> = want_counts
            .into_iter()
            .map(|(k, c)| (k, enc_u64(c).to_vec()))
            .collect();
        check_map(IDX_COUNTS, &counts)?;
        // dedup: every entry belongs to an existing, open case (same received_at); the band
        // index holds exactly the entries from its horizon on, under their keys
        let bands = self.bands_read();
        let horizon = bands.horizon();
        let mut in_memory: HashMap<u64, (Millis, Millis)> = bands
            .entries()
            .map(|(n, at, active)| (n, (at, active)))
            .collect();
        let mut postings = 0;
        for kv in self.tree(DEDUP_ENTRIES).iter() {
            let (k, v) = kv.map_err(storage)?;
            let d: DedupEntry = decode("dedup_entries", &k, &v)?;
            let id = String::from_utf8_lossy(&k).to_string();
            let case = match self.load_case(&k)? {
                Some(c) if c.status.is_open() && c.received_at == d.received_at => c,
                _ => {
                    return Err(corrupt(
                        format!("dedup_entries/{id}"),
                        "no open case received at the entry's time".into(),
                    ));
                }
            };
            // The latest report of its matter: the index may know a later time, not an earlier.
            let last = match &case.duplicate_of {
                None => case.last_report_at(),
                Some(m) => self
                    .load_case(m.as_bytes())?
                    .map_or(case.received_at, |m| m.last_report_at()),
            }
            .max(case.received_at);
            let num = case_num(&id);
            let got = num.and_then(|n| in_memory.remove(&n));
            let keys = posting_keys(&d.jurisdiction, &d.bands);
            let ok = match &got {
                None => last < horizon,
                Some((at, active)) => {
                    postings += keys.len();
                    *at == d.received_at
                        && *active >= last
                        && num.is_some_and(|n| bands.indexed_under(n, &keys))
                }
            };
            if !ok {
                return Err(corrupt(
                    format!("dedup_entries/{id}"),
                    format!(
                        "band index holds {:?} for it (horizon {horizon}, matter last reported {last})",
                        got
                    ),
                ));
            }
        }
        if bands.postings_stats().0 != postings {
            return Err(corrupt(
                "band index".into(),
                format!(
                    "{} postings for {postings} keys of indexed entries",
                    bands.postings_stats().0
                ),
            ));
        }
        drop(bands);
        if let Some(n) = in_memory.keys().next() {
            return Err(corrupt(
                "band index".into(),
                format!(
                    "holds {} cases without an open dedup entry, e.g. {}",
                    in_memory.len(),
                    case_id_of(*n)
                ),
            ));
        }
        // outbox: queues list exactly the outbox entries, heads are due-indexed, only a queue's
        // newest entry may refer to the stored case
        let mut want_queues: HashMap<String, Vec<u64>> = HashMap::new();
        let mut entries: HashMap<u64, StoredEntry> = HashMap::new();
        for kv in self.tree(OUTBOX).iter() {
            let (k, v) = kv.map_err(storage)?;
            let e: StoredEntry = decode("outbox", &k, &v)?;
            want_queues
                .entry(e.case_id.clone())
                .or_default()
                .push(e.seq);
            entries.insert(e.seq, e);
        }
        let mut want_due: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
        let want_q: HashMap<Vec<u8>, Vec<u8>> = want_queues
            .into_iter()
            .map(|(id, q)| {
                let head = &entries[&q[0]];
                want_due.insert(due_key(head.next_attempt_at, head.seq), Vec::new());
                (id.into_bytes(), encode(&q))
            })
            .collect();
        check_map(OUTBOX_QUEUE, &want_q)?;
        check_map(OUTBOX_DUE, &want_due)?;
        let mut newest: HashMap<&str, u64> = HashMap::new();
        for e in entries.values() {
            let m = newest.entry(e.case_id.as_str()).or_default();
            *m = (*m).max(e.seq);
        }
        for e in entries.values() {
            if e.case.is_none() && newest[e.case_id.as_str()] != e.seq {
                return Err(corrupt(
                    format!("outbox/{}", e.seq),
                    "refers to the stored case but a later event exists".into(),
                ));
            }
        }
        for kv in self.tree(DEAD_LETTERS).iter() {
            let (k, v) = kv.map_err(storage)?;
            let e: StoredEntry = decode("dead_letters", &k, &v)?;
            if e.case.is_none() {
                return Err(corrupt(
                    format!("dead_letters/{}", e.seq),
                    "has no case copy".into(),
                ));
            }
        }
        if self.counter(META, META_OUTBOX_LEN)? != entries.len() as u64 {
            return Err(corrupt(
                "meta/outbox_len".into(),
                "does not match the outbox".into(),
            ));
        }
        if self.counter(META, META_DEAD_LEN)? != self.tree(DEAD_LETTERS).len() as u64 {
            return Err(corrupt(
                "meta/dead_len".into(),
                "does not match dead_letters".into(),
            ));
        }
        Ok(n)
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

/// The audit trail: outside the case transactions (an audit entry follows the change it records).
const AUDIT_TREE: &str = "audit";

impl Store for SledStore {
    fn insert_case(&self, new: NewCase) -> Result<Inserted> {
        if let Some(d) = &new.dedup
            && d.bands.len() > u16::MAX as usize
        {
            return Err(StoreError::Invalid("too many dedup bands".into()));
        }
        let id = self.new_case_id()?;
        let _dedup_writer = self.dedup_write_lock();
        let outcome = self.tx(|w| {
            let rid = new.record.request_id.as_str();
            if !rid.is_empty()
                && let Some(existing) = w.t(REQUEST_IDS).get(rid.as_bytes())?
            {
                let existing_id = String::from_utf8_lossy(&existing).to_string();
                let case = w.case(&existing_id)?;
                if case.request_digest == new.record.request_digest {
                    return Ok(InsertOutcome::Existing(case));
                }
                return abort(StoreError::Conflict {
                    request_id: rid.to_string(),
                    case_id: existing_id,
                });
            }
            let mut linked_master = None;
            let mut rec = new.record.clone();
            rec.id = id.clone();
            rec.forwarding = ForwardingRecord::new();
            let at = rec.created_at;
            match &new.link_to {
                Some(link) => {
                    let mut master = w.case(&link.master_id)?;
                    // Link to the root of the matter, never to another linked report.
                    if let Some(root) = master.duplicate_of.clone() {
                        master = w.case(&root)?;
                    }
                    let old_master = master.clone();
                    rec.duplicate_of = Some(master.id.clone());
                    rec.duplicate_score = link.score;
                    rec.forwarding.state = ForwardingState::NotForwarded;
                    master.reports.push(ReportLink {
                        case_id: rec.id.clone(),
                        request_id: rec.request_id.clone(),
                        received_at: rec.received_at,
                        score: link.score,
                        text_excerpt: excerpt(&rec.text),
                    });
                    w.enqueue(&mut master, EventKind::DuplicateLinked, at)?;
                    w.put_case(Some(&old_master), &master)?;
                    linked_master = Some(Box::new(master));
                }
                None => {
                    rec.duplicate_of = None;
                    w.enqueue(&mut rec, EventKind::Created, at)?;
                }
            }
            w.put_case(None, &rec)?;
            if !rid.is_empty() {
                w.t(REQUEST_IDS).insert(rid.as_bytes(), rec.id.as_bytes())?;
            }
            if let Some(d) = &new.dedup {
                if d.received_at != rec.received_at {
                    let mut d = d.clone();
                    d.received_at = rec.received_at;
                    w.index_dedup(&rec.id, &d)?;
                } else {
                    w.index_dedup(&rec.id, d)?;
                }
            }
            Ok(InsertOutcome::Created(rec, linked_master))
        })?;
        Ok(match outcome {
            InsertOutcome::Created(case, master) => {
                let keys = new
                    .dedup
                    .as_ref()
                    .map(|d| posting_keys(&d.jurisdiction, &d.bands));
                let mut b = self.bands_write();
                if let (Some(keys), Some(n)) = (&keys, case_num(&case.id)) {
                    let active = master
                        .as_ref()
                        .map_or(case.received_at, |m| m.last_report_at());
                    b.insert(n, keys, case.received_at, active);
                }
                if let Some(m) = &master
                    && let Err(e) = refresh_matter(&self.trees, &mut b, m)
                {
                    // The case is stored; only older reports of its matter stay out of the
                    // in-memory index until the next open (which must rebuild, not load).
                    self.index_degraded.store(true, Ordering::Relaxed);
                    tracing::warn!(error = %e, master = %m.id, "band index refresh failed");
                }
                evict(&self.trees, &mut b);
                Inserted {
                    case,
                    created: true,
                }
            }
            InsertOutcome::Existing(case) => Inserted {
                case,
                created: false,
            },
        })
    }

    fn get_case(&self, id: &str) -> Result<Option<CaseRecord>> {
        self.load_case(id.as_bytes())
    }

    fn dedup_candidates(
        &self,
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
        let mut shared: FastMap<u64, u32> = FastMap::default();
        let horizon = {
            let b = self.bands_read();
            b.candidates(&keys, since, until, &mut shared);
            b.horizon()
        };
        let mut out: Vec<(String, u32)> = shared
            .into_iter()
            .map(|(n, c)| (case_id_of(n), c))
            .collect();
        if since < horizon {
            self.candidates_before_horizon(
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

    fn dedup_entry(&self, case_id: &str) -> Result<Option<DedupEntry>> {
        match self
            .tree(DEDUP_ENTRIES)
            .get(case_id.as_bytes())
            .map_err(storage)?
        {
            None => Ok(None),
            Some(v) => decode("dedup_entries", case_id.as_bytes(), &v).map(Some),
        }
    }

    fn list_cases(
        &self,
        filter: &CaseFilter,
        page_size: usize,
        page_token: Option<&str>,
    ) -> Result<Page> {
        let page_size = match page_size {
            0 => DEFAULT_PAGE_SIZE,
            n => n.min(MAX_PAGE_SIZE),
        };
        let after = match page_token.filter(|t| !t.is_empty()) {
            None => None,
            Some(t) => Some(decode_page_token(t).ok_or(StoreError::InvalidPageToken)?),
        };
        // Pick the attribute index with the fewest cases; the time index when there is none.
        let mut candidates: Vec<Vec<u8>> = Vec::new();
        if let Some(s) = filter.status {
            candidates.push(attr_prefix(TAG_STATUS, &(s as u8).to_string()));
        }
        if let Some(v) = &filter.category {
            candidates.push(attr_prefix(TAG_CATEGORY, v));
        }
        if let Some(v) = &filter.department {
            candidates.push(attr_prefix(TAG_DEPARTMENT, v));
        }
        if let Some(v) = filter.channel {
            candidates.push(attr_prefix(TAG_CHANNEL, &(v as u8).to_string()));
        }
        if let Some(v) = &filter.jurisdiction {
            candidates.push(attr_prefix(TAG_JURISDICTION, v));
        }
        let mut best: Option<(u64, Vec<u8>)> = None;
        for p in candidates {
            let n = self.counter(IDX_COUNTS, &p)?;
            if best.as_ref().is_none_or(|(m, _)| n < *m) {
                best = Some((n, p));
            }
        }
        let (tree, prefix) = match best {
            Some((_, p)) => (self.tree(IDX_ATTR), p),
            None => (self.tree(IDX_TIME), Vec::new()),
        };
        let lo = time_key(&prefix, filter.received_after.unwrap_or(i64::MIN), "");
        let mut hi: Option<Vec<u8>> = match filter.received_before {
            Some(t) => Some(time_key(&prefix, t, "")),
            None => prefix_end(&prefix),
        };
        if let Some((t, id)) = &after {
            let k = time_key(&prefix, *t, id);
            if hi.as_ref().is_none_or(|h| k < *h) {
                hi = Some(k);
            }
        }
        if hi.as_ref().is_some_and(|h| *h <= lo) {
            return Ok(Page {
                cases: Vec::new(),
                next_token: None,
            });
        }
        let upper = match hi {
            Some(h) => Bound::Excluded(h),
            None => Bound::Unbounded,
        };
        let mut cases = Vec::new();
        let mut more = false;
        for kv in tree.range((Bound::Included(lo), upper)).rev() {
            let (k, _) = kv.map_err(storage)?;
            let id = &k[prefix.len() + 8..];
            let Some(c) = self.load_case(id)? else {
                return Err(StoreError::Corrupt {
                    key: format!(
                        "{}/{}",
                        if prefix.is_empty() {
                            "idx_time"
                        } else {
                            "idx_attr"
                        },
                        key_str(&k)
                    ),
                    reason: "index points at a missing case".into(),
                });
            };
            if !matches(&c, filter) {
                continue;
            }
            if cases.len() == page_size {
                more = true;
                break;
            }
            cases.push(c);
        }
        let next_token = match (more, cases.last()) {
            (true, Some(c)) => Some(encode_page_token(c.received_at, &c.id)),
            _ => None,
        };
        Ok(Page { cases, next_token })
    }

    fn update_status(
        &self,
        id: &str,
        to: CaseStatus,
        note: &str,
        actor: &str,
        at: Millis,
    ) -> Result<CaseRecord> {
        let _dedup_writer = self.dedup_write_lock();
        let (case, unindexed) = self.tx(|w| {
            let old = w.case(id)?;
            if !old.status.can_move_to(to) {
                return abort(StoreError::InvalidTransition {
                    case_id: id.to_string(),
                    from: old.status,
                    to,
                });
            }
            let mut c = old.clone();
            c.history.push(StatusChange {
                from: old.status,
                to,
                note: note.to_string(),
                actor: actor.to_string(),
                at,
            });
            c.status = to;
            let unindexed = if to.is_open() {
                None
            } else {
                w.unindex_dedup(id)?
            };
            w.enqueue_if_master(&mut c, EventKind::Updated, at)?;
            w.put_case(Some(&old), &c)?;
            Ok((c, unindexed))
        })?;
        if let (Some(d), Some(n)) = (&unindexed, case_num(id)) {
            self.bands_write()
                .remove(n, &posting_keys(&d.jurisdiction, &d.bands));
        }
        Ok(case)
    }

    fn correct_case(
        &self,
        id: &str,
        category: Option<&str>,
        department: Option<&str>,
        note: &str,
        actor: &str,
        at: Millis,
    ) -> Result<CaseRecord> {
        if category.is_none() && department.is_none() {
            return Err(StoreError::Invalid(
                "a correction must change the category or the department".into(),
            ));
        }
        self.tx(|w| {
            let old = w.case(id)?;
            let mut c = old.clone();
            let correction = CorrectionRecord {
                case_id: id.to_string(),
                category_before: old.category.clone(),
                category_after: category.unwrap_or(&old.category).to_string(),
                department_before: old.department.clone(),
                department_after: department.unwrap_or(&old.department).to_string(),
                predicted_category: old.triage.category.code.clone(),
                predicted_department: old.triage.department.code.clone(),
                model_version: old.triage.model_version.clone(),
                note: note.to_string(),
                actor: actor.to_string(),
                at,
            };
            c.category = correction.category_after.clone();
            c.department = correction.department_after.clone();
            c.corrections.push(correction.clone());
            let key = w
                .t(CORRECTIONS)
                .generate_id()
                .map_err(ConflictableTransactionError::Storage)?;
            w.t(CORRECTIONS)
                .insert(&enc_u64(key), encode(&correction))?;
            if let Some(mut d) = w.get_val::<DedupEntry>(DEDUP_ENTRIES, id.as_bytes())? {
                d.category = c.category.clone();
                w.t(DEDUP_ENTRIES).insert(id.as_bytes(), encode(&d))?;
            }
            w.enqueue_if_master(&mut c, EventKind::Corrected, at)?;
            w.put_case(Some(&old), &c)?;
            Ok(c)
        })
    }

    fn split_report(
        &self,
        report_id: &str,
        note: &str,
        actor: &str,
        at: Millis,
    ) -> Result<CaseRecord> {
        self.tx(|w| {
            let old_report = w.case(report_id)?;
            let Some(master_id) = old_report.duplicate_of.clone() else {
                return abort(StoreError::Invalid(format!(
                    "case {report_id} is not a linked report"
                )));
            };
            let old_master = w.case(&master_id)?;
            let mut master = old_master.clone();
            master.reports.retain(|r| r.case_id != report_id);
            let n = if note.is_empty() {
                String::new()
            } else {
                format!(": {note}")
            };
            master.history.push(history_note(
                &master,
                format!("split off report {report_id}{n}"),
                actor,
                at,
            ));
            let mut report = old_report.clone();
            report.duplicate_of = None;
            report.duplicate_score = 0.0;
            report.history.push(history_note(
                &report,
                format!("split from {master_id}{n}"),
                actor,
                at,
            ));
            // The platform has only seen it inside the master; now it is a matter of its own.
            w.enqueue(&mut report, EventKind::Created, at)?;
            w.enqueue_if_master(&mut master, EventKind::Updated, at)?;
            w.put_case(Some(&old_master), &master)?;
            w.put_case(Some(&old_report), &report)?;
            Ok(report)
        })
    }

    fn merge_cases(
        &self,
        master_id: &str,
        duplicate_id: &str,
        note: &str,
        actor: &str,
        at: Millis,
    ) -> Result<CaseRecord> {
        if master_id == duplicate_id {
            return Err(StoreError::Invalid(
                "cannot merge a case into itself".into(),
            ));
        }
        let _dedup_writer = self.dedup_write_lock();
        let master = self.tx(|w| {
            let old_master = w.case(master_id)?;
            if let Some(m) = &old_master.duplicate_of {
                return abort(StoreError::Invalid(format!(
                    "case {master_id} is a linked report of {m}; merge into {m}"
                )));
            }
            let old_dup = w.case(duplicate_id)?;
            if old_dup.duplicate_of.is_some() {
                return abort(StoreError::Invalid(format!(
                    "case {duplicate_id} is already a linked report; split it first"
                )));
            }
            let n = if note.is_empty() {
                String::new()
            } else {
                format!(": {note}")
            };
            let mut master = old_master.clone();
            let mut dup = old_dup.clone();
            master.reports.push(ReportLink {
                case_id: dup.id.clone(),
                request_id: dup.request_id.clone(),
                received_at: dup.received_at,
                score: 1.0,
                text_excerpt: excerpt(&dup.text),
            });
            for link in std::mem::take(&mut dup.reports) {
                let old_r = w.case(&link.case_id)?;
                let mut r = old_r.clone();
                r.duplicate_of = Some(master.id.clone());
                r.history.push(history_note(
                    &r,
                    format!("moved from {duplicate_id} to {master_id}{n}"),
                    actor,
                    at,
                ));
                w.put_case(Some(&old_r), &r)?;
                master.reports.push(link);
            }
            master
                .reports
                .sort_by(|a, b| (a.received_at, &a.case_id).cmp(&(b.received_at, &b.case_id)));
            master.history.push(history_note(
                &master,
                format!("merged {duplicate_id}{n}"),
                actor,
                at,
            ));
            dup.history.push(history_note(
                &dup,
                format!("merged into {master_id}{n}"),
                actor,
                at,
            ));
            dup.duplicate_of = Some(master.id.clone());
            dup.duplicate_score = 1.0;
            // The platform knew the duplicate as a case of its own: tell it, then stop forwarding it.
            w.enqueue(&mut dup, EventKind::Updated, at)?;
            w.enqueue(&mut master, EventKind::Updated, at)?;
            w.put_case(Some(&old_dup), &dup)?;
            w.put_case(Some(&old_master), &master)?;
            Ok(master)
        })?;
        let mut b = self.bands_write();
        if let Err(e) = refresh_matter(&self.trees, &mut b, &master) {
            self.index_degraded.store(true, Ordering::Relaxed);
            tracing::warn!(error = %e, master = %master.id, "band index refresh failed");
        }
        evict(&self.trees, &mut b);
        Ok(master)
    }

    fn hot_issues(
        &self,
        jurisdiction: Option<&str>,
        category: Option<&str>,
        since: Millis,
        until: Millis,
        limit: usize,
    ) -> Result<Vec<HotIssue>> {
        if until <= since {
            return Ok(Vec::new());
        }
        // master id → (reports in window, first, last)
        let mut agg: HashMap<String, (u32, Millis, Millis)> = HashMap::new();
        let range = time_key(&[], since, "")..time_key(&[], until, "");
        for kv in self.tree(IDX_TIME).range(range) {
            let (k, v) = kv.map_err(storage)?;
            let t = dec_time(&k[..8]).unwrap_or(since);
            let master = if v.is_empty() { &k[8..] } else { v.as_ref() };
            let e = agg
                .entry(String::from_utf8_lossy(master).to_string())
                .or_insert((0, t, t));
            e.0 += 1;
            e.1 = e.1.min(t);
            e.2 = e.2.max(t);
        }
        let mut ranked: Vec<(String, (u32, Millis, Millis))> = agg.into_iter().collect();
        ranked.sort_by(|a, b| (b.1.0, b.1.2, &b.0).cmp(&(a.1.0, a.1.2, &a.0)));
        let mut out = Vec::new();
        for (id, (count, first, last)) in ranked {
            if out.len() >= limit {
                break;
            }
            let Some(master) = self.load_case(id.as_bytes())? else {
                continue;
            };
            if jurisdiction.is_some_and(|j| j != master.jurisdiction)
                || category.is_some_and(|c| c != master.category)
            {
                continue;
            }
            out.push(HotIssue {
                master,
                report_count: count,
                first_report_at: first,
                last_report_at: last,
            });
        }
        Ok(out)
    }

    fn corrections(&self) -> Result<Vec<CorrectionRecord>> {
        self.tree(CORRECTIONS)
            .iter()
            .map(|kv| {
                let (k, v) = kv.map_err(storage)?;
                decode("corrections", &k, &v)
            })
            .collect()
    }

    fn outbox_due(&self, now: Millis, limit: usize) -> Result<Vec<OutboxEntry>> {
        let end = due_key(now, u64::MAX);
        let mut seqs = Vec::new();
        for kv in self.tree(OUTBOX_DUE).range(..=end) {
            if seqs.len() >= limit {
                break;
            }
            let (k, _) = kv.map_err(storage)?;
            let seq = dec_u64(&k[8..]).ok_or_else(|| StoreError::Corrupt {
                key: format!("outbox_due/{}", key_str(&k)),
                reason: "key is not time ‖ seq".into(),
            })?;
            seqs.push(seq);
        }
        seqs.sort_unstable();
        // An entry delivered between the scan and the read is simply not due any more.
        let mut out = Vec::with_capacity(seqs.len());
        if !seqs.is_empty() {
            out = self.tx(|w| {
                let mut out = Vec::with_capacity(seqs.len());
                for &seq in &seqs {
                    if let Some(e) = w.entry(OUTBOX, seq)? {
                        out.push(w.materialize(e)?);
                    }
                }
                Ok(out)
            })?;
        }
        Ok(out)
    }

    fn outbox_delivered(
        &self,
        seq: u64,
        sink: &str,
        all_sinks: &[String],
        at: Millis,
    ) -> Result<bool> {
        self.tx(|w| {
            let Some(mut e) = w.entry(OUTBOX, seq)? else {
                return Ok(false);
            };
            if !e.delivered_to.iter().any(|s| s == sink) {
                e.delivered_to.push(sink.to_string());
            }
            if !all_sinks.iter().all(|s| e.delivered_to.contains(s)) {
                w.t(OUTBOX).insert(&enc_u64(seq), encode(&e))?;
                return Ok(false);
            }
            w.t(OUTBOX).remove(&enc_u64(seq))?;
            w.queue_remove(&e)?;
            w.add_counter(META, META_OUTBOX_LEN, -1)?;
            if let Some(old) = w.get_val::<CaseRecord>(CASES, e.case_id.as_bytes())? {
                let mut c = old.clone();
                let f = &mut c.forwarding;
                f.events_delivered += 1;
                f.events_pending = f.events_pending.saturating_sub(1);
                f.delivered_at = Some(at);
                f.attempts = 0;
                f.last_error.clear();
                if f.events_pending == 0 {
                    f.state = ForwardingState::Delivered;
                }
                w.put_case(Some(&old), &c)?;
            }
            Ok(true)
        })
    }

    fn outbox_failed(
        &self,
        seq: u64,
        error: &str,
        next_attempt_at: Millis,
        dead: bool,
    ) -> Result<()> {
        self.tx(|w| {
            let Some(old_e) = w.entry(OUTBOX, seq)? else {
                return abort(StoreError::Invalid(format!(
                    "no pending outbox entry {seq}"
                )));
            };
            let mut e = old_e.clone();
            e.attempts += 1;
            e.last_error = error.to_string();
            if dead {
                // A dead letter keeps its payload whatever happens to the case later.
                if e.case.is_none() {
                    e.case = Some(w.case(&e.case_id)?);
                }
                w.t(OUTBOX).remove(&enc_u64(seq))?;
                w.queue_remove(&old_e)?;
                w.t(DEAD_LETTERS).insert(&enc_u64(seq), encode(&e))?;
                w.add_counter(META, META_OUTBOX_LEN, -1)?;
                w.add_counter(META, META_DEAD_LEN, 1)?;
            } else {
                e.next_attempt_at = next_attempt_at;
                w.t(OUTBOX).insert(&enc_u64(seq), encode(&e))?;
                let due_old = due_key(old_e.next_attempt_at, seq);
                if w.t(OUTBOX_DUE).remove(due_old)?.is_some() {
                    w.t(OUTBOX_DUE)
                        .insert(due_key(e.next_attempt_at, seq), &[][..])?;
                }
            }
            if let Some(old) = w.get_val::<CaseRecord>(CASES, e.case_id.as_bytes())? {
                let mut c = old.clone();
                let f = &mut c.forwarding;
                f.attempts = e.attempts;
                f.last_error = e.last_error.clone();
                if dead {
                    f.events_pending = f.events_pending.saturating_sub(1);
                    f.state = ForwardingState::Dead;
                }
                w.put_case(Some(&old), &c)?;
            }
            Ok(())
        })
    }

    fn outbox_list(&self, dead: bool, limit: usize) -> Result<Vec<OutboxEntry>> {
        let tree = if dead { DEAD_LETTERS } else { OUTBOX };
        let seqs = self
            .tree(tree)
            .iter()
            .keys()
            .take(limit)
            .map(|k| {
                let k = k.map_err(storage)?;
                dec_u64(&k).ok_or_else(|| StoreError::Corrupt {
                    key: format!("{}/{}", TREE_NAMES[tree], key_str(&k)),
                    reason: "key is not a seq".into(),
                })
            })
            .collect::<Result<Vec<u64>>>()?;
        self.materialize_all(tree, &seqs)
    }

    fn outbox_len(&self, dead: bool) -> Result<u64> {
        self.counter(META, if dead { META_DEAD_LEN } else { META_OUTBOX_LEN })
    }

    fn outbox_retry_dead(&self, keys: &[String], now: Millis) -> Result<u32> {
        let mut n = 0;
        for e in self.dead_matching(keys)? {
            let moved = self.tx(|w| {
                let Some(mut e) = w.entry(DEAD_LETTERS, e.seq)? else {
                    return Ok(false);
                };
                w.t(DEAD_LETTERS).remove(&enc_u64(e.seq))?;
                e.attempts = 0;
                e.next_attempt_at = now;
                w.t(OUTBOX).insert(&enc_u64(e.seq), encode(&e))?;
                w.queue_insert(&e)?;
                w.add_counter(META, META_OUTBOX_LEN, 1)?;
                w.add_counter(META, META_DEAD_LEN, -1)?;
                if let Some(old) = w.get_val::<CaseRecord>(CASES, e.case_id.as_bytes())? {
                    let mut c = old.clone();
                    c.forwarding.events_pending += 1;
                    c.forwarding.state = ForwardingState::Pending;
                    c.forwarding.attempts = 0;
                    w.put_case(Some(&old), &c)?;
                }
                Ok(true)
            })?;
            n += u32::from(moved);
        }
        Ok(n)
    }

    fn outbox_drop_dead(&self, keys: &[String]) -> Result<u32> {
        if keys.is_empty() {
            // Dropping is irreversible: it takes explicit keys, never "all".
            return Ok(0);
        }
        let mut n = 0;
        for e in self.dead_matching(keys)? {
            let dropped = self.tx(|w| {
                if w.t(DEAD_LETTERS).remove(&enc_u64(e.seq))?.is_none() {
                    return Ok(false);
                }
                w.add_counter(META, META_DEAD_LEN, -1)?;
                Ok(true)
            })?;
            n += u32::from(dropped);
        }
        Ok(n)
    }

    fn append_audit(&self, event: &AuditEvent) -> Result<()> {
        let tree = self.db.open_tree(AUDIT_TREE).map_err(storage)?;
        // generate_id is monotonic across restarts, so keys sort in the order events happened.
        let id = self.db.generate_id().map_err(storage)?;
        tree.insert(id.to_be_bytes(), encode(event))
            .map_err(storage)?;
        Ok(())
    }

    fn audit_log(&self, limit: usize) -> Result<Vec<AuditEvent>> {
        let tree = self.db.open_tree(AUDIT_TREE).map_err(storage)?;
        tree.iter()
            .rev()
            .take(limit)
            .map(|kv| {
                let (k, v) = kv.map_err(storage)?;
                decode(AUDIT_TREE, &k, &v)
            })
            .collect()
    }

    fn flush(&self) -> Result<()> {
        self.db.flush().map_err(storage)?;
        Ok(())
    }
}
