//! `idx_due`: the cases a deadline watch still owes an event, by deadline.
//!
//! Why an index: the deadline watch (paidan-core `deadlines.rs`) runs at startup and every
//! minute. Listing every case being handled made each pass a read of all open cases — at a
//! million stored cases a full read and decode at every start, and sled's cache filled with
//! them (bench-notes, session 10: ~165 MB of the serving RSS). The index holds one key per case
//! with a [`CaseRecord::deadline_pending`] — a master being handled whose deadline has not had
//! its overdue event — so a pass reads the cases due by its horizon and nothing else. A case
//! leaves the index in the transaction that records its overdue event, resolves it or links it to
//! another master, and comes back with a new deadline (an extension, a reopening).
//!
//! Key: `enc_time(due_at) ‖ case id`; value: empty. Changed by `W::put_case` with the case. A
//! store that held cases before it kept the index builds it once at open (`meta/deadlines_built`
//! is written after the build, so a build cut short by a crash runs again from an empty tree).

use super::*;

pub(super) const META_DEADLINES_BUILT: &[u8] = b"deadlines_built";

/// At open, before any write: unless `meta/deadlines_built` says it was done, index every stored
/// case with a pending deadline into an empty `idx_due`, then mark it done.
pub(super) fn build_once(db: &sled::Db, trees: &[Tree]) -> Result<()> {
    super::build_once(db, trees, META_DEADLINES_BUILT, IDX_DUE, || {
        let started = std::time::Instant::now();
        let (mut cases, mut indexed) = (0u64, 0u64);
        let mut batch = sled::Batch::default();
        for kv in trees[CASES].iter() {
            let (k, v) = kv.map_err(storage)?;
            let c = decode_case_value(&k, &v)?.rec;
            cases += 1;
            if let Some(due) = c.deadline_pending() {
                batch.insert(time_key(&[], due, &c.id), &[][..]);
                indexed += 1;
            }
        }
        trees[IDX_DUE].apply_batch(batch).map_err(storage)?;
        if cases > 0 {
            tracing::info!(
                cases,
                indexed,
                ms = started.elapsed().as_millis() as u64,
                "deadline index built from the stored cases"
            );
        }
        Ok(())
    })
}

/// [`Store::for_each_deadline_pending`]: a range scan of `idx_due` up to `until`, each case read
/// as stored. The scan and the reads are not one snapshot: a case changed since its key was read
/// is passed only if it still has a pending deadline by `until` (the watch decides again inside
/// its own transaction).
pub(super) fn for_each_pending(
    s: &SledStore,
    until: Millis,
    f: &mut dyn FnMut(CaseRecord),
) -> Result<()> {
    let end = time_key(&[], until.saturating_add(1), "");
    for kv in s.tree(IDX_DUE).range(..end) {
        let (k, _) = kv.map_err(storage)?;
        let id = k.get(8..).ok_or_else(|| StoreError::Corrupt {
            key: format!("idx_due/{}", key_str(&k)),
            reason: "shorter than a deadline".into(),
        })?;
        if let Some(c) = s.load_case(id)?
            && c.deadline_pending().is_some_and(|d| d <= until)
        {
            f(c);
        }
    }
    Ok(())
}

/// The `idx_due` keys the stored cases call for (the consistency check).
pub(super) fn want_key(c: &CaseRecord) -> Option<Vec<u8>> {
    c.deadline_pending().map(|d| time_key(&[], d, &c.id))
}
