//! Every conversion between the domain types (`paidan-store`, `paidan-core`) and the `paidan.v1`
//! messages, and the wire validation that goes with them (an enum number the contract does not
//! know, a required enum left unset). Domain rules (text limits, lifecycle) stay in the domain.
//!
//! The server's handlers and the forwarder's sinks share these, so a case looks the same on every
//! wire. Phone numbers are masked here unless the caller may see them. Adding a channel is one
//! variant in `intake.proto`, one in `paidan_store::Channel`, and one line in each `match` below
//! (the compiler finds them).

use paidan_core::{Asked, Candidate, Complaint, Submitted};
use paidan_store::{
    AuditEvent, CaseRecord, CaseStatus, Channel, CorrectionRecord, EventKind, ForwardingRecord,
    ForwardingState, HotIssue, LabelRecord, Millis, OutboxEntry, Place, PlaceKind, ReportLink,
    RequestType, ReturnReason, Satisfaction, StatusChange, TriageRecord, Urgency,
};
use prost_types::Timestamp;

use crate::v1;

pub fn timestamp(ms: Millis) -> Timestamp {
    Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
    }
}

pub fn millis(ts: &Timestamp) -> Millis {
    ts.seconds
        .saturating_mul(1000)
        .saturating_add(i64::from(ts.nanos) / 1_000_000)
}

pub fn channel_to_proto(c: Channel) -> v1::Channel {
    match c {
        Channel::Unspecified => v1::Channel::Unspecified,
        Channel::Hotline12345 => v1::Channel::Channel12345,
        Channel::Hotline12319 => v1::Channel::Channel12319,
        Channel::Web => v1::Channel::Web,
        Channel::App => v1::Channel::App,
        Channel::Wechat => v1::Channel::Wechat,
    }
}

/// A wire channel number as the domain's; `None` for a number the contract does not define.
pub fn channel_from_proto(raw: i32) -> Option<Channel> {
    Some(match v1::Channel::try_from(raw).ok()? {
        v1::Channel::Unspecified => Channel::Unspecified,
        v1::Channel::Channel12345 => Channel::Hotline12345,
        v1::Channel::Channel12319 => Channel::Hotline12319,
        v1::Channel::Web => Channel::Web,
        v1::Channel::App => Channel::App,
        v1::Channel::Wechat => Channel::Wechat,
    })
}

/// Wire validation of a channel; unspecified is allowed only where `required` is false.
pub fn check_channel(raw: i32, required: bool) -> Result<Channel, String> {
    match channel_from_proto(raw) {
        None => Err(format!(
            "channel {raw} is not a known Channel (1 = 12345, 2 = 12319, 3 = web, 4 = app, 5 = wechat)"
        )),
        Some(Channel::Unspecified) if required => {
            Err("channel is required: CHANNEL_12345 or CHANNEL_12319 (or WEB/APP/WECHAT)".into())
        }
        Some(c) => Ok(c),
    }
}

/// The short name of a channel in JSON events and logs.
pub fn channel_name(c: Channel) -> &'static str {
    match c {
        Channel::Unspecified => "unspecified",
        Channel::Hotline12345 => "12345",
        Channel::Hotline12319 => "12319",
        Channel::Web => "web",
        Channel::App => "app",
        Channel::Wechat => "wechat",
    }
}

/// A wire status number as the domain's; 0 (unset) is `None`.
pub fn status_from_proto(raw: i32) -> Result<Option<CaseStatus>, String> {
    let unknown = || format!("status {raw} is not a known CaseStatus");
    Ok(Some(
        match v1::CaseStatus::try_from(raw).map_err(|_| unknown())? {
            v1::CaseStatus::Unspecified => return Ok(None),
            v1::CaseStatus::Accepted => CaseStatus::Accepted,
            v1::CaseStatus::Dispatched => CaseStatus::Dispatched,
            v1::CaseStatus::InProgress => CaseStatus::InProgress,
            v1::CaseStatus::Resolved => CaseStatus::Resolved,
            v1::CaseStatus::FollowedUp => CaseStatus::FollowedUp,
            v1::CaseStatus::Closed => CaseStatus::Closed,
            v1::CaseStatus::Rejected => CaseStatus::Rejected,
        },
    ))
}

