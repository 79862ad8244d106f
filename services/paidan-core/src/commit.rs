//! Group commit: one store flush acknowledges every write that finished before the flush started.
//!
//! A writer takes a ticket after its write returned, then waits until a flush that began after
//! the ticket was issued has completed. If nobody is flushing, the writer flushes itself and
//! covers every ticket issued so far; writers that arrive meanwhile queue for the next flush. No
//! write is acknowledged before a flush that covers it returned.

use std::sync::{Arc, Mutex};

use paidan_store::Store;
use tokio::sync::watch;

use crate::error::{CoreError, Result};

#[derive(Default)]
struct State {
    /// Last ticket handed out.
    issued: u64,
    flushing: bool,
}

pub struct GroupCommit {
    store: Arc<dyn Store>,
    state: Mutex<State>,
    /// Highest ticket known durable.
    durable: watch::Sender<u64>,
}

impl GroupCommit {
    pub fn new(store: Arc<dyn Store>) -> GroupCommit {
        GroupCommit {
            store,
            state: Mutex::new(State::default()),
            durable: watch::channel(0).0,
        }
    }

    /// Returns once every write this task completed before the call is durable.
    pub async fn commit(&self) -> Result<()> {
        let mut durable = self.durable.subscribe();
        let ticket = {
            let mut s = self.state.lock().expect("group commit state poisoned");
            s.issued += 1;
            s.issued
        };
        loop {
            if *durable.borrow_and_update() >= ticket {
                return Ok(());
            }
            let target = {
                let mut s = self.state.lock().expect("group commit state poisoned");
                if s.flushing {
                    None
                } else {
                    s.flushing = true;
                    Some(s.issued)
                }
            };
            match target {
                Some(target) => {
                    let store = self.store.clone();
                    let flushed = tokio::task::spawn_blocking(move || store.flush())
                        .await
                        .map_err(|e| CoreError::Storage(format!("flush task failed: {e}")));
                    self.state
                        .lock()
                        .expect("group commit state poisoned")
                        .flushing = false;
                    match flushed {
                        Ok(Ok(())) => {
                            self.durable.send_modify(|d| *d = (*d).max(target));
                            return Ok(());
                        }
                        Ok(Err(e)) => {
                            // Wake the waiters so one of them retries the flush.
                            self.durable.send_modify(|_| {});
                            return Err(e.into());
                        }
                        Err(e) => {
                            self.durable.send_modify(|_| {});
                            return Err(e);
                        }
                    }
                }
                None => {
                    if durable.changed().await.is_err() {
                        return Err(CoreError::Unavailable("store is shutting down".into()));
                    }
                }
            }
        }
    }
}
