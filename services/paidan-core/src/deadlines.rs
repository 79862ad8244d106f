//! Deadline events (督办): a case being handled gets one `due_soon` event when its deadline is
//! near and one `overdue` event when it has passed — once per deadline.
//!
//! Why a rule and marks on the case: the platform must hear of each deadline once, not once a
//! minute and not once per node or restart. The rule ([`notify`]) is a pure function like the
//! other case rules: it reads the case inside the store's transaction, and when an event is owed
//! it records on the case which deadline it was sent for (`due_soon_sent_for` /
//! `overdue_sent_for`, stored since schema 4) in the same transaction that enqueues the event
//! (`Store::edit_cases`). A second pass, another node or a restarted server reads the mark and
//! owes nothing. A new deadline — an extension (延期) or a reopening (重办) — is another instant,
//! so it gets its own events.
//!
//! - due soon: the deadline ends within `due_soon_days` working days of now, by the case's
//!   jurisdiction's calendar (`due_at` ≤ the end of the `due_soon_days`-th working day after
//!   today: with 1, a case due tonight or at the end of the next working day);
//! - overdue: the deadline has passed (`due_at` ≤ now). A case that was never told "due soon"
//!   (the watch was down) gets only the overdue event.
//!
//! Only masters being handled (accepted, dispatched, in progress, in review) are watched: a
//! linked report has no deadline of its own, a resolved case is done.
//!
//! Finding the cases ([`Intake::watch_deadlines`]): each pass asks the store for the cases with a
//! pending deadline ([`CaseRecord::deadline_pending`]: a master being handled whose deadline has
//! not had its overdue event) due by the pass's horizon — the latest instant any jurisdiction's
//! calendar calls "due soon" — and checks each in memory. sled keeps an index of them
//! (`idx_due`) and PostgreSQL a column under a partial index (`deadline_pending`), so a pass
//! reads the cases due soon or overdue and not yet told, never every open case. One transaction
//! per event owed.

/// The statuses of a case being handled (what the watch watches).
pub use paidan_store::HANDLING;
use paidan_store::{CaseEdit, CaseReader, CaseRecord, EventKind, Millis, StatusChange, StoreError};

use crate::dispatch::Catalogue;
use crate::rules::Act;
use crate::{Intake, Result};

/// Who the watch's history lines name.
pub const WATCH_ACTOR: &str = "paidan:deadline-watch";

/// A deadline event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Notice {
    DueSoon,
    Overdue,
}

impl Notice {
    pub fn event(self) -> EventKind {
        match self {
            Notice::DueSoon => EventKind::DueSoon,
            Notice::Overdue => EventKind::Overdue,
        }
    }
}

/// The deadline event `c` is owed at `now`, with the deadline it is for (see the module docs).
pub fn owed(
    c: &CaseRecord,
    now: Millis,
    due_soon_days: u32,
    catalogue: &Catalogue,
) -> Option<(Notice, Millis)> {
    let due = c.deadline_pending()?;
    if due <= now {
        return Some((Notice::Overdue, due));
    }
    let calendar = catalogue.for_jurisdiction(&c.jurisdiction).calendar();
    let soon = due <= calendar.due_at(now, due_soon_days);
    // (a deadline pending has had no overdue event)
    (soon && c.dispatch.due_soon_sent_for != Some(due)).then_some((Notice::DueSoon, due))
}

/// The latest deadline [`owed`] can find due soon at `now`: the end of the `due_soon_days`-th
/// working day after today by the calendar that reaches furthest (the catalogue's own or a
/// jurisdiction's). A pass reads the cases with a pending deadline up to it.
pub fn horizon(catalogue: &Catalogue, now: Millis, due_soon_days: u32) -> Millis {
    catalogue
        .jurisdictions()
        .map(|j| catalogue.for_jurisdiction(j))
        .chain(std::iter::once(catalogue))
        .map(|c| c.calendar().due_at(now, due_soon_days))
        .max()
        .unwrap_or(now)
        .max(now)
}

/// The rule: case `id`'s owed deadline event at `act.at`, marked on the case, with a history
/// line; an empty edit when it is owed none (any more).
pub fn notify(
    r: &mut dyn CaseReader,
    id: &str,
    due_soon_days: u32,
    catalogue: &Catalogue,
    act: Act<'_>,
) -> std::result::Result<CaseEdit, StoreError> {
    let mut c = r.case(id)?;
    let mut edit = CaseEdit::at(act.at);
    let Some((notice, due)) = owed(&c, act.at, due_soon_days, catalogue) else {
        return Ok(edit);
    };
    let note = match notice {
        Notice::DueSoon => {
            c.dispatch.due_soon_sent_for = Some(due);
            "督办: due soon"
        }
        Notice::Overdue => {
            c.dispatch.overdue_sent_for = Some(due);
            "督办: overdue"
        }
    };
    c.history.push(StatusChange {
        from: c.status,
        to: c.status,
        note: format!("{note} (deadline {})", utc(due)),
        actor: act.actor.to_string(),
        at: act.at,
    });
    edit.event(&c.id, notice.event());
    edit.cases.push(c);
    Ok(edit)
}

/// `at` as RFC 3339 in UTC (for history lines).
fn utc(at: Millis) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(at) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| at.to_string())
}

impl Intake {
    /// One pass of the deadline watch at `now` (see the module docs): every handling case owed a
    /// deadline event gets it, each in a transaction of its own; then the writes are flushed and
    /// the forwarder woken. Returns the events enqueued, by case.
    pub async fn watch_deadlines(
        &self,
        now: Millis,
        due_soon_days: u32,
    ) -> Result<Vec<(String, Notice)>> {
        let catalogue = self.catalogue();
        let sent = self
            .blocking(move |s| {
                let mut owed_by = Vec::new();
                s.for_each_deadline_pending(horizon(&catalogue, now, due_soon_days), &mut |c| {
                    if owed(&c, now, due_soon_days, &catalogue).is_some() {
                        owed_by.push(c.id);
                    }
                })?;
                let mut sent = Vec::new();
                for id in owed_by {
                    let act = Act {
                        note: "",
                        actor: WATCH_ACTOR,
                        at: now,
                    };
                    let cat = &catalogue;
                    let written = s.edit_cases(&|r| notify(r, &id, due_soon_days, cat, act))?;
                    // the mark the rule set says which event it was
                    if let Some(c) = written.first() {
                        let notice = if c.dispatch.overdue_sent_for == c.dispatch.due_at {
                            Notice::Overdue
                        } else {
                            Notice::DueSoon
                        };
                        sent.push((id, notice));
                    }
                }
                if !sent.is_empty() {
                    s.flush()?;
                }
                Ok(sent)
            })
            .await?;
        if !sent.is_empty() {
            self.changes().notify_one();
            tracing::info!(events = sent.len(), "deadline events (督办) enqueued");
        }
        Ok(sent)
    }
}
