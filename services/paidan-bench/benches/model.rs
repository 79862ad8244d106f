//! Per-stage cost of the classifier on real complaints (eval/sets/load_texts.jsonl) with the
//! shipped model (`models/default`, or the directory in `PAIDAN_BENCH_MODEL`):
//! prepare (normalise + mask), segment and featurise.
//!
//! Throughput is in complaints per second on one core. The whole triage has one benchmark,
//! `paidan bench-triage` (run by eval/bench.sh).

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use paidan_bench::{load_texts, repo_root};
use paidan_model::Classifier;
use paidan_model::features::{prepare, words};

const N: usize = 256;

fn model_dir() -> PathBuf {
    std::env::var_os("PAIDAN_BENCH_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("models/default"))
}

fn model_stages(c: &mut Criterion) {
    let dir = model_dir();
    let classifier = match Classifier::load(&dir) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("model benches skipped: cannot load {}: {e}", dir.display());
            return;
        }
    };
    let texts: Vec<_> = load_texts()
        .expect("eval/sets/load_texts.jsonl")
        .into_iter()
        .take(N)
        .collect();
    let max_chars = classifier.tfidf().map_or_else(
        || classifier.config().features.max_chars,
        |t| t.config().max_chars,
    );
    let prepared: Vec<String> = texts
        .iter()
        .map(|t| prepare(&t.title, &t.text, max_chars))
        .collect();
    let mut g = c.benchmark_group("model");
    g.throughput(Throughput::Elements(texts.len() as u64));
    g.bench_function("prepare", |b| {
        b.iter(|| {
            for t in &texts {
                black_box(prepare(black_box(&t.title), black_box(&t.text), max_chars));
            }
        })
    });
    g.bench_function("segment", |b| {
        b.iter(|| {
            for p in &prepared {
                black_box(words(black_box(p)));
            }
        })
    });
    g.bench_function("featurize", |b| {
        b.iter(|| {
            for t in &texts {
                black_box(classifier.featurize_count(black_box(&t.title), black_box(&t.text)));
            }
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(4)).warm_up_time(std::time::Duration::from_secs(1));
    targets = model_stages
}
criterion_main!(benches);
