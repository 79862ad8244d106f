//! The audit trail: its own tree, keyed by `generate_id` (monotonic across restarts), written
//! outside the case transactions (an audit entry follows the change it records).

use super::*;

pub(super) fn append_audit(s: &SledStore, event: &AuditEvent) -> Result<()> {
    let tree = s.tree(AUDIT);
    // generate_id is monotonic across restarts, so keys sort in the order events happened.
    let id = s.db.generate_id().map_err(storage)?;
    tree.insert(id.to_be_bytes(), encode(event))
        .map_err(storage)?;
    Ok(())
}

pub(super) fn audit_log(s: &SledStore, limit: usize) -> Result<Vec<AuditEvent>> {
    let tree = s.tree(AUDIT);
    tree.iter()
        .rev()
        .take(limit)
        .map(|kv| {
            let (k, v) = kv.map_err(storage)?;
            decode(TREE_NAMES[AUDIT], &k, &v)
        })
        .collect()
}
