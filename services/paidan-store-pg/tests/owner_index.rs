//! The partition owner's in-memory band index on a real PostgreSQL (issue 18 item 2): a node that
//! holds a partition answers duplicate lookups exactly as the database's GIN query does — with
//! cases closed by another node, across time ranges and limits, inside a writer round (which
//! sees its own inserts before COMMIT; the index gets them only after), and after a takeover
//! (another node's inserts are in the index rebuilt for the new epoch).

#[path = "../../paidan-store/tests/common/mod.rs"]
mod common;
mod pg;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{MIN, Spec, T0, new_case, set_status};
use paidan_store::{CaseStatus, DedupEntry, Millis, NewCase, Store};
use paidan_store_pg::{Lease, Ownership, PARTITIONS, PgStore, partition_of};

const HOUR: Duration = Duration::from_secs(3600);

fn with_bands(spec: &Spec<'_>, bands: Vec<u64>) -> NewCase {
    let mut n = new_case(spec);
    n.dedup = Some(DedupEntry {
        jurisdiction: spec.jurisdiction.to_string(),
        bands,
        fingerprint: vec![7],
        received_at: spec.received_at,
        category: spec.category.to_string(),
    });
    n
}

/// A store of node `node` holding `partitions` (leases of an hour, held locally as long).
fn owner(url: &str, node: &str, partitions: &[u16]) -> (PgStore, Arc<Ownership>) {
    let store = PgStore::open(url).unwrap();
    let own = Arc::new(Ownership::new(node));
    for &p in partitions {
        hold(&store, &own, p);
    }
    store.fence_with(own.clone());
    (store, own)
}

fn hold(store: &PgStore, own: &Ownership, p: u16) -> Lease {
    let lease = store
        .acquire_lease(p, own.node(), HOUR)
        .unwrap()
        .unwrap_or_else(|| panic!("partition {p} is free for {}", own.node()));
    own.hold(lease.clone(), Instant::now() + HOUR);
    lease
}

fn sql(url: &str, statement: &str) {
    let mut c = postgres::Client::connect(url, postgres::NoTls).expect("connect");
    c.batch_execute(statement).expect(statement);
}

/// A small deterministic generator (the test must fail the same way twice).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }

    /// 3–8 bands out of a small alphabet, so that cases share some.
    fn bands(&mut self) -> Vec<u64> {
        let k = 3 + self.next(6);
        (0..k).map(|_| 1 + self.next(40)).collect()
    }
}

const JURISDICTIONS: [&str; 3] = ["330106", "330102", "110105"];

#[test]
fn the_owners_index_answers_as_the_database_does() {
    let db = pg::TestDb::new("owner_same");
    let all: Vec<u16> = (0..PARTITIONS).collect();
    let (owner, _own) = owner(&db.url, "node-a", &all);
    // the same database through a store with no ownership: the GIN query
    let plain = Arc::new(PgStore::open(&db.url).unwrap());
    let mut rng = Lcg(18);
    let mut ids: Vec<String> = Vec::new();
    for i in 0..240 {
        let spec = Spec {
            received_at: T0 + rng.next(600) as Millis * MIN,
            jurisdiction: JURISDICTIONS[i % 3],
            ..Spec::default()
        };
        let mut new = with_bands(&spec, rng.bands());
        // every seventh a report linked to an earlier case of its jurisdiction (its matter's
        // span then reaches its master's latest report)
        if i % 7 == 6 {
            new.link_to = Some(paidan_store::Link {
                master_id: ids[i - 3].clone(),
                score: 0.9,
                text_excerpt: String::new(),
            });
        }
        ids.push(owner.insert_case(new).unwrap().case.id);
        if i == 20 {
            // a lookup before the rest: the index is built now and then kept up by the inserts
            owner
                .dedup_candidates("330106", &[1, 2, 3], Millis::MIN, Millis::MAX, 5)
                .unwrap();
        }
    }
    // another node closes some of them: their entries leave the database, not the index
    for id in ids.iter().step_by(5) {
        set_status(&plain, id, CaseStatus::Closed, "done", "op", T0).unwrap();
    }
    let (_, indexed_before, _) = owner.owner_index_stats();
    for q in 0..150 {
        let j = JURISDICTIONS[q % 3];
        let bands = rng.bands();
        let since = T0 + rng.next(700) as Millis * MIN - 50 * MIN;
        let until = since + rng.next(300) as Millis * MIN;
        let (since, until) = if q % 10 == 0 {
            (Millis::MIN, Millis::MAX)
        } else {
            (since, until)
        };
        let limit = 1 + rng.next(12) as usize;
        let want = plain
            .dedup_candidates(j, &bands, since, until, limit)
            .unwrap();
        let got = owner
            .dedup_candidates(j, &bands, since, until, limit)
            .unwrap();
        assert_eq!(
            got, want,
            "query {q}: {j} {bands:?} [{since}, {until}] limit {limit}"
        );
    }
    let (parts, indexed_after, bytes) = owner.owner_index_stats();
    assert_eq!(parts, PARTITIONS as usize);
    assert_eq!(indexed_before, 240, "every insert is in the index");
    // the closed cases the lookups met are forgotten (48 closed, most met by 150 lookups)
    assert!(
        indexed_after < indexed_before && indexed_after >= 240 - 48,
        "{indexed_before} → {indexed_after}"
    );
    assert!(bytes > 0);
}

