//! Inserting a case: idempotent on the request id, fenced in a cluster, linking a report to its
//! master, in the fewest round trips (the submit writer runs inserts one after another, so each
//! round trip is paid by every submit behind it).
//!
//! A new case costs two statements: [`check_and_number`] (the request-id check, and — only when
//! the request id is new — the lease fence and the case number, one statement) and
//! [`write_new`] (the case row, its outbox event with the NOTIFY, its dedup entry and band keys,
//! one statement of data-modifying CTEs; the foreign keys between them are checked at its end).
//! A report linked to a master locks and rewrites the master as well (`cases::lock_case`,
//! `cases::put_case`, `outbox::write_events`, `dedup::put_entry`). The figures' deltas are left
//! to the caller: at once in the insert's own transaction, or summed over a writer round.

use paidan_store::figures::{self, FigureKey};
use paidan_store::*;
use postgres::GenericClient;
use postgres::types::ToSql;

use crate::cases::{lock_value, put_case, put_rows, put_value, whole_from};
use crate::lease::{Lease, partition_of};
use crate::outbox::{CHANNEL, enqueue, write_events};
use crate::session::Session;
use crate::{PgStore, Tx};
use paidan_store::links;

/// Merged per key and in key order, so one UPSERT writes them (a key twice in one
/// `INSERT … ON CONFLICT` is an error) and writers touch shared counters in one order.
pub(crate) type Deltas = std::collections::BTreeMap<FigureKey, i64>;

/// Add `more` to `into`.
pub(crate) fn add_deltas(into: &mut Deltas, more: impl IntoIterator<Item = (FigureKey, i64)>) {
    for (k, n) in more {
        *into.entry(k).or_default() += n;
    }
}

/// Refusals that need no database.
pub(crate) fn check_new(new: &NewCase) -> Result<()> {
    if let Some(d) = &new.dedup
        && d.bands.len() > u16::MAX as usize
    {
        return Err(StoreError::Invalid("too many dedup bands".into()));
    }
    Ok(())
}

/// An insert in a transaction of its own.
pub(crate) fn insert_case(s: &PgStore, new: NewCase) -> Result<Inserted> {
    check_new(&new)?;
    let out = s.tx(|t| {
        let (inserted, deltas) = insert_in(s, t, &new)?;
        crate::figures::upsert(
            t,
            deltas
                .iter()
                .filter(|(_, n)| **n != 0)
                .map(|(k, n)| (k, *n)),
        )?;
        Ok(inserted)
    });
    match &out {
        Ok(inserted) => {
            if let Some(p) = s.owned_pending(&new, inserted) {
                s.owned_commit(vec![p], true);
            }
        }
        // Maybe committed (a lost connection at COMMIT): the owner's index is rebuilt.
        Err(StoreError::Storage(_)) => {
            if let Some(d) = &new.dedup {
                s.owned_invalidate(partition_of(&d.jurisdiction));
            }
        }
        Err(_) => {}
    }
    out
}

/// The request id's case (`$1`), if any, and — only when there is none — the next case number,
/// drawn while the lease row ($2–$4) is share-locked and still valid (NULL when it is not).
const CHECK_FENCED: &str = "SELECT r.id, r.record,
       CASE WHEN r.id IS NULL THEN
            (SELECT nextval('case_numbers') FROM partition_leases
             WHERE partition = $2 AND owner = $3 AND epoch = $4
               AND expires_at > statement_timestamp()
             FOR SHARE)
       END
FROM (SELECT 1) AS one LEFT JOIN cases r ON r.request_id = $1";
/// The same without fencing (one node).
const CHECK_UNFENCED: &str = "SELECT r.id, r.record,
       CASE WHEN r.id IS NULL THEN nextval('case_numbers') END
