//! Metrics an operator scrapes: one Prometheus recorder per process, installed when the server
//! starts (so every metric is recorded from the first request, whatever the config), and served
//! at `GET /metrics` on `metrics_addr` when that is set.
//!
//! What is recorded where: per-RPC counts and latencies in [`layer`] (one tower layer in front of
//! every gRPC service, outside access control so refusals count too); triage, inference,
//! duplicate lookups and the submit writer in `paidan_core::metrics`; forwarding in
//! paidan-forward. Outbox depth and age are read from the store at each scrape, so they are right
//! even when no forwarder runs, and so is drift (`paidan_core::drift`). The README's metrics table
//! lists every name.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use paidan_core::Intake;
use tokio::net::TcpListener;

pub mod layer;
pub mod request_id;

pub use layer::RpcMetricsLayer;
pub use request_id::RequestIdLayer;

/// Outbox events not yet delivered to every sink.
pub const OUTBOX_PENDING: &str = "paidan_outbox_pending_events";
/// Events that failed for good and wait for an operator.
pub const OUTBOX_DEAD: &str = "paidan_outbox_dead_letters";
/// Age of the oldest pending event.
pub const OUTBOX_OLDEST: &str = "paidan_outbox_oldest_pending_age_seconds";
/// Population stability index of the recent predictions against the training mix, by head.
pub const DRIFT_PSI: &str = "paidan_triage_drift_psi";
/// Cases in the in-memory duplicate (band) index, its postings and the bytes of its tables.
pub const DEDUP_INDEX_CASES: &str = "paidan_dedup_index_cases";
pub const DEDUP_INDEX_POSTINGS: &str = "paidan_dedup_index_postings";
pub const DEDUP_INDEX_BYTES: &str = "paidan_dedup_index_bytes";
/// Bytes of the embedded store's files.
pub const DATA_DIR_BYTES: &str = "paidan_store_data_dir_bytes";
/// Predictions in the drift window.
pub const DRIFT_WINDOW: &str = "paidan_triage_drift_window_size";
/// Share of the drift window flagged for review.
pub const WINDOW_REVIEW: &str = "paidan_triage_window_review_ratio";

/// Latency buckets (seconds): sub-millisecond triage up to multi-second stalls.
const SECONDS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Size buckets: inference batches, writer rounds, duplicate candidates.
const SIZES: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];
/// Calibrated confidences.
const CONFIDENCE: &[f64] = &[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 1.0];

/// The process's recorder, installed on first use. `None` when another recorder was installed
/// first (an embedding program's own); paidan then records into that one and serves nothing.
pub fn recorder() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let built = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS)
                .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_size".into()), SIZES))
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(paidan_core::metrics::DEDUP_CANDIDATES.into()),
                        SIZES,
                    )
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(paidan_core::metrics::CONFIDENCE.into()),
                        CONFIDENCE,
                    )
                })
                .and_then(|b| b.install_recorder());
            match built {
                Ok(handle) => Some(handle),
                Err(e) => {
                    tracing::warn!(error = %e, "no Prometheus recorder: another one is installed");
                    None
                }
            }
        })
        .as_ref()
}

/// What a scrape reads besides the recorder.
struct Scrape {
    intake: Arc<Intake>,
    /// The embedded store's directory (None on PostgreSQL).
    data_dir: Option<PathBuf>,
    /// The process's CPU, memory and file descriptors (`process_*`, Prometheus's standard names).
    process: metrics_process::Collector,
}

/// Serve `GET /metrics` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    intake: Arc<Intake>,
    data_dir: Option<PathBuf>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let process = metrics_process::Collector::default();
    process.describe();
    let state = Arc::new(Scrape {
        intake,
        data_dir,
        process,
    });
    let app = axum::Router::new()
        .route("/metrics", get(scrape))
        .with_state(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

async fn scrape(State(s): State<Arc<Scrape>>) -> impl IntoResponse {
    outbox_gauges(&s.intake).await;
    drift_gauges(&s.intake);
    s.process.collect();
    if let Some((cases, postings, bytes)) = s.intake.dedup_index_size() {
        metrics::gauge!(DEDUP_INDEX_CASES).set(cases as f64);
        metrics::gauge!(DEDUP_INDEX_POSTINGS).set(postings as f64);
        metrics::gauge!(DEDUP_INDEX_BYTES).set(bytes as f64);
    }
    if let Some(dir) = &s.data_dir {
        let dir = dir.clone();
        let bytes = tokio::task::spawn_blocking(move || dir_bytes(&dir))
            .await
            .unwrap_or(0);
        metrics::gauge!(DATA_DIR_BYTES).set(bytes as f64);
    }
    let body = recorder().map(|h| h.render()).unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}

/// Read the outbox's depth and oldest entry from the store (two counters and one entry).
async fn outbox_gauges(intake: &Intake) {
    match intake.outbox_list(false, 1).await {
        Ok((oldest, pending)) => {
            metrics::gauge!(OUTBOX_PENDING).set(pending as f64);
            let age = oldest.first().map_or(0.0, |e| {
                (paidan_core::now_millis() - e.enqueued_at).max(0) as f64 / 1000.0
            });
            metrics::gauge!(OUTBOX_OLDEST).set(age);
        }
        Err(e) => tracing::warn!(error = %e, "metrics: cannot read the outbox"),
    }
    match intake.outbox_list(true, 0).await {
        Ok((_, dead)) => metrics::gauge!(OUTBOX_DEAD).set(dead as f64),
        Err(e) => tracing::warn!(error = %e, "metrics: cannot read the dead letters"),
    }
}

/// The drift window against the serving model's training mix (`paidan_core::drift`).
fn drift_gauges(intake: &Intake) {
    let d = intake.drift();
    metrics::gauge!(DRIFT_WINDOW).set(d.n as f64);
    metrics::gauge!(WINDOW_REVIEW).set(d.review_share);
    for (head, psi) in [
        ("category", d.category_psi),
        ("department", d.department_psi),
    ] {
        if let Some(psi) = psi {
            metrics::gauge!(DRIFT_PSI, "head" => head).set(psi);
        }
    }
}

/// Total size of the files under `dir` (unreadable entries count as empty).
fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}
