//! `paidan.v1.Admin`: model reload and the forwarding outbox.

use std::path::PathBuf;
use std::sync::Arc;

use paidan_core::{Intake, now_millis};
use paidan_forward::convert::timestamp;
use paidan_proto::v1;
use paidan_store::OutboxEntry;
use tonic::{Request, Response, Status};

use super::audit;
use super::status::ApiError;
use crate::access::Caller;
use crate::model_registry::ModelRegistry;

pub struct AdminApi {
    intake: Arc<Intake>,
    registry: Arc<ModelRegistry>,
}

impl AdminApi {
    pub fn new(intake: Arc<Intake>, registry: Arc<ModelRegistry>) -> AdminApi {
        AdminApi { intake, registry }
    }
}

fn entry_to_proto(e: &OutboxEntry) -> v1::OutboxEntry {
    v1::OutboxEntry {
        idempotency_key: e.idempotency_key.clone(),
        case_id: e.case_id.clone(),
        sequence: e.sequence,
        sink: e.delivered_to.join(","),
        attempts: e.attempts,
        last_error: e.last_error.clone(),
        enqueued_at: Some(timestamp(e.enqueued_at)),
        next_attempt_at: Some(timestamp(e.next_attempt_at)),
    }
}

fn storage(e: paidan_store::StoreError) -> Status {
    Status::internal(e.to_string())
}

#[tonic::async_trait]
impl v1::admin_server::Admin for AdminApi {
    async fn reload_model(
        &self,
        req: Request<v1::ReloadModelRequest>,
    ) -> Result<Response<v1::ReloadModelResponse>, Status> {
        let actor = Caller::of(&req).actor("");
        let r = req.into_inner();
        if r.model.trim().is_empty() {
            return Err(Status::invalid_argument(
                "model is empty: name a registry entry or a model directory",
            ));
        }
        let registry = self.registry.clone();
        let intake = self.intake.clone();
        let model = PathBuf::from(&r.model);
        let out = tokio::task::spawn_blocking(move || registry.reload(&intake, &model, r.force))
            .await
            .map_err(|e| Status::internal(format!("reload task failed: {e}")))?;
        let detail = match &out {
            Ok(o) => format!(
                "served {} (was {}); macro-F1 {:.3} vs {:.3}{}",
                o.model_version,
                o.previous_version,
                o.new_macro_f1,
                o.previous_macro_f1,
                if r.force { "; forced" } else { "" }
            ),
            Err(status) => format!("refused: {}", status.message()),
        };
        audit(&self.intake, &actor, "reload_model", &r.model, &detail).await;
        Ok(Response::new(out?))
    }

    async fn list_outbox(
        &self,
        req: Request<v1::ListOutboxRequest>,
    ) -> Result<Response<v1::ListOutboxResponse>, Status> {
        let r = req.into_inner();
        let limit = if r.limit == 0 {
            100
        } else {
            r.limit.min(10_000) as usize
        };
        let store = self.intake.store().clone();
        let (entries, total) = tokio::task::spawn_blocking(move || {
            Ok::<_, paidan_store::StoreError>((
                store.outbox_list(r.dead, limit)?,
                store.outbox_len(r.dead)?,
            ))
        })
        .await
        .map_err(|e| Status::internal(e.to_string()))?
        .map_err(storage)?;
        Ok(Response::new(v1::ListOutboxResponse {
            entries: entries.iter().map(entry_to_proto).collect(),
            total,
        }))
    }

    async fn retry_dead_letters(
        &self,
        req: Request<v1::RetryDeadLettersRequest>,
    ) -> Result<Response<v1::OutboxChangeResponse>, Status> {
        let actor = Caller::of(&req).actor("");
        let keys = req.into_inner().idempotency_keys;
        let target = if keys.is_empty() {
            "all".to_string()
        } else {
            keys.join(",")
        };
        let store = self.intake.store().clone();
        let affected = tokio::task::spawn_blocking(move || {
            let n = store.outbox_retry_dead(&keys, now_millis())?;
            store.flush()?;
            Ok::<_, paidan_store::StoreError>(n)
        })
        .await
        .map_err(|e| Status::internal(e.to_string()))?
        .map_err(storage)?;
        self.intake.changes().notify_one();
        let detail = format!("{affected} moved back to the outbox");
        audit(&self.intake, &actor, "retry_dead_letters", &target, &detail).await;
        Ok(Response::new(v1::OutboxChangeResponse { affected }))
    }

    async fn drop_dead_letters(
        &self,
        req: Request<v1::DropDeadLettersRequest>,
    ) -> Result<Response<v1::OutboxChangeResponse>, Status> {
        let actor = Caller::of(&req).actor("");
        let keys = req.into_inner().idempotency_keys;
        if keys.is_empty() {
            return Err(Status::invalid_argument(
                "name the dead letters to drop (idempotency_keys); dropping all at once is not allowed",
            ));
        }
        let target = keys.join(",");
        let store = self.intake.store().clone();
        let affected = tokio::task::spawn_blocking(move || {
            let n = store.outbox_drop_dead(&keys)?;
            store.flush()?;
            Ok::<_, paidan_store::StoreError>(n)
        })
        .await
        .map_err(|e| Status::internal(e.to_string()))?
        .map_err(storage)?;
        let detail = format!("{affected} dropped");
        audit(&self.intake, &actor, "drop_dead_letters", &target, &detail).await;
        Ok(Response::new(v1::OutboxChangeResponse { affected }))
    }

    async fn list_audit_events(
        &self,
        req: Request<v1::ListAuditEventsRequest>,
    ) -> Result<Response<v1::ListAuditEventsResponse>, Status> {
        let limit = match req.into_inner().limit {
            0 => 100,
            n => n.min(10_000) as usize,
        };
        let events = self.intake.audit_log(limit).await.map_err(ApiError)?;
        Ok(Response::new(v1::ListAuditEventsResponse {
            events: events
                .into_iter()
                .map(|e| v1::AuditEvent {
                    at: Some(timestamp(e.at)),
                    actor: e.actor,
                    action: e.action,
                    target: e.target,
                    detail: e.detail,
                })
                .collect(),
        }))
    }
}
