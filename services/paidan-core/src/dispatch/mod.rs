//! Dispatch like a 12345 platform: who leads a case, who helps, and by when it must be handled.
//!
//! Why its own module: triage (the model) answers *which* department; dispatch adds what the
//! platform's rules say around that answer — co-responsible departments, a deadline in working
//! days that depends on the request type and urgency, and a calendar of holidays and make-up
//! workdays to count it in. All of it is data a city edits (`models/dispatch.toml`, see
//! [`Catalogue`]), checked at load, so the rules are not code.
//!
//! - [`calendar`]: working days (weekends, holidays, 调休 make-up workdays) and due instants.
//! - [`catalogue`]: the catalogue file, its validation and the per-case [`Dispatch`].
//! - [`guess`]: the request type and urgency from the text when the operator left them unset.

pub mod calendar;
pub mod catalogue;
pub mod guess;

pub use calendar::Calendar;
pub use catalogue::{Catalogue, CatalogueError, CategoryRule, Deadlines, Dispatch};

use paidan_store::{CaseDispatch, CaseRecord, Millis, RequestType, Urgency};

/// What the operator set on a complaint about its dispatch (each `None` when left unset: then
/// paidan guesses it from the text and marks it as guessed).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Asked {
    pub request_type: Option<RequestType>,
    pub urgency: Option<Urgency>,
}

/// A new case's lead and dispatch data by the catalogue of its `jurisdiction`: the lead
/// ([`Catalogue::lead`]), co-departments, and the due instant from the request type and urgency
/// (the operator's, else guessed from the title and text and marked so).
#[allow(clippy::too_many_arguments)]
pub fn new_case(
    catalogue: &Catalogue,
    jurisdiction: &str,
    category: &str,
    triaged: &str,
    asked: Asked,
    title: &str,
    text: &str,
    received_at: Millis,
) -> (String, CaseDispatch) {
    let (request_type, request_type_guessed) =
        guess::or_guess(asked.request_type, || guess::request_type(title, text));
    let (urgency, urgency_guessed) = guess::or_guess(asked.urgency, || guess::urgency(title, text));
    let d = catalogue.for_jurisdiction(jurisdiction).dispatch(
        category,
        triaged,
        Some(request_type),
        urgency,
        received_at,
    );
    let dispatch = CaseDispatch {
        co_departments: d.co_departments,
        due_at: Some(d.due_at),
        request_type: Some(request_type),
        request_type_guessed,
        urgency: Some(urgency),
        urgency_guessed,
        ..CaseDispatch::default()
    };
    (d.lead, dispatch)
}

/// The deadline filters of a case listing (`overdue`, `due_before`). The store lists by its own
/// indexes; these are applied by the domain to the cases it lists (see
/// [`crate::Intake::list_cases_due`]). Cases without a deadline (linked reports, cases stored
/// before dispatch) never match.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DueFilter {
    /// Overdue at this instant: still being handled (not resolved, followed up or closed) and due
    /// before it.
    pub overdue_at: Option<Millis>,
    /// Due before this instant (exclusive), whatever the status.
    pub due_before: Option<Millis>,
}

impl DueFilter {
    pub fn is_set(&self) -> bool {
        self.overdue_at.is_some() || self.due_before.is_some()
    }

    pub fn matches(&self, c: &CaseRecord) -> bool {
        let Some(due) = c.dispatch.due_at else {
            return !self.is_set();
        };
        let handling = c.status.is_handling();
        self.overdue_at.is_none_or(|now| handling && due < now)
            && self.due_before.is_none_or(|t| due < t)
    }
}
