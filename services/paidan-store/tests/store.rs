mod common;

use common::*;
use paidan_store::*;

fn open() -> (tempfile::TempDir, SledStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    (dir, store)
}

#[test]
fn list_filters_narrow_and_page_newest_first() {
    let (_dir, store) = open();
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
    ];
    let mut ids = Vec::new();
    for (m, ch, j, cat, dept) in specs {
        let c = insert(
            &store,
            &Spec {
                received_at: T0 + m * MIN,
                channel: ch,
                jurisdiction: j,
                category: cat,
                department: dept,
                ..Spec::default()
            },
        );
        ids.push(c.id);
    }
    set_status(&store, &ids[6], CaseStatus::Dispatched, "", "op", T0).unwrap();
    set_status(&store, &ids[2], CaseStatus::Closed, "", "op", T0).unwrap();
    // filter → expected case indexes (newest first)
    let f = CaseFilter::default;
    let table: Vec<(&str, CaseFilter, Vec<usize>)> = vec![
        ("all", f(), vec![6, 5, 4, 3, 2, 1, 0]),
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
            vec![5, 4, 3, 1, 0],
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
            "category+department",
            CaseFilter {
                category: Some("CAT.NOISE".into()),
                department: Some("DEPT.ENV".into()),
                ..f()
            },
            vec![6, 2, 0],
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
            "after only",
            CaseFilter {
                received_after: Some(T0 + 6 * MIN),
                ..f()
            },
            vec![6],
        ),
        (
            "before only",
            CaseFilter {
                received_before: Some(T0 + MIN),
                ..f()
            },
            vec![0],
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
        let want_ids: Vec<&str> = want.iter().map(|&i| ids[i].as_str()).collect();
        // whole list in one page
        let page = store.list_cases(&filter, 100, None).unwrap();
        let got: Vec<&str> = page.cases.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(got, want_ids, "{name}");
        assert!(page.next_token.is_none(), "{name}");
        // pages of 2 give the same sequence
        let mut paged = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = store.list_cases(&filter, 2, token.as_deref()).unwrap();
            assert!(page.cases.len() <= 2);
            paged.extend(page.cases.into_iter().map(|c| c.id));
            match page.next_token {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        assert_eq!(paged, want_ids, "{name} (paged)");
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

#[test]
fn request_ids_are_idempotent() {
    let (_dir, store) = open();
    let first = store
        .insert_case(new_case(&Spec {
            request_id: "r-1",
            digest: "aaa",
            ..Spec::default()
        }))
        .unwrap();
    assert!(first.created);
    // (request_id, digest, expectation)
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
        let r = store.insert_case(new_case(&Spec {
            request_id: rid,
            digest,
            ..Spec::default()
        }));
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
                }) => {
                    assert_eq!(
                        (request_id.as_str(), case_id.as_str()),
                        (rid, first.case.id.as_str())
                    )
                }
                other => panic!("{rid}/{digest}: expected Conflict, got {other:?}"),
            },
            Want::NewCase => {
                let ins = r.unwrap();
                assert!(ins.created);
                assert_ne!(ins.case.id, first.case.id);
            }
        }
    }
    // retries did not enqueue anything: 4 cases created, 4 Created events
    assert_eq!(store.outbox_len(false).unwrap(), 4);
    store.check_consistency().unwrap();
}

#[test]
fn case_ids_are_short_sortable_and_unique() {
    let (_dir, store) = open();
    let ids: Vec<String> = (0..20)
        .map(|_| insert(&store, &Spec::default()).id)
        .collect();
    for w in ids.windows(2) {
        assert!(w[0] < w[1]);
    }
    for id in &ids {
        assert_eq!(id.len(), 14);
        assert!(id.starts_with("PD") && id[2..].bytes().all(|b| b.is_ascii_digit()));
    }
}

