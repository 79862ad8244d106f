//! Department figures as counters: what one case contributes to them, and the counter deltas of a
//! change of a case.
//!
//! Why counters, and why here: the figures (`GetDepartmentStats`, `paidan stats`) must not scan
//! every case, so each store keeps counters and changes them in the transaction that changes the
//! case (sled: the `figures` tree in the case transaction; PostgreSQL: the `figures` table in the
//! same transaction). The counting rule is a pure function of the stored case, so it lives beside
//! the case records, in the crate both stores depend on (paidan-core, which turns the sums into
//! rates and means, depends on this crate, not the reverse). A change of a case is then
//! `contributions(after) − contributions(before)` ([`deltas`]): created, status moved, returned,
//! followed up, deadline extended, corrected, linked or merged are all the same computation, and
//! a store that already holds cases builds its counters once as the sum of every case's
//! contribution.
//!
//! What a case contributes. Only masters count (a linked report is carried by its master and
//! has no dispatch of its own). Every counter is keyed by (hour bucket, counter, department or
//! category, jurisdiction) and bucketed by when its event happened:
//!
//! | counter            | bucket (hour of)          | department                | n           |
//! |--------------------|---------------------------|---------------------------|-------------|
//! | `Received`         | `received_at`             | the lead now              | 1           |
//! | `Resolved`         | the resolution            | the lead now              | 1           |
//! | `ResolvedOnTime`   | the resolution            | the lead now              | 1 if resolved by `due_at` |
//! | `ResolveMillis`    | the resolution            | the lead now              | resolution − `received_at` |
//! | `Returned`         | each return (退单)         | the department returning  | 1 per return |
//! | `Rated`            | each follow-up (回访)      | the lead now              | 1 per rating |
//! | `Satisfied`        | each follow-up            | the lead now              | 1 if (basically) satisfied |
//! | `OpenByDue`        | `due_at`                  | the lead now              | 1 while being handled |
//!
//! The category rows are the same with the case's category now in place of the department.
//! "Resolved" is a case that stands resolved, followed up or closed after its latest move to
//! RESOLVED (a reopened case is not resolved until it is resolved again, and then counts at that
//! later time). "Being handled" is accepted, dispatched, in progress or returned to review (as
//! `ListCases`'s `overdue`). A case without a deadline is never on time and never overdue.

use std::collections::BTreeMap;

use crate::{CaseRecord, CaseStatus, Millis, Satisfaction};

/// One bucket: an hour. Every zone with whole-hour offsets (China's UTC+8 included) has its days
/// and months as exact unions of buckets.
pub const BUCKET_MS: Millis = 3_600_000;

/// What a row is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dim {
    Department = 1,
    Category = 2,
}

impl Dim {
    pub fn from_code(code: i16) -> Option<Dim> {
        match code {
            1 => Some(Dim::Department),
            2 => Some(Dim::Category),
            _ => None,
        }
    }
}

/// A counter (see the module docs). The numbers are stored: never renumber.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Counter {
    Received = 1,
    Resolved = 2,
    ResolvedOnTime = 3,
    ResolveMillis = 4,
    Returned = 5,
    Rated = 6,
    Satisfied = 7,
    OpenByDue = 8,
}

impl Counter {
    pub const ALL: [Counter; 8] = [
        Counter::Received,
        Counter::Resolved,
        Counter::ResolvedOnTime,
        Counter::ResolveMillis,
        Counter::Returned,
        Counter::Rated,
        Counter::Satisfied,
        Counter::OpenByDue,
    ];

    pub fn from_code(code: i16) -> Option<Counter> {
        Counter::ALL.into_iter().find(|c| *c as i16 == code)
    }
}

/// The key of one counter.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FigureKey {
    /// Hours since the epoch: `at.div_euclid(BUCKET_MS)`.
    pub bucket: i64,
    pub counter: Counter,
    pub dim: Dim,
    pub jurisdiction: String,
    /// A department or category code.
    pub name: String,
}

/// A counter summed over the buckets and jurisdictions of a [`FigureQuery`].
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FigureSum {
    pub dim: Dim,
    pub name: String,
    pub counter: Counter,
    pub n: i64,
}

/// Which counters to sum.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FigureQuery {
    /// None: every jurisdiction.
    pub jurisdiction: Option<String>,
    /// Rounded down to its hour.
    pub since: Millis,
    /// Rounded up to its hour (so the buckets cover `[since, until)`).
    pub until: Millis,
    /// `OpenByDue` counts only deadlines that have passed at `now` (a bucket counts from its
    /// start: deadlines from the catalogue fall on whole hours, so this is exact for them).
    pub now: Millis,
}

impl FigureQuery {
    /// The bucket range of every counter but `OpenByDue`: `[since, until)` in buckets.
    pub fn buckets(&self) -> (i64, i64) {
        (
            self.since.div_euclid(BUCKET_MS),
            (self.until + BUCKET_MS - 1).div_euclid(BUCKET_MS),
        )
    }

