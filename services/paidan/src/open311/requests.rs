//! `POST requests.json` (file a report), `GET requests.json` (query) and
//! `GET requests/{service_request_id}.json`. Thin: check what is Open311's own (the form's shape,
//! lat/long, a location, the service code), convert, call the same `Intake` operations as
//! SubmitComplaint / ListCases / GetCase, convert back. A service request is a case: its id is
//! the case id, its description the case text.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::rejection::{FormRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::{Extension, Form, Json};
use paidan_core::{Complaint, Limits, now_millis};
use paidan_model::Taxonomy;
use paidan_store::{CaseFilter, CaseRecord, CaseStatus, Channel, Millis};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

use super::error::Open311Error;
use super::retry::post_key;
use super::{Open311, strip_json};
use crate::access::Caller;

/// The longest `GET requests.json` may span, and its default range (the spec's 90 days).
const MAX_SPAN_MS: Millis = 90 * 24 * 3600 * 1000;
/// The most requests one `GET requests.json` answers (the spec's default volume).
const MAX_RESULTS: usize = 1000;
/// The most ids, or service codes, one query may list.
const MAX_LISTED: usize = 100;

/// The form of `POST requests.json`, field names as the spec has them. Every field is optional on
/// the wire; the spec's "optional" holds: an empty field is an absent one. `attribute[…]` fields
/// are ignored (no service has attributes).
#[derive(Debug, Default, Deserialize)]
pub struct NewRequest {
    /// Read by the access guard (`open311::guard`); no part of the report.
    pub api_key: Option<String>,
    pub jurisdiction_id: Option<String>,
    pub service_code: Option<String>,
    pub lat: Option<String>,
    pub long: Option<String>,
    pub address_string: Option<String>,
    pub address_id: Option<String>,
    pub email: Option<String>,
    pub device_id: Option<String>,
    pub account_id: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
    pub description: Option<String>,
    pub media_url: Option<String>,
}

/// A field's value, `None` when absent, empty or blank.
fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.trim().is_empty())
}

