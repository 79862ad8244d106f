-- Named values the store keeps about its own data (one row each), starting with
-- `dedup_key_version`: the paidan-dedup fingerprint version whose band layout the stored dedup
-- entries' keys (`dedup_entries.entry` and `bands`) follow, recorded by a re-key
-- (paidan_store::Store::rekey_dedup, paidan_store_pg::dedup). No row: version 0, keys written
-- before versions were recorded; paidan re-keys them once at startup and records its version.
--
-- The migration also guards the keys: a build before it (schema 8 or less) refuses a database
-- that has it (migrate.rs refuses a database migrated by a newer build), so it never looks up
-- keys of one layout with fingerprints of another (every lookup would miss, silently).
CREATE TABLE paidan_meta (
    name  text   PRIMARY KEY,
    value bigint NOT NULL
);
