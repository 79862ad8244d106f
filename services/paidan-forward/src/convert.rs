//! Conversions between the stored domain types (`paidan-store`) and the `paidan.v1` messages.
//!
//! The server's handlers and the forwarder's gRPC sink share these, so a case looks the same on
//! every wire. Phone numbers are masked here unless the caller asks for the full number.

use paidan_proto::v1;
use paidan_store::{
    CaseRecord, CaseStatus, Channel, CorrectionRecord, EventKind, ForwardingRecord,
    ForwardingState, LabelRecord, Millis, OutboxEntry, ReportLink, StatusChange, TriageRecord,
};
use prost_types::Timestamp;

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

pub fn triage_to_proto(t: &TriageRecord) -> v1::TriageResponse {
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
        triage: Some(triage_to_proto(&c.triage)),
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
    }
}

pub fn event_kind_to_proto(k: EventKind) -> v1::CaseEventKind {
    match k {
        EventKind::Created => v1::CaseEventKind::Created,
        EventKind::DuplicateLinked => v1::CaseEventKind::DuplicateLinked,
        EventKind::Corrected => v1::CaseEventKind::Corrected,
        EventKind::Updated => v1::CaseEventKind::Updated,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_including_before_the_epoch() {
        for ms in [0, 1, 999, 1_000, 1_763_776_861_123, -1, -1_001] {
            assert_eq!(millis(&timestamp(ms)), ms, "{ms}");
            let ts = timestamp(ms);
            assert!((0..1_000_000_000).contains(&ts.nanos), "{ms}: {ts:?}");
        }
    }
}
