#![allow(dead_code)]

use paidan_store::*;

pub const T0: Millis = 1_767_225_600_000; // 2026-01-01T00:00:00Z
pub const MIN: Millis = 60_000;

pub fn label(code: &str) -> LabelRecord {
    LabelRecord {
        code: code.to_string(),
        name: format!("name of {code}"),
        confidence: 0.9,
    }
}

pub struct Spec<'a> {
    pub request_id: &'a str,
    pub digest: &'a str,
    pub channel: Channel,
    pub received_at: Millis,
    pub jurisdiction: &'a str,
    pub category: &'a str,
    pub department: &'a str,
    pub text: &'a str,
}

impl Default for Spec<'_> {
    fn default() -> Self {
        Spec {
            request_id: "",
            digest: "d0",
            channel: Channel::Hotline12345,
            received_at: T0,
            jurisdiction: "330106",
            category: "CAT.NOISE",
            department: "DEPT.ENV",
            text: "楼下工地夜间施工噪音扰民",
        }
    }
}

pub fn record(s: &Spec<'_>) -> CaseRecord {
    CaseRecord {
        id: String::new(),
        request_id: s.request_id.to_string(),
        request_digest: s.digest.to_string(),
        channel: s.channel,
        received_at: s.received_at,
        created_at: s.received_at + 1,
        jurisdiction: s.jurisdiction.to_string(),
        caller_phone: "13812345678".to_string(),
        title: "噪音".to_string(),
        text: s.text.to_string(),
        address: "西湖区文三路1号".to_string(),
        location: Some((120.1, 30.2)),
        triage: TriageRecord {
            category: label(s.category),
            department: label(s.department),
            category_alternatives: vec![label("CAT.OTHER")],
            department_alternatives: vec![],
            needs_review: false,
            review_reasons: vec![],
            model_version: "m1".to_string(),
        },
        category: s.category.to_string(),
        department: s.department.to_string(),
        status: CaseStatus::Accepted,
        history: vec![],
        corrections: vec![],
        duplicate_of: None,
        duplicate_score: 0.0,
        reports: vec![],
        forwarding: ForwardingRecord::new(),
        dispatch: Default::default(),
    }
}

pub fn new_case(s: &Spec<'_>) -> NewCase {
    NewCase {
        record: record(s),
        dedup: None,
        link_to: None,
    }
}

/// What the fixtures take: a store by reference, in an `Arc`, or as `&dyn Store` (the contract
/// suite runs them on every store).
pub trait AsStore {
    fn as_store(&self) -> &dyn Store;
}

impl AsStore for SledStore {
    fn as_store(&self) -> &dyn Store {
        self
    }
}

impl<S: Store> AsStore for std::sync::Arc<S> {
    fn as_store(&self) -> &dyn Store {
        self.as_ref()
    }
}

impl AsStore for dyn Store {
    fn as_store(&self) -> &dyn Store {
        self
    }
}

pub fn insert(store: &(impl AsStore + ?Sized), s: &Spec<'_>) -> CaseRecord {
    let ins = store.as_store().insert_case(new_case(s)).expect("insert");
    assert!(ins.created);
    ins.case
}

pub fn linked(
    store: &(impl AsStore + ?Sized),
    s: &Spec<'_>,
    master: &str,
    score: f32,
) -> CaseRecord {
    let store = store.as_store();
    let mut n = new_case(s);
    n.link_to = Some(Link {
        master_id: master.to_string(),
        score,
        text_excerpt: s.text.to_string(),
    });
    let ins = store.insert_case(n).expect("insert linked");
    assert!(ins.created);
    ins.case
}

pub fn sinks(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// Deliver everything due (to all `sinks`), repeatedly, and return the idempotency keys in
/// delivery order.
pub fn drain(store: &(impl AsStore + ?Sized), now: Millis, sinks: &[String]) -> Vec<String> {
    let store = store.as_store();
    let mut keys = Vec::new();
    loop {
        let due = store.outbox_due(now, 100).unwrap();
        if due.is_empty() {
            return keys;
        }
        for e in due {
            keys.push(e.idempotency_key.clone());
            for s in sinks {
                store.outbox_delivered(e.seq, s, sinks, now).unwrap();
            }
        }
    }
}

/// A status move as the store sees it: a raw edit (history line, status, an `Updated` event when
/// the case is a master). Which moves are allowed is paidan-core's rule, tested there; these
/// tests check what the store does with an edit.
pub fn set_status(
    store: &(impl AsStore + ?Sized),
    id: &str,
    to: CaseStatus,
    note: &str,
    actor: &str,
    at: Millis,
) -> Result<CaseRecord> {
    first(store.as_store().edit_cases(&|r| {
        let mut c = r.case(id)?;
        c.history.push(StatusChange {
            from: c.status,
            to,
            note: note.to_string(),
            actor: actor.to_string(),
            at,
        });
        c.status = to;
        let mut e = CaseEdit::at(at);
        e.event_if_master(&c, EventKind::Updated);
        e.cases.push(c);
        Ok(e)
    }))
}

/// A correction as a raw edit: the effective labels, the correction record on the case and in
/// the log, a `Corrected` event when the case is a master.
pub fn set_labels(
    store: &(impl AsStore + ?Sized),
    id: &str,
    category: Option<&str>,
    department: Option<&str>,
    note: &str,
    actor: &str,
    at: Millis,
) -> Result<CaseRecord> {
    first(store.as_store().edit_cases(&|r| {
        let mut c = r.case(id)?;
        let correction = CorrectionRecord::of(&c, category, department, note, actor, at);
        c.category = correction.category_after.clone();
        c.department = correction.department_after.clone();
        c.corrections.push(correction.clone());
        let mut e = CaseEdit::at(at);
        e.corrections.push(correction);
        e.event_if_master(&c, EventKind::Corrected);
        e.cases.push(c);
        Ok(e)
    }))
}

fn first(cases: Result<Vec<CaseRecord>>) -> Result<CaseRecord> {
    Ok(cases?.into_iter().next().expect("the edit wrote a case"))
}

/// Ids of the cases of jurisdiction 330106 sharing a key with `bands` in `[since, ∞)`, sorted.
pub fn candidate_ids(store: &dyn Store, bands: &[u64], since: Millis) -> Vec<String> {
    let mut got: Vec<String> = store
        .dedup_candidates("330106", bands, since, i64::MAX, 10)
        .unwrap()
        .into_iter()
        .map(|c| c.0)
        .collect();
    got.sort();
    got
}
