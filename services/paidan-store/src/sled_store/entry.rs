//! The outbox entry as stored (`StoredEntry`) and its record: shared by the transactional writer
//! (`tx.rs`), the outbox operations (`outbox.rs`) and the migration, so it sits below all three.

use super::*;
use crate::record::{OutboxEntryV2, OutboxEntryV3, OutboxEntryV4, Stored};

/// An outbox entry as stored: `case` is None while the stored case is the event's payload.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct StoredEntry {
    pub(super) seq: u64,
    pub(super) idempotency_key: String,
    pub(super) case_id: String,
    pub(super) sequence: u64,
    pub(super) kind: EventKind,
    pub(super) occurred_at: Millis,
    pub(super) case: Option<CaseRecord>,
    /// With a frozen `case` whose links are rows: the version they stood at (`case.reports` is
    /// then empty as stored, and filled from the rows when the entry is read whole).
    pub(super) links_at: Option<u32>,
    pub(super) delivered_to: Vec<String>,
    pub(super) attempts: u32,
    pub(super) last_error: String,
    pub(super) enqueued_at: Millis,
    pub(super) next_attempt_at: Millis,
}

impl StoredEntry {
    /// Keep `v` as this entry's payload: the record, and its links' version if they are rows.
    pub(super) fn freeze(&mut self, v: CaseValue) {
        self.links_at = v.links.map(|h| h.next);
        self.case = Some(v.rec);
    }

    pub(super) fn into_entry(self, case: CaseRecord) -> OutboxEntry {
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
}

impl Stored for StoredEntry {
    type Record = OutboxEntryV4;
}

impl From<StoredEntry> for OutboxEntryV4 {
    fn from(mut e: StoredEntry) -> OutboxEntryV4 {
        let payload_extras = OutboxEntryV4::take_extras(e.case.as_mut());
        OutboxEntryV4 {
            entry: e.into(),
            payload_extras,
        }
    }
}

impl From<OutboxEntryV4> for StoredEntry {
    fn from(x: OutboxEntryV4) -> StoredEntry {
        let mut e: StoredEntry = x.entry.into();
        OutboxEntryV4::put_extras(x.payload_extras, e.case.as_mut());
        e
    }
}

impl From<StoredEntry> for OutboxEntryV3 {
    fn from(mut e: StoredEntry) -> OutboxEntryV3 {
        let payload_dispatch = e
            .case
            .as_mut()
            .map(|c| std::mem::take(&mut c.dispatch).into());
        OutboxEntryV3 {
            entry: e.into(),
            payload_dispatch,
        }
    }
}

impl From<OutboxEntryV3> for StoredEntry {
    fn from(x: OutboxEntryV3) -> StoredEntry {
        let mut e: StoredEntry = x.entry.into();
        if let (Some(c), Some(d)) = (e.case.as_mut(), x.payload_dispatch) {
            c.dispatch = d.into();
        }
        e
    }
}

impl From<StoredEntry> for OutboxEntryV2 {
    fn from(e: StoredEntry) -> OutboxEntryV2 {
        OutboxEntryV2 {
            seq: e.seq,
            idempotency_key: e.idempotency_key,
            case_id: e.case_id,
            sequence: e.sequence,
            kind: e.kind.into(),
            occurred_at: e.occurred_at,
            case: e.case.map(Into::into),
            delivered_to: e.delivered_to,
            attempts: e.attempts,
            last_error: e.last_error,
            enqueued_at: e.enqueued_at,
            next_attempt_at: e.next_attempt_at,
        }
    }
}

impl From<OutboxEntryV2> for StoredEntry {
    fn from(e: OutboxEntryV2) -> StoredEntry {
        StoredEntry {
            seq: e.seq,
            idempotency_key: e.idempotency_key,
            case_id: e.case_id,
            sequence: e.sequence,
            kind: e.kind.into(),
            occurred_at: e.occurred_at,
            case: e.case.map(Into::into),
            links_at: None,
            delivered_to: e.delivered_to,
            attempts: e.attempts,
            last_error: e.last_error,
            enqueued_at: e.enqueued_at,
            next_attempt_at: e.next_attempt_at,
        }
    }
}
