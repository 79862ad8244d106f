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

use paidan_store::{RequestType, Urgency};

/// What the operator set on a complaint about its dispatch (each `None` when left unset: then
/// paidan guesses it from the text and marks it as guessed).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Asked {
    pub request_type: Option<RequestType>,
    pub urgency: Option<Urgency>,
}
