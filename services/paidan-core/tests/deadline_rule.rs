//! Deadline events (督办, issue 16): which event a case is owed (`deadlines::owed`, a table over
//! the shipped 2026 calendar and a jurisdiction's local holiday), and the watch's pass over a
//! real sled store: one event per case per deadline, however many passes, and a new one for a
//! new deadline.

#[path = "../../paidan-store/tests/common/mod.rs"]
mod common;

use std::sync::Arc;

use common::*;
use paidan_core::deadlines::{Notice, owed};
use paidan_core::followup;
use paidan_core::rules::Act;
use paidan_core::{Catalogue, Intake, IntakeConfig};
use paidan_store::*;
use time::macros::datetime;

fn ms(t: time::OffsetDateTime) -> Millis {
    (t.unix_timestamp_nanos() / 1_000_000) as Millis
}

/// Thursday 2026-04-30 10:00 in China, before the 劳动节 holiday (05-01 .. 05-05).
fn now() -> Millis {
    ms(datetime!(2026-04-30 10:00 +8))
}

fn catalogue() -> Catalogue {
    let text = format!(
        "{}\n[jurisdictions.\"海口市\".calendar]\nholidays = [\"2026-05-06\"]\n",
        include_str!("../../../models/dispatch.toml")
    );
    let tax = paidan_model::Taxonomy::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/taxonomy.toml"),
    )
    .unwrap();
    Catalogue::parse("dispatch.toml", &text, &tax).unwrap()
}