#[test]
fn dedup_bands_find_candidates_and_closing_removes_them() {
    let (_dir, store) = open();
    let mk = |bands: Vec<u64>, j: &str| {
        let mut n = new_case(&Spec {
            jurisdiction: j,
            ..Spec::default()
        });
        n.dedup = Some(DedupEntry {
            jurisdiction: j.to_string(),
            bands,
            fingerprint: vec![1, 2, 3],
            received_at: T0,
            category: "CAT.NOISE".into(),
        });
        store.insert_case(n).unwrap().case.id
    };
    let a = mk(vec![10, 20, 30, 40], "330106");
    let b = mk(vec![10, 20, 99, 98], "330106");
    let c = mk(vec![11, 20, 31, 41], "330106");
    let other = mk(vec![10, 20, 30, 40], "330102");
    // (jurisdiction, query bands, expected (id, shared) most shared first)
    /// (jurisdiction, query bands, expected (id, shared) most shared first)
    type Row<'a> = (&'a str, Vec<u64>, Vec<(String, u32)>);
    let table: Vec<Row<'_>> = vec![
        (
            "330106",
            vec![10, 20, 30, 40],
            vec![(a.clone(), 4), (b.clone(), 2), (c.clone(), 1)],
        ),
        ("330106", vec![0, 0, 99, 0], vec![(b.clone(), 1)]),
        // bands are a set: the same values in another order (or at other positions) are found
        (
            "330106",
            vec![20, 10, 0, 0],
            vec![(a.clone(), 2), (b.clone(), 2), (c.clone(), 1)],
        ),
        ("330106", vec![0, 0, 0, 0, 0, 0, 40], vec![(a.clone(), 1)]),
        ("330102", vec![10, 20, 30, 40], vec![(other.clone(), 4)]),
        ("110000", vec![10, 20, 30, 40], vec![]),
    ];
    for (j, bands, want) in &table {
        let mut got = store
            .dedup_candidates(j, bands, i64::MIN, i64::MAX, 10)
            .unwrap();
        // ties have no defined order: compare as sets within equal counts
        got.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
        let mut want = want.clone();
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
    set_status(&store, &a, CaseStatus::Closed, "done", "op", T0).unwrap();
    assert_eq!(store.dedup_entry(&a).unwrap(), None);
    assert_eq!(
        store
            .dedup_candidates("330106", &[10, 20, 30, 40], i64::MIN, i64::MAX, 10)
            .unwrap()
            .into_iter()
            .map(|x| x.0)
            .collect::<Vec<_>>(),
        vec![b.clone(), c.clone()]
    );
    // a correction updates the indexed category
    set_labels(&store, &b, Some("CAT.ROADS"), None, "", "op", T0).unwrap();
    assert_eq!(
        store.dedup_entry(&b).unwrap().unwrap().category,
        "CAT.ROADS"
    );
    store.check_consistency().unwrap();
}

