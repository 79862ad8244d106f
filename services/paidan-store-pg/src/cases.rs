//! Cases: the row (typed columns derived from the case, the case itself as its record bytes),
//! reads, the filtered list, hot issues and the corrections log (inserting one: `insert`).

use paidan_store::links::{self, CaseValue};
use paidan_store::record::LinkRowV5;
use paidan_store::*;
use postgres::GenericClient;
use postgres::types::ToSql;

use crate::session::Session;
use crate::{PgStore, Tx, TxError};

const DEFAULT_PAGE_SIZE: usize = 50;
const MAX_PAGE_SIZE: usize = 1000;

/// The stored value of case `id` (a master's links not loaded: see [`paidan_store::links`]),
/// locked for this transaction when `lock` (`FOR UPDATE`).
pub(crate) fn read_value<C: GenericClient>(
    c: &mut Session<'_, C>,
    id: &str,
    lock: bool,
) -> Tx<Option<CaseValue>> {
    let sql = if lock {
        "SELECT record FROM cases WHERE id = $1 FOR UPDATE"
    } else {
        "SELECT record FROM cases WHERE id = $1"
    };
    match c.query_opt(sql, &[&id])? {
        None => Ok(None),
        Some(row) => Ok(Some(links::decode_case_value(
            &format!("cases/{id}"),
            row.get(0),
        )?)),
    }
}

/// The stored case `id` whole (its links read from their rows), locked for this transaction
/// when `lock` (`FOR UPDATE`).
pub(crate) fn read_case<C: GenericClient>(
    c: &mut Session<'_, C>,
    id: &str,
    lock: bool,
) -> Tx<Option<CaseRecord>> {
    match read_value(c, id, lock)? {
        None => Ok(None),
        Some(v) => whole(c, v).map(Some),
    }
}

/// A stored value whole: a master's links read from their rows, as its head's version shows
/// them (also for an outbox payload, whose head is the one its transaction wrote).
pub(crate) fn whole<C: GenericClient>(c: &mut Session<'_, C>, v: CaseValue) -> Tx<CaseRecord> {
    let CaseValue { mut rec, links } = v;
    if let Some(h) = links {
        rec.reports = links::visible(&link_rows(c, &rec.id)?, h.next);
    }
    Ok(rec)
}

/// The case whole from its `id` and stored `record` bytes.
pub(crate) fn whole_from<C: GenericClient>(
    c: &mut Session<'_, C>,
    id: &str,
    record: &[u8],
) -> Tx<CaseRecord> {
    let v = links::decode_case_value(&format!("cases/{id}"), record)?;
    whole(c, v)
}

/// Every link row of `master` (removed ones too), with its version.
fn link_rows<C: GenericClient>(c: &mut Session<'_, C>, master: &str) -> Tx<Vec<(u32, LinkRowV5)>> {
    c.query(
        "SELECT version, row FROM case_links WHERE master = $1",
        &[&master],
    )?
    .iter()
    .map(|r| {
        let version: i32 = r.get(0);
        let row = links::decode_row(&format!("case_links/{master}/{version}"), r.get(1))?;
        Ok((version as u32, row))
    })
    .collect()
}

/// Write link rows of `master` (new ones, or removed ones again with `removed_at`).
pub(crate) fn put_rows<C: GenericClient>(
    t: &mut Session<'_, C>,
    master: &str,
    rows: &[(u32, LinkRowV5)],
) -> Tx<()> {
    for (v, row) in rows {
        t.execute(
            "INSERT INTO case_links (master, version, row) VALUES ($1, $2, $3)
             ON CONFLICT (master, version) DO UPDATE SET row = EXCLUDED.row",
            &[&master, &(*v as i32), &links::encode_row(row)],
        )?;
    }
    Ok(())
}

/// The locked case, or `NotFound`.
pub(crate) fn lock_case<C: GenericClient>(t: &mut Session<'_, C>, id: &str) -> Tx<CaseRecord> {
    read_case(t, id, true)?.ok_or_else(|| TxError::Store(StoreError::NotFound(id.to_string())))
}

/// The locked case's stored value, or `NotFound`.
pub(crate) fn lock_value<C: GenericClient>(t: &mut Session<'_, C>, id: &str) -> Tx<CaseValue> {
    read_value(t, id, true)?.ok_or_else(|| TxError::Store(StoreError::NotFound(id.to_string())))
}

/// Write the whole case `c` (its links as `reports`): a master's rows brought in line with them
/// ([`links::plan`]), then its row. Returns the value written (an event's payload).
pub(crate) fn put_case<C: GenericClient>(
    t: &mut Session<'_, C>,
    c: &CaseRecord,
    new: bool,
) -> Tx<CaseValue> {
    let head = match new {
        true => None,
        false => read_value(t, &c.id, false)?.and_then(|v| v.links),
    };
    let rows = match &head {
        Some(_) => link_rows(t, &c.id)?,
        None => Vec::new(),
    };
    let plan = links::plan(head.as_ref(), &rows, &c.reports);
    put_rows(t, &c.id, &plan.rows)?;
    let mut rec = c.clone();
    if plan.head.is_some() {
        rec.reports.clear();
    }
    let v = CaseValue {
        rec,
        links: plan.head,
    };
    put_value(t, &v, new)?;
    Ok(v)
}

