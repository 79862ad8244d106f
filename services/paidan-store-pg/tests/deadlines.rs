//! The `deadline_pending` column of a PostgreSQL database that held cases before it kept it
//! (migration 0007 on a database with cases): the first paidan that opens it fills the column
//! from the stored records once, and says so in `deadlines_built`; the deadline watch's read
//! (`Store::for_each_deadline_pending`) then finds those cases through it.

#[path = "../../paidan-store/tests/common/mod.rs"]
mod common;
mod pg;

use common::*;
use paidan_store::*;
use paidan_store_pg::PgStore;

fn sql(url: &str, statement: &str) -> Vec<postgres::Row> {
    let mut c = postgres::Client::connect(url, postgres::NoTls).expect("connect");
    c.query(statement, &[]).expect(statement)
}

fn pending(store: &dyn Store) -> Vec<String> {
    let mut got = Vec::new();
    store
        .for_each_deadline_pending(Millis::MAX, &mut |c| got.push(c.id))
        .unwrap();
    got
}

#[test]
fn a_database_with_cases_fills_the_deadline_column_once_at_open() {
    let db = pg::TestDb::new("deadlines_build");
    let ids: Vec<String> = {
        let store = PgStore::open(&db.url).unwrap();
        // (deadline, status): due later, none, due earlier, resolved
        [
            (Some(T0 + 3 * MIN), CaseStatus::Accepted),
            (None, CaseStatus::Accepted),
            (Some(T0 + MIN), CaseStatus::Rejected),
            (Some(T0 + 2 * MIN), CaseStatus::Resolved),
        ]
        .into_iter()
        .enumerate()
        .map(|(i, (due, status))| {
            let mut n = new_case(&Spec {
                request_id: &format!("r{i}"),
                ..Spec::default()
            });
            n.record.dispatch.due_at = due;
            n.record.status = status;
            store.insert_case(n).unwrap().case.id
        })
        .collect()
    };
    let want = vec![ids[2].clone(), ids[0].clone()];
    assert_eq!(pending(&PgStore::open(&db.url).unwrap()), want);
    // as a database migrated to 0007 with cases in it: the column empty, not built
    sql(&db.url, "UPDATE cases SET deadline_pending = NULL");
    sql(&db.url, "DELETE FROM deadlines_built");
    let filled = |url: &str| -> i64 {
        sql(
            url,
            "SELECT count(*) FROM cases WHERE deadline_pending IS NOT NULL",
        )[0]
        .get(0)
    };
    assert_eq!(filled(&db.url), 0);
    let store = PgStore::open(&db.url).unwrap();
    assert_eq!(filled(&db.url), 2, "filled from the records");
    assert_eq!(sql(&db.url, "SELECT 1 FROM deadlines_built").len(), 1);
    assert_eq!(pending(&store), want);
    drop(store);
    // filled once: a later open leaves the column alone (a value set by hand stays)
    sql(&db.url, "UPDATE cases SET deadline_pending = NULL");
    let store = PgStore::open(&db.url).unwrap();
    assert_eq!(filled(&db.url), 0);
    assert_eq!(pending(&store), Vec::<String>::new());
}
