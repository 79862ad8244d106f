//! Candidate generation and the decision beyond the labelled pairs: LSH candidate recall per
//! band layout on labelled pairs, then — over unlabelled messages — fingerprint speed and size,
//! index keys per report, the candidate pairs the store's keys produce (this build's keys and
//! fingerprint-version-1 keys), and how many of them each decision calls duplicates, with the
//! low-text ones written out for reading.
//!
//! cargo run --release -p paidan-dedup --example dedup_measure -- PAIRS.jsonl... [--layouts 16x8,32x4,42x3,64x2] [--unlabelled /work/shared/data/unlabelled.jsonl] [--sample OUT.jsonl] [--refit]
//!
//! `--layouts` lists the LSH layouts (bands x rows) whose candidate recall is measured; fewer
//! bands mean fewer postings per indexed case (memory) at some loss of recall.
//! `--refit` scores with the recipe's fit on the given pairs instead of the shipped weights.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Instant;

use paidan_dedup::legacy::{LEGACY_THRESHOLD, legacy_score};
use paidan_dedup::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (mut pairs, mut unlabelled, mut sample, mut refit) = (Vec::new(), None, None, false);
    let mut layouts = vec![(16, 8), (32, 4), (42, 3), (64, 2)];
    while let Some(a) = args.next() {
        match a.as_str() {
            "--refit" => refit = true,
            "--layouts" => {
                let spec = args.next().unwrap_or_default();
                layouts = spec
                    .split(',')
                    .map(|l| {
                        let (b, r) = l.split_once('x').ok_or("a layout is BANDSxROWS")?;
                        let (b, r): (usize, usize) = (b.trim().parse()?, r.trim().parse()?);
                        if b == 0 || r == 0 || b * r > sketch::NUM_PERM {
                            return Err(format!(
                                "layout {l}: bands x rows must be at least 1 x 1 and at most {} hashes",
                                sketch::NUM_PERM
                            )
                            .into());
                        }
                        Ok((b, r))
                    })
                    .collect::<Result<_, Box<dyn std::error::Error>>>()?;
            }
            "--unlabelled" => unlabelled = args.next(),
            "--sample" => sample = args.next(),
            _ => pairs.push(a),
        }
    }
    let mut rows = Vec::new();
    for p in &pairs {
        rows.extend(read_pairs(Path::new(p))?);
    }

    println!(
        "== LSH candidate recall, fingerprint-version-1 keys ({} pairs) ==",
        rows.len()
    );
    println!(
        "bands x rows  dup text-band  dup any-key  non-dup any-key  dup this build's keys  non-dup"
    );
    for r in band_recall(&rows, &layouts) {
        println!(
            "{:>5} x {:<4}  {:>3}/{} {:.3}  {:>3}/{} {:.3}  {:>3}/{}  {:>3}/{} {:.3}  {:>3}/{}",
            r.bands,
            r.rows,
            r.duplicate_text_hit,
            r.duplicate_pairs,
            r.duplicate_text_hit as f64 / r.duplicate_pairs as f64,
            r.duplicate_any_hit,
            r.duplicate_pairs,
            r.duplicate_any_hit as f64 / r.duplicate_pairs as f64,
            r.other_any_hit,
            r.other_pairs,
            r.duplicate_key_hit,
            r.duplicate_pairs,
            r.duplicate_key_hit as f64 / r.duplicate_pairs as f64,
            r.other_key_hit,
            r.other_pairs
        );
    }

    let Some(unlabelled) = unlabelled else {
        return Ok(());
    };
    let docs: Vec<serde_json::Value> = std::fs::read_to_string(unlabelled)?
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let s = |v: &serde_json::Value, k: &str| v[k].as_str().unwrap_or("").to_string();
    let _ = Fingerprint::new("预热", "预热", "");
    let start = Instant::now();
    let fps: Vec<Fingerprint> = docs
        .iter()
        .map(|v| Fingerprint::new(&s(v, "title"), &s(v, "text"), ""))
        .collect();
    let el = start.elapsed();
    let n = fps.len().max(1);
    let chars: usize = docs
        .iter()
        .map(|v| s(v, "title").chars().count() + s(v, "text").chars().count())
        .sum();
    println!(
        "\n== {} unlabelled messages, mean {} chars: {:.1} µs per fingerprint; mean {} bytes stored; mean {:.1} index keys ({} text bands + {:.1} place keys) ==",
        fps.len(),
        chars / n,
        el.as_secs_f64() * 1e6 / n as f64,
        fps.iter().map(|f| f.to_bytes().len()).sum::<usize>() / n,
        fps.iter().map(|f| f.bands().len()).sum::<usize>() as f64 / n as f64,
        sketch::NUM_BANDS,
        fps.iter()
            .map(|f| f.bands().len().saturating_sub(sketch::NUM_BANDS))
            .sum::<usize>() as f64
            / n as f64,
    );
    // What a lookup meets by chance: for each message, how many other messages of its source
    // share a key with it (every key, no cap), per layout. Scaled by the index's size, this is
    // the band candidates a lookup counts before its cut.
    println!("\n== other messages of the same source sharing a key, per message ==");
    println!("bands x rows  keys  text band: mean  p50  p99  max   any key: mean  p99");
    for &(b, r) in &layouts {
        let neighbours = |keys: &dyn Fn(usize) -> Vec<u64>| -> Vec<usize> {
            let mut by_key: HashMap<(String, u64), Vec<usize>> = HashMap::new();
            for (i, doc) in docs.iter().enumerate() {
                let mut ks = keys(i);
                ks.sort_unstable();
                ks.dedup();
                for k in ks {
                    by_key.entry((s(doc, "source"), k)).or_default().push(i);
                }
            }
            let mut seen = vec![usize::MAX; docs.len()];
            (0..docs.len())
                .map(|i| {
                    let mut ks = keys(i);
                    ks.sort_unstable();
                    ks.dedup();
                    let mut n = 0;
                    for k in ks {
                        for &j in &by_key[&(s(&docs[i], "source"), k)] {
                            if j != i && seen[j] != i {
                                seen[j] = i;
                                n += 1;
                            }
                        }
                    }
                    n
                })
                .collect()
        };
        let stats = |mut v: Vec<usize>| {
            v.sort_unstable();
            let mean = v.iter().sum::<usize>() as f64 / v.len().max(1) as f64;
            let q = |p: f64| v[((v.len() as f64 - 1.0) * p) as usize];
            (mean, q(0.5), q(0.99), *v.last().unwrap_or(&0))
        };
        let text = stats(neighbours(&|i| sketch::band_keys(fps[i].minhash(), b, r)));
        let any = stats(neighbours(&|i| keys_with_layout(&fps[i], b, r)));
        let keys = fps
            .iter()
            .map(|f| keys_with_layout(f, b, r).len())
            .sum::<usize>() as f64
            / n as f64;
        println!(
            "{b:>5} x {r:<4}  {keys:>4.1}  {:>16.1}  {:>3}  {:>3}  {:>3}  {:>13.1}  {:>3}",
            text.0, text.1, text.2, text.3, any.0, any.2
        );
    }

    let start = Instant::now();
    let mut m = 0usize;
    for i in 0..fps.len().min(2000) {
        let j = (i * 7919 + 13) % fps.len();
        std::hint::black_box(score(&fps[i], &fps[j], &MatchContext::default()));
        m += 1;
    }
    println!(
        "   score(): {:.2} µs per comparison",
        start.elapsed().as_secs_f64() * 1e6 / m.max(1) as f64
    );

    // Candidate pairs: messages sharing a key, per source (the jurisdiction stand-in), as the
    // store would return them (keys by value; keys shared by more than 200 messages skipped,
    // like dedup_mine).
    let candidates = |keys: &dyn Fn(usize) -> Vec<u64>| -> HashSet<(usize, usize)> {
        let mut by_key: HashMap<(String, u64), Vec<usize>> = HashMap::new();
        for (i, doc) in docs.iter().enumerate() {
            for k in keys(i) {
                by_key.entry((s(doc, "source"), k)).or_default().push(i);
            }
        }
        let mut out = HashSet::new();
        for ids in by_key.values() {
            if ids.len() > 200 {
                continue;
            }
            for (x, &i) in ids.iter().enumerate() {
                for &j in &ids[x + 1..] {
                    out.insert((i.min(j), i.max(j)));
                }
            }
        }
        out
    };
    let new_pairs = candidates(&|i| fps[i].bands().to_vec());
    let old_pairs = candidates(&|i| fps[i].keys_v1());
    println!(
        "\n== candidate pairs among the unlabelled messages: {} with this build's keys, {} with version-1 keys ({} in both) ==",
        new_pairs.len(),
        old_pairs.len(),
        new_pairs.intersection(&old_pairs).count()
    );
    let mut cfg = DedupConfig::default();
    let mut weights = Weights::default();
    if refit {
        // The recipe's fit on the labelled pairs given, instead of the shipped weights.
        let fit = fit_recipe(&rows, &cfg);
        weights = fit.weights;
        cfg.threshold = fit.threshold;
        println!(
            "   (refitted on the pairs given: threshold {:.2}, {weights:?})",
            fit.threshold
        );
    }
    let gap = |i: usize, j: usize| {
        let t = |v: &serde_json::Value| parse_time_ms(&s(v, "time"));
        match (t(&docs[i]), t(&docs[j])) {
            (Some(a), Some(b)) => (a - b).abs(),
            _ => 0,
        }
    };
    let jaccard = |i: usize, j: usize| {
        let body = |v: &serde_json::Value| {
            sketch::char_shingles(
                &paidan_text::normalize(&format!("{}。{}", s(v, "title"), s(v, "text"))),
                3,
            )
        };
        sketch::jaccard_sorted(&body(&docs[i]), &body(&docs[j]))
    };
    let mut low_text_new = Vec::new();
    let (mut dup_new, mut dup_old, mut low_new, mut low_old) = (0, 0, 0, 0);
    let mut sorted_new: Vec<&(usize, usize)> = new_pairs.iter().collect();
    sorted_new.sort_unstable();
    for &&(i, j) in &sorted_new {
        let ctx = MatchContext {
            gap_ms: gap(i, j),
            ..MatchContext::default()
        };
        let m = score_with(&fps[i], &fps[j], &ctx, &weights);
        if cfg.is_duplicate(&m) {
            dup_new += 1;
            if jaccard(i, j) < 0.3 {
                low_new += 1;
                low_text_new.push((i, j, m));
            }
        }
    }
    let mut sorted_old: Vec<&(usize, usize)> = old_pairs.iter().collect();
    sorted_old.sort_unstable();
    for &&(i, j) in &sorted_old {
        let ctx = MatchContext {
            gap_ms: gap(i, j),
            ..MatchContext::default()
        };
        let p = legacy_score(&fps[i], &fps[j], &ctx);
        if ctx.gap_ms <= cfg.window_ms && p >= LEGACY_THRESHOLD {
            dup_old += 1;
            low_old += usize::from(jaccard(i, j) < 0.3);
        }
    }
    println!(
        "   called duplicates: this decision {dup_new} ({low_new} with trigram Jaccard < 0.3); the old decision on version-1 candidates {dup_old} ({low_old} < 0.3)"
    );
    if let Some(path) = sample {
        // Every 1-in-k of the low-text duplicates, deterministic, 40 at most, for reading.
        let step = (low_text_new.len() / 40).max(1);
        let mut out = String::new();
        for (i, j, m) in low_text_new.iter().step_by(step).take(40) {
            let ents = |f: &Fingerprint| {
                f.entities()
                    .iter()
                    .map(|e| format!("{:?}:{}", e.kind, e.name))
                    .collect::<Vec<_>>()
            };
            out.push_str(
                &serde_json::json!({
                    "a": s(&docs[*i], "id"), "b": s(&docs[*j], "id"), "score": m.score,
                    "features": Features::of(m, Weights::default().age_grace_days),
                    "a_title": s(&docs[*i], "title"), "b_title": s(&docs[*j], "title"),
                    "a_text": s(&docs[*i], "text"), "b_text": s(&docs[*j], "text"),
                    "a_ents": ents(&fps[*i]), "b_ents": ents(&fps[*j]),
                })
                .to_string(),
            );
            out.push('\n');
        }
        std::fs::write(path, out)?;
    }
    Ok(())
}