/// Write a case row from its stored value (its links, if apart, already in their rows): every
/// column derived from the case, the value as its record bytes.
pub(crate) fn put_value<C: GenericClient>(
    t: &mut Session<'_, C>,
    v: &CaseValue,
    new: bool,
) -> Tx<()> {
    let c = &v.rec;
    let request_id = Some(c.request_id.as_str()).filter(|r| !r.is_empty());
    let deadline = c.deadline_pending();
    let params: [&(dyn ToSql + Sync); 12] = [
        &c.id,
        &request_id,
        &c.jurisdiction,
        &(c.status as i16),
        &c.category,
        &c.department,
        &(c.channel as i16),
        &c.received_at,
        &c.duplicate_of,
        &v.last_report_at(),
        &links::encode_case_value(v),
        &deadline,
    ];
    let sql = if new {
        "INSERT INTO cases (id, request_id, jurisdiction, status, category, department, channel,
                            received_at, duplicate_of, last_report_at, record, deadline_pending)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    } else {
        "UPDATE cases SET request_id = $2, jurisdiction = $3, status = $4, category = $5,
                          department = $6, channel = $7, received_at = $8, duplicate_of = $9,
                          last_report_at = $10, record = $11, deadline_pending = $12
         WHERE id = $1"
    };
    t.execute(sql, &params)?;
    Ok(())
}

pub(crate) fn get_case(s: &PgStore, id: &str) -> Result<Option<CaseRecord>> {
    s.read(|c| read_case(c, id, false))
}

pub(crate) fn get_case_head(s: &PgStore, id: &str) -> Result<Option<CaseHead>> {
    s.read(|c| Ok(read_value(c, id, false)?.map(CaseValue::head)))
}

pub(crate) fn list_cases(
    s: &PgStore,
    filter: &CaseFilter,
    page_size: usize,
    page_token: Option<&str>,
) -> Result<Page> {
    let page_size = match page_size {
        0 => DEFAULT_PAGE_SIZE,
        n => n.min(MAX_PAGE_SIZE),
    };
    let after = match page_token.filter(|t| !t.is_empty()) {
        None => None,
        Some(t) => Some(decode_page_token(t).ok_or(StoreError::InvalidPageToken)?),
    };
    let mut sql = String::from("SELECT id, record FROM cases WHERE true");
    let mut params: Vec<Box<dyn ToSql + Sync>> = Vec::new();
    let mut add = |cond: &str, v: Box<dyn ToSql + Sync>| {
        params.push(v);
        sql.push_str(&cond.replace('?', &format!("${}", params.len())));
    };
    if let Some(v) = filter.status {
        add(" AND status = ?", Box::new(v as i16));
    }
    if let Some(v) = &filter.category {
        add(" AND category = ?", Box::new(v.clone()));
    }
    if let Some(v) = &filter.department {
        add(" AND department = ?", Box::new(v.clone()));
    }
    if let Some(v) = filter.channel {
        add(" AND channel = ?", Box::new(v as i16));
    }
    if let Some(v) = &filter.jurisdiction {
        add(" AND jurisdiction = ?", Box::new(v.clone()));
    }
    if let Some(v) = filter.received_after {
        add(" AND received_at >= ?", Box::new(v));
    }
    if let Some(v) = filter.received_before {
        add(" AND received_at < ?", Box::new(v));
    }
    if let Some((t, id)) = after {
        add(" AND (received_at, id) < (?", Box::new(t));
        add(", ?)", Box::new(id));
    }
    add(
        " ORDER BY received_at DESC, id DESC LIMIT ?",
        Box::new(page_size as i64 + 1),
    );
    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref()).collect();
    let (cases, more) = s.read(|c| {
        let rows = c.query(&sql, &refs)?;
        let cases = rows
            .iter()
            .take(page_size)
            .map(|r| whole_from(c, r.get(0), r.get(1)))
            .collect::<Tx<Vec<_>>>()?;
        Ok((cases, rows.len() > page_size))
    })?;
    let next_token = match (more, cases.last()) {
        (true, Some(c)) => Some(encode_page_token(c.received_at, &c.id)),
        _ => None,
    };
    Ok(Page { cases, next_token })
}

pub(crate) fn hot_issues(
    s: &PgStore,
    jurisdiction: Option<&str>,
    category: Option<&str>,
    since: Millis,
    until: Millis,
    limit: usize,
) -> Result<Vec<HotIssue>> {
    if until <= since || limit == 0 {
        return Ok(Vec::new());
    }
    s.read(|c| {
        let rows = c.query(
            "SELECT m.id, m.record, x.n, x.first, x.last
             FROM (SELECT coalesce(duplicate_of, id) AS master, count(*) AS n,
                          min(received_at) AS first, max(received_at) AS last
                   FROM cases WHERE received_at >= $1 AND received_at < $2
                   GROUP BY 1) x
             JOIN cases m ON m.id = x.master
             WHERE ($3::text IS NULL OR m.jurisdiction = $3)
               AND ($4::text IS NULL OR m.category = $4)
             ORDER BY x.n DESC, x.last DESC, m.id DESC
             LIMIT $5",
            &[
                &since,
                &until,
                &jurisdiction,
                &category,
                &(limit.min(i64::MAX as usize) as i64),
            ],
        )?;
        rows.iter()
            .map(|r| {
                Ok(HotIssue {
                    master: whole_from(c, r.get(0), r.get(1))?,
                    report_count: r.get::<_, i64>(2) as u32,
                    first_report_at: r.get(3),
                    last_report_at: r.get(4),
                })
            })
            .collect()
    })
}

