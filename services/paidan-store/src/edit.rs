//! Edits: how a domain operation changes stored cases without the store knowing the rule.
//!
//! The rules (paidan-core's `rules`) read the cases they need through a [`CaseReader`] inside
//! the store's transaction and return a [`CaseEdit`]; [`crate::Store::edit_cases`] writes it with
//! its indexes, outbox events and corrections in that same transaction. What the indexes need is
//! read off the change itself, so every store applies an edit the same way:
//! - a case that leaves the open states leaves the duplicate index;
//! - a case whose category changes has its indexed category follow;
//! - a master that gains reports has its matter refreshed in the duplicate index.

use crate::{CaseRecord, CorrectionRecord, EventKind, Millis, Result};

/// Reads cases inside an edit's transaction.
pub trait CaseReader {
    /// The stored case (as this edit has not changed it); `StoreError::NotFound` when there is none.
    fn case(&mut self, id: &str) -> Result<CaseRecord>;
}

/// What one domain operation does: the changed cases (each one read through the reader first),
/// the events to forward, the corrections to log. Written in one transaction or not at all.
#[derive(Clone, Debug, Default)]
pub struct CaseEdit {
    /// When it happens (the events' `occurred_at`).
    pub at: Millis,
    /// The cases as they are to be stored, in the order the store returns them.
    pub cases: Vec<CaseRecord>,
    /// Events to enqueue, in order: (case id, kind). The case must be one of `cases`.
    pub events: Vec<(String, EventKind)>,
    /// Appended to the corrections log (the training export).
    pub corrections: Vec<CorrectionRecord>,
}

impl CaseEdit {
    pub fn at(at: Millis) -> CaseEdit {
        CaseEdit {
            at,
            ..CaseEdit::default()
        }
    }

    pub fn event(&mut self, case_id: &str, kind: EventKind) {
        self.events.push((case_id.to_string(), kind));
    }

    /// Linked reports are carried by their master: only masters get events of their own.
    pub fn event_if_master(&mut self, case: &CaseRecord, kind: EventKind) {
        if case.duplicate_of.is_none() {
            self.event(&case.id, kind);
        }
    }
}
