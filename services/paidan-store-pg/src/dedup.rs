//! Dedup entries and the candidate lookup, as a query over the band keys of open cases.
//!
//! Why a query and not paidan-store's in-memory band index: the index is one process's copy of
//! the entries, rebuilt at open; over a shared database every node would need to see every other
//! node's inserts before its next lookup. `dedup_bands` holds each open case's band keys (a set),
//! written in the case's transaction and removed with its entry when the case closes, so a lookup
//! sees exactly what has committed. (Issue 18's partition owners may keep an in-memory index for
//! their own partitions later; the table is what they would rebuild it from.)
//!
//! The time rule is the band index's: a case is a candidate when its matter's activity span —
//! from the case's own `received_at` to the latest report of its matter — meets `[since, until]`.

use crate::session::Txn;
use paidan_store::*;

use crate::{PgStore, Tx};

/// Index `entry` for `case_id`: the entry's bytes and its band keys.
pub(crate) fn put_entry(t: &mut Txn<'_, '_>, case_id: &str, entry: &DedupEntry) -> Tx<()> {
    t.execute(
        "INSERT INTO dedup_entries (case_id, jurisdiction, entry) VALUES ($1, $2, $3)
         ON CONFLICT (case_id) DO UPDATE SET jurisdiction = $2, entry = $3",
        &[
            &case_id,
            &entry.jurisdiction,
            &record::encode_dedup_entry(entry),
        ],
    )?;
    let bands: Vec<i64> = entry.bands.iter().map(|&b| b as i64).collect();
    t.execute(
        "INSERT INTO dedup_bands (jurisdiction, band, case_id)
         SELECT $1, b, $3 FROM unnest($2::bigint[]) AS b
         ON CONFLICT DO NOTHING",
        &[&entry.jurisdiction, &bands, &case_id],
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
    if until < since || bands.is_empty() || limit == 0 {
        return Ok(Vec::new());
    }
    let bands: Vec<i64> = bands.iter().map(|&b| b as i64).collect();
    let rows = s.with(|c| {
        c.query(
            "WITH hits AS (SELECT case_id, count(*) AS shared FROM dedup_bands
                           WHERE jurisdiction = $1 AND band = ANY($2)
                           GROUP BY case_id)
             SELECT h.case_id, h.shared
             FROM hits h
             JOIN cases c ON c.id = h.case_id
             JOIN cases m ON m.id = coalesce(c.duplicate_of, c.id)
             WHERE c.received_at <= $4
               AND greatest(c.received_at, m.last_report_at) >= $3
             ORDER BY h.shared DESC, h.case_id DESC
             LIMIT $5",
            &[
                &jurisdiction,
                &bands,
                &since,
                &until,
                &(limit.min(i64::MAX as usize) as i64),
            ],
        )
    })?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), r.get::<_, i64>(1) as u32))
        .collect())
}

pub(crate) fn dedup_entry(s: &PgStore, case_id: &str) -> Result<Option<DedupEntry>> {
    let row = s.with(|c| {
        c.query_opt(
            "SELECT entry FROM dedup_entries WHERE case_id = $1",
            &[&case_id],
        )
    })?;
    row.map(|r| record::decode_dedup_entry(&format!("dedup_entries/{case_id}"), r.get(0)))
        .transpose()
}
