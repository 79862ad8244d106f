//! Schema 5 (issue 19: a link no longer rewrites its matter): a matter's report links kept apart
//! from its master.
//!
//! Up to schema 4 a master carried every [`ReportLink`](crate::ReportLink) of its matter in its own
//! record, so each new report decoded and rewrote a record that grows with the matter, and froze
//! one more copy of it into the outbox when the previous event was still pending: thousands of
//! callers about one water cut cost O(reports) per link and O(reports²) of disk. From schema 5 a
//! master's links are rows of their own (`case_links`: [`LinkRowV5`] under `master id ‖ 0 ‖
//! version`), and the master keeps a small [`CaseLinksV5`] head after its [`CaseV4`](super::CaseV4)
//! bytes. A frozen outbox payload refers to the links by the version it stood at ([`OutboxLinksV5`]
//! after its [`OutboxEntryV4`](super::OutboxEntryV4) bytes) instead of copying them.
//!
//! Both additions are optional trailing bytes: a value without them is read as schema 4 wrote it
//! (a master with its links embedded, a frozen payload with its links copied). Nothing is
//! converted at open; a master's embedded links become rows at its next write.
//!
//! Versions: every change of a master's links takes the next number of `CaseLinksV5::next`. A
//! link added at version `a` and removed at version `r` is part of the state "before version
//! `v`" when `a < v` and not `r < v`. Rows are never deleted (a removed link keeps its row with
//! `removed_at`), so every frozen payload can be read back exactly, however long it waits.

use serde::{Deserialize, Serialize};

use super::ReportLinkV2;

/// The head of a master whose links are rows (after its [`super::CaseV4`] bytes).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseLinksV5 {
    /// The version the next change of the links takes (rows exist below it).
    pub next: u32,
    /// Links in the current state.
    pub count: u32,
    /// The latest `received_at` of the current links (0 when none).
    pub last_report_at: i64,
    /// The case numbers of the current links, in link order (the band index widens their spans
    /// when the matter is reported again, without reading the rows).
    pub numbers: Vec<u64>,
}

/// One link of a master (`case_links` tree).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinkRowV5 {
    pub link: ReportLinkV2,
    /// The version that removed it (unlinked, moved by a merge), if any.
    pub removed_at: Option<u32>,
}

/// After an outbox entry's [`super::OutboxEntryV4`] bytes: its frozen payload's links are the
/// rows of its case in the state before version `links_at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxLinksV5 {
    pub links_at: u32,
}

impl LinkRowV5 {
    /// Part of the state before version `v`, having been added at version `added`.
    pub fn visible(&self, added: u32, v: u32) -> bool {
        added < v && self.removed_at.is_none_or(|r| r >= v)
    }
}
