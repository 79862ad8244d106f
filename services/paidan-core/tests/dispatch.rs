//! Dispatch: the working-day calendar over real 2026 holiday crossings, the catalogue's load-time
//! errors (file, line, key), the shipped catalogue against the shipped taxonomy, the guesses, and
//! the return rule (退单) applied by a real sled store with the store's own fixtures.

#[path = "../../paidan-store/tests/common/mod.rs"]
mod common;

use std::path::PathBuf;

use paidan_core::dispatch::{Calendar, Catalogue, CatalogueError, calendar::parse_days};
use paidan_model::Taxonomy;
use paidan_store::{RequestType, Urgency};
use time::macros::{date, datetime};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn taxonomy() -> Taxonomy {
    Taxonomy::load(&repo().join("models/taxonomy.toml")).unwrap()
}

fn shipped() -> Catalogue {
    Catalogue::load(&repo().join("models/dispatch.toml"), &taxonomy())
        .unwrap_or_else(|e| panic!("{e}"))
}

fn ms(t: time::OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

#[test]
fn working_days_across_the_2026_holidays() {
    let cal = shipped().calendar().clone();
    // (start, n working days, the n-th working day after start)
    let check = |start: time::Date, n: u32, expect: time::Date| {
        let got = cal.add_working_days(start, n);
        assert_eq!(got, expect, "{start} + {n} working days");
    };
    // 国庆 2026: 10-01 (Thu) .. 10-07 off, 09-20 (Sun) and 10-10 (Sat) worked
    check(date!(2026 - 09 - 30), 1, date!(2026 - 10 - 08));
    check(date!(2026 - 09 - 30), 3, date!(2026 - 10 - 10));
    check(date!(2026 - 09 - 30), 4, date!(2026 - 10 - 12));
    check(date!(2026 - 10 - 03), 1, date!(2026 - 10 - 08));
    check(date!(2026 - 09 - 18), 1, date!(2026 - 09 - 20));
    check(date!(2026 - 09 - 18), 2, date!(2026 - 09 - 21));
    // 中秋 09-25 .. 09-27 (Fri..Sun)
    check(date!(2026 - 09 - 24), 1, date!(2026 - 09 - 28));
    // 春节 02-15 .. 02-23 off, 02-14 (Sat) and 02-28 (Sat) worked
    check(date!(2026 - 02 - 13), 1, date!(2026 - 02 - 14));
    check(date!(2026 - 02 - 13), 2, date!(2026 - 02 - 24));
    check(date!(2026 - 02 - 27), 1, date!(2026 - 02 - 28));
    check(date!(2026 - 02 - 27), 2, date!(2026 - 03 - 02));
    // 元旦 01-01 .. 01-03 off, 01-04 (Sun) worked
    check(date!(2025 - 12 - 31), 1, date!(2026 - 01 - 04));
    // 劳动节 05-01 .. 05-05 off, 05-09 (Sat) worked
    check(date!(2026 - 04 - 30), 1, date!(2026 - 05 - 06));
    check(date!(2026 - 05 - 08), 1, date!(2026 - 05 - 09));
    // 端午 06-19 .. 06-21; 清明 04-04 .. 04-06
    check(date!(2026 - 06 - 18), 1, date!(2026 - 06 - 22));
    check(date!(2026 - 04 - 03), 1, date!(2026 - 04 - 07));
    // ordinary weeks
    check(date!(2026 - 03 - 06), 1, date!(2026 - 03 - 09));
    check(date!(2026 - 03 - 09), 5, date!(2026 - 03 - 16));
    check(date!(2026 - 03 - 07), 0, date!(2026 - 03 - 07));
    check(date!(2026 - 03 - 02), 10, date!(2026 - 03 - 16));
    // beyond the configured year: weekdays only
    check(date!(2026 - 12 - 31), 1, date!(2027 - 01 - 01));

    for (day, working) in [
        (date!(2026 - 10 - 10), true),
        (date!(2026 - 10 - 11), false),
        (date!(2026 - 10 - 01), false),
        (date!(2026 - 09 - 20), true),
        (date!(2026 - 03 - 07), false),
        (date!(2026 - 03 - 09), true),
    ] {
        assert_eq!(cal.is_working_day(day), working, "{day}");
    }
}

#[test]
fn due_instants_are_local_midnight_after_the_last_working_day() {
    let cat = shipped();
    let cal = cat.calendar();
    // (received at, working days, due at)
    let check = |at: time::OffsetDateTime, n: u32, expect: time::OffsetDateTime| {
        assert_eq!(cal.due_at(ms(at), n), ms(expect), "{at} + {n}");
    };
    check(
        datetime!(2026-09-30 10:00 +8),
        1,
        datetime!(2026-10-09 00:00 +8),
    );
    // 23:30 local is still the 30th; 01:00 local on 10-01 (17:00 UTC the day before) is a holiday
    check(
        datetime!(2026-09-30 23:30 +8),
        1,
        datetime!(2026-10-09 00:00 +8),
    );
    check(
        datetime!(2026-09-30 17:00 UTC),
        1,
        datetime!(2026-10-09 00:00 +8),
    );
    check(
        datetime!(2026-09-30 09:00 +8),
        3,
        datetime!(2026-10-11 00:00 +8),
    );
    assert_eq!(
        cal.working_days_between(
            ms(datetime!(2026-09-30 09:00 +8)),
            ms(datetime!(2026-10-12 09:00 +8))
        ),
        4
    );

    // the whole dispatch of a case
    let d = cat.dispatch(
        "noise_construction",
        "urban_management",
        Some(RequestType::Complaint),
        Urgency::Normal,
        ms(datetime!(2026-09-30 10:00 +8)),
    );
    assert_eq!(d.lead, "urban_management");
    assert_eq!(
        d.co_departments,
        vec!["ecology_environment", "housing_construction"]
    );
    assert_eq!(d.deadline_days, 5);
    // 10-08, 10-09, 10-10 (Sat, worked), 10-12, 10-13
    assert_eq!(d.due_at, ms(datetime!(2026-10-14 00:00 +8)));
}

#[test]
fn deadlines_by_request_type_urgency_and_category() {
    let cat = shipped();
    // (category, request type, urgency, working days)
    let check = |c: &str, t: Option<RequestType>, u: Urgency, expect: u32| {
        assert_eq!(cat.deadline_days(c, t, u), expect, "{c} {t:?} {u:?}");
    };
    check("clutter", Some(RequestType::Complaint), Urgency::Normal, 5);
    check("clutter", Some(RequestType::Complaint), Urgency::Urgent, 2);
    check("clutter", None, Urgency::VeryUrgent, 1);
    check("clutter", Some(RequestType::Report), Urgency::Normal, 5);
    check(
        "clutter",
        Some(RequestType::Consultation),
        Urgency::Normal,
        1,
    );
    check("housing_demolition", None, Urgency::Normal, 15);
    check(
        "housing_demolition",
        Some(RequestType::Help),
        Urgency::Normal,
        5,
    );
    check("other", None, Urgency::Normal, 10); // [defaults]
    check("not_listed", None, Urgency::Urgent, 3);
    check(
        "utilities",
        Some(RequestType::Suggestion),
        Urgency::Normal,
        15,
    );
}

#[test]
fn co_departments_leave_out_the_lead() {
    let cat = shipped();
    // (category, lead, co-departments)
    let check = |c: &str, lead: &str, expect: &[&str]| {
        assert_eq!(cat.co_departments(c, lead), expect, "{c} led by {lead}");
    };
    check(
        "street_vending",
        "urban_management",
        &["market_regulation", "subdistrict_office"],
    );
    // led by a co-department: the catalogue's lead helps instead
    check(
        "street_vending",
        "market_regulation",
        &["urban_management", "subdistrict_office"],
    );
    check("public_security", "public_security", &[]);
    check("not_listed", "other", &[]);
}

/// The shipped file lists every taxonomy category, led by the taxonomy's default department.
#[test]
fn the_shipped_catalogue_covers_the_taxonomy() {
    let (cat, tax) = (shipped(), taxonomy());
    assert_eq!(cat.version(), "v1");
    for c in tax.categories() {
        let rule = cat
            .rule(&c.code)
            .unwrap_or_else(|| panic!("{} is not in models/dispatch.toml", c.code));
        assert_eq!(
            rule.lead,
            tax.default_department(&c.code, ""),
            "lead of {}",
            c.code
        );
    }
}

const BASE: &str =
    "version = \"v1\"\n[defaults]\ndeadline = { normal = 10, urgent = 3, very_urgent = 1 }\n";

#[test]
fn catalogue_errors_name_file_line_and_key() {
    let tax = taxonomy();
    // (the text after BASE (lines 1-3), line, key, part of the message)
    let check = |tail: &str, line: usize, key: &str, msg: &str| {
        let text = format!("{BASE}{tail}");
        let err: CatalogueError = Catalogue::parse("t/dispatch.toml", &text, &tax)
            .err()
            .unwrap_or_else(|| panic!("accepted:\n{text}"));
        assert_eq!(err.file, "t/dispatch.toml");
        assert_eq!(
            (err.line, err.key.as_str()),
            (line, key),
            "{err}\nfor:\n{text}"
        );
        assert!(err.message.contains(msg), "{err}: want {msg:?}");
        assert!(
            err.to_string()
                .starts_with(&format!("t/dispatch.toml:{line}: {key}: ")),
            "{err}"
        );
    };
    check(
        "[categories.clutter]\nlead = \"urban_mgmt\"\n",
        5,
        "categories.clutter.lead",
        "unknown department \"urban_mgmt\"",
    );
    check(
        "[categories.cluter]\nlead = \"urban_management\"\n",
        4,
        "categories.cluter",
        "unknown category \"cluter\"",
    );
    check(
        "[categories.clutter]\nlead = \"urban_management\"\nco = [\"subdistrict_office\", \"police\"]\n",
        6,
        "categories.clutter.co[1]",
        "unknown department \"police\"",
    );
    check(
        "[categories.clutter]\nlead = \"urban_management\"\nco = [\"urban_management\"]\n",
        6,
        "categories.clutter.co[0]",
        "listed twice",
    );
    check(
        "[categories.clutter]\nlead = \"urban_management\"\n\ndeadline = { normal = 0, urgent = 0, very_urgent = 0 }\n",
        7,
        "categories.clutter.deadline.normal",
        "0 is not a deadline of 1 to 60",
    );
    check(
        "[categories.clutter]\nlead = \"urban_management\"\ndeadline = { normal = 2, urgent = 3, very_urgent = 1 }\n",
        6,
        "categories.clutter.deadline",
        "very_urgent ≤ urgent ≤ normal",
    );
    check(
        "[categories.clutter]\nlead = \"urban_management\"\ndeadline = { normal = 90, urgent = 3, very_urgent = 1 }\n",
        6,
        "categories.clutter.deadline.normal",
        "90 is not a deadline",
    );
    check(
        "[request_types.enquiry]\ndeadline = { normal = 1, urgent = 1, very_urgent = 1 }\n",
        4,
        "request_types.enquiry",
        "unknown request type \"enquiry\"",
    );
    check(
        "[calendar]\nholidays = [\"2026-10-01..2026-10-07\",\n  \"2026-13-01\"]\n",
        6,
        "calendar.holidays[1]",
        "not a date",
    );
    check(
        "[calendar]\nholidays = [\"2026-10-07..2026-10-01\"]\n",
        5,
        "calendar.holidays[0]",
        "ends before it starts",
    );
    check(
        "[calendar]\nholidays = [\"2026-10-01..2026-10-07\"]\nworkdays = [\"2026-10-10\", \"2026-10-03\"]\n",
        6,
        "calendar.workdays",
        "2026-10-03 is both a holiday and a make-up workday",
    );
    // the toml crate's own errors: unknown keys, wrong types, syntax
    check(
        "[categories.clutter]\nleed = \"urban_management\"\n",
        5,
        "categories.clutter.leed",
        "unknown field `leed`",
    );
    check(
        "[categories.clutter]\nlead = 7\n",
        5,
        "categories.clutter.lead",
        "string",
    );
    check(
        "[categories.clutter]\nlead = \n",
        5,
        "categories.clutter.lead",
        "",
    );
    // a key after [defaults] belongs to it
    check(
        "utc_offset_hours = 8\n",
        4,
        "defaults.utc_offset_hours",
        "unknown field",
    );
    let err =
        Catalogue::parse("t.toml", &format!("utc_offset_hours = 20\n{BASE}"), &tax).unwrap_err();
    assert_eq!(
        (err.line, err.key.as_str()),
        (1, "utc_offset_hours"),
        "{err}"
    );
    assert!(err.message.contains("not a UTC offset"), "{err}");
}

#[test]
fn a_missing_file_or_section_is_named() {
    let tax = taxonomy();
    let err = Catalogue::load(&repo().join("models/no-such-dispatch.toml"), &tax).unwrap_err();
    assert_eq!(err.line, 0);
    assert!(err.message.contains("cannot read"), "{err}");
    let err = Catalogue::parse("x.toml", "version = \"v1\"\n", &tax).unwrap_err();
    assert!(err.message.contains("defaults"), "{err}");
    // a minimal catalogue: defaults only, weekends only
    let cat = Catalogue::parse("x.toml", BASE, &tax).unwrap();
    assert_eq!(cat.deadline_days("clutter", None, Urgency::Urgent), 3);
    assert!(cat.co_departments("clutter", "urban_management").is_empty());
    assert!(cat.calendar().is_working_day(date!(2026 - 10 - 01)));
}

#[test]
fn day_lists_and_ranges() {
    let check = |s: &str, expect: Result<usize, &str>| match (parse_days(s), expect) {
        (Ok(v), Ok(n)) => assert_eq!(v.len(), n, "{s}"),
        (Err(e), Err(m)) => assert!(e.contains(m), "{s}: {e}"),
        (got, want) => panic!("{s}: got {got:?}, want {want:?}"),
    };
    check("2026-10-01", Ok(1));
    check("2026-10-01..2026-10-07", Ok(7));
    check(" 2026-09-30 .. 2026-10-01 ", Ok(2));
    check("2026-02-30", Err("not a date"));
    check("2026-01-01..2026-12-31", Err("longer than 60 days"));
    check("10/01/2026", Err("not a date"));
    let _ = Calendar::weekends_only();
}

#[test]
fn request_type_and_urgency_are_guessed_from_the_text() {
    use paidan_core::dispatch::guess;
    // (title, text, request type, urgency)
    let check = |title: &str, text: &str, t: RequestType, u: Urgency| {
        assert_eq!(
            (
                guess::request_type(title, text),
                guess::urgency(title, text)
            ),
            (t, u),
            "{title} / {text}"
        );
    };
    check(
        "",
        "楼下工地夜间施工噪音扰民",
        RequestType::Complaint,
        Urgency::Normal,
    );
    check(
        "咨询",
        "请问居住证怎么办理",
        RequestType::Consultation,
        Urgency::Normal,
    );
    check(
        "",
        "我要举报一家无证经营的餐馆，后厨有燃气泄漏",
        RequestType::Report,
        Urgency::VeryUrgent,
    );
    check(
        "",
        "表扬城管队员，处理及时",
        RequestType::Praise,
        Urgency::Normal,
    );
    check(
        "",
        "建议增设公交站台",
        RequestType::Suggestion,
        Urgency::Normal,
    );
    check(
        "",
        "老人被困电梯，求助",
        RequestType::Help,
        Urgency::VeryUrgent,
    );
    check(
        "",
        "小区停水两天了",
        RequestType::Complaint,
        Urgency::Urgent,
    );
    check(
        "",
        "路口井盖丢失很危险",
        RequestType::Complaint,
        Urgency::Urgent,
    );
    // report beats consultation; the operator's value beats any guess
    check("", "请问举报违建找谁", RequestType::Report, Urgency::Normal);
    assert_eq!(
        guess::or_guess(Some(Urgency::Normal), || Urgency::VeryUrgent),
        (Urgency::Normal, false)
    );
    assert_eq!(
        guess::or_guess(None, || Urgency::VeryUrgent),
        (Urgency::VeryUrgent, true)
    );
}

/// The compiled-in catalogue is the shipped file.
#[test]
fn the_builtin_catalogue_is_the_shipped_file() {
    let (a, b) = (Catalogue::builtin(), shipped());
    assert_eq!(a.version(), b.version());
    for c in taxonomy().categories() {
        assert_eq!(a.rule(&c.code), b.rule(&c.code), "{}", c.code);
        for u in Urgency::ALL {
            for t in RequestType::ALL {
                assert_eq!(
                    a.deadline_days(&c.code, Some(t), u),
                    b.deadline_days(&c.code, Some(t), u)
                );
            }
        }
    }
    assert!(!a.calendar().is_working_day(date!(2026 - 10 - 01)));
}

mod returns {
    use super::common::*;
    use paidan_core::dispatch::Catalogue;
    use paidan_core::returns::{self, candidates};
    use paidan_core::rules::{self, Act};
    use paidan_model::Taxonomy;
    use paidan_store::*;

    const DEPTS: [&str; 5] = [
        "DEPT.ENV",
        "DEPT.WATER",
        "DEPT.URBAN",
        "DEPT.STREET",
        "DEPT.OTHER",
    ];

    /// CAT.NOISE led by DEPT.URBAN with DEPT.STREET and DEPT.ENV helping.
    fn catalogue() -> Catalogue {
        let tax = Taxonomy::from_codes(
            "t",
            &["CAT.NOISE".to_string(), "CAT.OTHER".to_string()],
            &DEPTS.map(String::from),
        );
        Catalogue::parse(
            "t.toml",
            "version = \"t\"\n[defaults]\ndeadline = { normal = 10, urgent = 3, very_urgent = 1 }\n\
             [categories.\"CAT.NOISE\"]\nlead = \"DEPT.URBAN\"\nco = [\"DEPT.STREET\", \"DEPT.ENV\"]\n",
            &tax,
        )
        .unwrap()
    }

    /// A master case the model sent to DEPT.ENV, with DEPT.WATER and DEPT.URBAN next.
    fn open() -> (tempfile::TempDir, SledStore, CaseRecord) {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        let mut n = new_case(&Spec {
            request_id: "r-1",
            ..Spec::default()
        });
        n.record.triage.department_alternatives = vec![label("DEPT.WATER"), label("DEPT.URBAN")];
        let c = store.insert_case(n).unwrap().case;
        (dir, store, c)
    }

    fn give_back(
        store: &SledStore,
        cat: &Catalogue,
        id: &str,
        dept: &str,
        at: Millis,
    ) -> Result<CaseRecord> {
        let act = Act {
            note: "不归我们管",
            actor: "platform:12345",
            at,
        };
        Ok(store
            .edit_cases(&|r| {
                returns::return_case(r, id, dept, ReturnReason::NotOurResponsibility, cat, act)
            })?
            .remove(0))
    }

    #[test]
    fn candidates_are_the_model_ranking_then_the_catalogue() {
        let (_d, _s, c) = open();
        assert_eq!(
            candidates(&c, &catalogue()),
            ["DEPT.ENV", "DEPT.WATER", "DEPT.URBAN", "DEPT.STREET"]
        );
    }

    /// Each return moves the case to the next candidate that has not returned it, never to one
    /// that has; when all have, the case goes to review.
    #[test]
    fn redispatch_never_proposes_a_department_that_returned_the_case() {
        let (_d, store, c) = open();
        let cat = catalogue();
        let mut lead = c.department.clone();
        let mut returned: Vec<String> = Vec::new();
        // (expected next lead, expected status)
        for (i, (next, status)) in [
            ("DEPT.WATER", CaseStatus::Dispatched),
            ("DEPT.URBAN", CaseStatus::Dispatched),
            ("DEPT.STREET", CaseStatus::Dispatched),
            ("DEPT.STREET", CaseStatus::Rejected),
        ]
        .into_iter()
        .enumerate()
        {
            let at = T0 + (i as i64 + 1) * MIN;
            let after = give_back(&store, &cat, &c.id, &lead, at).unwrap();
            returned.push(lead.clone());
            assert_eq!(
                (after.department.as_str(), after.status),
                (next, status),
                "step {i}"
            );
            assert_eq!(
                returns::returned_by(&after),
                returned.iter().map(String::as_str).collect::<Vec<_>>()
            );
            if status == CaseStatus::Dispatched {
                assert!(!returned.contains(&after.department), "step {i}");
                assert!(
                    after
                        .dispatch
                        .co_departments
                        .iter()
                        .all(|d| !returned.contains(d) && *d != after.department),
                    "step {i}: {:?}",
                    after.dispatch.co_departments
                );
            } else {
                assert!(after.history.last().unwrap().note.contains("needs review"));
            }
            lead = after.department.clone();
        }
        // every re-dispatch is a correction in the log (the training export sees the last one)
        let log = store.corrections().unwrap();
        assert_eq!(
            log.iter()
                .map(|k| (k.department_before.as_str(), k.department_after.as_str()))
                .collect::<Vec<_>>(),
            [
                ("DEPT.ENV", "DEPT.WATER"),
                ("DEPT.WATER", "DEPT.URBAN"),
                ("DEPT.URBAN", "DEPT.STREET")
            ]
        );
        assert!(log.iter().all(|k| k.predicted_department == "DEPT.ENV"));
    }

    /// An operator may send the case back to a department that returned it; when that one
    /// returns it again, the next lead is still one that never returned it.
    #[test]
    fn after_a_correction_the_returned_ones_stay_out() {
        let (_d, store, c) = open();
        let cat = catalogue();
        give_back(&store, &cat, &c.id, "DEPT.ENV", T0 + MIN).unwrap();
        give_back(&store, &cat, &c.id, "DEPT.WATER", T0 + 2 * MIN).unwrap();
        let act = Act {
            note: "还是环保",
            actor: "op:alice",
            at: T0 + 3 * MIN,
        };
        store
            .edit_cases(&|r| rules::correct(r, &c.id, None, Some("DEPT.ENV"), act))
            .unwrap();
        let after = give_back(&store, &cat, &c.id, "DEPT.ENV", T0 + 4 * MIN).unwrap();
        assert_eq!(after.department, "DEPT.URBAN");
        assert_eq!(after.dispatch.returns.len(), 3);
    }

    #[test]
    fn returns_that_are_refused() {
        let (_d, store, c) = open();
        let cat = catalogue();
        // (department, part of the error)
        let check = |id: &str, dept: &str, msg: &str| {
            let err = give_back(&store, &cat, id, dept, T0 + MIN).unwrap_err();
            assert!(err.to_string().contains(msg), "{err}");
        };
        check(&c.id, "DEPT.WATER", "only the lead returns a case");
        check("PD999", "DEPT.ENV", "not found");
        let report = linked(
            &store,
            &Spec {
                request_id: "r-2",
                digest: "d2",
                ..Spec::default()
            },
            &c.id,
            0.9,
        );
        check(&report.id, "DEPT.ENV", "only its master is dispatched");
        let act = Act {
            note: "",
            actor: "op",
            at: T0 + MIN,
        };
        store
            .edit_cases(&|r| rules::update_status(r, &c.id, CaseStatus::Closed, act))
            .unwrap();
        check(&c.id, "DEPT.ENV", "only a case being handled");
        // nothing was recorded by the refused returns
        assert!(
            store
                .get_case(&c.id)
                .unwrap()
                .unwrap()
                .dispatch
                .returns
                .is_empty()
        );
    }
}

mod follow_up {
    use super::common::*;
    use paidan_core::dispatch::Catalogue;
    use paidan_core::followup::{extend_deadline, record_follow_up};
    use paidan_core::rules::{self, Act};
    use paidan_store::*;
    use time::macros::datetime;

    fn ms(t: time::OffsetDateTime) -> Millis {
        super::ms(t)
    }

    fn act(at: Millis) -> Act<'static> {
        Act {
            note: "回访",
            actor: "platform:12345",
            at,
        }
    }

    /// A case due at the end of 2026-09-29 (China time), moved along to `status`.
    fn open(path: &[CaseStatus]) -> (tempfile::TempDir, SledStore, String) {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        let mut n = new_case(&Spec {
            request_id: "r-1",
            ..Spec::default()
        });
        n.record.dispatch.due_at = Some(ms(datetime!(2026-09-30 00:00 +8)));
        let id = store.insert_case(n).unwrap().case.id;
        for to in path {
            store
                .edit_cases(&|r| rules::update_status(r, &id, *to, act(T0)))
                .unwrap();
        }
        (dir, store, id)
    }

    const RESOLVED: [CaseStatus; 3] = [
        CaseStatus::Dispatched,
        CaseStatus::InProgress,
        CaseStatus::Resolved,
    ];

    #[test]
    fn dissatisfied_reopens_with_a_new_deadline_and_satisfied_follows_up() {
        let (_d, store, id) = open(&RESOLVED);
        let cat = Catalogue::builtin();
        let call = ms(datetime!(2026-09-30 10:00 +8));
        let c = store
            .edit_cases(&|r| record_follow_up(r, &id, Satisfaction::Dissatisfied, &cat, act(call)))
            .unwrap()
            .remove(0);
        assert_eq!(c.status, CaseStatus::InProgress);
        // no request type or urgency recorded: the [defaults] normal deadline, 10 working days
        // from the call, across 国庆 (10-10 worked): 10-08 … 10-20
        assert_eq!(c.dispatch.due_at, Some(ms(datetime!(2026-10-21 00:00 +8))));
        assert!(c.history.last().unwrap().note.contains("重办"));
        // resolved again, then rated satisfied
        store
            .edit_cases(&|r| rules::update_status(r, &id, CaseStatus::Resolved, act(call)))
            .unwrap();
        let c = store
            .edit_cases(&|r| record_follow_up(r, &id, Satisfaction::Satisfied, &cat, act(call)))
            .unwrap()
            .remove(0);
        assert_eq!(c.status, CaseStatus::FollowedUp);
        assert_eq!(
            c.dispatch
                .follow_ups
                .iter()
                .map(|f| f.satisfaction)
                .collect::<Vec<_>>(),
            [Satisfaction::Dissatisfied, Satisfaction::Satisfied]
        );
        // a second call after the follow-up may still reopen it
        let c = store
            .edit_cases(&|r| record_follow_up(r, &id, Satisfaction::Dissatisfied, &cat, act(call)))
            .unwrap()
            .remove(0);
        assert_eq!(c.status, CaseStatus::InProgress);
    }

    #[test]
    fn only_resolved_cases_are_rated() {
        let cat = Catalogue::builtin();
        for path in [&[][..], &RESOLVED[..2]] {
            let (_d, store, id) = open(path);
            let err = store
                .edit_cases(&|r| record_follow_up(r, &id, Satisfaction::Satisfied, &cat, act(T0)))
                .unwrap_err();
            assert!(
                err.to_string()
                    .contains("a follow-up rates a resolved case"),
                "{err}"
            );
        }
    }

    #[test]
    fn extensions_count_working_days_from_the_old_deadline() {
        let (_d, store, id) = open(&RESOLVED[..2]);
        let cat = Catalogue::builtin();
        let at = ms(datetime!(2026-09-28 09:00 +8));
        let extend = |days: u32, reason: &str| {
            store.edit_cases(&|r| extend_deadline(r, &id, days, reason, &cat, act(at)))
        };
        // due at the end of 09-29; two working days more: 09-30, then 10-08 (国庆)
        let c = extend(2, "需协调住建").unwrap().remove(0);
        assert_eq!(c.dispatch.due_at, Some(ms(datetime!(2026-10-09 00:00 +8))));
        assert_eq!(
            c.dispatch.extensions[0].from,
            Some(ms(datetime!(2026-09-30 00:00 +8)))
        );
        // two more: 10-09 (Fri) and 10-10, a make-up Saturday
        let c = extend(2, "再延").unwrap().remove(0);
        assert_eq!(c.dispatch.due_at, Some(ms(datetime!(2026-10-11 00:00 +8))));
        assert_eq!(c.dispatch.extensions.len(), 2);
        // (working days, reason, part of the error)
        for (days, reason, msg) in [
            (0, "x", "working_days must be 1 to 60"),
            (61, "x", "working_days must be 1 to 60"),
            (1, " ", "reason is required"),
        ] {
            let err = extend(days, reason).unwrap_err();
            assert!(err.to_string().contains(msg), "{err}");
        }
        store
            .edit_cases(&|r| rules::update_status(r, &id, CaseStatus::Resolved, act(at)))
            .unwrap();
        let err = extend(1, "晚了").unwrap_err();
        assert!(
            err.to_string().contains("only a case being handled"),
            "{err}"
        );
    }
}
