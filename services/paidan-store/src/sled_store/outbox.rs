//! The forwarding outbox: due entries (one head per case in `outbox_due`), delivery per sink,
//! failures and the dead letters. Entries are stored as [`StoredEntry`]: the payload is the live
//! case until the case changes after the event (see the module docs of `sled_store`).

use super::entry::StoredEntry;
use super::tx::*;
use super::*;

pub(super) fn outbox_due(s: &SledStore, now: Millis, limit: usize) -> Result<Vec<OutboxEntry>> {
    let end = due_key(now, u64::MAX);
    let mut seqs = Vec::new();
    for kv in s.tree(OUTBOX_DUE).range(..=end) {
        if seqs.len() >= limit {
            break;
        }
        let (k, _) = kv.map_err(storage)?;
        let seq = dec_u64(&k[8..]).ok_or_else(|| StoreError::Corrupt {
            key: format!("outbox_due/{}", key_str(&k)),
            reason: "key is not time ‖ seq".into(),
        })?;
        seqs.push(seq);
    }
    seqs.sort_unstable();
    // An entry delivered between the scan and the read is simply not due any more.
    let mut out = Vec::with_capacity(seqs.len());
    if !seqs.is_empty() {
        out = s.tx(|w| {
            let mut out = Vec::with_capacity(seqs.len());
            for &seq in &seqs {
                if let Some(e) = w.entry(OUTBOX, seq)? {
                    out.push(w.materialize(e)?);
                }
            }
            Ok(out)
        })?;
    }
    Ok(out)
}

pub(super) fn outbox_delivered(
    s: &SledStore,
    seq: u64,
    sink: &str,
    all_sinks: &[String],
    at: Millis,
) -> Result<bool> {
    s.tx(|w| {
        let Some(mut e) = w.entry(OUTBOX, seq)? else {
            return Ok(false);
        };
        if !e.delivered_to.iter().any(|s| s == sink) {
            e.delivered_to.push(sink.to_string());
        }
        if !all_sinks.iter().all(|s| e.delivered_to.contains(s)) {
            w.t(OUTBOX).insert(&enc_u64(seq), encode_entry(&e))?;
            return Ok(false);
        }
        w.t(OUTBOX).remove(&enc_u64(seq))?;
        w.queue_remove(&e)?;
        w.add_counter(META, META_OUTBOX_LEN, -1)?;
        if let Some(old) = w.stored(&e.case_id)? {
            let mut c = old.clone();
            let f = &mut c.rec.forwarding;
            f.events_delivered += 1;
            f.events_pending = f.events_pending.saturating_sub(1);
            f.delivered_at = Some(at);
            f.attempts = 0;
            f.last_error.clear();
            if f.events_pending == 0 {
                f.state = ForwardingState::Delivered;
            }
            w.put_value(Some(&old), &c)?;
        }
        Ok(true)
    })
}

pub(super) fn outbox_failed(
    s: &SledStore,
    seq: u64,
    error: &str,
    next_attempt_at: Millis,
    dead: bool,
) -> Result<()> {
    s.tx(|w| {
        let Some(old_e) = w.entry(OUTBOX, seq)? else {
            return abort(StoreError::Invalid(format!(
                "no pending outbox entry {seq}"
            )));
        };
        let mut e = old_e.clone();
        e.attempts += 1;
        e.last_error = error.to_string();
        if dead {
            // A dead letter keeps its payload whatever happens to the case later.
            if e.case.is_none() {
                e.freeze(w.stored_or_missing(&e.case_id)?);
            }
            w.t(OUTBOX).remove(&enc_u64(seq))?;
            w.queue_remove(&old_e)?;
            w.t(DEAD_LETTERS).insert(&enc_u64(seq), encode_entry(&e))?;
            w.add_counter(META, META_OUTBOX_LEN, -1)?;
            w.add_counter(META, META_DEAD_LEN, 1)?;
        } else {
            e.next_attempt_at = next_attempt_at;
            w.t(OUTBOX).insert(&enc_u64(seq), encode_entry(&e))?;
            let due_old = due_key(old_e.next_attempt_at, seq);
            if w.t(OUTBOX_DUE).remove(due_old)?.is_some() {
                w.t(OUTBOX_DUE)
                    .insert(due_key(e.next_attempt_at, seq), &[][..])?;
            }
        }
        if let Some(old) = w.stored(&e.case_id)? {
            let mut c = old.clone();
            let f = &mut c.rec.forwarding;
            f.attempts = e.attempts;
            f.last_error = e.last_error.clone();
            if dead {
                f.events_pending = f.events_pending.saturating_sub(1);
                f.state = ForwardingState::Dead;
            }
            w.put_value(Some(&old), &c)?;
        }
        Ok(())
    })
}

