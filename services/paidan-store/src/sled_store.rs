//! The sled implementation of [`Store`].
//!
//! Trees (all in one sled `Db`, every multi-tree change in one sled transaction):
//!
//! | tree            | key                                             | value                          |
//! |-----------------|-------------------------------------------------|--------------------------------|
//! | `cases`         | case id                                         | JSON [`CaseRecord`]            |
//! | `request_ids`   | request id                                      | case id                        |
//! | `idx_time`      | enc(received_at) ‖ case id                      | master id (empty on a master)  |
//! | `idx_attr`      | tag ‖ len ‖ value ‖ enc(received_at) ‖ case id  | empty                          |
//! | `idx_counts`    | tag ‖ len ‖ value                               | u64 BE: cases under the value  |
//! | `dedup_bands`   | len ‖ jurisdiction ‖ band idx ‖ band ‖ case id  | empty                          |
//! | `dedup_entries` | case id                                         | JSON [`DedupEntry`]            |
//! | `corrections`   | u64 BE (monotonic)                              | JSON [`CorrectionRecord`]      |
//! | `outbox`        | seq u64 BE                                      | JSON [`OutboxEntry`]           |
//! | `outbox_queue`  | case id                                         | JSON `Vec<u64>`: pending seqs  |
//! | `outbox_due`    | enc(next_attempt_at) ‖ seq                      | empty; only each case's head   |
//! | `dead_letters`  | seq u64 BE                                      | JSON [`OutboxEntry`]           |
//! | `meta`          | name                                            | schema version, counters       |
//!
//! Attribute tags: `s` status, `c` category, `d` department, `h` channel, `j` jurisdiction.
//! `outbox_due` holds only the first pending entry of every case, so `outbox_due()` is a range
//! scan that never returns a later event of a case before its earlier one (per-case order) and
//! never walks the backlog of a sink that is down.

use std::collections::{HashMap, HashSet};
use std::ops::Bound;
use std::path::Path;

use sled::transaction::{
    ConflictableTransactionError, ConflictableTransactionResult, TransactionError,
    TransactionalTree,
};
use sled::{Transactional, Tree};

use crate::keys::*;
use crate::types::*;
use crate::{Result, Store, StoreError};

/// Current on-disk layout version, stored in `meta/schema_version`.
pub const SCHEMA_VERSION: u32 = 1;

const TREE_NAMES: [&str; 13] = [
    "cases",
    "request_ids",
    "idx_time",
    "idx_attr",
    "idx_counts",
    "dedup_bands",
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
const DEDUP_BANDS: usize = 5;
const DEDUP_ENTRIES: usize = 6;
const CORRECTIONS: usize = 7;
const OUTBOX: usize = 8;
const OUTBOX_QUEUE: usize = 9;
const OUTBOX_DUE: usize = 10;
const DEAD_LETTERS: usize = 11;
const META: usize = 12;

const META_SCHEMA: &[u8] = b"schema_version";
const META_OUTBOX_LEN: &[u8] = b"outbox_len";
const META_DEAD_LEN: &[u8] = b"dead_len";

/// Length of the text excerpt kept in a [`ReportLink`].
const EXCERPT_CHARS: usize = 80;
const DEFAULT_PAGE_SIZE: usize = 50;
const MAX_PAGE_SIZE: usize = 1000;

/// A [`Store`] on a sled database.
pub struct SledStore {
    db: sled::Db,
    trees: Vec<Tree>,
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
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        key: format!("{tree}/{}", key_str(key)),
        reason: e.to_string(),
    })
}

fn encode<T: serde::Serialize>(v: &T) -> Vec<u8> {
    // Our types are plain data (no maps with non-string keys), so serialisation cannot fail.
    serde_json::to_vec(v).expect("store types serialise to JSON")
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

/// The transactional view of every tree.
struct W<'a>(&'a [TransactionalTree]);

