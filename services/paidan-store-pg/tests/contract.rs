//! The store contract, once, for every store: each check runs on a fresh `SledStore` and on a
//! fresh `PgStore` (its own PostgreSQL database) through `&dyn Store`, with the store crate's
//! fixtures. A store that fails a check is named with the check.
//!
//! The sled-only parts of `paidan-store/tests/store.rs` (its consistency check, the band index
//! snapshot, corrupt sled values, schema versions) stay there; what any store must do is here.

#[path = "../../paidan-store/tests/common/mod.rs"]
mod common;
mod pg;

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use common::*;
use paidan_store::*;
use paidan_store_pg::{Ownership, PARTITIONS, PgStore};

/// A store under test: `open` gives a handle on its data (a second `open` after the first handle
/// is dropped sees the same data: a restart).
trait Backend {
    fn open(&self) -> Box<dyn Store>;
}

struct Sled(tempfile::TempDir);

impl Backend for Sled {
    fn open(&self) -> Box<dyn Store> {
        Box::new(SledStore::open(self.0.path()).expect("open sled"))
    }
}

struct Pg(pg::TestDb);

impl Backend for Pg {
    fn open(&self) -> Box<dyn Store> {
        Box::new(PgStore::open(&self.0.url).expect("open postgres"))
    }
}

/// PostgreSQL on a node that holds every partition: lookups go through the owner's in-memory
/// band index (`paidan-store-pg`'s `owned`), inserts are fenced. A reopen (a restart) takes the
/// leases again and builds the index from the database.
struct PgOwner(pg::TestDb);

impl Backend for PgOwner {
    fn open(&self) -> Box<dyn Store> {
        const HOUR: std::time::Duration = std::time::Duration::from_secs(3600);
        let store = PgStore::open(&self.0.url).expect("open postgres");
        let own = Arc::new(Ownership::new("contract-node"));
        for p in 0..PARTITIONS {
            let lease = store
                .acquire_lease(p, own.node(), HOUR)
                .unwrap()
                .expect("this node's partition");
            own.hold(lease, std::time::Instant::now() + HOUR);
        }
        store.fence_with(own);
        Box::new(store)
    }
}

type Check = fn(&dyn Backend);

const CHECKS: &[(&str, Check)] = &[
    ("list filters narrow and page newest first", list_filters),
    ("request ids are idempotent", request_ids),
    ("case ids are short, sortable and unique", case_ids),
    (
        "dedup bands find candidates, closing removes them",
        dedup_bands,
    ),
    ("dedup candidates follow their matter's span", dedup_spans),
    ("hot issues rank by reports in the window", hot_issues),
    (
        "the outbox keeps per-case order across a restart",
        outbox_order,
    ),
    ("dead letters are listed, retried and dropped", dead_letters),
    ("writes survive a restart", restart),
    (
        "concurrent writers keep the outbox in order",
        concurrent_writers,
    ),
    (
        "one request sent by racing writers is stored once",
        racing_requests,
    ),
    ("an edit is written whole or not at all", edit_whole),
    ("corrections and the audit trail are kept in order", logs),
    (
        "figures change with every case write and survive a restart",
        figures_counted,
    ),
    (
        "pending deadlines come by deadline and follow every write",
        deadlines_pending,
    ),
    (
        "each event keeps its matter's reports as they stood",
        payload_reports,
    ),
    (
        "the candidate cut keeps the most shared, then the newest",
        candidate_cut,
    ),
    (
        "a re-key replaces every entry's keys, once, across a restart",
        rekey,
    ),
];

fn run(store: &str, make: &dyn Fn() -> Box<dyn Backend>) {
    run_checks(store, make, CHECKS.iter().map(|(w, _)| *w).collect())
}

fn run_checks(store: &str, make: &dyn Fn() -> Box<dyn Backend>, only: Vec<&str>) {
    let mut failed = Vec::new();
    for (what, check) in CHECKS.iter().filter(|(w, _)| only.contains(w)) {
        let backend = make();
        if std::panic::catch_unwind(AssertUnwindSafe(|| check(&*backend))).is_err() {
            failed.push(*what);
        }
    }
    assert!(
        failed.is_empty(),
        "the {store} store breaks the contract: {failed:#?}"
    );
}

#[test]
fn the_sled_store_keeps_the_contract() {
    run("sled", &|| {
        Box::new(Sled(tempfile::tempdir().unwrap())) as Box<dyn Backend>
    });
}

#[test]
fn the_postgres_store_keeps_the_contract() {
    run("PostgreSQL", &|| {
        Box::new(Pg(pg::TestDb::new("contract"))) as Box<dyn Backend>
    });
}

#[test]
fn the_postgres_store_keeps_the_contract_as_the_partitions_owner() {
    // Every check but the outbox's: in a cluster the outbox is claimed per partition (a due
    // event is handed out once per claim), which `tests/lease.rs` checks.
    let checks = CHECKS
        .iter()
        .map(|(w, _)| *w)
        .filter(|w| !w.contains("outbox") && !w.contains("dead letters"))
        .collect();
    run_checks(
        "PostgreSQL (partition owner)",
        &|| Box::new(PgOwner(pg::TestDb::new("contract_owner"))) as Box<dyn Backend>,
        checks,
    );
}

fn ids_of(cases: &[CaseRecord]) -> Vec<&str> {
    cases.iter().map(|c| c.id.as_str()).collect()
}