impl NewRequest {
    /// Every field but `api_key`, by name: what makes two POSTs the same.
    fn fields(&self) -> [(&'static str, Option<&str>); 14] {
        [
            ("jurisdiction_id", given(&self.jurisdiction_id)),
            ("service_code", given(&self.service_code)),
            ("lat", given(&self.lat)),
            ("long", given(&self.long)),
            ("address_string", given(&self.address_string)),
            ("address_id", given(&self.address_id)),
            ("email", given(&self.email)),
            ("device_id", given(&self.device_id)),
            ("account_id", given(&self.account_id)),
            ("first_name", given(&self.first_name)),
            ("last_name", given(&self.last_name)),
            ("phone", given(&self.phone)),
            ("description", given(&self.description)),
            ("media_url", given(&self.media_url)),
        ]
    }

    /// The fields paidan does not keep: checked against the field limit all the same, so the
    /// facade accepts no more than gRPC would.
    fn unstored(&self) -> [(&'static str, Option<&str>); 7] {
        [
            ("address_id", given(&self.address_id)),
            ("email", given(&self.email)),
            ("device_id", given(&self.device_id)),
            ("account_id", given(&self.account_id)),
            ("first_name", given(&self.first_name)),
            ("last_name", given(&self.last_name)),
            ("media_url", given(&self.media_url)),
        ]
    }
}

fn coordinate(name: &str, value: &str) -> Result<f64, Open311Error> {
    value.trim().parse::<f64>().map_err(|_| {
        Open311Error::bad_request(format!(
            "{name} {value:?} is not a number: send WGS84 degrees, e.g. lat=28.2282&long=112.9388"
        ))
    })
}

/// The complaint a POST files, its `request_id` still to be chosen; `service_name` becomes its
/// title. Open311's own rules are checked here (description and location present, lat/long
/// numbers, the unstored fields' length); the domain checks the rest as for gRPC.
pub fn complaint(
    r: &NewRequest,
    service_name: Option<&str>,
    limits: &Limits,
) -> Result<Complaint, Open311Error> {
    let Some(description) = given(&r.description) else {
        return Err(Open311Error::bad_request(
            "description is required: what the reporter says is wrong (it is the text paidan triages)",
        ));
    };
    let location = match (given(&r.lat), given(&r.long)) {
        (Some(lat), Some(long)) => Some((coordinate("lat", lat)?, coordinate("long", long)?)),
        (None, None) => None,
        _ => {
            return Err(Open311Error::bad_request(
                "lat and long go together: send both, or neither and an address_string",
            ));
        }
    };
    let address = given(&r.address_string).unwrap_or_default();
    if location.is_none() && address.is_empty() {
        return Err(Open311Error::bad_request(
            "a location is required: lat and long, or address_string (address_id alone is not supported)",
        ));
    }
    for (name, value) in r.unstored() {
        let n = value.map_or(0, |v| v.chars().count());
        if n > limits.max_field_chars {
            return Err(Open311Error::bad_request(format!(
                "{name} is {n} characters long; the limit is {}",
                limits.max_field_chars
            )));
        }
    }
    Ok(Complaint {
        request_id: String::new(),
        title: service_name.unwrap_or_default().to_owned(),
        text: description.to_owned(),
        channel: Channel::Web,
        jurisdiction: given(&r.jurisdiction_id).unwrap_or_default().to_owned(),
        caller_phone: given(&r.phone).unwrap_or_default().to_owned(),
        address: address.to_owned(),
        location,
        received_at: None,
    })
}

/// The answer to a POST.
#[derive(Debug, Serialize)]
pub struct Created {
    pub service_request_id: String,
    pub service_notice: String,
    pub account_id: Option<String>,
}

pub async fn create(
    State(s): State<Arc<Open311>>,
    Extension(caller): Extension<Caller>,
    form: Result<Form<NewRequest>, FormRejection>,
) -> Result<Json<Vec<Created>>, Open311Error> {
    let Form(r) = form?;
    let model = s.intake.model();
    let service_name = match given(&r.service_code) {
        None => None,
        Some(code) => {
            let model = model.as_ref().ok_or_else(Open311Error::no_model)?;
            let name = model.taxonomy().category_name(code).ok_or_else(|| {
                Open311Error::not_found(format!(
                    "service_code {code:?} was not found: services.json lists the services"
                ))
            })?;
            Some(name.to_owned())
        }
    };
    let mut c = complaint(&r, service_name.as_deref(), s.intake.limits())?;
    let who = caller.0.as_ref().map_or("", |p| p.name.as_str());
    c.request_id = s
        .recent
        .request_id(post_key(who, r.fields()), Instant::now(), now_millis());
    let submitted = s.intake.submit(c).await?;
    let case = &submitted.case;
    tracing::info!(case_id = %case.id, created = submitted.created, "open311 request filed");
    Ok(Json(vec![Created {
        service_request_id: case.id.clone(),
        service_notice: notice(case, model.as_deref().map(|m| m.taxonomy())),
        account_id: None,
    }]))
}

/// Open311's two states: closed once the work is done (办结, 回访, 关闭), open before (受理, 派单,
/// 办理中, and 退回, which goes back to dispatch).
pub fn open311_status(s: CaseStatus) -> &'static str {
    match s {
        CaseStatus::Accepted
        | CaseStatus::Dispatched
        | CaseStatus::InProgress
        | CaseStatus::Rejected => "open",
        CaseStatus::Resolved | CaseStatus::FollowedUp | CaseStatus::Closed => "closed",
    }
}

const STATUSES: [CaseStatus; 7] = [
    CaseStatus::Accepted,
    CaseStatus::Dispatched,
    CaseStatus::InProgress,
    CaseStatus::Resolved,
    CaseStatus::FollowedUp,
    CaseStatus::Closed,
    CaseStatus::Rejected,
];

/// A service request as `GET requests` answers it.
#[derive(Debug, Serialize)]
pub struct ServiceRequest {
    pub service_request_id: String,
    pub status: &'static str,
    pub status_notes: Option<String>,
    pub service_name: Option<String>,
    pub service_code: String,
    pub description: String,
    pub agency_responsible: Option<String>,
    pub service_notice: String,
    pub requested_datetime: String,
    pub updated_datetime: String,
    /// No deadlines yet.
    pub expected_datetime: Option<String>,
    pub address: Option<String>,
    pub address_id: Option<String>,
    pub zipcode: Option<String>,
    pub lat: Option<f64>,
    pub long: Option<f64>,
    pub media_url: Option<String>,
}

/// The name of the case's category: the serving taxonomy's, else the one its triage recorded.
fn category_name(c: &CaseRecord, taxonomy: Option<&Taxonomy>) -> Option<String> {
    taxonomy
        .and_then(|t| t.category_name(&c.category))
        .map(str::to_owned)
        .or_else(|| (c.triage.category.code == c.category).then(|| c.triage.category.name.clone()))
}

/// The name of the case's department (the lead one), as [`category_name`].
fn department_name(c: &CaseRecord, taxonomy: Option<&Taxonomy>) -> Option<String> {
    taxonomy
        .and_then(|t| t.department_name(&c.department))
        .map(str::to_owned)
        .or_else(|| {
            (c.triage.department.code == c.department).then(|| c.triage.department.name.clone())
        })
}

/// What happens with the request: linked to an earlier report of the same matter, waiting for a
/// person to check its triage, or handed to its department.
pub fn notice(c: &CaseRecord, taxonomy: Option<&Taxonomy>) -> String {
    match &c.duplicate_of {
        Some(master) => format!(
            "the same matter as {master}, reported before: it is handled together with that case"
        ),
        None if c.triage.needs_review && c.corrections.is_empty() => {
            "received: a person checks its service and agency before it is dispatched".to_owned()
        }
        None => match department_name(c, taxonomy) {
            Some(d) => format!("received for {d}"),
            None => "received".to_owned(),
        },
    }
}

/// W3C date-time in UTC to the second, as the spec's examples (`2010-01-01T00:00:00Z`).
fn w3c(ms: Millis) -> String {
    OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|t| {
            t.format(format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
            ))
            .ok()
        })
        .unwrap_or_default()
}