#[test]
fn hot_issues_rank_by_reports_in_window() {
    let (_dir, store) = open();
    let at = |m: i64| Spec {
        received_at: T0 + m * MIN,
        ..Spec::default()
    };
    let a = insert(&store, &at(0));
    let b = insert(
        &store,
        &Spec {
            category: "CAT.ROADS",
            ..at(1)
        },
    );
    let c = insert(
        &store,
        &Spec {
            jurisdiction: "330102",
            ..at(2)
        },
    );
    for m in [10, 11] {
        linked(&store, &at(m), &a.id, 0.9);
    }
    for m in [12, 13, 14] {
        linked(&store, &at(m), &b.id, 0.9);
    }
    linked(&store, &at(15), &c.id, 0.9);
    // (jurisdiction, category, since, until) → [(master, count, first, last)]
    /// (jurisdiction, category, since, until) → [(master, count, first, last)]
    type Row<'a> = (
        Option<&'a str>,
        Option<&'a str>,
        i64,
        i64,
        Vec<(&'a str, u32, i64, i64)>,
    );
    let table: Vec<Row<'_>> = vec![
        (
            None,
            None,
            0,
            100,
            vec![(&b.id, 4, 1, 14), (&a.id, 3, 0, 11), (&c.id, 2, 2, 15)],
        ),
        (
            None,
            None,
            10,
            100,
            vec![(&b.id, 3, 12, 14), (&a.id, 2, 10, 11), (&c.id, 1, 15, 15)],
        ),
        // equal counts: the latest report first
        (
            None,
            None,
            11,
            14,
            vec![(&b.id, 2, 12, 13), (&a.id, 1, 11, 11)],
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
        let got: Vec<(&str, u32, i64, i64)> = got
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
    assert_eq!(
        store
            .hot_issues(None, None, T0, T0 + 100 * MIN, 1)
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn outbox_keeps_per_case_order_and_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let all = sinks(&["grpc", "hook"]);
    let (a, b);
    {
        let store = SledStore::open(dir.path()).unwrap();
        a = insert(&store, &Spec::default());
        b = insert(&store, &Spec::default());
        set_status(&store, &a.id, CaseStatus::Dispatched, "", "op", T0 + 5).unwrap();
        set_status(&store, &a.id, CaseStatus::InProgress, "", "op", T0 + 6).unwrap();
        // only the heads are due: a:1 and b:1
        let due = store.outbox_due(T0 + 100, 10).unwrap();
        let keys: Vec<_> = due.iter().map(|e| e.idempotency_key.clone()).collect();
        assert_eq!(keys, vec![format!("{}:1", a.id), format!("{}:1", b.id)]);
        // a:1 fails and backs off: a:2 must not overtake it
        store
            .outbox_failed(due[0].seq, "unavailable", T0 + 1_000, false)
            .unwrap();
        let keys: Vec<_> = store
            .outbox_due(T0 + 100, 10)
            .unwrap()
            .iter()
            .map(|e| e.idempotency_key.clone())
            .collect();
        assert_eq!(keys, vec![format!("{}:1", b.id)]);
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
            "second ack is a no-op"
        );
        let bc = store.get_case(&b.id).unwrap().unwrap();
        assert_eq!(
            (
                bc.forwarding.state,
                bc.forwarding.events_delivered,
                bc.forwarding.delivered_at
            ),
            (ForwardingState::Delivered, 1, Some(T0 + 102))
        );
        assert_eq!(store.outbox_len(false).unwrap(), 3);
        store.flush().unwrap();
    }
    let store = SledStore::open(dir.path()).unwrap();
    store.check_consistency().unwrap();
    assert_eq!(store.outbox_len(false).unwrap(), 3);
    assert!(
        store.outbox_due(T0 + 999, 10).unwrap().is_empty(),
        "a:1 still backing off after restart"
    );
    let order = drain(&store, T0 + 1_000, &all);
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
    store.check_consistency().unwrap();
}

#[test]
fn dead_letters_can_be_listed_retried_and_dropped() {
    let (_dir, store) = open();
    let all = sinks(&["grpc"]);
    let a = insert(&store, &Spec::default());
    set_status(&store, &a.id, CaseStatus::Dispatched, "", "op", T0 + 5).unwrap();
    let b = insert(&store, &Spec::default());
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
            (format!("{}:1", b.id), 1, "invalid argument".to_string()),
        ]
    );
    assert_eq!(
        store.get_case(&a.id).unwrap().unwrap().forwarding.state,
        ForwardingState::Dead
    );
    let due = store.outbox_due(T0 + 10, 10).unwrap();
    assert_eq!(
        due.iter()
            .map(|e| e.idempotency_key.clone())
            .collect::<Vec<_>>(),
        vec![format!("{}:2", a.id)]
    );
    store.check_consistency().unwrap();
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
    store.check_consistency().unwrap();
    assert_eq!(
        drain(&store, T0 + 20, &all),
        vec![format!("{}:1", a.id), format!("{}:2", a.id)]
    );
    assert_eq!(
        store.get_case(&a.id).unwrap().unwrap().forwarding.state,
        ForwardingState::Delivered
    );
    // drop b:1 by seq
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
    store.check_consistency().unwrap();
}

