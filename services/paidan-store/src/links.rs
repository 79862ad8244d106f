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

/// The case numbers of `links`, in their order.
pub fn numbers(links: &[ReportLink]) -> Vec<u64> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn link(id: &str, at: Millis) -> ReportLink {
        ReportLink {
            case_id: id.into(),
            request_id: String::new(),
            received_at: at,
            score: 0.9,
            text_excerpt: String::new(),
        }
    }

    /// Apply a plan to a row set, as a store does.
    fn apply(rows: &mut Vec<(u32, LinkRowV5)>, p: &Plan) {
        for (v, r) in &p.rows {
            match rows.iter_mut().find(|(w, _)| w == v) {
                Some(x) => x.1 = r.clone(),
                None => rows.push((*v, r.clone())),
            }
        }
    }

    fn ids(links: &[ReportLink]) -> Vec<&str> {
        links.iter().map(|l| l.case_id.as_str()).collect()
    }

    /// Whole-case writes one after another (`check(reports written, rows written, head.next)`),
    /// each read back at its own version afterwards: what every earlier version showed stays.
    #[test]
    fn every_version_reads_back_as_it_was_written() {
        let (a, b, c, d) = (
            link("PD000000000001", 1),
            link("PD000000000002", 2),
            link("PD000000000003", 3),
            link("PD000000000004", 4),
        );
        // (the case's links as written, rows the write touches, the head's next version after)
        let steps: &[(Vec<ReportLink>, usize, u32)] = &[
            (vec![], 0, 0),                                // never linked: no head
            (vec![a.clone(), b.clone()], 2, 2),            // first links: rows 0, 1
            (vec![a.clone(), b.clone()], 0, 2),            // unchanged: nothing written
            (vec![a.clone(), b.clone(), c.clone()], 1, 3), // appended: row 2
            (vec![a.clone(), c.clone()], 1, 4),            // b unlinked: its row marked at 3
            (vec![c.clone(), a.clone(), d.clone()], 5, 9), // reordered: 2 out, 3 in again
        ];
        let mut rows: Vec<(u32, LinkRowV5)> = Vec::new();
        let mut head: Option<CaseLinksV5> = None;
        let mut seen: Vec<(u32, Vec<ReportLink>)> = Vec::new();
        for (i, (reports, touched, next)) in steps.iter().enumerate() {
            let p = plan(head.as_ref(), &rows, reports);
            assert_eq!(p.rows.len(), *touched, "step {i}");
            apply(&mut rows, &p);
            head = p.head;
            assert_eq!(head.as_ref().map_or(0, |h| h.next), *next, "step {i}");
            if let Some(h) = &head {
                assert_eq!(visible(&rows, h.next), *reports, "step {i}");
                assert_eq!(*h, head_of(h.next, reports), "step {i}");
                seen.push((h.next, reports.clone()));
            }
        }
        for (v, want) in &seen {
            assert_eq!(ids(&visible(&rows, *v)), ids(want), "version {v}");
        }
    }

    /// A link added to a master whose links were in its record moves them to rows first.
    #[test]
    fn a_link_moves_embedded_links_to_rows_once() {
        let label = |code: &str| crate::LabelRecord {
            code: code.into(),
            name: code.into(),
            confidence: 0.9,
        };
        let rec = CaseRecord {
            id: "PD000000000000".into(),
            request_id: String::new(),
            request_digest: String::new(),
            channel: crate::Channel::Hotline12345,
            received_at: 0,
            created_at: 0,
            jurisdiction: "海口市".into(),
            caller_phone: String::new(),
            title: String::new(),
            text: "停水".into(),
            address: String::new(),
            location: None,
            triage: crate::TriageRecord {
                category: label("CAT.WATER"),
                department: label("DEPT.WATER"),
                category_alternatives: vec![],
                department_alternatives: vec![],
                needs_review: false,
                review_reasons: vec![],
                model_version: "m".into(),
            },
            category: "CAT.WATER".into(),
            department: "DEPT.WATER".into(),
            status: crate::CaseStatus::Accepted,
            history: vec![],
            corrections: vec![],
            duplicate_of: None,
            duplicate_score: 0.0,
            reports: vec![link("PD000000000001", 1), link("PD000000000002", 2)],
            forwarding: crate::ForwardingRecord::new(),
            dispatch: Default::default(),
        };
        let mut v = CaseValue::plain(rec);
        let rows = add_link(&mut v, &link("PD000000000003", 3));
        assert_eq!(rows.iter().map(|(n, _)| *n).collect::<Vec<_>>(), [0, 1, 2]);
        assert!(v.rec.reports.is_empty());
        let h = v.links.clone().unwrap();
        assert_eq!((h.next, h.count, h.last_report_at), (3, 2 + 1, 3));
        assert_eq!(h.numbers, [1, 2, 3]);
        let rows = add_link(&mut v, &link("PD000000000004", 4));
        assert_eq!(rows.iter().map(|(n, _)| *n).collect::<Vec<_>>(), [3]);
        assert_eq!((v.report_count(), v.last_report_at()), (5, 4));
    }
}