/// A case as a service request; personal numbers in its text masked unless `reveal`.
pub fn service_request(
    c: &CaseRecord,
    taxonomy: Option<&Taxonomy>,
    reveal: bool,
) -> ServiceRequest {
    let shown = |s: &str| {
        if reveal {
            s.to_owned()
        } else {
            paidan_text::mask_pii(s)
        }
    };
    let updated = c
        .history
        .iter()
        .map(|h| h.at)
        .chain(c.corrections.iter().map(|k| k.at))
        .fold(c.created_at, Millis::max);
    ServiceRequest {
        service_request_id: c.id.clone(),
        status: open311_status(c.status),
        status_notes: c
            .history
            .last()
            .map(|h| shown(&h.note))
            .filter(|n| !n.trim().is_empty()),
        service_name: category_name(c, taxonomy),
        service_code: c.category.clone(),
        description: shown(&c.text),
        agency_responsible: department_name(c, taxonomy),
        service_notice: notice(c, taxonomy),
        requested_datetime: w3c(c.received_at),
        updated_datetime: w3c(updated),
        expected_datetime: c.dispatch.due_at.map(w3c),
        address: Some(c.address.clone()).filter(|a| !a.is_empty()),
        address_id: None,
        zipcode: None,
        lat: c.location.map(|(lat, _)| lat),
        long: c.location.map(|(_, long)| long),
        media_url: None,
    }
}

/// The query of `GET requests.json`.
#[derive(Debug, Default, Deserialize)]
pub struct Filters {
    /// Read by the access guard.
    pub api_key: Option<String>,
    pub jurisdiction_id: Option<String>,
    pub service_request_id: Option<String>,
    pub service_code: Option<String>,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    pub status: Option<String>,
}

