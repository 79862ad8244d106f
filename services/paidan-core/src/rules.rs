//! The case rules: what a status change, a correction, a split and a merge do to the cases they
//! touch, and when they are refused.
//!
//! Each rule is a pure function from the cases as stored (read through [`CaseReader`] inside the
//! store's transaction) to a [`CaseEdit`]: the changed records, the events to forward and the
//! corrections to log. The store applies an edit with its indexes and outbox in one transaction
//! and derives its own index work from the change (a closed case leaves the duplicate index, a
//! master that gains reports is refreshed there), so the rules exist once, whatever the store.
//! A rule may run more than once when the store retries a conflicting transaction: it only reads
//! through the reader and returns its edit.

use paidan_store::{
    CaseEdit, CaseReader, CaseRecord, CaseStatus, CorrectionRecord, EventKind, Millis, ReportLink,
    StatusChange, StoreError,
};
use paidan_text::excerpt;

type Result<T> = std::result::Result<T, StoreError>;

/// How much of a report's text its master's report list shows.
pub const REPORT_EXCERPT_CHARS: usize = 80;

/// Who does it, when, and why: recorded in the history of every case a rule changes.
#[derive(Clone, Copy, Debug)]
pub struct Act<'a> {
    pub note: &'a str,
    pub actor: &'a str,
    pub at: Millis,
}

impl Act<'_> {
    /// A history line that records an act without a status move.
    fn history(&self, case: &CaseRecord, what: String) -> StatusChange {
        StatusChange {
            from: case.status,
            to: case.status,
            note: what,
            actor: self.actor.to_string(),
            at: self.at,
        }
    }

    /// ": note", or nothing when there is no note.
    fn suffix(&self) -> String {
        if self.note.is_empty() {
            String::new()
        } else {
            format!(": {}", self.note)
        }
    }
}

/// The lifecycle: 受理 → 派单 → 办理中 → 办结 → 回访 → 关闭, with 退回 (a department returns the
/// order) leading back to 派单, re-opening a resolved case going back to 办理中, and 关闭
/// reachable from every state. Closed is final; a move to the same state is no move.
pub fn can_move(from: CaseStatus, to: CaseStatus) -> bool {
    use CaseStatus::*;
    if from == to {
        return false;
    }
    match (from, to) {
        (Closed, _) => false,
        (_, Closed) => true,
        (Accepted, Dispatched | Rejected) => true,
        (Dispatched, InProgress | Rejected | Resolved) => true,
        (Rejected, Dispatched) => true,
        (InProgress, Resolved | Rejected) => true,
        (Resolved, FollowedUp | InProgress) => true,
        (FollowedUp, InProgress) => true,
        _ => false,
    }
}

/// Move case `id` to `to` (refused unless [`can_move`]); an `Updated` event when it is a master.
pub fn update_status(
    r: &mut dyn CaseReader,
    id: &str,
    to: CaseStatus,
    act: Act<'_>,
) -> Result<CaseEdit> {
    let mut c = r.case(id)?;
    if !can_move(c.status, to) {
        return Err(StoreError::InvalidTransition {
            case_id: id.to_string(),
            from: c.status,
            to,
        });
    }
    c.history.push(StatusChange {
        from: c.status,
        to,
        note: act.note.to_string(),
        actor: act.actor.to_string(),
        at: act.at,
    });
    c.status = to;
    let mut edit = CaseEdit::at(act.at);
    edit.event_if_master(&c, EventKind::Updated);
    edit.cases.push(c);
    Ok(edit)
}

/// Set the effective category and/or department (None keeps it), keeping what the model had said
/// in a correction record (on the case and in the corrections log); a `Corrected` event when it
/// is a master.
pub fn correct(
    r: &mut dyn CaseReader,
    id: &str,
    category: Option<&str>,
    department: Option<&str>,
    act: Act<'_>,
) -> Result<CaseEdit> {
    if category.is_none() && department.is_none() {
        return Err(StoreError::Invalid(
            "a correction must change the category or the department".into(),
        ));
    }
    let mut c = r.case(id)?;
    let correction = CorrectionRecord::of(&c, category, department, act.note, act.actor, act.at);
    c.category = correction.category_after.clone();
    c.department = correction.department_after.clone();
    c.corrections.push(correction.clone());
    let mut edit = CaseEdit::at(act.at);
    edit.corrections.push(correction);
    edit.event_if_master(&c, EventKind::Corrected);
    edit.cases.push(c);
    Ok(edit)
}