#[test]
fn a_round_sees_its_own_inserts_and_the_index_gets_them_at_commit() {
    let db = pg::TestDb::new("owner_round");
    let p = partition_of("330106");
    let (store, _own) = owner(&db.url, "node-a", &[p]);
    let spec = |rid| Spec {
        request_id: rid,
        ..Spec::default()
    };
    let a = store
        .insert_case(with_bands(&spec("r-a"), vec![1, 2, 3]))
        .unwrap()
        .case
        .id;
    let ids = |v: Vec<(String, u32)>| v;
    // (the index is built by this lookup, with r-a in it)
    assert_eq!(
        ids(store
            .dedup_candidates("330106", &[1, 2, 3], Millis::MIN, Millis::MAX, 10)
            .unwrap()),
        vec![(a.clone(), 3)]
    );
    store.begin_round().unwrap();
    let b = store
        .insert_case(with_bands(&spec("r-b"), vec![2, 3, 4]))
        .unwrap()
        .case
        .id;
    // the round's own insert is a candidate in the round; not yet in the index
    assert_eq!(
        store
            .dedup_candidates("330106", &[2, 3, 4], Millis::MIN, Millis::MAX, 10)
            .unwrap(),
        vec![(b.clone(), 3), (a.clone(), 2)]
    );
    assert_eq!(store.owner_index_stats().1, 1);
    store.flush().unwrap();
    assert_eq!(store.owner_index_stats().1, 2, "added at COMMIT");
    assert_eq!(
        store
            .dedup_candidates("330106", &[4], Millis::MIN, Millis::MAX, 10)
            .unwrap(),
        vec![(b.clone(), 1)]
    );

    // a round that does not commit adds nothing
    store.begin_round().unwrap();
    let c = store
        .insert_case(with_bands(&spec("r-c"), vec![4, 5]))
        .unwrap()
        .case
        .id;
    assert!(store.get_case("PD\u{0}").is_err(), "aborts the round");
    assert!(store.flush().is_err());
    assert_eq!(store.owner_index_stats().1, 2);
    let found = store
        .dedup_candidates("330106", &[4, 5], Millis::MIN, Millis::MAX, 10)
        .unwrap();
    assert_eq!(found, vec![(b.clone(), 1)], "{c} was not stored");
}

#[test]
fn a_takeover_rebuilds_the_index_with_the_other_nodes_inserts() {
    let db = pg::TestDb::new("owner_takeover");
    let p = partition_of("330106");
    let (a, own_a) = owner(&db.url, "node-a", &[p]);
    let first = a
        .insert_case(with_bands(&Spec::default(), vec![1, 2]))
        .unwrap()
        .case
        .id;
    let lookup = |s: &PgStore| {
        let mut v: Vec<String> = s
            .dedup_candidates("330106", &[1, 2], Millis::MIN, Millis::MAX, 10)
            .unwrap()
            .into_iter()
            .map(|x| x.0)
            .collect();
        v.sort();
        v
    };
    assert_eq!(lookup(&a), vec![first.clone()]);
    assert_eq!(a.owner_index_stats().0, 1);

    // node-a stops renewing; its lease runs out and node-b takes the partition over
    own_a.drop_partition(p);
    sql(
        &db.url,
        "UPDATE partition_leases SET expires_at = now() - interval '1 second'",
    );
    let (b, own_b) = owner(&db.url, "node-b", &[p]);
    let second = b
        .insert_case(with_bands(&Spec::default(), vec![2, 3]))
        .unwrap()
        .case
        .id;
    // node-a, without the lease, asks the database (and dropped its index)
    assert_eq!(lookup(&a), vec![first.clone(), second.clone()]);
    assert_eq!(a.owner_index_stats().0, 0);

    // node-b goes away in turn; node-a takes the partition back at a new epoch
    own_b.drop_partition(p);
    sql(
        &db.url,
        "UPDATE partition_leases SET expires_at = now() - interval '1 second'",
    );
    let lease = hold(&a, &own_a, p);
    assert_eq!(lease.epoch, 3);
    assert_eq!(lookup(&a), vec![first, second]);
    assert_eq!(a.owner_index_stats(), (1, 2, a.owner_index_stats().2));
}