impl W<'_> {
    fn t(&self, i: usize) -> &TransactionalTree {
        &self.0[i]
    }

    fn get_json<T: serde::de::DeserializeOwned>(&self, i: usize, key: &[u8]) -> Tx<Option<T>> {
        match self.t(i).get(key)? {
            None => Ok(None),
            Some(v) => match decode(TREE_NAMES[i], key, &v) {
                Ok(x) => Ok(Some(x)),
                Err(e) => abort(e),
            },
        }
    }

    fn case(&self, id: &str) -> Tx<CaseRecord> {
        match self.get_json::<CaseRecord>(CASES, id.as_bytes())? {
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

    fn queue(&self, case_id: &str) -> Tx<Vec<u64>> {
        Ok(self
            .get_json::<Vec<u64>>(OUTBOX_QUEUE, case_id.as_bytes())?
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

    fn entry(&self, tree: usize, seq: u64) -> Tx<Option<OutboxEntry>> {
        self.get_json(tree, &enc_u64(seq))
    }

    /// Insert `seq` into its case's queue (sorted); keep `outbox_due` holding exactly the head.
    fn queue_insert(&self, entry: &OutboxEntry) -> Tx<()> {
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
    fn queue_remove(&self, entry: &OutboxEntry) -> Tx<()> {
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
    /// case's forwarding record; the caller writes the case afterwards.
    fn enqueue(&self, case: &mut CaseRecord, kind: EventKind, at: Millis) -> Tx<()> {
        let seq = self
            .t(OUTBOX)
            .generate_id()
            .map_err(ConflictableTransactionError::Storage)?;
        let sequence = case.forwarding.next_sequence.max(1);
        case.forwarding.next_sequence = sequence + 1;
        case.forwarding.events_pending += 1;
        case.forwarding.state = ForwardingState::Pending;
        let entry = OutboxEntry {
            seq,
            idempotency_key: format!("{}:{}", case.id, sequence),
            case_id: case.id.clone(),
            sequence,
            kind,
            occurred_at: at,
            case: case.clone(),
            delivered_to: Vec::new(),
            attempts: 0,
            last_error: String::new(),
            enqueued_at: at,
            next_attempt_at: at,
        };
        self.t(OUTBOX).insert(&enc_u64(seq), encode(&entry))?;
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
        for (i, band) in d.bands.iter().enumerate() {
            self.t(DEDUP_BANDS)
                .insert(band_key(&d.jurisdiction, i, *band, case_id), &[][..])?;
        }
        Ok(())
    }

    fn unindex_dedup(&self, case_id: &str) -> Tx<()> {
        if let Some(d) = self.get_json::<DedupEntry>(DEDUP_ENTRIES, case_id.as_bytes())? {
            for (i, band) in d.bands.iter().enumerate() {
                self.t(DEDUP_BANDS)
                    .remove(band_key(&d.jurisdiction, i, *band, case_id))?;
            }
            self.t(DEDUP_ENTRIES).remove(case_id.as_bytes())?;
        }
        Ok(())
    }
}

enum InsertOutcome {
    Created(CaseRecord),
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

impl SledStore {
    /// Open (or create) the store in directory `path`.
    ///
    /// sled releases its directory lock from a background thread shortly after the previous
    /// handle is dropped, so a reopen in the same process (restart tests, model reloads) waits for
    /// the lock for up to 10 s before giving up.
    pub fn open(path: &Path) -> Result<SledStore> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match sled::Config::new().path(path).open() {
                Ok(db) => return SledStore::from_db(db),
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
        let db = sled::Config::new()
            .temporary(true)
            .open()
            .map_err(storage)?;
        SledStore::from_db(db)
    }

    fn from_db(db: sled::Db) -> Result<SledStore> {
        let trees = TREE_NAMES
            .iter()
            .map(|n| db.open_tree(n))
            .collect::<sled::Result<Vec<_>>>()
            .map_err(storage)?;
        let store = SledStore { db, trees };
        let meta = &store.trees[META];
        match meta.get(META_SCHEMA).map_err(storage)? {
            None => {
                if !store.trees[CASES].is_empty() {
                    return Err(StoreError::Corrupt {
                        key: "meta/schema_version".into(),
                        reason: "missing, but the store holds cases".into(),
                    });
                }
                meta.insert(META_SCHEMA, &SCHEMA_VERSION.to_be_bytes())
                    .map_err(storage)?;
                store.db.flush().map_err(storage)?;
            }
            Some(v) => {
                let version = <[u8; 4]>::try_from(v.as_ref())
                    .map(u32::from_be_bytes)
                    .map_err(|_| StoreError::Corrupt {
                        key: "meta/schema_version".into(),
                        reason: format!("expected 4 bytes, found {}", v.len()),
                    })?;
                if version != SCHEMA_VERSION {
                    return Err(StoreError::Corrupt {
                        key: "meta/schema_version".into(),
                        reason: format!(
                            "store has schema version {version}, this build reads {SCHEMA_VERSION}"
                        ),
                    });
                }
            }
        }
        tracing::debug!(cases = store.trees[CASES].len(), "store opened");
        Ok(store)
    }

    fn tree(&self, i: usize) -> &Tree {
        &self.trees[i]
    }

    fn tx<T>(&self, f: impl Fn(&W<'_>) -> Tx<T>) -> Result<T> {
        self.trees[..]
            .transaction(|v: &Vec<TransactionalTree>| f(&W(v)))
            .map_err(tx_err)
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

    fn dead_matching(&self, keys: &[String]) -> Result<Vec<OutboxEntry>> {
        let mut out = Vec::new();
        for kv in self.tree(DEAD_LETTERS).iter() {
            let (k, v) = kv.map_err(storage)?;
            let e: OutboxEntry = decode("dead_letters", &k, &v)?;
            let seq = e.seq.to_string();
            if keys.is_empty() || keys.iter().any(|k| *k == e.idempotency_key || *k == seq) {
                out.push(e);
            }
        }
        Ok(out)
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
        // dedup: every band key belongs to an entry of an existing, open case
        let mut want_bands: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
        for kv in self.tree(DEDUP_ENTRIES).iter() {
            let (k, v) = kv.map_err(storage)?;
            let d: DedupEntry = decode("dedup_entries", &k, &v)?;
            let id = String::from_utf8_lossy(&k).to_string();
            match self.load_case(&k)? {
                Some(c) if c.status.is_open() => {}
                _ => {
                    return Err(corrupt(
                        format!("dedup_entries/{id}"),
                        "no open case".into(),
                    ));
                }
            }
            for (i, b) in d.bands.iter().enumerate() {
                want_bands.insert(band_key(&d.jurisdiction, i, *b, &id), Vec::new());
            }
        }
        check_map(DEDUP_BANDS, &want_bands)?;
        // outbox: queues list exactly the outbox entries, heads are due-indexed
        let mut want_queues: HashMap<String, Vec<u64>> = HashMap::new();
        let mut entries: HashMap<u64, OutboxEntry> = HashMap::new();
        for kv in self.tree(OUTBOX).iter() {
            let (k, v) = kv.map_err(storage)?;
            let e: OutboxEntry = decode("outbox", &k, &v)?;
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
                w.index_dedup(&rec.id, d)?;
            }
            Ok(InsertOutcome::Created(rec))
        })?;
        Ok(match outcome {
            InsertOutcome::Created(case) => Inserted {
                case,
                created: true,
            },
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
        limit: usize,
    ) -> Result<Vec<(String, u32)>> {
        let mut shared: HashMap<String, u32> = HashMap::new();
        for (i, band) in bands.iter().enumerate() {
            let prefix = band_prefix(jurisdiction, i, *band);
            for kv in self.tree(DEDUP_BANDS).scan_prefix(&prefix) {
                let (k, _) = kv.map_err(storage)?;
                let id = String::from_utf8_lossy(&k[prefix.len()..]).to_string();
                *shared.entry(id).or_default() += 1;
            }
        }
        let mut out: Vec<(String, u32)> = shared.into_iter().collect();
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
        self.tx(|w| {
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
            if !to.is_open() {
                w.unindex_dedup(id)?;
            }
            w.enqueue_if_master(&mut c, EventKind::Updated, at)?;
            w.put_case(Some(&old), &c)?;
            Ok(c)
        })
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
            if let Some(mut d) = w.get_json::<DedupEntry>(DEDUP_ENTRIES, id.as_bytes())? {
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
        self.tx(|w| {
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
        })
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
        let mut out = Vec::new();
        for kv in self.tree(OUTBOX_DUE).range(..=end) {
            if out.len() >= limit {
                break;
            }
            let (k, _) = kv.map_err(storage)?;
            let seq_bytes = &k[8..];
            match self.tree(OUTBOX).get(seq_bytes).map_err(storage)? {
                Some(v) => out.push(decode::<OutboxEntry>("outbox", seq_bytes, &v)?),
                None => {
                    return Err(StoreError::Corrupt {
                        key: format!("outbox_due/{}", key_str(&k)),
                        reason: "due entry has no outbox entry".into(),
                    });
                }
            }
        }
        out.sort_by_key(|e| e.seq);
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
            if let Some(old) = w.get_json::<CaseRecord>(CASES, e.case_id.as_bytes())? {
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
            if let Some(old) = w.get_json::<CaseRecord>(CASES, e.case_id.as_bytes())? {
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
        let (tree, name) = if dead {
            (DEAD_LETTERS, "dead_letters")
        } else {
            (OUTBOX, "outbox")
        };
        self.tree(tree)
            .iter()
            .take(limit)
            .map(|kv| {
                let (k, v) = kv.map_err(storage)?;
                decode(name, &k, &v)
            })
            .collect()
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
                if let Some(old) = w.get_json::<CaseRecord>(CASES, e.case_id.as_bytes())? {
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
