//! Durable case store for paidan.
//!
//! [`Store`] is the seam: the intake core talks only to the trait, and [`SledStore`] implements it
//! on sled. Every write that changes a case also writes its secondary indexes (list filters,
//! request ids, dedup bands) and its outbox event in the same sled transaction, so an index never
//! points at a missing case and no acknowledged change misses its forwarding.
//!
//! Writes are not durable until [`Store::flush`] returns; callers acknowledge only after a flush
//! (the core batches concurrent writers into one flush: group commit).
//!
//! The store never encodes the domain types ([`CaseRecord`], [`DedupEntry`], …): every stored
//! value is a storage record of [`record`] (the schema 2 layout, byte for byte; `tests/golden.rs`
//! holds its bytes), so a domain type can change without making stored values unreadable.

mod band_index;
mod edit;
pub mod figures;
mod keys;
pub mod links;
pub mod record;
mod sled_store;
mod types;

pub use band_index::OwnerIndex;
pub use edit::{CaseEdit, CaseReader};
pub use sled_store::{BandIndexStats, SCHEMA_VERSION, SledStore, StoreOptions};
pub use types::*;

/// The id of case number `n`: `PD000000000042` for 42 (every store hands out ids of this form).
pub fn case_id_of(n: u64) -> String {
    format!("PD{n:012}")
}

/// `PD000000000042` → 42; None for a string that is not a case id of that form.
pub fn case_number(id: &str) -> Option<u64> {
    id.strip_prefix("PD")?.parse().ok()
}

/// Errors of the store. `Conflict` and `NotFound` are the caller's fault; `InvalidTransition`
/// rejects a lifecycle move; the rest are storage failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("case {0} not found")]
    NotFound(String),
    #[error("request_id {request_id:?} was already used for different content (case {case_id})")]
    Conflict { request_id: String, case_id: String },
    #[error("cannot move case {case_id} from {from:?} to {to:?}")]
    InvalidTransition {
        case_id: String,
        from: CaseStatus,
        to: CaseStatus,
    },
    #[error("invalid page token")]
    InvalidPageToken,
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("storage error: {0}")]
    Storage(String),
    /// The write was refused and nothing was written, but the same request may succeed later or
    /// on another node: in a cluster, this node does not (or no longer) hold the partition the
    /// write belongs to (its lease is fenced off). Callers answer UNAVAILABLE so clients retry.
    #[error("fenced: {0}")]
    Fenced(String),
    #[error("corrupt record under key {key}: {reason}")]
    Corrupt { key: String, reason: String },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The case store. All methods are synchronous and may block on disk; call them from a blocking
