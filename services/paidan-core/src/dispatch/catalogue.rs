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
//!
//! Per jurisdiction: `[jurisdictions."海口市"]` may add holidays and make-up workdays (a local
//! holiday), replace `defaults` and request types' deadlines, and per category set `lead`, `co`
//! and `deadline` (`[jurisdictions."海口市".categories.noise_construction] lead = …`), each
//! replacing the file's value; what it does not set is the file's. Overrides are validated like
//! the file (their errors name `jurisdictions.海口市.…`) and resolved once at load into a whole
//! catalogue per jurisdiction ([`Catalogue::for_jurisdiction`]). A lead set by a jurisdiction
//! leads its cases whatever the model answered (a city's assignment of duties beats the model's
//! general choice); elsewhere the triaged department leads and the file's lead only helps.

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
    /// Categories whose lead a jurisdiction's overrides set: that lead leads its cases, whatever
    /// the model said (empty in the file's own catalogue: there the triaged department leads).
    forced_leads: BTreeSet<String>,
    /// Each jurisdiction with overrides, resolved whole (its own map is empty).
    jurisdictions: BTreeMap<String, Catalogue>,
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
    #[serde(default)]
    jurisdictions: BTreeMap<Spanned<String>, RawJurisdiction>,
}

/// `[jurisdictions."…"]`: what one jurisdiction changes. Holidays and workdays are added to the
/// file's; `defaults` and each request type replace the file's; a category's `lead`, `co` and
/// `deadline` each replace the file's value when given.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJurisdiction {
    #[serde(default)]
    calendar: RawCalendar,
    defaults: Option<RawDeadlineOnly>,
    #[serde(default)]
    request_types: BTreeMap<Spanned<String>, RawDeadlineOnly>,
    #[serde(default)]
    categories: BTreeMap<Spanned<String>, RawOverride>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOverride {
    lead: Option<Spanned<String>>,
    co: Option<Vec<Spanned<String>>>,
    deadline: Option<Spanned<RawDeadlines>>,
}

/// A category as the file writes it (before the defaults fill in its deadline).
#[derive(Clone)]
struct Parts {
    lead: String,
    co: Vec<String>,
    deadline: Option<Deadlines>,
}

/// The validated file (or one jurisdiction's merge of it) before it becomes a [`Catalogue`].
#[derive(Clone)]
struct Base {
    holidays: BTreeSet<time::Date>,
    workdays: BTreeSet<time::Date>,
    hours: i8,
    defaults: Deadlines,
    request_types: BTreeMap<RequestType, Deadlines>,
    categories: BTreeMap<String, Parts>,
}

impl Base {
    fn build(self, version: &str, jurisdictions: BTreeMap<String, Catalogue>) -> Catalogue {
        self.build_forcing(version, BTreeSet::new(), jurisdictions)
    }

    fn build_forcing(
        self,
        version: &str,
        forced_leads: BTreeSet<String>,
        jurisdictions: BTreeMap<String, Catalogue>,
    ) -> Catalogue {
        let defaults = self.defaults;
        Catalogue {
            version: version.to_string(),
            calendar: Calendar::new(self.holidays, self.workdays, self.hours)
                .expect("the offset was checked when the file was read"),
            defaults,
            request_types: self.request_types,
            categories: self
                .categories
                .into_iter()
                .map(|(code, p)| {
                    let rule = CategoryRule {
                        lead: p.lead,
                        co: p.co,
                        deadline: p.deadline.unwrap_or(defaults),
                    };
                    (code, rule)
                })
                .collect(),
            forced_leads,
            jurisdictions,
        }
    }
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
        let none = BTreeSet::new();
        let (holidays, workdays) = calendar_days(&at, &raw.calendar, "", (&none, &none))?;
        Calendar::new([], [], hours)
            .map_err(|m| at.err(offset.span(), "utc_offset_hours".into(), m))?;

