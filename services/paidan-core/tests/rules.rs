//! The case rules of paidan-core (`rules`) applied by a real sled store: the lifecycle table,
//! corrections, split and merge, with what they leave in the store (history, events, indexes).
//! The fixtures are the store's own (`paidan-store/tests/common`), so both suites build cases
//! the same way.

#[path = "../../paidan-store/tests/common/mod.rs"]
mod common;

use common::*;
use paidan_core::rules::{self, Act};
use paidan_store::*;

fn open() -> (tempfile::TempDir, SledStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    (dir, store)
}

fn act<'a>(note: &'a str, actor: &'a str, at: Millis) -> Act<'a> {
    Act { note, actor, at }
}

fn first(cases: Result<Vec<CaseRecord>>) -> Result<CaseRecord> {
    Ok(cases?.into_iter().next().expect("the edit wrote a case"))
}

fn status(
    store: &SledStore,
    id: &str,
    to: CaseStatus,
    note: &str,
    actor: &str,
    at: Millis,
) -> Result<CaseRecord> {
    first(store.edit_cases(&|r| rules::update_status(r, id, to, act(note, actor, at))))
}

fn correct(
    store: &SledStore,
    id: &str,
    category: Option<&str>,
    department: Option<&str>,
    note: &str,
    actor: &str,
    at: Millis,
) -> Result<CaseRecord> {
    first(store.edit_cases(&|r| rules::correct(r, id, category, department, act(note, actor, at))))
}

fn split_off(
    store: &SledStore,
    id: &str,
    note: &str,
    actor: &str,
    at: Millis,
) -> Result<CaseRecord> {
    first(store.edit_cases(&|r| rules::split(r, id, act(note, actor, at))))
}

fn merge(
    store: &SledStore,
    master: &str,
    duplicate: &str,
    note: &str,
    actor: &str,
    at: Millis,
) -> Result<CaseRecord> {
    first(store.edit_cases(&|r| rules::merge(r, master, duplicate, act(note, actor, at))))
}

#[test]
fn lifecycle_transitions_follow_the_table() {
    use CaseStatus::*;
    // (path of moves from Accepted, index of the first move that must be refused or None)
    let table: &[(&[CaseStatus], Option<usize>)] = &[
        (
            &[Dispatched, InProgress, Resolved, FollowedUp, Closed],
            None,
        ),
        (
            &[
                Dispatched, Rejected, Dispatched, Resolved, InProgress, Resolved,
            ],
            None,
        ),
        (&[Closed], None),
        (&[Accepted], Some(0)),
        (&[InProgress], Some(0)),
        (&[Resolved], Some(0)),
        (&[Dispatched, FollowedUp], Some(1)),
        (&[Closed, Accepted], Some(1)),
        (&[Closed, Dispatched], Some(1)),
        (
            &[
                Dispatched, InProgress, Resolved, FollowedUp, InProgress, Closed, InProgress,
            ],
            Some(6),
        ),
    ];
    let (_dir, store) = open();
    for (path, refused_at) in table {
        let case = insert(&store, &Spec::default());
        let mut expect_status = Accepted;
        for (i, to) in path.iter().enumerate() {
            let r = status(&store, &case.id, *to, "note", "op1", T0 + i as i64);
            if Some(i) == *refused_at {
                match r {
                    Err(StoreError::InvalidTransition { from, to: t, .. }) => {
                        assert_eq!((from, t), (expect_status, *to), "{path:?}")
                    }
                    other => panic!("{path:?} step {i}: expected InvalidTransition, got {other:?}"),
                }
                break;
            }
            let c = r.unwrap_or_else(|e| panic!("{path:?} step {i}: {e}"));
            assert_eq!(c.status, *to);
            expect_status = *to;
        }
        let stored = store.get_case(&case.id).unwrap().unwrap();
        assert_eq!(stored.status, expect_status, "{path:?}");
        let moves = refused_at.unwrap_or(path.len());
        assert_eq!(stored.history.len(), moves, "{path:?}");
        for (h, to) in stored.history.iter().zip(path.iter()) {
            assert_eq!(h.to, *to);
            assert_eq!(h.actor, "op1");
        }
        // one Created event plus one Updated per accepted move
        assert_eq!(
            stored.forwarding.next_sequence,
            2 + moves as u64,
            "{path:?}"
        );
    }
    assert!(matches!(
        status(&store, "PD999999999999", Dispatched, "", "", T0),
        Err(StoreError::NotFound(_))
    ));
    store.check_consistency().unwrap();
}