#[test]
fn the_event_a_case_is_owed() {
    let cat = catalogue();
    let now = now();
    #[derive(Default)]
    struct Case {
        due: Option<time::OffsetDateTime>,
        status: Option<CaseStatus>,
        soon_sent: Option<time::OffsetDateTime>,
        overdue_sent: Option<time::OffsetDateTime>,
        linked: bool,
        jurisdiction: &'static str,
    }
    // (the case, due-soon working days → the event owed)
    let check = |k: Case, days: u32, want: Option<Notice>| {
        let mut c = record(&Spec {
            jurisdiction: k.jurisdiction,
            ..Spec::default()
        });
        c.id = "PD1".into();
        c.status = k.status.unwrap_or(CaseStatus::InProgress);
        c.dispatch.due_at = k.due.map(ms);
        c.dispatch.due_soon_sent_for = k.soon_sent.map(ms);
        c.dispatch.overdue_sent_for = k.overdue_sent.map(ms);
        if k.linked {
            c.duplicate_of = Some("PD0".into());
        }
        let got = owed(&c, now, days, &cat);
        assert_eq!(
            got.map(|(n, _)| n),
            want,
            "{:?} {:?} days {days}",
            k.due,
            c.status
        );
        if let Some((_, due)) = got {
            assert_eq!(
                Some(due),
                c.dispatch.due_at,
                "the event is for the case's deadline"
            );
        }
    };
    let tonight = datetime!(2026-05-01 00:00 +8);
    // the next working day after 04-30 is 05-06 (the holiday), which ends at 05-07 00:00
    let next_working_day = datetime!(2026-05-07 00:00 +8);
    let two_days = datetime!(2026-05-08 00:00 +8);
    let past = datetime!(2026-04-30 09:59 +8);
    let due = |d| Case {
        due: Some(d),
        ..Case::default()
    };
    check(due(tonight), 1, Some(Notice::DueSoon));
    check(due(next_working_day), 1, Some(Notice::DueSoon));
    check(due(two_days), 1, None);
    check(due(two_days), 2, Some(Notice::DueSoon));
    check(due(past), 1, Some(Notice::Overdue));
    check(
        due(datetime!(2026-04-30 10:00 +8)),
        1,
        Some(Notice::Overdue),
    );
    // once per deadline
    let sent = |d, soon: Option<_>, overdue: Option<_>| Case {
        due: Some(d),
        soon_sent: soon,
        overdue_sent: overdue,
        ..Case::default()
    };
    check(sent(tonight, Some(tonight), None), 1, None);
    check(sent(past, Some(past), Some(past)), 1, None);
    check(sent(past, Some(past), None), 1, Some(Notice::Overdue));
    // a new deadline (extended, reopened) gets its own
    check(
        sent(tonight, Some(past), Some(past)),
        1,
        Some(Notice::DueSoon),
    );
    check(sent(past, None, Some(tonight)), 1, Some(Notice::Overdue));
    // nothing for a case not being handled, a linked report, a case without a deadline
    for s in [
        CaseStatus::Resolved,
        CaseStatus::FollowedUp,
        CaseStatus::Closed,
    ] {
        let k = Case {
            status: Some(s),
            ..due(past)
        };
        check(k, 1, None);
    }
    for s in [
        CaseStatus::Accepted,
        CaseStatus::Dispatched,
        CaseStatus::Rejected,
    ] {
        let k = Case {
            status: Some(s),
            ..due(past)
        };
        check(k, 1, Some(Notice::Overdue));
    }
    check(
        Case {
            linked: true,
            ..due(past)
        },
        1,
        None,
    );
    check(Case::default(), 1, None);
    // the jurisdiction's calendar: 05-06 is a local holiday in 海口市, so its next working day
    // is 05-07 and a case due at its end (05-08 00:00) is due soon there, not elsewhere
    check(
        Case {
            jurisdiction: "海口市",
            ..due(two_days)
        },
        1,
        Some(Notice::DueSoon),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_event_per_case_per_deadline_over_passes_and_a_new_one_after_an_extension() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SledStore::open(dir.path()).unwrap());
    let intake = Intake::new(store.clone(), None, IntakeConfig::default());
    intake.set_catalogue(catalogue());
    let now = now();
    // (due at → kind owed now): overdue, due soon, not yet, resolved
    let specs = [
        (ms(datetime!(2026-04-22 00:00 +8)), Some("overdue")),
        (ms(datetime!(2026-05-07 00:00 +8)), Some("due_soon")),
        (ms(datetime!(2026-05-20 00:00 +8)), None),
        (now - 1, None),
    ];
    let mut ids = Vec::new();
    for (i, (due, _)) in specs.iter().enumerate() {
        let mut n = new_case(&Spec {
            request_id: &format!("r{i}"),
            ..Spec::default()
        });
        n.record.dispatch.due_at = Some(*due);
        if i == 3 {
            n.record.status = CaseStatus::Resolved;
        }
        ids.push(store.insert_case(n).unwrap().case.id);
    }
    let kinds = |id: &str| -> Vec<String> {
        let mut events: Vec<OutboxEntry> = store
            .outbox_list(false, 100)
            .unwrap()
            .into_iter()
            .filter(|e| e.case_id == id)
            .collect();
        events.sort_by_key(|e| e.sequence);
        events
            .iter()
            .map(|e| format!("{}:{:?}", e.sequence, e.kind))
            .collect()
    };
    let mut sent = intake.watch_deadlines(now, 1).await.unwrap();
    sent.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        sent,
        vec![
            (ids[0].clone(), Notice::Overdue),
            (ids[1].clone(), Notice::DueSoon)
        ]
    );
    // later passes (and a later instant) owe nothing more
    for later in [now, now + 1000, now + 60_000] {
        assert_eq!(intake.watch_deadlines(later, 1).await.unwrap(), vec![]);
    }
    assert_eq!(kinds(&ids[0]), ["1:Created", "2:Overdue"]);
    assert_eq!(kinds(&ids[1]), ["1:Created", "2:DueSoon"]);
    assert_eq!(kinds(&ids[2]), ["1:Created"]);
    assert_eq!(kinds(&ids[3]), ["1:Created"]);
    let c = store.get_case(&ids[0]).unwrap().unwrap();
    assert_eq!(
        c.dispatch.overdue_sent_for,
        Some(ms(datetime!(2026-04-22 00:00 +8)))
    );
    assert!(c.history.last().unwrap().note.starts_with("督办: overdue"));

    // 延期: one working day more is still past → overdue again, for the new deadline
    let cat = catalogue();
    let act = Act {
        note: "",
        actor: "platform:12345",
        at: now,
    };
    store
        .edit_cases(&|r| followup::extend_deadline(r, &ids[0], 1, "需协调", &cat, act))
        .unwrap();
    let new_due = store.get_case(&ids[0]).unwrap().unwrap().dispatch.due_at;
    assert_eq!(
        new_due,
        Some(ms(datetime!(2026-04-23 00:00 +8))),
        "04-21 + 1 working day"
    );
    assert_eq!(
        intake.watch_deadlines(now, 1).await.unwrap(),
        vec![(ids[0].clone(), Notice::Overdue)]
    );
    assert_eq!(intake.watch_deadlines(now, 1).await.unwrap(), vec![]);
    assert_eq!(
        kinds(&ids[0]),
        ["1:Created", "2:Overdue", "3:Updated", "4:Overdue"]
    );

    // the marks are stored: a reopened store owes nothing either
    drop(intake);
    drop(store);
    let store: Arc<dyn Store> = Arc::new(SledStore::open(dir.path()).unwrap());
    let intake = Intake::new(store, None, IntakeConfig::default());
    intake.set_catalogue(catalogue());
    assert_eq!(intake.watch_deadlines(now + 1, 1).await.unwrap(), vec![]);
}

/// A pass reads as far as the calendar that reaches furthest: 海口市's local holiday (05-06)
/// puts its "due soon" horizon a day after the file's, and its case due then is told; the same
/// deadline elsewhere is not due soon yet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_reaches_the_furthest_calendars_horizon() {
    let cat = catalogue();
    let now = now();
    assert_eq!(
        paidan_core::deadlines::horizon(&cat, now, 1),
        ms(datetime!(2026-05-08 00:00 +8))
    );
    assert_eq!(
        cat.calendar().due_at(now, 1),
        ms(datetime!(2026-05-07 00:00 +8)),
        "the file's own calendar stops a day earlier"
    );
    let store: Arc<dyn Store> = Arc::new(SledStore::open_temporary().unwrap());
    let intake = Intake::new(store.clone(), None, IntakeConfig::default());
    intake.set_catalogue(cat);
    let mut ids = Vec::new();
    for (i, j) in ["海口市", "330106"].into_iter().enumerate() {
        let mut n = new_case(&Spec {
            request_id: &format!("h{i}"),
            jurisdiction: j,
            ..Spec::default()
        });
        n.record.dispatch.due_at = Some(ms(datetime!(2026-05-08 00:00 +8)));
        ids.push(store.insert_case(n).unwrap().case.id);
    }
    assert_eq!(
        intake.watch_deadlines(now, 1).await.unwrap(),
        vec![(ids[0].clone(), Notice::DueSoon)]
    );
}