/// Detach linked report `report_id` from its master into a matter of its own: history on both,
/// a `Created` event for the report (the platform has only seen it inside the master) and an
/// `Updated` one for the master. The report comes first in the edit.
pub fn split(r: &mut dyn CaseReader, report_id: &str, act: Act<'_>) -> Result<CaseEdit> {
    let mut report = r.case(report_id)?;
    let Some(master_id) = report.duplicate_of.clone() else {
        return Err(StoreError::Invalid(format!(
            "case {report_id} is not a linked report"
        )));
    };
    let mut master = r.case(&master_id)?;
    let n = act.suffix();
    master.reports.retain(|l| l.case_id != report_id);
    master
        .history
        .push(act.history(&master, format!("split off report {report_id}{n}")));
    report.duplicate_of = None;
    report.duplicate_score = 0.0;
    report
        .history
        .push(act.history(&report, format!("split from {master_id}{n}")));
    let mut edit = CaseEdit::at(act.at);
    edit.event(&report.id, EventKind::Created);
    edit.event_if_master(&master, EventKind::Updated);
    edit.cases.push(report);
    edit.cases.push(master);
    Ok(edit)
}

/// Link case `duplicate_id` and its own reports to master `master_id` by hand. Both must be
/// masters (merge into a report's master; split a report before moving it). The duplicate's
/// reports move over with a history line each; the duplicate gets an `Updated` event (the
/// platform knew it as a case of its own) and then travels inside the master, which gets one
/// too. The master comes first in the edit.
pub fn merge(
    r: &mut dyn CaseReader,
    master_id: &str,
    duplicate_id: &str,
    act: Act<'_>,
) -> Result<CaseEdit> {
    if master_id == duplicate_id {
        return Err(StoreError::Invalid(
            "cannot merge a case into itself".into(),
        ));
    }
    let mut master = r.case(master_id)?;
    if let Some(m) = &master.duplicate_of {
        return Err(StoreError::Invalid(format!(
            "case {master_id} is a linked report of {m}; merge into {m}"
        )));
    }
    let mut dup = r.case(duplicate_id)?;
    if dup.duplicate_of.is_some() {
        return Err(StoreError::Invalid(format!(
            "case {duplicate_id} is already a linked report; split it first"
        )));
    }
    let n = act.suffix();
    let mut moved = Vec::with_capacity(dup.reports.len());
    master.reports.push(ReportLink {
        case_id: dup.id.clone(),
        request_id: dup.request_id.clone(),
        received_at: dup.received_at,
        score: 1.0,
        text_excerpt: excerpt(&dup.text, REPORT_EXCERPT_CHARS),
    });
    for link in std::mem::take(&mut dup.reports) {
        let mut report = r.case(&link.case_id)?;
        report.duplicate_of = Some(master.id.clone());
        report.history.push(act.history(
            &report,
            format!("moved from {duplicate_id} to {master_id}{n}"),
        ));
        moved.push(report);
        master.reports.push(link);
    }
    master
        .reports
        .sort_by(|a, b| (a.received_at, &a.case_id).cmp(&(b.received_at, &b.case_id)));
    master
        .history
        .push(act.history(&master, format!("merged {duplicate_id}{n}")));
    dup.history
        .push(act.history(&dup, format!("merged into {master_id}{n}")));
    dup.duplicate_of = Some(master.id.clone());
    dup.duplicate_score = 1.0;
    let mut edit = CaseEdit::at(act.at);
    edit.event(&dup.id, EventKind::Updated);
    edit.event(&master.id, EventKind::Updated);
    edit.cases.push(master);
    edit.cases.push(dup);
    edit.cases.extend(moved);
    Ok(edit)
}
