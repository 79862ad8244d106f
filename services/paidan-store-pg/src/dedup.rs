//! Dedup entries and the candidate lookup, as a query over the band keys of open cases.
//!
//! Why a query and not paidan-store's in-memory band index: the index is one process's copy of
//! the entries, rebuilt at open; over a shared database every node would need to see every other
//! node's inserts before its next lookup. Each open case's entry row holds its band keys as one
//! `bigint[]` (`bands`, a set: duplicates count once), under a GIN index, written in the case's
//! transaction and removed with the entry when the case closes, so a lookup sees exactly what
//! has committed. A node that holds the jurisdiction's partition finds the cases sharing keys in
//! its own memory instead (`owned`, rebuilt from these rows at a takeover) and the query then
//! checks only those cases; without a lease the query probes the GIN index.
//!
//! Why an array and not a row per key (the `dedup_bands` table up to migration 6): ~46 rows per
//! case with two btree entries each were most of PostgreSQL's CPU per SubmitComplaint; one heap
//! tuple and one GIN entry per key cost less to write (a lookup still probes ~46 keys; ~16
//! since fingerprint version 3).
//!
//! The time rule is the band index's: a case is a candidate when its matter's activity span —
//! from the case's own `received_at` to the latest report of its matter — meets `[since, until]`.
//!
//! A re-key ([`Store::rekey_dedup`]: a new fingerprint version's band layout) rewrites the
//! entries and their arrays in place, a page of entries per transaction, then records the
//! version in `paidan_meta` (migration 9) and drops the owners' indexes. Why in place and not a
//! new table swapped in: other nodes' inserts and edits may go on meanwhile, and a
//! compare-and-set per entry keeps each writer's row as it wrote it (re-keyed again if it needs
//! to be), where a copy would have to chase them.

use std::collections::HashSet;

use crate::session::{Session, Txn};
use paidan_store::*;
use postgres::GenericClient;
use postgres::types::ToSql;

use crate::{PgStore, Tx};

/// Index `entry` for `case_id`: the entry's bytes and its band keys.
pub(crate) fn put_entry<C: GenericClient>(
    t: &mut Session<'_, C>,
    case_id: &str,
    entry: &DedupEntry,
) -> Tx<()> {
    let bands: Vec<i64> = entry.bands.iter().map(|&b| b as i64).collect();
    t.execute(
        "INSERT INTO dedup_entries (case_id, jurisdiction, entry, bands) VALUES ($1, $2, $3, $4)
         ON CONFLICT (case_id) DO UPDATE SET jurisdiction = $2, entry = $3, bands = $4",
        &[
            &case_id,
            &entry.jurisdiction,
            &record::encode_dedup_entry(entry),
            &bands,
        ],
    )?;
    Ok(())
}

/// The case's entry, locked (`FOR UPDATE`).
pub(crate) fn lock_entry(t: &mut Txn<'_, '_>, case_id: &str) -> Tx<Option<DedupEntry>> {
    match t.query_opt(
        "SELECT entry FROM dedup_entries WHERE case_id = $1 FOR UPDATE",
        &[&case_id],
    )? {
        None => Ok(None),
        Some(row) => Ok(Some(record::decode_dedup_entry(
            &format!("dedup_entries/{case_id}"),
            row.get(0),
        )?)),
    }
}

/// The case leaves the duplicate index (its band keys go with it).
pub(crate) fn remove_entry(t: &mut Txn<'_, '_>, case_id: &str) -> Tx<()> {
    t.execute("DELETE FROM dedup_entries WHERE case_id = $1", &[&case_id])?;
    Ok(())
}

