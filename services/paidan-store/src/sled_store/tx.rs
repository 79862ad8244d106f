//! The transactional writer: [`W`] is the view of every tree inside one sled transaction, with the
//! helpers that keep a case, its secondary indexes, its dedup entry and its outbox events in step.
//! Every write of a case goes through `W::put_case`, every event through `W::enqueue`, so the
//! "one transaction per change" invariant lives in one place.

use std::cell::RefCell;

use sled::transaction::{
    ConflictableTransactionError, ConflictableTransactionResult, TransactionError,
    TransactionalTree,
};

use super::entry::StoredEntry;
use super::*;

pub(super) type Tx<T> = ConflictableTransactionResult<T, StoreError>;

pub(super) fn abort<T>(e: StoreError) -> Tx<T> {
    Err(ConflictableTransactionError::Abort(e))
}

pub(super) fn tx_err(e: TransactionError<StoreError>) -> StoreError {
    match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => storage(e),
    }
}

/// The transactional view of every tree, and what this attempt of the transaction enqueued.
pub(super) struct W<'a> {
    pub(super) trees: &'a [TransactionalTree],
    /// Outbox seqs enqueued by this attempt (their payload is the case this attempt writes).
    pub(super) fresh: RefCell<Vec<u64>>,
}

impl W<'_> {
    pub(super) fn t(&self, i: usize) -> &TransactionalTree {
        &self.trees[i]
    }

    pub(super) fn get_val<T: Stored>(&self, i: usize, key: &[u8]) -> Tx<Option<T>> {
        match self.t(i).get(key)? {
            None => Ok(None),
            Some(v) => match decode(TREE_NAMES[i], key, &v) {
                Ok(x) => Ok(Some(x)),
                Err(e) => abort(e),
            },
        }
    }

    pub(super) fn add_counter(&self, tree: usize, key: &[u8], delta: i64) -> Tx<()> {
        let cur = match self.t(tree).get(key)? {
            None => 0,
            Some(v) => match decode_u64(TREE_NAMES[tree], key, &v) {
                Ok(x) => x,
                Err(e) => return abort(e),
            },
        };
        let next = (cur as i64 + delta).max(0) as u64;
        if next == 0 && tree == IDX_COUNTS {
            self.t(tree).remove(key)?;
        } else {
            self.t(tree).insert(key, &enc_u64(next))?;
        }
        Ok(())
    }

    /// Write `new`, whole (its links as `reports`), and bring every index in line with it
    /// (`old` = what was stored before, read in this transaction).
    pub(super) fn put_case(&self, old: Option<&CaseRecord>, new: &CaseRecord) -> Tx<()> {
        let stored = match old {
            Some(_) => self.stored(&new.id)?,
            None => None,
        };
        let links = self.write_links(&new.id, stored.as_ref(), &new.reports)?;
        let mut rec = new.clone();
        if links.is_some() {
            rec.reports.clear();
        }
        self.put_value(stored.as_ref(), &CaseValue { rec, links })
    }

    /// Write the stored value `new` (its links already in their rows) and bring every index in
    /// line with it (`old` = the value stored before). The writes that do not change a case's
    /// links (a link's master, the forwarding record) use this with the head alone.
    pub(super) fn put_value(&self, old: Option<&CaseValue>, new: &CaseValue) -> Tx<()> {
        let id = new.rec.id.as_str();
        if let Some(o) = old
            && o != new
        {
            // An earlier event whose payload is the stored case keeps that state.
            self.freeze_live(id, Some(o))?;
        }
        self.t(CASES)
            .insert(id.as_bytes(), encode_case_value(new))?;
        let (old, new) = (old.map(|o| &o.rec), &new.rec);
        // The figures change with the case, in this transaction.
        super::figures::apply(self, old, new)?;
        let new_master = new.duplicate_of.clone().unwrap_or_default();
        let old_time = old.map(|o| (o.received_at, o.duplicate_of.clone().unwrap_or_default()));
        if old_time != Some((new.received_at, new_master.clone())) {
            if let Some(o) = old {
                self.t(IDX_TIME).remove(time_key(&[], o.received_at, id))?;
            }
            self.t(IDX_TIME)
                .insert(time_key(&[], new.received_at, id), new_master.as_bytes())?;
        }
        // The deadline index follows the case (`deadlines.rs`).
        let old_due = old.and_then(CaseRecord::deadline_pending);
        let new_due = new.deadline_pending();
        if old_due != new_due {
            if let Some(d) = old_due {
                self.t(IDX_DUE).remove(time_key(&[], d, id))?;
            }
            if let Some(d) = new_due {
                self.t(IDX_DUE).insert(time_key(&[], d, id), &[][..])?;
            }
        }
        let new_prefixes = case_attr_prefixes(new);
        let old_prefixes = old.map(case_attr_prefixes).unwrap_or_default();
        let received_changed = old.is_some_and(|o| o.received_at != new.received_at);
        for p in &old_prefixes {
            if received_changed || !new_prefixes.contains(p) {
                self.t(IDX_ATTR)
                    .remove(time_key(p, old.map_or(0, |o| o.received_at), id))?;
                self.add_counter(IDX_COUNTS, p, -1)?;
            }
        }
        for p in &new_prefixes {
            if old.is_none() || received_changed || !old_prefixes.contains(p) {
                self.t(IDX_ATTR)
                    .insert(time_key(p, new.received_at, id), &[][..])?;
                self.add_counter(IDX_COUNTS, p, 1)?;
            }
        }
        Ok(())
    }

    /// The stored case is about to change: if its newest pending event (from an earlier
    /// transaction) still refers to it, store a copy in the entry. `snapshot` is the stored case
    /// when the caller has it at hand.
    /// The copy is the stored record; a master's links are not copied but kept as the version
    /// they stood at (`links_at`), which their rows can always give back.
    pub(super) fn freeze_live(&self, case_id: &str, snapshot: Option<&CaseValue>) -> Tx<()> {
        let q = self.queue(case_id)?;
        let Some(&last) = q.last() else {
            return Ok(());
        };
        if self.fresh.borrow().contains(&last) {
            return Ok(());
        }
        let Some(mut e) = self.entry(OUTBOX, last)? else {
            return Ok(());
        };
        if e.case.is_some() {
            return Ok(());
        }
        let v = match snapshot {
            Some(v) => v.clone(),
            None => self.stored_or_missing(case_id)?,
        };
        e.freeze(v);
        self.t(OUTBOX).insert(&enc_u64(last), encode_entry(&e))?;
        Ok(())
    }

    /// The entry with its payload: the stored case when the entry refers to it, else its frozen
    /// copy with the links of its version.
    pub(super) fn materialize(&self, mut e: StoredEntry) -> Tx<OutboxEntry> {
        let case = match e.case.take() {
            Some(mut c) => {
                if let Some(v) = e.links_at {
                    c.reports = self.links_before(&e.case_id, v)?;
                }
                c
            }
            None => self.case(&e.case_id)?,
        };
        Ok(e.into_entry(case))
    }

    pub(super) fn queue(&self, case_id: &str) -> Tx<Vec<u64>> {
        Ok(self
            .get_val::<Vec<u64>>(OUTBOX_QUEUE, case_id.as_bytes())?
            .unwrap_or_default())
    }

    pub(super) fn put_queue(&self, case_id: &str, q: &[u64]) -> Tx<()> {
        if q.is_empty() {
            self.t(OUTBOX_QUEUE).remove(case_id.as_bytes())?;
        } else {
            self.t(OUTBOX_QUEUE)
                .insert(case_id.as_bytes(), encode_record(&q))?;
        }
        Ok(())
    }

    pub(super) fn entry(&self, tree: usize, seq: u64) -> Tx<Option<StoredEntry>> {
        let key = enc_u64(seq);
        match self.t(tree).get(key)? {
            None => Ok(None),
            Some(b) => match decode_entry(TREE_NAMES[tree], &key, &b) {
                Ok(e) => Ok(Some(e)),
                Err(e) => abort(e),
            },
        }
    }

    /// Insert `seq` into its case's queue (sorted); keep `outbox_due` holding exactly the head.
    pub(super) fn queue_insert(&self, entry: &StoredEntry) -> Tx<()> {
        let mut q = self.queue(&entry.case_id)?;
        let pos = q.partition_point(|&s| s < entry.seq);
        if q.get(pos) == Some(&entry.seq) {
            return Ok(());
        }
        if pos == 0 {
            if let Some(&old_head) = q.first()
                && let Some(h) = self.entry(OUTBOX, old_head)?
            {
                self.t(OUTBOX_DUE)
                    .remove(due_key(h.next_attempt_at, h.seq))?;
            }
            self.t(OUTBOX_DUE)
                .insert(due_key(entry.next_attempt_at, entry.seq), &[][..])?;
        }
        q.insert(pos, entry.seq);
        self.put_queue(&entry.case_id, &q)
    }

    /// Remove `entry` from its case's queue and `outbox_due`; index the next head.
    pub(super) fn queue_remove(&self, entry: &StoredEntry) -> Tx<()> {
        self.t(OUTBOX_DUE)
            .remove(due_key(entry.next_attempt_at, entry.seq))?;
        let mut q = self.queue(&entry.case_id)?;
        if let Some(pos) = q.iter().position(|&s| s == entry.seq) {
            q.remove(pos);
            if pos == 0
                && let Some(&head) = q.first()
            {
                match self.entry(OUTBOX, head)? {
                    Some(h) => {
                        self.t(OUTBOX_DUE)
                            .insert(due_key(h.next_attempt_at, h.seq), &[][..])?;
                    }
                    None => {
                        return abort(StoreError::Corrupt {
                            key: format!("outbox_queue/{}", entry.case_id),
                            reason: format!("queued seq {head} has no outbox entry"),
                        });
                    }
                }
            }
        }
        self.put_queue(&entry.case_id, &q)
    }

    /// Append an event of `case` (as it stands, after this change) to the outbox. Updates the
    /// case's forwarding record; the caller writes the case afterwards (with `put_case`), which
    /// is then the event's payload until the case changes again.
    pub(super) fn enqueue(&self, case: &mut CaseRecord, kind: EventKind, at: Millis) -> Tx<()> {
        // The case's previous event may still refer to the stored case, which is about to change.
        self.freeze_live(&case.id, None)?;
        let seq = self
            .t(OUTBOX)
            .generate_id()
            .map_err(ConflictableTransactionError::Storage)?;
        let sequence = case.forwarding.next_sequence.max(1);
        case.forwarding.next_sequence = sequence + 1;
        case.forwarding.events_pending += 1;
        case.forwarding.state = ForwardingState::Pending;
        let entry = StoredEntry {
            seq,
            idempotency_key: format!("{}:{}", case.id, sequence),
            case_id: case.id.clone(),
            sequence,
            kind,
            occurred_at: at,
            case: None,
            links_at: None,
            delivered_to: Vec::new(),
            attempts: 0,
            last_error: String::new(),
            enqueued_at: at,
            next_attempt_at: at,
        };
        self.t(OUTBOX).insert(&enc_u64(seq), encode_entry(&entry))?;
        self.fresh.borrow_mut().push(seq);
        self.queue_insert(&entry)?;
        self.add_counter(META, META_OUTBOX_LEN, 1)
    }

    pub(super) fn index_dedup(&self, case_id: &str, d: &DedupEntry) -> Tx<()> {
        self.t(DEDUP_ENTRIES)
            .insert(case_id.as_bytes(), encode(d))?;
        Ok(())
    }

    /// Returns the entry the case had.
    pub(super) fn unindex_dedup(&self, case_id: &str) -> Tx<Option<DedupEntry>> {
        let d = self.get_val::<DedupEntry>(DEDUP_ENTRIES, case_id.as_bytes())?;
        if d.is_some() {
            self.t(DEDUP_ENTRIES).remove(case_id.as_bytes())?;
        }
        Ok(d)
    }
}
