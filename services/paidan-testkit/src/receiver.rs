//! A stand-in for the 12345 platform, for tests and for people watching cases arrive.
//!
//! It implements `paidan.v1.CaseSink` over gRPC and the webhook over HTTP (`POST /events`),
//! verifies webhook signatures (when given the secret), de-duplicates by idempotency key (per
//! side: gRPC and webhook count as two platforms) and
//! appends every delivery it accepts to a JSONL file (`"duplicate": true` on redeliveries).
//!
//! It can be told to misbehave — `ok`, `fail` (UNAVAILABLE / 503), `hang` (never answers),
//! `flaky` (every other request fails) or `reject` (INVALID_ARGUMENT / 400) — by its start-up
//! mode, at run time through `PUT /control/mode` (body: the mode name; `GET` reads it), or by
//! writing the mode name into a control file (checked on every request; wins when present).
//! `GET /control/stats` returns `{"received":N,"unique":M}`.

use std::collections::HashSet;
use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State as AxState;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use paidan_proto::v1;
use paidan_proto::v1::case_sink_server::{CaseSink, CaseSinkServer};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use paidan_forward::event::{self, WebhookEvent};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailMode {
    Ok,
    Fail,
    Hang,
    Flaky,
    Reject,
}

impl FromStr for FailMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "ok" => FailMode::Ok,
            "fail" => FailMode::Fail,
            "hang" => FailMode::Hang,
            "flaky" => FailMode::Flaky,
            "reject" => FailMode::Reject,
            other => {
                return Err(format!(
                    "unknown mode {other:?} (ok|fail|hang|flaky|reject)"
                ));
            }
        })
    }
}

impl std::fmt::Display for FailMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FailMode::Ok => "ok",
            FailMode::Fail => "fail",
            FailMode::Hang => "hang",
            FailMode::Flaky => "flaky",
            FailMode::Reject => "reject",
        })
    }
}

#[derive(Clone, Debug)]
pub struct ReceiverConfig {
    /// Where to serve `paidan.v1.CaseSink` (port 0 picks one); None = no gRPC.
    pub grpc_addr: Option<SocketAddr>,
    /// Where to serve the webhook and the control endpoints; None = no HTTP.
    pub http_addr: Option<SocketAddr>,
    /// JSONL file the deliveries are appended to (keys already in it count as seen).
    pub out: Option<PathBuf>,
    /// Webhook secret; when set, unsigned or badly signed requests get 401.
    pub secret: Option<String>,
    /// Allowed clock skew of `X-Paidan-Timestamp`, seconds.
    pub max_skew_s: i64,
    pub mode: FailMode,
    pub control_file: Option<PathBuf>,
}