pub(crate) fn dedup_candidates(
    s: &PgStore,
    jurisdiction: &str,
    bands: &[u64],
    since: Millis,
    until: Millis,
    limit: usize,
) -> Result<Vec<(String, u32)>> {
    let q = Candidates {
        jurisdiction,
        bands,
        since,
        until,
        limit,
    };
    let owned = s.owned_candidates(jurisdiction, bands, until);
    let (found, gone) = s.read(|c| candidates_with_entries(c, &q, owned.as_deref(), false))?;
    s.owned_forget(jurisdiction, &gone);
    Ok(found.into_iter().map(|f| (f.id, f.shared)).collect())
}

/// The arguments of a candidate lookup.
pub(crate) struct Candidates<'a> {
    pub(crate) jurisdiction: &'a str,
    pub(crate) bands: &'a [u64],
    pub(crate) since: Millis,
    pub(crate) until: Millis,
    pub(crate) limit: usize,
}

/// A candidate as the lookup reads it.
pub(crate) struct Found {
    pub(crate) id: String,
    /// Distinct bands shared.
    pub(crate) shared: u32,
    /// Its dedup entry's bytes.
    pub(crate) entry: Option<Vec<u8>>,
    /// With `with_cases`: the candidate's case and, for a linked report, its master (id, record
    /// bytes).
    pub(crate) cases: Vec<(String, Vec<u8>)>,
}

/// The band-key part of the candidate query: each case with the number of query keys (as
/// given) in its set. One GIN probe per query key (`bands @> ARRAY[key]`, the LATERAL subquery,
/// kept apart by OFFSET 0). Why per key and not one `bands && $2` scan: the planner's estimate
/// for an overlap with ~16–46 constant keys is a few percent of the table, so a custom plan (a
/// prepared statement's first five) scans every entry (0.5 s at 20,000 entries); a one-key
/// containment is estimated selective and always probes the index, and it needs no per-hit
/// count over the two arrays.
const HITS_BY_KEYS: &str = "hits AS (SELECT x.case_id, count(*) AS shared
                       FROM unnest($2::bigint[]) AS b(band)
                       CROSS JOIN LATERAL (SELECT e.case_id FROM dedup_entries e
                                           WHERE e.bands @> ARRAY[b.band]
                                             AND e.jurisdiction = $1
                                           OFFSET 0) x
                       GROUP BY x.case_id)";

/// The same from the owner's index (`owned`): the cases and their counts are given ($2, $6);
/// each is a primary-key probe for its entry (`entry` NULL: gone since it was indexed).
const HITS_GIVEN: &str = "hits AS (SELECT h.case_id, h.shared
                       FROM unnest($2::text[], $6::bigint[]) AS h(case_id, shared)),
              entries AS (SELECT h.case_id, h.shared, e.entry
                          FROM hits h LEFT JOIN dedup_entries e
                               ON e.case_id = h.case_id AND e.jurisdiction = $1)";

