//! Inference off the async runtime: a pool of OS threads takes triage jobs from a queue and runs
//! them through the classifier in batches (whatever has queued up, up to `max_batch`), so a burst
//! of requests costs one batched forward pass instead of many small ones.
//!
//! A job that also wants the dedup fingerprint ([`InferencePool::triage_and_fingerprint`], a
//! SubmitComplaint) gets it built here, before the classifier, through one
//! [`Segmentation`]: the classifier's view of the text shares most of its jieba blocks with the
//! fingerprint's, so they are segmented once.
//!
//! The serving model sits behind an `ArcSwapOption`: a reload swaps the pointer, and batches
//! already running finish on the model they started with.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use arc_swap::ArcSwapOption;
use crossbeam_channel::{Receiver, Sender};
use paidan_dedup::Fingerprint;
use paidan_model::{Classifier, Triage, TriageInput};
use paidan_text::Segmentation;
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

/// What a job answers: the triage, and the fingerprint when one was asked for.
type Answer = (Triage, Option<Fingerprint>);

struct Job {
    input: TriageText,
    /// The complaint's address when the fingerprint is wanted too.
    fingerprint_address: Option<String>,
    reply: oneshot::Sender<Result<Answer>>,
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
        Ok(self.run(input, None).await?.0)
    }

    /// The triage and the dedup fingerprint (`Fingerprint::new(title, text, address)`, the same
    /// bytes) of one complaint, segmented once.
    pub async fn triage_and_fingerprint(
        &self,
        input: TriageText,
        address: String,
    ) -> Result<(Triage, Fingerprint)> {
        let (triage, fp) = self.run(input, Some(address)).await?;
        let fp = fp.ok_or_else(|| CoreError::Unavailable("no fingerprint was built".into()))?;
        Ok((triage, fp))
    }

    async fn run(&self, input: TriageText, fingerprint_address: Option<String>) -> Result<Answer> {
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
            fingerprint_address,
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
    let mut seg = Segmentation::new();
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
        let _span = tracing::debug_span!("triage_batch", size = batch.len()).entered();
        for job in batch.drain(..) {
            let answer = answer(&classifier, &job, &mut seg);
            if let Ok((triage, _)) = &answer {
                crate::metrics::triaged(triage);
                drift.record(triage);
            }
            let _ = job.reply.send(answer);
        }
    }
}

/// One job: the fingerprint first (tagging the blocks), then the classifier, which finds most of
/// its blocks already cut.
/// A triage alone segments directly (remembering blocks would cost without a second view).
fn answer(classifier: &Classifier, job: &Job, seg: &mut Segmentation) -> Result<Answer> {
    let t = &job.input;
    let input = TriageInput {
        title: &t.title,
        text: &t.text,
        jurisdiction: &t.jurisdiction,
    };
    let model = |e: paidan_model::ModelError| CoreError::Model(e.to_string());
    let Some(address) = job.fingerprint_address.as_deref() else {
        return Ok((classifier.triage(&input).map_err(model)?, None));
    };
    seg.clear();
    let fingerprint = Fingerprint::with_segmentation(&t.title, &t.text, address, seg);
    let triage = classifier.triage_with(&input, seg).map_err(model)?;
    Ok((triage, Some(fingerprint)))
}