pub fn request_type_to_proto(t: RequestType) -> v1::RequestType {
    match t {
        RequestType::Consultation => v1::RequestType::Consultation,
        RequestType::Help => v1::RequestType::Help,
        RequestType::Complaint => v1::RequestType::Complaint,
        RequestType::Report => v1::RequestType::Report,
        RequestType::Suggestion => v1::RequestType::Suggestion,
        RequestType::Praise => v1::RequestType::Praise,
    }
}

/// A wire request type as the domain's; 0 (unset) is `None`, an unknown number an error.
pub fn request_type_from_proto(raw: i32) -> Result<Option<RequestType>, String> {
    let unknown = || {
        format!(
            "request_type {raw} is not a known RequestType (1 = consultation, 2 = help, 3 = complaint, 4 = report, 5 = suggestion, 6 = praise)"
        )
    };
    Ok(Some(
        match v1::RequestType::try_from(raw).map_err(|_| unknown())? {
            v1::RequestType::Unspecified => return Ok(None),
            v1::RequestType::Consultation => RequestType::Consultation,
            v1::RequestType::Help => RequestType::Help,
            v1::RequestType::Complaint => RequestType::Complaint,
            v1::RequestType::Report => RequestType::Report,
            v1::RequestType::Suggestion => RequestType::Suggestion,
            v1::RequestType::Praise => RequestType::Praise,
        },
    ))
}

pub fn urgency_to_proto(u: Urgency) -> v1::Urgency {
    match u {
        Urgency::Normal => v1::Urgency::Normal,
        Urgency::Urgent => v1::Urgency::Urgent,
        Urgency::VeryUrgent => v1::Urgency::VeryUrgent,
    }
}

/// A wire urgency as the domain's; 0 (unset) is `None`, an unknown number an error.
pub fn urgency_from_proto(raw: i32) -> Result<Option<Urgency>, String> {
    let unknown = || {
        format!("urgency {raw} is not a known Urgency (1 = normal, 2 = urgent, 3 = very urgent)")
    };
    Ok(Some(
        match v1::Urgency::try_from(raw).map_err(|_| unknown())? {
            v1::Urgency::Unspecified => return Ok(None),
            v1::Urgency::Normal => Urgency::Normal,
            v1::Urgency::Urgent => Urgency::Urgent,
            v1::Urgency::VeryUrgent => Urgency::VeryUrgent,
        },
    ))
}

pub fn return_reason_to_proto(r: ReturnReason) -> v1::ReturnReason {
    match r {
        ReturnReason::NotOurResponsibility => v1::ReturnReason::NotOurResponsibility,
        ReturnReason::InformationIncomplete => v1::ReturnReason::InformationIncomplete,
        ReturnReason::Duplicate => v1::ReturnReason::Duplicate,
        ReturnReason::AlreadyHandled => v1::ReturnReason::AlreadyHandled,
        ReturnReason::Other => v1::ReturnReason::Other,
    }
}

/// Wire validation of a return reason: required, and one the contract defines.
pub fn return_reason_from_proto(raw: i32) -> Result<ReturnReason, String> {
    Ok(
        match v1::ReturnReason::try_from(raw)
            .map_err(|_| format!("reason {raw} is not a known ReturnReason"))?
        {
            v1::ReturnReason::Unspecified => {
                return Err("reason is required: why the department returns the case (RETURN_REASON_NOT_OUR_RESPONSIBILITY, _INFORMATION_INCOMPLETE, _DUPLICATE, _ALREADY_HANDLED or _OTHER)".into());
            }
            v1::ReturnReason::NotOurResponsibility => ReturnReason::NotOurResponsibility,
            v1::ReturnReason::InformationIncomplete => ReturnReason::InformationIncomplete,
            v1::ReturnReason::Duplicate => ReturnReason::Duplicate,
            v1::ReturnReason::AlreadyHandled => ReturnReason::AlreadyHandled,
            v1::ReturnReason::Other => ReturnReason::Other,
        },
    )
}

pub fn satisfaction_to_proto(s: Satisfaction) -> v1::Satisfaction {
    match s {
        Satisfaction::Satisfied => v1::Satisfaction::Satisfied,
        Satisfaction::BasicallySatisfied => v1::Satisfaction::BasicallySatisfied,
        Satisfaction::Dissatisfied => v1::Satisfaction::Dissatisfied,
    }
}