/// The candidates (see [`Store::dedup_candidates`]), each with its entry's bytes, in one query:
/// the lookup reads every candidate's entry next, and a writer round keeps them (`round`) so
/// those reads cost no round trip. With `owned` (the owner's index answered which cases share
/// keys, see `owned`) the query only checks those; the second value is the cases among them
/// whose entry is gone (to forget).
pub(crate) fn candidates_with_entries<C: GenericClient>(
    c: &mut Session<'_, C>,
    q: &Candidates<'_>,
    owned: Option<&[(u64, u32)]>,
    with_cases: bool,
) -> Tx<(Vec<Found>, Vec<u64>)> {
    let &Candidates {
        jurisdiction,
        bands,
        since,
        until,
        limit,
    } = q;
    if until < since || bands.is_empty() || limit == 0 || owned.is_some_and(|o| o.is_empty()) {
        return Ok((Vec::new(), Vec::new()));
    }
    // Then each hit's case and master are primary-key probes (scalar subqueries), which the
    // planner cannot turn into scans. `OFFSET 0` in `spans` keeps each hit's span one evaluation
    // (the planner would otherwise inline it into both of its comparisons).
    let (hits, from) = match owned {
        None => (HITS_BY_KEYS, "hits h"),
        Some(_) => (HITS_GIVEN, "entries h WHERE h.entry IS NOT NULL"),
    };
    let cte = format!(
        "WITH {hits},
              spans AS (SELECT h.case_id, h.shared,
                               (SELECT array[c.received_at,
                                             greatest(c.received_at,
                                                      (SELECT m.last_report_at FROM cases m
                                                       WHERE m.id = coalesce(c.duplicate_of,
                                                                             c.id)))]
                                FROM cases c WHERE c.id = h.case_id) AS span
                        FROM {from} OFFSET 0),
              top AS (SELECT case_id, shared FROM spans
                      WHERE span[1] <= $4 AND span[2] >= $3
                      ORDER BY shared DESC, case_id DESC
                      LIMIT $5)"
    );
    let mut tail = if with_cases {
        " SELECT t.case_id, t.shared,
                 (SELECT e.entry FROM dedup_entries e WHERE e.case_id = t.case_id),
                 c.record, c.duplicate_of,
                 (SELECT m.record FROM cases m WHERE m.id = c.duplicate_of)
          FROM top t
          LEFT JOIN LATERAL (SELECT record, duplicate_of FROM cases WHERE id = t.case_id
                             OFFSET 0) c ON true"
            .to_string()
    } else {
        " SELECT t.case_id, t.shared,
                 (SELECT e.entry FROM dedup_entries e WHERE e.case_id = t.case_id)
          FROM top t"
            .to_string()
    };
    if owned.is_some() {
        // The given cases whose entry is gone, last (shared -1).
        tail.push_str(if with_cases {
            " UNION ALL SELECT h.case_id, -1, NULL::bytea, NULL::bytea, NULL::text, NULL::bytea
              FROM entries h WHERE h.entry IS NULL"
        } else {
            " UNION ALL SELECT h.case_id, -1, NULL::bytea FROM entries h WHERE h.entry IS NULL"
        });
    }
    tail.push_str(" ORDER BY 2 DESC, 1 DESC");
    // Distinct bands: a key repeated in the query counts once (the trait's rule).
    let mut bands: Vec<i64> = bands.iter().map(|&b| b as i64).collect();
    bands.sort_unstable();
    bands.dedup();
    let limit = limit.min(i64::MAX as usize) as i64;
    let (ids, counts): (Vec<String>, Vec<i64>) = owned
        .unwrap_or_default()
        .iter()
        .map(|&(n, k)| (case_id_of(n), i64::from(k)))
        .unzip();
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&jurisdiction, &bands, &since, &until, &limit];
    if owned.is_some() {
        params[1] = &ids;
        params.push(&counts);
    }
    let rows = c.query(&format!("{cte}{tail}"), &params)?;
    let mut gone = Vec::new();
    let mut found = Vec::with_capacity(rows.len());
    for r in &rows {
        let id: String = r.get(0);
        let shared: i64 = r.get(1);
        if shared < 0 {
            gone.extend(case_number(&id));
            continue;
        }
        let mut cases = Vec::new();
        if with_cases {
            if let Some(record) = r.get::<_, Option<Vec<u8>>>(3) {
                cases.push((id.clone(), record));
            }
            if let (Some(m), Some(record)) = (
                r.get::<_, Option<String>>(4),
                r.get::<_, Option<Vec<u8>>>(5),
            ) {
                cases.push((m, record));
            }
        }
        found.push(Found {
            id,
            shared: shared as u32,
            entry: r.get(2),
            cases,
        });
    }
    Ok((found, gone))
}

/// Decode an entry's bytes.
pub(crate) fn decode_entry(case_id: &str, bytes: &[u8]) -> Result<DedupEntry> {
    record::decode_dedup_entry(&format!("dedup_entries/{case_id}"), bytes)
}