fn list_filters(b: &dyn Backend) {
    let store = b.open();
    let store = &*store;
    use Channel::*;
    let specs = [
        // (minute, channel, jurisdiction, category, department)
        (0, Hotline12345, "330106", "CAT.NOISE", "DEPT.ENV"),
        (1, Hotline12319, "330106", "CAT.HOUSING", "DEPT.HOUSING"),
        (2, Hotline12345, "330102", "CAT.NOISE", "DEPT.ENV"),
        (3, Web, "330106", "CAT.ROADS", "DEPT.TRANSPORT"),
        (4, Hotline12345, "330106", "CAT.NOISE", "DEPT.CITY"),
        (5, Hotline12319, "330102", "CAT.HOUSING", "DEPT.HOUSING"),
        (6, Hotline12345, "330106", "CAT.NOISE", "DEPT.ENV"),
        // same instant as the one before: ties are ordered by id
        (6, Web, "330106", "CAT.ROADS", "DEPT.TRANSPORT"),
    ];
    let ids: Vec<String> = specs
        .iter()
        .map(|&(m, ch, j, cat, dept)| {
            let spec = Spec {
                received_at: T0 + m * MIN,
                channel: ch,
                jurisdiction: j,
                category: cat,
                department: dept,
                ..Spec::default()
            };
            insert(store, &spec).id
        })
        .collect();
    set_status(store, &ids[6], CaseStatus::Dispatched, "", "op", T0).unwrap();
    set_status(store, &ids[2], CaseStatus::Closed, "", "op", T0).unwrap();
    let f = CaseFilter::default;
    // (name, filter, expected case indexes, newest first)
    let table: Vec<(&str, CaseFilter, Vec<usize>)> = vec![
        ("all", f(), vec![7, 6, 5, 4, 3, 2, 1, 0]),
        (
            "category",
            CaseFilter {
                category: Some("CAT.NOISE".into()),
                ..f()
            },
            vec![6, 4, 2, 0],
        ),
        (
            "department",
            CaseFilter {
                department: Some("DEPT.HOUSING".into()),
                ..f()
            },
            vec![5, 1],
        ),
        (
            "channel",
            CaseFilter {
                channel: Some(Hotline12319),
                ..f()
            },
            vec![5, 1],
        ),
        (
            "jurisdiction",
            CaseFilter {
                jurisdiction: Some("330102".into()),
                ..f()
            },
            vec![5, 2],
        ),
        (
            "status accepted",
            CaseFilter {
                status: Some(CaseStatus::Accepted),
                ..f()
            },
            vec![7, 5, 4, 3, 1, 0],
        ),
        (
            "status closed",
            CaseFilter {
                status: Some(CaseStatus::Closed),
                ..f()
            },
            vec![2],
        ),
        (
            "category+jurisdiction+status",
            CaseFilter {
                category: Some("CAT.NOISE".into()),
                jurisdiction: Some("330106".into()),
                status: Some(CaseStatus::Accepted),
                ..f()
            },
            vec![4, 0],
        ),
        (
            "time window",
            CaseFilter {
                received_after: Some(T0 + 2 * MIN),
                received_before: Some(T0 + 5 * MIN),
                ..f()
            },
            vec![4, 3, 2],
        ),
        (
            "time + channel",
            CaseFilter {
                received_after: Some(T0 + MIN),
                channel: Some(Hotline12345),
                ..f()
            },
            vec![6, 4, 2],
        ),
        (
            "empty window",
            CaseFilter {
                received_after: Some(T0 + 5 * MIN),
                received_before: Some(T0 + 5 * MIN),
                ..f()
            },
            vec![],
        ),
        (
            "unknown category",
            CaseFilter {
                category: Some("CAT.NONE".into()),
                ..f()
            },
            vec![],
        ),
    ];
    for (name, filter, want) in table {
        let want: Vec<&str> = want.iter().map(|&i| ids[i].as_str()).collect();
        let page = store.list_cases(&filter, 100, None).unwrap();
        assert_eq!(ids_of(&page.cases), want, "{name}");
        assert!(page.next_token.is_none(), "{name}");
        let mut paged = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = store.list_cases(&filter, 2, token.as_deref()).unwrap();
            assert!(page.cases.len() <= 2, "{name}");
            paged.extend(page.cases.into_iter().map(|c| c.id));
            match page.next_token {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        assert_eq!(paged, want, "{name} (paged)");
    }
    for bad in ["garbage", "zzzzzzzzzzzzzzzzPD1", "80000000000000"] {
        assert!(
            matches!(
                store.list_cases(&CaseFilter::default(), 10, Some(bad)),
                Err(StoreError::InvalidPageToken)
            ),
            "{bad}"
        );
    }
}

fn request_ids(b: &dyn Backend) {
    let store = b.open();
    let spec = |request_id, digest| Spec {
        request_id,
        digest,
        ..Spec::default()
    };
    let first = store.insert_case(new_case(&spec("r-1", "aaa"))).unwrap();
    assert!(first.created);
    enum Want {
        SameCase,
        Conflict,
        NewCase,
    }
    let table = [
        ("r-1", "aaa", Want::SameCase),
        ("r-1", "bbb", Want::Conflict),
        ("r-1", "aaa", Want::SameCase),
        ("r-2", "aaa", Want::NewCase),
        ("", "aaa", Want::NewCase),
        ("", "aaa", Want::NewCase),
    ];
    for (rid, digest, want) in table {
        let r = store.insert_case(new_case(&spec(rid, digest)));
        match want {
            Want::SameCase => {
                let ins = r.unwrap();
                assert!(!ins.created, "{rid}/{digest}");
                assert_eq!(ins.case, first.case);
            }
            Want::Conflict => match r {
                Err(StoreError::Conflict {
                    request_id,
                    case_id,
                }) => assert_eq!((request_id.as_str(), case_id), (rid, first.case.id.clone())),
                other => panic!("{rid}/{digest}: expected Conflict, got {other:?}"),
            },
            Want::NewCase => {
                let ins = r.unwrap();
                assert!(ins.created);
                assert_ne!(ins.case.id, first.case.id);
            }
        }
    }
    // retries enqueued nothing: 4 cases created, 4 Created events
    assert_eq!(store.outbox_len(false).unwrap(), 4);
    assert_eq!(store.get_case("PD999999999999").unwrap(), None);
}

fn case_ids(b: &dyn Backend) {
    let store = b.open();
    let ids: Vec<String> = (0..20)
        .map(|_| insert(&*store, &Spec::default()).id)
        .collect();
    for w in ids.windows(2) {
        assert!(w[0] < w[1]);
    }
    for id in &ids {
        assert_eq!(id.len(), 14);
        assert!(id.starts_with("PD") && id[2..].bytes().all(|b| b.is_ascii_digit()));
    }
}

fn with_bands(spec: &Spec<'_>, bands: Vec<u64>) -> NewCase {
    let mut n = new_case(spec);
    n.dedup = Some(DedupEntry {
        jurisdiction: spec.jurisdiction.to_string(),
        bands,
        fingerprint: vec![1, 2, 3],
        received_at: spec.received_at,
        category: spec.category.to_string(),
    });
    n
}

fn dedup_bands(b: &dyn Backend) {
    let store = b.open();
    let store = &*store;
    let mk = |bands: Vec<u64>, jurisdiction: &str| {
        let spec = Spec {
            jurisdiction,
            ..Spec::default()
        };
        store.insert_case(with_bands(&spec, bands)).unwrap().case.id
    };
    let a = mk(vec![10, 20, 30, 40], "330106");
    let bb = mk(vec![10, 20, 99, 98], "330106");
    let c = mk(vec![11, 20, 31, 41], "330106");
    let other = mk(vec![10, 20, 30, 40], "330102");
    // a band key is u64: the top bit must survive the store
    let high = mk(vec![u64::MAX, 1 << 63], "330107");
    // (jurisdiction, query bands, expected (id, shared))
    type Row<'a> = (&'a str, Vec<u64>, Vec<(&'a str, u32)>);
    let table: Vec<Row<'_>> = vec![
        (
            "330106",
            vec![10, 20, 30, 40],
            vec![(&a, 4), (&bb, 2), (&c, 1)],
        ),
        ("330106", vec![0, 0, 99, 0], vec![(&bb, 1)]),
        // bands are a set: the same values in another order are found
        (
            "330106",
            vec![20, 10, 0, 0],
            vec![(&a, 2), (&bb, 2), (&c, 1)],
        ),
        ("330106", vec![0, 0, 0, 0, 0, 0, 40], vec![(&a, 1)]),
        // a band repeated in the query is shared once
        ("330106", vec![40, 40, 30, 30], vec![(&a, 2)]),
        ("330102", vec![10, 20, 30, 40], vec![(&other, 4)]),
        ("330107", vec![1 << 63, 5, u64::MAX], vec![(&high, 2)]),
        ("110000", vec![10, 20, 30, 40], vec![]),
        ("330106", vec![], vec![]),
    ];
    for (j, bands, want) in &table {
        let mut got = store
            .dedup_candidates(j, bands, i64::MIN, i64::MAX, 10)
            .unwrap();
        // ties have no defined order: compare as sets within equal counts
        got.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
        let mut want: Vec<(String, u32)> =
            want.iter().map(|(id, n)| (id.to_string(), *n)).collect();
        want.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
        assert_eq!(got, want, "{j} {bands:?}");
    }
    assert_eq!(
        store
            .dedup_candidates("330106", &[10, 20, 30, 40], i64::MIN, i64::MAX, 1)
            .unwrap(),
        vec![(a.clone(), 4)]
    );
    assert_eq!(
        store.dedup_entry(&a).unwrap().unwrap().bands,
        vec![10, 20, 30, 40]
    );
    set_status(store, &a, CaseStatus::Closed, "done", "op", T0).unwrap();
    assert_eq!(store.dedup_entry(&a).unwrap(), None);
    let left: Vec<String> = store
        .dedup_candidates("330106", &[10, 20, 30, 40], i64::MIN, i64::MAX, 10)
        .unwrap()
        .into_iter()
        .map(|x| x.0)
        .collect();
    assert_eq!(left, vec![bb.clone(), c.clone()]);
    // a correction updates the indexed category
    set_labels(store, &bb, Some("CAT.ROADS"), None, "", "op", T0).unwrap();
    assert_eq!(
        store.dedup_entry(&bb).unwrap().unwrap().category,
        "CAT.ROADS"
    );
}

fn dedup_spans(b: &dyn Backend) {
    let store = b.open();
    let store = &*store;
    let at = |m: i64| Spec {
        received_at: T0 + m * MIN,
        ..Spec::default()
    };
    let master = store
        .insert_case(with_bands(&at(0), vec![1, 2, 3]))
        .unwrap()
        .case;
    let lone = store
        .insert_case(with_bands(&at(5), vec![1, 7]))
        .unwrap()
        .case;
    // a report of the master's matter at minute 60 keeps the master's span open until then
    let mut n = with_bands(&at(60), vec![3, 9]);
    n.link_to = Some(Link {
        master_id: master.id.clone(),
        score: 0.9,
        text_excerpt: "x".into(),
    });
    let report = store.insert_case(n).unwrap().case;
    // (since, until) in minutes → the candidates for bands 1, 3, 7 (ids sorted)
    let table: Vec<(i64, i64, Vec<&str>)> = vec![
        (0, 100, vec![&master.id, &lone.id, &report.id]),
        (30, 100, vec![&master.id, &report.id]),
        (6, 59, vec![&master.id]),
        (61, 100, vec![]),
        (-10, -1, vec![]),
        (0, 4, vec![&master.id]),
    ];
    for (since, until, want) in table {
        let mut got: Vec<String> = store
            .dedup_candidates("330106", &[1, 3, 7], T0 + since * MIN, T0 + until * MIN, 10)
            .unwrap()
            .into_iter()
            .map(|x| x.0)
            .collect();
        got.sort();
        assert_eq!(got, want, "[{since}, {until}]");
    }
}

fn hot_issues(b: &dyn Backend) {
    let store = b.open();
    let store = &*store;
    let at = |m: i64| Spec {
        received_at: T0 + m * MIN,
        ..Spec::default()
    };
    let a = insert(store, &at(0));
    let bm = insert(
        store,
        &Spec {
            category: "CAT.ROADS",
            ..at(1)
        },
    );
    let c = insert(
        store,
        &Spec {
            jurisdiction: "330102",
            ..at(2)
        },
    );
    for m in [10, 11] {
        linked(store, &at(m), &a.id, 0.9);
    }
    for m in [12, 13, 14] {
        linked(store, &at(m), &bm.id, 0.9);
    }
    linked(store, &at(15), &c.id, 0.9);
    type Want<'a> = Vec<(&'a str, u32, i64, i64)>;
    // (jurisdiction, category, since, until) → [(master, count, first, last)]
    type Row<'a> = (Option<&'a str>, Option<&'a str>, i64, i64, Want<'a>);
    let table: Vec<Row<'_>> = vec![
        (
            None,
            None,
            0,
            100,
            vec![(&bm.id, 4, 1, 14), (&a.id, 3, 0, 11), (&c.id, 2, 2, 15)],
        ),
        (
            None,
            None,
            10,
            100,
            vec![(&bm.id, 3, 12, 14), (&a.id, 2, 10, 11), (&c.id, 1, 15, 15)],
        ),
        // equal counts: the latest report first
        (
            None,
            None,
            11,
            14,
            vec![(&bm.id, 2, 12, 13), (&a.id, 1, 11, 11)],
        ),
        (Some("330102"), None, 0, 100, vec![(&c.id, 2, 2, 15)]),
        (
            None,
            Some("CAT.NOISE"),
            0,
            100,
            vec![(&a.id, 3, 0, 11), (&c.id, 2, 2, 15)],
        ),
        (None, None, 50, 100, vec![]),
    ];
    for (j, cat, since, until, want) in table {
        let got = store
            .hot_issues(j, cat, T0 + since * MIN, T0 + until * MIN, 10)
            .unwrap();
        let got: Want<'_> = got
            .iter()
            .map(|h| {
                (
                    h.master.id.as_str(),
                    h.report_count,
                    (h.first_report_at - T0) / MIN,
                    (h.last_report_at - T0) / MIN,
                )
            })
            .collect();
        assert_eq!(got, want, "{j:?} {cat:?} [{since}, {until})");
    }
    let one = store.hot_issues(None, None, T0, T0 + 100 * MIN, 1).unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].master.report_count(), 4);
}

