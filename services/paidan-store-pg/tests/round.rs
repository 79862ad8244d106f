//! A writer round in one transaction on a real PostgreSQL (`begin_round` … `flush`): a later
//! insert of the round sees the earlier ones (request-id idempotency, linking, the duplicate
//! lookup), other connections and threads see nothing before the flush, a refused insert keeps
//! the rest of the round, a lease that runs out mid-round refuses the inserts after it, and a
//! round that cannot commit stores nothing and says so.

#[path = "../../paidan-store/tests/common/mod.rs"]
mod common;
mod pg;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Spec, new_case};
use paidan_store::{DedupEntry, Link, NewCase, Store, StoreError};
use paidan_store_pg::{Ownership, PgStore, partition_of};

fn count(url: &str, q: &str) -> i64 {
    let mut c = postgres::Client::connect(url, postgres::NoTls).expect("connect");
    c.query_one(q, &[]).unwrap().get(0)
}

fn figures(url: &str) -> Vec<(i64, i16, i16, String, String, i64)> {
    let mut c = postgres::Client::connect(url, postgres::NoTls).expect("connect");
    c.query(
        "SELECT bucket, counter, dim, jurisdiction, name, n FROM figures ORDER BY 1, 2, 3, 4, 5",
        &[],
    )
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)))
    .collect()
}

fn with_bands(spec: &Spec<'_>, bands: Vec<u64>) -> NewCase {
    let mut n = new_case(spec);
    n.dedup = Some(DedupEntry {
        jurisdiction: spec.jurisdiction.to_string(),
        bands,
        fingerprint: vec![7, 7, 7],
        received_at: spec.received_at,
        category: spec.category.to_string(),
    });
    n
}

fn spec(rid: &str) -> Spec<'_> {
    Spec {
        request_id: rid,
        ..Default::default()
    }
}

/// The inserts of `a_round_is_one_transaction_its_writer_sees_and_others_do_not`, in order:
/// a case with bands, its idempotent repeat, a report linked to it.
fn linked_to(master: &str) -> NewCase {
    let mut n = with_bands(&spec("r-2"), vec![11, 12]);
    n.link_to = Some(Link {
        master_id: master.to_string(),
        score: 0.9,
        text_excerpt: "again".into(),
    });
    n
}

#[test]
fn a_round_is_one_transaction_its_writer_sees_and_others_do_not() {
    let db = pg::TestDb::new("round_one_txn");
    let store = Arc::new(PgStore::open(&db.url).unwrap());
    store.begin_round().unwrap();
    let a = store
        .insert_case(with_bands(&spec("r-1"), vec![11, 12, 13]))
        .unwrap();
    assert!(a.created);
    let id = a.case.id.clone();

    // the writer thread sees its uncommitted case: the lookup, the reads, the request id
    let (t0, t1) = (common::T0 - 1000, common::T0 + 1000);
    assert_eq!(
        store
            .dedup_candidates("330106", &[12, 13, 99], t0, t1, 8)
            .unwrap(),
        vec![(id.clone(), 2)]
    );
    assert_eq!(
        store.dedup_entry(&id).unwrap().unwrap().bands,
        vec![11, 12, 13]
    );
    assert_eq!(store.get_case(&id).unwrap().unwrap().id, id);
    let again = store
        .insert_case(with_bands(&spec("r-1"), vec![11, 12, 13]))
        .unwrap();
    assert_eq!(
        (again.created, again.case.id.as_str()),
        (false, id.as_str())
    );
    let other = Spec {
        request_id: "r-1",
        digest: "other",
        ..Default::default()
    };
    assert!(matches!(
        store.insert_case(new_case(&other)),
        Err(StoreError::Conflict { .. })
    ));
    let report = store.insert_case(linked_to(&id)).unwrap();
    assert_eq!(report.case.duplicate_of.as_deref(), Some(id.as_str()));
    assert_eq!(store.get_case(&id).unwrap().unwrap().reports.len(), 1);

    // another thread (the pool) and another connection see none of it yet; the other thread's
    // own insert commits at once, outside the round
    let seen = {
        let (store, id) = (store.clone(), id.clone());
        std::thread::spawn(move || {
            let case = store.get_case(&id).unwrap();
            let candidates = store.dedup_candidates("330106", &[12], t0, t1, 8).unwrap();
            let own = store.insert_case(new_case(&spec("r-elsewhere"))).unwrap();
            (case.is_none(), candidates.is_empty(), own.created)
        })
        .join()
        .unwrap()
    };
    assert_eq!(seen, (true, true, true));
    assert_eq!(count(&db.url, "SELECT count(*) FROM cases"), 1);
    assert_eq!(count(&db.url, "SELECT count(*) FROM outbox"), 1);

    store.flush().unwrap();
    assert_eq!(count(&db.url, "SELECT count(*) FROM cases"), 3);
    assert_eq!(count(&db.url, "SELECT count(*) FROM outbox"), 3);
    assert_eq!(count(&db.url, "SELECT count(*) FROM dedup_entries"), 2);

    // the round's figures are those of the same inserts made one transaction each
    let single = pg::TestDb::new("round_one_txn_single");
    let one_by_one = PgStore::open(&single.url).unwrap();
    let first = one_by_one
        .insert_case(with_bands(&spec("r-1"), vec![11, 12, 13]))
        .unwrap();
    one_by_one
        .insert_case(new_case(&spec("r-elsewhere")))
        .unwrap();
    one_by_one.insert_case(linked_to(&first.case.id)).unwrap();
    assert!(!figures(&db.url).is_empty());
    assert_eq!(figures(&db.url), figures(&single.url));

    // after the round, the writer thread is back on the pool: a flush without a round is a no-op
    store.flush().unwrap();
    assert!(store.insert_case(new_case(&spec("r-3"))).unwrap().created);
    assert_eq!(count(&db.url, "SELECT count(*) FROM cases"), 4);
}

