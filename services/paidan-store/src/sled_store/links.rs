//! A master's report links apart from its record (schema 5, see [`crate::record::links`]):
//! the `cases` value as the store reads and writes it ([`CaseValue`]: the record, and the links'
//! head when they are rows), the `case_links` rows, and the matter's span for the band index.
//!
//! Why: a link must cost the same for the first caller of a matter as for the thousandth. Adding
//! a link writes one row and rewrites a small head ([`W::add_link`]); freezing a master's earlier
//! event keeps the links' version, not a copy of them ([`super::tx::W::freeze_live`]). Reading a
//! whole master ([`W::case`], [`SledStore::load_case`]) reads its rows, one get per version: the
//! API, the domain rules and the forwarder want the list; the duplicate lookup and the writes
//! that do not change the links use the head alone.

use sled::IVec;
use sled::transaction::ConflictableTransactionError;

use super::entry::StoredEntry;
use super::tx::*;
use super::*;
use crate::record::{CaseLinksV5, CaseV4, LinkRowV5, OutboxLinksV5, ReportLinkV2};

/// A stored `cases` value. With `links`, the report links are rows and `rec.reports` is empty
/// (not loaded); without, they are in `rec.reports` (every case that never had a link, and a
/// master schema 4 wrote until its next write).
#[derive(Clone, Debug, PartialEq)]
pub(super) struct CaseValue {
    pub(super) rec: CaseRecord,
    pub(super) links: Option<CaseLinksV5>,
}

/// What the band index needs of a matter that was reported again: its master, its latest report,
/// and the case numbers of its linked reports.
pub(super) struct MatterSpan {
    pub(super) master: String,
    pub(super) last: Millis,
    pub(super) numbers: Vec<u64>,
}

impl MatterSpan {
    /// The span of a master read whole.
    pub(super) fn of(master: &CaseRecord) -> MatterSpan {
        MatterSpan {
            master: master.id.clone(),
            last: master.last_report_at(),
            numbers: master
                .reports
                .iter()
                .filter_map(|r| case_num(&r.case_id))
                .collect(),
        }
    }
}

impl CaseValue {
    /// Time of the matter's latest report (see [`CaseRecord::last_report_at`]).
    pub(super) fn last_report_at(&self) -> Millis {
        match &self.links {
            Some(h) => h.last_report_at.max(self.rec.received_at),
            None => self.rec.last_report_at(),
        }
    }

    /// Reports of the matter, the master included (see [`CaseRecord::report_count`]).
    pub(super) fn report_count(&self) -> u32 {
        match &self.links {
            Some(h) => 1 + h.count,
            None => self.rec.report_count(),
        }
    }

    pub(super) fn span(&self) -> MatterSpan {
        match &self.links {
            Some(h) => MatterSpan {
                master: self.rec.id.clone(),
                last: self.last_report_at(),
                numbers: h.numbers.clone(),
            },
            None => MatterSpan::of(&self.rec),
        }
    }

    /// The domain's head of the case: the record without its links, and the two figures of its
    /// matter a duplicate lookup needs.
    pub(super) fn head(mut self) -> CaseHead {
        let (last_report_at, report_count) = (self.last_report_at(), self.report_count());
        self.rec.reports.clear();
        CaseHead {
            case: self.rec,
            report_count,
            last_report_at,
        }
    }
}

fn corrupt_case(key: &[u8], reason: String) -> StoreError {
    StoreError::Corrupt {
        key: format!("cases/{}", key_str(key)),
        reason,
    }
}

/// Read a `cases` value: its [`CaseV4`] bytes, then the links' head if there is one.
pub(super) fn decode_case_value(key: &[u8], bytes: &[u8]) -> Result<CaseValue> {
    let (v4, rest) =
        postcard::take_from_bytes::<CaseV4>(bytes).map_err(|e| corrupt_case(key, e.to_string()))?;
    let links = if rest.is_empty() {
        None
    } else {
        let (h, rest) = postcard::take_from_bytes::<CaseLinksV5>(rest)
            .map_err(|e| corrupt_case(key, format!("report links head: {e}")))?;
        if !rest.is_empty() {
            return Err(corrupt_case(
                key,
                format!("{} bytes after the report links head", rest.len()),
            ));
        }
        Some(h)
    };
    let rec: CaseRecord = v4.into();
    if links.is_some() && !rec.reports.is_empty() {
        return Err(corrupt_case(
            key,
            "report links both in the record and apart".into(),
        ));
    }
    Ok(CaseValue { rec, links })
}

pub(super) fn encode_case_value(v: &CaseValue) -> Vec<u8> {
    let mut out = encode(&v.rec);
    if let Some(h) = &v.links {
        debug_assert!(v.rec.reports.is_empty(), "links apart and in the record");
        out.extend(encode_record(h));
    }
    out
}

