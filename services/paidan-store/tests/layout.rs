//! Schema 2 layout: event payloads without a case copy per event, the in-memory band index
//! (window, back-dated lookups, restart), and the migration of schema 1 stores.

mod common;

use std::collections::HashMap;

use common::*;
use paidan_store::*;

const DAY: Millis = 24 * 3600 * 1000;

fn open_with(dir: &std::path::Path, keep_days: i64) -> SledStore {
    SledStore::open_with(
        dir,
        &StoreOptions {
            dedup_keep_ms: keep_days * DAY,
            ..StoreOptions::default()
        },
    )
    .unwrap()
}

/// Every outbox entry carries the case as it stood when its event happened, whatever happened to
/// the case afterwards (later events, deliveries, failures, dead letters, restart).
#[test]
fn event_payloads_are_the_case_as_of_each_event() {
    let dir = tempfile::tempdir().unwrap();
    let all = sinks(&["grpc", "hook"]);
    // idempotency key → the case as it stood after the operation that enqueued it
    let mut want: HashMap<String, CaseRecord> = HashMap::new();
    let key = |c: &CaseRecord| format!("{}:{}", c.id, c.forwarding.next_sequence - 1);
    let (a, b);
    {
        let store = SledStore::open(dir.path()).unwrap();
        a = insert(&store, &Spec::default());
        want.insert(key(&a), a.clone());
        // a linked report changes the master while its Created event is pending
        linked(&store, &Spec::default(), &a.id, 0.9);
        let a2 = store.get_case(&a.id).unwrap().unwrap();
        want.insert(key(&a2), a2.clone());
        let a3 = set_status(&store, &a.id, CaseStatus::Dispatched, "go", "op", T0 + 5).unwrap();
        want.insert(key(&a3), a3.clone());
        b = insert(&store, &Spec::default());
        want.insert(key(&b), b.clone());
        let b2 = set_labels(&store, &b.id, Some("CAT.ROADS"), None, "", "op", T0 + 6).unwrap();
        want.insert(key(&b2), b2.clone());
        store.check_consistency().unwrap();

        // one sink takes a:1, the other fails it: payloads stay as they were
        let due = store.outbox_due(T0 + 100, 10).unwrap();
        for e in &due {
            assert_eq!(&e.case, &want[&e.idempotency_key], "{}", e.idempotency_key);
        }
        let a1 = due.iter().find(|e| e.idempotency_key == key(&a)).unwrap();
        assert!(
            !store
                .outbox_delivered(a1.seq, "grpc", &all, T0 + 7)
                .unwrap()
        );
        store
            .outbox_failed(a1.seq, "unavailable", T0 + 8, false)
            .unwrap();
        // b:1 dies; b then changes again: the dead letter keeps b:1's payload
        let b1 = due.iter().find(|e| e.idempotency_key == key(&b)).unwrap();
        store
            .outbox_failed(b1.seq, "rejected", T0 + 8, true)
            .unwrap();
        let b3 = set_status(&store, &b.id, CaseStatus::Dispatched, "", "op", T0 + 9).unwrap();
        want.insert(key(&b3), b3.clone());
        store.check_consistency().unwrap();
        store.flush().unwrap();
    }
    let store = SledStore::open(dir.path()).unwrap();
    store.check_consistency().unwrap();
    let dead = store.outbox_list(true, 10).unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].case, want[&dead[0].idempotency_key]);
    let pending = store.outbox_list(false, 100).unwrap();
    assert_eq!(pending.len(), want.len() - 1);
    for e in &pending {
        assert_eq!(&e.case, &want[&e.idempotency_key], "{}", e.idempotency_key);
    }
    // everything drains in per-case order, each with its own payload
    let mut seen = Vec::new();
    loop {
        let due = store.outbox_due(T0 + 10_000, 100).unwrap();
        if due.is_empty() {
            break;
        }
        for e in due {
            assert_eq!(&e.case, &want[&e.idempotency_key], "{}", e.idempotency_key);
            seen.push(e.idempotency_key.clone());
            for s in &all {
                store.outbox_delivered(e.seq, s, &all, T0 + 10_000).unwrap();
            }
        }
    }
    assert_eq!(seen.len(), pending.len());
    assert_eq!(store.outbox_len(false).unwrap(), 0);
    store.check_consistency().unwrap();
}

struct Row {
    id: String,
    jurisdiction: &'static str,
    bands: Vec<u64>,
    at: Millis,
    master: Option<String>,
    open: bool,
}

