//! `paidan eval-dedup`: scores the service's own duplicate decision on labelled pairs.

use std::path::PathBuf;

use anyhow::Context;
use paidan_dedup::{DEFAULT_WINDOW_DAYS, DedupConfig, eval_pairs, read_pairs, render_text};

#[derive(clap::Args, Debug)]
pub struct EvalDedupArgs {
    /// JSONL rows `{"a": {"title","text","time"}, "b": {...}, "duplicate": bool}`.
    #[arg(long)]
    pub pairs: PathBuf,
    /// Write `{"precision","recall","f1","macro_f1","threshold","window_days","n","sweep"}` here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Decision threshold [default: the service's].
    #[arg(long)]
    pub threshold: Option<f32>,
    /// Hard time window in days between the two reports of a pair; 0 = no window.
    #[arg(long, default_value_t = DEFAULT_WINDOW_DAYS as u32)]
    pub window_days: u32,
}

pub fn run(a: EvalDedupArgs) -> anyhow::Result<()> {
    let rows = read_pairs(&a.pairs)
        .with_context(|| format!("cannot read pairs from {}", a.pairs.display()))?;
    let mut cfg = DedupConfig::default().with_window_days(a.window_days);
    if let Some(t) = a.threshold {
        cfg.threshold = t;
    }
    let eval = eval_pairs(&rows, &cfg);
    print!("{}", render_text(&eval));
    if let Some(path) = a.json {
        std::fs::write(&path, serde_json::to_string_pretty(&eval)? + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