/// Wire validation of a rating: required, and one the contract defines.
pub fn satisfaction_from_proto(raw: i32) -> Result<Satisfaction, String> {
    Ok(
        match v1::Satisfaction::try_from(raw)
            .map_err(|_| format!("satisfaction {raw} is not a known Satisfaction"))?
        {
            v1::Satisfaction::Unspecified => {
                return Err("satisfaction is required: SATISFACTION_SATISFIED, _BASICALLY_SATISFIED or _DISSATISFIED".into());
            }
            v1::Satisfaction::Satisfied => Satisfaction::Satisfied,
            v1::Satisfaction::BasicallySatisfied => Satisfaction::BasicallySatisfied,
            v1::Satisfaction::Dissatisfied => Satisfaction::Dissatisfied,
        },
    )
}

/// What the operator set about the dispatch of a complaint (unset fields are guessed by the
/// domain).
pub fn asked(r: &v1::SubmitComplaintRequest) -> Result<Asked, String> {
    Ok(Asked {
        request_type: request_type_from_proto(r.request_type)?,
        urgency: urgency_from_proto(r.urgency)?,
    })
}

/// The wire form of a complaint as the domain's, after wire validation (the channel); the domain
/// validates the rest (`paidan_core::validate::check_complaint`).
pub fn complaint(r: v1::SubmitComplaintRequest) -> Result<Complaint, String> {
    Ok(Complaint {
        channel: check_channel(r.channel, true)?,
        request_id: r.request_id,
        title: r.title,
        text: r.text,
        jurisdiction: r.jurisdiction,
        caller_phone: r.caller_phone,
        address: r.address,
        location: r.location.map(|l| (l.latitude, l.longitude)),
        received_at: r.received_at.as_ref().map(millis),
    })
}

pub fn submitted_to_proto(s: Submitted) -> v1::SubmitComplaintResponse {
    v1::SubmitComplaintResponse {
        triage: Some(triage_to_proto(
            &s.case.triage,
            &s.case.dispatch.co_departments,
            &s.case.dispatch.places,
        )),
        duplicate_of: s.case.duplicate_of.clone().unwrap_or_default(),
        duplicate_score: s.case.duplicate_score,
        case_id: s.case.id,
        created: s.created,
    }
}

pub fn candidate_to_proto(c: Candidate) -> v1::DuplicateCandidate {
    v1::DuplicateCandidate {
        case_id: c.master_id,
        score: c.score,
        is_duplicate: c.is_duplicate,
        text_excerpt: c.text_excerpt,
    }
}

/// A hot issue; its representative text is a summary, so personal numbers in it are always masked.
pub fn hot_issue_to_proto(h: &HotIssue, mask_phone: bool) -> v1::HotIssue {
    v1::HotIssue {
        representative_text: paidan_text::excerpt(&paidan_text::mask_pii(&h.master.text), 120),
        master: Some(case_to_proto(&h.master, mask_phone)),
        report_count: h.report_count,
        first_report_at: Some(timestamp(h.first_report_at)),
        last_report_at: Some(timestamp(h.last_report_at)),
    }
}

pub fn outbox_entry_to_proto(e: &OutboxEntry) -> v1::OutboxEntry {
    v1::OutboxEntry {
        idempotency_key: e.idempotency_key.clone(),
        case_id: e.case_id.clone(),
        sequence: e.sequence,
        sink: e.delivered_to.join(","),
        attempts: e.attempts,
        last_error: e.last_error.clone(),
        enqueued_at: Some(timestamp(e.enqueued_at)),
        next_attempt_at: Some(timestamp(e.next_attempt_at)),
    }
}

pub fn audit_event_to_proto(e: AuditEvent) -> v1::AuditEvent {
    v1::AuditEvent {
        at: Some(timestamp(e.at)),
        actor: e.actor,
        action: e.action,
        target: e.target,
        detail: e.detail,
    }
}

pub fn status_to_proto(s: CaseStatus) -> v1::CaseStatus {
    match s {
        CaseStatus::Accepted => v1::CaseStatus::Accepted,
        CaseStatus::Dispatched => v1::CaseStatus::Dispatched,
        CaseStatus::InProgress => v1::CaseStatus::InProgress,
        CaseStatus::Resolved => v1::CaseStatus::Resolved,
        CaseStatus::FollowedUp => v1::CaseStatus::FollowedUp,
        CaseStatus::Closed => v1::CaseStatus::Closed,
        CaseStatus::Rejected => v1::CaseStatus::Rejected,
    }
}

