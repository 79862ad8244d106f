//! Candidate pairs among unlabelled messages (those sharing an index key, as the store finds
//! them), scored by the decision, as JSONL — for reading the decision's behaviour on real
//! repeat complaints outside the labelled pairs. Messages whose id appears in an excluded pairs
//! file (pass dedup_test.jsonl) are skipped, so the test pairs stay unseen.
//!
//! cargo run -p paidan-dedup --example dedup_mine -- /work/shared/data/unlabelled.jsonl eval/sets/dedup_test.jsonl > /tmp/mined.jsonl

use std::collections::{HashMap, HashSet};

use paidan_dedup::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut excluded: HashSet<String> = HashSet::new();
    for path in &args[1..] {
        for line in std::fs::read_to_string(path)?.lines() {
            let v: serde_json::Value = serde_json::from_str(line)?;
            for side in ["a", "b"] {
                if let Some(id) = v[side]["id"].as_str() {
                    excluded.insert(id.to_string());
                }
            }
        }
    }
    let docs: Vec<serde_json::Value> = std::fs::read_to_string(&args[0])?
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| !excluded.contains(v["id"].as_str().unwrap_or("")))
        .collect();
    let s = |v: &serde_json::Value, k: &str| v[k].as_str().unwrap_or("").to_string();
    let fps: Vec<Fingerprint> = docs
        .iter()
        .map(|v| Fingerprint::new(&s(v, "title"), &s(v, "text"), ""))
        .collect();
    let mut by_key: HashMap<(usize, u64), Vec<usize>> = HashMap::new();
    for (i, f) in fps.iter().enumerate() {
        for (pos, k) in f.bands().iter().enumerate() {
            // Text bands are positional; entity keys (after the bands) are not.
            let pos = if pos < sketch::NUM_BANDS {
                pos
            } else {
                usize::MAX
            };
            by_key.entry((pos, *k)).or_default().push(i);
        }
    }
    let mut seen: HashSet<(usize, usize)> = HashSet::new();
    for ids in by_key.values() {
        if ids.len() > 200 {
            continue;
        }
        for (x, &i) in ids.iter().enumerate() {
            for &j in &ids[x + 1..] {
                if !seen.insert((i, j)) {
                    continue;
                }
                let time = |v: &serde_json::Value| parse_time_ms(&s(v, "time"));
                let gap_ms = match (time(&docs[i]), time(&docs[j])) {
                    (Some(a), Some(b)) => (a - b).abs(),
                    _ => 0,
                };
                let ctx = MatchContext {
                    gap_ms,
                    ..MatchContext::default()
                };
                let m = score(&fps[i], &fps[j], &ctx);
                let ents = |f: &Fingerprint| {
                    f.entities()
                        .iter()
                        .map(|e| format!("{:?}:{}", e.kind, e.name))
                        .collect::<Vec<_>>()
                };
                println!(
                    "{}",
                    serde_json::json!({
                        "a": s(&docs[i], "id"), "b": s(&docs[j], "id"),
                        "gap_days": gap_ms as f64 / DAY_MS as f64,
                        "score": m.score, "text": m.text, "containment": m.containment, "title": m.title,
                        "shared_specific": m.entities.shared_specific, "shared_general": m.entities.shared_general,
                        "conflict_specific": m.entities.conflict_specific, "conflict_general": m.entities.conflict_general,
                        "a_title": s(&docs[i], "title"), "b_title": s(&docs[j], "title"),
                        "a_text": s(&docs[i], "text"), "b_text": s(&docs[j], "text"),
                        "a_ents": ents(&fps[i]), "b_ents": ents(&fps[j]),
                    })
                );
            }
        }
    }
    Ok(())
}
