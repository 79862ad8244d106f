//! The figures' counters of a PostgreSQL database that held cases before it kept them (migration
//! 0003 on a database with cases): the first paidan that opens it counts every stored case once,
//! and says so in `figures_built`; a later open counts nothing again.

#[path = "../../paidan-store/tests/common/mod.rs"]
mod common;
mod pg;

use common::*;
use paidan_store::figures::FigureQuery;
use paidan_store::*;
use paidan_store_pg::PgStore;

fn sql(url: &str, statement: &str) -> Vec<postgres::Row> {
    let mut c = postgres::Client::connect(url, postgres::NoTls).expect("connect");
    c.query(statement, &[]).expect(statement)
}

#[test]
fn a_database_with_cases_is_counted_once_at_open() {
    let db = pg::TestDb::new("figures_build");
    let q = FigureQuery {
        jurisdiction: None,
        since: T0,
        until: T0 + 86_400_000,
        now: T0 + 86_400_000,
    };
    let before = {
        let store = PgStore::open(&db.url).unwrap();
        for (i, (category, department)) in [
            ("CAT.NOISE", "DEPT.ENV"),
            ("CAT.NOISE", "DEPT.WATER"),
            ("CAT.OTHER", "DEPT.ENV"),
        ]
        .into_iter()
        .enumerate()
        {
            insert(
                &store as &dyn Store,
                &Spec {
                    request_id: &format!("r{i}"),
                    received_at: T0 + i as i64 * 60_000,
                    category,
                    department,
                    ..Spec::default()
                },
            );
        }
        let sums = store.figures(&q).unwrap();
        assert_eq!(sums.iter().map(|s| s.n).sum::<i64>(), 6, "{sums:?}");
        sums
    };
    // as a database migrated to 0003 with cases in it: no counters, not built
    sql(&db.url, "DELETE FROM figures");
    sql(&db.url, "DELETE FROM figures_built");
    let store = PgStore::open(&db.url).unwrap();
    assert_eq!(store.figures(&q).unwrap(), before, "built from the cases");
    assert_eq!(sql(&db.url, "SELECT 1 FROM figures_built").len(), 1);
    drop(store);
    // built once: a later open does not count again
    let store = PgStore::open(&db.url).unwrap();
    assert_eq!(store.figures(&q).unwrap(), before);
}
