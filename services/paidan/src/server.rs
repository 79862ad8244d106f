//! `paidan serve`: opens the store, starts gRPC (Intake, Admin, health, reflection) and, when
//! configured, the Open311 facade at once with health NOT_SERVING, loads and warms the model off
//! the runtime, then turns SERVING.
//! On shutdown both stop accepting and let in-flight requests finish; then the forwarder stops and
//! the store is flushed.
//!
//! On PostgreSQL the node is one of a cluster (`crate::cluster`): once its model answers it runs
//! the lease keeper, takes its share of the jurisdiction partitions and forwards submits for the
//! others to their owners; at a clean stop it releases them after the last request finished.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use paidan_core::Intake;
use paidan_proto::v1::admin_server::AdminServer;
use paidan_proto::v1::intake_server::IntakeServer;
use paidan_store::{SledStore, Store, StoreOptions};
use paidan_store_pg::PgStore;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tonic_health::ServingStatus;

use crate::access::{AccessControl, AccessLayer};
use crate::cluster::{Cluster, ClusterLayer, Keeper};
use crate::config::ServeConfig;
use crate::deadline_watch::DeadlineWatch;
use crate::grpc::{admin::AdminApi, intake::IntakeApi};
use crate::open311::Open311;
use crate::telemetry::{RequestIdLayer, RpcMetricsLayer};
use paidan_core::{ModelRegistry, load_and_warm};

/// The descriptor sets reflection serves, besides reflection's own (which the reflection builder
/// adds). Every service in them is served except the ones in [`crate::access::NOT_SERVED`], and
/// every served method needs an access rule (`every_served_method_has_an_access_rule`).
pub const DESCRIPTOR_SETS: &[&[u8]] = &[
    paidan_proto::FILE_DESCRIPTOR_SET,
    tonic_health::pb::FILE_DESCRIPTOR_SET,
];

/// A running server.
pub struct ServerHandle {
    pub addr: SocketAddr,
    /// Where the Open311 facade listens, when configured.
    pub open311_addr: Option<SocketAddr>,
    /// Where `GET /metrics` answers, when configured.
    pub metrics_addr: Option<SocketAddr>,
    pub intake: Arc<Intake>,
    shutdown: Option<oneshot::Sender<()>>,
    join: JoinHandle<anyhow::Result<()>>,
}

impl ServerHandle {
    /// Graceful stop: finish in-flight requests, stop forwarding, flush.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.join.await.context("server task panicked")?
    }

    /// Wait until the server exits on its own (signal).
    pub async fn wait(self) -> anyhow::Result<()> {
        self.join.await.context("server task panicked")?
    }
}

/// The case store: PostgreSQL when `store_url` is set (`postgres://…`), else sled in `data_dir`
/// (created when missing). The URL is never logged or shown in errors (it may hold a password).
/// Blocks (connects, migrates, opens): call it off the async runtime.
pub fn open_store(data_dir: &Path, store_url: Option<&str>) -> anyhow::Result<Arc<dyn Store>> {
    Ok(open_stores(data_dir, store_url, &StoreOptions::default())?.0)
}

/// The store as the server uses it, and the PostgreSQL store as itself (its leases).
type Stores = (Arc<dyn Store>, Option<Arc<PgStore>>);

/// [`open_store`], with the PostgreSQL store also as itself (the cluster needs its leases). The
/// duplicate index is brought to this build's fingerprint version before the store is handed on
/// (`paidan_core::rekey_dedup`).
fn open_stores(
    data_dir: &Path,
    store_url: Option<&str>,
    sled: &StoreOptions,
) -> anyhow::Result<Stores> {
    let stores = open_unkeyed(data_dir, store_url, sled)?;
    let rewritten =
        paidan_core::rekey_dedup(&*stores.0).context("cannot re-key the duplicate index")?;
    if rewritten > 0 {
        // The re-key read and wrote every entry. sled keeps much of it until closed, and the
        // allocator keeps what was freed: a server that re-keyed 100k cases on sled held 394 MB
        // (287 MB trimmed only) where one opened on the re-keyed store holds 165 MB. Closed,
        // opened again and trimmed, it holds 193 MB.
        drop(stores);
        let reopened = open_unkeyed(data_dir, store_url, sled)?;
        let _ = release_free_memory();
        return Ok(reopened);
    }
    Ok(stores)
}

