//! The figures' counters on sled (see [`crate::figures`] for what is counted): the `figures`
//! tree, changed by `W::put_case` in the transaction that writes the case, built once at open
//! for a store that held cases before it kept them, and summed by a range scan over the query's
//! hour buckets.
//!
//! Key: `enc_time(bucket) ‖ counter u8 ‖ dim u8 ‖ len ‖ jurisdiction ‖ name` (the bucket first, so
//! a window is one range); value: the count, i64 big-endian; a counter at zero is removed.
//! `meta/figures_built` is written after a build, so a build cut short by a crash runs again
//! (from an empty tree) at the next open.

use std::collections::BTreeMap;

use crate::figures::{self, Counter, Dim, FigureKey, FigureQuery, FigureSum};

use super::tx::{Tx, W, abort};
use super::*;

pub(super) const META_FIGURES_BUILT: &[u8] = b"figures_built";

fn key(k: &FigureKey) -> Vec<u8> {
    let mut out = Vec::with_capacity(14 + k.jurisdiction.len() + k.name.len());
    out.extend_from_slice(&enc_time(k.bucket));
    out.push(k.counter as u8);
    out.push(k.dim as u8);
    let len = u16::try_from(k.jurisdiction.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&k.jurisdiction.as_bytes()[..len as usize]);
    out.extend_from_slice(k.name.as_bytes());
    out
}

fn corrupt(k: &[u8], reason: &str) -> StoreError {
    StoreError::Corrupt {
        key: format!("figures/{}", key_str(k)),
        reason: reason.into(),
    }
}

fn parse_key(k: &[u8]) -> Result<FigureKey> {
    let bad = || corrupt(k, "not a figures key");
    let bucket = dec_time(k.get(..8).ok_or_else(bad)?).ok_or_else(bad)?;
    let counter = Counter::from_code(i16::from(*k.get(8).ok_or_else(bad)?)).ok_or_else(bad)?;
    let dim = Dim::from_code(i16::from(*k.get(9).ok_or_else(bad)?)).ok_or_else(bad)?;
    let len = u16::from_be_bytes(
        k.get(10..12)
            .ok_or_else(bad)?
            .try_into()
            .map_err(|_| bad())?,
    );
    let j_end = 12 + len as usize;
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).map_err(|_| bad());
    Ok(FigureKey {
        bucket,
        counter,
        dim,
        jurisdiction: text(k.get(12..j_end).ok_or_else(bad)?)?,
        name: text(k.get(j_end..).ok_or_else(bad)?)?,
    })
}

fn value(k: &[u8], v: &[u8]) -> Result<i64> {
    v.try_into()
        .map(i64::from_be_bytes)
        .map_err(|_| corrupt(k, &format!("expected 8 bytes, found {}", v.len())))
}

/// Inside the case transaction: change the counters by what writing `new` over `old` changes.
pub(super) fn apply(w: &W<'_>, old: Option<&CaseRecord>, new: &CaseRecord) -> Tx<()> {
    for (k, delta) in figures::deltas(old, new) {
        let k = key(&k);
        let t = w.t(FIGURES);
        let cur = match t.get(&k)? {
            None => 0,
            Some(v) => match value(&k, &v) {
                Ok(n) => n,
                Err(e) => return abort(e),
            },
        };
        let next = cur + delta;
        if next == 0 {
            t.remove(k)?;
        } else {
            t.insert(k, &next.to_be_bytes())?;
        }
    }
    Ok(())
}

/// At open, before any write: unless `meta/figures_built` says it was done, count every stored
/// case into an empty `figures` tree, then mark it done.
pub(super) fn build_once(db: &sled::Db, trees: &[Tree]) -> Result<()> {
    super::build_once(db, trees, META_FIGURES_BUILT, FIGURES, || {
        let started = std::time::Instant::now();
        let mut totals = BTreeMap::new();
        let mut cases = 0u64;
        for kv in trees[CASES].iter() {
            let (k, v) = kv.map_err(storage)?;
            let c = decode_case_value(&k, &v)?.rec;
            figures::add_case(&mut totals, &c);
            cases += 1;
        }
        let mut batch = sled::Batch::default();
        for (k, n) in &totals {
            batch.insert(key(k), &n.to_be_bytes());
        }
        trees[FIGURES].apply_batch(batch).map_err(storage)?;
        tracing::info!(
            cases,
            counters = totals.len(),
            ms = started.elapsed().as_millis() as u64,
            "figures built from the stored cases"
        );
        Ok(())
    })
}

/// The counters in the query's buckets, summed.
pub(super) fn figures(s: &SledStore, q: &FigureQuery) -> Result<Vec<FigureSum>> {
    let (since, until) = q.buckets();
    let mut counts = Vec::new();
    for kv in s.tree(FIGURES).range(enc_time(since)..enc_time(until)) {
        let (k, v) = kv.map_err(storage)?;
        let fk = parse_key(&k)?;
        if q.covers(&fk) {
            counts.push((fk, value(&k, &v)?));
        }
    }
    Ok(figures::sum(counts.iter().map(|(k, n)| (k, *n))))
}
