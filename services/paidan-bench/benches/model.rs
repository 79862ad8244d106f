//! Per-stage cost of the classifier on real complaints (eval/sets/load_texts.jsonl) with the
//! shipped model (`models/default`, or the directory in `PAIDAN_BENCH_MODEL`):
//! prepare (normalise + mask), segment and featurise; and the text work of a SubmitComplaint
//! (triage + dedup fingerprint) with each segmenting on its own (`separate`, the path before
//! session 6) and through one shared `Segmentation` (`shared`, what the inference worker does).
//!
//! Throughput is in complaints per second on one core. The whole triage has one benchmark,
//! `paidan bench-triage` (run by eval/bench.sh).

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use paidan_bench::{load_texts, repo_root};
use paidan_dedup::Fingerprint;
use paidan_model::features::{prepare, words};
use paidan_model::{Classifier, TriageInput};
use paidan_text::{Segmentation, Segmenter, normalize};

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
    submit_text_path(c, &classifier, &texts);
}

fn submit_text_path(c: &mut Criterion, classifier: &Classifier, texts: &[paidan_bench::Text]) {
    let inputs: Vec<TriageInput<'_>> = texts
        .iter()
        .map(|t| TriageInput {
            title: &t.title,
            text: &t.text,
            jurisdiction: "",
        })
        .collect();
    let bodies: Vec<String> = texts
        .iter()
        .map(|t| format!("{}。{}", normalize(&t.title), normalize(&t.text)))
        .collect();
    let mut g = c.benchmark_group("submit_text");
    g.throughput(Throughput::Elements(texts.len() as u64));
    g.bench_function("triage", |b| {
        b.iter(|| {
            for i in &inputs {
                black_box(classifier.triage(black_box(i)).unwrap());
            }
        })
    });
    g.bench_function("fingerprint_tagging", |b| {
        b.iter(|| {
            for body in &bodies {
                black_box(Segmenter::global().tag(black_box(body)));
            }
        })
    });
    g.bench_function("separate", |b| {
        b.iter(|| {
            for i in &inputs {
                black_box(classifier.triage(black_box(i)).unwrap());
                black_box(Fingerprint::new(i.title, i.text, ""));
            }
        })
    });
    let mut seg = Segmentation::new();
    g.bench_function("shared", |b| {
        b.iter(|| {
            for i in &inputs {
                seg.clear();
                black_box(Fingerprint::with_segmentation(
                    i.title, i.text, "", &mut seg,
                ));
                black_box(classifier.triage_with(black_box(i), &mut seg).unwrap());
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
