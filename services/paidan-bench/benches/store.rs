//! Durable-write path of the sled store: one case insert (record, list indexes, request id, dedup
//! bands, outbox event — one transaction), with and without a flush per insert, and a flush alone.
//!
//! Cases are synthetic complaints recombined from real sentences (`paidan_bench::Synth`), each with
//! a real dedup fingerprint; the store lives in a temporary directory on the same disk as the repo.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use paidan_bench::{Synth, load_texts, new_case};
use paidan_store::{NewCase, SledStore, Store};

fn cases(synth: &Synth, from: u64, n: u64) -> Vec<NewCase> {
    (from..from + n)
        .map(|k| {
            let (t, at) = synth.case(k);
            new_case(&t, format!("bench-{k}"), at)
        })
        .collect()
}

fn store(c: &mut Criterion) {
    let synth = Synth::new(load_texts().expect("eval/sets/load_texts.jsonl"));
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SledStore::open(dir.path()).expect("open store");
    // Some history first, so the trees are not trivially small.
    let ids: Vec<String> = cases(&synth, 0, 5_000)
        .into_iter()
        .map(|nc| store.insert_case(nc).expect("insert").case.id)
        .collect();
    store.flush().expect("flush");
    let next = AtomicU64::new(1_000_000);
    // Pre-built inputs, so fingerprinting is not part of the measurement.
    let pool = cases(&synth, 10_000, 4_096);
    let take = || {
        let k = next.fetch_add(1, Ordering::Relaxed);
        let mut nc = pool[(k % pool.len() as u64) as usize].clone();
        nc.record.request_id = format!("bench-{k}");
        nc
    };

    let mut g = c.benchmark_group("store");
    g.throughput(Throughput::Elements(1));
    g.bench_function("insert_case", |b| {
        b.iter_batched(
            take,
            |nc| black_box(store.insert_case(nc).expect("insert")),
            BatchSize::SmallInput,
        )
    });
    // The same case without its dedup entry (no band keys, no fingerprint): the share of the
    // dedup index in the insert cost.
    g.bench_function("insert_case_without_dedup", |b| {
        b.iter_batched(
            || {
                let mut nc = take();
                nc.dedup = None;
                nc
            },
            |nc| black_box(store.insert_case(nc).expect("insert")),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("insert_case+flush", |b| {
        b.iter_batched(
            take,
            |nc| {
                let r = store.insert_case(nc).expect("insert");
                store.flush().expect("flush");
                black_box(r)
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("flush_clean", |b| b.iter(|| store.flush().expect("flush")));
    g.bench_function("get_case", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 7919) % ids.len();
            black_box(store.get_case(&ids[i]).expect("get"))
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(5)).warm_up_time(std::time::Duration::from_secs(1));
    targets = store
}
criterion_main!(benches);
