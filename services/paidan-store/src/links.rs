//! A master's report links apart from its record, for every store (see [`crate::record::links`]
//! for the layout and the versions): the case value as a store reads and writes it
//! ([`CaseValue`]), and the pure steps both stores take on it — which links a version shows
//! ([`visible`]), what adding one writes ([`add_link`]), and what writing a whole case changes
//! in its rows ([`plan`]). Each store only reads and writes the rows (sled: `case_links`
//! keys; PostgreSQL: the `case_links` table).

use crate::record::{CaseLinksV5, CaseV4, LinkRowV5, ReportLinkV2};
use crate::{CaseHead, CaseRecord, Millis, ReportLink, Result, StoreError, case_number};

/// A stored case. With `links`, the report links are rows and `rec.reports` is empty (not
/// loaded); without, they are in `rec.reports` (every case that never had a link, and a master
/// stored before schema 5 until its next write).
#[derive(Clone, Debug, PartialEq)]
pub struct CaseValue {
    pub rec: CaseRecord,
    pub links: Option<CaseLinksV5>,
}

impl CaseValue {
    /// A case with no links apart (a new case, or one read whole to be written as it is).
    pub fn plain(rec: CaseRecord) -> CaseValue {
        CaseValue { rec, links: None }
    }

    /// Time of the matter's latest report (see [`CaseRecord::last_report_at`]).
    pub fn last_report_at(&self) -> Millis {
        match &self.links {
            Some(h) => h.last_report_at.max(self.rec.received_at),
            None => self.rec.last_report_at(),
        }
    }

    /// Reports of the matter, the master included (see [`CaseRecord::report_count`]).
    pub fn report_count(&self) -> u32 {
        match &self.links {
            Some(h) => 1 + h.count,
            None => self.rec.report_count(),
        }
    }

    /// The case numbers of the matter's linked reports.
    pub fn numbers(&self) -> Vec<u64> {
        match &self.links {
            Some(h) => h.numbers.clone(),
            None => numbers(&self.rec.reports),
        }
    }

    /// The record without its links, and the two figures of its matter a lookup needs.
    pub fn head(mut self) -> CaseHead {
        let (last_report_at, report_count) = (self.last_report_at(), self.report_count());
        self.rec.reports.clear();
        CaseHead {
            case: self.rec,
            report_count,
            last_report_at,
        }
    }

    /// The version the links of this value stand at, when they are rows.
    pub fn links_at(&self) -> Option<u32> {
        self.links.as_ref().map(|h| h.next)
    }
}

fn numbers(links: &[ReportLink]) -> Vec<u64> {
    links
        .iter()
        .filter_map(|l| case_number(&l.case_id))
        .collect()
}

fn corrupt(what: &str, reason: String) -> StoreError {
    StoreError::Corrupt {
        key: what.to_string(),
        reason,
    }
}

/// A stored case: its [`CaseV4`] bytes, then the links' head if there is one; or the exact
/// bytes of an older record ([`crate::record::decode_case`]). `what` names it in errors.
pub fn decode_case_value(what: &str, bytes: &[u8]) -> Result<CaseValue> {
    let (v4, rest) = match postcard::take_from_bytes::<CaseV4>(bytes) {
        Ok(x) => x,
        Err(_) => return crate::record::decode_case(what, bytes).map(CaseValue::plain),
    };
    let links = if rest.is_empty() {
        None
    } else {
        match postcard::take_from_bytes::<CaseLinksV5>(rest) {
            Ok((h, [])) => Some(h),
            Ok((_, more)) => {
                return Err(corrupt(
                    what,
                    format!("{} bytes after the report links head", more.len()),
                ));
            }
            Err(e) => return Err(corrupt(what, format!("report links head: {e}"))),
        }
    };
    let rec: CaseRecord = v4.into();
    if links.is_some() && !rec.reports.is_empty() {
        return Err(corrupt(
            what,
            "report links both in the record and apart".into(),
        ));
    }
    Ok(CaseValue { rec, links })
}

/// The bytes of a stored case: its [`CaseV4`] bytes, then the links' head if there is one.
pub fn encode_case_value(v: &CaseValue) -> Vec<u8> {
    let mut out = crate::record::encode_case(&v.rec);
    if let Some(h) = &v.links {
        debug_assert!(v.rec.reports.is_empty(), "links apart and in the record");
        out.extend(postcard::to_stdvec(h).expect("a links head serialises"));
    }
    out
}

