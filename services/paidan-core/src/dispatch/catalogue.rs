//! The dispatch catalogue: per category, the lead department (牵头部门), the co-responsible
//! departments (责任部门) and the deadline in working days per urgency (一般 / 紧急 / 特急), with
//! per-request-type overrides (a 咨询 is answered quickly) and the working-day calendar.
//!
//! Why a file and why validated at load: the catalogue is written by a city's 12345 office, not
//! by programmers, and a typo in a department code would silently send work orders nowhere. So
//! every value is checked at load — codes against the taxonomy, deadlines in range and in
//! urgency order, dates parseable, no date both a holiday and a workday — and every error names
//! the file, the line and the dotted key (`models/dispatch.toml:41: categories.clutter.lead:
//! unknown department "urban_mgmt"`), using the spans the `toml` crate keeps.
//!
//! A category the catalogue does not list keeps the taxonomy's department as its lead, has no
//! co-departments and gets the `[defaults]` deadlines.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use paidan_model::Taxonomy;
use paidan_store::{Millis, RequestType, Urgency};
use serde::Deserialize;
use toml::Spanned;

use super::calendar::{Calendar, parse_days};

/// Longest deadline the catalogue accepts, in working days.
pub const MAX_DEADLINE_DAYS: u32 = 60;

/// A catalogue error: where (file, 1-based line, dotted key) and what.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {key}: {message}")]
pub struct CatalogueError {
    pub file: String,
    /// 1-based; 0 when the file could not be read.
    pub line: usize,
    pub key: String,
    pub message: String,
}

/// Deadlines in working days, one per urgency.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadlines {
    pub normal: u32,
    pub urgent: u32,
    pub very_urgent: u32,
}

impl Deadlines {
    pub fn days(&self, urgency: Urgency) -> u32 {
        match urgency {
            Urgency::Normal => self.normal,
            Urgency::Urgent => self.urgent,
            Urgency::VeryUrgent => self.very_urgent,
        }
    }
}

/// What the catalogue says about one category.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CategoryRule {
    pub lead: String,
    pub co: Vec<String>,
    pub deadline: Deadlines,
}

/// The dispatch of one case: who leads, who helps, and when it is due.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dispatch {
    pub lead: String,
    pub co_departments: Vec<String>,
    pub deadline_days: u32,
    pub due_at: Millis,
}

#[derive(Clone, Debug)]
pub struct Catalogue {
    version: String,
    calendar: Calendar,
    defaults: Deadlines,
    request_types: BTreeMap<RequestType, Deadlines>,
    categories: BTreeMap<String, CategoryRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    version: String,
    #[serde(default = "china")]
    utc_offset_hours: Spanned<i64>,
    #[serde(default)]
    calendar: RawCalendar,
    defaults: RawDeadlineOnly,
    #[serde(default)]
    request_types: BTreeMap<Spanned<String>, RawDeadlineOnly>,
    #[serde(default)]
    categories: BTreeMap<Spanned<String>, RawRule>,
}