pub fn label_to_proto(l: &LabelRecord) -> v1::Label {
    v1::Label {
        code: l.code.clone(),
        name: l.name.clone(),
        confidence: l.confidence,
    }
}

pub fn place_kind_to_proto(k: PlaceKind) -> v1::PlaceKind {
    match k {
        PlaceKind::District => v1::PlaceKind::District,
        PlaceKind::Street => v1::PlaceKind::Street,
        PlaceKind::Road => v1::PlaceKind::Road,
        PlaceKind::Estate => v1::PlaceKind::Estate,
        PlaceKind::Building => v1::PlaceKind::Building,
    }
}

pub fn places_to_proto(places: &[Place]) -> Vec<v1::Place> {
    places
        .iter()
        .map(|p| v1::Place {
            kind: place_kind_to_proto(p.kind) as i32,
            name: p.name.clone(),
        })
        .collect()
}

/// A triage with the co-departments the dispatch catalogue gives its category and lead, and the
/// places the text names.
pub fn triage_to_proto(
    t: &TriageRecord,
    co_departments: &[String],
    places: &[Place],
) -> v1::TriageResponse {
    v1::TriageResponse {
        category: Some(label_to_proto(&t.category)),
        department: Some(label_to_proto(&t.department)),
        category_alternatives: t.category_alternatives.iter().map(label_to_proto).collect(),
        department_alternatives: t
            .department_alternatives
            .iter()
            .map(label_to_proto)
            .collect(),
        needs_review: t.needs_review,
        review_reasons: t.review_reasons.clone(),
        model_version: t.model_version.clone(),
        co_departments: co_departments.to_vec(),
        places: places_to_proto(places),
    }
}

fn status_change_to_proto(h: &StatusChange) -> v1::StatusChange {
    v1::StatusChange {
        from: status_to_proto(h.from) as i32,
        to: status_to_proto(h.to) as i32,
        note: h.note.clone(),
        actor: h.actor.clone(),
        at: Some(timestamp(h.at)),
    }
}

fn correction_to_proto(c: &CorrectionRecord) -> v1::Correction {
    v1::Correction {
        category_before: c.category_before.clone(),
        category_after: c.category_after.clone(),
        department_before: c.department_before.clone(),
        department_after: c.department_after.clone(),
        note: c.note.clone(),
        actor: c.actor.clone(),
        at: Some(timestamp(c.at)),
    }
}

fn report_to_proto(r: &ReportLink) -> v1::LinkedReport {
    v1::LinkedReport {
        case_id: r.case_id.clone(),
        request_id: r.request_id.clone(),
        received_at: Some(timestamp(r.received_at)),
        score: r.score,
        text_excerpt: r.text_excerpt.clone(),
    }
}

fn forwarding_to_proto(f: &ForwardingRecord) -> v1::Forwarding {
    let state = match f.state {
        ForwardingState::Pending => v1::ForwardingState::Pending,
        ForwardingState::Delivered => v1::ForwardingState::Delivered,
        ForwardingState::Dead => v1::ForwardingState::Dead,
        ForwardingState::NotForwarded => v1::ForwardingState::NotForwarded,
    };
    v1::Forwarding {
        state: state as i32,
        attempts: f.attempts,
        last_error: f.last_error.clone(),
        delivered_at: f.delivered_at.map(timestamp),
        events_delivered: f.events_delivered,
        events_pending: f.events_pending,
    }
}

