//! Storage records: the values as they are encoded on disk.

use super::*;

/// An outbox entry as stored: `case` is None while the stored case is the event's payload.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct StoredEntry {
    pub(crate) seq: u64,
    pub(crate) idempotency_key: String,
    pub(crate) case_id: String,
    pub(crate) sequence: u64,
    pub(crate) kind: EventKind,
    pub(crate) occurred_at: Millis,
    pub(crate) case: Option<CaseRecord>,
    pub(crate) delivered_to: Vec<String>,
    pub(crate) attempts: u32,
    pub(crate) last_error: String,
    pub(crate) enqueued_at: Millis,
    pub(crate) next_attempt_at: Millis,
}

impl StoredEntry {
    pub(crate) fn into_entry(self, case: CaseRecord) -> OutboxEntry {
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

    pub(crate) fn frozen(e: OutboxEntry) -> StoredEntry {
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