        let defaults = deadlines(&at, &raw.defaults.deadline, "defaults.deadline")?;
        let request_types = request_types(&at, &raw.request_types, "")?;
        let mut categories = BTreeMap::new();
        for (code, r) in &raw.categories {
            let key = format!("categories.{}", code.get_ref());
            category_code(&at, taxonomy, code, &key)?;
            let lead = department(&at, taxonomy, &r.lead, format!("{key}.lead"))?;
            let co = co_list(&at, taxonomy, &r.co, &lead, &key)?;
            let deadline = match &r.deadline {
                Some(d) => Some(deadlines(&at, d, &format!("{key}.deadline"))?),
                None => None,
            };
            categories.insert(code.get_ref().clone(), Parts { lead, co, deadline });
        }
        let base = Base {
            holidays,
            workdays,
            hours,
            defaults,
            request_types,
            categories,
        };
        let mut jurisdictions = BTreeMap::new();
        for (name, j) in &raw.jurisdictions {
            if name.get_ref().trim().is_empty() {
                return Err(at.err(
                    name.span(),
                    "jurisdictions".into(),
                    "a jurisdiction needs a name".into(),
                ));
            }
            let (over, forced) = jurisdiction(&at, taxonomy, &base, name.get_ref(), j)?;
            let resolved = over.build_forcing(&raw.version, forced, BTreeMap::new());
            jurisdictions.insert(name.get_ref().clone(), resolved);
        }
        Ok(base.build(&raw.version, jurisdictions))
    }

    /// The catalogue a case of `jurisdiction` is dispatched by: its `[jurisdictions."…"]`
    /// overrides merged over the rest of the file, or the file itself when it has none for it.
    pub fn for_jurisdiction(&self, jurisdiction: &str) -> &Catalogue {
        self.jurisdictions.get(jurisdiction).unwrap_or(self)
    }

    /// The jurisdictions the catalogue has overrides for, in name order.
    pub fn jurisdictions(&self) -> impl Iterator<Item = &str> {
        self.jurisdictions.keys().map(String::as_str)
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

    /// Who leads a case of `category` the model (or an operator) gave to `triaged`: the lead a
    /// jurisdiction's overrides set for the category, else `triaged`.
    pub fn lead<'a>(&'a self, category: &str, triaged: &'a str) -> &'a str {
        match self.categories.get(category) {
            Some(r) if self.forced_leads.contains(category) => r.lead.as_str(),
            _ => triaged,
        }
    }

    /// Dispatch a case of `category` led by `lead` (the triaged or corrected department) — or by
    /// the lead a jurisdiction's overrides set for the category (see [`Catalogue::for_jurisdiction`]).
    pub fn dispatch(
        &self,
        category: &str,
        lead: &str,
        request_type: Option<RequestType>,
        urgency: Urgency,
        received_at: Millis,
    ) -> Dispatch {
        let days = self.deadline_days(category, request_type, urgency);
        let lead = self.lead(category, lead);
        Dispatch {
            lead: lead.to_string(),
            co_departments: self.co_departments(category, lead),
            deadline_days: days,
            due_at: self.calendar.due_at(received_at, days),
        }
    }
}

type Days = BTreeSet<time::Date>;

/// The dates of a `[calendar]`, checked: each date parses, no date is both a holiday and a
/// workday (also after a jurisdiction's dates join the file's: `base`).
fn calendar_days(
    at: &At<'_>,
    raw: &RawCalendar,
    prefix: &str,
    base: (&Days, &Days),
) -> Result<(Days, Days), CatalogueError> {
    let days = |list: &[Spanned<String>], name: &str, into: &Days| {
        let mut out = into.clone();
        for (i, s) in list.iter().enumerate() {
            let dates = parse_days(s.get_ref())
                .map_err(|m| at.err(s.span(), format!("{prefix}calendar.{name}[{i}]"), m))?;
            out.extend(dates);
        }
        Ok::<_, CatalogueError>(out)
    };
    let holidays = days(&raw.holidays, "holidays", base.0)?;
    let workdays = days(&raw.workdays, "workdays", base.1)?;
    if let Some(d) = holidays.intersection(&workdays).next() {
        // the entry that brought the clash: a workday if one names the date, else a holiday
        let named = |list: &[Spanned<String>]| {
            list.iter()
                .find(|s| parse_days(s.get_ref()).is_ok_and(|v| v.contains(d)))
                .map(|s| s.span())
        };
        let (span, key) = match (named(&raw.workdays), named(&raw.holidays)) {
            (Some(s), _) => (s, "workdays"),
            (None, Some(s)) => (s, "holidays"),
            (None, None) => (0..0, "workdays"),
        };
        return Err(at.err(
            span,
            format!("{prefix}calendar.{key}"),
            format!("{d} is both a holiday and a make-up workday"),
        ));
    }
    Ok((holidays, workdays))
}