/// Distinct values the two band lists have in common (position does not matter).
fn shared(a: &[u64], b: &[u64]) -> u32 {
    let a: std::collections::BTreeSet<u64> = a.iter().copied().collect();
    let b: std::collections::BTreeSet<u64> = b.iter().copied().collect();
    a.intersection(&b).count() as u32
}

/// What a full index answers: open cases of the jurisdiction sharing a band value whose
/// matter span (own time … latest report of its matter) meets the range. The store may add
/// cases whose recorded span is wider (never narrower), so the check is: everything expected is
/// found with the right count, and everything found shares bands and is open.
fn check_lookup(
    store: &SledStore,
    rows: &[Row],
    j: &str,
    bands: &[u64],
    since: Millis,
    until: Millis,
) {
    let last: HashMap<&str, Millis> = {
        let mut m: HashMap<&str, Millis> = HashMap::new();
        for r in rows {
            let root = r.master.as_deref().unwrap_or(&r.id);
            let e = m.entry(root).or_insert(r.at);
            *e = (*e).max(r.at);
        }
        m
    };
    let got: HashMap<String, u32> = store
        .dedup_candidates(j, bands, since, until, usize::MAX)
        .unwrap()
        .into_iter()
        .collect();
    for r in rows {
        let n = shared(&r.bands, bands);
        let span_end = last[r.master.as_deref().unwrap_or(&r.id)].max(r.at);
        let expected = r.open && r.jurisdiction == j && n > 0 && r.at <= until && span_end >= since;
        match got.get(&r.id) {
            Some(c) => {
                assert!(
                    r.open && r.jurisdiction == j,
                    "{} found but closed/elsewhere",
                    r.id
                );
                assert_eq!(*c, n, "{} shared bands", r.id);
            }
            None => assert!(
                !expected,
                "{} missing for [{since}, {until}]: at {} master {:?} shared {n} span_end {span_end}",
                r.id, r.at, r.master
            ),
        }
    }
}

/// The band index keeps only recent matters in memory; lookups reaching further back use the
/// range scan; both agree with a full index, before and after a restart.
#[test]
fn band_index_answers_like_a_full_index_across_window_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = T0;
    let mut rows: Vec<Row> = Vec::new();
    {
        let store = open_with(dir.path(), 10);
        for i in 0..60u64 {
            let j = if i % 3 == 0 { "330102" } else { "330106" };
            // bands drawn from a small alphabet so that cases share some
            let bands: Vec<u64> = (0..4).map(|p| (i * 7 + p * 3) % 5).collect();
            let at = t0 + (i as i64) * DAY;
            let mut n = new_case(&Spec {
                received_at: at,
                jurisdiction: j,
                ..Spec::default()
            });
            n.dedup = Some(DedupEntry {
                jurisdiction: j.into(),
                bands: bands.clone(),
                fingerprint: vec![i as u8],
                received_at: at,
                category: "CAT.NOISE".into(),
            });
            // every 7th case reports the matter of a case 20 days older: that old matter
            // becomes active again
            let master = (i % 7 == 6 && i >= 20).then(|| {
                rows[(i - 20) as usize]
                    .master
                    .clone()
                    .unwrap_or(rows[(i - 20) as usize].id.clone())
            });
            if let Some(m) = &master {
                n.link_to = Some(Link {
                    master_id: m.clone(),
                    score: 0.9,
                    text_excerpt: String::new(),
                });
            }
            let id = store.insert_case(n).unwrap().case.id;
            rows.push(Row {
                id,
                jurisdiction: j,
                bands,
                at,
                master,
                open: true,
            });
        }
        for i in [4usize, 50] {
            set_status(&store, &rows[i].id, CaseStatus::Closed, "", "op", t0).unwrap();
            rows[i].open = false;
        }
        let BandIndexStats {
            cases: n, horizon, ..
        } = store.band_index_stats();
        assert!(
            horizon > t0 && n < rows.len(),
            "{n} cases in memory, horizon {horizon}"
        );
        store.check_consistency().unwrap();
        for (j, bands) in [
            ("330106", vec![0, 3, 1, 4]),
            ("330102", vec![0, 3, 1, 4]),
            ("330106", vec![2, 0, 3, 1]),
        ] {
            for (since, until) in [(0, 10), (40, 59), (30, 45), (5, 25), (-5, 80), (55, 90)] {
                check_lookup(&store, &rows, j, &bands, t0 + since * DAY, t0 + until * DAY);
            }
        }
        store.flush().unwrap();
    }
    let store = open_with(dir.path(), 10);
    store.check_consistency().unwrap();
    for (j, bands) in [("330106", vec![0, 3, 1, 4]), ("330102", vec![1, 4, 2, 0])] {
        for (since, until) in [(0, 10), (40, 59), (30, 45), (5, 25), (-5, 80)] {
            check_lookup(&store, &rows, j, &bands, t0 + since * DAY, t0 + until * DAY);
        }
    }
}

