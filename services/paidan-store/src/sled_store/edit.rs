//! [`Store::edit_cases`] on sled: run the rule inside one transaction with a reader that keeps
//! what it read (the "before" of every case the edit writes), then write the edit through
//! [`W`] and do the index work the change calls for. The band index (memory) follows after
//! the commit, under the dedup writer lock, as for inserts.

use std::sync::atomic::Ordering;

use sled::transaction::ConflictableTransactionError;

use super::dedup::{evict, refresh_matter};
use super::tx::*;
use super::*;
use crate::{CaseEdit, CaseReader};

/// The reader inside one attempt of the transaction. A sled conflict or storage error is kept
/// aside (the rule sees a plain error and returns) and handed back to sled, which retries.
struct TxReader<'w, 'a> {
    w: &'w W<'a>,
    read: Vec<CaseRecord>,
    failed: Option<ConflictableTransactionError<StoreError>>,
}

impl CaseReader for TxReader<'_, '_> {
    fn case(&mut self, id: &str) -> Result<CaseRecord> {
        if let Some(c) = self.read.iter().find(|c| c.id == id) {
            return Ok(c.clone());
        }
        match self.w.case(id) {
            Ok(c) => {
                self.read.push(c.clone());
                Ok(c)
            }
            Err(ConflictableTransactionError::Abort(e)) => Err(e),
            Err(other) => {
                self.failed = Some(other);
                Err(StoreError::Storage("transaction interrupted".into()))
            }
        }
    }
}

/// What the band index needs after the commit.
#[derive(Default)]
struct AfterCommit {
    /// (case id, its entry) of cases that left the open states.
    unindexed: Vec<(String, DedupEntry)>,
    /// Matters whose masters gained reports.
    refresh: Vec<MatterSpan>,
}

pub(super) fn edit_cases(
    s: &SledStore,
    rule: &dyn Fn(&mut dyn CaseReader) -> Result<CaseEdit>,
) -> Result<Vec<CaseRecord>> {
    let _dedup_writer = s.dedup_write_lock();
    let (cases, after) = s.tx(|w| {
        let mut reader = TxReader {
            w,
            read: Vec::new(),
            failed: None,
        };
        let edit = rule(&mut reader);
        if let Some(e) = reader.failed.take() {
            return Err(e);
        }
        match edit {
            Ok(edit) => apply(w, &reader.read, edit),
            Err(e) => abort(e),
        }
    })?;
    if after.unindexed.is_empty() && after.refresh.is_empty() {
        return Ok(cases);
    }
    let mut b = s.bands_write();
    for (id, d) in &after.unindexed {
        if let Some(n) = case_num(id) {
            b.remove(n, &posting_keys(&d.jurisdiction, &d.bands));
        }
    }
    for span in &after.refresh {
        if let Err(e) = refresh_matter(&s.trees.load(), &mut b, span) {
            s.index_degraded.store(true, Ordering::Relaxed);
            tracing::warn!(error = %e, master = %span.master, "band index refresh failed");
        }
    }
    if !after.refresh.is_empty() {
        evict(&mut b);
    }
    Ok(cases)
}

fn apply(w: &W<'_>, before: &[CaseRecord], edit: CaseEdit) -> Tx<(Vec<CaseRecord>, AfterCommit)> {
    let CaseEdit {
        at,
        mut cases,
        events,
        corrections,
    } = edit;
    for c in &cases {
        if !before.iter().any(|b| b.id == c.id) {
            return abort(StoreError::Invalid(format!(
                "an edit writes case {} without reading it first",
                c.id
            )));
        }
    }
    for (id, kind) in &events {
        let Some(c) = cases.iter_mut().find(|c| &c.id == id) else {
            return abort(StoreError::Invalid(format!(
                "an edit has an event for case {id}, which it does not write"
            )));
        };
        w.enqueue(c, *kind, at)?;
    }
    for correction in &corrections {
        let key = w
            .t(CORRECTIONS)
            .generate_id()
            .map_err(ConflictableTransactionError::Storage)?;
        w.t(CORRECTIONS).insert(&enc_u64(key), encode(correction))?;
    }
    let mut after = AfterCommit::default();
    for c in &cases {
        let Some(old) = before.iter().find(|b| b.id == c.id) else {
            continue;
        };
        if old.status.is_open() && !c.status.is_open() {
            if let Some(d) = w.unindex_dedup(&c.id)? {
                after.unindexed.push((c.id.clone(), d));
            }
        } else if old.category != c.category
            && let Some(mut d) = w.get_val::<DedupEntry>(DEDUP_ENTRIES, c.id.as_bytes())?
        {
            d.category = c.category.clone();
            w.index_dedup(&c.id, &d)?;
        }
        let gained = c
            .reports
            .iter()
            .any(|l| !old.reports.iter().any(|o| o.case_id == l.case_id));
        if c.duplicate_of.is_none() && gained {
            after.refresh.push(MatterSpan::of_case(c));
        }
        w.put_case(Some(old), c)?;
    }
    Ok((cases, after))
}
