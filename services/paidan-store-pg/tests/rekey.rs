//! The re-key of the duplicate index on PostgreSQL (`Store::rekey_dedup`, `dedup.rs`), past what
//! the contract check asks of every store: exactly the entries the re-key changes are written
//! (the `bands` arrays as the SQL sees them), pages commit one by one so an interrupted run is
//! finished by the next, an entry an edit rewrites or removes mid-run keeps the edit, a
//! partition owner's band index built before the re-key is rebuilt from the new keys, and
//! migration 9 adds the version's table to a schema 8 database.

#[path = "../../paidan-store/tests/common/mod.rs"]
mod common;
mod pg;

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use common::*;
use paidan_store::*;
use paidan_store_pg::{Ownership, PARTITIONS, PgStore};

fn sql(url: &str, statement: &str) -> Vec<postgres::Row> {
    let mut c = postgres::Client::connect(url, postgres::NoTls).expect("connect");
    c.query(statement, &[]).expect(statement)
}

/// A case of 330106 with a dedup entry of `bands` and `fingerprint`.
fn new_with(n: usize, bands: &[u64], fingerprint: &[u8]) -> NewCase {
    let request_id = format!("rk-{n}");
    let spec = Spec {
        request_id: &request_id,
        received_at: T0 + n as i64,
        ..Spec::default()
    };
    let mut new = new_case(&spec);
    new.dedup = Some(DedupEntry {
        jurisdiction: spec.jurisdiction.to_string(),
        bands: bands.to_vec(),
        fingerprint: fingerprint.to_vec(),
        received_at: spec.received_at,
        category: spec.category.to_string(),
    });
    new
}

fn with(store: &PgStore, n: usize, bands: &[u64], fingerprint: &[u8]) -> String {
    store
        .insert_case(new_with(n, bands, fingerprint))
        .unwrap()
        .case
        .id
}

/// The old layout's entries (fingerprint [1, 2, 3]) get their keys + 1000 (wrapping) and
/// fingerprint [3], the mark of the new layout (kept as it is).
fn plus_1000(e: &DedupEntry) -> Option<DedupEntry> {
    (e.fingerprint == [1, 2, 3]).then(|| DedupEntry {
        bands: e.bands.iter().map(|b| b.wrapping_add(1000)).collect(),
        fingerprint: vec![3],
        ..e.clone()
    })
}

