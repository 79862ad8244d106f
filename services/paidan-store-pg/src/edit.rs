//! [`Store::edit_cases`](paidan_store::Store::edit_cases) on PostgreSQL: the rule reads its cases
//! through a reader that locks each row (`SELECT … FOR UPDATE`) inside one transaction and keeps
//! what it read (the "before" of every case the edit writes); the edit is then written with its
//! events, corrections and the index work read off the change, as the sled store does:
//! - a case that leaves the open states leaves the duplicate index (its dedup entry and bands);
//! - a case whose category changes has the category of its dedup entry follow;
//! - a master that gains reports needs nothing more: the matter's latest report is a column of
//!   the master's row, written with it, and the candidate query reads it.
//!
//! Two edits that lock the same cases in opposite orders deadlock; the server aborts one and the
//! transaction helper runs it again (the rule may run more than once, as the trait says).

use paidan_store::*;
use postgres::Transaction;

use crate::session::Session;

use crate::cases::{lock_case, put_case};
use crate::dedup::{lock_entry, put_entry, remove_entry};
use crate::outbox::{enqueue, write_events};
use crate::{PgStore, Tx, TxError};

/// The reader inside one attempt. A database error is kept aside (the rule sees a plain error
/// and returns) and handed to the transaction helper, which may retry.
struct PgReader<'t, 's, 'c> {
    t: &'t mut Session<'s, Transaction<'c>>,
    read: Vec<CaseRecord>,
    failed: Option<postgres::Error>,
}

impl CaseReader for PgReader<'_, '_, '_> {
    fn case(&mut self, id: &str) -> Result<CaseRecord> {
        if let Some(c) = self.read.iter().find(|c| c.id == id) {
            return Ok(c.clone());
        }
        match lock_case(self.t, id) {
            Ok(c) => {
                self.read.push(c.clone());
                Ok(c)
            }
            Err(TxError::Store(e)) => Err(e),
            Err(TxError::Db(e)) => {
                self.failed = Some(e);
                Err(StoreError::Storage("transaction interrupted".into()))
            }
        }
    }
}

pub(crate) fn edit_cases(
    s: &PgStore,
    rule: &dyn Fn(&mut dyn CaseReader) -> Result<CaseEdit>,
) -> Result<Vec<CaseRecord>> {
    s.tx(|t| {
        let mut reader = PgReader {
            t,
            read: Vec::new(),
            failed: None,
        };
        let edit = rule(&mut reader);
        let PgReader { read, failed, .. } = reader;
        if let Some(e) = failed {
            return Err(TxError::Db(e));
        }
        apply(t, &read, edit?)
    })
}

fn apply(
    t: &mut Session<'_, Transaction<'_>>,
    before: &[CaseRecord],
    edit: CaseEdit,
) -> Tx<Vec<CaseRecord>> {
    let CaseEdit {
        at,
        mut cases,
        events,
        corrections,
    } = edit;
    for c in &cases {
        if !before.iter().any(|b| b.id == c.id) {
            return Err(StoreError::Invalid(format!(
                "an edit writes case {} without reading it first",
                c.id
            ))
            .into());
        }
    }
    let mut enqueued = Vec::with_capacity(events.len());
    for (id, kind) in &events {
        let Some(c) = cases.iter_mut().find(|c| &c.id == id) else {
            return Err(StoreError::Invalid(format!(
                "an edit has an event for case {id}, which it does not write"
            ))
            .into());
        };
        enqueued.push(enqueue(c, *kind, at));
    }
    for correction in &corrections {
        t.execute(
            "INSERT INTO corrections (case_id, record) VALUES ($1, $2)",
            &[&correction.case_id, &record::encode_correction(correction)],
        )?;
    }
    let mut written = Vec::with_capacity(cases.len());
    for c in &cases {
        let Some(old) = before.iter().find(|b| b.id == c.id) else {
            continue;
        };
        if old.status.is_open() && !c.status.is_open() {
            remove_entry(t, &c.id)?;
        } else if old.category != c.category
            && let Some(mut d) = lock_entry(t, &c.id)?
        {
            d.category = c.category.clone();
            put_entry(t, &c.id, &d)?;
        }
        written.push(put_case(t, c, false)?);
        // The figures change with the case, in this transaction.
        crate::figures::apply(t, Some(old), c)?;
    }
    write_events(t, &enqueued, &written)?;
    Ok(cases)
}
