//! Partition leases on a real PostgreSQL: take, keep, lose, take over with a new epoch, release;
//! a write fenced by a lease that was lost is refused and leaves nothing behind; a store fenced
//! by a node's `Ownership` inserts cases only for the partitions the node holds; node rows.

#[path = "../../paidan-store/tests/common/mod.rs"]
mod common;
mod pg;

use std::sync::Arc;
use std::time::{Duration, Instant};

use paidan_store::Store;
use paidan_store_pg::{Lease, Ownership, PgStore, partition_of};

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

#[test]
fn a_fenced_store_inserts_only_for_the_partitions_its_node_holds() {
    let db = pg::TestDb::new("fenced_insert");
    let store = PgStore::open(&db.url).unwrap();
    let own = Arc::new(Ownership::new("node-a"));
    store.fence_with(own.clone());
    let (j, p) = ("330106", partition_of("330106"));
    let spec = |rid| common::Spec {
        request_id: rid,
        jurisdiction: j,
        ..Default::default()
    };
    let insert = |rid| {
        store
            .insert_case(common::new_case(&spec(rid)))
            .map(|i| i.created)
            .map_err(|e| e.to_string())
    };
    let refused = insert("r-1").unwrap_err();
    assert!(refused.contains("does not hold partition"), "{refused}");

    let lease = store.acquire_lease(p, "node-a", TTL).unwrap().unwrap();
    own.hold(lease.clone(), Instant::now() + TTL);
    assert_eq!(insert("r-1"), Ok(true));
    assert_eq!(insert("r-1"), Ok(false), "an idempotent repeat");

    // the lease runs out and node-b takes the partition: node-a still thinks it holds it, but
    // the fence in the insert's transaction refuses, and nothing is written
    sql(
        &db.url,
        "UPDATE partition_leases SET expires_at = now() - interval '1 second'",
    );
    store.acquire_lease(p, "node-b", TTL).unwrap().unwrap();
    let refused = insert("r-2").unwrap_err();
    assert!(
        refused.contains("fenced") && refused.contains("epoch 1"),
        "{refused}"
    );
    assert_eq!(
        sql_count(&db.url, "SELECT count(*) FROM cases"),
        1,
        "only r-1 is stored"
    );
    // an idempotent repeat writes nothing and is answered by any node
    assert_eq!(insert("r-1"), Ok(false));
    // the keeper drops a lost lease: refused before the database is asked
    own.drop_partition(p);
    assert!(insert("r-3").unwrap_err().contains("does not hold"));
}

fn sql_count(url: &str, q: &str) -> i64 {
    let mut c = postgres::Client::connect(url, postgres::NoTls).expect("connect");
    c.query_one(q, &[]).unwrap().get(0)
}

#[test]
fn nodes_beat_advertise_and_leave() {
    let db = pg::TestDb::new("nodes");
    let store = PgStore::open(&db.url).unwrap();
    assert_eq!(store.heartbeat("node-a", "127.0.0.1:1", TTL).unwrap(), 1);
    assert_eq!(store.heartbeat("node-b", "127.0.0.1:2", TTL).unwrap(), 2);
    assert_eq!(store.free_partitions().unwrap().len(), 64);
    store.acquire_lease(3, "node-a", TTL).unwrap().unwrap();
    store.acquire_lease(4, "node-b", TTL).unwrap().unwrap();
    let owners: Vec<(u16, String, Option<String>)> = store
        .partition_owners()
        .unwrap()
        .into_iter()
        .map(|o| (o.partition, o.node_id, o.advertise_addr))
        .collect();
    assert_eq!(
        owners,
        vec![
            (3, "node-a".into(), Some("127.0.0.1:1".into())),
            (4, "node-b".into(), Some("127.0.0.1:2".into())),
        ]
    );
    assert_eq!(store.free_partitions().unwrap().len(), 62);
    // node-b's heartbeat goes stale: one live node
    sql(
        &db.url,
        "UPDATE cluster_nodes SET heartbeat_at = now() - interval '1 minute' WHERE node_id = 'node-b'",
    );
    assert_eq!(store.heartbeat("node-a", "127.0.0.1:1", TTL).unwrap(), 1);
    let live: Vec<(String, bool)> = store
        .nodes(TTL)
        .unwrap()
        .into_iter()
        .map(|n| (n.node_id, n.live))
        .collect();
    assert_eq!(
        live,
        vec![("node-a".into(), true), ("node-b".into(), false)]
    );
    // a clean stop frees node-a's partitions at once and removes its row
    store.leave("node-a").unwrap();
    assert!(!store.free_partitions().unwrap().contains(&4));
    assert!(store.free_partitions().unwrap().contains(&3));
    assert_eq!(store.nodes(TTL).unwrap().len(), 1);
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[test]
fn in_a_cluster_the_owner_drains_its_partitions_outbox_and_is_woken_by_notify() {
    let db = pg::TestDb::new("cluster_outbox");
    let (a, b) = (
        PgStore::open(&db.url).unwrap(),
        PgStore::open(&db.url).unwrap(),
    );
    let (own_a, own_b) = (
        Arc::new(Ownership::new("node-a")),
        Arc::new(Ownership::new("node-b")),
    );
    a.fence_with(own_a.clone());
    b.fence_with(own_b.clone());
    let p = partition_of("330106");
    let lease = a.acquire_lease(p, "node-a", TTL).unwrap().unwrap();
    own_a.hold(lease, Instant::now() + TTL);
    let mut listener = a.listen_outbox().unwrap();

    let spec = common::Spec {
        request_id: "r-1",
        ..Default::default()
    };
    a.insert_case(common::new_case(&spec)).unwrap();
    assert_eq!(listener.wait(TTL).unwrap(), vec![p], "the commit notified");

    let due = |s: &PgStore| -> Vec<String> {
        s.outbox_due(now_ms(), 10)
            .unwrap()
            .into_iter()
            .map(|e| e.idempotency_key)
            .collect()
    };
    assert_eq!(due(&b), Vec::<String>::new(), "not node-b's partition");
    let claimed = a.outbox_due(now_ms(), 10).unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(
        due(&a),
        Vec::<String>::new(),
        "claimed: not handed out twice"
    );
    // a failed delivery makes it due again at the time it names
    a.outbox_failed(claimed[0].seq, "platform down", now_ms(), false)
        .unwrap();
    let again = a.outbox_due(now_ms(), 10).unwrap();
    assert_eq!(again.len(), 1);
    assert!(
        a.outbox_delivered(again[0].seq, "hook", &["hook".to_string()], now_ms())
            .unwrap()
    );
    assert_eq!(a.outbox_len(false).unwrap(), 0);

    // an event from before partitions were recorded is drained by any node
    let spec = common::Spec {
        request_id: "r-2",
        ..Default::default()
    };
    a.insert_case(common::new_case(&spec)).unwrap();
    sql(&db.url, "UPDATE outbox SET partition = NULL");
    assert_eq!(due(&b).len(), 1);
    assert_eq!(listener.wait(TTL).unwrap(), vec![p]);
}
