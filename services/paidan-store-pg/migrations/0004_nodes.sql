-- The nodes of a cluster over this database (issue 18): each serving node keeps its row fresh
-- (`heartbeat_at`, on the database's clock) and says where its gRPC server can be reached, so a
-- node that receives a complaint for a partition it does not own knows where the owner
-- (`partition_leases.owner`) listens. A node whose heartbeat is older than the lease TTL counts
-- as gone; a clean stop deletes its row.
CREATE TABLE cluster_nodes (
    node_id        text PRIMARY KEY,
    advertise_addr text NOT NULL,
    started_at     timestamptz NOT NULL DEFAULT now(),
    heartbeat_at   timestamptz NOT NULL
);
