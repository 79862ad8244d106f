//! Measure the dedup methods on the tune/test pairs, fit the decision weights on tune, and
//! report LSH candidate recall and fingerprint speed.
//!
//! cargo run -p paidan-dedup --example dedup_measure -- eval/sets/dedup_tune.jsonl eval/sets/dedup_test.jsonl [/work/shared/data/unlabelled.jsonl]

use std::path::Path;
use std::time::Instant;

use paidan_dedup::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let tune = read_pairs(Path::new(&args[0]))?;
    let test = read_pairs(Path::new(&args[1]))?;

    let fitted = fit_weights(&tune);
    println!("weights fitted on tune: {fitted:?}");
    println!("weights in use:         {:?}\n", Weights::default());

    if std::env::var_os("DEDUP_SHOW_TUNE_ERRORS").is_some() {
        let cfg = DedupConfig {
            window_ms: i64::MAX,
            ..DedupConfig::default()
        };
        for r in &tune {
            let (a, b) = (
                Fingerprint::new(&r.a.title, &r.a.text, ""),
                Fingerprint::new(&r.b.title, &r.b.text, ""),
            );
            let s = score(&a, &b, &MatchContext::default());
            if cfg.is_duplicate(&s) != r.duplicate || (s.score - cfg.threshold).abs() < 0.15 {
                println!(
                    "gold {} score {:.2} text {:.2} cont {:.2} title {:.2} {:?}\n  A {} | {}\n  B {} | {}\n  A ents {:?}\n  B ents {:?}",
                    r.duplicate,
                    s.score,
                    s.text,
                    s.containment,
                    s.title,
                    s.entities,
                    r.a.title,
                    r.a.text.chars().take(80).collect::<String>(),
                    r.b.title,
                    r.b.text.chars().take(80).collect::<String>(),
                    a.entities()
                        .iter()
                        .map(|e| format!("{:?}:{}", e.kind, e.name))
                        .collect::<Vec<_>>(),
                    b.entities()
                        .iter()
                        .map(|e| format!("{:?}:{}", e.kind, e.name))
                        .collect::<Vec<_>>()
                );
            }
        }
        return Ok(());
    }
    let no_window = DedupConfig {
        window_ms: i64::MAX,
        ..DedupConfig::default()
    };
    let unwindowed = compare_methods(&tune, &test, &no_window);
    let windowed = compare_methods(&tune, &test, &DedupConfig::default());
    println!("== methods, no time window (text decision alone) ==");
    print!("{}", render_comparison(&unwindowed));
    println!(
        "\n== methods, the default window ({} days, DedupConfig::default) ==",
        DedupConfig::default().window_days()
    );
    print!("{}", render_comparison(&windowed));
    // For eval/scores.sh: both comparisons as JSON.
    if let Some(path) = std::env::var_os("DEDUP_METHODS_JSON") {
        let json = serde_json::json!({
            "tune": &args[0],
            "test": &args[1],
            "runs": [
                {"window_days": 0, "methods": unwindowed},
                {"window_days": DedupConfig::default().window_days(), "methods": windowed},
            ],
        });
        std::fs::write(path, serde_json::to_string_pretty(&json)? + "\n")?;
    }

    println!("\n== decision on tune (no window) ==");
    print!("{}", render_text(&eval_pairs(&tune, &no_window)));

    println!("\n== LSH candidate recall (tune + test) ==");
    let all: Vec<PairRow> = tune.iter().chain(&test).cloned().collect();
    println!("bands x rows  dup text-band  dup any-key  non-dup any-key");
    for r in band_recall(&all, &[(16, 8), (32, 4), (42, 3), (64, 2)]) {
        println!(
            "{:>5} x {:<4}  {:>3}/{} {:.3}  {:>3}/{} {:.3}  {:>3}/{}",
            r.bands,
            r.rows,
            r.duplicate_text_hit,
            r.duplicate_pairs,
            r.duplicate_text_hit as f64 / r.duplicate_pairs as f64,
            r.duplicate_any_hit,
            r.duplicate_pairs,
            r.duplicate_any_hit as f64 / r.duplicate_pairs as f64,
            r.other_any_hit,
            r.other_pairs
        );
    }

    if let Some(unlabelled) = args.get(2) {
        let text = std::fs::read_to_string(unlabelled)?;
        let docs: Vec<(String, String)> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .map(|v| {
                (
                    v["title"].as_str().unwrap_or("").to_string(),
                    v["text"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        // Warm up the segmenter, then time fingerprinting.
        let _ = Fingerprint::new("预热", "预热", "");
        let start = Instant::now();
        let fps: Vec<Fingerprint> = docs
            .iter()
            .map(|(t, x)| Fingerprint::new(t, x, ""))
            .collect();
        let el = start.elapsed();
        let chars: usize = docs
            .iter()
            .map(|(t, x)| t.chars().count() + x.chars().count())
            .sum();
        println!(
            "\n== speed: {} unlabelled messages, mean {} chars: {:.1} µs per fingerprint; mean {} bytes stored ==",
            docs.len(),
            chars / docs.len().max(1),
            el.as_secs_f64() * 1e6 / docs.len().max(1) as f64,
            fps.iter().map(|f| f.to_bytes().len()).sum::<usize>() / fps.len().max(1)
        );
        let short: Vec<&(String, String)> = docs
            .iter()
            .filter(|(t, x)| (150..=250).contains(&(t.chars().count() + x.chars().count())))
            .collect();
        let start = Instant::now();
        for (t, x) in &short {
            std::hint::black_box(Fingerprint::new(t, x, ""));
        }
        println!(
            "   150-250-char messages ({}): {:.1} µs per fingerprint",
            short.len(),
            start.elapsed().as_secs_f64() * 1e6 / short.len().max(1) as f64
        );
        // Where the time goes (same 150-250-char messages).
        let per = |el: std::time::Duration| el.as_secs_f64() * 1e6 / short.len().max(1) as f64;
        let normed: Vec<String> = short
            .iter()
            .map(|(t, x)| paidan_text::normalize(&format!("{t}。{x}")))
            .collect();
        let start = Instant::now();
        for (t, x) in &short {
            std::hint::black_box(paidan_text::normalize(&format!("{t}。{x}")));
        }
        println!("   of which normalize: {:.1} µs", per(start.elapsed()));
        let start = Instant::now();
        for t in &normed {
            std::hint::black_box(sketch::minhash(&sketch::char_shingles(t, 3)));
        }
        println!(
            "   of which shingles + minhash: {:.1} µs",
            per(start.elapsed())
        );
        let start = Instant::now();
        for t in &normed {
            std::hint::black_box(paidan_text::Segmenter::global().cut(t));
        }
        println!("   of which jieba cut: {:.1} µs", per(start.elapsed()));
        let start = Instant::now();
        for t in &normed {
            std::hint::black_box(entity::extract(t));
        }
        println!(
            "   of which entity extraction: {:.1} µs",
            per(start.elapsed())
        );
        let start = Instant::now();
        let mut n = 0usize;
        for i in 0..fps.len().min(2000) {
            let j = (i * 7919 + 13) % fps.len();
            std::hint::black_box(score(&fps[i], &fps[j], &MatchContext::default()));
            n += 1;
        }
        println!(
            "   score(): {:.2} µs per comparison",
            start.elapsed().as_secs_f64() * 1e6 / n as f64
        );
        // Random-pair collision rate: how many index keys unrelated messages share.
        for (bands, rows) in [(16, 8), (32, 4), (42, 3), (64, 2)] {
            let (mut text_hits, mut any_hits, mut pairs) = (0usize, 0usize, 0usize);
            for i in 0..fps.len().min(3000) {
                let j = (i * 104_729 + 7) % fps.len();
                if i == j {
                    continue;
                }
                let (t, a) = shares_key(&fps[i], &fps[j], bands, rows);
                text_hits += usize::from(t);
                any_hits += usize::from(a);
                pairs += 1;
            }
            println!(
                "   random pairs sharing a key, {bands}x{rows}: text band {:.4}, any key {:.4} (of {pairs})",
                text_hits as f64 / pairs as f64,
                any_hits as f64 / pairs as f64
            );
        }
    }
    Ok(())
}
