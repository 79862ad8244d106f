//! Schema migrations (1 → 2 → 3 → 4 → 5 → 6, in place at open) and the consistency check that walks
//! every case and compares its indexes, dedup entry and outbox state with what is stored.

use std::collections::{HashMap, HashSet};

use super::entry::StoredEntry;
use super::*;
use crate::record::{
    AuditEventV2, CaseV2, CaseV3, CaseV4, CorrectionV2, DedupEntryV2, OutboxEntryV1, OutboxEntryV2,
    OutboxEntryV3, OutboxEntryV4,
};

/// Schema 2, the version [`migrate_v1`] writes.
const SCHEMA_2: u32 = 2;
/// Schema 3, the version [`migrate_v2`] writes.
const SCHEMA_3: u32 = 3;
const SCHEMA_4: u32 = 4;
const SCHEMA_5: u32 = 5;

/// A value that reads as `T` with no bytes over.
fn exact<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    match postcard::take_from_bytes::<T>(bytes) {
        Ok((v, [])) => Some(v),
        _ => None,
    }
}

/// Every value of `tree` that reads exactly as `Old` rewritten as `New`; one that already reads
/// as `New` is left (an interrupted run converted it); any other is corrupt. `step` names the
/// migration in errors ("2 → 3").
fn convert_appended<Old, New>(
    tree: &Tree,
    name: &str,
    step: &str,
    map: impl Fn(Old) -> New,
) -> Result<u64>
where
    Old: serde::de::DeserializeOwned,
    New: serde::Serialize + serde::de::DeserializeOwned,
{
    let mut n = 0;
    for kv in tree.iter() {
        let (k, v) = kv.map_err(storage)?;
        if exact::<New>(&v).is_some() {
            continue;
        }
        let old = exact::<Old>(&v).ok_or_else(|| StoreError::Corrupt {
            key: format!("{name}/{}", key_str(&k)),
            reason: format!("reads as neither side of the schema {step} migration"),
        })?;
        tree.insert(&k, encode_record(&map(old))).map_err(storage)?;
        n += 1;
    }
    Ok(n)
}

/// Schema 1 → 2 in place: JSON values become postcard, outbox entries keep their case copy,
/// the on-disk band tree goes. Each value is converted only if it still parses as JSON, so a
/// migration interrupted by a crash resumes where it stopped; the version is written last.
pub(super) fn migrate_v1(db: &sled::Db, trees: &[Tree]) -> Result<()> {
    /// `J`: the schema 1 JSON value (read through a frozen record, never a domain type);
    /// `S`: the schema 2 record.
    fn convert<J, S>(tree: &Tree, name: &str, map: impl Fn(J) -> S) -> Result<u64>
    where
        J: serde::de::DeserializeOwned,
        S: serde::Serialize + serde::de::DeserializeOwned,
    {
        let mut n = 0;
        for kv in tree.iter() {
            let (k, v) = kv.map_err(storage)?;
            match serde_json::from_slice::<J>(&v) {
                Ok(x) => {
                    tree.insert(&k, encode_record(&map(x))).map_err(storage)?;
                    n += 1;
                }
                // Already converted by an interrupted run: it must read as the new format.
                Err(_) => {
                    postcard::from_bytes::<S>(&v).map_err(|e| StoreError::Corrupt {
                        key: format!("{name}/{}", key_str(&k)),
                        reason: e.to_string(),
                    })?;
                }
            }
        }
        Ok(n)
    }
    let started = std::time::Instant::now();
    tracing::info!("migrating the store from schema 1 (JSON values) to 2 (postcard)");
    // Schema 1's JSON had the field and variant names of today's records.
    let cases = convert::<CaseV2, CaseV2>(&trees[CASES], "cases", |x| x)?;
    convert::<DedupEntryV2, DedupEntryV2>(&trees[DEDUP_ENTRIES], "dedup_entries", |x| x)?;
    convert::<CorrectionV2, CorrectionV2>(&trees[CORRECTIONS], "corrections", |x| x)?;
    convert::<Vec<u64>, Vec<u64>>(&trees[OUTBOX_QUEUE], "outbox_queue", |x| x)?;
    // outbox entries keep their case as a frozen copy
    convert::<OutboxEntryV1, OutboxEntryV2>(&trees[OUTBOX], "outbox", OutboxEntryV2::from)?;
    convert::<OutboxEntryV1, OutboxEntryV2>(
        &trees[DEAD_LETTERS],
        "dead_letters",
        OutboxEntryV2::from,
    )?;
    convert::<AuditEventV2, AuditEventV2>(&trees[AUDIT], "audit", |x| x)?;
    db.drop_tree("dedup_bands").map_err(storage)?;
    db.flush().map_err(storage)?;
    trees[META]
        .insert(META_SCHEMA, &SCHEMA_2.to_be_bytes())
        .map_err(storage)?;
    db.flush().map_err(storage)?;
    tracing::info!(
        cases,
        seconds = started.elapsed().as_secs_f64(),
        "store migrated to schema 2"
    );
    Ok(())
}