/// Give the heap's free pages back to the system. The binary allocates with jemalloc
/// (`main.rs`), which keeps freed pages for a while before it returns them: purge every arena now
/// (`arena.<MALLCTL_ARENAS_ALL>.purge`). glibc's heap, which C code in the process still uses,
/// is trimmed as before. Neither touches a live allocation; in a process whose allocator is not
/// jemalloc (the tests) the purge finds empty arenas.
/// Whether jemalloc took the purge.
#[allow(unsafe_code)]
fn release_free_memory() -> bool {
    // jemalloc's MALLCTL_ARENAS_ALL.
    const PURGE_ALL: &[u8] = b"arena.4096.purge\0";
    // SAFETY: a void mallctl command (no old or new value) named by a NUL-terminated string.
    let purged = unsafe {
        tikv_jemalloc_sys::mallctl(
            PURGE_ALL.as_ptr().cast(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        )
    };
    if purged != 0 {
        tracing::debug!(code = purged, "jemalloc purge refused");
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory of the allocator's arenas to the system; it
    // touches no live allocation.
    unsafe {
        libc::malloc_trim(0);
    }
    purged == 0
}

fn open_unkeyed(
    data_dir: &Path,
    store_url: Option<&str>,
    sled: &StoreOptions,
) -> anyhow::Result<Stores> {
    match store_url.filter(|u| !u.is_empty()) {
        Some(url) => {
            let scheme = url.split_once("://").map_or("", |(s, _)| s);
            anyhow::ensure!(
                matches!(scheme, "postgres" | "postgresql"),
                "store_url must be a postgres:// URL (found {scheme:?}; unset it for sled in data_dir)"
            );
            let store = PgStore::open(url).context("cannot open the case store on PostgreSQL")?;
            tracing::info!("case store: PostgreSQL");
            let store = Arc::new(store);
            Ok((store.clone(), Some(store)))
        }
        None => {
            std::fs::create_dir_all(data_dir)
                .with_context(|| format!("cannot create data dir {}", data_dir.display()))?;
            let store = SledStore::open_with(data_dir, sled)
                .with_context(|| format!("cannot open the case store in {}", data_dir.display()))?;
            Ok((Arc::new(store), None))
        }
    }
}

/// Bind, start serving, and return at once; the model loads in the background.
/// `signals`: also stop on SIGTERM / Ctrl-C (the binary; tests stop through the handle).
pub async fn start(cfg: ServeConfig, signals: bool) -> anyhow::Result<ServerHandle> {
    let (store, pg) = {
        let (dir, url) = (cfg.data_dir.clone(), cfg.store_url.clone());
        let sled = StoreOptions {
            cache_capacity: cfg.store_cache_mb * 1024 * 1024,
            ..StoreOptions::default()
        };
        tokio::task::spawn_blocking(move || open_stores(&dir, url.as_deref(), &sled)).await??
    };
    let forwarder = match &cfg.forward {
        Some(fc) if !fc.sinks.is_empty() => Some(
            paidan_forward::Forwarder::from_config(store.clone(), fc)
                .context("cannot configure forwarding")?,
        ),
        _ => {
            tracing::warn!(
                "no forwarding sinks configured: cases queue in the outbox until one is"
            );
            None
        }
    };
    let changes = forwarder.as_ref().map(|f| f.notifier()).unwrap_or_default();
    let intake = Arc::new(Intake::with_notifier(
        store.clone(),
        None,
        cfg.intake.clone(),
        changes,
    ));
    intake.set_catalogue(cfg.dispatch_catalogue()?);
    let registry = Arc::new(
        ModelRegistry::new(
            cfg.model_registry.clone(),
            cfg.gate_set.as_deref(),
            cfg.gate_margin,
        )
        .map_err(anyhow::Error::msg)?,
    );

    // Recorded from the first request on; served when metrics_addr is set.
    crate::telemetry::recorder();

    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_service_status("", ServingStatus::NotServing)
        .await;
    health.set_not_serving::<IntakeServer<IntakeApi>>().await;

    let reflection = || {
        DESCRIPTOR_SETS
            .iter()
            .fold(tonic_reflection::server::Builder::configure(), |b, set| {
                b.register_encoded_file_descriptor_set(set)
            })
    };
    let reflection_v1 = reflection().build_v1()?;
    let reflection_v1alpha = reflection().build_v1alpha()?;

    let listener = TcpListener::bind(cfg.addr)
        .await
        .with_context(|| format!("cannot listen on {}", cfg.addr))?;
    let addr = listener.local_addr()?;
    let open311_listener = match cfg.open311_addr {
        None => None,
        Some(at) => {
            if cfg.tls.is_some() && !at.ip().is_loopback() {
                anyhow::bail!(
                    "open311_addr {at} would serve plain HTTP (api_keys in the clear) next to a TLS gRPC server: bind it to a loopback address behind a TLS-terminating proxy"
                );
            }
            let l = TcpListener::bind(at)
                .await
                .with_context(|| format!("cannot listen for Open311 on {at}"))?;
            tracing::info!(addr = %l.local_addr()?, "Open311 GeoReport v2 at /open311/v2/");
            Some(l)
        }
    };
    let open311_addr = match &open311_listener {
        Some(l) => Some(l.local_addr()?),
        None => None,
    };
    let metrics_listener = match cfg.metrics_addr {
        None => None,
        Some(at) => {
            let l = TcpListener::bind(at)
                .await
                .with_context(|| format!("cannot listen for metrics on {at}"))?;
            tracing::info!(addr = %l.local_addr()?, "Prometheus metrics at /metrics");
            Some(l)
        }
    };
    let metrics_addr = match &metrics_listener {
        Some(l) => Some(l.local_addr()?),
        None => None,
    };
    if let Some(path) = &cfg.addr_file {
        std::fs::write(path, addr.to_string())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    tracing::info!(%addr, data_dir = %cfg.data_dir.display(), model_dir = %cfg.model_dir.display(), "paidan listening");

    // On PostgreSQL: this node in the cluster; its keeper starts once the model answers.
    let cluster = pg.map(|pg| {
        let node = cfg
            .node_id
            .clone()
            .unwrap_or_else(|| crate::cluster::default_node_id(addr.port()));
        let advertise = cfg
            .advertise_addr
            .clone()
            .unwrap_or_else(|| crate::cluster::default_advertise_addr(addr));
        Cluster::new(pg, &node, &advertise)
    });
    let keeper: Arc<std::sync::Mutex<Option<Keeper>>> = Arc::default();

    // Model: load and warm off the runtime; SERVING once it answers.
    {
        let (intake, health, dir) = (intake.clone(), health.clone(), cfg.model_dir.clone());
        let (cluster, keeper) = (cluster.clone(), keeper.clone());
        let wake = forwarder.as_ref().map(|f| f.notifier());
        tokio::spawn(async move {
            match tokio::task::spawn_blocking(move || load_and_warm(&dir)).await {
                Ok(Ok(model)) => {
                    tracing::info!(version = model.version(), "model loaded; serving");
                    intake.swap_model(Arc::new(model));
                    if let Some(c) = cluster {
                        // Only a node that can triage takes partitions.
                        let mut k = keeper.lock().unwrap_or_else(|e| e.into_inner());
                        *k = Some(Keeper::start(c, wake));
                    }
                    health.set_serving::<IntakeServer<IntakeApi>>().await;
                    health.set_service_status("", ServingStatus::Serving).await;
                }
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "no model: Triage and SubmitComplaint answer UNAVAILABLE")
                }
                Err(e) => tracing::error!(error = %e, "model loading panicked"),
            }
        });
    }

    let (stop_forwarding, forwarding_stopped) = oneshot::channel::<()>();
    let forwarder = forwarder.map(|f| {
        tokio::spawn(f.run(async move {
            let _ = forwarding_stopped.await;
        }))
    });

    let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
    let max = cfg.max_message_bytes;
    let access = Arc::new(AccessControl::new(&cfg.access).context("invalid [access] config")?);
    if !access.authenticates() {
        tracing::warn!(
            "no tokens configured in [access]: authentication is OFF; every client may call every RPC"
        );
    }
    let open311 = open311_listener.map(|l| {
        let state = Open311::new(intake.clone(), access.clone(), cfg.request_timeout, max);
        (l, Arc::new(state))
    });
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = &cfg.tls {
        builder = builder
            .tls_config(tls.server_config()?)
            .context("invalid TLS configuration")?;
        tracing::info!(mutual = tls.client_ca.is_some(), "serving over TLS");
    }
    let router = builder
        .timeout(cfg.request_timeout)
        .layer(RequestIdLayer)
        .layer(RpcMetricsLayer)
        .layer(AccessLayer(access))
        .layer(ClusterLayer(cluster))
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(
            IntakeServer::new(IntakeApi::new(intake.clone()))
                .max_decoding_message_size(max)
                .max_encoding_message_size(max),
        )
        .add_service(
            AdminServer::new(AdminApi::new(intake.clone(), registry))
                .max_decoding_message_size(max),
        );
    let intake_for_metrics = intake.clone();
    // The embedded store's size is reported at each scrape; PostgreSQL reports its own.
    let scrape_dir = cfg.store_url.is_none().then(|| cfg.data_dir.clone());
    // 督办: due-soon and overdue events, once the server cannot fail to start any more.
    let deadline_watch = DeadlineWatch::start(intake.clone(), &cfg.deadline_watch);
    let join = tokio::spawn(async move {
        // One stop for both servers: the handle's, or a signal; or either server failing.
        let (stopping, stop) = watch::channel(false);
        let stopped = |mut stop: watch::Receiver<bool>| async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        let trigger = {
            let stopping = stopping.clone();
            tokio::spawn(async move {
                if signals {
                    tokio::select! {
                        _ = shutdown_rx => {}
                        _ = crate::signals::terminated() => {}
                    }
                } else {
                    let _ = shutdown_rx.await;
                }
                tracing::info!("shutting down: finishing in-flight requests");
                let _ = stopping.send(true);
            })
        };
        let http = open311.map(|(l, state)| {
            let (stopping, stop) = (stopping.clone(), stop.clone());
            tokio::spawn(async move {
                let served = crate::open311::serve(l, state, stopped(stop)).await;
                let _ = stopping.send(true);
                served
            })
        });
        let scrape = metrics_listener.map(|l| {
            let (intake, stop) = (intake_for_metrics.clone(), stop.clone());
            let dir = scrape_dir.clone();
            tokio::spawn(crate::telemetry::serve(l, intake, dir, stopped(stop)))
        });
        let grpc = router
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
                stopped(stop),
            )
            .await;
        let _ = stopping.send(true);
        trigger.abort();
        let http = match http {
            Some(h) => h.await.context("Open311 server task panicked")?,
            None => Ok(()),
        };
        if let Some(scrape) = scrape {
            scrape
                .await
                .context("metrics server task panicked")?
                .context("metrics server failed")?;
        }
        grpc.context("gRPC server failed")?;
        http.context("Open311 server failed")?;
        if let Some(w) = deadline_watch {
            w.stop().await;
        }
        let _ = stop_forwarding.send(());
        if let Some(f) = forwarder {
            let _ = f.await;
        }
        // Every request has finished: hand the partitions over now, not after the TTL.
        let keeper = keeper.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(k) = keeper {
            tokio::task::spawn_blocking(move || k.stop())
                .await
                .context("lease keeper panicked")?;
        }
        tokio::task::spawn_blocking(move || store.flush())
            .await
            .context("flush task panicked")?
            .context("final flush failed")?;
        tracing::info!("store flushed; bye");
        Ok(())
    });
    Ok(ServerHandle {
        addr,
        open311_addr,
        metrics_addr,
        intake,
        shutdown: Some(shutdown_tx),
        join,
    })
}

#[cfg(test)]
mod tests {
    /// The purge after a re-key names a command jemalloc knows (a misspelt name is refused with
    /// ENOENT, and the memory would stay held).
    #[test]
    fn the_allocator_purge_is_taken() {
        assert!(super::release_free_memory());
    }
}
