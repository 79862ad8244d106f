//! Embedded, numbered migrations: `migrations/NNNN_name.sql`, applied in order, each recorded
//! in `paidan_migrations` with a checksum of its text.
//!
//! Why not a migration crate: the store needs three things and they fit here — the files compiled
//! into the binary, every pending migration applied in one transaction under an advisory lock
//! (several nodes start against one database; exactly one of them migrates, the others wait and
//! find nothing to do), and a refusal to run against a database a newer build migrated or whose
//! applied migrations were edited afterwards (the checksum). A migration is never edited once
//! released: a change is a new file with the next number.

use paidan_store::{Result, StoreError};

use crate::db;

struct Migration {
    version: i32,
    name: &'static str,
    sql: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sql: include_str!("../migrations/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "partition_leases",
        sql: include_str!("../migrations/0002_partition_leases.sql"),
    },
    Migration {
        version: 3,
        name: "figures",
        sql: include_str!("../migrations/0003_figures.sql"),
    },
    Migration {
        version: 4,
        name: "nodes",
        sql: include_str!("../migrations/0004_nodes.sql"),
    },
    Migration {
        version: 5,
        name: "outbox_partitions",
        sql: include_str!("../migrations/0005_outbox_partitions.sql"),
    },
    Migration {
        version: 6,
        name: "dedup_band_arrays",
        sql: include_str!("../migrations/0006_dedup_band_arrays.sql"),
    },
    Migration {
        version: 7,
        name: "deadline_pending",
        sql: include_str!("../migrations/0007_deadline_pending.sql"),
    },
    Migration {
        version: 8,
        name: "case_links",
        sql: include_str!("../migrations/0008_case_links.sql"),
    },
    Migration {
        version: 9,
        name: "dedup_key_version",
        sql: include_str!("../migrations/0009_dedup_key_version.sql"),
    },
];

/// The schema version this build writes: the number of its newest migration.
pub const SCHEMA_VERSION: i32 = 9;

/// The versions of this build's migrations, in order (what a database it migrated has applied).
pub fn migration_versions() -> Vec<i32> {
    MIGRATIONS.iter().map(|m| m.version).collect()
}

fn checksum(sql: &str) -> i64 {
    i64::from(crc32fast::hash(sql.as_bytes()))
}

pub(crate) fn migrate(client: &mut postgres::Client) -> Result<()> {
    let mut t = client.transaction().map_err(db)?;
    // One migrator per schema at a time; released at COMMIT.
    t.execute(
        "SELECT pg_advisory_xact_lock(hashtext('paidan_migrations:' || current_schema()))",
        &[],
    )
    .map_err(db)?;
    t.batch_execute(
        "CREATE TABLE IF NOT EXISTS paidan_migrations (
            version    integer PRIMARY KEY,
            name       text NOT NULL,
            checksum   bigint NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now()
        )",
    )
    .map_err(db)?;
    let applied = t
        .query(
            "SELECT version, name, checksum FROM paidan_migrations ORDER BY version",
            &[],
        )
        .map_err(db)?;
    let refuse = |reason: String| StoreError::Corrupt {
        key: "paidan_migrations".into(),
        reason,
    };
    for row in &applied {
        let (version, name, sum): (i32, String, i64) = (row.get(0), row.get(1), row.get(2));
        let Some(m) = MIGRATIONS.iter().find(|m| m.version == version) else {
            return Err(refuse(format!(
                "the database has migration {version} ({name}), this build knows up to {SCHEMA_VERSION}: run a newer paidan"
            )));
        };
        if checksum(m.sql) != sum || m.name != name {
            return Err(refuse(format!(
                "migration {version} ({name}) in the database differs from this build's ({})",
                m.name
            )));
        }
    }
    for m in MIGRATIONS {
        if applied.iter().any(|r| r.get::<_, i32>(0) == m.version) {
            continue;
        }
        t.batch_execute(m.sql).map_err(db)?;
        t.execute(
            "INSERT INTO paidan_migrations (version, name, checksum) VALUES ($1, $2, $3)",
            &[&m.version, &m.name, &checksum(m.sql)],
        )
        .map_err(db)?;
        tracing::info!(
            version = m.version,
            name = m.name,
            "PostgreSQL store migrated"
        );
    }
    t.commit().map_err(db)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_in_order_and_the_schema_version_is_the_last() {
        // Numbers grow; one may be missing while the engineer who took it has not landed it
        // (a database migrated without it gets it from the build that has it).
        for w in MIGRATIONS.windows(2) {
            assert!(
                w[0].version < w[1].version,
                "{} before {}",
                w[0].name,
                w[1].name
            );
        }
        assert_eq!(MIGRATIONS.first().map(|m| m.version), Some(1));
        assert_eq!(MIGRATIONS.last().map(|m| m.version), Some(SCHEMA_VERSION));
    }
}
