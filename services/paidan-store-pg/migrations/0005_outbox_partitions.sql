-- The outbox by partition (issue 18): in a cluster each node drains the events of the partitions
-- it owns, so every event carries its case's partition (paidan_store_pg::partition_of of the
-- case's jurisdiction, written with the event). Events enqueued before this migration have none
-- and are drained by any node.
ALTER TABLE outbox ADD COLUMN partition smallint;
CREATE INDEX outbox_due_partition ON outbox (partition, next_attempt_at, seq) WHERE NOT dead;
