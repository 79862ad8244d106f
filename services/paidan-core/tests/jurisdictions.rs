//! Per-jurisdiction overrides of the dispatch catalogue (issue 16): how a `[jurisdictions."…"]`
//! section resolves over the file — lead, co-departments, deadlines, defaults, request types,
//! local holidays — and its load-time errors (file, line, dotted key), as `check(input, expect)`
//! tables over real catalogue text validated against the shipped taxonomy.

use std::path::PathBuf;

use paidan_core::dispatch::{Catalogue, CatalogueError};
use paidan_model::Taxonomy;
use paidan_store::{RequestType, Urgency};
use time::macros::{date, datetime};

fn taxonomy() -> Taxonomy {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    Taxonomy::load(&repo.join("models/taxonomy.toml")).unwrap()
}

fn ms(t: time::OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// Lines 1-12: a file with a holiday, a consultation deadline and two categories.
const FILE: &str = r#"version = "v1"
[calendar]
holidays = ["2026-10-01..2026-10-07"]
workdays = ["2026-10-10"]
[defaults]
deadline = { normal = 10, urgent = 3, very_urgent = 1 }
[request_types.consultation]
deadline = { normal = 1, urgent = 1, very_urgent = 1 }
[categories.noise_construction]
lead = "urban_management"
co = ["ecology_environment", "housing_construction"]
[categories.clutter]
"#;

/// Line 13 onwards: the `clutter` category's lead, then the jurisdiction sections.
const CLUTTER: &str =
    "lead = \"urban_management\"\ndeadline = { normal = 5, urgent = 2, very_urgent = 1 }\n";

const HAIKOU: &str = r#"[jurisdictions."海口市".calendar]
holidays = ["2026-04-14"]
[jurisdictions."海口市".defaults]
deadline = { normal = 7, urgent = 2, very_urgent = 1 }
[jurisdictions."海口市".request_types.consultation]
deadline = { normal = 2, urgent = 1, very_urgent = 1 }
[jurisdictions."海口市".categories.noise_construction]
lead = "ecology_environment"
[jurisdictions."海口市".categories.clutter]
co = ["subdistrict_office"]
deadline = { normal = 3, urgent = 2, very_urgent = 1 }
[jurisdictions."海口市".categories.street_vending]
lead = "market_regulation"
"#;

fn parse(tail: &str) -> Result<Catalogue, CatalogueError> {
    Catalogue::parse(
        "t/dispatch.toml",
        &format!("{FILE}{CLUTTER}{tail}"),
        &taxonomy(),
    )
}

#[test]
fn overrides_resolve_over_the_file_by_jurisdiction() {
    let cat = parse(HAIKOU).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cat.jurisdictions().collect::<Vec<_>>(), ["海口市"]);
    let at = ms(datetime!(2026-04-13 10:00 +8)); // a Monday

    // (jurisdiction, category, the model's department, request type,
    //  → lead, co-departments, working days, due at)
    type Want<'a> = (&'a str, &'a [&'a str], u32, time::OffsetDateTime);
    let check = |j: &str, category: &str, triaged: &str, t: Option<RequestType>, want: Want<'_>| {
        let d = cat
            .for_jurisdiction(j)
            .dispatch(category, triaged, t, Urgency::Normal, at);
        let got = (
            d.lead.as_str(),
            d.co_departments
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            d.deadline_days,
            d.due_at,
        );
        let (lead, co, days, due) = want;
        assert_eq!(
            got,
            (lead, co.to_vec(), days, ms(due)),
            "{j:?} {category} triaged {triaged} {t:?}"
        );
    };
    let complaint = Some(RequestType::Complaint);
    // Elsewhere the file applies: the triaged department leads, the file's lead helps.
    check(
        "福州市",
        "noise_construction",
        "urban_management",
        complaint,
        (
            "urban_management",
            &["ecology_environment", "housing_construction"],
            10,
            datetime!(2026-04-28 00:00 +8),
        ),
    );
    check(
        "",
        "noise_construction",
        "ecology_environment",
        complaint,
        (
            "ecology_environment",
            &["urban_management", "housing_construction"],
            10,
            datetime!(2026-04-28 00:00 +8),
        ),
    );
    // 海口市 sets the lead: it leads whatever the model said; the file's co-departments stay,
    // without it; its defaults (7) replace the file's; 04-14 is a local holiday.
    check(
        "海口市",
        "noise_construction",
        "urban_management",
        complaint,
        (
            "ecology_environment",
            &["housing_construction"],
            7,
            datetime!(2026-04-24 00:00 +8),
        ),
    );
    // co and deadline replaced, the file's lead kept (and the triaged department leads)
    check(
        "海口市",
        "clutter",
        "urban_management",
        complaint,
        (
            "urban_management",
            &["subdistrict_office"],
            3,
            datetime!(2026-04-18 00:00 +8),
        ),
    );
    // the request type's deadline replaced; the file's is 1 working day
    check(
        "海口市",
        "clutter",
        "urban_management",
        Some(RequestType::Consultation),
        (
            "urban_management",
            &["subdistrict_office"],
            2,
            datetime!(2026-04-17 00:00 +8),
        ),
    );
    check(
        "三亚市",
        "clutter",
        "urban_management",
        Some(RequestType::Consultation),
        ("urban_management", &[], 1, datetime!(2026-04-15 00:00 +8)),
    );
    // a category only the jurisdiction lists
    check(
        "海口市",
        "street_vending",
        "urban_management",
        complaint,
        ("market_regulation", &[], 7, datetime!(2026-04-24 00:00 +8)),
    );
    check(
        "福州市",
        "street_vending",
        "urban_management",
        complaint,
        ("urban_management", &[], 10, datetime!(2026-04-28 00:00 +8)),
    );

    // the calendar: the file's holidays and workdays stay, the local one joins them
    let (file, local) = (cat.calendar(), cat.for_jurisdiction("海口市").calendar());
    for (d, worked_in_file, worked_locally) in [
        (date!(2026 - 04 - 14), true, false),
        (date!(2026 - 10 - 02), false, false),
        (date!(2026 - 10 - 10), true, true),
        (date!(2026 - 10 - 11), false, false),
    ] {
        assert_eq!(
            (file.is_working_day(d), local.is_working_day(d)),
            (worked_in_file, worked_locally),
            "{d}"
        );
    }
    // resolving twice is resolving once
    let h = cat.for_jurisdiction("海口市");
    assert_eq!(
        h.for_jurisdiction("海口市")
            .deadline_days("clutter", None, Urgency::Normal),
        3
    );
}

