//! Department figures against a hand-computed fixture: a scripted sequence of submits, a linked
//! report, a return (退单), a correction, resolutions and ratings (回访) written by the real case
//! rules to a real sled store, then the figures of several windows, after a reopen, and after the
//! counters are built again from the cases (what a store that held cases before does at open).

#[path = "../../paidan-store/tests/common/mod.rs"]
mod common;

use common::*;
use paidan_core::dispatch::Catalogue;
use paidan_core::figures::{self, Figures, Row};
use paidan_core::followup::record_follow_up;
use paidan_core::returns::return_case;
use paidan_core::rules::{self, Act};
use paidan_model::Taxonomy;
use paidan_store::*;

const H: Millis = 3_600_000;
const DAY: Millis = 24 * H;

fn catalogue() -> Catalogue {
    let tax = Taxonomy::from_codes(
        "t",
        &["CAT.NOISE".to_string(), "CAT.OTHER".to_string()],
        &["DEPT.ENV", "DEPT.WATER", "DEPT.URBAN", "DEPT.OTHER"].map(String::from),
    );
    Catalogue::parse(
        "t.toml",
        "version = \"t\"\n[defaults]\ndeadline = { normal = 10, urgent = 3, very_urgent = 1 }\n",
        &tax,
    )
    .unwrap()
}

fn act(at: Millis) -> Act<'static> {
    Act {
        note: "",
        actor: "platform:12345",
        at,
    }
}

fn submit(store: &SledStore, rid: &str, at: Millis, due: Option<Millis>) -> String {
    let mut n = new_case(&Spec {
        request_id: rid,
        received_at: at,
        ..Spec::default()
    });
    n.record.triage.department_alternatives = vec![label("DEPT.WATER")];
    n.record.dispatch.due_at = due;
    store.insert_case(n).unwrap().case.id
}

fn moves(store: &SledStore, id: &str, path: &[(CaseStatus, Millis)]) {
    for (to, at) in path {
        store
            .edit_cases(&|r| rules::update_status(r, id, *to, act(*at)))
            .unwrap();
    }
}

fn rate(store: &SledStore, id: &str, s: Satisfaction, at: Millis) {
    let cat = catalogue();
    store
        .edit_cases(&|r| record_follow_up(r, id, s, &cat, act(at)))
        .unwrap();
}

/// The script (times from T0 = 2026-01-01T00:00Z), and what each case counts:
/// - A (ENV, NOISE): received 0h, due 3d; resolved 10h (on time); satisfied 11h.
/// - B (ENV → WATER, NOISE): received 1h, due 2d; returned by ENV at 2h (re-dispatched to WATER,
///   the model's next department); resolved 72h (late: 71 h); basically satisfied 73h.
/// - C (ENV → URBAN by a correction at 4h, NOISE): received 2h, due 1d; still in progress:
///   overdue from 24h.
/// - D: a report linked to A at 4h: carried by A, counts nothing.
/// - E (OTHER, OTHER) in jurisdiction 330108: received 3h, no deadline.
/// - F (ENV, NOISE): received 5h, due 3d; resolved 20h, dissatisfied at 21h: reopened with a new
///   deadline about two weeks on, so neither resolved nor overdue.
fn script(store: &SledStore) {
    use CaseStatus::*;
    let a = submit(store, "a", T0, Some(T0 + 3 * DAY));
    moves(
        store,
        &a,
        &[
            (Dispatched, T0 + H),
            (InProgress, T0 + 2 * H),
            (Resolved, T0 + 10 * H),
        ],
    );
    rate(store, &a, Satisfaction::Satisfied, T0 + 11 * H);

    let b = submit(store, "b", T0 + H, Some(T0 + 2 * DAY));
    moves(store, &b, &[(Dispatched, T0 + H)]);
    let cat = catalogue();
    let back = store
        .edit_cases(&|r| {
            return_case(
                r,
                &b,
                "DEPT.ENV",
                ReturnReason::NotOurResponsibility,
                &cat,
                act(T0 + 2 * H),
            )
        })
        .unwrap();
    assert_eq!(back[0].department, "DEPT.WATER");
    moves(
        store,
        &b,
        &[(InProgress, T0 + 3 * H), (Resolved, T0 + 3 * DAY)],
    );
    rate(
        store,
        &b,
        Satisfaction::BasicallySatisfied,
        T0 + 3 * DAY + H,
    );

    let c = submit(store, "c", T0 + 2 * H, Some(T0 + DAY));
    moves(store, &c, &[(Dispatched, T0 + 3 * H)]);
    store
        .edit_cases(&|r| rules::correct(r, &c, None, Some("DEPT.URBAN"), act(T0 + 4 * H)))
        .unwrap();

    linked(
        store,
        &Spec {
            request_id: "d",
            received_at: T0 + 4 * H,
            ..Spec::default()
        },
        &a,
        0.9,
    );

    insert(
        store,
        &Spec {
            request_id: "e",
            received_at: T0 + 3 * H,
            jurisdiction: "330108",
            category: "CAT.OTHER",
            department: "DEPT.OTHER",
            ..Spec::default()
        },
    );

    let f = submit(store, "f", T0 + 5 * H, Some(T0 + 3 * DAY));
    moves(
        store,
        &f,
        &[
            (Dispatched, T0 + 6 * H),
            (InProgress, T0 + 7 * H),
            (Resolved, T0 + 20 * H),
        ],
    );
    rate(store, &f, Satisfaction::Dissatisfied, T0 + 21 * H);
    let f = store.get_case(&f).unwrap().unwrap();
    assert_eq!(f.status, CaseStatus::InProgress);
    assert!(f.dispatch.due_at.unwrap() > T0 + 7 * DAY);
}