    /// The exclusive end bucket of `OpenByDue`: no later than `until`, and only buckets that
    /// started before `now`.
    pub fn due_until(&self) -> i64 {
        let now = (self.now + BUCKET_MS - 1).div_euclid(BUCKET_MS);
        self.buckets().1.min(now)
    }

    /// Does the counter under `key` fall in this query?
    pub fn covers(&self, key: &FigureKey) -> bool {
        let (since, until) = self.buckets();
        let until = if key.counter == Counter::OpenByDue {
            self.due_until()
        } else {
            until
        };
        key.bucket >= since
            && key.bucket < until
            && self
                .jurisdiction
                .as_ref()
                .is_none_or(|j| *j == key.jurisdiction)
    }
}

/// Sum counters by (dimension, name, counter), dropping zeros, in key order.
pub fn sum<'a>(counts: impl IntoIterator<Item = (&'a FigureKey, i64)>) -> Vec<FigureSum> {
    let mut by: BTreeMap<(Dim, &str, Counter), i64> = BTreeMap::new();
    for (k, n) in counts {
        *by.entry((k.dim, k.name.as_str(), k.counter)).or_default() += n;
    }
    by.into_iter()
        .filter(|(_, n)| *n != 0)
        .map(|((dim, name, counter), n)| FigureSum {
            dim,
            name: name.to_string(),
            counter,
            n,
        })
        .collect()
}

fn bucket(at: Millis) -> i64 {
    at.div_euclid(BUCKET_MS)
}

/// When the case stands resolved: the time of its latest move to RESOLVED, if it has not been
/// reopened since and stands resolved, followed up or closed.
pub fn resolved_at(c: &CaseRecord) -> Option<Millis> {
    if !matches!(
        c.status,
        CaseStatus::Resolved | CaseStatus::FollowedUp | CaseStatus::Closed
    ) {
        return None;
    }
    let mut at = None;
    // lines with from == to record an act without a move (a return, a correction)
    for h in c.history.iter().filter(|h| h.from != h.to) {
        match h.to {
            CaseStatus::Resolved => at = Some(h.at),
            CaseStatus::FollowedUp | CaseStatus::Closed => {}
            _ => at = None,
        }
    }
    at
}

/// Still being handled (see the module docs).
fn being_handled(status: CaseStatus) -> bool {
    matches!(
        status,
        CaseStatus::Accepted
            | CaseStatus::Dispatched
            | CaseStatus::InProgress
            | CaseStatus::Rejected
    )
}

/// Every counter `c` adds to, with how much (keys may repeat; [`deltas`] merges them).
pub fn contributions(c: &CaseRecord) -> Vec<(FigureKey, i64)> {
    let mut out = Vec::new();
    if c.duplicate_of.is_some() {
        return out;
    }
    let mut both = |at: Millis, counter: Counter, department: &str, n: i64| {
        for (dim, name) in [(Dim::Department, department), (Dim::Category, &c.category)] {
            out.push((
                FigureKey {
                    bucket: bucket(at),
                    counter,
                    dim,
                    jurisdiction: c.jurisdiction.clone(),
                    name: name.to_string(),
                },
                n,
            ));
        }
    };
    let lead = c.department.as_str();
    both(c.received_at, Counter::Received, lead, 1);
    if let Some(at) = resolved_at(c) {
        both(at, Counter::Resolved, lead, 1);
        if c.dispatch.due_at.is_some_and(|due| at <= due) {
            both(at, Counter::ResolvedOnTime, lead, 1);
        }
        both(
            at,
            Counter::ResolveMillis,
            lead,
            (at - c.received_at).max(0),
        );
    }
    for r in &c.dispatch.returns {
        both(r.at, Counter::Returned, &r.department, 1);
    }
    for f in &c.dispatch.follow_ups {
        both(f.at, Counter::Rated, lead, 1);
        if matches!(
            f.satisfaction,
            Satisfaction::Satisfied | Satisfaction::BasicallySatisfied
        ) {
            both(f.at, Counter::Satisfied, lead, 1);
        }
    }
    if let Some(due) = c.dispatch.due_at
        && being_handled(c.status)
    {
        both(due, Counter::OpenByDue, lead, 1);
    }
    out
}

/// The counter changes of writing `after` where `before` was stored (None: a new case): merged
/// per key, zeros dropped, in key order (so two writers touch shared counters in one order).
pub fn deltas(before: Option<&CaseRecord>, after: &CaseRecord) -> Vec<(FigureKey, i64)> {
    if before == Some(after) {
        return Vec::new();
    }
    let mut by: BTreeMap<FigureKey, i64> = BTreeMap::new();
    for (k, n) in contributions(after) {
        *by.entry(k).or_default() += n;
    }
    if let Some(b) = before {
        for (k, n) in contributions(b) {
            *by.entry(k).or_default() -= n;
        }
    }
    by.into_iter().filter(|(_, n)| *n != 0).collect()
}

/// Add `c`'s contribution to `totals` (building the counters of a store that holds cases: the
/// sum over every case).
pub fn add_case(totals: &mut BTreeMap<FigureKey, i64>, c: &CaseRecord) {
    for (k, n) in contributions(c) {
        *totals.entry(k).or_default() += n;
    }
}