fn china() -> Spanned<i64> {
    Spanned::new(0..0, 8)
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCalendar {
    #[serde(default)]
    holidays: Vec<Spanned<String>>,
    #[serde(default)]
    workdays: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDeadlineOnly {
    deadline: Spanned<RawDeadlines>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDeadlines {
    normal: Spanned<i64>,
    urgent: Spanned<i64>,
    very_urgent: Spanned<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    lead: Spanned<String>,
    #[serde(default)]
    co: Vec<Spanned<String>>,
    deadline: Option<Spanned<RawDeadlines>>,
}

/// Error construction with the file text at hand (spans → lines).
struct At<'a> {
    file: &'a str,
    text: &'a str,
}

impl At<'_> {
    fn err(&self, span: std::ops::Range<usize>, key: String, message: String) -> CatalogueError {
        CatalogueError {
            file: self.file.to_string(),
            line: line_of(self.text, span.start),
            key,
            message,
        }
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The dotted key a byte offset sits under: the last `[table]` header before it and the
/// `name =` of its line (for parse errors, whose message does not name it).
fn key_at(text: &str, offset: usize) -> String {
    let line_no = line_of(text, offset);
    let mut table = String::new();
    let mut key = String::new();
    for (i, line) in text.lines().enumerate() {
        if i + 1 > line_no {
            break;
        }
        let t = line.trim();
        if t.starts_with('[') && !t.starts_with("[[") {
            table = t.trim_matches(['[', ']', ' ']).to_string();
            key.clear();
        } else if let Some((k, _)) = t.split_once('=')
            && !t.starts_with('#')
        {
            key = k.trim().to_string();
        }
        if i + 1 == line_no && !t.contains('=') {
            key.clear();
        }
    }
    match (table.is_empty(), key.is_empty()) {
        (true, _) => key,
        (false, true) => table,
        (false, false) => format!("{table}.{key}"),
    }
}

impl Catalogue {
    /// Read and validate `path` against `taxonomy` (every category and department code must be
    /// one of its codes).
    pub fn load(path: &Path, taxonomy: &Taxonomy) -> Result<Catalogue, CatalogueError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| CatalogueError {
            file: file.clone(),
            line: 0,
            key: String::new(),
            message: format!("cannot read: {e}"),
        })?;
        Catalogue::parse(&file, &text, taxonomy)
    }

    /// Validate catalogue `text`; `file` names it in errors.
    pub fn parse(file: &str, text: &str, taxonomy: &Taxonomy) -> Result<Catalogue, CatalogueError> {
        Catalogue::parse_with(file, text, Some(taxonomy))
    }

    /// The shipped `models/dispatch.toml`, compiled in: what a server uses unless it is given
    /// another catalogue. Its codes are the shipped taxonomy's (checked by
    /// `the_shipped_catalogue_covers_the_taxonomy`), so it is parsed without a taxonomy here; a
    /// model with other codes gets the defaults for categories the file does not name.
    pub fn builtin() -> Catalogue {
        Catalogue::parse_with(
            "models/dispatch.toml (built in)",
            include_str!("../../../../models/dispatch.toml"),
            None,
        )
        .expect("the shipped dispatch catalogue is valid (tests/dispatch.rs)")
    }

    fn parse_with(
        file: &str,
        text: &str,
        taxonomy: Option<&Taxonomy>,
    ) -> Result<Catalogue, CatalogueError> {
        let at = At { file, text };
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            let key = key_at(text, span.start);
            at.err(span, key, e.message().trim().to_string())
        })?;

        let offset = raw.utc_offset_hours;
        let hours = i8::try_from(*offset.get_ref())
            .ok()
            .filter(|h| (-12..=14).contains(h))
            .ok_or_else(|| {
                at.err(
                    offset.span(),
                    "utc_offset_hours".into(),
                    format!("{} is not a UTC offset in hours", offset.get_ref()),
                )
            })?;
        let days = |list: &[Spanned<String>], name: &str| {
            let mut out = BTreeSet::new();
            for (i, s) in list.iter().enumerate() {
                let dates = parse_days(s.get_ref())
                    .map_err(|m| at.err(s.span(), format!("calendar.{name}[{i}]"), m))?;
                out.extend(dates);
            }
            Ok::<_, CatalogueError>(out)
        };
        let holidays = days(&raw.calendar.holidays, "holidays")?;
        let workdays = days(&raw.calendar.workdays, "workdays")?;
        if let Some(d) = holidays.intersection(&workdays).next() {
            let span = raw
                .calendar
                .workdays
                .iter()
                .find(|s| parse_days(s.get_ref()).is_ok_and(|v| v.contains(d)))
                .map_or(0..0, |s| s.span());
            return Err(at.err(
                span,
                "calendar.workdays".into(),
                format!("{d} is both a holiday and a make-up workday"),
            ));
        }
        let calendar = Calendar::new(holidays, workdays, hours)
            .map_err(|m| at.err(offset.span(), "utc_offset_hours".into(), m))?;

        let defaults = deadlines(&at, &raw.defaults.deadline, "defaults.deadline")?;

        let mut request_types = BTreeMap::new();
        for (name, o) in &raw.request_types {
            let key = format!("request_types.{}", name.get_ref());
            let rt = RequestType::ALL
                .into_iter()
                .find(|t| t.key() == name.get_ref())
                .ok_or_else(|| {
                    at.err(
                        name.span(),
                        key.clone(),
                        format!(
                            "unknown request type {:?} (one of {})",
                            name.get_ref(),
                            RequestType::ALL.map(|t| t.key()).join(", ")
                        ),
                    )
                })?;
            let d = deadlines(&at, &o.deadline, &format!("{key}.deadline"))?;
            request_types.insert(rt, d);
        }

        let department = |s: &Spanned<String>, key: String| {
            if taxonomy.is_some_and(|t| t.department_name(s.get_ref()).is_none()) {
                return Err(at.err(
                    s.span(),
                    key,
                    format!("unknown department {:?} (not in the taxonomy)", s.get_ref()),
                ));
            }
            Ok(s.get_ref().clone())
        };
        let mut categories = BTreeMap::new();
        for (code, r) in &raw.categories {
            let key = format!("categories.{}", code.get_ref());
            if taxonomy.is_some_and(|t| t.category(code.get_ref()).is_none()) {
                return Err(at.err(
                    code.span(),
                    key,
                    format!(
                        "unknown category {:?} (not in the taxonomy)",
                        code.get_ref()
                    ),
                ));
            }
            let lead = department(&r.lead, format!("{key}.lead"))?;
            let mut co: Vec<String> = Vec::new();
            for (i, c) in r.co.iter().enumerate() {
                let k = format!("{key}.co[{i}]");
                let d = department(c, k.clone())?;
                if d == lead || co.contains(&d) {
                    return Err(at.err(
                        c.span(),
                        k,
                        format!("{d:?} is listed twice (lead or co-department)"),
                    ));
                }
                co.push(d);
            }
            let deadline = match &r.deadline {
                Some(d) => deadlines(&at, d, &format!("{key}.deadline"))?,
                None => defaults,
            };
            categories.insert(code.get_ref().clone(), CategoryRule { lead, co, deadline });
        }
        Ok(Catalogue {
            version: raw.version,
            calendar,
            defaults,
            request_types,
            categories,
        })
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn calendar(&self) -> &Calendar {
        &self.calendar
    }

    /// The catalogue's entry for `category`, if it lists it.
    pub fn rule(&self, category: &str) -> Option<&CategoryRule> {
        self.categories.get(category)
    }

    /// Working days a case has: the request type's override when the catalogue has one, else
    /// the category's deadlines, else the defaults.
    pub fn deadline_days(
        &self,
        category: &str,
        request_type: Option<RequestType>,
        urgency: Urgency,
    ) -> u32 {
        let d = request_type
            .and_then(|t| self.request_types.get(&t))
            .or_else(|| self.categories.get(category).map(|r| &r.deadline))
            .unwrap_or(&self.defaults);
        d.days(urgency)
    }

    /// The co-departments of `category` when `lead` leads: the catalogue's list without the lead;
    /// the catalogue's own lead joins them when the case is led by another department.
    pub fn co_departments(&self, category: &str, lead: &str) -> Vec<String> {
        let Some(r) = self.categories.get(category) else {
            return Vec::new();
        };
        let mut out: Vec<String> = Vec::new();
        if r.lead != lead {
            out.push(r.lead.clone());
        }
        out.extend(r.co.iter().filter(|c| *c != lead).cloned());
        out
    }

    /// Dispatch a case of `category` led by `lead` (the triaged or corrected department).
    pub fn dispatch(
        &self,
        category: &str,
        lead: &str,
        request_type: Option<RequestType>,
        urgency: Urgency,
        received_at: Millis,
    ) -> Dispatch {
        let days = self.deadline_days(category, request_type, urgency);
        Dispatch {
            lead: lead.to_string(),
            co_departments: self.co_departments(category, lead),
            deadline_days: days,
            due_at: self.calendar.due_at(received_at, days),
        }
    }
}

fn deadlines(
    at: &At<'_>,
    d: &Spanned<RawDeadlines>,
    key: &str,
) -> Result<Deadlines, CatalogueError> {
    let raw = d.get_ref();
    let one = |v: &Spanned<i64>, name: &str| {
        u32::try_from(*v.get_ref())
            .ok()
            .filter(|n| (1..=MAX_DEADLINE_DAYS).contains(n))
            .ok_or_else(|| {
                at.err(
                    v.span(),
                    format!("{key}.{name}"),
                    format!(
                        "{} is not a deadline of 1 to {MAX_DEADLINE_DAYS} working days",
                        v.get_ref()
                    ),
                )
            })
    };
    let out = Deadlines {
        normal: one(&raw.normal, "normal")?,
        urgent: one(&raw.urgent, "urgent")?,
        very_urgent: one(&raw.very_urgent, "very_urgent")?,
    };
    if out.very_urgent > out.urgent || out.urgent > out.normal {
        return Err(at.err(
            d.span(),
            key.to_string(),
            "a more urgent deadline may not be longer (need very_urgent ≤ urgent ≤ normal)".into(),
        ));
    }
    Ok(out)
}