impl Default for ReceiverConfig {
    fn default() -> Self {
        ReceiverConfig {
            grpc_addr: None,
            http_addr: None,
            out: None,
            secret: None,
            max_skew_s: 300,
            mode: FailMode::Ok,
            control_file: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReceiverError {
    #[error("bind {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("output file {path}: {source}")]
    Output {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// One accepted delivery, as written to the JSONL file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Received {
    pub received_at: String,
    /// "grpc" or "webhook"
    pub via: String,
    pub idempotency_key: String,
    pub case_id: String,
    pub sequence: u64,
    pub kind: String,
    /// True when the key had been received before (a redelivery).
    pub duplicate: bool,
    pub event: WebhookEvent,
}

struct Shared {
    mode: Mutex<FailMode>,
    control_file: Option<PathBuf>,
    secret: Option<String>,
    max_skew_s: i64,
    requests: AtomicU64,
    /// (via, idempotency key): the gRPC and the webhook side each de-duplicate on their own.
    seen: Mutex<HashSet<(String, String)>>,
    received: Mutex<Vec<Received>>,
    out: Mutex<Option<std::fs::File>>,
    shutdown: watch::Receiver<bool>,
}

enum Refusal {
    Unavailable,
    Rejected,
}

impl Shared {
    fn mode(&self) -> FailMode {
        if let Some(path) = &self.control_file
            && let Ok(s) = std::fs::read_to_string(path)
            && let Ok(m) = s.parse()
        {
            return m;
        }
        *self.mode.lock().expect("mode lock")
    }

    /// Apply the failure mode; Ok(()) means "process the request".
    async fn gate(&self) -> Result<(), Refusal> {
        let n = self.requests.fetch_add(1, Ordering::SeqCst);
        match self.mode() {
            FailMode::Ok => Ok(()),
            FailMode::Fail => Err(Refusal::Unavailable),
            FailMode::Reject => Err(Refusal::Rejected),
            FailMode::Flaky if n.is_multiple_of(2) => Err(Refusal::Unavailable),
            FailMode::Flaky => Ok(()),
            FailMode::Hang => {
                let mut rx = self.shutdown.clone();
                while !*rx.borrow() {
                    if rx.changed().await.is_err() {
                        break;
                    }
                }
                Err(Refusal::Unavailable)
            }
        }
    }

    fn record(&self, via: &str, event: WebhookEvent) -> bool {
        let duplicate = !self
            .seen
            .lock()
            .expect("seen lock")
            .insert((via.to_string(), event.idempotency_key.clone()));
        let r = Received {
            received_at: event::rfc3339(paidan_forward::forwarder::now_millis()),
            via: via.to_string(),
            idempotency_key: event.idempotency_key.clone(),
            case_id: event.case_id.clone(),
            sequence: event.sequence,
            kind: event.kind.clone(),
            duplicate,
            event,
        };
        if let Some(f) = self.out.lock().expect("out lock").as_mut() {
            let mut line = serde_json::to_vec(&r).unwrap_or_default();
            line.push(b'\n');
            if let Err(e) = f.write_all(&line).and_then(|_| f.flush()) {
                tracing::error!(error = %e, "receiver: cannot append to the output file");
            }
        }
        tracing::info!(key = %r.idempotency_key, via, duplicate, kind = %r.kind, "received");
        self.received.lock().expect("received lock").push(r);
        duplicate
    }
}

/// A running receiver.
pub struct ReceiverHandle {
    pub grpc_addr: Option<SocketAddr>,
    pub http_addr: Option<SocketAddr>,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl ReceiverHandle {
    pub fn set_mode(&self, mode: FailMode) {
        *self.shared.mode.lock().expect("mode lock") = mode;
    }

    pub fn mode(&self) -> FailMode {
        self.shared.mode()
    }

    /// Every accepted delivery so far (including redeliveries), in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().expect("received lock").clone()
    }

    /// Idempotency keys seen on either side (including those loaded from the output file).
    pub fn unique_keys(&self) -> HashSet<String> {
        let seen = self.shared.seen.lock().expect("seen lock");
        seen.iter().map(|(_, k)| k.clone()).collect()
    }

    /// Requests answered or refused so far.
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::SeqCst)
    }

    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

struct GrpcReceiver(Arc<Shared>);

#[tonic::async_trait]
impl CaseSink for GrpcReceiver {
    async fn deliver(
        &self,
        request: tonic::Request<v1::CaseEvent>,
    ) -> Result<tonic::Response<v1::DeliverAck>, tonic::Status> {
        match self.0.gate().await {
            Ok(()) => {}
            Err(Refusal::Unavailable) => {
                return Err(tonic::Status::unavailable("receiver told to fail"));
            }
            Err(Refusal::Rejected) => {
                return Err(tonic::Status::invalid_argument("receiver told to reject"));
            }
        }
        let e = request.into_inner();
        if e.idempotency_key.is_empty() || e.case.is_none() {
            return Err(tonic::Status::invalid_argument("event without key or case"));
        }
        let platform_case_id = format!("P-{}", e.case_id);
        let duplicate = self.0.record("grpc", WebhookEvent::from_proto(&e));
        Ok(tonic::Response::new(v1::DeliverAck {
            duplicate,
            platform_case_id,
        }))
    }
}

async fn http_event(
    AxState(shared): AxState<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    match shared.gate().await {
        Ok(()) => {}
        Err(Refusal::Unavailable) => {
            return (StatusCode::SERVICE_UNAVAILABLE, "told to fail".into());
        }
        Err(Refusal::Rejected) => return (StatusCode::BAD_REQUEST, "told to reject".into()),
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    if let Some(secret) = &shared.secret {
        let now = paidan_forward::forwarder::now_millis() / 1000;
        if let Err(e) = event::verify_request(
            secret.as_bytes(),
            &header(event::HEADER_TIMESTAMP),
            &body,
            &header(event::HEADER_SIGNATURE),
            now,
            shared.max_skew_s,
        ) {
            tracing::warn!(error = %e, "receiver: webhook refused");
            return (StatusCode::UNAUTHORIZED, e.to_string());
        }
    }
    let ev: WebhookEvent = match serde_json::from_slice(&body) {
        Ok(ev) => ev,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("bad event: {e}")),
    };
    if header(event::HEADER_IDEMPOTENCY_KEY) != ev.idempotency_key {
        return (
            StatusCode::BAD_REQUEST,
            "Idempotency-Key header does not match the body".into(),
        );
    }
    let platform_case_id = format!("P-{}", ev.case_id);
    let duplicate = shared.record("webhook", ev);
    (
        StatusCode::OK,
        serde_json::json!({"duplicate": duplicate, "platform_case_id": platform_case_id})
            .to_string(),
    )
}

async fn get_mode(AxState(shared): AxState<Arc<Shared>>) -> String {
    shared.mode().to_string()
}

async fn put_mode(AxState(shared): AxState<Arc<Shared>>, body: String) -> (StatusCode, String) {
    match body.parse::<FailMode>() {
        Ok(m) => {
            *shared.mode.lock().expect("mode lock") = m;
            (StatusCode::OK, m.to_string())
        }
        Err(e) => (StatusCode::BAD_REQUEST, e),
    }
}

async fn stats(AxState(shared): AxState<Arc<Shared>>) -> String {
    let received = shared.received.lock().expect("received lock").len();
    let unique = shared.seen.lock().expect("seen lock").len();
    serde_json::json!({"received": received, "unique": unique, "mode": shared.mode().to_string()})
        .to_string()
}

fn load_seen(path: &Path) -> Result<HashSet<(String, String)>, std::io::Error> {
    let mut seen = HashSet::new();
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(seen),
        Err(e) => return Err(e),
    };
    for line in std::io::BufReader::new(f).lines() {
        let line = line?;
        // A torn last line (the receiver was killed mid-write) is skipped.
        if let Ok(r) = serde_json::from_str::<Received>(&line) {
            seen.insert((r.via, r.idempotency_key));
        }
    }
    Ok(seen)
}

/// A listener on `addr` and the address it got (port 0 picks a free one).
async fn bind(addr: SocketAddr) -> Result<(tokio::net::TcpListener, SocketAddr), ReceiverError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ReceiverError::Bind { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| ReceiverError::Bind { addr, source })?;
    Ok((listener, local))
}

/// Bind and start serving; returns at once with the bound addresses.
pub async fn start_receiver(cfg: ReceiverConfig) -> Result<ReceiverHandle, ReceiverError> {
    let (seen, out) = match &cfg.out {
        None => (HashSet::new(), None),
        Some(path) => {
            let err = |source| ReceiverError::Output {
                path: path.clone(),
                source,
            };
            let seen = load_seen(path).map_err(err)?;
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(err)?;
            (seen, Some(f))
        }
    };
    let (stop, stop_rx) = watch::channel(false);
    let shared = Arc::new(Shared {
        mode: Mutex::new(cfg.mode),
        control_file: cfg.control_file.clone(),
        secret: cfg.secret.clone().filter(|s| !s.is_empty()),
        max_skew_s: cfg.max_skew_s,
        requests: AtomicU64::new(0),
        seen: Mutex::new(seen),
        received: Mutex::new(Vec::new()),
        out: Mutex::new(out),
        shutdown: stop_rx.clone(),
    });
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        while !*rx.borrow() {
            if rx.changed().await.is_err() {
                break;
            }
        }
    };
    let mut tasks = Vec::new();
    let mut grpc_addr = None;
    if let Some(addr) = cfg.grpc_addr {
        let (listener, local) = bind(addr).await?;
        grpc_addr = Some(local);
        let svc = CaseSinkServer::new(GrpcReceiver(shared.clone()));
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
        let signal = stopped(stop_rx.clone());
        tasks.push(tokio::spawn(async move {
            if let Err(e) = tonic::transport::Server::builder()
                .add_service(svc)
                .serve_with_incoming_shutdown(incoming, signal)
                .await
            {
                tracing::error!(error = %e, "receiver: gRPC server failed");
            }
        }));
        tracing::info!(%local, "receiver: CaseSink gRPC listening");
    }
    let mut http_addr = None;
    if let Some(addr) = cfg.http_addr {
        let (listener, local) = bind(addr).await?;
        http_addr = Some(local);
        let app = axum::Router::new()
            .route("/events", post(http_event))
            .route("/paidan/events", post(http_event))
            .route("/control/mode", get(get_mode).put(put_mode).post(put_mode))
            .route("/control/stats", get(stats))
            .with_state(shared.clone());
        let signal = stopped(stop_rx.clone());
        tasks.push(tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(signal)
                .await
            {
                tracing::error!(error = %e, "receiver: HTTP server failed");
            }
        }));
        tracing::info!(%local, "receiver: webhook + control HTTP listening");
    }
    Ok(ReceiverHandle {
        grpc_addr,
        http_addr,
        shared,
        stop,
        tasks,
    })
}