/// The case's entry (unlocked).
pub(crate) fn read_entry<C: GenericClient>(
    c: &mut Session<'_, C>,
    case_id: &str,
) -> Tx<Option<DedupEntry>> {
    let row = c.query_opt(
        "SELECT entry FROM dedup_entries WHERE case_id = $1",
        &[&case_id],
    )?;
    Ok(row.map(|r| decode_entry(case_id, r.get(0))).transpose()?)
}

pub(crate) fn dedup_entry(s: &PgStore, case_id: &str) -> Result<Option<DedupEntry>> {
    s.read(|c| read_entry(c, case_id))
}

/// The `paidan_meta` row of the key version the entries were last re-keyed to.
const KEY_VERSION: &str = "dedup_key_version";

/// Entries a re-key reads, rewrites and commits at a time.
const REKEY_PAGE: i64 = 1000;

/// Times a page's entries changed by concurrent writers are read and re-keyed again before the
/// re-key gives up (leaving the version unrecorded, for the next run to finish).
const REKEY_PASSES: usize = 8;

pub(crate) fn dedup_key_version(s: &PgStore) -> Result<u32> {
    let value = s.with(|c| {
        c.query_opt(
            "SELECT value FROM paidan_meta WHERE name = $1",
            &[&KEY_VERSION],
        )
        .map(|r| r.map(|r| r.get::<_, i64>(0)))
    })?;
    match value {
        None => Ok(0),
        Some(v) => u32::try_from(v).map_err(|_| StoreError::Corrupt {
            key: format!("paidan_meta/{KEY_VERSION}"),
            reason: format!("{v} is not a key version"),
        }),
    }
}

/// [`Store::rekey_dedup`]: the entries in pages by case id (keyset pagination on the primary
/// key), each page read, re-keyed and written in one transaction, so a run holds no lock or
/// snapshot for long and an interrupted one keeps the pages it committed. Then the version, and
/// every owner's index is dropped (`owned`: rebuilt from the re-keyed rows at the next lookup).
///
/// A page is written with one compare-and-set UPDATE: an entry is replaced only if it still
/// holds the bytes the page read. One a concurrent writer changed meanwhile (an edit of its
/// category, which keeps its keys) is read again as that writer wrote it and re-keyed from there
/// (`rekey` keeps it if it already has the new keys); one removed meanwhile (its case closed) is
/// left gone. An entry that cannot be decoded is left as it is, with a warning.
pub(crate) fn rekey_dedup(
    s: &PgStore,
    version: u32,
    rekey: &(dyn Fn(&DedupEntry) -> Option<DedupEntry> + Sync),
) -> Result<u64> {
    let started = std::time::Instant::now();
    let (mut after, mut rewritten, mut read) = (String::new(), 0u64, 0u64);
    loop {
        let (page, last, n) = s.tx(|t| rekey_page(t, &after, rekey))?;
        let Some(last) = last else { break };
        (after, rewritten, read) = (last, rewritten + n, read + page);
    }
    s.tx(|t| {
        t.execute(
            "INSERT INTO paidan_meta (name, value) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            &[&KEY_VERSION, &i64::from(version)],
        )?;
        Ok(())
    })?;
    s.owned_invalidate_all();
    tracing::info!(
        version,
        read,
        rewritten,
        ms = started.elapsed().as_millis() as u64,
        "re-keyed the duplicate index"
    );
    Ok(rewritten)
}

/// An entry to rewrite: its case, the bytes it was read with, its replacement.
struct Rekeyed {
    case_id: String,
    old: Vec<u8>,
    new: DedupEntry,
}

/// The re-keyed replacement of each of `rows` (case id, entry bytes) that `rekey` changes.
fn rekeyed(
    rows: Vec<(String, Vec<u8>)>,
    rekey: &(dyn Fn(&DedupEntry) -> Option<DedupEntry> + Sync),
) -> Vec<Rekeyed> {
    rows.into_iter()
        .filter_map(|(case_id, old)| {
            let entry = match decode_entry(&case_id, &old) {
                Ok(e) => e,
                Err(e) => {
                    tracing::warn!(
                        case_id,
                        error = %e,
                        "a dedup entry that cannot be read keeps its keys"
                    );
                    return None;
                }
            };
            let new = rekey(&entry).filter(|n| *n != entry)?;
            Some(Rekeyed { case_id, old, new })
        })
        .collect()
}

