//! Several `paidan serve` nodes over one PostgreSQL store (issue 18): who owns which
//! jurisdiction partition, and where a complaint goes when it reaches a node that does not.
//!
//! Why partitions have owners at all: duplicate matching must be serial per jurisdiction (two
//! reports of one matter arriving together must not both open a case), and on one node the submit
//! writer thread gives that. Across nodes, each of the 64 partitions (`paidan_store_pg::
//! partition_of`) is owned by one node through a lease row with a fencing epoch; only the owner
//! inserts cases of its partitions (its writer thread serialises them), every insert runs the
//! fence in its own transaction (a node that lost the partition commits nothing for it), and a
//! SubmitComplaint reaching another node is forwarded to the owner ([`route`]).
//!
//! | module   | concern                                                                           |
//! |----------|-----------------------------------------------------------------------------------|
//! | `mod.rs` | [`Cluster`]: the node's identity, its [`Ownership`], the owners table it routes by   |
//! | `keeper` | the lease keeper thread: heartbeat, fair share, renew, take over, release at stop |
//! | `listen` | wakes the forwarder on `NOTIFY paidan_outbox` for a partition this node holds      |
//! | `route`  | the tower layer that sends a SubmitComplaint to its partition's owner              |
//! | `stream` | SubmitComplaints streams: each complaint routed as one SubmitComplaint           |
//!
//! With the sled store there is no cluster: one node owns everything and nothing here runs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use paidan_store_pg::{Ownership, PartitionOwner, PgStore, partition_of};
use tonic::transport::{Channel, Endpoint};

mod keeper;
mod listen;
pub mod route;
mod stream;

pub use keeper::Keeper;
pub use route::ClusterLayer;

/// A lease lasts this long unless renewed; a dead node's partitions are taken over after it.
pub const LEASE_TTL: Duration = Duration::from_secs(5);
/// The keeper renews (and rebalances) this often.
pub const RENEW_EVERY: Duration = Duration::from_secs(1);
/// How long a forwarded submit waits for a partition to get an owner (a takeover takes at most
/// about [`LEASE_TTL`] + [`RENEW_EVERY`]) before answering UNAVAILABLE.
pub const OWNER_WAIT: Duration = Duration::from_secs(10);

/// Where a submit for a partition goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// This node holds the partition.
    Local,
    /// Another node holds it and listens here.
    Remote { node: String, addr: String },
    /// Nobody (that can be reached) holds it right now: a takeover is under way.
    Unowned,
}

/// This node in the cluster.
pub struct Cluster {
    store: Arc<PgStore>,
    ownership: Arc<Ownership>,
    advertise_addr: String,
    /// The owners as last read from the database, by partition.
    owners: RwLock<HashMap<u16, PartitionOwner>>,
    /// One lazily connected gRPC channel per peer address.
    peers: Mutex<HashMap<String, Channel>>,
}

impl Cluster {
    /// Join as `node_id`, reachable at `advertise_addr`; the store's inserts are fenced from now
    /// on. The keeper ([`Keeper::start`]) takes the leases.
    pub fn new(store: Arc<PgStore>, node_id: &str, advertise_addr: &str) -> Arc<Cluster> {
        let ownership = Arc::new(Ownership::new(node_id));
        store.fence_with(ownership.clone());
        Arc::new(Cluster {
            store,
            ownership,
            advertise_addr: advertise_addr.to_string(),
            owners: RwLock::new(HashMap::new()),
            peers: Mutex::new(HashMap::new()),
        })
    }

    pub fn node_id(&self) -> &str {
        self.ownership.node()
    }

    pub fn ownership(&self) -> &Ownership {
        &self.ownership
    }

    /// Where a submit for `jurisdiction` goes, by the leases held here and the owners table.
    pub fn route(&self, jurisdiction: &str) -> Route {
        let p = partition_of(jurisdiction);
        if self.ownership.lease(p).is_some() {
            return Route::Local;
        }
        let owners = self.owners.read().unwrap_or_else(|e| e.into_inner());
        match owners.get(&p) {
            Some(o) if o.node_id != self.node_id() => match &o.advertise_addr {
                Some(addr) => Route::Remote {
                    node: o.node_id.clone(),
                    addr: addr.clone(),
                },
                None => Route::Unowned,
            },
            _ => Route::Unowned,
        }
    }

    /// Read the owners table again (blocking: call off the runtime).
    pub(crate) fn refresh_owners(&self) -> paidan_store::Result<()> {
        let owners = self.store.partition_owners()?;
        let map = owners.into_iter().map(|o| (o.partition, o)).collect();
        *self.owners.write().unwrap_or_else(|e| e.into_inner()) = map;
        Ok(())
    }

    /// The gRPC channel to a peer (connected on first use, reconnecting by itself).
    pub(crate) fn peer(&self, addr: &str) -> Result<Channel, tonic::transport::Error> {
        let mut peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = peers.get(addr) {
            return Ok(c.clone());
        }
        let c = Endpoint::from_shared(format!("http://{addr}"))?
            .connect_timeout(Duration::from_secs(1))
            .tcp_nodelay(true)
            .connect_lazy();
        peers.insert(addr.to_string(), c.clone());
        Ok(c)
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_string())
}

/// The default node id: this machine's hostname and the port the node listens on.
pub fn default_node_id(port: u16) -> String {
    format!("{}:{port}", hostname())
}

/// The default advertised address: the address the node listens on, or — when that is a
/// wildcard (`0.0.0.0`, `::`), which would send the other nodes to themselves — this machine's
/// hostname with the port.
pub fn default_advertise_addr(listening: std::net::SocketAddr) -> String {
    advertise_for(listening, &hostname())
}

fn advertise_for(listening: std::net::SocketAddr, host: &str) -> String {
    if listening.ip().is_unspecified() {
        format!("{host}:{}", listening.port())
    } else {
        listening.to_string()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_wildcard_listen_address_is_advertised_by_hostname() {
        // (listening on, advertised)
        let table = [
            ("127.0.0.1:50051", "127.0.0.1:50051"),
            ("10.0.0.11:7000", "10.0.0.11:7000"),
            ("0.0.0.0:50051", "intake-a:50051"),
            ("[::]:50051", "intake-a:50051"),
            ("[::1]:50051", "[::1]:50051"),
        ];
        for (listening, want) in table {
            assert_eq!(
                super::advertise_for(listening.parse().unwrap(), "intake-a"),
                want,
                "{listening}"
            );
        }
    }
}
