//! The forwarding outbox: events enqueued in the transaction of the change they report, due
//! entries (each case's first pending entry only, so a later event never overtakes an earlier
//! one), delivery per sink, failures and dead letters (`dead = true`, the same row).
//!
//! An entry's payload is the case as the event's transaction wrote it (the sled store keeps the
//! same by freezing a copy at the case's next change); the payload is written once, after the
//! transaction's last change of the case, so two events of one edit carry the same case.
//!
//! In a cluster (a store fenced by a node's [`Ownership`](crate::Ownership)) every event carries
//! its case's partition, and a node drains only the partitions it holds: [`outbox_due`] claims
//! the due heads with `FOR UPDATE SKIP LOCKED` and moves them [`CLAIM_MS`] later, so a node that
//! takes a partition over while the old owner's delivery is in flight neither waits for it nor
//! picks the same events up (an owner that died mid-delivery leaves them due again after the
//! claim: delivered at least once, per-case order kept — a case's next event is due only once
//! the earlier one is gone). Each transaction that enqueues events sends a `NOTIFY` on
//! [`CHANNEL`] with their partitions; [`OutboxListener`] lets the owner's forwarder wake on it
//! (polling stays the fallback).

use crate::session::Txn;
use paidan_store::*;
use postgres::types::ToSql;

use crate::cases::{put_value, read_value, whole};
use crate::lease::partition_of;
use crate::{PgStore, Tx};
use paidan_store::links::{self, CaseValue};

/// The `LISTEN` channel of outbox events; the payload is the partition.
pub const CHANNEL: &str = "paidan_outbox";
/// How long a claimed event stays with the node that claimed it before it is due again.
pub const CLAIM_MS: i64 = 10_000;

/// An event enqueued in this transaction, written by [`write_events`] once its case is final
/// (its global seq is drawn then, in the same statement).
pub(crate) struct NewEvent {
    case_id: String,
    pub(crate) sequence: i64,
    kind: EventKind,
    at: Millis,
}

/// Append an event of `case` (as it stands after this change): the case's next sequence; the
/// case's forwarding record is updated, the caller writes the case, then the events.
pub(crate) fn enqueue(case: &mut CaseRecord, kind: EventKind, at: Millis) -> NewEvent {
    let sequence = case.forwarding.next_sequence.max(1);
    case.forwarding.next_sequence = sequence + 1;
    case.forwarding.events_pending += 1;
    case.forwarding.state = ForwardingState::Pending;
    NewEvent {
        case_id: case.id.clone(),
        sequence: sequence as i64,
        kind,
        at,
    }
}

/// Write the events with their cases (as written) as payloads.
pub(crate) fn write_events<C: postgres::GenericClient>(
    t: &mut crate::session::Session<'_, C>,
    events: &[NewEvent],
    cases: &[CaseValue],
) -> Tx<()> {
    for e in events {
        let Some(value) = cases.iter().find(|c| c.rec.id == e.case_id) else {
            return Err(StoreError::Invalid(format!(
                "an event for case {}, which the change does not write",
                e.case_id
            ))
            .into());
        };
        let case = &value.rec;
        let partition = partition_of(&case.jurisdiction) as i16;
        // The NOTIFY rides in the same statement (one round trip); it is delivered at COMMIT,
        // only if the transaction commits, and repeats within a transaction are folded into one.
        t.execute(
            "INSERT INTO outbox (seq, case_id, sequence, kind, occurred_at, payload, enqueued_at,
                                 next_attempt_at, partition)
             SELECT nextval('outbox_seqs'), $1, $2, $3, $4, $5, $4, $4, $6
             FROM (SELECT pg_notify($7, $8)) AS notified",
            &[
                &e.case_id,
                &e.sequence,
                &(e.kind as i16),
                &e.at,
                // A master's links apart are not copied: its head's version names them.
                &links::encode_case_value(value),
                &partition,
                &CHANNEL,
                &partition.to_string(),
            ],
        )?;
    }
    Ok(())
}

const ENTRY_COLUMNS: &str = "seq, case_id, sequence, kind, occurred_at, payload, delivered_to, \
                             attempts, last_error, enqueued_at, next_attempt_at";

fn kind_of(n: i16) -> Option<EventKind> {
    Some(match n {
        1 => EventKind::Created,
        2 => EventKind::DuplicateLinked,
        3 => EventKind::Corrected,
        4 => EventKind::Updated,
        5 => EventKind::DueSoon,
        6 => EventKind::Overdue,
        _ => return None,
    })
}