#[test]
fn flushed_writes_survive_reopen_with_consistent_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let mut ids = Vec::new();
    {
        let store = SledStore::open(dir.path()).unwrap();
        for i in 0..200 {
            let c = insert(
                &store,
                &Spec {
                    received_at: T0 + i,
                    request_id: &format!("req-{i}"),
                    ..Spec::default()
                },
            );
            if i % 3 == 0 {
                set_status(&store, &c.id, CaseStatus::Dispatched, "", "op", T0).unwrap();
            }
            ids.push(c.id);
        }
        store.flush().unwrap();
    }
    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(store.check_consistency().unwrap(), 200);
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
    assert_eq!(dispatched.cases.len(), 67);
    // new ids after a restart never collide with old ones
    let fresh = insert(&store, &Spec::default());
    assert!(!ids.contains(&fresh.id));
    assert!(fresh.id > *ids.last().unwrap());
}

#[test]
fn corruption_is_a_clear_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let id;
    {
        let store = SledStore::open(dir.path()).unwrap();
        id = insert(&store, &Spec::default()).id;
        store.flush().unwrap();
    }
    {
        let db = sled::open(dir.path()).unwrap();
        db.open_tree("cases")
            .unwrap()
            .insert(id.as_bytes(), &b"{not json"[..])
            .unwrap();
        db.flush().unwrap();
    }
    let store = SledStore::open(dir.path()).unwrap();
    match store.get_case(&id) {
        Err(StoreError::Corrupt { key, .. }) => assert_eq!(key, format!("cases/{id}")),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert!(matches!(
        store.list_cases(&CaseFilter::default(), 10, None),
        Err(StoreError::Corrupt { .. })
    ));
    assert!(matches!(
        set_status(&store, &id, CaseStatus::Dispatched, "", "", T0),
        Err(StoreError::Corrupt { .. })
    ));
    assert!(matches!(
        store.check_consistency(),
        Err(StoreError::Corrupt { .. })
    ));
    drop(store);
    // a store written by another schema version is refused at open
    {
        let db = sled::open(dir.path()).unwrap();
        db.open_tree("meta")
            .unwrap()
            .insert("schema_version", &99u32.to_be_bytes())
            .unwrap();
        db.flush().unwrap();
    }
    match SledStore::open(dir.path()) {
        Err(StoreError::Corrupt { reason, .. }) => assert!(reason.contains("99"), "{reason}"),
        Err(e) => panic!("expected Corrupt, got {e}"),
        Ok(_) => panic!("expected Corrupt, got a store"),
    }
}

