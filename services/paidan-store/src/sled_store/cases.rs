//! Cases: insert (idempotent on the request id, linking to a master), reads, the filtered list,
//! hot issues. Each change is one transaction through [`super::tx::W`]; status moves,
//! corrections, split and merge are edits (`super::edit`).

use std::collections::HashMap;
use std::ops::Bound;

use super::dedup::{evict, refresh_matter};
use super::tx::*;
use super::*;

pub(super) fn insert_case(s: &SledStore, new: NewCase) -> Result<Inserted> {
    if let Some(d) = &new.dedup
        && d.bands.len() > u16::MAX as usize
    {
        return Err(StoreError::Invalid("too many dedup bands".into()));
    }
    let id = s.new_case_id()?;
    let _dedup_writer = s.dedup_write_lock();
    let outcome = s.tx(|w| {
        let rid = new.record.request_id.as_str();
        if !rid.is_empty()
            && let Some(existing) = w.t(REQUEST_IDS).get(rid.as_bytes())?
        {
            let existing_id = String::from_utf8_lossy(&existing).to_string();
            let case = w.case(&existing_id)?;
            if case.request_digest == new.record.request_digest {
                return Ok(InsertOutcome::Existing(case));
            }
            return abort(StoreError::Conflict {
                request_id: rid.to_string(),
                case_id: existing_id,
            });
        }
        let mut linked_master = None;
        let mut rec = new.record.clone();
        rec.id = id.clone();
        rec.forwarding = ForwardingRecord::new();
        let at = rec.created_at;
        match &new.link_to {
            Some(link) => {
                // The master's head only: a link adds a row, whatever the matter's size.
                let mut master = w.stored_or_missing(&link.master_id)?;
                // Link to the root of the matter, never to another linked report.
                if let Some(root) = master.rec.duplicate_of.clone() {
                    master = w.stored_or_missing(&root)?;
                }
                let old_master = master.clone();
                rec.duplicate_of = Some(master.rec.id.clone());
                rec.duplicate_score = link.score;
                rec.forwarding.state = ForwardingState::NotForwarded;
                w.add_link(
                    &mut master,
                    ReportLink {
                        case_id: rec.id.clone(),
                        request_id: rec.request_id.clone(),
                        received_at: rec.received_at,
                        score: link.score,
                        text_excerpt: link.text_excerpt.clone(),
                    },
                )?;
                w.enqueue(&mut master.rec, EventKind::DuplicateLinked, at)?;
                w.put_value(Some(&old_master), &master)?;
                linked_master = Some(MatterSpan::of(&master));
            }
            None => {
                rec.duplicate_of = None;
                w.enqueue(&mut rec, EventKind::Created, at)?;
            }
        }
        w.put_case(None, &rec)?;
        if !rid.is_empty() {
            w.t(REQUEST_IDS).insert(rid.as_bytes(), rec.id.as_bytes())?;
        }
        if let Some(d) = &new.dedup {
            if d.received_at != rec.received_at {
                let mut d = d.clone();
                d.received_at = rec.received_at;
                w.index_dedup(&rec.id, &d)?;
            } else {
                w.index_dedup(&rec.id, d)?;
            }
        }
        Ok(InsertOutcome::Created(rec, linked_master))
    })?;
    Ok(match outcome {
        InsertOutcome::Created(case, master) => {
            let keys = new
                .dedup
                .as_ref()
                .map(|d| posting_keys(&d.jurisdiction, &d.bands));
            let mut b = s.bands_write();
            if let (Some(keys), Some(n)) = (&keys, case_num(&case.id)) {
                let active = master.as_ref().map_or(case.received_at, |m| m.last);
                b.insert(n, keys, case.received_at, active);
            }
            if let Some(m) = &master
                && let Err(e) = refresh_matter(&s.trees.load(), &mut b, m)
            {
                // The case is stored; only older reports of its matter stay out of the
                // in-memory index until the next open (which must rebuild, not load).
                s.index_degraded.store(true, Ordering::Relaxed);
                tracing::warn!(error = %e, master = %m.master, "band index refresh failed");
            }
            evict(&mut b);
            Inserted {
                case,
                created: true,
            }
        }
        InsertOutcome::Existing(case) => Inserted {
            case,
            created: false,
        },
    })
}

pub(super) fn get_case(s: &SledStore, id: &str) -> Result<Option<CaseRecord>> {
    s.load_case(id.as_bytes())
}