FROM (SELECT 1) AS one LEFT JOIN cases r ON r.request_id = $1";
/// The request id's case only (a node that does not hold the partition may still answer an
/// idempotent repeat).
const CHECK_ONLY: &str = "SELECT r.id, r.record, NULL::bigint
FROM (SELECT 1) AS one LEFT JOIN cases r ON r.request_id = $1";

/// What the request-id check found.
enum Checked {
    /// The request id is stored: its case.
    Stored(String, Box<CaseRecord>),
    /// New: the case number to use.
    Number(i64),
}

/// The request-id check and, for a new request, the fence and the case number, in one
/// statement (see the module docs). In a cluster only the partition's owner writes its cases;
/// an idempotent repeat writes nothing and may be answered anywhere.
fn check_and_number<C: GenericClient>(
    s: &PgStore,
    t: &mut Session<'_, C>,
    new: &NewCase,
) -> Tx<Checked> {
    let rid = Some(new.record.request_id.as_str()).filter(|r| !r.is_empty());
    let jurisdiction = &new.record.jurisdiction;
    let partition = partition_of(jurisdiction);
    let lease: Option<Option<Lease>> = s.fencing().map(|o| o.lease(partition));
    let row = match &lease {
        None => t.query_one(CHECK_UNFENCED, &[&rid])?,
        Some(Some(l)) => t.query_one(
            CHECK_FENCED,
            &[&rid, &(l.partition as i16), &l.owner, &l.epoch],
        )?,
        Some(None) => t.query_one(CHECK_ONLY, &[&rid])?,
    };
    if let Some(id) = row.get::<_, Option<String>>(0) {
        let case = whole_from(t, &id, row.get(1))?;
        return Ok(Checked::Stored(id, Box::new(case)));
    }
    match (row.get::<_, Option<i64>>(2), lease) {
        (Some(n), _) => Ok(Checked::Number(n)),
        (None, Some(Some(l))) => Err(crate::lease::lost(&l)),
        (None, _) => Err(StoreError::Fenced(format!(
            "{} does not hold partition {partition} (jurisdiction {jurisdiction:?})",
            s.fencing().map_or("this node", |o| o.node())
        ))
        .into()),
    }
}

/// The insert's statements, inside a transaction the caller opened (its own, or a writer
/// round's under a savepoint); the figures' deltas are left to the caller.
pub(crate) fn insert_in<C: GenericClient>(
    s: &PgStore,
    t: &mut Session<'_, C>,
    new: &NewCase,
) -> Tx<(Inserted, Deltas)> {
    let n = match check_and_number(s, t, new)? {
        Checked::Number(n) => n,
        Checked::Stored(id, case) => {
            if case.request_digest == new.record.request_digest {
                let inserted = Inserted {
                    case: *case,
                    created: false,
                };
                return Ok((inserted, Deltas::new()));
            }
            return Err(StoreError::Conflict {
                request_id: new.record.request_id.clone(),
                case_id: id,
            }
            .into());
        }
    };
    let mut rec = new.record.clone();
    rec.id = case_id_of(n as u64);
    rec.forwarding = ForwardingRecord::new();
    let at = rec.created_at;
    let dedup = new.dedup.as_ref().map(|d| {
        let mut d = d.clone();
        d.received_at = rec.received_at;
        d
    });
    // The figures change with the cases, in this transaction.
    let mut deltas = Deltas::new();
    match &new.link_to {
        Some(link) => {
            // The master's head only: a link adds a row, whatever the matter's size.
            let mut master = lock_value(t, &link.master_id)?;
            // Link to the root of the matter, never to another linked report.
            if let Some(root) = master.rec.duplicate_of.clone() {
                master = lock_value(t, &root)?;
            }
            let before = master.rec.clone();
            rec.duplicate_of = Some(master.rec.id.clone());
            rec.duplicate_score = link.score;
            rec.forwarding.state = ForwardingState::NotForwarded;
            let rows = links::add_link(
                &mut master,
                &ReportLink {
                    case_id: rec.id.clone(),
                    request_id: rec.request_id.clone(),
                    received_at: rec.received_at,
                    score: link.score,
                    text_excerpt: link.text_excerpt.clone(),
                },
            );
            let event = enqueue(&mut master.rec, EventKind::DuplicateLinked, at);
            put_case(t, &rec, true)?;
            put_rows(t, &master.rec.id, &rows)?;
            put_value(t, &master, false)?;
            add_deltas(&mut deltas, figures::deltas(None, &rec));
            add_deltas(&mut deltas, figures::deltas(Some(&before), &master.rec));
            write_events(t, &[event], std::slice::from_ref(&master))?;
            if let Some(d) = &dedup {
                crate::dedup::put_entry(t, &rec.id, d)?;
            }
        }
        None => {
            rec.duplicate_of = None;
            let event = enqueue(&mut rec, EventKind::Created, at);
            write_new(t, &rec, event.sequence, dedup.as_ref())?;
            add_deltas(&mut deltas, figures::deltas(None, &rec));
        }
    }
    let inserted = Inserted {
        case: rec,
        created: true,
    };
    Ok((inserted, deltas))
}