/// `[request_types.…]` (under `prefix`, e.g. `jurisdictions.X.`).
fn request_types(
    at: &At<'_>,
    raw: &BTreeMap<Spanned<String>, RawDeadlineOnly>,
    prefix: &str,
) -> Result<BTreeMap<RequestType, Deadlines>, CatalogueError> {
    let mut out = BTreeMap::new();
    for (name, o) in raw {
        let key = format!("{prefix}request_types.{}", name.get_ref());
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
        out.insert(rt, deadlines(at, &o.deadline, &format!("{key}.deadline"))?);
    }
    Ok(out)
}

fn category_code(
    at: &At<'_>,
    taxonomy: Option<&Taxonomy>,
    code: &Spanned<String>,
    key: &str,
) -> Result<(), CatalogueError> {
    if taxonomy.is_some_and(|t| t.category(code.get_ref()).is_none()) {
        return Err(at.err(
            code.span(),
            key.to_string(),
            format!(
                "unknown category {:?} (not in the taxonomy)",
                code.get_ref()
            ),
        ));
    }
    Ok(())
}

fn department(
    at: &At<'_>,
    taxonomy: Option<&Taxonomy>,
    s: &Spanned<String>,
    key: String,
) -> Result<String, CatalogueError> {
    if taxonomy.is_some_and(|t| t.department_name(s.get_ref()).is_none()) {
        return Err(at.err(
            s.span(),
            key,
            format!("unknown department {:?} (not in the taxonomy)", s.get_ref()),
        ));
    }
    Ok(s.get_ref().clone())
}

/// A category's `co` list: taxonomy codes, none twice, not the lead.
fn co_list(
    at: &At<'_>,
    taxonomy: Option<&Taxonomy>,
    raw: &[Spanned<String>],
    lead: &str,
    key: &str,
) -> Result<Vec<String>, CatalogueError> {
    let mut co: Vec<String> = Vec::new();
    for (i, c) in raw.iter().enumerate() {
        let k = format!("{key}.co[{i}]");
        let d = department(at, taxonomy, c, k.clone())?;
        if d == lead || co.contains(&d) {
            return Err(at.err(
                c.span(),
                k,
                format!("{d:?} is listed twice (lead or co-department)"),
            ));
        }
        co.push(d);
    }
    Ok(co)
}

/// One `[jurisdictions."…"]` merged over the file (see [`RawJurisdiction`]), validated as the file
/// is; with the categories whose lead it sets.
fn jurisdiction(
    at: &At<'_>,
    taxonomy: Option<&Taxonomy>,
    base: &Base,
    name: &str,
    raw: &RawJurisdiction,
) -> Result<(Base, BTreeSet<String>), CatalogueError> {
    let prefix = format!("jurisdictions.{name}.");
    let mut out = base.clone();
    (out.holidays, out.workdays) =
        calendar_days(at, &raw.calendar, &prefix, (&base.holidays, &base.workdays))?;
    if let Some(d) = &raw.defaults {
        out.defaults = deadlines(at, &d.deadline, &format!("{prefix}defaults.deadline"))?;
    }
    out.request_types
        .extend(request_types(at, &raw.request_types, &prefix)?);
    let mut forced = BTreeSet::new();
    for (code, o) in &raw.categories {
        let key = format!("{prefix}categories.{}", code.get_ref());
        category_code(at, taxonomy, code, &key)?;
        let inherited = base.categories.get(code.get_ref());
        let lead = match (&o.lead, inherited) {
            (Some(l), _) => {
                forced.insert(code.get_ref().clone());
                department(at, taxonomy, l, format!("{key}.lead"))?
            }
            (None, Some(p)) => p.lead.clone(),
            (None, None) => {
                return Err(at.err(
                    code.span(),
                    key,
                    "needs a lead: the file does not list this category".into(),
                ));
            }
        };
        let co = match (&o.co, inherited) {
            (Some(c), _) => co_list(at, taxonomy, c, &lead, &key)?,
            // the file's co-departments, without a lead the jurisdiction chose among them
            (None, Some(p)) => p.co.iter().filter(|c| **c != lead).cloned().collect(),
            (None, None) => Vec::new(),
        };
        let deadline = match &o.deadline {
            Some(d) => Some(deadlines(at, d, &format!("{key}.deadline"))?),
            None => inherited.and_then(|p| p.deadline),
        };
        out.categories
            .insert(code.get_ref().clone(), Parts { lead, co, deadline });
    }
    Ok((out, forced))
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
