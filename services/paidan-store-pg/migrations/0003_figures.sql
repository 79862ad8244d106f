-- Department figures (GetDepartmentStats, paidan stats): counters changed in the transaction that
-- changes the case, as `paidan_store::figures` says what each case contributes. `bucket` is hours
-- since the epoch (the hour the counted event happened); `counter` and `dim` are that module's
-- numbers (counter 8, open cases by due hour, is read only for buckets that started before now).
CREATE TABLE figures (
    bucket       bigint   NOT NULL,
    counter      smallint NOT NULL,
    dim          smallint NOT NULL,
    jurisdiction text     NOT NULL,
    name         text     NOT NULL,
    n            bigint   NOT NULL,
    PRIMARY KEY (bucket, counter, dim, jurisdiction, name)
);

-- One row once the counters hold every stored case. A database without cases starts counted; one
-- that had cases before this migration is counted once, from the cases, by the first paidan that
-- opens it (paidan_store_pg::figures::build_once).
CREATE TABLE figures_built (
    one      boolean     PRIMARY KEY DEFAULT true CHECK (one),
    built_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO figures_built (one) SELECT true WHERE NOT EXISTS (SELECT 1 FROM cases);
