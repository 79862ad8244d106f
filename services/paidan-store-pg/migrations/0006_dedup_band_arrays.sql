-- Band keys as one array per dedup entry, under a GIN index (issue 18, one node's speed).
-- `dedup_bands` held ~46 rows per open case, each with two btree entries (the primary key and
-- dedup_bands_case): writing them and probing ~46 keys per lookup was most of PostgreSQL's CPU
-- per SubmitComplaint (with a foreign-key check per row). One array column on the entry's own
-- row is one heap tuple, and the GIN index keeps one entry per key (posting lists, no per-row
-- btree tuples); a lookup probes it once per query key (`bands @> ARRAY[key]`, see dedup.rs),
-- rechecked against the entry's jurisdiction.
--
-- fastupdate is off: with it on, every probe would also scan the pending list sequentially (up
-- to gin_pending_list_limit, 4 MB by default), ~46 probes per lookup, and lookups are as
-- frequent as inserts.
--
-- Existing band rows move into the arrays (a case's keys sorted; the set is what counts). The
-- jurisdiction of a band row was always its entry's (both written together from one entry).
ALTER TABLE dedup_entries ADD COLUMN bands bigint[] NOT NULL DEFAULT '{}';
UPDATE dedup_entries e SET bands = b.bands
FROM (SELECT case_id, array_agg(band ORDER BY band) AS bands FROM dedup_bands GROUP BY case_id) b
WHERE b.case_id = e.case_id;
ALTER TABLE dedup_entries ALTER COLUMN bands DROP DEFAULT;
DROP TABLE dedup_bands;
CREATE INDEX dedup_entries_bands ON dedup_entries USING gin (bands) WITH (fastupdate = off);