/// Read an outbox entry or dead letter: its [`crate::record::OutboxEntryV4`] bytes, then the
/// version its frozen payload's links stood at, if they are rows.
pub(super) fn decode_entry(tree: &str, key: &[u8], bytes: &[u8]) -> Result<StoredEntry> {
    let corrupt = |reason: String| StoreError::Corrupt {
        key: format!("{tree}/{}", key_str(key)),
        reason,
    };
    let (v4, rest) = postcard::take_from_bytes::<<StoredEntry as Stored>::Record>(bytes)
        .map_err(|e| corrupt(e.to_string()))?;
    let mut e: StoredEntry = v4.into();
    if !rest.is_empty() {
        let (l, rest) = postcard::take_from_bytes::<OutboxLinksV5>(rest)
            .map_err(|e| corrupt(format!("payload links version: {e}")))?;
        if !rest.is_empty() || e.case.is_none() {
            return Err(corrupt("a links version without a frozen payload".into()));
        }
        e.links_at = Some(l.links_at);
    }
    Ok(e)
}

pub(super) fn encode_entry(e: &StoredEntry) -> Vec<u8> {
    let mut out = encode(e);
    if let Some(v) = e.links_at {
        out.extend(encode_record(&OutboxLinksV5 { links_at: v }));
    }
    out
}

/// `case_links` key of `master`'s link at `version`.
fn link_key(master: &str, version: u32) -> Vec<u8> {
    let mut k = Vec::with_capacity(master.len() + 5);
    k.extend_from_slice(master.as_bytes());
    k.push(0);
    k.extend_from_slice(&version.to_be_bytes());
    k
}

fn decode_row(master: &str, version: u32, bytes: &[u8]) -> Result<LinkRowV5> {
    postcard::from_bytes(bytes).map_err(|e| StoreError::Corrupt {
        key: format!("case_links/{master}/{version}"),
        reason: e.to_string(),
    })
}

/// The rows of `master` below version `next`, through `get` (a tree or a transaction's tree).
fn rows<E: From<StoreError>>(
    master: &str,
    next: u32,
    mut get: impl FnMut(&[u8]) -> std::result::Result<Option<IVec>, E>,
) -> std::result::Result<Vec<(u32, LinkRowV5)>, E> {
    let mut out = Vec::new();
    for v in 0..next {
        if let Some(b) = get(&link_key(master, v))? {
            out.push((v, decode_row(master, v, &b)?));
        }
    }
    Ok(out)
}

/// The links of the state before version `v`, in link order.
fn visible(rows: Vec<(u32, LinkRowV5)>, v: u32) -> Vec<ReportLink> {
    rows.into_iter()
        .filter(|(added, r)| r.visible(*added, v))
        .map(|(_, r)| r.link.into())
        .collect()
}

/// The head of `links` as they stand (count, latest time, numbers), keeping `next`.
fn head_of(next: u32, links: &[ReportLink]) -> CaseLinksV5 {
    CaseLinksV5 {
        next,
        count: links.len() as u32,
        last_report_at: links.iter().map(|l| l.received_at).max().unwrap_or(0),
        numbers: links.iter().filter_map(|l| case_num(&l.case_id)).collect(),
    }
}

impl From<StoreError> for ConflictableTransactionError<StoreError> {
    fn from(e: StoreError) -> Self {
        ConflictableTransactionError::Abort(e)
    }
}

