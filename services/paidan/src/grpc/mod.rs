//! gRPC adapters over the domain.

pub mod admin;
pub mod intake;
pub mod status;

/// Append to the audit trail after a change succeeded. The change itself is already durable (and a
/// case's own history names the actor), so a failed audit write is logged, not returned.
pub(crate) async fn audit(
    intake: &paidan_core::Intake,
    actor: &str,
    action: &str,
    target: &str,
    detail: &str,
) {
    if let Err(e) = intake.audit(actor, action, target, detail).await {
        tracing::error!(error = %e, actor, action, target, "cannot write the audit trail");
    }
}