/// A stored case as a `paidan.v1.Case`. With `mask_phone`, the caller's phone number is masked
/// (138****1234) and so are phone and ID numbers inside the complaint text.
pub fn case_to_proto(c: &CaseRecord, mask_phone: bool) -> v1::Case {
    let shown = |s: &str| {
        if mask_phone {
            paidan_text::mask_pii(s)
        } else {
            s.to_owned()
        }
    };
    v1::Case {
        id: c.id.clone(),
        request_id: c.request_id.clone(),
        channel: channel_to_proto(c.channel) as i32,
        received_at: Some(timestamp(c.received_at)),
        created_at: Some(timestamp(c.created_at)),
        jurisdiction: c.jurisdiction.clone(),
        caller_phone: shown(&c.caller_phone),
        title: shown(&c.title),
        text: shown(&c.text),
        address: c.address.clone(),
        location: c.location.map(|(latitude, longitude)| v1::Location {
            latitude,
            longitude,
        }),
        triage: Some(triage_to_proto(
            &c.triage,
            &c.dispatch.co_departments,
            &c.dispatch.places,
        )),
        category: c.category.clone(),
        department: c.department.clone(),
        status: status_to_proto(c.status) as i32,
        history: c.history.iter().map(status_change_to_proto).collect(),
        corrections: c.corrections.iter().map(correction_to_proto).collect(),
        duplicate_of: c.duplicate_of.clone().unwrap_or_default(),
        duplicate_score: c.duplicate_score,
        report_count: c.report_count(),
        reports: c
            .reports
            .iter()
            .map(|r| {
                let mut p = report_to_proto(r);
                p.text_excerpt = shown(&p.text_excerpt);
                p
            })
            .collect(),
        forwarding: Some(forwarding_to_proto(&c.forwarding)),
        model_version: c.triage.model_version.clone(),
        co_departments: c.dispatch.co_departments.clone(),
        places: places_to_proto(&c.dispatch.places),
        due_at: c.dispatch.due_at.map(timestamp),
        request_type: c
            .dispatch
            .request_type
            .map_or(0, |t| request_type_to_proto(t) as i32),
        request_type_guessed: c.dispatch.request_type_guessed,
        urgency: c.dispatch.urgency.map_or(0, |u| urgency_to_proto(u) as i32),
        urgency_guessed: c.dispatch.urgency_guessed,
        returns: c
            .dispatch
            .returns
            .iter()
            .map(|r| v1::CaseReturn {
                department: r.department.clone(),
                reason: return_reason_to_proto(r.reason) as i32,
                note: r.note.clone(),
                actor: r.actor.clone(),
                at: Some(timestamp(r.at)),
            })
            .collect(),
        follow_ups: c
            .dispatch
            .follow_ups
            .iter()
            .map(|f| v1::FollowUp {
                satisfaction: satisfaction_to_proto(f.satisfaction) as i32,
                note: f.note.clone(),
                actor: f.actor.clone(),
                at: Some(timestamp(f.at)),
            })
            .collect(),
        extensions: c
            .dispatch
            .extensions
            .iter()
            .map(|x| v1::DeadlineExtension {
                from: x.from.map(timestamp),
                to: Some(timestamp(x.to)),
                reason: x.reason.clone(),
                actor: x.actor.clone(),
                at: Some(timestamp(x.at)),
            })
            .collect(),
    }
}

pub fn event_kind_to_proto(k: EventKind) -> v1::CaseEventKind {
    match k {
        EventKind::Created => v1::CaseEventKind::Created,
        EventKind::DuplicateLinked => v1::CaseEventKind::DuplicateLinked,
        EventKind::Corrected => v1::CaseEventKind::Corrected,
        EventKind::Updated => v1::CaseEventKind::Updated,
        EventKind::DueSoon => v1::CaseEventKind::DueSoon,
        EventKind::Overdue => v1::CaseEventKind::Overdue,
    }
}

/// The event the platform receives. The platform is the system of record for the caller, so it
/// gets the full phone number.
pub fn event_to_proto(e: &OutboxEntry) -> v1::CaseEvent {
    v1::CaseEvent {
        idempotency_key: e.idempotency_key.clone(),
        case_id: e.case_id.clone(),
        sequence: e.sequence,
        kind: event_kind_to_proto(e.kind) as i32,
        occurred_at: Some(timestamp(e.occurred_at)),
        case: Some(case_to_proto(&e.case, false)),
    }
}

