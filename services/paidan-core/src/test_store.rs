//! A real sled store behind the [`Store`] trait that tests can make fail and watch: the round
//! calls can be made to fail (as a PostgreSQL round's BEGIN or COMMIT can), and the calls are
//! counted (rounds begun and flushed, case reads by id); and [`record`], a case to store.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use paidan_store::*;

/// A sled store; `fail_begin` / `fail_flush` make the round calls fail; counts them, and the
/// reads of each case.
pub(crate) struct Probe {
    pub inner: SledStore,
    pub fail_begin: AtomicBool,
    pub fail_flush: AtomicBool,
    pub begun: AtomicUsize,
    pub flushed: AtomicUsize,
    pub case_reads: Mutex<HashMap<String, usize>>,
}

impl Probe {
    pub fn new(inner: SledStore) -> Probe {
        Probe {
            inner,
            fail_begin: AtomicBool::new(false),
            fail_flush: AtomicBool::new(false),
            begun: AtomicUsize::new(0),
            flushed: AtomicUsize::new(0),
            case_reads: Mutex::new(HashMap::new()),
        }
    }

    /// How many times `get_case` or `get_case_head` read case `id`.
    pub fn reads_of(&self, id: &str) -> usize {
        self.case_reads
            .lock()
            .unwrap()
            .get(id)
            .copied()
            .unwrap_or(0)
    }

    /// How many case reads (`get_case`, `get_case_head`) there were, of any case.
    pub fn all_case_reads(&self) -> usize {
        self.case_reads.lock().unwrap().values().sum()
    }
}

impl Store for Probe {
    fn begin_round(&self) -> paidan_store::Result<()> {
        self.begun.fetch_add(1, Ordering::SeqCst);
        if self.fail_begin.load(Ordering::SeqCst) {
            return Err(StoreError::Storage("connection refused".into()));
        }
        self.inner.begin_round()
    }
    fn flush(&self) -> paidan_store::Result<()> {
        self.flushed.fetch_add(1, Ordering::SeqCst);
        if self.fail_flush.load(Ordering::SeqCst) {
            return Err(StoreError::Storage("COMMIT failed".into()));
        }
        self.inner.flush()
    }
    fn insert_case(&self, new: NewCase) -> paidan_store::Result<Inserted> {
        self.inner.insert_case(new)
    }
    fn dedup_key_version(&self) -> paidan_store::Result<u32> {
        self.inner.dedup_key_version()
    }
    fn rekey_dedup(
        &self,
        version: u32,
        rekey: &(dyn Fn(&DedupEntry) -> Option<DedupEntry> + Sync),
    ) -> paidan_store::Result<u64> {
        self.inner.rekey_dedup(version, rekey)
    }
    fn get_case(&self, id: &str) -> paidan_store::Result<Option<CaseRecord>> {
        *self
            .case_reads
            .lock()
            .unwrap()
            .entry(id.to_string())
            .or_default() += 1;
        self.inner.get_case(id)
    }
    fn get_case_head(&self, id: &str) -> paidan_store::Result<Option<CaseHead>> {
        *self
            .case_reads
            .lock()
            .unwrap()
            .entry(id.to_string())
            .or_default() += 1;
        self.inner.get_case_head(id)
    }
    fn dedup_candidates(
        &self,
        j: &str,
        b: &[u64],
        s: Millis,
        u: Millis,
        l: usize,
    ) -> paidan_store::Result<Vec<(String, u32)>> {
        self.inner.dedup_candidates(j, b, s, u, l)
    }
    fn dedup_entry(&self, id: &str) -> paidan_store::Result<Option<DedupEntry>> {
        self.inner.dedup_entry(id)
    }
    fn list_cases(&self, f: &CaseFilter, n: usize, t: Option<&str>) -> paidan_store::Result<Page> {
        self.inner.list_cases(f, n, t)
    }
    fn for_each_deadline_pending(
        &self,
        until: Millis,
        f: &mut dyn FnMut(CaseRecord),
    ) -> paidan_store::Result<()> {
        self.inner.for_each_deadline_pending(until, f)
    }
    fn edit_cases(
        &self,
        rule: &dyn Fn(&mut dyn CaseReader) -> paidan_store::Result<CaseEdit>,
    ) -> paidan_store::Result<Vec<CaseRecord>> {
        self.inner.edit_cases(rule)
    }
    fn hot_issues(
        &self,
        j: Option<&str>,
        c: Option<&str>,
        s: Millis,
        u: Millis,
        l: usize,
    ) -> paidan_store::Result<Vec<HotIssue>> {
        self.inner.hot_issues(j, c, s, u, l)
    }
    fn corrections(&self) -> paidan_store::Result<Vec<CorrectionRecord>> {
        self.inner.corrections()
    }
    fn figures(&self, q: &figures::FigureQuery) -> paidan_store::Result<Vec<figures::FigureSum>> {
        self.inner.figures(q)
    }
    fn outbox_due(&self, now: Millis, l: usize) -> paidan_store::Result<Vec<OutboxEntry>> {
        self.inner.outbox_due(now, l)
    }
    fn outbox_delivered(
        &self,
        seq: u64,
        sink: &str,
        all: &[String],
        at: Millis,
    ) -> paidan_store::Result<bool> {
        self.inner.outbox_delivered(seq, sink, all, at)
    }
    fn outbox_failed(&self, seq: u64, e: &str, n: Millis, d: bool) -> paidan_store::Result<()> {
        self.inner.outbox_failed(seq, e, n, d)
    }
    fn outbox_list(&self, dead: bool, l: usize) -> paidan_store::Result<Vec<OutboxEntry>> {
        self.inner.outbox_list(dead, l)
    }
    fn outbox_len(&self, dead: bool) -> paidan_store::Result<u64> {
        self.inner.outbox_len(dead)
    }
    fn outbox_retry_dead(&self, k: &[String], now: Millis) -> paidan_store::Result<u32> {
        self.inner.outbox_retry_dead(k, now)
    }
    fn outbox_drop_dead(&self, k: &[String]) -> paidan_store::Result<u32> {
        self.inner.outbox_drop_dead(k)
    }
    fn append_audit(&self, e: &AuditEvent) -> paidan_store::Result<()> {
        self.inner.append_audit(e)
    }
    fn audit_log(&self, l: usize) -> paidan_store::Result<Vec<AuditEvent>> {
        self.inner.audit_log(l)
    }
}

/// A stored case as the intake builds one, with test defaults (a noise complaint routed to the
/// environment department, accepted, not forwarded yet): the writer's and the lookup's tests
/// change only what they vary.
pub(crate) fn record(request_id: &str, received_at: Millis) -> CaseRecord {
    CaseRecord {
        id: String::new(),
        request_id: request_id.into(),
        request_digest: "d".into(),
        channel: Channel::Hotline12345,
        received_at,
        created_at: received_at,
        jurisdiction: "330106".into(),
        caller_phone: String::new(),
        title: "噪音".into(),
        text: "楼下工地夜间施工噪音扰民".into(),
        address: String::new(),
        location: None,
        triage: TriageRecord {
            category: label("CAT.NOISE"),
            department: label("DEPT.ENV"),
            category_alternatives: vec![],
            department_alternatives: vec![],
            needs_review: false,
            review_reasons: vec![],
            model_version: "m".into(),
        },
        category: "CAT.NOISE".into(),
        department: "DEPT.ENV".into(),
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

fn label(code: &str) -> LabelRecord {
    LabelRecord {
        code: code.into(),
        name: code.into(),
        confidence: 0.9,
    }
}
