//! Per-stage cost of the text path on real complaints (eval/sets/load_texts.jsonl):
//! normalise, PII masking for features, jieba segmentation, the places a text names (what
//! Triage and SubmitComplaint answer with, on the request's thread), dedup fingerprint.
//!
//! Each iteration processes the same 256 real texts (mean ~330 characters); throughput is in
//! complaints per second.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use paidan_bench::load_texts;
use paidan_dedup::Fingerprint;
use paidan_text::{Segmenter, mask_for_features, normalize};

const N: usize = 256;

fn text_stages(c: &mut Criterion) {
    let texts: Vec<_> = load_texts()
        .expect("eval/sets/load_texts.jsonl")
        .into_iter()
        .take(N)
        .collect();
    let normalised: Vec<String> = texts.iter().map(|t| normalize(&t.text)).collect();
    let seg = Segmenter::global();
    seg.cut("预热分词器");

    let mut g = c.benchmark_group("text");
    g.throughput(Throughput::Elements(texts.len() as u64));
    g.bench_function("normalize", |b| {
        b.iter(|| {
            for t in &texts {
                black_box(normalize(black_box(&t.text)));
            }
        })
    });
    g.bench_function("mask_for_features", |b| {
        b.iter(|| {
            for t in &normalised {
                black_box(mask_for_features(black_box(t)));
            }
        })
    });
    g.bench_function("segment", |b| {
        b.iter(|| {
            for t in &normalised {
                black_box(seg.cut(black_box(t)));
            }
        })
    });
    let bodies: Vec<String> = texts
        .iter()
        .map(|t| normalize(&format!("{}。{}", t.title, t.text)))
        .collect();
    g.bench_function("places", |b| {
        b.iter(|| {
            for t in &bodies {
                black_box(paidan_dedup::entity::places(black_box(t)));
            }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("dedup");
    g.throughput(Throughput::Elements(texts.len() as u64));
    g.bench_function("fingerprint", |b| {
        b.iter(|| {
            for t in &texts {
                black_box(Fingerprint::new(
                    black_box(&t.title),
                    black_box(&t.text),
                    "",
                ));
            }
        })
    });
    let fps: Vec<Fingerprint> = texts
        .iter()
        .map(|t| Fingerprint::new(&t.title, &t.text, ""))
        .collect();
    g.throughput(Throughput::Elements(fps.len() as u64));
    g.bench_function("score_pair", |b| {
        let ctx = paidan_dedup::MatchContext::default();
        b.iter(|| {
            for w in fps.windows(2) {
                black_box(paidan_dedup::score(&w[0], &w[1], &ctx));
            }
        })
    });
    g.bench_function("fingerprint_decode", |b| {
        let bytes: Vec<Vec<u8>> = fps.iter().map(|f| f.to_bytes()).collect();
        b.iter(|| {
            for x in &bytes {
                black_box(Fingerprint::from_bytes(black_box(x)).expect("decodes"));
            }
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(4)).warm_up_time(std::time::Duration::from_secs(1));
    targets = text_stages
}
criterion_main!(benches);
