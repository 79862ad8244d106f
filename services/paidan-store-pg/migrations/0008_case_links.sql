-- A master's report links as rows of their own (issue 19: a link no longer rewrites its matter).
-- Until now a master's record held every link of its matter, so each new report of a matter
-- rewrote a record growing with it, and its event copied that record into the outbox: thousands of
-- callers about one water cut cost O(reports) a link and O(reports²) of outbox. Now a master's
-- `record` is its CaseV4 bytes followed by a small head (`paidan_store::record::CaseLinksV5`: the
-- next version, the count, the latest time), and its links are rows here, one per version; an
-- event's payload is the master as its transaction wrote it, head included, whose version names
-- the links it shows. Rows are never deleted: a removed link keeps its row with the version that
-- removed it (`LinkRowV5.removed_at`), so every payload reads back exactly. A master written
-- before this migration keeps its links in its record until its next write (read as it is).
CREATE TABLE case_links (
    master  text    NOT NULL,
    version integer NOT NULL,
    row     bytea   NOT NULL,   -- LinkRowV5
    PRIMARY KEY (master, version)
);
