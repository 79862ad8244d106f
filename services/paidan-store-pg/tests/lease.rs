//! Partition leases on a real PostgreSQL: take, keep, lose, take over with a new epoch, release;
//! a write fenced by a lease that was lost is refused and leaves nothing behind.

mod pg;

use std::time::Duration;

use paidan_store_pg::{Lease, PgStore};

const TTL: Duration = Duration::from_secs(5);

fn sql(url: &str, statement: &str) -> i64 {
    let mut c = postgres::Client::connect(url, postgres::NoTls).expect("connect");
    c.execute(statement, &[]).expect(statement) as i64
}

fn audit_rows(url: &str) -> i64 {
    let mut c = postgres::Client::connect(url, postgres::NoTls).expect("connect");
    c.query_one("SELECT count(*) FROM audit", &[])
        .unwrap()
        .get(0)
}

/// A write under `lease`: one audit row.
fn fenced_write(store: &PgStore, lease: &Lease) -> Result<(), String> {
    store
        .fenced(lease, |t| {
            t.execute("INSERT INTO audit (record) VALUES ('\\x00')", &[])
                .map_err(|e| paidan_store::StoreError::Storage(e.to_string()))?;
            Ok(())
        })
        .map_err(|e| e.to_string())
}

#[test]
fn leases_are_taken_kept_lost_and_taken_over_with_a_new_epoch() {
    let db = pg::TestDb::new("lease");
    let store = PgStore::open(&db.url).unwrap();
    let epoch = |l: Option<Lease>| l.map(|l| l.epoch);
    let a = store
        .acquire_lease(5, "node-a", TTL)
        .unwrap()
        .expect("a free partition");
    assert_eq!(a.epoch, 1);
    // (who asks for partition 5, the epoch they get)
    let table: &[(&str, Option<i64>)] = &[("node-b", None), ("node-a", Some(1)), ("node-b", None)];
    for (who, want) in table {
        assert_eq!(
            epoch(store.acquire_lease(5, who, TTL).unwrap()),
            *want,
            "{who}"
        );
    }
    assert!(store.renew_lease(&a, TTL).unwrap());
    assert_eq!(fenced_write(&store, &a), Ok(()));

    // node-a stops renewing and its lease runs out (the database's clock decides)
    sql(
        &db.url,
        "UPDATE partition_leases SET expires_at = now() - interval '1 second' WHERE partition = 5",
    );
    assert!(
        !store.renew_lease(&a, TTL).unwrap(),
        "a lost lease is not renewed"
    );
    let b = store
        .acquire_lease(5, "node-b", TTL)
        .unwrap()
        .expect("takeover");
    assert_eq!(b.epoch, 2);
    // node-a wakes up: its writes are fenced off, even once it asks again
    let refused = fenced_write(&store, &a).unwrap_err();
    assert!(
        refused.contains("fenced") && refused.contains("epoch 1"),
        "{refused}"
    );
    assert_eq!(epoch(store.acquire_lease(5, "node-a", TTL).unwrap()), None);
    assert_eq!(fenced_write(&store, &b), Ok(()));
    assert_eq!(audit_rows(&db.url), 2, "the fenced write left nothing");

    // a clean stop hands the partition over at once; other partitions are independent
    store.release_lease(&b).unwrap();
    assert!(fenced_write(&store, &b).is_err());
    let c = store
        .acquire_lease(5, "node-c", TTL)
        .unwrap()
        .expect("released");
    assert_eq!(c.epoch, 3);
    assert_eq!(
        epoch(store.acquire_lease(6, "node-a", TTL).unwrap()),
        Some(1)
    );
}
