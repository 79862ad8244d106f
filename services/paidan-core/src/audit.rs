//! The audit trail and the changes only operators make (dead-letter replay and drop).
//!
//! Every change an operator or a client system makes is recorded here, by the domain, after the
//! change succeeded: the gRPC handlers, the `paidan outbox` command of a stopped server and any
//! future facade go through these functions, so none of them can forget the record. The change is
//! already stored when its record is written (and a case's own history names the actor), so a
//! failed audit write is logged, not returned.

use paidan_store::{AuditEvent, Millis, OutboxEntry, Store};

use crate::error::{CoreError, Result};

/// Append one record to the audit trail (not flushed: the caller's commit covers it).
pub fn record(
    store: &dyn Store,
    at: Millis,
    actor: &str,
    action: &str,
    target: &str,
    detail: &str,
) {
    let event = AuditEvent {
        at,
        actor: actor.to_string(),
        action: action.to_string(),
        target: target.to_string(),
        detail: detail.to_string(),
    };
    tracing::info!(target: "audit", actor, action, target, detail, "audit");
    if let Err(e) = store.append_audit(&event) {
        tracing::error!(error = %e, actor, action, target, "cannot write the audit trail");
    }
}

/// Pending outbox entries (or dead letters), at most `limit`, and how many there are in all.
pub fn outbox_list(store: &dyn Store, dead: bool, limit: usize) -> Result<(Vec<OutboxEntry>, u64)> {
    Ok((store.outbox_list(dead, limit)?, store.outbox_len(dead)?))
}

/// Move dead letters back to the outbox (all of them when `keys` is empty), record it, flush.
pub fn retry_dead_letters(
    store: &dyn Store,
    keys: &[String],
    actor: &str,
    now: Millis,
) -> Result<u32> {
    let n = store.outbox_retry_dead(keys, now)?;
    let target = if keys.is_empty() {
        "all".to_string()
    } else {
        keys.join(",")
    };
    record(
        store,
        now,
        actor,
        "retry_dead_letters",
        &target,
        &format!("{n} moved back to the outbox"),
    );
    store.flush()?;
    Ok(n)
}

/// Delete the named dead letters (never all at once), record it, flush.
pub fn drop_dead_letters(
    store: &dyn Store,
    keys: &[String],
    actor: &str,
    now: Millis,
) -> Result<u32> {
    if keys.is_empty() {
        return Err(CoreError::Invalid(
            "name the dead letters to drop (idempotency_keys); dropping all at once is not allowed"
                .into(),
        ));
    }
    let n = store.outbox_drop_dead(keys)?;
    record(
        store,
        now,
        actor,
        "drop_dead_letters",
        &keys.join(","),
        &format!("{n} dropped"),
    );
    store.flush()?;
    Ok(n)
}
