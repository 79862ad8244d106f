//! Dump the decision's evidence per labelled pair as JSONL, for error analysis. The shipped
//! weights are fitted on all labelled pairs (`paidan eval-dedup --fit`), so reading errors of any
//! pair file informs the next change; say so next to the cross-validation figure it moves.
//!
//! cargo run -p paidan-dedup --example dedup_features -- eval/sets/dedup_more.jsonl > /tmp/features.jsonl

use std::path::Path;

use paidan_dedup::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: dedup_features PAIRS.jsonl")?;
    for r in read_pairs(Path::new(&path))? {
        let time = |s: &PairSide| s.time.as_deref().and_then(parse_time_ms);
        let gap_ms = match (time(&r.a), time(&r.b)) {
            (Some(x), Some(y)) => (x - y).abs(),
            _ => 0,
        };
        let fa = Fingerprint::new(&r.a.title, &r.a.text, r.a.address.as_deref().unwrap_or(""));
        let fb = Fingerprint::new(&r.b.title, &r.b.text, r.b.address.as_deref().unwrap_or(""));
        let ctx = MatchContext {
            gap_ms,
            ..MatchContext::default()
        };
        let s = score(&fa, &fb, &ctx);
        let ents = |f: &Fingerprint| {
            f.entities()
                .iter()
                .map(|e| format!("{:?}:{}", e.kind, e.name))
                .collect::<Vec<_>>()
        };
        println!(
            "{}",
            serde_json::json!({
                "duplicate": r.duplicate,
                "gap_days": gap_ms as f64 / DAY_MS as f64,
                "score": s.score, "text": s.text, "containment": s.containment, "title": s.title,
                "terms": s.terms, "words": s.words, "place_conflict": place_conflict(&s),
                "features": Features::of(&s, Weights::default().age_grace_days),
                "shared_specific": s.entities.shared_specific, "shared_general": s.entities.shared_general,
                "conflict_specific": s.entities.conflict_specific, "conflict_general": s.entities.conflict_general,
                "a_title": r.a.title, "b_title": r.b.title,
                "a_text": r.a.text, "b_text": r.b.text,
                "a_ents": ents(&fa), "b_ents": ents(&fb),
            })
        );
    }
    Ok(())
}