/// The stored `bands` column, by case id.
fn arrays(url: &str) -> Vec<(String, Vec<i64>)> {
    sql(
        url,
        "SELECT case_id, bands FROM dedup_entries ORDER BY case_id",
    )
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

fn found(store: &PgStore, bands: &[u64]) -> Vec<String> {
    candidate_ids(store, bands, i64::MIN)
}

#[test]
fn a_rekey_rewrites_exactly_the_entries_it_changes() {
    let db = pg::TestDb::new("rekey_exact");
    let store = PgStore::open(&db.url).unwrap();
    let old = [1, 2, 3];
    let a = with(&store, 0, &[10, 20], &old);
    let done = with(&store, 1, &[30], &[3]);
    let same = with(&store, 2, &[40, 50], &[9]);
    let high = with(&store, 3, &[u64::MAX, 7, 7], &old);
    let emptied = with(&store, 4, &[60], &[4]);
    let unreadable = with(&store, 5, &[70], &old);
    sql(
        &db.url,
        &format!("UPDATE dedup_entries SET entry = '\\xff' WHERE case_id = '{unreadable}'"),
    );
    let rekey = |e: &DedupEntry| match e.fingerprint.as_slice() {
        // Given back unchanged: not a rewrite.
        [9] => Some(e.clone()),
        // Keys that go: an empty array.
        [4] => Some(DedupEntry {
            bands: vec![],
            fingerprint: vec![3],
            ..e.clone()
        }),
        _ => plus_1000(e),
    };
    assert_eq!(store.dedup_key_version().unwrap(), 0);
    assert_eq!(store.rekey_dedup(3, &rekey).unwrap(), 3, "a, high, emptied");
    assert_eq!(store.dedup_key_version().unwrap(), 3);
    let mut want = vec![
        (a.clone(), vec![1010, 1020]),
        (done.clone(), vec![30]),
        (same.clone(), vec![40, 50]),
        // u64::MAX + 1000 wraps to 999; a key given twice is kept twice, as an insert writes it
        (high.clone(), vec![999, 1007, 1007]),
        (emptied.clone(), vec![]),
        (unreadable.clone(), vec![70]),
    ];
    want.sort();
    assert_eq!(arrays(&db.url), want);
    let entry = store.dedup_entry(&a).unwrap().unwrap();
    assert_eq!(
        (entry.bands, entry.fingerprint, entry.category),
        (vec![1010, 1020], vec![3], "CAT.NOISE".to_string())
    );
    let bytes = sql(
        &db.url,
        &format!("SELECT entry FROM dedup_entries WHERE case_id = '{unreadable}'"),
    );
    assert_eq!(bytes[0].get::<_, Vec<u8>>(0), vec![0xff], "left as it was");
    // The lookups meet the new keys only.
    assert_eq!(found(&store, &[10, 20, 60]), Vec::<String>::new());
    assert_eq!(found(&store, &[1020]), vec![a.clone()]);
    assert_eq!(found(&store, &[999]), vec![high.clone()]);
    assert_eq!(found(&store, &[30, 40]), {
        let mut v = vec![done.clone(), same.clone()];
        v.sort();
        v
    });
    // Nothing left; a later version is recorded all the same.
    assert_eq!(store.rekey_dedup(4, &rekey).unwrap(), 0);
    assert_eq!(store.dedup_key_version().unwrap(), 4);
    assert_eq!(arrays(&db.url), want);
}

#[test]
fn pages_commit_one_by_one_and_an_interrupted_rekey_is_finished_by_the_next() {
    let db = pg::TestDb::new("rekey_pages");
    let store = PgStore::open(&db.url).unwrap();
    // More than a page (1,000 entries), in one writer round.
    const N: usize = 1005;
    store.begin_round().unwrap();
    for n in 0..N {
        store
            .insert_case(new_with(n, &[n as u64, 5000], &[1, 2, 3]))
            .unwrap();
    }
    store.flush().unwrap();
    let rekeyed = |url: &str| {
        sql(
            url,
            "SELECT count(*) FROM dedup_entries WHERE 6000 = ANY(bands)",
        )[0]
        .get::<_, i64>(0)
    };

    // Interrupted at the first entry of the second page.
    let calls = AtomicUsize::new(0);
    let dying = |e: &DedupEntry| {
        if calls.fetch_add(1, Ordering::SeqCst) == 1000 {
            panic!("interrupted");
        }
        plus_1000(e)
    };
    let run = std::panic::catch_unwind(AssertUnwindSafe(|| store.rekey_dedup(2, &dying)));
    assert!(run.is_err());
    assert_eq!(rekeyed(&db.url), 1000, "the first page committed");
    assert_eq!(store.dedup_key_version().unwrap(), 0, "not recorded");

    let store = PgStore::open(&db.url).unwrap();
    assert_eq!(store.rekey_dedup(2, &plus_1000).unwrap(), 5, "the rest");
    assert_eq!(rekeyed(&db.url), N as i64);
    assert_eq!(store.dedup_key_version().unwrap(), 2);
    assert_eq!(found(&store, &[5000]), Vec::<String>::new());
    assert_eq!(
        store
            .dedup_candidates("330106", &[6000], i64::MIN, i64::MAX, 2000)
            .unwrap()
            .len(),
        N
    );
}

#[test]
fn an_entry_an_edit_changes_during_the_rekey_keeps_the_edit() {
    let db = pg::TestDb::new("rekey_edit");
    let store = PgStore::open(&db.url).unwrap();
    let old = [1, 2, 3];
    let relabelled = with(&store, 0, &[10], &old);
    let closed = with(&store, 1, &[20], &old);
    let other = with(&store, 2, &[30], &old);
    // Between the page's read and its write, an edit on another connection changes one entry's
    // category (keeping its old keys) and a close removes another.
    let (relabel, close) = (AtomicBool::new(true), AtomicBool::new(true));
    let seen = AtomicUsize::new(0);
    let racing = |e: &DedupEntry| {
        seen.fetch_add(1, Ordering::SeqCst);
        if e.received_at == T0 && relabel.swap(false, Ordering::SeqCst) {
            set_labels(
                &store as &dyn Store,
                &relabelled,
                Some("CAT.WATER"),
                None,
                "n",
                "op",
                T0,
            )
            .unwrap();
        }
        if e.received_at == T0 + 1 && close.swap(false, Ordering::SeqCst) {
            set_status(
                &store as &dyn Store,
                &closed,
                CaseStatus::Closed,
                "done",
                "op",
                T0,
            )
            .unwrap();
        }
        plus_1000(e)
    };
    assert_eq!(store.rekey_dedup(5, &racing).unwrap(), 2);
    assert_eq!(seen.load(Ordering::SeqCst), 4, "the relabelled entry twice");
    let entry = store.dedup_entry(&relabelled).unwrap().unwrap();
    assert_eq!(
        (entry.bands, entry.category),
        (vec![1010], "CAT.WATER".to_string()),
        "the edit's entry, re-keyed"
    );
    assert_eq!(
        arrays(&db.url),
        vec![
            (relabelled.clone(), vec![1010]),
            (other.clone(), vec![1030])
        ]
    );
    assert_eq!(store.dedup_entry(&closed).unwrap(), None, "the close kept");
}

#[test]
fn an_owners_index_built_before_the_rekey_is_rebuilt_from_the_new_keys() {
    const HOUR: std::time::Duration = std::time::Duration::from_secs(3600);
    let db = pg::TestDb::new("rekey_owner");
    let store = PgStore::open(&db.url).unwrap();
    let own = Arc::new(Ownership::new("rekey-node"));
    for p in 0..PARTITIONS {
        let lease = store.acquire_lease(p, own.node(), HOUR).unwrap().unwrap();
        own.hold(lease, std::time::Instant::now() + HOUR);
    }
    store.fence_with(own);
    let a = with(&store, 0, &[10, 20], &[1, 2, 3]);
    // A lookup builds the owner's index from the old keys.
    assert_eq!(found(&store, &[10]), vec![a.clone()]);
    assert!(
        store.owner_index_stats().1 > 0,
        "the lookup went through the index"
    );
    assert_eq!(store.rekey_dedup(3, &plus_1000).unwrap(), 1);
    assert_eq!(found(&store, &[10, 20]), Vec::<String>::new(), "old keys");
    assert_eq!(found(&store, &[1010]), vec![a.clone()]);
    assert_eq!(store.owner_index_stats().1, 1, "rebuilt");
}

#[test]
fn migration_9_adds_the_key_version_table_to_a_schema_8_database() {
    let db = pg::TestDb::new("rekey_migrate");
    let store = PgStore::open(&db.url).unwrap();
    let a = with(&store, 0, &[10], &[1, 2, 3]);
    drop(store);
    // Schema 8: no table, no migration 9.
    let mut c = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    c.batch_execute(
        "BEGIN; DROP TABLE paidan_meta; DELETE FROM paidan_migrations WHERE version = 9; COMMIT;",
    )
    .unwrap();
    drop(c);

    let store = PgStore::open(&db.url).unwrap();
    let rows = sql(
        &db.url,
        "SELECT to_regclass('paidan_meta') IS NOT NULL,
                EXISTS (SELECT 1 FROM paidan_migrations WHERE version = 9 AND name = 'dedup_key_version')",
    );
    assert_eq!(
        (rows[0].get::<_, bool>(0), rows[0].get::<_, bool>(1)),
        (true, true)
    );
    assert_eq!(
        store.dedup_key_version().unwrap(),
        0,
        "keys of before the version"
    );
    assert_eq!(store.rekey_dedup(3, &plus_1000).unwrap(), 1);
    assert_eq!(found(&store, &[1010]), vec![a]);
    let rows = sql(&db.url, "SELECT name, value FROM paidan_meta");
    let meta: Vec<(String, i64)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(meta, vec![("dedup_key_version".to_string(), 3)]);
}