pub(super) fn outbox_list(s: &SledStore, dead: bool, limit: usize) -> Result<Vec<OutboxEntry>> {
    let tree = if dead { DEAD_LETTERS } else { OUTBOX };
    let seqs = s
        .tree(tree)
        .iter()
        .keys()
        .take(limit)
        .map(|k| {
            let k = k.map_err(storage)?;
            dec_u64(&k).ok_or_else(|| StoreError::Corrupt {
                key: format!("{}/{}", TREE_NAMES[tree], key_str(&k)),
                reason: "key is not a seq".into(),
            })
        })
        .collect::<Result<Vec<u64>>>()?;
    s.materialize_all(tree, &seqs)
}

pub(super) fn outbox_len(s: &SledStore, dead: bool) -> Result<u64> {
    s.counter(META, if dead { META_DEAD_LEN } else { META_OUTBOX_LEN })
}

pub(super) fn outbox_retry_dead(s: &SledStore, keys: &[String], now: Millis) -> Result<u32> {
    let mut n = 0;
    for e in s.dead_matching(keys)? {
        let moved = s.tx(|w| {
            let Some(mut e) = w.entry(DEAD_LETTERS, e.seq)? else {
                return Ok(false);
            };
            w.t(DEAD_LETTERS).remove(&enc_u64(e.seq))?;
            e.attempts = 0;
            e.next_attempt_at = now;
            w.t(OUTBOX).insert(&enc_u64(e.seq), encode_entry(&e))?;
            w.queue_insert(&e)?;
            w.add_counter(META, META_OUTBOX_LEN, 1)?;
            w.add_counter(META, META_DEAD_LEN, -1)?;
            if let Some(old) = w.stored(&e.case_id)? {
                let mut c = old.clone();
                let f = &mut c.rec.forwarding;
                f.events_pending += 1;
                f.state = ForwardingState::Pending;
                f.attempts = 0;
                w.put_value(Some(&old), &c)?;
            }
            Ok(true)
        })?;
        n += u32::from(moved);
    }
    Ok(n)
}

pub(super) fn outbox_drop_dead(s: &SledStore, keys: &[String]) -> Result<u32> {
    if keys.is_empty() {
        // Dropping is irreversible: it takes explicit keys, never "all".
        return Ok(0);
    }
    let mut n = 0;
    for e in s.dead_matching(keys)? {
        let dropped = s.tx(|w| {
            if w.t(DEAD_LETTERS).remove(&enc_u64(e.seq))?.is_none() {
                return Ok(false);
            }
            w.add_counter(META, META_DEAD_LEN, -1)?;
            Ok(true)
        })?;
        n += u32::from(dropped);
    }
    Ok(n)
}

impl SledStore {
    pub(super) fn counter(&self, tree: usize, key: &[u8]) -> Result<u64> {
        match self.tree(tree).get(key).map_err(storage)? {
            None => Ok(0),
            Some(v) => decode_u64(TREE_NAMES[tree], key, &v),
        }
    }

    pub(super) fn dead_matching(&self, keys: &[String]) -> Result<Vec<StoredEntry>> {
        let mut out = Vec::new();
        for kv in self.tree(DEAD_LETTERS).iter() {
            let (k, v) = kv.map_err(storage)?;
            let e = decode_entry("dead_letters", &k, &v)?;
            let seq = e.seq.to_string();
            if keys.is_empty() || keys.iter().any(|k| *k == e.idempotency_key || *k == seq) {
                out.push(e);
            }
        }
        Ok(out)
    }

    /// Stored entries with their payloads, read in one transaction so a case change (which
    /// freezes the entry it affects) cannot fall between reading an entry and its case.
    pub(super) fn materialize_all(&self, tree: usize, seqs: &[u64]) -> Result<Vec<OutboxEntry>> {
        if seqs.is_empty() {
            return Ok(Vec::new());
        }
        self.tx(|w| {
            let mut out = Vec::with_capacity(seqs.len());
            for &seq in seqs {
                match w.entry(tree, seq)? {
                    Some(e) => out.push(w.materialize(e)?),
                    None => {
                        return abort(StoreError::Corrupt {
                            key: format!("{}/{seq}", TREE_NAMES[tree]),
                            reason: "entry vanished while being read".into(),
                        });
                    }
                }
            }
            Ok(out)
        })
    }
}