/// A comma-separated list, blanks dropped.
fn list(v: &Option<String>, name: &str) -> Result<Vec<String>, Open311Error> {
    let items: Vec<String> = given(v)
        .map(|s| {
            s.split(',')
                .map(str::trim)
                .filter(|i| !i.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if items.len() > MAX_LISTED {
        return Err(Open311Error::bad_request(format!(
            "{name} lists {} values; the limit is {MAX_LISTED}",
            items.len()
        )));
    }
    Ok(items)
}

fn date(name: &str, v: &Option<String>) -> Result<Option<Millis>, Open311Error> {
    let Some(s) = given(v) else {
        return Ok(None);
    };
    // An unescaped `+` of an offset (…T08:00:00+08:00) arrives as a space.
    let s = s.trim().replace(' ', "+");
    let t = OffsetDateTime::parse(&s, &Rfc3339).map_err(|e| {
        Open311Error::bad_request(format!(
            "{name} {s:?} is not a w3 date-time ({e}): e.g. 2025-01-01T00:00:00Z"
        ))
    })?;
    Ok(Some((t.unix_timestamp_nanos() / 1_000_000) as Millis))
}

/// The case statuses the `status` filter asks for; `None` for all.
fn statuses(v: &Option<String>) -> Result<Option<Vec<CaseStatus>>, Open311Error> {
    let wanted = list(v, "status")?;
    for w in &wanted {
        if w != "open" && w != "closed" {
            return Err(Open311Error::bad_request(format!(
                "status {w:?} is not open or closed"
            )));
        }
    }
    let all = wanted.is_empty()
        || (wanted.iter().any(|w| w == "open") && wanted.iter().any(|w| w == "closed"));
    Ok((!all).then(|| {
        STATUSES
            .into_iter()
            .filter(|s| wanted.iter().any(|w| w == open311_status(*s)))
            .collect()
    }))
}

/// The time range `[start, end]` asked for: the spec's most recent 90 days by default, never
/// more than 90 days.
fn range(f: &Filters, now: Millis) -> Result<(Millis, Millis), Open311Error> {
    let (start, end) = match (
        date("start_date", &f.start_date)?,
        date("end_date", &f.end_date)?,
    ) {
        (None, None) => (now - MAX_SPAN_MS, now),
        (Some(s), None) => (s, s.saturating_add(MAX_SPAN_MS)),
        (None, Some(e)) => (e.saturating_sub(MAX_SPAN_MS), e),
        (Some(s), Some(e)) => (s, e),
    };
    if start > end {
        return Err(Open311Error::bad_request("start_date is after end_date"));
    }
    if end - start > MAX_SPAN_MS {
        return Err(Open311Error::bad_request(
            "start_date to end_date spans more than 90 days",
        ));
    }
    Ok((start, end))
}

pub async fn list_requests(
    State(s): State<Arc<Open311>>,
    Extension(caller): Extension<Caller>,
    query: Result<Query<Filters>, QueryRejection>,
) -> Result<Json<Vec<ServiceRequest>>, Open311Error> {
    let Query(f) = query?;
    let model = s.intake.model();
    let taxonomy = model.as_deref().map(|m| m.taxonomy());
    let reveal = caller.sees_personal_data();
    let ids = list(&f.service_request_id, "service_request_id")?;
    let mut cases: Vec<CaseRecord> = Vec::new();
    if !ids.is_empty() {
        // The ids override every other filter; an unknown id is left out.
        for id in ids {
            match s.intake.get_case(id).await {
                Ok(c) => cases.push(c),
                Err(paidan_core::CoreError::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
    } else {
        let (start, end) = range(&f, now_millis())?;
        let codes = list(&f.service_code, "service_code")?;
        let codes: Vec<Option<String>> = if codes.is_empty() {
            vec![None]
        } else {
            codes.into_iter().map(Some).collect()
        };
        let statuses: Vec<Option<CaseStatus>> = match statuses(&f.status)? {
            None => vec![None],
            Some(list) => list.into_iter().map(Some).collect(),
        };
        // One query per code and status (the store filters on one of each), each newest first.
        for code in &codes {
            for status in &statuses {
                let filter = CaseFilter {
                    status: *status,
                    category: code.clone(),
                    jurisdiction: given(&f.jurisdiction_id).map(str::to_owned),
                    received_after: Some(start),
                    received_before: Some(end.saturating_add(1)),
                    ..CaseFilter::default()
                };
                let page = s.intake.list_cases(filter, MAX_RESULTS, None).await?;
                cases.extend(page.cases);
            }
        }
        cases.sort_by(|a, b| (b.received_at, &b.id).cmp(&(a.received_at, &a.id)));
        cases.dedup_by(|a, b| a.id == b.id);
        cases.truncate(MAX_RESULTS);
    }
    Ok(Json(
        cases
            .iter()
            .map(|c| service_request(c, taxonomy, reveal))
            .collect(),
    ))
}

pub async fn one(
    State(s): State<Arc<Open311>>,
    Extension(caller): Extension<Caller>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Vec<ServiceRequest>>, Open311Error> {
    let Path(file) = path?;
    let id = strip_json(&file)?;
    if id.trim().is_empty() {
        return Err(Open311Error::bad_request("service_request_id is empty"));
    }
    let c = s.intake.get_case(id.to_owned()).await?;
    let model = s.intake.model();
    Ok(Json(vec![service_request(
        &c,
        model.as_deref().map(|m| m.taxonomy()),
        caller.sees_personal_data(),
    )]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(edit: impl FnOnce(&mut NewRequest)) -> NewRequest {
        let mut r = NewRequest {
            description: Some("小区楼下烧烤店油烟太大".into()),
            lat: Some("28.2282".into()),
            long: Some("112.9388".into()),
            ..NewRequest::default()
        };
        edit(&mut r);
        r
    }

    /// Each case edits a valid form; `Ok(())` means it converts, `Err(s)` that the error says `s`.
    #[test]
    fn form_rules() {
        type Edit = fn(&mut NewRequest);
        let table: Vec<(&str, Edit, Result<(), &str>)> = vec![
            ("valid", |_| {}, Ok(())),
            (
                "no description",
                |r| r.description = None,
                Err("description is required"),
            ),
            (
                "blank description",
                |r| r.description = Some(" \n".into()),
                Err("description is required"),
            ),
            ("lat alone", |r| r.long = None, Err("go together")),
            (
                "long alone",
                |r| r.lat = Some(String::new()),
                Err("go together"),
            ),
            (
                "lat not a number",
                |r| r.lat = Some("north".into()),
                Err("lat \"north\" is not a number"),
            ),
            (
                "address instead",
                |r| {
                    r.lat = None;
                    r.long = None;
                    r.address_string = Some("幸福路12号".into());
                },
                Ok(()),
            ),
            (
                "no location",
                |r| {
                    r.lat = None;
                    r.long = None;
                },
                Err("a location is required"),
            ),
            (
                "address_id alone",
                |r| {
                    r.lat = None;
                    r.long = None;
                    r.address_id = Some("545483".into());
                },
                Err("address_id alone is not supported"),
            ),
            (
                "long first_name",
                |r| r.first_name = Some("名".repeat(501)),
                Err("first_name is 501 characters long; the limit is 500"),
            ),
        ];
        for (name, edit, want) in table {
            let got = complaint(&form(edit), None, &Limits::default()).map(drop);
            match (want, got) {
                (Ok(()), Ok(())) => {}
                (Err(s), Err(e)) => assert!(e.description.contains(s), "{name}: {e:?} lacks {s:?}"),
                (want, got) => panic!("{name}: want {want:?}, got {got:?}"),
            }
        }
        let c = complaint(
            &form(|r| r.phone = Some("13812345678".into())),
            Some("油烟"),
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(
            (c.title.as_str(), c.caller_phone.as_str(), c.channel),
            ("油烟", "13812345678", Channel::Web)
        );
        assert_eq!(c.location, Some((28.2282, 112.9388)));
    }

    #[test]
    fn statuses_and_ranges() {
        let s = |v: &str| statuses(&Some(v.into())).map_err(|e| e.description);
        assert_eq!(s("").unwrap(), None);
        assert_eq!(s("open,closed").unwrap(), None);
        assert_eq!(
            s("closed").unwrap(),
            Some(vec![
                CaseStatus::Resolved,
                CaseStatus::FollowedUp,
                CaseStatus::Closed
            ])
        );
        assert_eq!(
            s(" open ").unwrap(),
            Some(vec![
                CaseStatus::Accepted,
                CaseStatus::Dispatched,
                CaseStatus::InProgress,
                CaseStatus::Rejected
            ])
        );
        assert!(s("pending").unwrap_err().contains("not open or closed"));

        let now = 1_763_776_800_000;
        let r = |start: Option<&str>, end: Option<&str>| {
            range(
                &Filters {
                    start_date: start.map(Into::into),
                    end_date: end.map(Into::into),
                    ..Filters::default()
                },
                now,
            )
            .map_err(|e| e.description)
        };
        assert_eq!(r(None, None).unwrap(), (now - MAX_SPAN_MS, now));
        let jan1 = 1_735_689_600_000;
        assert_eq!(
            r(Some("2025-01-01T00:00:00Z"), None).unwrap(),
            (jan1, jan1 + MAX_SPAN_MS)
        );
        assert_eq!(
            r(
                Some("2025-01-01T08:00:00 08:00"),
                Some("2025-01-02T00:00:00Z")
            )
            .unwrap()
            .0,
            jan1
        );
        assert!(
            r(Some("2025-01-01"), None)
                .unwrap_err()
                .contains("not a w3 date-time")
        );
        assert!(
            r(Some("2025-03-01T00:00:00Z"), Some("2025-01-01T00:00:00Z"))
                .unwrap_err()
                .contains("after")
        );
        assert!(
            r(Some("2025-01-01T00:00:00Z"), Some("2025-06-01T00:00:00Z"))
                .unwrap_err()
                .contains("90 days")
        );
        assert_eq!(w3c(jan1 + 1_500), "2025-01-01T00:00:01Z");
    }
}
