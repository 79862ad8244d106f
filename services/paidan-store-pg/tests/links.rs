//! A master's report links as rows of `case_links` (migration 0008): a link writes a row and the
//! master's small head, never the matter, and no event payload copies the links (its head's
//! version names them). A master written before 0008, with its links in its record, reads as it
//! is and moves them to rows at its next link.

#[path = "../../paidan-store/tests/common/mod.rs"]
mod common;
mod pg;

use common::*;
use paidan_store::*;
use paidan_store_pg::PgStore;

fn sql(
    url: &str,
    statement: &str,
    params: &[&(dyn postgres::types::ToSql + Sync)],
) -> Vec<postgres::Row> {
    let mut c = postgres::Client::connect(url, postgres::NoTls).expect("connect");
    c.query(statement, params).expect(statement)
}

/// Rows `master` has in `case_links`.
fn link_rows(url: &str, master: &str) -> i64 {
    sql(
        url,
        "SELECT count(*) FROM case_links WHERE master = $1",
        &[&master],
    )[0]
    .get(0)
}

fn report(store: &dyn Store, n: i64, master: &str) -> CaseRecord {
    let rid = format!("r-{n}");
    let spec = Spec {
        request_id: &rid,
        received_at: T0 + n * MIN,
        text: "又是夜间施工，吵得睡不着，已经是第好几次反映了，请尽快处理",
        ..Spec::default()
    };
    linked(store, &spec, master, 0.9)
}

#[test]
fn a_link_writes_a_row_not_the_matter() {
    let db = pg::TestDb::new("links_o1");
    let store: Box<dyn Store> = Box::new(PgStore::open(&db.url).unwrap());
    let store = &*store;
    let m = insert(store, &Spec::default());
    let record_bytes = || {
        let rows = sql(
            &db.url,
            "SELECT length(record) FROM cases WHERE id = $1",
            &[&m.id],
        );
        rows[0].get::<_, i32>(0)
    };
    for n in 1..=10 {
        report(store, n, &m.id);
    }
    let after_10 = record_bytes();
    for n in 11..=200 {
        report(store, n, &m.id);
    }
    let after_200 = record_bytes();
    assert!(
        after_200 - after_10 <= 190 * 4,
        "the master's record grew from {after_10} to {after_200} bytes over 190 links"
    );
    let largest: i32 = sql(
        &db.url,
        "SELECT max(length(payload)) FROM outbox WHERE case_id = $1",
        &[&m.id],
    )[0]
    .get(0);
    assert!(
        largest <= after_200 + 64,
        "an event payload of {largest} bytes copies links (master: {after_200} bytes)"
    );
    assert_eq!(link_rows(&db.url, &m.id), 200);
    let whole = store.get_case(&m.id).unwrap().unwrap();
    assert_eq!(whole.reports.len(), 200);
    assert_eq!(whole.last_report_at(), T0 + 200 * MIN);
    let head = store.get_case_head(&m.id).unwrap().unwrap();
    assert_eq!(
        (head.report_count, head.last_report_at),
        (201, T0 + 200 * MIN)
    );
}

#[test]
fn a_master_with_its_links_in_its_record_moves_them_at_its_next_link() {
    let db = pg::TestDb::new("links_embedded");
    let store: Box<dyn Store> = Box::new(PgStore::open(&db.url).unwrap());
    let store = &*store;
    let m = insert(store, &Spec::default());
    let first = insert(store, &Spec::default());
    // as a build before migration 0008 stored a master: its link in its record
    let mut old = store.get_case(&m.id).unwrap().unwrap();
    old.reports.push(ReportLink {
        case_id: first.id.clone(),
        request_id: String::new(),
        received_at: T0 + 30_000,
        score: 0.8,
        text_excerpt: "又是夜间施工".into(),
    });
    sql(
        &db.url,
        "UPDATE cases SET record = $2, last_report_at = $3 WHERE id = $1",
        &[&m.id, &record::encode_case(&old), &old.last_report_at()],
    );
    assert_eq!(store.get_case(&m.id).unwrap().unwrap().reports, old.reports);
    let second = report(store, 1, &m.id);
    let master = store.get_case(&m.id).unwrap().unwrap();
    assert_eq!(
        master
            .reports
            .iter()
            .map(|r| r.case_id.as_str())
            .collect::<Vec<_>>(),
        [first.id.as_str(), second.id.as_str()]
    );
    assert_eq!(link_rows(&db.url, &m.id), 2);
    // the new link's event shows both links: the one moved to a row and its own
    let shown: Vec<usize> = store
        .outbox_list(false, 100)
        .unwrap()
        .into_iter()
        .filter(|e| e.case_id == m.id && e.kind == EventKind::DuplicateLinked)
        .map(|e| e.case.reports.len())
        .collect();
    assert_eq!(shown, [2]);
}