const WRITE_NEW: &str = "WITH c AS (
    INSERT INTO cases (id, request_id, jurisdiction, status, category, department, channel,
                       received_at, duplicate_of, last_report_at, record, deadline_pending)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $18)),
  o AS (
    INSERT INTO outbox (seq, case_id, sequence, kind, occurred_at, payload, enqueued_at,
                        next_attempt_at, partition)
    SELECT nextval('outbox_seqs'), $1, $12, $13, $14, $11, $14, $14, $15
    FROM (SELECT pg_notify($16, $17)) AS notified)";

const WRITE_NEW_DEDUP: &str = ",
  e AS (
    INSERT INTO dedup_entries (case_id, jurisdiction, entry, bands) VALUES ($1, $19, $20, $21)
    ON CONFLICT (case_id) DO UPDATE SET jurisdiction = $19, entry = $20, bands = $21)";

/// A new (unlinked) case in one statement: its row (as `cases::put_case` writes it), its
/// `Created` event with the case as its payload and the NOTIFY (as `outbox::write_events`), and
/// its dedup entry with its band keys (as `dedup::put_entry`).
fn write_new<C: GenericClient>(
    t: &mut Session<'_, C>,
    c: &CaseRecord,
    sequence: i64,
    dedup: Option<&DedupEntry>,
) -> Tx<()> {
    let request_id = Some(c.request_id.as_str()).filter(|r| !r.is_empty());
    let bytes = record::encode_case(c);
    let partition = partition_of(&c.jurisdiction) as i16;
    let (status, channel) = (c.status as i16, c.channel as i16);
    let (kind, last_report_at) = (EventKind::Created as i16, c.last_report_at());
    let notify = partition.to_string();
    let deadline = c.deadline_pending();
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![
        &c.id,
        &request_id,
        &c.jurisdiction,
        &status,
        &c.category,
        &c.department,
        &channel,
        &c.received_at,
        &c.duplicate_of,
        &last_report_at,
        &bytes,
        &sequence,
        &kind,
        &c.created_at,
        &partition,
        &CHANNEL,
        &notify,
        &deadline,
    ];
    let entry = dedup.map(record::encode_dedup_entry);
    let bands: Vec<i64> =
        dedup.map_or_else(Vec::new, |d| d.bands.iter().map(|&b| b as i64).collect());
    let sql = match (dedup, &entry) {
        (Some(d), Some(e)) => {
            params.extend([&d.jurisdiction as &(dyn ToSql + Sync), e, &bands]);
            format!("{WRITE_NEW}{WRITE_NEW_DEDUP} SELECT 1")
        }
        _ => format!("{WRITE_NEW} SELECT 1"),
    };
    t.execute(&sql, &params)?;
    Ok(())
}
