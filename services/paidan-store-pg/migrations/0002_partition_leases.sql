-- Partition ownership (issue 18): one row per jurisdiction partition a node holds. `epoch` grows
-- by one at every change of owner (the fencing token); `expires_at` is on the database's clock,
-- so nodes' clocks never decide who owns what.
CREATE TABLE partition_leases (
    partition  smallint PRIMARY KEY,
    owner      text NOT NULL,
    epoch      bigint NOT NULL,
    expires_at timestamptz NOT NULL
);