fn due_keys(store: &dyn Store, now: Millis) -> Vec<String> {
    store
        .outbox_due(now, 10)
        .unwrap()
        .into_iter()
        .map(|e| e.idempotency_key)
        .collect()
}

fn outbox_order(b: &dyn Backend) {
    let all = sinks(&["grpc", "hook"]);
    let (a, bc);
    {
        let store = b.open();
        let store = &*store;
        a = insert(store, &Spec::default());
        bc = insert(store, &Spec::default());
        set_status(store, &a.id, CaseStatus::Dispatched, "", "op", T0 + 5).unwrap();
        set_status(store, &a.id, CaseStatus::InProgress, "", "op", T0 + 6).unwrap();
        // only the heads are due: a:1 and b:1
        let due = store.outbox_due(T0 + 100, 10).unwrap();
        let keys: Vec<_> = due.iter().map(|e| e.idempotency_key.clone()).collect();
        assert_eq!(keys, vec![format!("{}:1", a.id), format!("{}:1", bc.id)]);
        // the payload is the case as the event's change left it
        assert_eq!(due[0].case.status, CaseStatus::Accepted);
        assert_eq!(due[0].kind, EventKind::Created);
        // a:1 fails and backs off: a:2 must not overtake it
        store
            .outbox_failed(due[0].seq, "unavailable", T0 + 1_000, false)
            .unwrap();
        assert_eq!(due_keys(store, T0 + 100), vec![format!("{}:1", bc.id)]);
        let c = store.get_case(&a.id).unwrap().unwrap();
        assert_eq!(
            (
                c.forwarding.state,
                c.forwarding.attempts,
                c.forwarding.last_error.as_str()
            ),
            (ForwardingState::Pending, 1, "unavailable")
        );
        // one of two sinks acknowledges b:1: it stays
        assert!(
            !store
                .outbox_delivered(due[1].seq, "grpc", &all, T0 + 101)
                .unwrap()
        );
        let e = store.outbox_due(T0 + 100, 10).unwrap().remove(0);
        assert_eq!(e.delivered_to, vec!["grpc".to_string()]);
        assert!(
            store
                .outbox_delivered(due[1].seq, "hook", &all, T0 + 102)
                .unwrap()
        );
        assert!(
            !store
                .outbox_delivered(due[1].seq, "hook", &all, T0 + 102)
                .unwrap(),
            "a second ack is a no-op"
        );
        let done = store.get_case(&bc.id).unwrap().unwrap();
        assert_eq!(
            (
                done.forwarding.state,
                done.forwarding.events_delivered,
                done.forwarding.delivered_at
            ),
            (ForwardingState::Delivered, 1, Some(T0 + 102))
        );
        assert_eq!(store.outbox_len(false).unwrap(), 3);
        store.flush().unwrap();
    }
    let store = b.open();
    let store = &*store;
    assert_eq!(store.outbox_len(false).unwrap(), 3);
    assert!(
        due_keys(store, T0 + 999).is_empty(),
        "a:1 still backing off after the restart"
    );
    let payloads: Vec<CaseStatus> = store
        .outbox_list(false, 10)
        .unwrap()
        .iter()
        .map(|e| e.case.status)
        .collect();
    assert_eq!(
        payloads,
        vec![
            CaseStatus::Accepted,
            CaseStatus::Dispatched,
            CaseStatus::InProgress
        ]
    );
    let order = drain(store, T0 + 1_000, &all);
    assert_eq!(
        order,
        vec![
            format!("{}:1", a.id),
            format!("{}:2", a.id),
            format!("{}:3", a.id)
        ]
    );
    let ac = store.get_case(&a.id).unwrap().unwrap();
    assert_eq!(
        (
            ac.forwarding.state,
            ac.forwarding.events_delivered,
            ac.forwarding.events_pending
        ),
        (ForwardingState::Delivered, 3, 0)
    );
    assert_eq!(store.outbox_len(false).unwrap(), 0);
}