/// Schema 2 → 3 in place: cases gain their (empty) dispatch data, outbox entries and dead
/// letters with a frozen payload its (empty) dispatch data; nothing else changes. Schema 3 only
/// appends to a value (see [`crate::record`]), so a value that reads as schema 3 with no bytes
/// over is already converted and one that reads as schema 2 with no bytes over is not: an
/// interrupted migration resumes where it stopped. The version is written last.
pub(super) fn migrate_v2(db: &sled::Db, trees: &[Tree]) -> Result<()> {
    let started = std::time::Instant::now();
    tracing::info!("migrating the store from schema 2 to 3 (dispatch data on cases)");
    let step = "2 → 3";
    let cases = convert_appended::<CaseV2, CaseV3>(&trees[CASES], "cases", step, CaseV3::from)?;
    for (tree, name) in [(OUTBOX, "outbox"), (DEAD_LETTERS, "dead_letters")] {
        convert_appended::<OutboxEntryV2, OutboxEntryV3>(
            &trees[tree],
            name,
            step,
            OutboxEntryV3::from,
        )?;
    }
    db.flush().map_err(storage)?;
    trees[META]
        .insert(META_SCHEMA, &SCHEMA_3.to_be_bytes())
        .map_err(storage)?;
    db.flush().map_err(storage)?;
    tracing::info!(
        cases,
        seconds = started.elapsed().as_secs_f64(),
        "store migrated to schema 3"
    );
    Ok(())
}

/// Schema 3 → 4 in place, as [`migrate_v2`] does it: cases gain their (empty) places and
/// deadline-event marks, outbox entries and dead letters with a frozen payload the same. Only
/// appends, so it resumes after a crash; the version is written last.
pub(super) fn migrate_v3(db: &sled::Db, trees: &[Tree]) -> Result<()> {
    let started = std::time::Instant::now();
    tracing::info!("migrating the store from schema 3 to 4 (places and deadline events on cases)");
    let step = "3 → 4";
    let cases = convert_appended::<CaseV3, CaseV4>(&trees[CASES], "cases", step, CaseV4::from)?;
    for (tree, name) in [(OUTBOX, "outbox"), (DEAD_LETTERS, "dead_letters")] {
        convert_appended::<OutboxEntryV3, OutboxEntryV4>(
            &trees[tree],
            name,
            step,
            OutboxEntryV4::from,
        )?;
    }
    db.flush().map_err(storage)?;
    trees[META]
        .insert(META_SCHEMA, &SCHEMA_4.to_be_bytes())
        .map_err(storage)?;
    db.flush().map_err(storage)?;
    tracing::info!(
        cases,
        seconds = started.elapsed().as_secs_f64(),
        "store migrated to schema 4"
    );
    Ok(())
}

/// Schema 4 → 5: nothing to convert. Schema 5 reads every schema 4 value as it is (a master with
/// its links in its record, a frozen payload with its links copied) and moves a master's links to
/// `case_links` at its next write (`links.rs`). Only the version changes, so that a schema 4
/// build refuses the store instead of reading a master's head as a master without links.
pub(super) fn migrate_v4(db: &sled::Db, trees: &[Tree]) -> Result<()> {
    set_schema(db, trees, SCHEMA_5, "report links apart from their master")
}

/// Schema 5 → 6: nothing to convert here either. From schema 6 the dedup entries may hold keys
/// of a newer fingerprint version (`meta/dedup_key_version`, re-keyed by paidan-core at startup
/// through [`Store::rekey_dedup`]), which a schema 5 build cannot read: the version changes so
/// that such a build refuses the store instead of failing every duplicate lookup.
pub(super) fn migrate_v5(db: &sled::Db, trees: &[Tree]) -> Result<()> {
    set_schema(
        db,
        trees,
        SCHEMA_VERSION,
        "dedup entries re-keyed at startup",
    )
}

/// A migration that converts nothing: only the version changes (and is flushed).
fn set_schema(db: &sled::Db, trees: &[Tree], version: u32, what: &str) -> Result<()> {
    trees[META]
        .insert(META_SCHEMA, &version.to_be_bytes())
        .map_err(storage)?;
    db.flush().map_err(storage)?;
    tracing::info!(version, "store at schema {version} ({what})");
    Ok(())
}

impl SledStore {
    /// Walk every case and check that all indexes agree with it (and nothing else is indexed).
    /// Returns the number of cases checked; an inconsistency is `StoreError::Corrupt`.
    pub fn check_consistency(&self) -> Result<usize> {
        let corrupt = |key: String, reason: String| StoreError::Corrupt { key, reason };
        let mut want_time: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
        let mut want_attr: HashSet<Vec<u8>> = HashSet::new();
        let mut want_counts: HashMap<Vec<u8>, u64> = HashMap::new();
        let mut want_rids: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
        let mut want_due: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
        let mut n = 0;
        for kv in self.tree(CASES).iter() {
            let (k, v) = kv.map_err(storage)?;
            let value = decode_case_value(&k, &v)?;
            // A master's links apart: its rows give its head.
            self.check_links(&value)?;
            let c = value.rec;
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
            if let Some(k) = super::deadlines::want_key(&c) {
                want_due.insert(k, Vec::new());
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
        check_map(IDX_DUE, &want_due)?;
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
            let e = decode_entry("outbox", &k, &v)?;
            want_queues
                .entry(e.case_id.clone())
                .or_default()
                .push(e.seq);
            entries.insert(e.seq, e);
        }
        let mut want_heads: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
        let want_q: HashMap<Vec<u8>, Vec<u8>> = want_queues
            .into_iter()
            .map(|(id, q)| {
                let head = &entries[&q[0]];
                want_heads.insert(due_key(head.next_attempt_at, head.seq), Vec::new());
                (id.into_bytes(), encode(&q))
            })
            .collect();
        check_map(OUTBOX_QUEUE, &want_q)?;
        check_map(OUTBOX_DUE, &want_heads)?;
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
            let e = decode_entry("dead_letters", &k, &v)?;
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
}