pub(super) fn list_cases(
    s: &SledStore,
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
    // Pick the attribute index with the fewest cases; the time index when there is none.
    let mut candidates: Vec<Vec<u8>> = Vec::new();
    if let Some(s) = filter.status {
        candidates.push(attr_prefix(TAG_STATUS, &(s as u8).to_string()));
    }
    if let Some(v) = &filter.category {
        candidates.push(attr_prefix(TAG_CATEGORY, v));
    }
    if let Some(v) = &filter.department {
        candidates.push(attr_prefix(TAG_DEPARTMENT, v));
    }
    if let Some(v) = filter.channel {
        candidates.push(attr_prefix(TAG_CHANNEL, &(v as u8).to_string()));
    }
    if let Some(v) = &filter.jurisdiction {
        candidates.push(attr_prefix(TAG_JURISDICTION, v));
    }
    let mut best: Option<(u64, Vec<u8>)> = None;
    for p in candidates {
        let n = s.counter(IDX_COUNTS, &p)?;
        if best.as_ref().is_none_or(|(m, _)| n < *m) {
            best = Some((n, p));
        }
    }
    let (tree, prefix) = match best {
        Some((_, p)) => (s.tree(IDX_ATTR), p),
        None => (s.tree(IDX_TIME), Vec::new()),
    };
    let lo = time_key(&prefix, filter.received_after.unwrap_or(i64::MIN), "");
    let mut hi: Option<Vec<u8>> = match filter.received_before {
        Some(t) => Some(time_key(&prefix, t, "")),
        None => prefix_end(&prefix),
    };
    if let Some((t, id)) = &after {
        let k = time_key(&prefix, *t, id);
        if hi.as_ref().is_none_or(|h| k < *h) {
            hi = Some(k);
        }
    }
    if hi.as_ref().is_some_and(|h| *h <= lo) {
        return Ok(Page {
            cases: Vec::new(),
            next_token: None,
        });
    }
    let upper = match hi {
        Some(h) => Bound::Excluded(h),
        None => Bound::Unbounded,
    };
    let mut cases = Vec::new();
    let mut more = false;
    for kv in tree.range((Bound::Included(lo), upper)).rev() {
        let (k, _) = kv.map_err(storage)?;
        let id = &k[prefix.len() + 8..];
        let Some(c) = s.load_case(id)? else {
            return Err(StoreError::Corrupt {
                key: format!(
                    "{}/{}",
                    if prefix.is_empty() {
                        "idx_time"
                    } else {
                        "idx_attr"
                    },
                    key_str(&k)
                ),
                reason: "index points at a missing case".into(),
            });
        };
        if !matches(&c, filter) {
            continue;
        }
        if cases.len() == page_size {
            more = true;
            break;
        }
        cases.push(c);
    }
    let next_token = match (more, cases.last()) {
        (true, Some(c)) => Some(encode_page_token(c.received_at, &c.id)),
        _ => None,
    };
    Ok(Page { cases, next_token })
}

pub(super) fn hot_issues(
    s: &SledStore,
    jurisdiction: Option<&str>,
    category: Option<&str>,
    since: Millis,
    until: Millis,
    limit: usize,
) -> Result<Vec<HotIssue>> {
    if until <= since {
        return Ok(Vec::new());
    }
    // master id → (reports in window, first, last)
    let mut agg: HashMap<String, (u32, Millis, Millis)> = HashMap::new();
    let range = time_key(&[], since, "")..time_key(&[], until, "");
    for kv in s.tree(IDX_TIME).range(range) {
        let (k, v) = kv.map_err(storage)?;
        let t = dec_time(&k[..8]).unwrap_or(since);
        let master = if v.is_empty() { &k[8..] } else { v.as_ref() };
        let e = agg
            .entry(String::from_utf8_lossy(master).to_string())
            .or_insert((0, t, t));
        e.0 += 1;
        e.1 = e.1.min(t);
        e.2 = e.2.max(t);
    }
    let mut ranked: Vec<(String, (u32, Millis, Millis))> = agg.into_iter().collect();
    ranked.sort_by(|a, b| (b.1.0, b.1.2, &b.0).cmp(&(a.1.0, a.1.2, &a.0)));
    let mut out = Vec::new();
    for (id, (count, first, last)) in ranked {
        if out.len() >= limit {
            break;
        }
        let Some(master) = s.load_case(id.as_bytes())? else {
            continue;
        };
        if jurisdiction.is_some_and(|j| j != master.jurisdiction)
            || category.is_some_and(|c| c != master.category)
        {
            continue;
        }
        out.push(HotIssue {
            master,
            report_count: count,
            first_report_at: first,
            last_report_at: last,
        });
    }
    Ok(out)
}

pub(super) fn corrections(s: &SledStore) -> Result<Vec<CorrectionRecord>> {
    s.tree(CORRECTIONS)
        .iter()
        .map(|kv| {
            let (k, v) = kv.map_err(storage)?;
            decode("corrections", &k, &v)
        })
        .collect()
}

impl SledStore {
    pub(super) fn new_case_id(&self) -> Result<String> {
        let n = self.db.generate_id().map_err(storage)?;
        Ok(crate::case_id_of(n))
    }
}

pub(super) enum InsertOutcome {
    /// The new case, and the span of the matter it was linked to (as written).
    Created(CaseRecord, Option<MatterSpan>),
    Existing(CaseRecord),
}

pub(super) fn matches(c: &CaseRecord, f: &CaseFilter) -> bool {
    f.status.is_none_or(|s| s == c.status)
        && f.category.as_deref().is_none_or(|v| v == c.category)
        && f.department.as_deref().is_none_or(|v| v == c.department)
        && f.channel.is_none_or(|v| v == c.channel)
        && f.jurisdiction
            .as_deref()
            .is_none_or(|v| v == c.jurisdiction)
        && f.received_after.is_none_or(|t| c.received_at >= t)
        && f.received_before.is_none_or(|t| c.received_at < t)
}