#[test]
fn link_split_merge_keep_both_sides_consistent() {
    let (_dir, store) = open();
    let a = insert(
        &store,
        &Spec {
            received_at: T0,
            ..Spec::default()
        },
    );
    let b = insert(
        &store,
        &Spec {
            received_at: T0 + MIN,
            ..Spec::default()
        },
    );
    let r1 = linked(
        &store,
        &Spec {
            received_at: T0 + 2 * MIN,
            text: "工地晚上还在施工",
            ..Spec::default()
        },
        &a.id,
        0.8,
    );
    // linking to a linked report links to its master
    let r2 = linked(
        &store,
        &Spec {
            received_at: T0 + 3 * MIN,
            ..Spec::default()
        },
        &r1.id,
        0.7,
    );
    let r3 = linked(
        &store,
        &Spec {
            received_at: T0 + 4 * MIN,
            ..Spec::default()
        },
        &b.id,
        0.9,
    );
    let get = |id: &str| store.get_case(id).unwrap().unwrap();
    let reports = |id: &str| {
        get(id)
            .reports
            .iter()
            .map(|r| r.case_id.clone())
            .collect::<Vec<_>>()
    };

    assert_eq!(reports(&a.id), vec![r1.id.clone(), r2.id.clone()]);
    assert_eq!(get(&a.id).report_count(), 3);
    assert_eq!(get(&a.id).reports[0].text_excerpt, "工地晚上还在施工");
    assert_eq!(get(&r2.id).duplicate_of.as_deref(), Some(a.id.as_str()));
    assert_eq!(get(&r2.id).forwarding.state, ForwardingState::NotForwarded);
    assert_eq!(get(&a.id).last_report_at(), T0 + 3 * MIN);
    assert!(matches!(
        store.insert_case(NewCase {
            link_to: Some(Link {
                master_id: "PD000000999999".into(),
                score: 1.0,
                text_excerpt: String::new(),
            }),
            ..new_case(&Spec::default())
        }),
        Err(StoreError::NotFound(_))
    ));

    // split r1 off a
    let split = split_off(&store, &r1.id, "different matter", "op", T0 + 10 * MIN).unwrap();
    assert_eq!(split.duplicate_of, None);
    assert_eq!(split.forwarding.state, ForwardingState::Pending);
    assert_eq!(reports(&a.id), vec![r2.id.clone()]);
    assert!(get(&a.id).history.last().unwrap().note.contains(&r1.id));
    assert!(matches!(
        split_off(&store, &a.id, "", "op", T0),
        Err(StoreError::Invalid(_))
    ));

    // merge b (with r3) into a
    let m = merge(&store, &a.id, &b.id, "same site", "op", T0 + 11 * MIN).unwrap();
    let mut want = vec![r2.id.clone(), b.id.clone(), r3.id.clone()];
    want.sort_by_key(|id| get(id).received_at);
    assert_eq!(
        m.reports
            .iter()
            .map(|r| r.case_id.clone())
            .collect::<Vec<_>>(),
        want
    );
    assert_eq!(get(&b.id).duplicate_of.as_deref(), Some(a.id.as_str()));
    assert_eq!(get(&b.id).reports, vec![]);
    assert_eq!(get(&r3.id).duplicate_of.as_deref(), Some(a.id.as_str()));
    assert!(matches!(
        merge(&store, &a.id, &a.id, "", "op", T0),
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        merge(&store, &r2.id, &r1.id, "", "op", T0),
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        merge(&store, &r1.id, &b.id, "", "op", T0),
        Err(StoreError::Invalid(_))
    ));

    // events per case, in order: a Created, DuplicateLinked×2, Updated(split), Updated(merge);
    // b Created, DuplicateLinked, Updated(merge); r1 Created (after split)
    let mut by_case: std::collections::BTreeMap<String, Vec<(u64, EventKind)>> = Default::default();
    for e in store.outbox_list(false, 1000).unwrap() {
        by_case
            .entry(e.case_id.clone())
            .or_default()
            .push((e.sequence, e.kind));
    }
    use EventKind::*;
    assert_eq!(
        by_case[&a.id],
        vec![
            (1, Created),
            (2, DuplicateLinked),
            (3, DuplicateLinked),
            (4, Updated),
            (5, Updated)
        ]
    );
    assert_eq!(
        by_case[&b.id],
        vec![(1, Created), (2, DuplicateLinked), (3, Updated)]
    );
    assert_eq!(by_case[&r1.id], vec![(1, Created)]);
    assert_eq!(by_case.len(), 3);
    store.check_consistency().unwrap();
}

#[test]
fn corrections_are_kept_on_the_case_and_for_retraining() {
    let (_dir, store) = open();
    let c = insert(&store, &Spec::default());
    // (category, department) → effective labels after it
    let table: &[(Option<&str>, Option<&str>, &str, &str)] = &[
        (Some("CAT.ROADS"), None, "CAT.ROADS", "DEPT.ENV"),
        (None, Some("DEPT.TRANSPORT"), "CAT.ROADS", "DEPT.TRANSPORT"),
        (
            Some("CAT.NOISE"),
            Some("DEPT.CITY"),
            "CAT.NOISE",
            "DEPT.CITY",
        ),
    ];
    for (i, (cat, dept, want_cat, want_dept)) in table.iter().enumerate() {
        let got = correct(&store, &c.id, *cat, *dept, "fix", "op", T0 + i as i64).unwrap();
        assert_eq!(
            (got.category.as_str(), got.department.as_str()),
            (*want_cat, *want_dept)
        );
        assert_eq!(
            got.triage.category.code, "CAT.NOISE",
            "the model's answer is kept"
        );
    }
    assert!(matches!(
        correct(&store, &c.id, None, None, "", "op", T0),
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        correct(&store, "PD000000000999", Some("X"), None, "", "op", T0),
        Err(StoreError::NotFound(_))
    ));
    let all = store.corrections().unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[0].category_before, "CAT.NOISE");
    assert_eq!(all[0].category_after, "CAT.ROADS");
    assert_eq!(all[1].department_before, "DEPT.ENV");
    assert_eq!(all[2].predicted_department, "DEPT.ENV");
    assert_eq!(all[2].model_version, "m1");
    assert_eq!(store.get_case(&c.id).unwrap().unwrap().corrections, all);
    // the list index follows the effective labels
    let by_cat = |cat: &str| {
        store
            .list_cases(
                &CaseFilter {
                    category: Some(cat.into()),
                    ..Default::default()
                },
                10,
                None,
            )
            .unwrap()
            .cases
            .len()
    };
    assert_eq!((by_cat("CAT.NOISE"), by_cat("CAT.ROADS")), (1, 0));
    store.check_consistency().unwrap();
}