/// The page of entries after `after`, re-keyed: (entries read, the last case id read or None
/// past the last entry, entries rewritten).
fn rekey_page(
    t: &mut Txn<'_, '_>,
    after: &str,
    rekey: &(dyn Fn(&DedupEntry) -> Option<DedupEntry> + Sync),
) -> Tx<(u64, Option<String>, u64)> {
    let rows = t.query(
        "SELECT case_id, entry FROM dedup_entries WHERE case_id > $1 ORDER BY case_id LIMIT $2",
        &[&after, &REKEY_PAGE],
    )?;
    let page = rows.len() as u64;
    let Some(last) = rows.last().map(|r| r.get::<_, String>(0)) else {
        return Ok((0, None, 0));
    };
    let mut todo = rekeyed(rows.iter().map(|r| (r.get(0), r.get(1))).collect(), rekey);
    let mut rewritten = 0u64;
    for _ in 0..REKEY_PASSES {
        if todo.is_empty() {
            return Ok((page, Some(last), rewritten));
        }
        let written = write_rekeyed(t, &todo)?;
        rewritten += written.len() as u64;
        let written: HashSet<&str> = written.iter().map(String::as_str).collect();
        let missed: Vec<&str> = todo
            .iter()
            .map(|r| r.case_id.as_str())
            .filter(|id| !written.contains(id))
            .collect();
        if missed.is_empty() {
            return Ok((page, Some(last), rewritten));
        }
        // Changed by a concurrent writer since read (READ COMMITTED: this reads its commit).
        let rows = t.query(
            "SELECT case_id, entry FROM dedup_entries WHERE case_id = ANY($1)",
            &[&missed],
        )?;
        todo = rekeyed(rows.iter().map(|r| (r.get(0), r.get(1))).collect(), rekey);
    }
    Err(StoreError::Storage(format!(
        "re-keying the duplicate index: {} entries after {after:?} kept changing under it",
        todo.len()
    ))
    .into())
}

/// Write `todo` in one statement, each entry only where it still holds the bytes it was read
/// with; the case ids written. Each entry's band keys are a slice of one flat array (`lo..=hi`,
/// 1-based; an empty slice for an entry without keys), as `put_entry` writes them.
fn write_rekeyed(t: &mut Txn<'_, '_>, todo: &[Rekeyed]) -> Tx<Vec<String>> {
    let (mut ids, mut olds, mut news, mut jurisdictions) = (vec![], vec![], vec![], vec![]);
    let (mut lo, mut hi, mut bands) = (vec![], vec![], Vec::<i64>::new());
    for r in todo {
        ids.push(r.case_id.as_str());
        olds.push(r.old.as_slice());
        news.push(record::encode_dedup_entry(&r.new));
        jurisdictions.push(r.new.jurisdiction.as_str());
        lo.push(bands.len() as i32 + 1);
        bands.extend(r.new.bands.iter().map(|&b| b as i64));
        hi.push(bands.len() as i32);
    }
    let rows = t.query(
        "UPDATE dedup_entries e
         SET jurisdiction = u.jurisdiction, entry = u.new, bands = ($7::bigint[])[u.lo:u.hi]
         FROM unnest($1::text[], $2::bytea[], $3::bytea[], $4::text[], $5::int4[], $6::int4[])
              AS u(case_id, old, new, jurisdiction, lo, hi)
         WHERE e.case_id = u.case_id AND e.entry = u.old
         RETURNING e.case_id",
        &[&ids, &olds, &news, &jurisdictions, &lo, &hi, &bands],
    )?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}
