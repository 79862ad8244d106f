//! The follow-up call (回访) and deadline extensions (延期): what they do to a case.
//!
//! Why rules beside [`crate::rules`]: both need the dispatch catalogue (a reopened case gets a new
//! deadline by its category, request type and urgency; an extension counts working days in the
//! catalogue's calendar). Like the other case rules they are pure functions from the case read
//! inside the store's transaction to a [`CaseEdit`].
//!
//! - A rating is taken once the case is resolved (办结) — or again after a follow-up. Satisfied
//!   and basically satisfied move it to 回访 (FollowedUp); dissatisfied reopens it (重办): back to
//!   办理中 (InProgress) with a new deadline counted from the call, as long as the first one.
//! - An extension moves `due_at` later by a number of working days, with a reason, while the case
//!   is being handled.

use paidan_store::{
    CaseEdit, CaseReader, CaseRecord, CaseStatus, DeadlineExtension, EventKind, FollowUp, Millis,
    Satisfaction, StatusChange, StoreError, Urgency,
};

use crate::dispatch::Catalogue;
use crate::dispatch::catalogue::MAX_DEADLINE_DAYS;
use crate::rules::Act;

type Result<T> = std::result::Result<T, StoreError>;

fn master(c: &CaseRecord) -> Result<()> {
    match &c.duplicate_of {
        Some(m) => Err(StoreError::Invalid(format!(
            "case {} is a linked report of {m}; follow up its master",
            c.id
        ))),
        None => Ok(()),
    }
}

fn suffix(act: &Act<'_>) -> String {
    if act.note.is_empty() {
        String::new()
    } else {
        format!(": {}", act.note)
    }
}

/// Record the caller's rating of resolved case `id` (see the module docs).
pub fn record_follow_up(
    r: &mut dyn CaseReader,
    id: &str,
    satisfaction: Satisfaction,
    catalogue: &Catalogue,
    act: Act<'_>,
) -> Result<CaseEdit> {
    let mut c = r.case(id)?;
    let catalogue = catalogue.for_jurisdiction(&c.jurisdiction);
    master(&c)?;
    if !matches!(c.status, CaseStatus::Resolved | CaseStatus::FollowedUp) {
        return Err(StoreError::Invalid(format!(
            "case {id} is {:?}; a follow-up rates a resolved case",
            c.status
        )));
    }
    c.dispatch.follow_ups.push(FollowUp {
        satisfaction,
        note: act.note.to_string(),
        actor: act.actor.to_string(),
        at: act.at,
    });
    let n = suffix(&act);
    let (to, note) = match satisfaction {
        Satisfaction::Dissatisfied => {
            let days = catalogue.deadline_days(
                &c.category,
                c.dispatch.request_type,
                c.dispatch.urgency.unwrap_or(Urgency::Normal),
            );
            let due = catalogue.calendar().due_at(act.at, days);
            c.dispatch.due_at = Some(due);
            (
                CaseStatus::InProgress,
                format!("follow-up: dissatisfied, reopened (重办) for {days} working days{n}"),
            )
        }
        s => (CaseStatus::FollowedUp, format!("follow-up: {s:?}{n}")),
    };
    c.history.push(StatusChange {
        from: c.status,
        to,
        note,
        actor: act.actor.to_string(),
        at: act.at,
    });
    c.status = to;
    let mut edit = CaseEdit::at(act.at);
    edit.event(&c.id, EventKind::Updated);
    edit.cases.push(c);
    Ok(edit)
}

/// Move the deadline of case `id` later by `working_days` (延期), for `reason`.
pub fn extend_deadline(
    r: &mut dyn CaseReader,
    id: &str,
    working_days: u32,
    reason: &str,
    catalogue: &Catalogue,
    act: Act<'_>,
) -> Result<CaseEdit> {
    if !(1..=MAX_DEADLINE_DAYS).contains(&working_days) {
        return Err(StoreError::Invalid(format!(
            "working_days must be 1 to {MAX_DEADLINE_DAYS}, not {working_days}"
        )));
    }
    if reason.trim().is_empty() {
        return Err(StoreError::Invalid(
            "reason is required: why the deadline moves".into(),
        ));
    }
    let mut c = r.case(id)?;
    let catalogue = catalogue.for_jurisdiction(&c.jurisdiction);
    master(&c)?;
    if !matches!(
        c.status,
        CaseStatus::Accepted
            | CaseStatus::Dispatched
            | CaseStatus::InProgress
            | CaseStatus::Rejected
    ) {
        return Err(StoreError::Invalid(format!(
            "case {id} is {:?}; only a case being handled gets more time",
            c.status
        )));
    }
    let from = c.dispatch.due_at;
    let to = extended(catalogue, from.unwrap_or(act.at), working_days);
    c.dispatch.extensions.push(DeadlineExtension {
        from,
        to,
        reason: reason.to_string(),
        actor: act.actor.to_string(),
        at: act.at,
    });
    c.dispatch.due_at = Some(to);
    c.history.push(StatusChange {
        from: c.status,
        to: c.status,
        note: format!("deadline extended (延期) by {working_days} working days: {reason}"),
        actor: act.actor.to_string(),
        at: act.at,
    });
    let mut edit = CaseEdit::at(act.at);
    edit.event(&c.id, EventKind::Updated);
    edit.cases.push(c);
    Ok(edit)
}

/// `due` (the local midnight ending a deadline) moved `days` working days later.
fn extended(catalogue: &Catalogue, due: Millis, days: u32) -> Millis {
    // the last day of the deadline is the day before the midnight that ends it
    catalogue.calendar().due_at(due - 1, days)
}
