//! Migration 0006 on a database that holds band rows: the open cases' keys in `dedup_bands`
//! (schema 5) move into their entries' `bands` arrays, the table is dropped, and every lookup
//! finds the same candidates with the same shared counts as before, next to cases inserted
//! after the migration.

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

fn with_bands(store: &PgStore, jurisdiction: &str, bands: &[u64], minute: i64) -> String {
    let spec = Spec {
        jurisdiction,
        received_at: T0 + minute * MIN,
        ..Spec::default()
    };
    let mut n = new_case(&spec);
    n.dedup = Some(DedupEntry {
        jurisdiction: jurisdiction.to_string(),
        bands: bands.to_vec(),
        fingerprint: vec![1, 2, 3],
        received_at: spec.received_at,
        category: spec.category.to_string(),
    });
    store.insert_case(n).unwrap().case.id
}

/// Schema 5's band table, as 0001_init.sql made it, filled from the arrays; the arrays go.
const TO_SCHEMA_5: &str = "
    CREATE TABLE dedup_bands (
        jurisdiction text NOT NULL,
        band         bigint NOT NULL,
        case_id      text NOT NULL REFERENCES dedup_entries (case_id) ON DELETE CASCADE,
        PRIMARY KEY (jurisdiction, band, case_id)
    );
    CREATE INDEX dedup_bands_case ON dedup_bands (case_id);
    INSERT INTO dedup_bands (jurisdiction, band, case_id)
        SELECT DISTINCT jurisdiction, b, case_id FROM dedup_entries, unnest(bands) AS b;
    DROP INDEX dedup_entries_bands;
    ALTER TABLE dedup_entries DROP COLUMN bands;
    DELETE FROM paidan_migrations WHERE version = 6;";

#[test]
fn band_rows_of_schema_5_move_into_the_arrays_and_are_still_found() {
    let db = pg::TestDb::new("band_arrays");
    // (jurisdiction, bands): two matters in one jurisdiction, one elsewhere, a closed case
    let store = PgStore::open(&db.url).unwrap();
    let a = with_bands(&store, "330106", &[10, 20, 30, 40], 0);
    let b = with_bands(&store, "330106", &[10, 20, 99, 98, 98], 1);
    let c = with_bands(&store, "330106", &[11, 20, 31, 41], 2);
    let other = with_bands(&store, "330102", &[10, 20, 30, 40], 3);
    let high = with_bands(&store, "330107", &[u64::MAX, 1 << 63], 4);
    let closed = with_bands(&store, "330106", &[10, 20, 30, 40], 5);
    set_status(
        &store as &dyn Store,
        &closed,
        CaseStatus::Closed,
        "done",
        "op",
        T0,
    )
    .unwrap();
    drop(store);

    let mut c5 = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    c5.batch_execute(&format!("BEGIN; {TO_SCHEMA_5} COMMIT;"))
        .unwrap();
    let rows = sql(&db.url, "SELECT count(*) FROM dedup_bands");
    // 4 + 4 (98 once) + 4 + 4 + 2 keys; the closed case has none
    assert_eq!(rows[0].get::<_, i64>(0), 18);

    // (jurisdiction, query bands, since minute, expected (id, shared))
    type Row<'a> = (&'a str, Vec<u64>, i64, Vec<(&'a str, u32)>);
    let table: Vec<Row<'_>> = vec![
        (
            "330106",
            vec![10, 20, 30, 40],
            0,
            vec![(&a, 4), (&b, 2), (&c, 1)],
        ),
        ("330106", vec![0, 98, 99, 0], 0, vec![(&b, 2)]),
        // a query key given twice counts once (distinct shared bands: the trait's rule, as the
        // sled store counts; the band rows counted it twice)
        ("330106", vec![40, 40], 0, vec![(&a, 1)]),
        // a span that starts after a and b: only c
        ("330106", vec![10, 20, 30, 40], 2, vec![(&c, 1)]),
        ("330102", vec![10, 20, 30, 40], 0, vec![(&other, 4)]),
        ("330107", vec![1 << 63, 5, u64::MAX], 0, vec![(&high, 2)]),
        ("110000", vec![10, 20, 30, 40], 0, vec![]),
    ];
    let lookups = |store: &PgStore| -> Vec<Vec<(String, u32)>> {
        table
            .iter()
            .map(|(j, bands, since, _)| {
                let mut got = store
                    .dedup_candidates(j, bands, T0 + since * MIN, i64::MAX, 10)
                    .unwrap();
                got.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
                got
            })
            .collect()
    };
    let want: Vec<Vec<(String, u32)>> = table
        .iter()
        .map(|(.., want)| {
            let mut w: Vec<(String, u32)> =
                want.iter().map(|(id, n)| (id.to_string(), *n)).collect();
            w.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
            w
        })
        .collect();

    // the open migrates: the rows are gone, the keys are in the arrays, the lookups unchanged
    let store = PgStore::open(&db.url).unwrap();
    let tables = sql(&db.url, "SELECT to_regclass('dedup_bands') IS NULL");
    assert!(tables[0].get::<_, bool>(0), "dedup_bands is dropped");
    let arrays = sql(
        &db.url,
        "SELECT case_id, bands FROM dedup_entries ORDER BY case_id",
    );
    let arrays: Vec<(String, Vec<i64>)> = arrays.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        arrays,
        vec![
            (a.clone(), vec![10, 20, 30, 40]),
            (b.clone(), vec![10, 20, 98, 99]),
            (c.clone(), vec![11, 20, 31, 41]),
            (other.clone(), vec![10, 20, 30, 40]),
            (high.clone(), vec![i64::MIN, -1]),
        ]
    );
    assert_eq!(lookups(&store), want);
    // a case inserted after the migration is found with the migrated ones, ahead on ties
    let d = with_bands(&store, "330106", &[10, 20, 30, 40], 6);
    assert_eq!(
        store
            .dedup_candidates("330106", &[10, 20, 30, 40], T0, i64::MAX, 2)
            .unwrap(),
        vec![(d.clone(), 4), (a.clone(), 4)]
    );
    // and closing a migrated case removes its keys
    set_status(
        &store as &dyn Store,
        &a,
        CaseStatus::Closed,
        "done",
        "op",
        T0,
    )
    .unwrap();
    let got = store
        .dedup_candidates("330106", &[10, 20, 30, 40], T0, i64::MAX, 10)
        .unwrap();
    assert_eq!(got, vec![(d, 4), (b, 2), (c, 1)]);
}
