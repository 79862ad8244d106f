-- Schema 1 of the PostgreSQL store. Every value is kept as the storage-record bytes of
-- paidan-store's record.rs (the `record`, `entry` and `payload` columns: one encoding for every
-- store); the other columns are derived from it on every write, for the filters and indexes.

CREATE SEQUENCE case_numbers;

CREATE TABLE cases (
    id             text PRIMARY KEY,
    -- NULL when the request carried none; the idempotency key otherwise (one case per id).
    request_id     text UNIQUE,
    jurisdiction   text NOT NULL,
    status         smallint NOT NULL,   -- paidan.v1.CaseStatus number
    category       text NOT NULL,
    department     text NOT NULL,
    channel        smallint NOT NULL,   -- paidan.v1.Channel number
    received_at    bigint NOT NULL,     -- ms since the epoch
    duplicate_of   text,                -- a linked report's master
    last_report_at bigint NOT NULL,     -- the latest report of the matter (on a master)
    record         bytea NOT NULL       -- CaseV2
);
CREATE INDEX cases_received ON cases (received_at DESC, id DESC);
CREATE INDEX cases_jurisdiction ON cases (jurisdiction, received_at DESC, id DESC);
CREATE INDEX cases_status ON cases (status, received_at DESC, id DESC);
CREATE INDEX cases_category ON cases (category, received_at DESC, id DESC);
CREATE INDEX cases_department ON cases (department, received_at DESC, id DESC);
CREATE INDEX cases_channel ON cases (channel, received_at DESC, id DESC);
CREATE INDEX cases_duplicate_of ON cases (duplicate_of) WHERE duplicate_of IS NOT NULL;

-- Open cases' dedup entries and their band keys (a set per case).
CREATE TABLE dedup_entries (
    case_id      text PRIMARY KEY REFERENCES cases (id),
    jurisdiction text NOT NULL,
    entry        bytea NOT NULL         -- DedupEntryV2
);
CREATE TABLE dedup_bands (
    jurisdiction text NOT NULL,
    band         bigint NOT NULL,       -- the u64 band key, bit for bit
    case_id      text NOT NULL REFERENCES dedup_entries (case_id) ON DELETE CASCADE,
    PRIMARY KEY (jurisdiction, band, case_id)
);
CREATE INDEX dedup_bands_case ON dedup_bands (case_id);

CREATE TABLE corrections (
    id      bigserial PRIMARY KEY,
    case_id text NOT NULL,
    record  bytea NOT NULL              -- CorrectionV2
);

-- Outbox entries and dead letters (dead = true). seq is the global enqueue order; per case,
-- sequence counts from 1 and the idempotency key is "<case_id>:<sequence>".
CREATE SEQUENCE outbox_seqs;
CREATE TABLE outbox (
    seq             bigint PRIMARY KEY,
    case_id         text NOT NULL REFERENCES cases (id),
    sequence        bigint NOT NULL,
    kind            smallint NOT NULL,  -- paidan_store::EventKind number
    occurred_at     bigint NOT NULL,
    payload         bytea NOT NULL,     -- CaseV2: the case as the event's transaction wrote it
    delivered_to    text[] NOT NULL DEFAULT '{}',
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text NOT NULL DEFAULT '',
    enqueued_at     bigint NOT NULL,
    next_attempt_at bigint NOT NULL,
    dead            boolean NOT NULL DEFAULT false,
    UNIQUE (case_id, sequence)
);
CREATE INDEX outbox_pending ON outbox (case_id, seq) WHERE NOT dead;
CREATE INDEX outbox_due ON outbox (next_attempt_at, seq) WHERE NOT dead;

CREATE TABLE audit (
    id     bigserial PRIMARY KEY,
    record bytea NOT NULL               -- AuditEventV2
);
