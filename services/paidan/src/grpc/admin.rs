//! `paidan.v1.Admin`: model reload and the forwarding outbox. Thin: the domain (`Intake`) validates,
//! changes and writes the audit record; this converts.

use std::path::PathBuf;
use std::sync::Arc;

use paidan_core::{Intake, ModelRegistry};
use paidan_proto::convert::{audit_event_to_proto, outbox_entry_to_proto};
use paidan_proto::v1;
use tonic::{Request, Response, Status};

use super::status::{ApiError, invalid};
use crate::access::Caller;

pub struct AdminApi {
    intake: Arc<Intake>,
    registry: Arc<ModelRegistry>,
}

impl AdminApi {
    pub fn new(intake: Arc<Intake>, registry: Arc<ModelRegistry>) -> AdminApi {
        AdminApi { intake, registry }
    }
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
            return Err(invalid(
                "model is empty: name a registry entry or a model directory",
            ));
        }
        let out = self
            .intake
            .reload_model(
                self.registry.clone(),
                PathBuf::from(&r.model),
                r.force,
                actor,
            )
            .await
            .map_err(ApiError)?;
        Ok(Response::new(v1::ReloadModelResponse {
            previous_version: out.previous_version,
            model_version: out.model_version,
            previous_macro_f1: out.previous_macro_f1 as f32,
            new_macro_f1: out.new_macro_f1 as f32,
        }))
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
        let (entries, total) = self
            .intake
            .outbox_list(r.dead, limit)
            .await
            .map_err(ApiError)?;
        Ok(Response::new(v1::ListOutboxResponse {
            entries: entries.iter().map(outbox_entry_to_proto).collect(),
            total,
        }))
    }

    async fn retry_dead_letters(
        &self,
        req: Request<v1::RetryDeadLettersRequest>,
    ) -> Result<Response<v1::OutboxChangeResponse>, Status> {
        let actor = Caller::of(&req).actor("");
        let keys = req.into_inner().idempotency_keys;
        let affected = self
            .intake
            .retry_dead_letters(keys, actor)
            .await
            .map_err(ApiError)?;
        Ok(Response::new(v1::OutboxChangeResponse { affected }))
    }

    async fn drop_dead_letters(
        &self,
        req: Request<v1::DropDeadLettersRequest>,
    ) -> Result<Response<v1::OutboxChangeResponse>, Status> {
        let actor = Caller::of(&req).actor("");
        let keys = req.into_inner().idempotency_keys;
        let affected = self
            .intake
            .drop_dead_letters(keys, actor)
            .await
            .map_err(ApiError)?;
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
            events: events.into_iter().map(audit_event_to_proto).collect(),
        }))
    }
}