#[test]
fn a_refused_insert_keeps_the_rest_of_the_round() {
    let db = pg::TestDb::new("round_refused");
    let store = PgStore::open(&db.url).unwrap();
    store.begin_round().unwrap();
    assert!(store.insert_case(new_case(&spec("r-1"))).unwrap().created);
    let mut orphan = new_case(&spec("r-2"));
    orphan.link_to = Some(Link {
        master_id: "PD999999999999".into(),
        score: 0.9,
        text_excerpt: String::new(),
    });
    assert!(matches!(
        store.insert_case(orphan),
        Err(StoreError::NotFound(_))
    ));
    // a statement the database refuses (a NUL byte in a text column) inside the insert
    let bad = Spec {
        request_id: "r-3",
        jurisdiction: "33\u{0}",
        ..Default::default()
    };
    let refused = store.insert_case(new_case(&bad)).unwrap_err().to_string();
    assert!(refused.contains("postgres"), "{refused}");
    assert!(store.insert_case(new_case(&spec("r-4"))).unwrap().created);
    store.flush().unwrap();
    assert_eq!(
        count(
            &db.url,
            "SELECT count(*) FROM cases WHERE request_id IN ('r-1', 'r-4')"
        ),
        2
    );
    assert_eq!(count(&db.url, "SELECT count(*) FROM cases"), 2);
}

#[test]
fn a_lease_that_runs_out_mid_round_refuses_the_inserts_after_it() {
    let db = pg::TestDb::new("round_lease");
    let store = PgStore::open(&db.url).unwrap();
    let own = Arc::new(Ownership::new("node-a"));
    store.fence_with(own.clone());
    let p = partition_of("330106");
    // a short lease on the database, held locally for longer (a node that missed its renewals)
    let lease = store
        .acquire_lease(p, "node-a", Duration::from_millis(300))
        .unwrap()
        .unwrap();
    own.hold(lease, Instant::now() + Duration::from_secs(60));
    store.begin_round().unwrap();
    assert!(store.insert_case(new_case(&spec("r-1"))).unwrap().created);
    std::thread::sleep(Duration::from_millis(600));
    let refused = store.insert_case(new_case(&spec("r-2"))).unwrap_err();
    assert!(matches!(refused, StoreError::Fenced(_)), "{refused}");
    store.flush().unwrap();
    // r-1 was fenced while the lease held (and the row lock kept a takeover out until COMMIT)
    assert_eq!(count(&db.url, "SELECT count(*) FROM cases"), 1);
}

#[test]
fn a_round_that_cannot_commit_stores_nothing_and_the_next_round_works() {
    let db = pg::TestDb::new("round_fail");
    let store = PgStore::open(&db.url).unwrap();

    // a read that fails outside any savepoint aborts the transaction: the flush must fail,
    // not let PostgreSQL turn its COMMIT into a silent ROLLBACK
    store.begin_round().unwrap();
    assert!(store.insert_case(new_case(&spec("r-1"))).unwrap().created);
    assert!(store.get_case("PD\u{0}").is_err());
    let later = store.insert_case(new_case(&spec("r-2"))).unwrap_err();
    assert!(later.to_string().contains("will not commit"), "{later}");
    let failed = store.flush().unwrap_err().to_string();
    assert!(failed.contains("nothing of it is stored"), "{failed}");
    assert_eq!(count(&db.url, "SELECT count(*) FROM cases"), 0);

    // the round's connection dies before the COMMIT
    store.begin_round().unwrap();
    assert!(store.insert_case(new_case(&spec("r-3"))).unwrap().created);
    let killed = count(
        &db.url,
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE datname = current_database() AND state = 'idle in transaction') k",
    );
    assert_eq!(killed, 1);
    assert!(store.flush().is_err());
    assert_eq!(count(&db.url, "SELECT count(*) FROM cases"), 0);

    // a new round on a new connection
    store.begin_round().unwrap();
    assert!(store.insert_case(new_case(&spec("r-3"))).unwrap().created);
    store.flush().unwrap();
    assert_eq!(count(&db.url, "SELECT count(*) FROM cases"), 1);
}

#[test]
fn one_round_at_a_time_and_a_round_left_open_is_rolled_back() {
    let db = pg::TestDb::new("round_owner");
    let store = Arc::new(PgStore::open(&db.url).unwrap());
    store.begin_round().unwrap();
    let other = {
        let store = store.clone();
        std::thread::spawn(move || store.begin_round().map_err(|e| e.to_string()))
            .join()
            .unwrap()
    };
    assert!(other.unwrap_err().contains("another thread"));
    assert!(store.insert_case(new_case(&spec("r-1"))).unwrap().created);
    // begun again without a flush: the open round is rolled back, never committed
    store.begin_round().unwrap();
    assert!(store.insert_case(new_case(&spec("r-2"))).unwrap().created);
    store.flush().unwrap();
    assert_eq!(
        count(
            &db.url,
            "SELECT count(*) FROM cases WHERE request_id = 'r-2'"
        ),
        1
    );
    assert_eq!(count(&db.url, "SELECT count(*) FROM cases"), 1);
    // with the round closed, another thread may open one
    let store2 = store.clone();
    std::thread::spawn(move || {
        store2.begin_round().unwrap();
        store2.flush().unwrap();
    })
    .join()
    .unwrap();
}