fn entry<C: postgres::GenericClient>(
    c: &mut crate::session::Session<'_, C>,
    row: &postgres::Row,
) -> Tx<OutboxEntry> {
    let seq: i64 = row.get(0);
    let case_id: String = row.get(1);
    let sequence: i64 = row.get(2);
    let kind = kind_of(row.get(3)).ok_or_else(|| StoreError::Corrupt {
        key: format!("outbox/{seq}"),
        reason: format!("unknown event kind {}", row.get::<_, i16>(3)),
    })?;
    Ok(OutboxEntry {
        seq: seq as u64,
        idempotency_key: format!("{case_id}:{sequence}"),
        sequence: sequence as u64,
        kind,
        occurred_at: row.get(4),
        case: whole(
            c,
            links::decode_case_value(&format!("outbox/{seq}"), row.get(5))?,
        )?,
        case_id,
        delivered_to: row.get(6),
        attempts: row.get::<_, i32>(7) as u32,
        last_error: row.get(8),
        enqueued_at: row.get(9),
        next_attempt_at: row.get(10),
    })
}

fn query_entries(
    s: &PgStore,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<OutboxEntry>> {
    s.read(|c| c.query(sql, params)?.iter().map(|r| entry(c, r)).collect())
}

fn limit(n: usize) -> i64 {
    n.min(i64::MAX as usize) as i64
}

pub(crate) fn outbox_due(s: &PgStore, now: Millis, n: usize) -> Result<Vec<OutboxEntry>> {
    if let Some(own) = s.fencing() {
        return claim_due(s, now, n, &own.partitions());
    }
    let sql = format!(
        "SELECT {ENTRY_COLUMNS} FROM outbox o
         WHERE NOT dead AND next_attempt_at <= $1
           AND NOT EXISTS (SELECT 1 FROM outbox p
                           WHERE p.case_id = o.case_id AND NOT p.dead AND p.seq < o.seq)
         ORDER BY next_attempt_at, seq LIMIT $2"
    );
    let mut out = query_entries(s, &sql, &[&now, &limit(n)])?;
    out.sort_by_key(|e| e.seq);
    Ok(out)
}

/// In a cluster: claim the due heads of the partitions this node holds (and of events from
/// before partitions were recorded), skipping rows another node is claiming at this moment.
fn claim_due(s: &PgStore, now: Millis, n: usize, partitions: &[u16]) -> Result<Vec<OutboxEntry>> {
    let partitions: Vec<i16> = partitions.iter().map(|&p| p as i16).collect();
    let sql = format!(
        "UPDATE outbox SET next_attempt_at = $1 + $4
         WHERE seq IN (
            SELECT seq FROM outbox o
            WHERE NOT dead AND next_attempt_at <= $1
              AND (partition IS NULL OR partition = ANY($3))
              AND NOT EXISTS (SELECT 1 FROM outbox p
                              WHERE p.case_id = o.case_id AND NOT p.dead AND p.seq < o.seq)
            ORDER BY next_attempt_at, seq LIMIT $2
            FOR UPDATE SKIP LOCKED)
         RETURNING {ENTRY_COLUMNS}"
    );
    let mut out = query_entries(s, &sql, &[&now, &limit(n), &partitions, &CLAIM_MS])?;
    out.sort_by_key(|e| e.seq);
    Ok(out)
}

/// A connection listening for outbox events ([`CHANNEL`]), for a forwarder to wake on.
pub struct OutboxListener {
    client: postgres::Client,
}

impl PgStore {
    /// A connection of its own (not from the pool) that listens for outbox events.
    pub fn listen_outbox(&self) -> Result<OutboxListener> {
        let mut config = self.config.clone();
        if config.get_connect_timeout().is_none() {
            // bounded, so a listener thread never hangs its node's shutdown on a lost server
            config.connect_timeout(std::time::Duration::from_secs(5));
        }
        let mut client = config.connect(postgres::NoTls).map_err(crate::db)?;
        client
            .batch_execute(&format!("LISTEN {CHANNEL}"))
            .map_err(crate::db)?;
        Ok(OutboxListener { client })
    }
}

impl OutboxListener {
    /// The partitions with new events notified within `timeout` (empty when none came).
    pub fn wait(&mut self, timeout: std::time::Duration) -> Result<Vec<u16>> {
        use postgres::fallible_iterator::FallibleIterator;
        let mut notes = self.client.notifications();
        let Some(first) = notes.timeout_iter(timeout).next().map_err(crate::db)? else {
            return Ok(Vec::new());
        };
        // and whatever else has arrived already, without waiting again
        let rest: Vec<_> = notes.iter().collect().map_err(crate::db)?;
        let mut out: Vec<u16> = std::iter::once(first)
            .chain(rest)
            .filter_map(|n| n.payload().parse().ok())
            .collect();
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }
}

/// The case of an outbox entry, locked, with `f` applied to its forwarding record.
fn update_forwarding(
    t: &mut Txn<'_, '_>,
    case_id: &str,
    f: impl FnOnce(&mut ForwardingRecord),
) -> Tx<()> {
    // The head alone: the links do not change.
    if let Some(mut v) = read_value(t, case_id, true)? {
        f(&mut v.rec.forwarding);
        put_value(t, &v, false)?;
    }
    Ok(())
}

pub(crate) fn outbox_delivered(
    s: &PgStore,
    seq: u64,
    sink: &str,
    all_sinks: &[String],
    at: Millis,
) -> Result<bool> {
    s.tx(|t| {
        let Some(row) = t.query_opt(
            "SELECT case_id, delivered_to FROM outbox WHERE seq = $1 AND NOT dead FOR UPDATE",
            &[&(seq as i64)],
        )?
        else {
            return Ok(false);
        };
        let case_id: String = row.get(0);
        let mut delivered: Vec<String> = row.get(1);
        if !delivered.iter().any(|s| s == sink) {
            delivered.push(sink.to_string());
        }
        if !all_sinks.iter().all(|s| delivered.contains(s)) {
            t.execute(
                "UPDATE outbox SET delivered_to = $2 WHERE seq = $1",
                &[&(seq as i64), &delivered],
            )?;
            return Ok(false);
        }
        t.execute("DELETE FROM outbox WHERE seq = $1", &[&(seq as i64)])?;
        update_forwarding(t, &case_id, |f| {
            f.events_delivered += 1;
            f.events_pending = f.events_pending.saturating_sub(1);
            f.delivered_at = Some(at);
            f.attempts = 0;
            f.last_error.clear();
            if f.events_pending == 0 {
                f.state = ForwardingState::Delivered;
            }
        })?;
        Ok(true)
    })
}

pub(crate) fn outbox_failed(
    s: &PgStore,
    seq: u64,
    error: &str,
    next_attempt_at: Millis,
    dead: bool,
) -> Result<()> {
    s.tx(|t| {
        let Some(row) = t.query_opt(
            "UPDATE outbox SET attempts = attempts + 1, last_error = $2, dead = $3,
                    next_attempt_at = CASE WHEN $3 THEN next_attempt_at ELSE $4 END
             WHERE seq = $1 AND NOT dead
             RETURNING case_id, attempts",
            &[&(seq as i64), &error, &dead, &next_attempt_at],
        )?
        else {
            return Err(StoreError::Invalid(format!("no pending outbox entry {seq}")).into());
        };
        let case_id: String = row.get(0);
        let attempts = row.get::<_, i32>(1) as u32;
        update_forwarding(t, &case_id, |f| {
            f.attempts = attempts;
            f.last_error = error.to_string();
            if dead {
                f.events_pending = f.events_pending.saturating_sub(1);
                f.state = ForwardingState::Dead;
            }
        })
    })
}

pub(crate) fn outbox_list(s: &PgStore, dead: bool, n: usize) -> Result<Vec<OutboxEntry>> {
    let sql = format!("SELECT {ENTRY_COLUMNS} FROM outbox WHERE dead = $1 ORDER BY seq LIMIT $2");
    query_entries(s, &sql, &[&dead, &limit(n)])
}

pub(crate) fn outbox_len(s: &PgStore, dead: bool) -> Result<u64> {
    let row = s.with(|c| c.query_one("SELECT count(*) FROM outbox WHERE dead = $1", &[&dead]))?;
    Ok(row.get::<_, i64>(0) as u64)
}

/// Dead letters named by `keys` (idempotency keys or seq numbers; every one when empty).
const DEAD_MATCHING: &str = "dead AND (cardinality($1::text[]) = 0 OR seq::text = ANY($1)
                             OR case_id || ':' || sequence::text = ANY($1))";

