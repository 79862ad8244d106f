//! The forwarder task: drains the store's outbox into the configured sinks, at least once.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use paidan_store::{Millis, OutboxEntry, Store, StoreError};
use rand::Rng;
use tokio::sync::Notify;

use crate::config::{ForwardConfig, SinkConfig};
use crate::sink::{GrpcSink, Sink, SinkError, WebhookSink};

#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("sink {name}: {error}")]
    Sink { name: String, error: SinkError },
    #[error("config: {0}")]
    Config(String),
    #[error("store task failed: {0}")]
    Join(String),
}

/// Retry policy of the forwarder.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    pub batch: usize,
    pub concurrency: usize,
    pub poll_interval: Duration,
    /// How long [`Forwarder::run`] lets deliveries in flight finish once told to stop.
    pub shutdown_grace: Duration,
}

impl From<&ForwardConfig> for RetryPolicy {
    fn from(c: &ForwardConfig) -> Self {
        RetryPolicy {
            max_attempts: c.max_attempts.max(1),
            base_backoff: c.base_backoff,
            max_backoff: c.max_backoff,
            batch: c.batch.max(1),
            concurrency: c.concurrency.max(1),
            poll_interval: c.poll_interval,
            shutdown_grace: c.shutdown_grace,
        }
    }
}

/// Exponential backoff with full jitter: a random delay in [0, min(max, base · 2^attempts)].
/// `attempts` counts the failures so far (0 before the first retry).
pub fn backoff(policy: &RetryPolicy, attempts: u32, rng: &mut impl Rng) -> Duration {
    let cap = policy
        .base_backoff
        .saturating_mul(1u32.checked_shl(attempts.min(31)).unwrap_or(u32::MAX))
        .min(policy.max_backoff);
    let ms = cap.as_millis() as u64;
    Duration::from_millis(if ms == 0 { 0 } else { rng.random_range(0..=ms) })
}

/// What one pass over the outbox did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PassStats {
    /// Entries read from the outbox.
    pub due: usize,
    /// Entries that left the outbox (every sink acknowledged).
    pub delivered: usize,
    /// Entries that failed and will be retried.
    pub retried: usize,
    /// Entries moved to the dead letters.
    pub dead: usize,
}

pub use paidan_text::now_millis;

enum Outcome {
    Delivered,
    Retry,
    Dead,
}

/// Drains the outbox into every sink. One pass reads at most `batch` due entries (the store
/// returns only the first pending event of each case, so deliveries of one case never overlap or
/// reorder) and delivers them with up to `concurrency` in flight; the next pass starts when the
/// batch is done, so memory is bounded by the batch whatever the backlog on disk.
pub struct Forwarder {
    store: Arc<dyn Store>,
    sinks: Vec<Arc<dyn Sink>>,
    sink_names: Vec<String>,
    policy: RetryPolicy,
    notify: Arc<Notify>,
}

impl Forwarder {
    pub fn new(store: Arc<dyn Store>, sinks: Vec<Arc<dyn Sink>>, policy: RetryPolicy) -> Forwarder {
        let sink_names = sinks.iter().map(|s| s.name().to_string()).collect();
        Forwarder {
            store,
            sinks,
            sink_names,
            policy,
            notify: Arc::new(Notify::new()),
        }
    }

    /// Build the sinks of `config` (gRPC clients connect lazily; nothing is contacted here).
    pub fn from_config(
        store: Arc<dyn Store>,
        config: &ForwardConfig,
    ) -> Result<Forwarder, ForwardError> {
        let mut sinks: Vec<Arc<dyn Sink>> = Vec::new();
        for s in &config.sinks {
            if sinks.iter().any(|x| x.name() == s.name()) {
                return Err(ForwardError::Config(format!(
                    "duplicate sink name {:?}",
                    s.name()
                )));
            }
            let sink: Arc<dyn Sink> = match s {
                SinkConfig::Grpc { name, endpoint } => Arc::new(
                    GrpcSink::new(name, endpoint, config.timeout).map_err(|error| {
                        ForwardError::Sink {
                            name: name.clone(),
                            error,
                        }
                    })?,
                ),
                SinkConfig::Webhook {
                    name,
                    url,
                    secret,
                    secret_env,
                } => {
                    let secret = match secret_env {
                        Some(var) => std::env::var(var).map_err(|_| {
                            ForwardError::Config(format!("sink {name}: env {var} is not set"))
                        })?,
                        None => secret.clone(),
                    };
                    if secret.is_empty() {
                        return Err(ForwardError::Config(format!(
                            "sink {name}: webhook secret is empty"
                        )));
                    }
                    Arc::new(
                        WebhookSink::new(name, url, secret.as_bytes(), config.timeout).map_err(
                            |error| ForwardError::Sink {
                                name: name.clone(),
                                error,
                            },
                        )?,
                    )
                }
            };
            sinks.push(sink);
        }
        Ok(Forwarder::new(store, sinks, RetryPolicy::from(config)))
    }

