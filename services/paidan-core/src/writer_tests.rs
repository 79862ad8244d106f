//! The writer's round contract on a real sled store whose round calls can be made to fail (as a
//! PostgreSQL round's BEGIN or COMMIT can): every job of a round whose flush failed gets an
//! error, also the ones whose insert succeeded; a round that cannot begin runs none of its
//! jobs and answers them UNAVAILABLE; a round always ends with a flush.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use paidan_store::*;

use super::SubmitWriter;
use crate::error::CoreError;

/// A sled store; `fail_begin` / `fail_flush` make the round calls fail; counts them.
struct Faulty {
    inner: SledStore,
    fail_begin: AtomicBool,
    fail_flush: AtomicBool,
    begun: AtomicUsize,
    flushed: AtomicUsize,
}

impl Store for Faulty {
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
    fn get_case(&self, id: &str) -> paidan_store::Result<Option<CaseRecord>> {
        self.inner.get_case(id)
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

fn label(code: &str) -> LabelRecord {
    LabelRecord {
        code: code.into(),
        name: code.into(),
        confidence: 0.9,
    }
}

fn new_case(request_id: &str) -> NewCase {
    let record = CaseRecord {
        id: String::new(),
        request_id: request_id.into(),
        request_digest: "d".into(),
        channel: Channel::Hotline12345,
        received_at: 1_767_225_600_000,
        created_at: 1_767_225_600_000,
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
    };
    NewCase {
        record,
        dedup: None,
        link_to: None,
    }
}

fn insert(request_id: &str) -> super::Job {
    let new = new_case(request_id);
    Box::new(move |s: &dyn Store| Ok(s.insert_case(new)?))
}

#[tokio::test]
async fn a_failed_flush_fails_every_job_of_its_round_and_a_failed_begin_runs_none() {
    let store = Arc::new(Faulty {
        inner: SledStore::open_temporary().unwrap(),
        fail_begin: AtomicBool::new(false),
        fail_flush: AtomicBool::new(false),
        begun: AtomicUsize::new(0),
        flushed: AtomicUsize::new(0),
    });
    let writer = SubmitWriter::new(store.clone(), 64);

    // a good round: acknowledged, begun and flushed once per round
    assert!(writer.submit(insert("r-1")).await.unwrap().created);
    assert_eq!(
        (
            store.begun.load(Ordering::SeqCst),
            store.flushed.load(Ordering::SeqCst)
        ),
        (1, 1)
    );

    // the COMMIT fails: every job of the round errs, its insert succeeded or not
    store.fail_flush.store(true, Ordering::SeqCst);
    let ok = writer.submit(insert("r-2")).await.unwrap_err();
    assert!(
        matches!(&ok, CoreError::Storage(m) if m.contains("not acknowledged") && m.contains("COMMIT failed")),
        "{ok:?}"
    );
    let failing: super::Job = Box::new(|_| Err(CoreError::Invalid("refused".into())));
    let refused = writer.submit(failing).await.unwrap_err();
    assert!(matches!(refused, CoreError::Invalid(_)), "its own error");
    // a round of failed jobs is still ended by a flush (a PostgreSQL round must not stay open)
    assert_eq!(
        store.begun.load(Ordering::SeqCst),
        store.flushed.load(Ordering::SeqCst)
    );
    store.fail_flush.store(false, Ordering::SeqCst);

    // the round cannot begin: its jobs do not run and are answered UNAVAILABLE
    store.fail_begin.store(true, Ordering::SeqCst);
    let ran = Arc::new(AtomicBool::new(false));
    let job: super::Job = {
        let ran = ran.clone();
        Box::new(move |s: &dyn Store| {
            ran.store(true, Ordering::SeqCst);
            Ok(s.insert_case(new_case("r-3"))?)
        })
    };
    let unavailable = writer.submit(job).await.unwrap_err();
    assert!(
        matches!(&unavailable, CoreError::Unavailable(m) if m.contains("connection refused")),
        "{unavailable:?}"
    );
    assert!(!ran.load(Ordering::SeqCst));
    store.fail_begin.store(false, Ordering::SeqCst);
    // a job queued while the failed round was being answered may be answered with it (its
    // client retries, as a real one does); a later round begins again
    let mut retried = None;
    for _ in 0..100 {
        match writer.submit(insert("r-4")).await {
            Err(CoreError::Unavailable(_)) => continue,
            done => {
                retried = Some(done);
                break;
            }
        }
    }
    assert!(retried.expect("a round began again").unwrap().created);
}