fn dead_letters(b: &dyn Backend) {
    let store = b.open();
    let store = &*store;
    let all = sinks(&["grpc"]);
    let a = insert(store, &Spec::default());
    set_status(store, &a.id, CaseStatus::Dispatched, "", "op", T0 + 5).unwrap();
    let bc = insert(store, &Spec::default());
    let due = store.outbox_due(T0 + 10, 10).unwrap();
    assert_eq!(due.len(), 2);
    // a:1 is rejected for good: it goes dead and a:2 becomes due
    store
        .outbox_failed(due[0].seq, "400 bad request", 0, true)
        .unwrap();
    store
        .outbox_failed(due[1].seq, "invalid argument", 0, true)
        .unwrap();
    assert_eq!(
        (
            store.outbox_len(false).unwrap(),
            store.outbox_len(true).unwrap()
        ),
        (1, 2)
    );
    let dead = store.outbox_list(true, 10).unwrap();
    assert_eq!(
        dead.iter()
            .map(|e| (e.idempotency_key.clone(), e.attempts, e.last_error.clone()))
            .collect::<Vec<_>>(),
        vec![
            (format!("{}:1", a.id), 1, "400 bad request".to_string()),
            (format!("{}:1", bc.id), 1, "invalid argument".to_string()),
        ]
    );
    assert_eq!(
        store.get_case(&a.id).unwrap().unwrap().forwarding.state,
        ForwardingState::Dead
    );
    assert_eq!(due_keys(store, T0 + 10), vec![format!("{}:2", a.id)]);
    // retry a:1 by key: it goes back in front of a:2
    assert_eq!(
        store
            .outbox_retry_dead(&[format!("{}:1", a.id)], T0 + 20)
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .outbox_retry_dead(&["nope".to_string()], T0 + 20)
            .unwrap(),
        0
    );
    assert_eq!(
        drain(store, T0 + 20, &all),
        vec![format!("{}:1", a.id), format!("{}:2", a.id)]
    );
    assert_eq!(
        store.get_case(&a.id).unwrap().unwrap().forwarding.state,
        ForwardingState::Delivered
    );
    // drop b:1 by seq; an empty list drops nothing
    let seq = store.outbox_list(true, 10).unwrap()[0].seq;
    assert_eq!(
        store.outbox_drop_dead(&[]).unwrap(),
        0,
        "drop never means all"
    );
    assert_eq!(store.outbox_drop_dead(&[seq.to_string()]).unwrap(), 1);
    assert_eq!(
        (
            store.outbox_len(false).unwrap(),
            store.outbox_len(true).unwrap()
        ),
        (0, 0)
    );
    assert!(matches!(
        store.outbox_failed(12345, "x", 0, false),
        Err(StoreError::Invalid(_))
    ));
    // retry with no keys: every dead letter
    let c = insert(store, &Spec::default());
    let due = store.outbox_due(T0 + 30, 10).unwrap();
    store.outbox_failed(due[0].seq, "gone", 0, true).unwrap();
    assert_eq!(store.outbox_retry_dead(&[], T0 + 40).unwrap(), 1);
    assert_eq!(drain(store, T0 + 40, &all), vec![format!("{}:1", c.id)]);
}