pub(crate) fn corrections(s: &PgStore) -> Result<Vec<CorrectionRecord>> {
    let rows = s.with(|c| c.query("SELECT id, record FROM corrections ORDER BY id", &[]))?;
    rows.iter()
        .map(|r| {
            record::decode_correction(&format!("corrections/{}", r.get::<_, i64>(0)), r.get(1))
        })
        .collect()
}

/// Order-preserving encoding of a signed time (as the sled store's page tokens): flip the sign
/// bit, big-endian.
fn enc_time(t: Millis) -> [u8; 8] {
    ((t as u64) ^ (1u64 << 63)).to_be_bytes()
}

/// Page tokens: hex of `enc_time(received_at)` followed by the case id (the sled store's form).
fn encode_page_token(received_at: Millis, id: &str) -> String {
    let mut s: String = enc_time(received_at)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    s.push_str(id);
    s
}

fn decode_page_token(token: &str) -> Option<(Millis, String)> {
    if token.len() <= 16 || !token.is_char_boundary(16) {
        return None;
    }
    let (hex, id) = token.split_at(16);
    let mut bytes = [0u8; 8];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return None;
    }
    Some((
        (u64::from_be_bytes(bytes) ^ (1u64 << 63)) as i64,
        id.to_string(),
    ))
}

/// [`Store::for_each_deadline_pending`](paidan_store::Store::for_each_deadline_pending): the
/// cases whose `deadline_pending` column is at or before `until` (its partial index), earliest
/// first; each passed only if its record still says so.
pub(crate) fn for_each_deadline_pending(
    s: &PgStore,
    until: Millis,
    f: &mut dyn FnMut(CaseRecord),
) -> Result<()> {
    let cases = s.read(|c| {
        c.query(
            "SELECT id, record FROM cases WHERE deadline_pending <= $1
             ORDER BY deadline_pending, id",
            &[&until],
        )?
        .iter()
        .map(|r| whole_from(c, r.get(0), r.get(1)))
        .collect::<Tx<Vec<_>>>()
    })?;
    for c in cases {
        if c.deadline_pending().is_some_and(|d| d <= until) {
            f(c);
        }
    }
    Ok(())
}

/// At open: unless `deadlines_built` has its row, fill `deadline_pending` from every stored case
/// that can have one (a master in a handling status) and add the row, in one transaction. Nodes
/// opening together take turns (an advisory lock; the later ones find the row); `cases` is
/// locked against other writers meanwhile, so no case changes between its read and its update.
pub(crate) fn deadlines_build_once(s: &PgStore) -> Result<()> {
    s.build_once("paidan_deadlines", "deadlines_built", |t| {
        let started = std::time::Instant::now();
        t.execute("LOCK TABLE cases IN SHARE ROW EXCLUSIVE MODE", &[])?;
        let handling: Vec<i16> = HANDLING.iter().map(|s| *s as i16).collect();
        let rows = t.query(
            "SELECT id, record FROM cases WHERE duplicate_of IS NULL AND status = ANY($1)",
            &[&handling],
        )?;
        let mut indexed = 0u64;
        for row in &rows {
            let id: &str = row.get(0);
            // The deadline is the record's: the links are not needed.
            let c = links::decode_case_value(&format!("cases/{id}"), row.get(1))?.rec;
            if let Some(due) = c.deadline_pending() {
                t.execute(
                    "UPDATE cases SET deadline_pending = $2 WHERE id = $1",
                    &[&id, &due],
                )?;
                indexed += 1;
            }
        }
        tracing::info!(
            cases = rows.len(),
            indexed,
            ms = started.elapsed().as_millis() as u64,
            "deadline column filled from the stored cases"
        );
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip_and_reject_garbage() {
        let cases: &[(&str, Option<(i64, &str)>)] = &[
            ("", None),
            ("garbage", None),
            ("0123456789abcdef", None),
            ("xx23456789abcdefPD1", None),
            (
                "8000000000000001PD000000000001",
                Some((1, "PD000000000001")),
            ),
            ("8000000000000001PD 1", None),
        ];
        for (token, want) in cases {
            let got = decode_page_token(token);
            assert_eq!(
                got.as_ref().map(|(t, id)| (*t, id.as_str())),
                *want,
                "{token:?}"
            );
        }
        for t in [i64::MIN, -1, 0, 1_767_225_600_000, i64::MAX] {
            assert_eq!(
                decode_page_token(&encode_page_token(t, "PD000000000042")),
                Some((t, "PD000000000042".to_string()))
            );
        }
    }
}
