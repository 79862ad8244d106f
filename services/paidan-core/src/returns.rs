//! The return rule (退单): a department hands back a case that is not its business, and paidan
//! re-dispatches it to the next best department that has not returned it.
//!
//! Why a rule of its own beside [`crate::rules`]: it needs the dispatch catalogue as well as the
//! stored case, and its ranking is a policy a city may want to read in one place. Like the other
//! case rules it is a pure function from the case read inside the store's transaction to a
//! [`CaseEdit`], so every store applies it the same way.
//!
//! Ranking ([`candidates`]): the model's department for the case, then its department
//! alternatives in the model's order (both from the stored triage), then the catalogue's lead
//! and co-departments for the case's category; each department once. The next lead is the first
//! candidate that has not returned the case. The move is logged as a correction (department
//! before → after, what the model had said), so `export-corrections` learns the department that
//! finally kept it. When every candidate has returned the case it goes to review: status 退回
//! (Rejected), lead unchanged, for a person to dispatch by hand. The deadline is not reset: the
//! caller has been waiting since the case was received.

use paidan_store::{
    CaseEdit, CaseReader, CaseRecord, CaseReturn, CaseStatus, CorrectionRecord, EventKind,
    ReturnReason, StatusChange, StoreError,
};

use crate::dispatch::Catalogue;
use crate::rules::Act;

type Result<T> = std::result::Result<T, StoreError>;

/// Departments that could lead `case`, best first (see the module docs).
pub fn candidates(case: &CaseRecord, catalogue: &Catalogue) -> Vec<String> {
    let catalogue = catalogue.for_jurisdiction(&case.jurisdiction);
    let mut out: Vec<String> = Vec::new();
    let mut add = |d: &str| {
        if !d.is_empty() && !out.iter().any(|o| o == d) {
            out.push(d.to_string());
        }
    };
    add(&case.triage.department.code);
    for alt in &case.triage.department_alternatives {
        add(&alt.code);
    }
    if let Some(rule) = catalogue.rule(&case.category) {
        add(&rule.lead);
        for co in &rule.co {
            add(co);
        }
    }
    out
}

/// Departments that returned `case` so far.
pub fn returned_by(case: &CaseRecord) -> Vec<&str> {
    case.dispatch
        .returns
        .iter()
        .map(|r| r.department.as_str())
        .collect()
}

/// The department `case` goes to next, if any candidate has not returned it.
pub fn next_department(case: &CaseRecord, catalogue: &Catalogue) -> Option<String> {
    let returned = returned_by(case);
    candidates(case, catalogue)
        .into_iter()
        .find(|d| !returned.contains(&d.as_str()))
}

/// Department `department` returns case `id` for `reason`: recorded on the case, then the case is
/// re-dispatched to [`next_department`] (a correction, status 派单, a `Corrected` event) or, when
/// none is left, sent to review (status 退回, an `Updated` event). Only the case's lead may
/// return it, only a master, and only while it is being handled (accepted, dispatched, in
/// progress, or returned before).
pub fn return_case(
    r: &mut dyn CaseReader,
    id: &str,
    department: &str,
    reason: ReturnReason,
    catalogue: &Catalogue,
    act: Act<'_>,
) -> Result<CaseEdit> {
    let mut c = r.case(id)?;
    let catalogue = catalogue.for_jurisdiction(&c.jurisdiction);
    if let Some(m) = &c.duplicate_of {
        return Err(StoreError::Invalid(format!(
            "case {id} is a linked report of {m}; only its master is dispatched"
        )));
    }
    if !matches!(
        c.status,
        CaseStatus::Accepted
            | CaseStatus::Dispatched
            | CaseStatus::InProgress
            | CaseStatus::Rejected
    ) {
        return Err(StoreError::Invalid(format!(
            "case {id} is {:?}; only a case being handled can be returned",
            c.status
        )));
    }
    if c.department != department {
        return Err(StoreError::Invalid(format!(
            "case {id} is led by {:?}, not {department:?}; only the lead returns a case",
            c.department
        )));
    }
    c.dispatch.returns.push(CaseReturn {
        department: department.to_string(),
        reason,
        note: act.note.to_string(),
        actor: act.actor.to_string(),
        at: act.at,
    });
    let mut edit = CaseEdit::at(act.at);
    let note = if act.note.is_empty() {
        String::new()
    } else {
        format!(": {}", act.note)
    };
    match next_department(&c, catalogue) {
        Some(next) => {
            let correction = CorrectionRecord::of(
                &c,
                None,
                Some(&next),
                &format!("returned by {department} ({reason:?}){note}"),
                act.actor,
                act.at,
            );
            c.history.push(StatusChange {
                from: c.status,
                to: CaseStatus::Dispatched,
                note: format!(
                    "returned by {department} ({reason:?}), re-dispatched to {next}{note}"
                ),
                actor: act.actor.to_string(),
                at: act.at,
            });
            c.status = CaseStatus::Dispatched;
            let returned = returned_by(&c)
                .into_iter()
                .map(str::to_string)
                .collect::<Vec<_>>();
            c.dispatch.co_departments = catalogue
                .co_departments(&c.category, &next)
                .into_iter()
                .filter(|d| !returned.contains(d))
                .collect();
            c.department = next;
            c.corrections.push(correction.clone());
            edit.corrections.push(correction);
            edit.event(&c.id, EventKind::Corrected);
        }
        None => {
            c.history.push(StatusChange {
                from: c.status,
                to: CaseStatus::Rejected,
                note: format!(
                    "returned by {department} ({reason:?}); every candidate department has returned it, needs review{note}"
                ),
                actor: act.actor.to_string(),
                at: act.at,
            });
            c.status = CaseStatus::Rejected;
            edit.event(&c.id, EventKind::Updated);
        }
    }
    edit.cases.push(c);
    Ok(edit)
}
