//! Inference off the async runtime: a pool of OS threads takes triage jobs from a queue and runs
//! them through the classifier in batches (whatever has queued up, up to `max_batch`), so a burst
//! of requests costs one batched forward pass instead of many small ones.
//!
//! The serving model sits behind an `ArcSwapOption`: a reload swaps the pointer, and batches
//! already running finish on the model they started with.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use arc_swap::ArcSwapOption;
use crossbeam_channel::{Receiver, Sender};
use paidan_model::{Classifier, Triage, TriageInput};
use tokio::sync::oneshot;

use crate::drift::{DriftReport, DriftWindow};
use crate::error::{CoreError, Result};

/// Owned text of one triage request.
#[derive(Clone, Debug)]
pub struct TriageText {
    pub title: String,
    pub text: String,
    pub jurisdiction: String,
}

struct Job {
    input: TriageText,
    reply: oneshot::Sender<Result<Triage>>,
    queued: Instant,
}

pub struct InferencePool {
    model: Arc<ArcSwapOption<Classifier>>,
    drift: Arc<DriftWindow>,
    jobs: Option<Sender<Job>>,
    workers: Vec<JoinHandle<()>>,
}

impl InferencePool {
    pub fn new(model: Option<Arc<Classifier>>, threads: usize, max_batch: usize) -> InferencePool {
        if let Some(m) = &model {
            crate::metrics::model_loaded(m.version(), None);
        }
        let model = Arc::new(ArcSwapOption::new(model));
        let drift = Arc::new(DriftWindow::default());
        let (tx, rx) = crossbeam_channel::bounded::<Job>(threads.max(1) * max_batch.max(1) * 16);
        let workers = (0..threads.max(1))
            .map(|i| {
                let rx = rx.clone();
                let model = model.clone();
                let drift = drift.clone();
                std::thread::Builder::new()
                    .name(format!("paidan-infer-{i}"))
                    .spawn(move || worker(rx, model, &drift, max_batch.max(1)))
                    .expect("spawn inference thread")
            })
            .collect();
        InferencePool {
            model,
            drift,
            jobs: Some(tx),
            workers,
        }
    }

    /// The serving model, if any.
    pub fn model(&self) -> Option<Arc<Classifier>> {
        self.model.load_full()
    }

    /// Swap the serving model; returns the previous one.
    pub fn swap(&self, model: Arc<Classifier>) -> Option<Arc<Classifier>> {
        let version = model.version().to_string();
        let previous = self.model.swap(Some(model));
        self.drift.clear();
        crate::metrics::model_loaded(&version, previous.as_ref().map(|p| p.version()));
        previous
    }

    /// The recent predictions against the serving model's training mix.
    pub fn drift(&self) -> DriftReport {
        self.drift.report(self.model.load_full().as_deref())
    }

    pub async fn triage(&self, input: TriageText) -> Result<Triage> {
        if self.model.load().is_none() {
            return Err(CoreError::Unavailable("no model is loaded".into()));
        }
        let (reply, rx) = oneshot::channel();
        let jobs = self
            .jobs
            .as_ref()
            .ok_or_else(|| CoreError::Unavailable("inference is shutting down".into()))?
            .clone();
        // The queue is bounded; a full queue blocks, so hand the send to the blocking pool.
        let job = Job {
            input,
            reply,
            queued: Instant::now(),
        };
        if let Err(crossbeam_channel::TrySendError::Full(job)) = jobs.try_send(job) {
            tokio::task::spawn_blocking(move || jobs.send(job))
                .await
                .map_err(|e| CoreError::Unavailable(format!("inference queue: {e}")))?
                .map_err(|_| CoreError::Unavailable("inference is shutting down".into()))?;
        }
        rx.await
            .map_err(|_| CoreError::Unavailable("inference worker stopped".into()))?
    }
}

impl Drop for InferencePool {
    fn drop(&mut self) {
        self.jobs.take();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

fn worker(
    rx: Receiver<Job>,
    model: Arc<ArcSwapOption<Classifier>>,
    drift: &DriftWindow,
    max_batch: usize,
) {
    let mut batch: Vec<Job> = Vec::with_capacity(max_batch);
    while let Ok(first) = rx.recv() {
        batch.push(first);
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let started = Instant::now();
        crate::metrics::batch(
            batch.len(),
            batch.iter().map(|j| started.duration_since(j.queued)),
        );
        let Some(classifier) = model.load_full() else {
            for job in batch.drain(..) {
                let _ = job
                    .reply
                    .send(Err(CoreError::Unavailable("no model is loaded".into())));
            }
            continue;
        };
        let inputs: Vec<TriageInput<'_>> = batch
            .iter()
            .map(|j| TriageInput {
                title: &j.input.title,
                text: &j.input.text,
                jurisdiction: &j.input.jurisdiction,
            })
            .collect();
        let _span = tracing::debug_span!("triage_batch", size = inputs.len()).entered();
        match classifier.triage_batch(&inputs) {
            Ok(results) => {
                drop(inputs);
                for (job, triage) in batch.drain(..).zip(results) {
                    crate::metrics::triaged(&triage);
                    drift.record(&triage);
                    let _ = job.reply.send(Ok(triage));
                }
            }
            Err(e) => {
                drop(inputs);
                let msg = e.to_string();
                for job in batch.drain(..) {
                    let _ = job.reply.send(Err(CoreError::Model(msg.clone())));
                }
            }
        }
    }
}