/// The links of the state before version `v`, in link order, from a master's rows (any order).
pub fn visible(rows: &[(u32, LinkRowV5)], v: u32) -> Vec<ReportLink> {
    let mut shown: Vec<&(u32, LinkRowV5)> = rows
        .iter()
        .filter(|(added, r)| r.visible(*added, v))
        .collect();
    shown.sort_by_key(|(added, _)| *added);
    shown
        .into_iter()
        .map(|(_, r)| r.link.clone().into())
        .collect()
}

/// The head of `links` as they stand (count, latest time, numbers), at version `next`.
pub fn head_of(next: u32, links: &[ReportLink]) -> CaseLinksV5 {
    CaseLinksV5 {
        next,
        count: links.len() as u32,
        last_report_at: links.iter().map(|l| l.received_at).max().unwrap_or(0),
        numbers: numbers(links),
    }
}

fn row(link: &ReportLink) -> LinkRowV5 {
    LinkRowV5 {
        link: ReportLinkV2::from(link.clone()),
        removed_at: None,
    }
}

/// Add `link` to the master `v` (its stored value): the rows to write, with their versions.
/// A master whose links were in its record has them moved to rows first, once.
pub fn add_link(v: &mut CaseValue, link: &ReportLink) -> Vec<(u32, LinkRowV5)> {
    let mut rows = Vec::new();
    let mut h = match v.links.take() {
        Some(h) => h,
        None => {
            let embedded = std::mem::take(&mut v.rec.reports);
            rows.extend(embedded.iter().enumerate().map(|(i, l)| (i as u32, row(l))));
            head_of(embedded.len() as u32, &embedded)
        }
    };
    rows.push((h.next, row(link)));
    h.next += 1;
    h.count += 1;
    h.last_report_at = h.last_report_at.max(link.received_at);
    h.numbers.extend(case_number(&link.case_id));
    v.links = Some(h);
    rows
}

/// What writing a whole case changes in its links.
#[derive(Debug, PartialEq)]
pub struct Plan {
    /// Rows to write (new, or removed: `removed_at` set), with their versions.
    pub rows: Vec<(u32, LinkRowV5)>,
    /// The head to store with the record; None: keep the links in the record (no link ever).
    pub head: Option<CaseLinksV5>,
}

/// Bring a master's links in line with `reports` (the whole case being written). `head` is the
/// stored head (None: the links were never apart) and `rows` its rows (all of them, removed
/// ones too). Unchanged links keep their rows; a removed one gets `removed_at`, an added one a
/// new row; a change that is not "keep some in order, then append" removes them all and adds
/// them again in the new order.
pub fn plan(head: Option<&CaseLinksV5>, rows: &[(u32, LinkRowV5)], reports: &[ReportLink]) -> Plan {
    let Some(h) = head else {
        if reports.is_empty() {
            return Plan {
                rows: Vec::new(),
                head: None,
            };
        }
        return Plan {
            rows: reports
                .iter()
                .enumerate()
                .map(|(i, l)| (i as u32, row(l)))
                .collect(),
            head: Some(head_of(reports.len() as u32, reports)),
        };
    };
    let mut next = h.next;
    let mut live: Vec<&(u32, LinkRowV5)> = rows
        .iter()
        .filter(|(added, r)| r.visible(*added, next))
        .collect();
    live.sort_by_key(|(added, _)| *added);
    let wanted: Vec<ReportLinkV2> = reports.iter().cloned().map(ReportLinkV2::from).collect();
    let kept: Vec<usize> = (0..live.len())
        .filter(|&i| wanted.contains(&live[i].1.link))
        .collect();
    let in_order = kept
        .iter()
        .enumerate()
        .all(|(j, &i)| wanted.get(j) == Some(&live[i].1.link));
    let (keep, added) = if in_order {
        let n = kept.len();
        (kept, &reports[n..])
    } else {
        (Vec::new(), reports)
    };
    let mut out = Vec::new();
    if keep.len() == live.len() && added.is_empty() {
        return Plan {
            rows: out,
            head: Some(h.clone()),
        };
    }
    for (i, (added_at, r)) in live.iter().enumerate() {
        if !keep.contains(&i) {
            let mut r = r.clone();
            r.removed_at = Some(next);
            next += 1;
            out.push((*added_at, r));
        }
    }
    for l in added {
        out.push((next, row(l)));
        next += 1;
    }
    Plan {
        rows: out,
        head: Some(head_of(next, reports)),
    }
}

/// The bytes of a link row ([`LinkRowV5`], postcard).
pub fn encode_row(row: &LinkRowV5) -> Vec<u8> {
    postcard::to_stdvec(row).expect("a link row serialises")
}

/// A link row from its bytes; `what` names it in errors.
pub fn decode_row(what: &str, bytes: &[u8]) -> Result<LinkRowV5> {
    postcard::from_bytes(bytes).map_err(|e| corrupt(what, e.to_string()))
}