#[test]
fn concurrent_writers_keep_indexes_and_outbox_consistent() {
    let (_dir, store) = open();
    let store = std::sync::Arc::new(store);
    let master = insert(&store, &Spec::default());
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let store = store.clone();
            let master = master.id.clone();
            std::thread::spawn(move || {
                for i in 0..25 {
                    let rid = format!("t{t}-{i}");
                    let spec = Spec {
                        request_id: &rid,
                        received_at: T0 + i,
                        ..Spec::default()
                    };
                    let c = if i % 2 == 0 {
                        linked(&store, &spec, &master, 0.9)
                    } else {
                        insert(&store, &spec)
                    };
                    // the same request again from another thread's point of view: idempotent
                    assert!(!store.insert_case(new_case(&spec)).unwrap().created);
                    if i % 2 == 1 {
                        set_status(&store, &c.id, CaseStatus::Dispatched, "", "op", T0).unwrap();
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    store.flush().unwrap();
    assert_eq!(store.check_consistency().unwrap(), 101);
    let m = store.get_case(&master.id).unwrap().unwrap();
    assert_eq!(m.report_count(), 1 + 4 * 13);
    // master: Created + 52 DuplicateLinked, in sequence order; 48 others × (Created, Updated)
    let order = drain(&store, T0 + MIN, &sinks(&["s"]));
    assert_eq!(order.len(), 1 + 52 + 48 * 2);
    let master_seqs: Vec<u64> = order
        .iter()
        .filter_map(|k| {
            k.strip_prefix(&format!("{}:", master.id))
                .map(|s| s.parse().unwrap())
        })
        .collect();
    assert_eq!(master_seqs, (1..=53).collect::<Vec<u64>>());
}

#[test]
fn the_band_index_is_saved_at_a_clean_close_and_loaded_once() {
    let dir = tempfile::tempdir().unwrap();
    let mk = |store: &SledStore, bands: Vec<u64>, i: i64| {
        let mut n = new_case(&Spec {
            received_at: T0 + i,
            ..Spec::default()
        });
        n.dedup = Some(DedupEntry {
            jurisdiction: "330106".into(),
            bands,
            fingerprint: vec![1, 2, 3],
            received_at: T0 + i,
            category: "CAT.NOISE".into(),
        });
        store.insert_case(n).unwrap().case.id
    };
    let query = |store: &SledStore| {
        let mut v = store
            .dedup_candidates("330106", &[1, 2, 3, 4], i64::MIN, i64::MAX, 100)
            .unwrap();
        v.sort();
        v
    };
    let (ids, want) = {
        let store = SledStore::open(dir.path()).unwrap();
        assert!(!store.band_index_stats().from_snapshot, "nothing saved yet");
        let ids: Vec<String> = (0..60)
            .map(|i: i64| {
                mk(
                    &store,
                    vec![i as u64 % 5, 2, (i as u64 % 3) + 3, i as u64 + 100],
                    i,
                )
            })
            .collect();
        set_status(&store, &ids[7], CaseStatus::Closed, "done", "op", T0).unwrap();
        (ids, query(&store))
    };
    assert!(!want.is_empty() && !want.iter().any(|(id, _)| *id == ids[7]));
    let meta_token = |dir: &std::path::Path| {
        let db = sled::open(dir).unwrap();
        db.open_tree("meta")
            .unwrap()
            .get("band_index_snapshot")
            .unwrap()
    };
    assert!(
        meta_token(dir.path()).is_some(),
        "a clean close records the snapshot"
    );
    std::thread::sleep(std::time::Duration::from_millis(200));

    // Reopen: loaded, not rebuilt, and the same answers; the token is gone while open.
    let want2 = {
        let store = SledStore::open(dir.path()).unwrap();
        let stats = store.band_index_stats();
        assert!(stats.from_snapshot);
        assert_eq!(stats.cases, 59);
        assert_eq!(query(&store), want);
        assert_eq!(store.check_consistency().unwrap(), 60);
        assert!(
            store
                .db()
                .open_tree("meta")
                .unwrap()
                .get("band_index_snapshot")
                .unwrap()
                .is_none(),
            "taken out at open, so a crash from here on rebuilds"
        );
        let extra = mk(&store, vec![1, 2, 3, 4], 100);
        let w = query(&store);
        assert!(w.contains(&(extra, 4)));
        w
    };

    // A run that died after opening leaves no token: the next open rebuilds.
    {
        let db = sled::open(dir.path()).unwrap();
        db.open_tree("meta")
            .unwrap()
            .remove("band_index_snapshot")
            .unwrap();
        db.flush().unwrap();
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    {
        let store = SledStore::open(dir.path()).unwrap();
        assert!(!store.band_index_stats().from_snapshot);
        assert_eq!(query(&store), want2);
    }

    // A damaged snapshot file is not trusted: rebuilt, same answers.
    let file = dir.path().join("paidan-band-index.bin");
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&file, &bytes).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let store = SledStore::open(dir.path()).unwrap();
    assert!(!store.band_index_stats().from_snapshot);
    assert_eq!(query(&store), want2);
    assert_eq!(store.check_consistency().unwrap(), 61);
}

#[test]
fn an_edit_is_written_whole_or_not_at_all() {
    let (_dir, store) = open();
    let a = insert(&store, &Spec::default());
    let b = insert(&store, &Spec::default());
    let before = (
        store.get_case(&a.id).unwrap(),
        store.get_case(&b.id).unwrap(),
        store.outbox_len(false).unwrap(),
    );
    let touch = |c: &mut CaseRecord| c.title = "changed".into();
    // read outside the edit: a rule must not touch the store itself (it runs inside a transaction)
    let unread_b = store.get_case(&b.id).unwrap().unwrap();
    // (what the rule does, the error the store returns)
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
                r.case(&b.id)?;
                let mut e = CaseEdit::at(T0);
                e.cases.push(x);
                e.event(&b.id, EventKind::Updated);
                Ok(e)
            }),
            "which it does not write",
        ),
    ];
    for (what, rule, want) in table {
        let err = store.edit_cases(&*rule).unwrap_err().to_string();
        assert!(err.contains(want), "{what}: {err}");
        let after = (
            store.get_case(&a.id).unwrap(),
            store.get_case(&b.id).unwrap(),
            store.outbox_len(false).unwrap(),
        );
        assert_eq!(after, before, "{what}: nothing is written");
    }
    // a good edit: both cases, one event each, in the edit's order
    let out = store
        .edit_cases(&|r| {
            let mut e = CaseEdit::at(T0 + 1);
            for id in [&b.id, &a.id] {
                let mut c = r.case(id)?;
                touch(&mut c);
                e.event_if_master(&c, EventKind::Updated);
                e.cases.push(c);
            }
            Ok(e)
        })
        .unwrap();
    assert_eq!(
        out.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        vec![b.id.as_str(), a.id.as_str()]
    );
    assert!(out.iter().all(|c| c.forwarding.next_sequence == 3));
    assert_eq!(store.get_case(&a.id).unwrap().unwrap().title, "changed");
    assert_eq!(store.outbox_len(false).unwrap(), before.2 + 2);
    store.check_consistency().unwrap();
}