/// A schema 1 store (JSON values, band keys in their own tree) opens as schema 2 with every case,
/// dedup entry, correction and outbox entry (and payload) intact.
#[test]
fn schema_1_store_is_migrated_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let (cases, pending, dead);
    {
        let store = SledStore::open(dir.path()).unwrap();
        let mut n = new_case(&Spec::default());
        n.dedup = Some(DedupEntry {
            jurisdiction: "330106".into(),
            bands: vec![1, 2, 3],
            fingerprint: vec![9, 9],
            received_at: T0,
            category: "CAT.NOISE".into(),
        });
        let a = store.insert_case(n).unwrap().case;
        linked(&store, &Spec::default(), &a.id, 0.8);
        let b = insert(&store, &Spec::default());
        set_labels(&store, &b.id, None, Some("DEPT.ROADS"), "", "op", T0 + 1).unwrap();
        let due = store.outbox_due(T0 + 10, 10).unwrap();
        store
            .outbox_failed(due[0].seq, "rejected", T0 + 11, true)
            .unwrap();
        cases = store
            .list_cases(&CaseFilter::default(), 100, None)
            .unwrap()
            .cases;
        pending = store.outbox_list(false, 100).unwrap();
        dead = store.outbox_list(true, 100).unwrap();
        store.flush().unwrap();
    }
    // rewrite it as schema 1 would have stored it: JSON of the frozen records (schema 1 wrote
    // JSON with the field and variant names the records keep), never of today's domain types
    {
        let db = sled::open(dir.path()).unwrap();
        type Rewrite<'a> = &'a dyn Fn(&[u8], &[u8]) -> Vec<u8>;
        let rewrite = |tree: &str, f: Rewrite<'_>| {
            let t = db.open_tree(tree).unwrap();
            for kv in t.iter() {
                let (k, v) = kv.unwrap();
                t.insert(&k, f(&k, &v)).unwrap();
            }
        };
        // A case as schema 1 held it: whole, a master with its report links (schema 5 keeps
        // them apart, in `case_links`, which schema 1 did not have).
        rewrite("cases", &|k, _| {
            let c = cases.iter().find(|c| c.id.as_bytes() == k).unwrap().clone();
            serde_json::to_vec(&record::CaseV4::from(c).case.case).unwrap()
        });
        db.drop_tree("case_links").unwrap();
        rewrite("dedup_entries", &|_, v| {
            serde_json::to_vec(&postcard::from_bytes::<record::DedupEntryV2>(v).unwrap()).unwrap()
        });
        rewrite("corrections", &|_, v| {
            serde_json::to_vec(&postcard::from_bytes::<record::CorrectionV2>(v).unwrap()).unwrap()
        });
        rewrite("outbox_queue", &|_, v| {
            serde_json::to_vec(&postcard::from_bytes::<Vec<u64>>(v).unwrap()).unwrap()
        });
        let by_seq = |entries: &[OutboxEntry], k: &[u8]| {
            let seq = u64::from_be_bytes(k.try_into().unwrap());
            let e = entries.iter().find(|e| e.seq == seq).unwrap().clone();
            serde_json::to_vec(&record::OutboxEntryV1::from(e)).unwrap()
        };
        rewrite("outbox", &|k, _| by_seq(&pending, k));
        rewrite("dead_letters", &|k, _| by_seq(&dead, k));
        db.open_tree("dedup_bands")
            .unwrap()
            .insert(b"anything", &[][..])
            .unwrap();
        db.open_tree("meta")
            .unwrap()
            .insert("schema_version", &1u32.to_be_bytes())
            .unwrap();
        db.flush().unwrap();
    }
    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(
        store
            .list_cases(&CaseFilter::default(), 100, None)
            .unwrap()
            .cases,
        cases
    );
    assert_eq!(store.outbox_list(false, 100).unwrap(), pending);
    assert_eq!(store.outbox_list(true, 100).unwrap(), dead);
    assert_eq!(store.corrections().unwrap().len(), 1);
    assert_eq!(
        store
            .dedup_candidates("330106", &[1, 2, 3], T0, T0, 10)
            .unwrap()
            .len(),
        1
    );
    store.check_consistency().unwrap();
    assert!(
        !store
            .db()
            .tree_names()
            .iter()
            .any(|n| n.as_ref() == b"dedup_bands")
    );
    drop(store);
    // and it stays schema 2
    let store = SledStore::open(dir.path()).unwrap();
    store.check_consistency().unwrap();
}
