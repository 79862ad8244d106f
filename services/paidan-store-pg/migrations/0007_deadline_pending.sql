-- The deadline a deadline watch still owes a case an event for (`CaseRecord::deadline_pending`:
-- a master being handled whose deadline has not had its overdue event), NULL for every other
-- case, written with the row like the other derived columns. A watch pass reads the cases due by
-- its horizon through the partial index, not every case being handled (issue 19: a pass listed
-- every handling case each minute, on every node).
ALTER TABLE cases ADD COLUMN deadline_pending bigint;
CREATE INDEX cases_deadline_pending ON cases (deadline_pending, id) WHERE deadline_pending IS NOT NULL;

-- One row once the column holds every stored case's value. A database without cases starts
-- filled; one that had cases before this migration is filled once, from the records, by the
-- first paidan that opens it (paidan_store_pg::cases::deadlines_build_once).
CREATE TABLE deadlines_built (
    one      boolean     PRIMARY KEY DEFAULT true CHECK (one),
    built_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO deadlines_built (one) SELECT true WHERE NOT EXISTS (SELECT 1 FROM cases);
