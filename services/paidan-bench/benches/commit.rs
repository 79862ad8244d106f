//! Durable submits from 32 concurrent writers: every write is acknowledged only after a flush
//! that covers it. `group_commit` uses paidan-core's `GroupCommit` (one flush acknowledges every
//! write that finished while the previous flush ran); `flush_each` flushes once per write.
//! Each measured element is one inserted case (synthetic complaint, real dedup fingerprint).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use paidan_bench::{Synth, load_texts, new_case};
use paidan_core::GroupCommit;
use paidan_store::{NewCase, SledStore, Store};

const WRITERS: u64 = 32;

fn run(
    rt: &tokio::runtime::Runtime,
    store: &Arc<dyn Store>,
    pool: &Arc<Vec<NewCase>>,
    next: &Arc<AtomicU64>,
    iters: u64,
    group: bool,
) -> Duration {
    let gc = Arc::new(GroupCommit::new(store.clone()));
    let start = Instant::now();
    rt.block_on(async {
        let per = iters.div_ceil(WRITERS);
        let tasks: Vec<_> = (0..WRITERS)
            .map(|_| {
                let (store, pool, next, gc) =
                    (store.clone(), pool.clone(), next.clone(), gc.clone());
                tokio::spawn(async move {
                    for _ in 0..per {
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        let mut nc = pool[(k % pool.len() as u64) as usize].clone();
                        nc.record.request_id = format!("commit-{k}");
                        let s = store.clone();
                        tokio::task::spawn_blocking(move || s.insert_case(nc).expect("insert"))
                            .await
                            .expect("insert task");
                        if group {
                            gc.commit().await.expect("commit");
                        } else {
                            let s = store.clone();
                            tokio::task::spawn_blocking(move || s.flush().expect("flush"))
                                .await
                                .expect("flush task");
                        }
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("writer");
        }
    });
    start.elapsed()
}

fn commit(c: &mut Criterion) {
    let synth = Synth::new(load_texts().expect("eval/sets/load_texts.jsonl"));
    let pool: Arc<Vec<NewCase>> = Arc::new(
        (0..2_048u64)
            .map(|k| {
                let (t, at) = synth.case(k);
                new_case(&t, format!("seed-{k}"), at)
            })
            .collect(),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn Store> = Arc::new(SledStore::open(dir.path()).expect("open store"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let next = Arc::new(AtomicU64::new(0));

    let mut g = c.benchmark_group("durable_write_32_writers");
    g.throughput(Throughput::Elements(1));
    g.bench_function("group_commit", |b| {
        b.iter_custom(|iters| run(&rt, &store, &pool, &next, iters, true))
    });
    g.bench_function("flush_each", |b| {
        b.iter_custom(|iters| run(&rt, &store, &pool, &next, iters, false))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(std::time::Duration::from_secs(8)).warm_up_time(std::time::Duration::from_secs(2));
    targets = commit
}
criterion_main!(benches);
