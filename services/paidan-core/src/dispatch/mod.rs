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

pub mod calendar;
pub mod catalogue;

pub use calendar::Calendar;
pub use catalogue::{Catalogue, CatalogueError, CategoryRule, Deadlines, Dispatch};