/// The figures of a window (`GetDepartmentStats`).
pub fn figures_to_proto(f: &paidan_core::figures::Figures) -> v1::GetDepartmentStatsResponse {
    v1::GetDepartmentStatsResponse {
        departments: f
            .departments
            .iter()
            .map(|r| v1::DepartmentStats {
                department: r.name.clone(),
                received: r.received,
                resolved: r.resolved,
                resolved_on_time: r.resolved_on_time,
                overdue_open: r.overdue_open,
                returned: r.returned,
                satisfaction_rate: r.satisfaction_rate,
                mean_hours_to_resolve: r.mean_hours_to_resolve,
                rated: r.rated,
            })
            .collect(),
        categories: f
            .categories
            .iter()
            .map(|r| v1::CategoryStats {
                category: r.name.clone(),
                received: r.received,
                resolved: r.resolved,
                resolved_on_time: r.resolved_on_time,
                overdue_open: r.overdue_open,
                returned: r.returned,
                satisfaction_rate: r.satisfaction_rate,
                mean_hours_to_resolve: r.mean_hours_to_resolve,
                rated: r.rated,
            })
            .collect(),
        since: Some(timestamp(f.since)),
        until: Some(timestamp(f.until)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every wire number round-trips through the domain, and unknown numbers are refused.
    #[test]
    fn enums_round_trip_and_unknown_numbers_are_refused() {
        for raw in 0..=5 {
            let c = channel_from_proto(raw).expect("a known channel");
            assert_eq!(channel_to_proto(c) as i32, raw);
            assert_eq!(c as i32, raw, "stored discriminants match the wire");
        }
        assert_eq!(channel_from_proto(6), None);
        assert!(
            check_channel(0, true)
                .unwrap_err()
                .contains("channel is required")
        );
        assert!(check_channel(42, false).unwrap_err().contains("channel 42"));
        assert_eq!(check_channel(0, false), Ok(Channel::Unspecified));
        assert_eq!(status_from_proto(0), Ok(None));
        for raw in 1..=7 {
            let s = status_from_proto(raw).unwrap().expect("a known status");
            assert_eq!(status_to_proto(s) as i32, raw);
        }
        assert!(status_from_proto(99).unwrap_err().contains("status 99"));
        assert_eq!(request_type_from_proto(0), Ok(None));
        for raw in 1..=6 {
            let t = request_type_from_proto(raw).unwrap().expect("a known type");
            assert_eq!(request_type_to_proto(t) as i32, raw);
            assert_eq!(t as i32, raw, "domain numbers match the wire");
        }
        assert!(
            request_type_from_proto(7)
                .unwrap_err()
                .contains("request_type 7")
        );
        assert_eq!(urgency_from_proto(0), Ok(None));
        for raw in 1..=3 {
            let u = urgency_from_proto(raw).unwrap().expect("a known urgency");
            assert_eq!(urgency_to_proto(u) as i32, raw);
            assert_eq!(u as i32, raw, "domain numbers match the wire");
        }
        assert!(urgency_from_proto(4).unwrap_err().contains("urgency 4"));
        for (k, raw) in [
            (PlaceKind::District, 1),
            (PlaceKind::Street, 2),
            (PlaceKind::Road, 3),
            (PlaceKind::Estate, 4),
            (PlaceKind::Building, 5),
        ] {
            assert_eq!(place_kind_to_proto(k) as i32, raw);
            assert_eq!(k as i32, raw, "domain numbers match the wire");
        }
        assert!(
            return_reason_from_proto(0)
                .unwrap_err()
                .contains("reason is required")
        );
        for raw in 1..=5 {
            let r = return_reason_from_proto(raw).unwrap();
            assert_eq!(return_reason_to_proto(r) as i32, raw);
            assert_eq!(r as i32, raw, "domain numbers match the wire");
        }
        assert!(
            return_reason_from_proto(6)
                .unwrap_err()
                .contains("reason 6")
        );
        assert!(
            satisfaction_from_proto(0)
                .unwrap_err()
                .contains("satisfaction is required")
        );
        for raw in 1..=3 {
            let s = satisfaction_from_proto(raw).unwrap();
            assert_eq!(satisfaction_to_proto(s) as i32, raw);
            assert_eq!(s as i32, raw, "domain numbers match the wire");
        }
        assert!(
            satisfaction_from_proto(4)
                .unwrap_err()
                .contains("satisfaction 4")
        );
    }

    #[test]
    fn timestamps_round_trip_including_before_the_epoch() {
        for ms in [0, 1, 999, 1_000, 1_763_776_861_123, -1, -1_001] {
            assert_eq!(millis(&timestamp(ms)), ms, "{ms}");
            let ts = timestamp(ms);
            assert!((0..1_000_000_000).contains(&ts.nanos), "{ms}: {ts:?}");
        }
    }
}