    /// Notify this after a flush that enqueued events, to wake the forwarder at once.
    pub fn notifier(&self) -> Arc<Notify> {
        self.notify.clone()
    }

    pub fn sink_names(&self) -> &[String] {
        &self.sink_names
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, ForwardError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(store.as_ref()))
            .await
            .map_err(|e| ForwardError::Join(e.to_string()))?
            .map_err(ForwardError::from)
    }

    /// One pass: read due entries, deliver them, record the outcomes.
    pub async fn run_once(&self) -> Result<PassStats, ForwardError> {
        let batch = self.policy.batch;
        let due = self
            .blocking(move |s| s.outbox_due(now_millis(), batch))
            .await?;
        let mut stats = PassStats {
            due: due.len(),
            ..PassStats::default()
        };
        if due.is_empty() || self.sinks.is_empty() {
            self.report_depth().await;
            return Ok(stats);
        }
        let outcomes: Vec<Result<Outcome, ForwardError>> = futures::stream::iter(due)
            .map(|e| self.forward_entry(e))
            .buffer_unordered(self.policy.concurrency)
            .collect()
            .await;
        for o in outcomes {
            match o? {
                Outcome::Delivered => stats.delivered += 1,
                Outcome::Retry => stats.retried += 1,
                Outcome::Dead => stats.dead += 1,
            }
        }
        self.report_depth().await;
        Ok(stats)
    }

    async fn report_depth(&self) {
        if let Ok((pending, dead)) = self
            .blocking(|s| Ok((s.outbox_len(false)?, s.outbox_len(true)?)))
            .await
        {
            metrics::gauge!("paidan_outbox_depth").set(pending as f64);
            metrics::gauge!("paidan_outbox_dead_letters").set(dead as f64);
        }
    }

    async fn forward_entry(&self, entry: OutboxEntry) -> Result<Outcome, ForwardError> {
        let entry = Arc::new(entry);
        let mut failure: Option<SinkError> = None;
        let mut left = false;
        for sink in &self.sinks {
            if entry.delivered_to.iter().any(|s| s == sink.name()) {
                continue;
            }
            let started = Instant::now();
            let result = sink.deliver(&entry).await;
            let name = sink.name().to_string();
            metrics::histogram!("paidan_forward_delivery_seconds", "sink" => name.clone())
                .record(started.elapsed().as_secs_f64());
            match result {
                Ok(ack) => {
                    metrics::counter!("paidan_forward_delivered_total", "sink" => name.clone())
                        .increment(1);
                    tracing::debug!(key = %entry.idempotency_key, sink = %name, duplicate = ack.duplicate, "delivered");
                    let seq = entry.seq;
                    let all = self.sink_names.clone();
                    left = self
                        .blocking(move |s| s.outbox_delivered(seq, &name, &all, now_millis()))
                        .await?;
                }
                Err(e) => {
                    let kind = if e.retryable {
                        "retryable"
                    } else {
                        "permanent"
                    };
                    metrics::counter!("paidan_forward_failures_total", "sink" => name.clone(), "kind" => kind)
                        .increment(1);
                    tracing::warn!(key = %entry.idempotency_key, sink = %name, attempts = entry.attempts + 1, error = %e, "delivery failed");
                    let message = format!("{name}: {}", e.message);
                    // One sink's permanent answer makes the entry dead; messages of all sinks kept.
                    failure = Some(match failure.take() {
                        None => SinkError {
                            retryable: e.retryable,
                            message,
                        },
                        Some(f) => SinkError {
                            retryable: f.retryable && e.retryable,
                            message: format!("{}; {message}", f.message),
                        },
                    });
                }
            }
        }
        let Some(f) = failure else {
            if !left
                && self
                    .sink_names
                    .iter()
                    .all(|n| entry.delivered_to.contains(n))
            {
                // Every configured sink already had it (e.g. a sink was removed from the config
                // while the entry waited): record that, or it would stay in the outbox forever.
                let (seq, all) = (entry.seq, self.sink_names.clone());
                let name = all[0].clone();
                left = self
                    .blocking(move |s| s.outbox_delivered(seq, &name, &all, now_millis()))
                    .await?;
            }
            return Ok(if left {
                Outcome::Delivered
            } else {
                Outcome::Retry
            });
        };
        let dead = !f.retryable || entry.attempts + 1 >= self.policy.max_attempts;
        let delay = backoff(&self.policy, entry.attempts, &mut rand::rng());
        let next = now_millis() + delay.as_millis() as Millis;
        let seq = entry.seq;
        let msg = f.message.clone();
        self.blocking(move |s| s.outbox_failed(seq, &msg, next, dead))
            .await?;
        if dead {
            tracing::error!(key = %entry.idempotency_key, error = %f.message, "event moved to dead letters");
            Ok(Outcome::Dead)
        } else {
            Ok(Outcome::Retry)
        }
    }

    /// Run until `shutdown` resolves: a pass, then (unless the batch was full) wait for a notify
    /// or the poll interval. When `shutdown` resolves during a pass, the deliveries in flight get
    /// `shutdown_grace` to finish; then the pass is dropped. An abandoned delivery is not recorded
    /// (no attempt, no ack): its event stays in the outbox and is sent again after the restart,
    /// with the same idempotency key. Store writes already started run to completion.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) {
        tokio::pin!(shutdown);
        tracing::info!(sinks = ?self.sink_names, "forwarder started");
        loop {
            let pass = self.run_once();
            tokio::pin!(pass);
            let result = tokio::select! {
                r = &mut pass => r,
                _ = &mut shutdown => {
                    match tokio::time::timeout(self.policy.shutdown_grace, &mut pass).await {
                        Ok(Err(e)) => tracing::error!(error = %e, "forwarder pass failed"),
                        Ok(Ok(_)) => {}
                        Err(_) => tracing::warn!(
                            "forwarder stopping: deliveries still in flight abandoned; their \
                             events stay in the outbox"
                        ),
                    }
                    break;
                }
            };
            let full = match result {
                Ok(stats) => stats.due >= self.policy.batch,
                Err(e) => {
                    tracing::error!(error = %e, "forwarder pass failed");
                    false
                }
            };
            if full {
                // More may be due right away; still honour shutdown between passes.
                if futures::FutureExt::now_or_never(&mut shutdown).is_some() {
                    break;
                }
                continue;
            }
            tokio::select! {
                _ = &mut shutdown => break,
                _ = self.notify.notified() => {}
                _ = tokio::time::sleep(self.policy.poll_interval) => {}
            }
        }
        tracing::info!("forwarder stopped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn backoff_is_capped_full_jitter() {
        let policy = RetryPolicy {
            max_attempts: 10,
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1_000),
            batch: 10,
            concurrency: 1,
            poll_interval: Duration::from_millis(10),
            shutdown_grace: Duration::from_millis(10),
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        // attempts → upper bound of the delay
        let table = [
            (0, 100),
            (1, 200),
            (2, 400),
            (3, 800),
            (4, 1_000),
            (40, 1_000),
        ];
        for (attempts, cap) in table {
            let samples: Vec<u64> = (0..400)
                .map(|_| backoff(&policy, attempts, &mut rng).as_millis() as u64)
                .collect();
            assert!(samples.iter().all(|&d| d <= cap), "attempts {attempts}");
            // full jitter: spread over the whole range, not clustered at the cap
            assert!(samples.iter().any(|&d| d < cap / 4), "attempts {attempts}");
            assert!(
                samples.iter().any(|&d| d > cap * 3 / 4),
                "attempts {attempts}"
            );
        }
    }
}