/// A store written before it kept the deadline index (no `idx_due`, no `meta/deadlines_built`)
/// builds the index once when opened; the consistency check compares it with the cases.
#[test]
fn a_store_without_the_deadline_index_builds_it_at_open() {
    let (dir, store) = open();
    let mut ids = Vec::new();
    for (i, due) in [Some(T0 + 3 * MIN), None, Some(T0 + MIN)]
        .into_iter()
        .enumerate()
    {
        let mut n = new_case(&Spec {
            request_id: &format!("r{i}"),
            ..Spec::default()
        });
        n.record.dispatch.due_at = due;
        ids.push(store.insert_case(n).unwrap().case.id);
    }
    let pending = |store: &SledStore| {
        let mut got = Vec::new();
        store
            .for_each_deadline_pending(Millis::MAX, &mut |c| got.push(c.id))
            .unwrap();
        got
    };
    assert_eq!(pending(&store), [ids[2].clone(), ids[0].clone()]);
    // back to what an older build left
    store.db().open_tree("idx_due").unwrap().clear().unwrap();
    store
        .db()
        .open_tree("meta")
        .unwrap()
        .remove("deadlines_built")
        .unwrap();
    store.db().flush().unwrap();
    assert_eq!(pending(&store), Vec::<String>::new());
    assert!(
        store.check_consistency().is_err(),
        "the check sees the missing keys"
    );
    drop(store);
    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(pending(&store), [ids[2].clone(), ids[0].clone()]);
    store.check_consistency().unwrap();
}

/// sled lets go of its directory lock only when the last handle and its threads are gone; an
/// open meanwhile waits for it (up to 10 s) instead of failing at once.
#[test]
fn an_open_waits_for_the_lock_of_a_handle_still_held() {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::Config::new().path(dir.path()).open().unwrap();
    let holder = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(300));
        drop(db);
    });
    let store = SledStore::open(dir.path());
    holder.join().unwrap();
    let store = store.expect("opened once the other handle let go");
    assert_eq!(store.check_consistency().unwrap(), 0);
}