impl W<'_> {
    /// The stored value of case `id`, links not loaded.
    pub(super) fn stored(&self, id: &str) -> Tx<Option<CaseValue>> {
        match self.t(CASES).get(id.as_bytes())? {
            None => Ok(None),
            Some(b) => match decode_case_value(id.as_bytes(), &b) {
                Ok(v) => Ok(Some(v)),
                Err(e) => abort(e),
            },
        }
    }

    /// [`W::stored`], or NotFound.
    pub(super) fn stored_or_missing(&self, id: &str) -> Tx<CaseValue> {
        match self.stored(id)? {
            Some(v) => Ok(v),
            None => abort(StoreError::NotFound(id.to_string())),
        }
    }

    /// Case `id` whole: its links read from their rows.
    pub(super) fn case(&self, id: &str) -> Tx<CaseRecord> {
        let v = self.stored_or_missing(id)?;
        self.whole(v)
    }

    pub(super) fn whole(&self, v: CaseValue) -> Tx<CaseRecord> {
        let CaseValue { mut rec, links } = v;
        if let Some(h) = links {
            rec.reports = self.links_before(&rec.id, h.next)?;
        }
        Ok(rec)
    }

    /// `master`'s links in the state before version `v`.
    pub(super) fn links_before(&self, master: &str, v: u32) -> Tx<Vec<ReportLink>> {
        let rows = rows(master, v, |k| {
            self.t(CASE_LINKS)
                .get(k)
                .map_err(ConflictableTransactionError::from)
        })?;
        Ok(visible(rows, v))
    }

    fn put_row(&self, master: &str, version: u32, row: &LinkRowV5) -> Tx<()> {
        self.t(CASE_LINKS)
            .insert(link_key(master, version), encode_record(row))?;
        Ok(())
    }

    fn add_row(&self, master: &str, version: u32, link: &ReportLink) -> Tx<()> {
        self.put_row(
            master,
            version,
            &LinkRowV5 {
                link: ReportLinkV2::from(link.clone()),
                removed_at: None,
            },
        )
    }

    /// Add `link` to `master` (its stored value): one row and the head. A master whose links
    /// were in its record (schema 4) has them moved to rows first, once.
    pub(super) fn add_link(&self, master: &mut CaseValue, link: ReportLink) -> Tx<()> {
        let id = master.rec.id.clone();
        let mut h = match master.links.take() {
            Some(h) => h,
            None => {
                let embedded = std::mem::take(&mut master.rec.reports);
                for (v, l) in embedded.iter().enumerate() {
                    self.add_row(&id, v as u32, l)?;
                }
                head_of(embedded.len() as u32, &embedded)
            }
        };
        self.add_row(&id, h.next, &link)?;
        h.next += 1;
        h.count += 1;
        h.last_report_at = h.last_report_at.max(link.received_at);
        h.numbers.extend(case_num(&link.case_id));
        master.links = Some(h);
        Ok(())
    }

    /// Bring `id`'s rows in line with `reports` (a whole case being written) and return the head
    /// to store, or None to keep the links in the record (no link ever). Unchanged links keep
    /// their rows; a removed one gets `removed_at`, an added one a new row; a change that is not
    /// "keep some in order, then append" removes them all and adds them again in the new order.
    pub(super) fn write_links(
        &self,
        id: &str,
        stored: Option<&CaseValue>,
        reports: &[ReportLink],
    ) -> Tx<Option<CaseLinksV5>> {
        let Some(mut h) = stored.and_then(|s| s.links.clone()) else {
            if reports.is_empty() {
                return Ok(None);
            }
            for (v, l) in reports.iter().enumerate() {
                self.add_row(id, v as u32, l)?;
            }
            return Ok(Some(head_of(reports.len() as u32, reports)));
        };
        let live: Vec<(u32, LinkRowV5)> = rows(id, h.next, |k| {
            self.t(CASE_LINKS)
                .get(k)
                .map_err(ConflictableTransactionError::from)
        })?
        .into_iter()
        .filter(|(added, r)| r.visible(*added, h.next))
        .collect();
        let kept: Vec<usize> = (0..live.len())
            .filter(|&i| {
                reports
                    .iter()
                    .any(|l| ReportLinkV2::from(l.clone()) == live[i].1.link)
            })
            .collect();
        let in_order = kept.iter().enumerate().all(|(j, &i)| {
            reports
                .get(j)
                .is_some_and(|l| ReportLinkV2::from(l.clone()) == live[i].1.link)
        });
        let (keep, added) = if in_order {
            let n = kept.len();
            (kept, &reports[n..])
        } else {
            (Vec::new(), reports)
        };
        if keep.len() == live.len() && added.is_empty() {
            return Ok(Some(h));
        }
        for (i, (added_at, row)) in live.iter().enumerate() {
            if !keep.contains(&i) {
                let mut row = row.clone();
                row.removed_at = Some(h.next);
                h.next += 1;
                self.put_row(id, *added_at, &row)?;
            }
        }
        for l in added {
            self.add_row(id, h.next, l)?;
            h.next += 1;
        }
        Ok(Some(head_of(h.next, reports)))
    }
}

impl SledStore {
    /// The stored value of case `id`, links not loaded.
    pub(super) fn load_value(&self, id: &[u8]) -> Result<Option<CaseValue>> {
        match self.tree(CASES).get(id).map_err(storage)? {
            None => Ok(None),
            Some(b) => decode_case_value(id, &b).map(Some),
        }
    }

    /// Case `id` whole, its links read from their rows.
    pub(super) fn load_case(&self, id: &[u8]) -> Result<Option<CaseRecord>> {
        let Some(CaseValue { mut rec, links }) = self.load_value(id)? else {
            return Ok(None);
        };
        if let Some(h) = links {
            let rows = rows(&rec.id, h.next, |k| {
                self.tree(CASE_LINKS).get(k).map_err(storage)
            })?;
            rec.reports = visible(rows, h.next);
        }
        Ok(Some(rec))
    }

    /// Check the links of a case read from `cases`: its rows against its head.
    pub(super) fn check_links(&self, v: &CaseValue) -> Result<()> {
        let Some(h) = &v.links else {
            return Ok(());
        };
        let rows = rows(&v.rec.id, h.next, |k| {
            self.tree(CASE_LINKS).get(k).map_err(storage)
        })?;
        let want = head_of(h.next, &visible(rows, h.next));
        if &want != h {
            return Err(StoreError::Corrupt {
                key: format!("cases/{}", v.rec.id),
                reason: format!("report links head {h:?}, rows give {want:?}"),
            });
        }
        Ok(())
    }
}