/// context (tokio::task::spawn_blocking) in async code.
pub trait Store: Send + Sync + 'static {
    /// Insert a new case (assigning its id), idempotent on `record.request_id`: the same id with the
    /// same `request_digest` returns the stored case with `created = false`; with another digest it
    /// is `StoreError::Conflict`. When `link_to` is set, the master case gets a `ReportLink`, and its
    /// outbox gets a `DuplicateLinked` event; otherwise the new case gets a `Created` event. The new
    /// case's dedup entry (if any) is indexed under its bands and the case's `received_at`. One
    /// transaction.
    fn insert_case(&self, new: NewCase) -> Result<Inserted>;
    fn get_case(&self, id: &str) -> Result<Option<CaseRecord>>;
    /// Case `id` without its report links (see [`CaseHead`]): what a duplicate lookup reads of
    /// each candidate and its master. A store that keeps a matter's links apart from its master
    /// reads a head in the same time however many reports the matter has.
    fn get_case_head(&self, id: &str) -> Result<Option<CaseHead>> {
        Ok(self.get_case(id)?.map(CaseHead::of))
    }
    /// Open cases of `jurisdiction` received in `[since, until]` that share at least one band
    /// with `bands` (the same value, wherever it sits in either list), with the number of distinct
    /// shared bands, most shared first (then newest id first), at most `limit`.
    fn dedup_candidates(
        &self,
        jurisdiction: &str,
        bands: &[u64],
        since: Millis,
        until: Millis,
        limit: usize,
    ) -> Result<Vec<(String, u32)>>;
    fn dedup_entry(&self, case_id: &str) -> Result<Option<DedupEntry>>;
    /// The key version the stored dedup entries were last re-keyed to ([`Store::rekey_dedup`]);
    /// 0 for a store that never recorded one (every store written before the version existed).
    fn dedup_key_version(&self) -> Result<u32>;
    /// Re-key the duplicate index: rewrite every stored dedup entry that `rekey` changes (it
    /// returns the entry to store in its place, or `None` to keep it), rebuild what the store
    /// derives from the entries' keys (the band index, the array column), then record `version`.
    /// The store does not know how keys are made (paidan-dedup does): paidan-core calls this at
    /// startup, before any lookup, when [`Store::dedup_key_version`] is not its fingerprint
    /// version. The entries are written in batches (sled: into a new tree it then switches to;
    /// PostgreSQL: in place, a page per transaction); an interrupted run leaves the version
    /// unrecorded, and the next call finishes it (`rekey` keeps an entry already re-keyed).
    /// Returns how many entries were rewritten.
    fn rekey_dedup(
        &self,
        version: u32,
        rekey: &(dyn Fn(&DedupEntry) -> Option<DedupEntry> + Sync),
    ) -> Result<u64>;
    /// Call `f` with every case whose [`CaseRecord::deadline_pending`] is at or before `until`,
    /// earliest deadline first (then by id). Each store keeps that value indexed — sled in
    /// `idx_due`, PostgreSQL in a column under a partial index (`deadline_pending`) — so the cost
    /// is the cases due by `until`, not every case being handled.
    fn for_each_deadline_pending(&self, until: Millis, f: &mut dyn FnMut(CaseRecord))
    -> Result<()>;
    /// Newest received first.
    fn list_cases(
        &self,
        filter: &CaseFilter,
        page_size: usize,
        page_token: Option<&str>,
    ) -> Result<Page>;
    /// Apply one domain operation in one transaction. `rule` reads the cases it needs through the
    /// reader and returns a [`CaseEdit`]; the store writes the changed cases with their indexes,
    /// events and corrections, or nothing when `rule` returns an error (which is returned). The
    /// rules themselves live in paidan-core; the index work follows from the change (see
    /// [`edit`]). `rule` may run more than once (transaction retries) and must only read through
    /// the reader (calling the store from inside it can deadlock: it runs inside the
    /// transaction). Returns the written cases as stored (forwarding records updated), in the
    /// edit's order.
    fn edit_cases(
        &self,
        rule: &dyn Fn(&mut dyn CaseReader) -> Result<CaseEdit>,
    ) -> Result<Vec<CaseRecord>>;
    /// Master cases with a report in [since, until), ranked by report count, then latest report.
    fn hot_issues(
        &self,
        jurisdiction: Option<&str>,
        category: Option<&str>,
        since: Millis,
        until: Millis,
        limit: usize,
    ) -> Result<Vec<HotIssue>>;
    /// Every correction, oldest first.
    fn corrections(&self) -> Result<Vec<CorrectionRecord>>;
    /// The figures' counters (see [`figures`]) summed over the query's buckets and
    /// jurisdictions, by department or category and counter, zeros left out. The counters change
    /// in the transaction that changes the case; a store that held cases before it kept them
    /// builds them once when opened.
    fn figures(&self, q: &figures::FigureQuery) -> Result<Vec<figures::FigureSum>>;

    /// Size of the in-memory duplicate index (cases, postings, bytes of its tables), for a store
    /// that keeps one; None otherwise.
    fn dedup_index_size(&self) -> Option<(usize, usize, usize)> {
        None
    }

    /// Pending outbox entries due at `now`, in enqueue order, skipping entries whose case has an
    /// earlier pending entry (per-case order), at most `limit`.
    fn outbox_due(&self, now: Millis, limit: usize) -> Result<Vec<OutboxEntry>>;
    /// Record that `sink` accepted the entry; when every one of `all_sinks` has, the entry is removed
    /// and the case's forwarding record updated. Returns true when the entry left the outbox.
    fn outbox_delivered(
        &self,
        seq: u64,
        sink: &str,
        all_sinks: &[String],
        at: Millis,
    ) -> Result<bool>;
    /// Record a failed attempt; `dead = true` moves it to the dead-letter tree.
    fn outbox_failed(
        &self,
        seq: u64,
        error: &str,
        next_attempt_at: Millis,
        dead: bool,
    ) -> Result<()>;
    fn outbox_list(&self, dead: bool, limit: usize) -> Result<Vec<OutboxEntry>>;
    fn outbox_len(&self, dead: bool) -> Result<u64>;
    /// Move dead letters back to the outbox (all when `keys` is empty); returns how many.
    /// `keys` are idempotency keys ("<case_id>:<sequence>") or outbox seq numbers.
    fn outbox_retry_dead(&self, keys: &[String], now: Millis) -> Result<u32>;
    /// Delete the dead letters named by `keys` (as for retry); empty `keys` drops nothing.
    fn outbox_drop_dead(&self, keys: &[String]) -> Result<u32>;

    /// Append to the audit trail (its own tree; durable after the next flush).
    fn append_audit(&self, event: &AuditEvent) -> Result<()>;
    /// The newest `limit` audit events, newest first.
    fn audit_log(&self, limit: usize) -> Result<Vec<AuditEvent>>;

    /// Make every write so far durable. Returns when the data is on disk. On a thread that
    /// began a round ([`Store::begin_round`]), this ends the round: its writes are committed,
    /// or, when it fails, none of them is durable.
    fn flush(&self) -> Result<()>;

    /// The submit writer calls this on its thread before each round of inserts, and
    /// [`Store::flush`] after the round. Until that flush the store may keep every write of the
    /// calling thread in one transaction, which the flush commits (a failed flush: nothing of the
    /// round is durable); the thread's reads inside the round see the round's earlier writes,
    /// other threads see none of them before the flush. So the acknowledgement rule holds per
    /// round: no insert of it is answered before the commit that covers it. The default does
    /// nothing (the sled store's flush is already its group commit).
    fn begin_round(&self) -> Result<()> {
        Ok(())
    }
}