/// A link costs the same for the 300th caller of a matter as for the first: the master's stored
/// value grows by its report's case number only (its links are rows of `case_links`), and no
/// outbox entry copies the links (a pending event keeps their version). Schema 4 stored every
/// link in the master and froze a copy of it per pending event: O(reports²) of disk.
#[test]
fn a_link_writes_a_row_not_the_matter() {
    let store = SledStore::open_temporary().unwrap();
    let m = insert(&store, &Spec::default());
    let master_bytes = |store: &SledStore| {
        let cases = store.db().open_tree("cases").unwrap();
        cases.get(m.id.as_bytes()).unwrap().unwrap().len()
    };
    let link = |n: i64| {
        let rid = format!("r-{n}");
        let spec = Spec {
            request_id: &rid,
            received_at: T0 + n * MIN,
            text: "又是夜间施工，吵得睡不着，已经是第好几次反映了，请尽快处理",
            ..Spec::default()
        };
        linked(&store, &spec, &m.id, 0.9);
    };
    for n in 1..=10 {
        link(n);
    }
    let after_10 = master_bytes(&store);
    for n in 11..=300 {
        link(n);
    }
    let after_300 = master_bytes(&store);
    assert!(
        after_300 - after_10 <= 290 * 4,
        "the master grew from {after_10} to {after_300} bytes over 290 links"
    );
    // no sink: all 301 events of the master are pending, each with its payload
    let outbox = store.db().open_tree("outbox").unwrap();
    assert_eq!(outbox.len(), 301);
    let largest = outbox.iter().map(|kv| kv.unwrap().1.len()).max().unwrap();
    assert!(
        largest <= after_300 + 64,
        "an outbox entry of {largest} bytes copies links (master: {after_300} bytes)"
    );
    let whole = store.get_case(&m.id).unwrap().unwrap();
    assert_eq!(whole.reports.len(), 300);
    assert_eq!(whole.last_report_at(), T0 + 300 * MIN);
    store.check_consistency().unwrap();
}

/// sled re-keys into a new tree and switches to it only when every entry is written: a re-key
/// stopped halfway (here the re-key function panics at the third entry) leaves the store on its
/// old keys and its old tree, the next run finishes it, and a reopen finds the new tree (the
/// old one is gone, and no empty `dedup_entries` is made again).
#[test]
fn an_interrupted_rekey_leaves_the_old_entries_and_the_next_finishes_it() {
    let (dir, store) = open();
    let mut ids = Vec::new();
    for i in 0..5u64 {
        let spec = Spec {
            request_id: &format!("r-{i}"),
            received_at: T0 + i as Millis,
            ..Spec::default()
        };
        let mut new = new_case(&spec);
        new.dedup = Some(DedupEntry {
            jurisdiction: spec.jurisdiction.into(),
            bands: vec![7, 100 + i],
            fingerprint: vec![1],
            received_at: spec.received_at,
            category: spec.category.into(),
        });
        ids.push(store.insert_case(new).unwrap().case.id);
    }
    let found = |store: &SledStore, band: u64| candidate_ids(store, &[band], i64::MIN);
    let seen = &std::sync::atomic::AtomicUsize::new(0);
    let rekey = |fail_at: usize| {
        move |e: &DedupEntry| {
            let n = seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            assert!(n != fail_at, "stopped");
            (e.fingerprint == [1]).then(|| DedupEntry {
                bands: e.bands.iter().map(|b| b + 1000).collect(),
                fingerprint: vec![3],
                ..e.clone()
            })
        }
    };
    let stopped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        store.rekey_dedup(3, &rekey(2))
    }));
    assert!(stopped.is_err());
    assert_eq!(store.dedup_key_version().unwrap(), 0);
    assert_eq!(found(&store, 7), ids, "the old keys still answer");
    assert_eq!(found(&store, 1007), Vec::<String>::new());

    assert_eq!(store.rekey_dedup(3, &rekey(usize::MAX)).unwrap(), 5);
    assert_eq!(found(&store, 1007), ids);
    assert_eq!(found(&store, 7), Vec::<String>::new());
    drop(store);

    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(store.dedup_key_version().unwrap(), 3);
    assert_eq!(found(&store, 1007), ids);
    assert_eq!(found(&store, 1102), vec![ids[2].clone()]);
    let names: Vec<String> = store
        .db()
        .tree_names()
        .iter()
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .filter(|n| n.starts_with("dedup_entries"))
        .collect();
    assert_eq!(names, vec!["dedup_entries.1".to_string()]);
    assert_eq!(store.check_consistency().unwrap(), 5);
}
