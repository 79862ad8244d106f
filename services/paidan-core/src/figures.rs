//! Department figures (部门考核: 受理, 办结, 按时办结, 超期未办结, 退单, 满意率, 办理时长): the rows
//! `GetDepartmentStats` and `paidan stats` show, made from the counters the store keeps.
//!
//! Why here and not in the store: the store keeps plain counters (what a case contributes to
//! them is [`paidan_store::figures`], applied in the transaction that changes the case, so no
//! read scans cases); turning sums into a report — defaults of the window, rates, means, one row
//! per department and per category — is the domain's. Everything here is a pure function of the
//! sums except [`read`], which asks the store for them.
//!
//! The window: `until` defaults to now, `since` to 30 days before `until`; the store counts by
//! the hour, so `since` is rounded down and `until` up to whole hours, and the report says which
//! window it covers. Every figure but `overdue_open` counts events in the window (received,
//! resolved, returns, ratings — each in the hour it happened); `overdue_open` counts cases still
//! being handled whose deadline fell in the window and has passed now.

use paidan_store::figures::{BUCKET_MS, Counter, Dim, FigureQuery, FigureSum};
use paidan_store::{Millis, Store};

use crate::error::{CoreError, Result};

/// The default window: the last 30 days.
pub const DEFAULT_WINDOW_MS: Millis = 30 * 24 * 3_600_000;

/// One row: a department or a category.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Row {
    /// A department or category code.
    pub name: String,
    /// Cases received (受理) in the window, by the department leading them now.
    pub received: u64,
    /// Cases resolved (办结) in the window.
    pub resolved: u64,
    /// Of those, resolved by their deadline (按时办结).
    pub resolved_on_time: u64,
    /// Cases being handled whose deadline fell in the window and has passed (超期未办结).
    pub overdue_open: u64,
    /// Returns (退单) in the window; a department's row counts the returns it made.
    pub returned: u64,
    /// Follow-up ratings (回访) in the window.
    pub rated: u64,
    /// Satisfied and basically satisfied ratings over `rated` (满意率); 0 when nothing was rated.
    pub satisfaction_rate: f64,
    /// Mean hours from receipt to resolution of the cases resolved in the window; 0 when none.
    pub mean_hours_to_resolve: f64,
}

/// The figures of one window.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Figures {
    /// The window the counters cover (whole hours).
    pub since: Millis,
    pub until: Millis,
    /// One row per department with anything to count, by code.
    pub departments: Vec<Row>,
    /// One row per category, by code.
    pub categories: Vec<Row>,
}

/// The query for `since`/`until` (None: the defaults) at `now`; refused when empty.
pub fn query(
    jurisdiction: Option<String>,
    since: Option<Millis>,
    until: Option<Millis>,
    now: Millis,
) -> Result<FigureQuery> {
    let until = until.unwrap_or(now);
    let since = since.unwrap_or(until - DEFAULT_WINDOW_MS);
    if since >= until {
        return Err(CoreError::Invalid("`since` must be before `until`".into()));
    }
    Ok(FigureQuery {
        jurisdiction: jurisdiction.filter(|j| !j.trim().is_empty()),
        since,
        until,
        now,
    })
}

/// The rows of the counters' sums (in any order).
pub fn report(q: &FigureQuery, sums: &[FigureSum]) -> Figures {
    use std::collections::BTreeMap;
    let (since, until) = q.buckets();
    // per dimension: name → (row, satisfied, resolve millis)
    let mut by: [BTreeMap<&str, (Row, u64, i64)>; 2] = [BTreeMap::new(), BTreeMap::new()];
    for s in sums {
        let at = by[match s.dim {
            Dim::Department => 0,
            Dim::Category => 1,
        }]
        .entry(&s.name)
        .or_default();
        let n = s.n.max(0) as u64;
        let row = &mut at.0;
        match s.counter {
            Counter::Received => row.received = n,
            Counter::Resolved => row.resolved = n,
            Counter::ResolvedOnTime => row.resolved_on_time = n,
            Counter::OpenByDue => row.overdue_open = n,
            Counter::Returned => row.returned = n,
            Counter::Rated => row.rated = n,
            Counter::Satisfied => at.1 = n,
            Counter::ResolveMillis => at.2 = s.n,
        }
    }
    let rows = |m: BTreeMap<&str, (Row, u64, i64)>| {
        m.into_iter()
            .map(|(name, (mut r, satisfied, millis))| {
                r.name = name.to_string();
                if r.rated > 0 {
                    r.satisfaction_rate = satisfied as f64 / r.rated as f64;
                }
                if r.resolved > 0 {
                    r.mean_hours_to_resolve = millis as f64 / r.resolved as f64 / BUCKET_MS as f64;
                }
                r
            })
            .collect()
    };
    let [departments, categories] = by;
    Figures {
        since: since * BUCKET_MS,
        until: until * BUCKET_MS,
        departments: rows(departments),
        categories: rows(categories),
    }
}

/// The figures of `q` from `store`'s counters (blocking: call it off the async runtime).
pub fn read(store: &dyn Store, q: &FigureQuery) -> Result<Figures> {
    Ok(report(q, &store.figures(q)?))
}

impl crate::Intake {
    /// The figures of `jurisdiction` (None: all) in `[since, until)` (None: the defaults), now.
    pub async fn department_stats(
        &self,
        jurisdiction: Option<String>,
        since: Option<Millis>,
        until: Option<Millis>,
    ) -> Result<Figures> {
        let q = query(jurisdiction, since, until, paidan_text::now_millis())?;
        self.blocking(move |s| read(s, &q)).await
    }
}
