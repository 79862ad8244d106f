//! `case_heads`: what a duplicate lookup reads of each case it meets ([`CaseHead`]), apart from
//! the whole record.
//!
//! Why: a lookup at 1M stored cases meets ~360 band candidates; for each that can still pass the
//! decision it read the whole case, and again its master's, to learn whether the matter is open
//! and when it was last reported. Whole records are kilobytes scattered over a 10 GB store:
//! `load_case` was 19 % of a lookup (bench-notes, session 11). A head is ~20 bytes, so the heads
//! of a million cases fit in sled's cache.
//!
//! Key: case id; value: `status u8 ‖ enc_time(last_report_at) ‖ master id` (the master id empty
//! on a master). Written by `W::put_case` with the case, in its transaction, when the head
//! changed. A store that held cases before it kept the heads builds them once at open
//! (`meta/heads_built`, see [`super::build_once`]).

use super::*;

pub(super) const META_HEADS_BUILT: &[u8] = b"heads_built";

pub(super) fn encode_head(h: &CaseHead) -> Vec<u8> {
    let master = h.duplicate_of.as_deref().unwrap_or("");
    let mut v = Vec::with_capacity(9 + master.len());
    v.push(h.status as u8);
    v.extend_from_slice(&enc_time(h.last_report_at));
    v.extend_from_slice(master.as_bytes());
    v
}

pub(super) fn decode_head(id: &[u8], v: &[u8]) -> Result<CaseHead> {
    let bad = || StoreError::Corrupt {
        key: format!("case_heads/{}", key_str(id)),
        reason: "not a case head".into(),
    };
    let status = CaseStatus::from_code(*v.first().ok_or_else(bad)?).ok_or_else(bad)?;
    let last_report_at = dec_time(v.get(1..9).ok_or_else(bad)?).ok_or_else(bad)?;
    let master = std::str::from_utf8(&v[9..]).map_err(|_| bad())?;
    Ok(CaseHead {
        status,
        duplicate_of: (!master.is_empty()).then(|| master.to_string()),
        last_report_at,
    })
}

/// At open, before any write: the heads of every stored case, once.
pub(super) fn build_once(db: &sled::Db, trees: &[Tree]) -> Result<()> {
    super::build_once(db, trees, META_HEADS_BUILT, CASE_HEADS, || {
        let started = std::time::Instant::now();
        let mut cases = 0u64;
        let mut batch = sled::Batch::default();
        for kv in trees[CASES].iter() {
            let (k, v) = kv.map_err(storage)?;
            let c: CaseRecord = decode(TREE_NAMES[CASES], &k, &v)?;
            batch.insert(k, encode_head(&c.head()));
            cases += 1;
        }
        trees[CASE_HEADS].apply_batch(batch).map_err(storage)?;
        if cases > 0 {
            tracing::info!(
                cases,
                ms = started.elapsed().as_millis() as u64,
                "case heads built from the stored cases"
            );
        }
        Ok(())
    })
}

/// [`Store::case_head`] on sled.
pub(super) fn case_head(s: &SledStore, id: &str) -> Result<Option<CaseHead>> {
    match s.tree(CASE_HEADS).get(id.as_bytes()).map_err(storage)? {
        None => Ok(None),
        Some(v) => decode_head(id.as_bytes(), &v).map(Some),
    }
}
