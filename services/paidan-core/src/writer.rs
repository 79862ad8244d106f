//! The submit writer: one OS thread runs every SubmitComplaint's match-and-insert in arrival order
//! and makes a round of them durable with one flush.
//!
//! Why a thread and not a lock per jurisdiction: sled 0.34's `flush` holds its global
//! concurrency-control lock (shared) while it waits for the disk, and every transaction commit
//! takes that lock exclusively. With group-commit flushes running back to back, each insert waited
//! for the flush in flight while holding its jurisdiction's lock, so the busiest jurisdiction's
//! submits queued behind one another (15 ms mean lock wait at 32 clients; `eval/bench-notes.md`).
//! Here inserts and flushes alternate on one thread and never wait for each other.
//!
//! A round: `Store::begin_round`, take every queued job (up to `max_round`), run them one after
//! another — each sees the cases the earlier ones stored, so two reports of one matter cannot
//! both open a case — flush once, then answer them all. No job is answered before the flush that
//! covers it returned. On sled the flush is the group commit of the round's transactions; on
//! PostgreSQL the round is one transaction and the flush is its COMMIT (a failed flush fails
//! every job of the round: nothing of it is stored).

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Instant;

use paidan_store::{Inserted, Store};
use tokio::sync::oneshot;

use crate::error::{CoreError, Result};

/// Match and insert one complaint, on the writer thread.
pub(crate) type Job = Box<dyn FnOnce(&dyn Store) -> Result<Inserted> + Send>;

struct Pending {
    job: Job,
    reply: oneshot::Sender<Result<Inserted>>,
}

pub(crate) struct SubmitWriter {
    queue: Option<mpsc::Sender<Pending>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SubmitWriter {
    pub(crate) fn new(store: Arc<dyn Store>, max_round: usize) -> SubmitWriter {
        let (queue, jobs) = mpsc::channel::<Pending>();
        let thread = std::thread::Builder::new()
            .name("paidan-writer".into())
            .spawn(move || run(store.as_ref(), &jobs, max_round.max(1)))
            .expect("cannot start the writer thread");
        SubmitWriter {
            queue: Some(queue),
            thread: Some(thread),
        }
    }

    /// Run `job` on the writer thread; returns once its write is durable.
    pub(crate) async fn submit(&self, job: Job) -> Result<Inserted> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .as_ref()
            .and_then(|q| q.send(Pending { job, reply }).ok())
            .ok_or_else(|| CoreError::Unavailable("the writer is shutting down".into()))?;
        answer
            .await
            .map_err(|_| CoreError::Storage("the writer thread stopped".into()))?
    }
}

impl Drop for SubmitWriter {
    /// Finish the queued rounds and release the store (its clean close needs the last handle).
    fn drop(&mut self) {
        self.queue.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(store: &dyn Store, jobs: &mpsc::Receiver<Pending>, max_round: usize) {
    let mut round: Vec<(oneshot::Sender<Result<Inserted>>, Result<Inserted>)> = Vec::new();
    while let Ok(first) = jobs.recv() {
        // The store may hold the whole round in one transaction (PostgreSQL). When it cannot
        // start one, the round's jobs are answered with that error without running: running
        // them one by one would need the same database, and UNAVAILABLE lets clients retry.
        if let Err(e) = store.begin_round() {
            let why = format!("the writer cannot start a round: {e}");
            let mut next = Some(first);
            let mut n = 0;
            while let Some(Pending { reply, .. }) = next.take() {
                let _ = reply.send(Err(CoreError::Unavailable(why.clone())));
                n += 1;
                if n < max_round {
                    next = jobs.try_recv().ok();
                }
            }
            crate::metrics::writer_round(n, 0, None);
            continue;
        }
        let mut next = Some(first);
        while let Some(Pending { job, reply }) = next.take() {
            let done = std::panic::catch_unwind(AssertUnwindSafe(|| job(store)))
                .unwrap_or_else(|_| Err(CoreError::Storage("the insert panicked".into())));
            round.push((reply, done));
            if round.len() < max_round {
                next = jobs.try_recv().ok();
            }
        }
        let stored = round
            .iter()
            .filter(|(_, r)| r.as_ref().is_ok_and(|i| i.created))
            .count();
        // Every round ends with a flush, even one whose jobs all failed: it closes the round
        // `begin_round` opened (a transaction left open would hold its locks until the next).
        let started = Instant::now();
        let flushed = store.flush().map_err(|e| e.to_string());
        let took = Some(started.elapsed());
        crate::metrics::writer_round(round.len(), if flushed.is_ok() { stored } else { 0 }, took);
        for (reply, done) in round.drain(..) {
            let answer = match (&flushed, done) {
                (Ok(()), done) => done,
                (Err(e), Ok(_)) => Err(CoreError::Storage(format!(
                    "the case was written but the flush failed, so it is not acknowledged: {e}"
                ))),
                (Err(_), Err(e)) => Err(e),
            };
            // The caller may have gone (deadline, cancelled request): the case stays stored.
            let _ = reply.send(answer);
        }
    }
}

#[cfg(test)]
#[path = "writer_tests.rs"]
mod tests;
