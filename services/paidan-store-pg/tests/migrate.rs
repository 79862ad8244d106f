//! The embedded migrations against a real PostgreSQL: nodes starting together on an empty
//! database migrate it once, and a database this build cannot vouch for is refused at open
//! (a newer build's migration, an applied migration whose text changed).

mod pg;

use paidan_store::StoreError;
use paidan_store_pg::{PgOptions, PgStore, SCHEMA_VERSION, migration_versions};

fn sql(url: &str, statement: &str) -> Vec<postgres::Row> {
    let mut c = postgres::Client::connect(url, postgres::NoTls).expect("connect");
    c.query(statement, &[]).expect(statement)
}

#[test]
fn nodes_starting_together_migrate_once() {
    let db = pg::TestDb::new("migrate_race");
    let opened: Vec<bool> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| PgStore::open(&db.url).is_ok()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(opened, vec![true; 4]);
    let rows = sql(
        &db.url,
        "SELECT version FROM paidan_migrations ORDER BY version",
    );
    let versions: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(versions, migration_versions());
    assert_eq!(versions.last(), Some(&SCHEMA_VERSION));
    // and a later open finds nothing to do
    PgStore::open(&db.url).expect("reopen");
}

#[test]
fn a_database_this_build_cannot_vouch_for_is_refused() {
    // (what is done to the migrated database, what the refusal says)
    let table: &[(&str, &str)] = &[
        (
            "INSERT INTO paidan_migrations (version, name, checksum) VALUES (99, 'future', 0)",
            "migration 99 (future)",
        ),
        (
            "UPDATE paidan_migrations SET checksum = checksum + 1 WHERE version = 1",
            "differs from this build's",
        ),
    ];
    for (change, want) in table {
        let db = pg::TestDb::new("migrate_refuse");
        drop(PgStore::open(&db.url).expect("a fresh database is migrated"));
        sql(&db.url, change);
        match PgStore::open(&db.url) {
            Err(StoreError::Corrupt { key, reason }) => {
                assert_eq!(key, "paidan_migrations");
                assert!(reason.contains(want), "{change}: {reason}");
            }
            Err(e) => panic!("{change}: expected Corrupt, got {e}"),
            Ok(_) => panic!("{change}: the store opened"),
        }
    }
}

#[test]
fn a_bad_url_or_an_unreachable_server_is_a_clear_error() {
    let table: &[(&str, &str)] = &[
        ("not a url", "store url"),
        // port 1 on loopback: nothing listens there
        (
            "postgres://nobody@127.0.0.1:1/none?connect_timeout=2",
            "cannot connect to PostgreSQL",
        ),
    ];
    // the pool gives up on a server after connect_timeout (not to wait the default 10 s here)
    let opts = PgOptions {
        connect_timeout: std::time::Duration::from_millis(500),
        ..PgOptions::default()
    };
    for (url, want) in table {
        match PgStore::open_with(url, &opts) {
            Err(e) => assert!(e.to_string().contains(want), "{url}: {e}"),
            Ok(_) => panic!("{url}: opened"),
        }
    }
}
