//! Grouped cross-validation of the decision and the fit of the shipped weights, without the
//! `paidan` binary (the same library calls as `paidan eval-dedup --cv`/`--fit`):
//!
//! cargo run --release -p paidan-dedup --example dedup_cv -- eval/sets/dedup_tune.jsonl eval/sets/dedup_test.jsonl eval/sets/dedup_more.jsonl

use std::path::Path;

use paidan_dedup::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut rows = Vec::new();
    for p in std::env::args().skip(1) {
        rows.extend(read_pairs(Path::new(&p))?);
    }
    let cfg = DedupConfig::default();
    let cv = cross_validate(&rows, 5, &cfg);
    print!("{}", render_cv(&cv));
    let fit = fit_recipe(&rows, &cfg);
    println!("\nfit on all {} pairs:\n{}", rows.len(), render_fit(&fit));
    Ok(())
}