fn restart(b: &dyn Backend) {
    let mut ids = Vec::new();
    {
        let store = b.open();
        let store = &*store;
        for i in 0..60 {
            let rid = format!("req-{i}");
            let c = insert(
                store,
                &Spec {
                    received_at: T0 + i,
                    request_id: &rid,
                    ..Spec::default()
                },
            );
            if i % 3 == 0 {
                set_status(store, &c.id, CaseStatus::Dispatched, "", "op", T0).unwrap();
            }
            ids.push(c.id);
        }
        store.flush().unwrap();
    }
    let store = b.open();
    let store = &*store;
    for (i, id) in ids.iter().enumerate() {
        let c = store.get_case(id).unwrap().unwrap();
        assert_eq!(c.request_id, format!("req-{i}"));
    }
    let dispatched = store
        .list_cases(
            &CaseFilter {
                status: Some(CaseStatus::Dispatched),
                ..Default::default()
            },
            1000,
            None,
        )
        .unwrap();
    assert_eq!(dispatched.cases.len(), 20);
    // new ids after a restart never collide with old ones
    let fresh = insert(store, &Spec::default());
    assert!(!ids.contains(&fresh.id));
    assert!(fresh.id > *ids.last().unwrap());
}

fn concurrent_writers(b: &dyn Backend) {
    let store: Arc<dyn Store> = Arc::from(b.open());
    let master = insert(&*store, &Spec::default());
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let store = store.clone();
            let master = master.id.clone();
            std::thread::spawn(move || {
                for i in 0..12 {
                    let rid = format!("t{t}-{i}");
                    let spec = Spec {
                        request_id: &rid,
                        received_at: T0 + i,
                        ..Spec::default()
                    };
                    let c = if i % 2 == 0 {
                        linked(&*store, &spec, &master, 0.9)
                    } else {
                        insert(&*store, &spec)
                    };
                    // the same request again: idempotent
                    assert!(!store.insert_case(new_case(&spec)).unwrap().created);
                    if i % 2 == 1 {
                        set_status(&*store, &c.id, CaseStatus::Dispatched, "", "op", T0).unwrap();
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let m = store.get_case(&master.id).unwrap().unwrap();
    assert_eq!(m.report_count(), 1 + 4 * 6);
    // master: Created + 24 DuplicateLinked in sequence order; 24 others × (Created, Updated)
    let order = drain(&*store, T0 + MIN, &sinks(&["s"]));
    assert_eq!(order.len(), 1 + 24 + 24 * 2);
    let prefix = format!("{}:", master.id);
    let master_seqs: Vec<u64> = order
        .iter()
        .filter_map(|k| k.strip_prefix(&prefix).map(|s| s.parse().unwrap()))
        .collect();
    assert_eq!(master_seqs, (1..=25).collect::<Vec<u64>>());
}

fn racing_requests(b: &dyn Backend) {
    let store: Arc<dyn Store> = Arc::from(b.open());
    let start = Arc::new(std::sync::Barrier::new(4));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (store, start) = (store.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                (0..15)
                    .map(|i| {
                        let rid = format!("same-{i}");
                        let spec = Spec {
                            request_id: &rid,
                            ..Spec::default()
                        };
                        let ins = store.insert_case(new_case(&spec)).unwrap();
                        (rid.clone(), ins.case.id, ins.created)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut by_request = std::collections::BTreeMap::<String, Vec<(String, bool)>>::new();
    for t in threads {
        for (rid, id, created) in t.join().unwrap() {
            by_request.entry(rid).or_default().push((id, created));
        }
    }
    assert_eq!(by_request.len(), 15);
    for (rid, answers) in &by_request {
        let ids: std::collections::BTreeSet<&String> = answers.iter().map(|a| &a.0).collect();
        let created = answers.iter().filter(|a| a.1).count();
        assert_eq!((ids.len(), created), (1, 1), "{rid}: {answers:?}");
    }
    assert_eq!(store.outbox_len(false).unwrap(), 15);
}

fn edit_whole(b: &dyn Backend) {
    let store = b.open();
    let store = &*store;
    let a = insert(store, &Spec::default());
    let bc = insert(store, &Spec::default());
    let state = || {
        (
            store.get_case(&a.id).unwrap(),
            store.get_case(&bc.id).unwrap(),
            store.outbox_len(false).unwrap(),
            store.corrections().unwrap().len(),
        )
    };
    let before = state();
    let touch = |c: &mut CaseRecord| c.title = "changed".into();
    let unread_b = store.get_case(&bc.id).unwrap().unwrap();
    type Rule<'a> = Box<dyn Fn(&mut dyn CaseReader) -> Result<CaseEdit> + 'a>;
    let table: Vec<(&str, Rule<'_>, &str)> = vec![
        (
            "the rule refuses after reading",
            Box::new(|r| {
                r.case(&a.id)?;
                Err(StoreError::Invalid("refused".into()))
            }),
            "invalid request: refused",
        ),
        (
            "a case that does not exist",
            Box::new(|r| {
                r.case(&a.id)?;
                r.case("PD000000999999")?;
                Ok(CaseEdit::at(T0))
            }),
            "case PD000000999999 not found",
        ),
        (
            "writes a case it did not read",
            Box::new(|r| {
                let mut x = r.case(&a.id)?;
                touch(&mut x);
                let mut y = unread_b.clone();
                touch(&mut y);
                let mut e = CaseEdit::at(T0);
                e.cases = vec![x, y];
                Ok(e)
            }),
            "without reading it first",
        ),
        (
            "an event for a case it does not write",
            Box::new(|r| {
                let mut x = r.case(&a.id)?;
                touch(&mut x);
                r.case(&bc.id)?;
                let mut e = CaseEdit::at(T0);
                e.cases.push(x);
                e.event(&bc.id, EventKind::Updated);
                Ok(e)
            }),
            "which it does not write",
        ),
    ];
    for (what, rule, want) in table {
        let err = store.edit_cases(&*rule).unwrap_err().to_string();
        assert!(err.contains(want), "{what}: {err}");
        assert_eq!(state(), before, "{what}: nothing is written");
    }
    // a good edit: both cases, one event each, in the edit's order
    let out = store
        .edit_cases(&|r| {
            let mut e = CaseEdit::at(T0 + 1);
            for id in [&bc.id, &a.id] {
                let mut c = r.case(id)?;
                touch(&mut c);
                e.event_if_master(&c, EventKind::Updated);
                e.cases.push(c);
            }
            Ok(e)
        })
        .unwrap();
    assert_eq!(ids_of(&out), vec![bc.id.as_str(), a.id.as_str()]);
    assert!(out.iter().all(|c| c.forwarding.next_sequence == 3));
    assert_eq!(store.get_case(&a.id).unwrap().unwrap().title, "changed");
    assert_eq!(store.outbox_len(false).unwrap(), before.2 + 2);
}

fn logs(b: &dyn Backend) {
    let store = b.open();
    let store = &*store;
    let a = insert(store, &Spec::default());
    for (i, cat) in ["CAT.ROADS", "CAT.HOUSING", "CAT.NOISE"].iter().enumerate() {
        set_labels(store, &a.id, Some(cat), None, "fix", "op", T0 + i as i64).unwrap();
    }
    let after: Vec<String> = store
        .corrections()
        .unwrap()
        .into_iter()
        .map(|c| c.category_after)
        .collect();
    assert_eq!(after, vec!["CAT.ROADS", "CAT.HOUSING", "CAT.NOISE"]);
    assert_eq!(store.get_case(&a.id).unwrap().unwrap().corrections.len(), 3);
    for i in 0..5 {
        store
            .append_audit(&AuditEvent {
                at: T0 + i,
                actor: "token:op".into(),
                action: "update_status".into(),
                target: format!("case-{i}"),
                detail: "详情".into(),
            })
            .unwrap();
    }
    let newest: Vec<String> = store
        .audit_log(3)
        .unwrap()
        .into_iter()
        .map(|e| e.target)
        .collect();
    assert_eq!(newest, vec!["case-4", "case-3", "case-2"]);
}

/// Figures: every case write changes the counters in its transaction. A scripted sequence written
/// through `insert_case` and `edit_cases` (as the core's rules would write it) gives the
/// hand-computed sums, the same as counting the stored cases afresh, and again after a restart.
fn figures_counted(b: &dyn Backend) {
    use paidan_store::figures::{self, Counter::*, Dim, FigureQuery, FigureSum};
    const H: Millis = 3_600_000;
    let edit = |store: &dyn Store, id: &str, at: Millis, f: &dyn Fn(&mut CaseRecord)| {
        store
            .edit_cases(&|r| {
                let mut c = r.case(id)?;
                f(&mut c);
                let mut e = CaseEdit::at(at);
                e.cases.push(c);
                Ok(e)
            })
            .unwrap();
    };
    let moved = |c: &mut CaseRecord, to: CaseStatus, at: Millis| {
        c.history.push(StatusChange {
            from: c.status,
            to,
            note: String::new(),
            actor: "op".into(),
            at,
        });
        c.status = to;
    };
    let q = FigureQuery {
        jurisdiction: None,
        since: T0,
        until: T0 + 24 * H,
        now: T0 + 24 * H,
    };
    // (department or category, counter, n), sorted as the sums are
    let want = |rows: &[(Dim, &str, figures::Counter, i64)]| {
        let mut v: Vec<FigureSum> = rows
            .iter()
            .map(|&(dim, name, counter, n)| FigureSum {
                dim,
                name: name.into(),
                counter,
                n,
            })
            .collect();
        v.sort();
        v
    };
    let sums = |store: &dyn Store| {
        let mut v = store.figures(&q).unwrap();
        v.sort();
        v
    };
    let recount = |store: &dyn Store| {
        let all = store
            .list_cases(&CaseFilter::default(), 1000, None)
            .unwrap();
        let mut totals = std::collections::BTreeMap::new();
        for c in &all.cases {
            figures::add_case(&mut totals, c);
        }
        let mut v = figures::sum(
            totals
                .iter()
                .filter(|(k, _)| q.covers(k))
                .map(|(k, n)| (k, *n)),
        );
        v.sort();
        v
    };
    let expected = {
        use Dim::{Category as C, Department as D};
        want(&[
            (D, "DEPT.ENV", Received, 2),
            (D, "DEPT.ENV", Resolved, 1),
            (D, "DEPT.ENV", ResolvedOnTime, 1),
            (D, "DEPT.ENV", ResolveMillis, 5 * H),
            (D, "DEPT.ENV", Returned, 1),
            (D, "DEPT.ENV", Rated, 1),
            (D, "DEPT.ENV", Satisfied, 1),
            (D, "DEPT.ENV", OpenByDue, 1),
            (D, "DEPT.WATER", Received, 1),
            (C, "CAT.NOISE", Received, 3),
            (C, "CAT.NOISE", Resolved, 1),
            (C, "CAT.NOISE", ResolvedOnTime, 1),
            (C, "CAT.NOISE", ResolveMillis, 5 * H),
            (C, "CAT.NOISE", Returned, 1),
            (C, "CAT.NOISE", Rated, 1),
            (C, "CAT.NOISE", Satisfied, 1),
            (C, "CAT.NOISE", OpenByDue, 1),
        ])
    };
    {
        let store = b.open();
        let store = &*store;
        assert_eq!(sums(store), Vec::new(), "an empty store counts nothing");
        // c1: resolved on time after 5 h, rated satisfied
        let c1 = insert(
            store,
            &Spec {
                request_id: "f1",
                ..Spec::default()
            },
        );
        edit(store, &c1.id, T0 + H, &|c| {
            c.dispatch.due_at = Some(T0 + 48 * H);
            moved(c, CaseStatus::Dispatched, T0 + H);
        });
        edit(store, &c1.id, T0 + 5 * H, &|c| {
            moved(c, CaseStatus::Resolved, T0 + 5 * H)
        });
        edit(store, &c1.id, T0 + 6 * H, &|c| {
            c.dispatch.follow_ups.push(FollowUp {
                satisfaction: Satisfaction::Satisfied,
                note: String::new(),
                actor: "platform".into(),
                at: T0 + 6 * H,
            });
            moved(c, CaseStatus::FollowedUp, T0 + 6 * H);
        });
        // c2: returned by DEPT.ENV, now led by DEPT.WATER
        let c2 = insert(
            store,
            &Spec {
                request_id: "f2",
                received_at: T0 + H,
                ..Spec::default()
            },
        );
        edit(store, &c2.id, T0 + 2 * H, &|c| {
            c.dispatch.returns.push(CaseReturn {
                department: c.department.clone(),
                reason: ReturnReason::NotOurResponsibility,
                note: String::new(),
                actor: "platform".into(),
                at: T0 + 2 * H,
            });
            c.department = "DEPT.WATER".into();
        });
        // c3: still accepted, due at 3 h: overdue
        let c3 = insert(
            store,
            &Spec {
                request_id: "f3",
                received_at: T0 + 2 * H,
                ..Spec::default()
            },
        );
        edit(store, &c3.id, T0 + 2 * H, &|c| {
            c.dispatch.due_at = Some(T0 + 3 * H)
        });
        // a report linked to c1 counts nothing
        linked(
            store,
            &Spec {
                request_id: "f4",
                received_at: T0 + 3 * H,
                ..Spec::default()
            },
            &c1.id,
            0.9,
        );
        // outside the window
        insert(
            store,
            &Spec {
                request_id: "f5",
                received_at: T0 + 30 * H,
                ..Spec::default()
            },
        );
        assert_eq!(sums(store), expected, "as written");
        assert_eq!(recount(store), expected, "counted afresh from the cases");
        // another jurisdiction only: nothing
        let other = FigureQuery {
            jurisdiction: Some("elsewhere".into()),
            ..q.clone()
        };
        assert_eq!(store.figures(&other).unwrap(), Vec::new());
        store.flush().unwrap();
    }
    let store: Arc<dyn Store> = Arc::from(b.open());
    assert_eq!(sums(&*store), expected, "after a restart");
    // writers racing on the same counters (one hour, one department): none is lost
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..8 {
                    let rid = format!("race-{t}-{i}");
                    let spec = Spec {
                        request_id: &rid,
                        received_at: T0 + 4 * H + i,
                        ..Spec::default()
                    };
                    let c = insert(&*store, &spec);
                    if i % 2 == 0 {
                        edit(&*store, &c.id, T0 + 5 * H, &|c| {
                            c.dispatch.due_at = Some(T0 + 6 * H);
                            moved(c, CaseStatus::Dispatched, T0 + 5 * H);
                        });
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let raced = sums(&*store);
    assert_eq!(raced, recount(&*store), "racing writers");
    let received = |s: &[FigureSum]| {
        s.iter()
            .find(|f| f.dim == Dim::Department && f.name == "DEPT.ENV" && f.counter == Received)
            .map(|f| f.n)
    };
    assert_eq!(received(&raced), Some(2 + 32));
}

/// `Store::for_each_deadline_pending`: masters being handled whose deadline has had no overdue
/// event, up to the instant asked, earliest first; every write that changes what is pending
/// (a deadline set or moved, the overdue mark, a status, a link, a restart) is followed.
fn deadlines_pending(b: &dyn Backend) {
    const H: Millis = 3_600_000;
    let pending = |store: &dyn Store, until: Millis| {
        let mut got = Vec::new();
        store
            .for_each_deadline_pending(until, &mut |c| {
                got.push((c.id.clone(), c.deadline_pending().unwrap()))
            })
            .unwrap();
        got
    };
    let edit = |store: &dyn Store, id: &str, f: &dyn Fn(&mut CaseRecord)| {
        store
            .edit_cases(&|r| {
                let mut c = r.case(id)?;
                f(&mut c);
                let mut e = CaseEdit::at(T0 + H);
                e.cases.push(c);
                Ok(e)
            })
            .unwrap();
    };
    let new = |store: &dyn Store, rid: &str, due: Option<Millis>| {
        let mut n = new_case(&Spec {
            request_id: rid,
            ..Spec::default()
        });
        n.record.dispatch.due_at = due;
        store.insert_case(n).unwrap().case.id
    };
    let (a, c, d, e);
    {
        let store = b.open();
        let store = &*store;
        assert_eq!(
            pending(store, Millis::MAX),
            vec![],
            "an empty store owes nothing"
        );
        a = new(store, "d1", Some(T0 + 5 * H));
        let bb = new(store, "d2", None); // no deadline: never pending
        c = new(store, "d3", Some(T0 + 2 * H));
        d = new(store, "d4", Some(T0 + 9 * H));
        e = new(store, "d5", Some(T0 + 2 * H));
        // a report linked to a master has no deadline of its own
        let mut n = new_case(&Spec {
            request_id: "d6",
            ..Spec::default()
        });
        n.record.dispatch.due_at = Some(T0 + H);
        n.link_to = Some(Link {
            master_id: a.clone(),
            score: 0.9,
            text_excerpt: String::new(),
        });
        store.insert_case(n).unwrap();
        let mut ce = vec![(c.clone(), T0 + 2 * H), (e.clone(), T0 + 2 * H)];
        ce.sort();
        let mut want = ce.clone();
        want.push((a.clone(), T0 + 5 * H));
        assert_eq!(
            pending(store, T0 + 5 * H),
            want,
            "earliest first, up to the instant asked"
        );
        assert_eq!(pending(store, T0 + 2 * H - 1), vec![]);
        // the overdue mark takes c out; the due-soon mark does not take e out
        edit(store, &c, &|x| {
            x.dispatch.overdue_sent_for = x.dispatch.due_at
        });
        edit(store, &e, &|x| {
            x.dispatch.due_soon_sent_for = x.dispatch.due_at
        });
        // resolving takes a out; moving d's deadline earlier brings it in
        edit(store, &a, &|x| x.status = CaseStatus::Resolved);
        edit(store, &d, &|x| x.dispatch.due_at = Some(T0 + 3 * H));
        // a returned case (退回) is still being handled
        edit(store, &bb, &|x| x.status = CaseStatus::Rejected);
        assert_eq!(
            pending(store, T0 + 24 * H),
            vec![(e.clone(), T0 + 2 * H), (d.clone(), T0 + 3 * H)]
        );
        // an extension: c's new deadline is pending again (its old mark is for the old one)
        edit(store, &c, &|x| x.dispatch.due_at = Some(T0 + 4 * H));
    }
    let store = b.open();
    assert_eq!(
        pending(&*store, T0 + 24 * H),
        vec![
            (e.clone(), T0 + 2 * H),
            (d.clone(), T0 + 3 * H),
            (c.clone(), T0 + 4 * H)
        ],
        "after a restart"
    );
}

/// A matter's events each carry its reports as they stood at the event, while later reports are
/// linked, a report is unlinked and the matter is reported again (sled keeps the links apart from
/// the master and its pending events point at a version of them; PostgreSQL copies the case),
/// across a restart, and a dead letter keeps its own.
fn payload_reports(b: &dyn Backend) {
    let report = |n: i64| Spec {
        request_id: ["r-1", "r-2", "r-3", "r-4"][n as usize - 1],
        received_at: T0 + n * MIN,
        ..Spec::default()
    };
    let (m, r);
    {
        let store = b.open();
        let store = &*store;
        m = insert(store, &Spec::default());
        r = [1, 2, 3].map(|n| linked(store, &report(n), &m.id, 0.9).id);
        // unlink the first report: the master loses it, the report stands alone
        store
            .edit_cases(&|rd| {
                let mut master = rd.case(&m.id)?;
                let mut first = rd.case(&r[0])?;
                master.reports.retain(|l| l.case_id != r[0]);
                first.duplicate_of = None;
                let mut edit = CaseEdit::at(T0 + 10 * MIN);
                edit.cases = vec![master, first];
                edit.event(&m.id, EventKind::Updated);
                Ok(edit)
            })
            .unwrap();
    }
    let store = b.open();
    let store = &*store;
    let r4 = linked(store, &report(4), &m.id, 0.9).id;
    let want: Vec<Vec<&str>> = vec![
        vec![],
        vec![&r[0]],
        vec![&r[0], &r[1]],
        vec![&r[0], &r[1], &r[2]],
        vec![&r[1], &r[2]],
        vec![&r[1], &r[2], &r4],
    ];
    let payloads = |entries: Vec<OutboxEntry>| -> Vec<Vec<String>> {
        entries
            .into_iter()
            .filter(|e| e.case_id == m.id)
            .map(|e| e.case.reports.into_iter().map(|l| l.case_id).collect())
            .collect()
    };
    assert_eq!(payloads(store.outbox_list(false, 100).unwrap()), want);
    let master = store.get_case(&m.id).unwrap().unwrap();
    assert_eq!(
        master
            .reports
            .iter()
            .map(|l| l.case_id.as_str())
            .collect::<Vec<_>>(),
        want[5]
    );
    assert_eq!(master.last_report_at(), T0 + 4 * MIN);
    let head = store.get_case_head(&m.id).unwrap().unwrap();
    assert!(head.case.reports.is_empty());
    assert_eq!((head.report_count, head.last_report_at), (4, T0 + 4 * MIN));
    // the master's first event fails for good: its dead letter keeps no reports, the next
    // events keep theirs
    let first = store.outbox_due(T0 + 100 * MIN, 100).unwrap();
    let first = first.iter().find(|e| e.case_id == m.id).unwrap();
    store
        .outbox_failed(first.seq, "rejected", T0 + 100 * MIN, true)
        .unwrap();
    assert_eq!(payloads(store.outbox_list(true, 100).unwrap()), want[..1]);
    assert_eq!(payloads(store.outbox_list(false, 100).unwrap()), want[1..]);
}

/// More candidates than the limit (a matter reported many times makes every report one): the cut
/// keeps the most shared bands first and, among equals, the newest case, in that order — the
/// whole ranking of 40 cases cut at every limit.
fn candidate_cut(b: &dyn Backend) {
    let store = b.open();
    let store = &*store;
    // case i shares 1 + i % 4 of the query's bands
    let query: Vec<u64> = vec![1, 2, 3, 4];
    let mut all: Vec<(String, u32)> = (0..40)
        .map(|i| {
            let shared = 1 + i % 4;
            let mut bands: Vec<u64> = query[..shared].to_vec();
            bands.push(1_000 + i as u64);
            let id = store
                .insert_case(with_bands(&Spec::default(), bands))
                .unwrap()
                .case
                .id;
            (id, shared as u32)
        })
        .collect();
    all.sort_by(|x, y| y.1.cmp(&x.1).then(y.0.cmp(&x.0)));
    // a range inside the recent window (sled: the in-memory index alone) and one reaching back
    // past any horizon (sled: the index and the older entries' scan)
    for (since, until) in [(T0 - MIN, T0 + MIN), (i64::MIN, i64::MAX)] {
        for limit in [0, 1, 7, 10, 11, 39, 40, 100] {
            let got = store
                .dedup_candidates("330106", &query, since, until, limit)
                .unwrap();
            assert_eq!(
                got,
                all[..limit.min(all.len())],
                "limit {limit}, since {since}"
            );
        }
    }
}

/// A re-key (a new fingerprint version's band layout) rewrites the entries it changes, in the
/// window and behind the band index's horizon; lookups then meet the new keys only, the version
/// is kept across a restart, and a second run finds nothing left to change.
fn rekey(b: &dyn Backend) {
    const DAY: Millis = 24 * 60 * 60 * 1000;
    let ids = {
        let store = b.open();
        assert_eq!(store.dedup_key_version().unwrap(), 0, "a fresh store");
        let mk = |request_id: &str, bands: Vec<u64>, received_at: Millis| {
            let spec = Spec {
                request_id,
                received_at,
                ..Spec::default()
            };
            store.insert_case(with_bands(&spec, bands)).unwrap().case.id
        };
        // The last one is older than any window before the others: a back-dated lookup finds
        // it by its stored keys, not in the band index.
        let ids = [
            mk("r-a", vec![10, 20], T0),
            mk("r-b", vec![20, 30], T0 + 1),
            mk("r-old", vec![20, 40], T0 - 900 * DAY),
        ];
        // Old keys: +1000, and a fingerprint the re-key knows as done.
        let rekey = |e: &DedupEntry| {
            (e.fingerprint == [1, 2, 3]).then(|| DedupEntry {
                bands: e.bands.iter().map(|b| b + 1000).collect(),
                fingerprint: vec![3],
                ..e.clone()
            })
        };
        assert_eq!(store.rekey_dedup(7, &rekey).unwrap(), 3);
        assert_eq!(store.dedup_key_version().unwrap(), 7);
        assert_eq!(store.rekey_dedup(7, &rekey).unwrap(), 0, "nothing left");
        rekeyed(&*store, &ids, "after the re-key");
        ids
    };
    rekeyed(&*b.open(), &ids, "after a restart");
}

fn rekeyed(store: &dyn Store, ids: &[String], open: &str) {
    const DAY: Millis = 24 * 60 * 60 * 1000;
    {
        let found = |bands: &[u64], since: Millis| candidate_ids(store, bands, since);
        let all = |ix: &[usize]| {
            let mut v: Vec<String> = ix.iter().map(|&i| ids[i].to_string()).collect();
            v.sort();
            v
        };
        assert_eq!(
            found(&[10, 20, 30, 40], i64::MIN),
            all(&[]),
            "{open}: old keys"
        );
        assert_eq!(
            found(&[1020], T0 - DAY),
            all(&[0, 1]),
            "{open}: in the window"
        );
        assert_eq!(
            found(&[1020], i64::MIN),
            all(&[0, 1, 2]),
            "{open}: back-dated"
        );
        assert_eq!(found(&[1040], i64::MIN), all(&[2]), "{open}");
        let entry = store.dedup_entry(&ids[1]).unwrap().unwrap();
        assert_eq!(
            (entry.bands, entry.fingerprint),
            (vec![1020, 1030], vec![3])
        );
        assert_eq!(store.dedup_key_version().unwrap(), 7, "{open}");
        if open == "after a restart" {
            // A case written after the re-key is found with the others.
            let spec = Spec {
                request_id: "r-new",
                received_at: T0 + 2,
                ..Spec::default()
            };
            let new = store
                .insert_case(with_bands(&spec, vec![1030]))
                .unwrap()
                .case
                .id;
            let mut want = all(&[1]);
            want.push(new);
            want.sort();
            assert_eq!(found(&[1030], T0 - DAY), want);
        }
    }
}
