//! A master's report links apart from its record, on sled (schema 5, see
//! [`crate::record::links`] and [`crate::links`]): the rows of `case_links`, read and written
//! inside a case's transaction, the `cases` and outbox values with their optional trailing
//! bytes, and the matter's span for the band index.
//!
//! Why: the thousandth caller of a matter must not rewrite the links of the 999 before. Adding a
//! link writes one row and rewrites a small head ([`W::add_link`]; the head's case numbers, a few
//! bytes a report, are what still grows); freezing a master's earlier
//! event keeps the links' version, not a copy of them ([`super::tx::W::freeze_live`]). Reading a
//! whole master ([`W::case`], [`SledStore::load_case`]) reads its rows, one get per version: the
//! API, the domain rules and the forwarder want the list; the duplicate lookup and the writes
//! that do not change the links use the head alone.

use sled::IVec;
use sled::transaction::ConflictableTransactionError;

use super::entry::StoredEntry;
use super::tx::*;
use super::*;
pub(super) use crate::links::CaseValue;
use crate::links::{head_of, plan, visible};
use crate::record::{LinkRowV5, OutboxLinksV5};

/// What the band index needs of a matter that was reported again: its master, its latest report,
/// and the case numbers of its linked reports.
pub(super) struct MatterSpan {
    pub(super) master: String,
    pub(super) last: Millis,
    pub(super) numbers: Vec<u64>,
}

impl MatterSpan {
    pub(super) fn of(v: &CaseValue) -> MatterSpan {
        MatterSpan {
            master: v.rec.id.clone(),
            last: v.last_report_at(),
            numbers: v.numbers(),
        }
    }

    /// The span of a master read whole (its links in `reports`).
    pub(super) fn of_case(c: &CaseRecord) -> MatterSpan {
        MatterSpan {
            master: c.id.clone(),
            last: c.last_report_at(),
            numbers: crate::links::numbers(&c.reports),
        }
    }
}

/// Read a `cases` value: its [`crate::record::CaseV4`] bytes, then the links' head if any.
pub(super) fn decode_case_value(key: &[u8], bytes: &[u8]) -> Result<CaseValue> {
    crate::links::decode_case_value(&format!("cases/{}", key_str(key)), bytes)
}

pub(super) use crate::links::encode_case_value;

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

/// The rows of `master` below version `next`, through `get` (a tree or a transaction's tree).
fn rows<E: From<StoreError>>(
    master: &str,
    next: u32,
    mut get: impl FnMut(&[u8]) -> std::result::Result<Option<IVec>, E>,
) -> std::result::Result<Vec<(u32, LinkRowV5)>, E> {
    let mut out = Vec::new();
    for v in 0..next {
        if let Some(b) = get(&link_key(master, v))? {
            let row = crate::links::decode_row(&format!("case_links/{master}/{v}"), &b)?;
            out.push((v, row));
        }
    }
    Ok(out)
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
        let CaseValue { mut rec, links } = self.stored_or_missing(id)?;
        if let Some(h) = links {
            rec.reports = self.links_before(&rec.id, h.next)?;
        }
        Ok(rec)
    }

    fn rows(&self, master: &str, next: u32) -> Tx<Vec<(u32, LinkRowV5)>> {
        rows(master, next, |k| {
            self.t(CASE_LINKS)
                .get(k)
                .map_err(ConflictableTransactionError::from)
        })
    }

    /// `master`'s links in the state before version `v`.
    pub(super) fn links_before(&self, master: &str, v: u32) -> Tx<Vec<ReportLink>> {
        Ok(visible(&self.rows(master, v)?, v))
    }

    fn put_rows(&self, master: &str, rows: &[(u32, LinkRowV5)]) -> Tx<()> {
        for (v, r) in rows {
            self.t(CASE_LINKS)
                .insert(link_key(master, *v), crate::links::encode_row(r))?;
        }
        Ok(())
    }

    /// Add `link` to `master` (its stored value): one row and the head (a master whose links
    /// were in its record has them moved to rows first, once).
    pub(super) fn add_link(&self, master: &mut CaseValue, link: ReportLink) -> Tx<()> {
        let rows = crate::links::add_link(master, &link);
        self.put_rows(&master.rec.id.clone(), &rows)
    }

    /// Bring `id`'s rows in line with `reports` (a whole case being written) and return the head
    /// to store (see [`crate::links::plan`]).
    pub(super) fn write_links(
        &self,
        id: &str,
        stored: Option<&CaseValue>,
        reports: &[ReportLink],
    ) -> Tx<Option<crate::record::CaseLinksV5>> {
        let head = stored.and_then(|s| s.links.as_ref());
        let rows = match head {
            Some(h) => self.rows(id, h.next)?,
            None => Vec::new(),
        };
        let p = plan(head, &rows, reports);
        self.put_rows(id, &p.rows)?;
        Ok(p.head)
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
            rec.reports = visible(&rows, h.next);
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
        let want = head_of(h.next, &visible(&rows, h.next));
        if &want != h {
            return Err(StoreError::Corrupt {
                key: format!("cases/{}", v.rec.id),
                reason: format!("report links head {h:?}, rows give {want:?}"),
            });
        }
        Ok(())
    }
}