/// (name, received, resolved, on time, overdue open, returned, rated, satisfaction, mean hours)
type Want = (&'static str, u64, u64, u64, u64, u64, u64, f64, f64);

type Got = (String, u64, u64, u64, u64, u64, u64, f64, f64);

fn rows(rows: &[Row]) -> Vec<Got> {
    rows.iter()
        .map(|r| {
            (
                r.name.clone(),
                r.received,
                r.resolved,
                r.resolved_on_time,
                r.overdue_open,
                r.returned,
                r.rated,
                (r.satisfaction_rate * 1000.0).round() / 1000.0,
                r.mean_hours_to_resolve,
            )
        })
        .collect()
}

/// (jurisdiction, since, until, now, departments, categories)
type Case = (
    Option<&'static str>,
    Millis,
    Millis,
    Millis,
    Vec<Want>,
    Vec<Want>,
);

fn table() -> Vec<Case> {
    let week = T0 + 7 * DAY;
    let now = T0 + 5 * DAY;
    let env = ("DEPT.ENV", 2, 1, 1, 0, 1, 2, 0.5, 10.0);
    let water = ("DEPT.WATER", 1, 1, 0, 0, 0, 1, 1.0, 71.0);
    let urban = ("DEPT.URBAN", 1, 0, 0, 1, 0, 0, 0.0, 0.0);
    let other = ("DEPT.OTHER", 1, 0, 0, 0, 0, 0, 0.0, 0.0);
    let noise = ("CAT.NOISE", 4, 2, 1, 1, 1, 3, 0.667, 40.5);
    let cat_other = ("CAT.OTHER", 1, 0, 0, 0, 0, 0, 0.0, 0.0);
    vec![
        // the week, every jurisdiction
        (
            None,
            T0,
            week,
            now,
            vec![env, other, urban, water],
            vec![noise, cat_other],
        ),
        // one jurisdiction
        (
            Some("330106"),
            T0,
            week,
            now,
            vec![env, urban, water],
            vec![noise],
        ),
        // from day 2: B's resolution and rating, C's passed deadline
        (
            None,
            T0 + DAY,
            week,
            now,
            vec![
                ("DEPT.URBAN", 0, 0, 0, 1, 0, 0, 0.0, 0.0),
                ("DEPT.WATER", 0, 1, 0, 0, 0, 1, 1.0, 71.0),
            ],
            vec![("CAT.NOISE", 0, 1, 0, 1, 0, 1, 1.0, 71.0)],
        ),
        // asked before C's deadline passed: nothing overdue yet
        (
            Some("330106"),
            T0,
            week,
            T0 + 12 * H,
            vec![env, ("DEPT.URBAN", 1, 0, 0, 0, 0, 0, 0.0, 0.0), water],
            vec![("CAT.NOISE", 4, 2, 1, 0, 1, 3, 0.667, 40.5)],
        ),
        // the first 3 hours, `until` mid-hour (rounded up to 03:00)
        (
            None,
            T0,
            T0 + 2 * H + 1,
            now,
            vec![
                ("DEPT.ENV", 1, 0, 0, 0, 1, 0, 0.0, 0.0),
                ("DEPT.URBAN", 1, 0, 0, 0, 0, 0, 0.0, 0.0),
                ("DEPT.WATER", 1, 0, 0, 0, 0, 0, 0.0, 0.0),
            ],
            vec![("CAT.NOISE", 3, 0, 0, 0, 1, 0, 0.0, 0.0)],
        ),
    ]
}

fn got(w: Vec<Want>) -> Vec<Got> {
    w.into_iter()
        .map(|(n, a, b, c, d, e, f, g, h)| (n.to_string(), a, b, c, d, e, f, g, h))
        .collect()
}

fn check(store: &SledStore, when: &str) {
    for (i, (j, since, until, now, departments, categories)) in table().into_iter().enumerate() {
        let q = figures::query(j.map(String::from), Some(since), Some(until), now).unwrap();
        let f: Figures = figures::read(store, &q).unwrap();
        assert_eq!(
            rows(&f.departments),
            got(departments),
            "{when}: row {i}, departments"
        );
        assert_eq!(
            rows(&f.categories),
            got(categories),
            "{when}: row {i}, categories"
        );
    }
}

#[test]
fn figures_equal_the_hand_computed_fixture() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SledStore::open(dir.path()).unwrap();
        script(&store);
        check(&store, "as written");
        store.flush().unwrap();
    }
    // the counters survive a reopen
    let store = SledStore::open(dir.path()).unwrap();
    check(&store, "reopened");
    // a store that holds cases but no counters (as one written before they existed) builds them
    // once at open, and the figures are the same
    store.db().open_tree("figures").unwrap().clear().unwrap();
    store
        .db()
        .open_tree("meta")
        .unwrap()
        .remove("figures_built")
        .unwrap();
    store.flush().unwrap();
    drop(store);
    let store = SledStore::open(dir.path()).unwrap();
    check(&store, "rebuilt at open");
}

#[test]
fn the_window_defaults_to_the_last_30_days_and_must_not_be_empty() {
    let now = T0 + 100 * DAY + 30 * 60_000;
    let q = figures::query(None, None, None, now).unwrap();
    assert_eq!((q.since, q.until), (now - 30 * DAY, now));
    // the report covers whole hours: since rounded down, until up
    let f = figures::report(&q, &[]);
    assert_eq!((f.since, f.until), (T0 + 70 * DAY, T0 + 100 * DAY + H));
    let q = figures::query(Some(" ".into()), Some(T0), None, now).unwrap();
    assert_eq!((q.since, q.until, q.jurisdiction), (T0, now, None));
    for (since, until) in [(Some(T0), Some(T0)), (Some(T0 + 1), Some(T0))] {
        assert!(figures::query(None, since, until, now).is_err());
    }
}
