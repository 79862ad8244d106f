//! The lease keeper: one OS thread per node (the store is synchronous) that, every
//! [`RENEW_EVERY`](super::RENEW_EVERY):
//! 1. sends the node's heartbeat with its advertised address and learns how many nodes are live;
//! 2. renews the leases it holds, dropping the ones it lost (taken over while it was paused);
//! 3. takes free or run-out partitions up to its fair share, ceil(64 / live nodes) — so a dead
//!    node's partitions are taken over once its leases run out ([`LEASE_TTL`](super::LEASE_TTL))
//!    — or releases what it holds beyond that share (a node joined), so the load evens out;
//! 4. reads the owners table the router forwards by.
//!
//! The forwarder drains only the partitions the node holds (the store claims their due events);
//! `listen.rs` wakes it when another node enqueues one of them.
//!
//! Each partition's local deadline is taken before its renewal is sent, a second short of the
//! TTL, so the node stops calling itself the owner before the database could hand it over. At a
//! clean stop the keeper releases every lease and removes its node row: the others take over at
//! their next round, not after the TTL.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use paidan_store_pg::PARTITIONS;
use tokio::sync::Notify;

use super::listen::OutboxWaker;
use super::{Cluster, LEASE_TTL, RENEW_EVERY};

/// Counted as held locally for this much less than the lease's TTL.
const MARGIN: Duration = Duration::from_secs(1);

/// The running keeper; [`Keeper::stop`] releases the node's partitions.
pub struct Keeper {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Wakes the forwarder on other nodes' events in our partitions (when forwarding).
    waker: Option<OutboxWaker>,
}

impl Keeper {
    /// Start keeping `cluster`'s leases (the first round runs at once); with `forwarder`, also
    /// wake it when an event is enqueued in a partition this node holds.
    pub fn start(cluster: Arc<Cluster>, forwarder: Option<Arc<Notify>>) -> Keeper {
        let waker = forwarder.map(|f| OutboxWaker::start(cluster.clone(), f));
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("paidan-leases".into())
            .spawn(move || run(&cluster, &stopped))
            .expect("cannot start the lease keeper thread");
        Keeper {
            stop: Some(stop),
            thread: Some(thread),
            waker,
        }
    }

    /// Release every lease and leave the cluster (blocking; call off the runtime).
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.waker.take();
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Keeper {
    fn drop(&mut self) {
        self.halt();
    }
}

fn run(cluster: &Cluster, stopped: &mpsc::Receiver<()>) {
    tracing::info!(node = cluster.node_id(), addr = %cluster.advertise_addr, "joining the cluster");
    loop {
        if let Err(e) = round(cluster) {
            tracing::warn!(error = %e, "lease round failed; retrying");
        }
        match stopped.recv_timeout(RENEW_EVERY) {
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            // the handle was dropped or stopped: leave
            _ => break,
        }
    }
    let held = cluster.ownership.leases();
    for l in &held {
        cluster.ownership.drop_partition(l.partition);
    }
    match cluster.store.leave(cluster.node_id()) {
        Ok(()) => tracing::info!(partitions = held.len(), "left the cluster; leases released"),
        Err(e) => {
            tracing::warn!(error = %e, "could not release the leases; they run out by themselves")
        }
    }
}

/// The fair share of each of `live` nodes.
pub(crate) fn share(live: usize) -> usize {
    let n = usize::from(PARTITIONS);
    n.div_ceil(live.max(1))
}

/// A node's own order of the partitions to take: spread so nodes joining together do not all
/// reach for the same ones first.
fn preference(node: &str, partition: u16) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in node.bytes().chain(partition.to_le_bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn round(cluster: &Cluster) -> paidan_store::Result<()> {
    let store = &cluster.store;
    let own = &cluster.ownership;
    let node = cluster.node_id();
    let live = store.heartbeat(node, &cluster.advertise_addr, LEASE_TTL)?;
    let target = share(live);

    for lease in own.leases() {
        let asked = Instant::now();
        if store.renew_lease(&lease, LEASE_TTL)? {
            own.hold(lease, asked + LEASE_TTL - MARGIN);
        } else {
            own.drop_partition(lease.partition);
            tracing::warn!(
                partition = lease.partition,
                epoch = lease.epoch,
                "lease lost"
            );
        }
    }

    let held = own.leases();
    if held.len() < target {
        let mut free = store.free_partitions()?;
        free.sort_by_key(|p| preference(node, *p));
        let mut taken = Vec::new();
        for p in free {
            if held.len() + taken.len() >= target {
                break;
            }
            let asked = Instant::now();
            if let Some(lease) = store.acquire_lease(p, node, LEASE_TTL)? {
                taken.push((p, lease.epoch));
                own.hold(lease, asked + LEASE_TTL - MARGIN);
            }
        }
        if !taken.is_empty() {
            tracing::info!(
                live,
                share = target,
                ?taken,
                "partitions taken (partition, epoch)"
            );
        }
    } else if held.len() > target {
        // Give back the excess (a node joined): stop routing to ourselves first, then release;
        // an insert already past its fence commits before the next owner's takeover does.
        let mut released = Vec::new();
        for lease in held.iter().rev().take(held.len() - target) {
            own.drop_partition(lease.partition);
            store.release_lease(lease)?;
            released.push(lease.partition);
        }
        tracing::info!(
            live,
            share = target,
            ?released,
            "partitions released to even out"
        );
    }
    cluster.refresh_owners()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fair_shares_cover_every_partition() {
        // (live nodes, each one's share)
        let table = [
            (0, 64),
            (1, 64),
            (2, 32),
            (3, 22),
            (5, 13),
            (64, 1),
            (100, 1),
        ];
        for (live, want) in table {
            assert_eq!(share(live), want, "{live} nodes");
            assert!(share(live) * live.max(1) >= usize::from(PARTITIONS));
        }
    }
}