#[test]
fn override_errors_name_file_line_and_key() {
    // (the jurisdiction text from line 15, line, key, part of the message)
    let check = |tail: &str, line: usize, key: &str, msg: &str| {
        let err = parse(tail)
            .err()
            .unwrap_or_else(|| panic!("accepted:\n{tail}"));
        assert_eq!(
            (err.line, err.key.as_str()),
            (line, key),
            "{err}\nfor:\n{tail}"
        );
        assert!(err.message.contains(msg), "{err}: want {msg:?}");
        assert!(
            err.to_string()
                .starts_with(&format!("t/dispatch.toml:{line}: {key}: ")),
            "{err}"
        );
    };
    let j = "[jurisdictions.\"海口市\".categories";
    check(
        &format!("{j}.clutter]\nlead = \"urban_mgmt\"\n"),
        16,
        "jurisdictions.海口市.categories.clutter.lead",
        "unknown department \"urban_mgmt\"",
    );
    check(
        &format!("{j}.cluter]\nlead = \"urban_management\"\n"),
        15,
        "jurisdictions.海口市.categories.cluter",
        "unknown category \"cluter\"",
    );
    check(
        &format!("{j}.street_vending]\nco = [\"market_regulation\"]\n"),
        15,
        "jurisdictions.海口市.categories.street_vending",
        "needs a lead",
    );
    check(
        &format!("{j}.clutter]\nco = [\"subdistrict_office\", \"urban_management\"]\n"),
        16,
        "jurisdictions.海口市.categories.clutter.co[1]",
        "listed twice",
    );
    check(
        &format!("{j}.clutter]\n\ndeadline = {{ normal = 1, urgent = 2, very_urgent = 1 }}\n"),
        17,
        "jurisdictions.海口市.categories.clutter.deadline",
        "very_urgent ≤ urgent ≤ normal",
    );
    check(
        "[jurisdictions.\"海口市\".defaults]\ndeadline = { normal = 61, urgent = 2, very_urgent = 1 }\n",
        16,
        "jurisdictions.海口市.defaults.deadline.normal",
        "61 is not a deadline",
    );
    check(
        "[jurisdictions.\"海口市\".request_types.enquiry]\ndeadline = { normal = 1, urgent = 1, very_urgent = 1 }\n",
        15,
        "jurisdictions.海口市.request_types.enquiry",
        "unknown request type",
    );
    check(
        "[jurisdictions.\"海口市\".calendar]\nholidays = [\"2026-04-31\"]\n",
        16,
        "jurisdictions.海口市.calendar.holidays[0]",
        "not a date",
    );
    // a local holiday on the file's make-up workday
    check(
        "[jurisdictions.\"海口市\".calendar]\nholidays = [\"2026-10-09..2026-10-10\"]\n",
        16,
        "jurisdictions.海口市.calendar.holidays",
        "2026-10-10 is both a holiday and a make-up workday",
    );
    check(
        "[jurisdictions.\"\".defaults]\ndeadline = { normal = 1, urgent = 1, very_urgent = 1 }\n",
        15,
        "jurisdictions",
        "needs a name",
    );
    // the toml crate's own: unknown keys inside a jurisdiction
    check(
        &format!("{j}.clutter]\nleed = \"urban_management\"\n"),
        16,
        "jurisdictions.\"海口市\".categories.clutter.leed",
        "unknown field `leed`",
    );
}
