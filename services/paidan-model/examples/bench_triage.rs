//! In-process triage throughput (complaints/s) over a JSONL file of {title?, text, jurisdiction?}:
//!
//! cargo run --release -p paidan-model --example bench_triage -- models/default eval/sets/load_texts.jsonl [threads]
//!
//! Runs the whole set once to warm up, then triage_batch in batches of 64 on N threads
//! (default: all cores) for at least 3 s, and reports complaints/s plus the per-stage cost on one thread.

use std::path::Path;
use std::time::Instant;

use paidan_model::{Classifier, TriageInput, features};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let c = Classifier::load(Path::new(&args[0])).expect("model");
    let threads: usize = args
        .get(2)
        .map(|s| s.parse().expect("threads"))
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let rows: Vec<(String, String, String)> = std::fs::read_to_string(&args[1])
        .expect("data")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("json");
            let s = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
            (s("title"), s("text"), s("jurisdiction"))
        })
        .collect();
    let inputs: Vec<TriageInput<'_>> = rows
        .iter()
        .map(|(t, x, j)| TriageInput {
            title: t,
            text: x,
            jurisdiction: j,
        })
        .collect();
    c.triage_batch(&inputs).expect("warm up");

    // CPU time of this thread per complaint over two passes (robust to other processes taking the
    // cores, unlike wall-clock throughput; cache interference still shows).
    let cpu_ns = || -> u64 {
        std::fs::read_to_string("/proc/thread-self/schedstat")
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    let c0 = cpu_ns();
    for _ in 0..2 {
        c.triage_batch(&inputs).expect("triage");
    }
    eprintln!(
        "cpu per complaint (1 thread, 2 passes, /proc/thread-self/schedstat): {:.1} µs",
        (cpu_ns() - c0) as f64 / 1e3 / (2 * inputs.len()) as f64
    );

    // Stage costs on one thread.
    let cfg = c.config().features.clone();
    let t0 = Instant::now();
    let prepared: Vec<String> = rows
        .iter()
        .map(|(t, x, _)| features::prepare(t, x, cfg.max_chars))
        .collect();
    let t_prep = t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    let words: Vec<Vec<&str>> = prepared.iter().map(|p| features::words(p)).collect();
    let t_seg = t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    let mut n_ids = 0usize;
    let _ = &words;
    for (t, x, _) in &rows {
        n_ids += c.featurize_count(t, x);
    }
    let t_feat = t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    c.triage_batch(&inputs).expect("triage");
    let t_all = t0.elapsed().as_secs_f64();
    let n = rows.len() as f64;
    eprintln!(
        "per complaint on 1 thread: normalise+mask {:.1} µs, segment {:.1} µs, ids {:.1} µs ({:.0} ids), whole triage {:.1} µs",
        t_prep / n * 1e6,
        t_seg / n * 1e6,
        t_feat / n * 1e6,
        n_ids as f64 / n,
        t_all / n * 1e6
    );

    let start = Instant::now();
    let done: usize = std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|k| {
                let c = &c;
                let inputs = &inputs;
                s.spawn(move || {
                    let mut done = 0usize;
                    let mut i = k * 64;
                    while start.elapsed().as_secs_f64() < 3.0 {
                        let lo = i % inputs.len();
                        let hi = (lo + 64).min(inputs.len());
                        done += c.triage_batch(&inputs[lo..hi]).expect("triage").len();
                        i += 64 * threads;
                    }
                    done
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum()
    });
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({"complaints_per_sec": done as f64 / secs, "n": done, "threads": threads})
    );
}