pub(crate) fn outbox_retry_dead(s: &PgStore, keys: &[String], now: Millis) -> Result<u32> {
    s.tx(|t| {
        let rows = t.query(
            &format!(
                "UPDATE outbox SET dead = false, attempts = 0, next_attempt_at = $2
                 WHERE {DEAD_MATCHING} RETURNING case_id"
            ),
            &[&keys, &now],
        )?;
        let mut cases: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        // One lock per case, in id order (no deadlock with another retry).
        cases.sort();
        let mut i = 0;
        while i < cases.len() {
            let n = cases[i..].iter().take_while(|c| **c == cases[i]).count();
            update_forwarding(t, &cases[i], |f| {
                f.events_pending += n as u64;
                f.state = ForwardingState::Pending;
                f.attempts = 0;
            })?;
            i += n;
        }
        Ok(rows.len() as u32)
    })
}

pub(crate) fn outbox_drop_dead(s: &PgStore, keys: &[String]) -> Result<u32> {
    if keys.is_empty() {
        // Dropping is irreversible: it takes explicit keys, never "all".
        return Ok(0);
    }
    let n = s.with(|c| {
        c.execute(
            &format!("DELETE FROM outbox WHERE {DEAD_MATCHING}"),
            &[&keys],
        )
    })?;
    Ok(n as u32)
}
