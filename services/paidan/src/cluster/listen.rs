//! Wakes this node's forwarder when another node's transaction enqueued an event in a partition
//! this node owns (a status change made on any node, a takeover's backlog): PostgreSQL's
//! `LISTEN paidan_outbox`, on a connection of its own, on a thread of its own (the client is
//! synchronous). Events this node enqueues wake its forwarder directly; the forwarder's polling
//! stays the fallback when the listening connection is down.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

use super::Cluster;

/// The listening thread; stops when dropped.
pub(crate) struct OutboxWaker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl OutboxWaker {
    pub(crate) fn start(cluster: Arc<Cluster>, forwarder: Arc<Notify>) -> OutboxWaker {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("paidan-outbox-listen".into())
                .spawn(move || run(&cluster, &forwarder, &stop))
                .expect("cannot start the outbox listener thread")
        };
        OutboxWaker {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for OutboxWaker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// How long one wait lasts (and so how soon a stop is seen).
const WAIT: Duration = Duration::from_millis(500);

fn run(cluster: &Cluster, forwarder: &Notify, stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        let mut listener = match cluster.store.listen_outbox() {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for outbox events; polling only");
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
        };
        while !stop.load(Ordering::SeqCst) {
            match listener.wait(WAIT) {
                Ok(partitions) => {
                    if partitions
                        .iter()
                        .any(|p| cluster.ownership.lease(*p).is_some())
                    {
                        forwarder.notify_one();
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "outbox listener lost its connection; reconnecting");
                    break;
                }
            }
        }
    }
}
