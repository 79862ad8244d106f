//! The writer's round contract on a real sled store whose round calls can be made to fail
//! ([`Probe`]): every job of a round whose flush failed gets an
//! error, also the ones whose insert succeeded; a round that cannot begin runs none of its
//! jobs and answers them UNAVAILABLE; a round always ends with a flush.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use paidan_store::*;

use super::SubmitWriter;
use crate::error::CoreError;
use crate::test_store::{Probe, record};

fn new_case(request_id: &str) -> NewCase {
    NewCase {
        record: record(request_id, 1_767_225_600_000),
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
    let store = Arc::new(Probe::new(SledStore::open_temporary().unwrap()));
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
