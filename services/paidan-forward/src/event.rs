//! The JSON form of a `paidan.v1.CaseEvent`, as POSTed by the webhook sink, and its signature.
//!
//! Wire format (stable; fields may be added):
//! ```json
//! {"idempotency_key":"PD000000000042:3","case_id":"PD000000000042","sequence":3,
//!  "kind":"updated","occurred_at":"2026-01-01T08:00:00.000Z","case":{...}}
//! ```
//! `case` mirrors `paidan.v1.Case` with snake_case field names, RFC 3339 times and enum values as
//! lower-case names (`"12345"`, `"accepted"`, `"pending"` ...).
//!
//! Headers: `X-Paidan-Timestamp: <unix seconds>`, `Idempotency-Key: <idempotency_key>` and
//! `X-Paidan-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>`.

use hmac::{Hmac, Mac};
use paidan_proto::v1;
use paidan_store::{Millis, OutboxEntry};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use paidan_proto::convert;

pub const HEADER_TIMESTAMP: &str = "X-Paidan-Timestamp";
pub const HEADER_SIGNATURE: &str = "X-Paidan-Signature";
pub const HEADER_IDEMPOTENCY_KEY: &str = "Idempotency-Key";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebhookEvent {
    pub idempotency_key: String,
    pub case_id: String,
    pub sequence: u64,
    /// created | duplicate_linked | corrected | updated | due_soon | overdue
    pub kind: String,
    /// RFC 3339, UTC.
    pub occurred_at: String,
    pub case: WebhookCase,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebhookLabel {
    pub code: String,
    pub name: String,
    pub confidence: f32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebhookLocation {
    pub latitude: f64,
    pub longitude: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebhookStatusChange {
    pub from: String,
    pub to: String,
    pub note: String,
    pub actor: String,
    pub at: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebhookCorrection {
    pub category_before: String,
    pub category_after: String,
    pub department_before: String,
    pub department_after: String,
    pub note: String,
    pub actor: String,
    pub at: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebhookReport {
    pub case_id: String,
    pub request_id: String,
    pub received_at: String,
    pub score: f32,
    pub text_excerpt: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebhookCase {
    pub id: String,
    pub request_id: String,
    pub channel: String,
    pub received_at: String,
    pub created_at: String,
    pub jurisdiction: String,
    pub caller_phone: String,
    pub title: String,
    pub text: String,
    pub address: String,
    pub location: Option<WebhookLocation>,
    pub category: WebhookLabel,
    pub department: WebhookLabel,
    pub needs_review: bool,
    pub review_reasons: Vec<String>,
    pub model_version: String,
    pub status: String,
    pub history: Vec<WebhookStatusChange>,
    pub corrections: Vec<WebhookCorrection>,
    pub duplicate_of: String,
    pub duplicate_score: f32,
    pub report_count: u32,
    pub reports: Vec<WebhookReport>,
    /// Dispatch (added 2026-12-05; absent from older events): the departments that help the lead,
    /// the due date (RFC 3339, null when the case has none), what the caller asked for
    /// (consultation, help, complaint, report, suggestion, praise) and how urgent it is (normal,
    /// urgent, very_urgent), each with whether paidan guessed it from the text.
    #[serde(default)]
    pub co_departments: Vec<String>,
    #[serde(default)]
    pub due_at: Option<String>,
    #[serde(default)]
    pub request_type: Option<String>,
    #[serde(default)]
    pub request_type_guessed: bool,
    #[serde(default)]
    pub urgency: Option<String>,
    #[serde(default)]
    pub urgency_guessed: bool,
    /// Places the address and text name (added with schema 4; absent from older events): kind
    /// (district, street, road, estate, building) and the name as written.
    #[serde(default)]
    pub places: Vec<WebhookPlace>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebhookPlace {
    pub kind: String,
    pub name: String,
}

fn place_kind_name(k: i32) -> String {
    match v1::PlaceKind::try_from(k).unwrap_or(v1::PlaceKind::Unspecified) {
        v1::PlaceKind::District => "district",
        v1::PlaceKind::Street => "street",
        v1::PlaceKind::Road => "road",
        v1::PlaceKind::Estate => "estate",
        v1::PlaceKind::Building => "building",
        v1::PlaceKind::Unspecified => "unspecified",
    }
    .to_string()
}

/// RFC 3339 (UTC, milliseconds) of a time in ms since the epoch.
pub fn rfc3339(ms: Millis) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    ))
    .unwrap_or_default()
}

fn ts(t: &Option<prost_types::Timestamp>) -> String {
    t.as_ref()
        .map(|t| rfc3339(convert::millis(t)))
        .unwrap_or_default()
}

fn kind_name(k: i32) -> String {
    match v1::CaseEventKind::try_from(k).unwrap_or(v1::CaseEventKind::Unspecified) {
        v1::CaseEventKind::Created => "created",
        v1::CaseEventKind::DuplicateLinked => "duplicate_linked",
        v1::CaseEventKind::Corrected => "corrected",
        v1::CaseEventKind::Updated => "updated",
        v1::CaseEventKind::DueSoon => "due_soon",
        v1::CaseEventKind::Overdue => "overdue",
        v1::CaseEventKind::Unspecified => "unspecified",
    }
    .to_string()
}

fn channel_name(c: i32) -> String {
    convert::channel_from_proto(c)
        .map_or("unspecified", convert::channel_name)
        .to_string()
}

fn status_name(s: i32) -> String {
    match v1::CaseStatus::try_from(s).unwrap_or(v1::CaseStatus::Unspecified) {
        v1::CaseStatus::Accepted => "accepted",
        v1::CaseStatus::Dispatched => "dispatched",
        v1::CaseStatus::InProgress => "in_progress",
        v1::CaseStatus::Resolved => "resolved",
        v1::CaseStatus::FollowedUp => "followed_up",
        v1::CaseStatus::Closed => "closed",
        v1::CaseStatus::Rejected => "rejected",
        v1::CaseStatus::Unspecified => "unspecified",
    }
    .to_string()
}

fn label(l: &Option<v1::Label>) -> WebhookLabel {
    let l = l.clone().unwrap_or_default();
    WebhookLabel {
        code: l.code,
        name: l.name,
        confidence: l.confidence,
    }
}

impl WebhookEvent {
    /// The JSON event for an outbox entry: the same content as [`convert::event_to_proto`].
    pub fn from_entry(e: &OutboxEntry) -> WebhookEvent {
        WebhookEvent::from_proto(&convert::event_to_proto(e))
    }

    pub fn from_proto(e: &v1::CaseEvent) -> WebhookEvent {
        let c = e.case.clone().unwrap_or_default();
        let triage = c.triage.clone().unwrap_or_default();
        WebhookEvent {
            idempotency_key: e.idempotency_key.clone(),
            case_id: e.case_id.clone(),
            sequence: e.sequence,
            kind: kind_name(e.kind),
            occurred_at: ts(&e.occurred_at),
            case: WebhookCase {
                id: c.id,
                request_id: c.request_id,
                channel: channel_name(c.channel),
                received_at: ts(&c.received_at),
                created_at: ts(&c.created_at),
                jurisdiction: c.jurisdiction,
                caller_phone: c.caller_phone,
                title: c.title,
                text: c.text,
                address: c.address,
                location: c.location.map(|l| WebhookLocation {
                    latitude: l.latitude,
                    longitude: l.longitude,
                }),
                category: WebhookLabel {
                    code: c.category,
                    ..label(&triage.category)
                },
                department: WebhookLabel {
                    code: c.department,
                    ..label(&triage.department)
                },
                needs_review: triage.needs_review,
                review_reasons: triage.review_reasons,
                model_version: c.model_version,
                status: status_name(c.status),
                history: c
                    .history
                    .iter()
                    .map(|h| WebhookStatusChange {
                        from: status_name(h.from),
                        to: status_name(h.to),
                        note: h.note.clone(),
                        actor: h.actor.clone(),
                        at: ts(&h.at),
                    })
                    .collect(),
                corrections: c
                    .corrections
                    .iter()
                    .map(|x| WebhookCorrection {
                        category_before: x.category_before.clone(),
                        category_after: x.category_after.clone(),
                        department_before: x.department_before.clone(),
                        department_after: x.department_after.clone(),
                        note: x.note.clone(),
                        actor: x.actor.clone(),
                        at: ts(&x.at),
                    })
                    .collect(),
                duplicate_of: c.duplicate_of,
                duplicate_score: c.duplicate_score,
                report_count: c.report_count,
                places: c
                    .places
                    .iter()
                    .map(|p| WebhookPlace {
                        kind: place_kind_name(p.kind),
                        name: p.name.clone(),
                    })
                    .collect(),
                co_departments: c.co_departments.clone(),
                due_at: c.due_at.as_ref().map(|t| rfc3339(convert::millis(t))),
                request_type: convert::request_type_from_proto(c.request_type)
                    .ok()
                    .flatten()
                    .map(|t| t.key().to_string()),
                request_type_guessed: c.request_type_guessed,
                urgency: convert::urgency_from_proto(c.urgency)
                    .ok()
                    .flatten()
                    .map(|u| u.key().to_string()),
                urgency_guessed: c.urgency_guessed,
                reports: c
                    .reports
                    .iter()
                    .map(|r| WebhookReport {
                        case_id: r.case_id.clone(),
                        request_id: r.request_id.clone(),
                        received_at: ts(&r.received_at),
                        score: r.score,
                        text_excerpt: r.text_excerpt.clone(),
                    })
                    .collect(),
            },
        }
    }
}

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &[u8], timestamp: &str, body: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length.
    let mut m = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
    m.update(timestamp.as_bytes());
    m.update(b".");
    m.update(body);
    m
}

/// The `X-Paidan-Signature` header value: `sha256=<hex HMAC-SHA256(secret, timestamp "." body)>`.
pub fn sign(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(mac(secret, timestamp, body).finalize().into_bytes())
    )
}

/// True when `header` is the signature of `timestamp "." body` under `secret` (constant-time
/// comparison). Does not judge the timestamp's age; see [`verify_request`].
pub fn verify_signature(secret: &[u8], timestamp: &str, body: &[u8], header: &str) -> bool {
    let Some(hex_sig) = header.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Ok(sig) = hex::decode(hex_sig) else {
        return false;
    };
    mac(secret, timestamp, body).verify_slice(&sig).is_ok()
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("missing or malformed timestamp")]
    BadTimestamp,
    #[error("timestamp is {0} s away from now (tolerance exceeded)")]
    Stale(i64),
    #[error("signature does not match")]
    BadSignature,
}

/// What a receiver should check: the signature is valid and the timestamp is within `tolerance_s`
/// seconds of `now_s` (rejects replays of old captured requests).
pub fn verify_request(
    secret: &[u8],
    timestamp: &str,
    body: &[u8],
    header: &str,
    now_s: i64,
    tolerance_s: i64,
) -> Result<(), VerifyError> {
    let t: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| VerifyError::BadTimestamp)?;
    if (now_s - t).abs() > tolerance_s {
        return Err(VerifyError::Stale(now_s - t));
    }
    if !verify_signature(secret, timestamp, body, header) {
        return Err(VerifyError::BadSignature);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_only_the_signed_request() {
        let secret = b"s3cret";
        let body = br#"{"idempotency_key":"PD000000000001:1"}"#;
        let sig = sign(secret, "1767225600", body);
        assert!(sig.starts_with("sha256=") && sig.len() == 7 + 64);
        // (secret, timestamp, body, header, expected)
        let tampered = br#"{"idempotency_key":"PD000000000001:2"}"#;
        let table: Vec<(&[u8], &str, &[u8], String, bool)> = vec![
            (secret, "1767225600", body, sig.clone(), true),
            (secret, "1767225600", tampered, sig.clone(), false),
            (b"other", "1767225600", body, sig.clone(), false),
            (secret, "1767225601", body, sig.clone(), false),
            (
                secret,
                "1767225600",
                body,
                sig.replace("sha256=", ""),
                false,
            ),
            (secret, "1767225600", body, "sha256=zz".into(), false),
            (secret, "1767225600", body, format!("{}00", sig), false),
        ];
        for (i, (s, t, b, h, want)) in table.into_iter().enumerate() {
            assert_eq!(verify_signature(s, t, b, &h), want, "row {i}");
        }
    }

    #[test]
    fn receivers_reject_stale_and_malformed_timestamps() {
        let secret = b"k";
        let body = b"{}";
        let now = 1_767_225_600;
        let table: Vec<(String, Result<(), VerifyError>)> = vec![
            (now.to_string(), Ok(())),
            ((now - 299).to_string(), Ok(())),
            ((now - 301).to_string(), Err(VerifyError::Stale(301))),
            ((now + 400).to_string(), Err(VerifyError::Stale(-400))),
            ("yesterday".into(), Err(VerifyError::BadTimestamp)),
        ];
        for (t, want) in table {
            let sig = sign(secret, &t, body);
            assert_eq!(
                verify_request(secret, &t, body, &sig, now, 300),
                want,
                "{t}"
            );
        }
        let t = now.to_string();
        assert_eq!(
            verify_request(secret, &t, b"{ }", &sign(secret, &t, body), now, 300),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn rfc3339_times() {
        let table = [
            (0, "1970-01-01T00:00:00.000Z"),
            (1_767_225_600_123, "2026-01-01T00:00:00.123Z"),
        ];
        for (ms, want) in table {
            assert_eq!(rfc3339(ms), want);
        }
    }

    #[test]
    fn dispatch_fields_travel_and_older_events_still_parse() {
        let due = prost_types::Timestamp {
            seconds: 1_767_225_600,
            nanos: 0,
        };
        let event = v1::CaseEvent {
            case: Some(v1::Case {
                co_departments: vec!["housing_construction".into()],
                due_at: Some(due),
                request_type: v1::RequestType::Consultation as i32,
                request_type_guessed: true,
                urgency: v1::Urgency::VeryUrgent as i32,
                ..Default::default()
            }),
            ..Default::default()
        };
        let json = serde_json::to_value(WebhookEvent::from_proto(&event)).unwrap();
        let case = &json["case"];
        // (field, value)
        let table = [
            (
                "co_departments",
                serde_json::json!(["housing_construction"]),
            ),
            ("due_at", serde_json::json!("2026-01-01T00:00:00.000Z")),
            ("request_type", serde_json::json!("consultation")),
            ("request_type_guessed", serde_json::json!(true)),
            ("urgency", serde_json::json!("very_urgent")),
            ("urgency_guessed", serde_json::json!(false)),
        ];
        for (field, want) in &table {
            assert_eq!(&case[*field], want, "{field}");
        }
        let undispatched = WebhookEvent::from_proto(&v1::CaseEvent {
            case: Some(v1::Case::default()),
            ..Default::default()
        });
        assert_eq!(
            (undispatched.case.due_at, undispatched.case.request_type),
            (None, None)
        );
        // an event written before the fields existed
        let mut old = json.clone();
        for (field, _) in &table {
            old["case"].as_object_mut().unwrap().remove(*field);
        }
        let parsed: WebhookEvent = serde_json::from_value(old).unwrap();
        assert!(parsed.case.co_departments.is_empty() && parsed.case.urgency.is_none());
    }
}
