//! The working-day calendar deadlines are counted in.
//!
//! Why a calendar and not "n × 24 h": 12345 deadlines are working days (工作日), and in China a
//! working day is not simply Monday to Friday. Public holidays (放假) take weekdays off, and the
//! State Council's yearly notice moves work onto some Saturdays and Sundays next to them (调休
//! 上班日). A deadline that crosses 国庆 therefore skips a week and may land on a Saturday. The
//! dates come from configuration (`[calendar]` of the dispatch catalogue) because they are
//! published a year at a time.
//!
//! Counting rule: the day a case is received does not count; a deadline of `n` working days
//! ends at the end (local midnight) of the `n`-th working day after the local date of receipt.

use std::collections::BTreeSet;

use paidan_store::Millis;
use time::{Date, OffsetDateTime, UtcOffset, Weekday};

/// Weekends, holidays and make-up workdays, in one local time zone.
#[derive(Clone, Debug)]
pub struct Calendar {
    holidays: BTreeSet<Date>,
    workdays: BTreeSet<Date>,
    offset: UtcOffset,
}

impl Calendar {
    /// `holidays` are days off even on a weekday; `workdays` are working days even on a weekend
    /// (a date in both is a workday: the make-up day wins). `utc_offset_hours` is the local zone
    /// (China: 8).
    pub fn new(
        holidays: impl IntoIterator<Item = Date>,
        workdays: impl IntoIterator<Item = Date>,
        utc_offset_hours: i8,
    ) -> Result<Calendar, String> {
        let offset = UtcOffset::from_hms(utc_offset_hours, 0, 0)
            .map_err(|e| format!("utc offset {utc_offset_hours} h: {e}"))?;
        Ok(Calendar {
            holidays: holidays.into_iter().collect(),
            workdays: workdays.into_iter().collect(),
            offset,
        })
    }

    /// Weekends only, China's time zone.
    pub fn weekends_only() -> Calendar {
        Calendar::new([], [], 8).expect("UTC+8 is a valid offset")
    }

    pub fn is_working_day(&self, d: Date) -> bool {
        if self.workdays.contains(&d) {
            return true;
        }
        if self.holidays.contains(&d) {
            return false;
        }
        !matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday)
    }

    /// The `n`-th working day after `d` (`d` itself does not count; `n = 0` gives `d`).
    pub fn add_working_days(&self, d: Date, n: u32) -> Date {
        let mut day = d;
        let mut left = n;
        while left > 0 {
            day = day.next_day().expect("dates before year 9999");
            if self.is_working_day(day) {
                left -= 1;
            }
        }
        day
    }

    /// The local date of an instant.
    pub fn local_date(&self, at: Millis) -> Date {
        let utc = OffsetDateTime::from_unix_timestamp_nanos(at as i128 * 1_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        utc.to_offset(self.offset).date()
    }

    /// The instant a deadline of `days` working days ends for a case received at `received_at`:
    /// local midnight after the `days`-th working day after the day of receipt.
    pub fn due_at(&self, received_at: Millis, days: u32) -> Millis {
        let last = self.add_working_days(self.local_date(received_at), days);
        let end = last.next_day().expect("dates before year 9999");
        end.midnight().assume_offset(self.offset).unix_timestamp() * 1000
    }

    /// Working days from the local date of `from` to the local date of `to` (positive when `to`
    /// is later; 0 on the same day): how late or early a case was.
    pub fn working_days_between(&self, from: Millis, to: Millis) -> i64 {
        let (a, b) = (self.local_date(from), self.local_date(to));
        let (lo, hi, sign) = if a <= b { (a, b, 1) } else { (b, a, -1) };
        let mut n = 0i64;
        let mut d = lo;
        while d < hi {
            d = d.next_day().expect("dates before year 9999");
            if self.is_working_day(d) {
                n += 1;
            }
        }
        sign * n
    }
}

/// `YYYY-MM-DD`, or a range `YYYY-MM-DD..YYYY-MM-DD` (both ends included), as the catalogue
/// writes holidays.
pub fn parse_days(s: &str) -> Result<Vec<Date>, String> {
    let one = |t: &str| {
        Date::parse(
            t.trim(),
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .map_err(|e| format!("{t:?} is not a date YYYY-MM-DD: {e}"))
    };
    match s.split_once("..") {
        None => Ok(vec![one(s)?]),
        Some((a, b)) => {
            let (a, b) = (one(a)?, one(b)?);
            if b < a {
                return Err(format!("range {s:?} ends before it starts"));
            }
            if (b - a).whole_days() > 60 {
                return Err(format!("range {s:?} is longer than 60 days"));
            }
            let mut out = vec![a];
            let mut d = a;
            while d < b {
                d = d.next_day().expect("dates before year 9999");
                out.push(d);
            }
            Ok(out)
        }
    }
}
