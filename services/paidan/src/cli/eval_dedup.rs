//! `paidan eval-dedup`: scores the service's own duplicate decision on labelled pairs; with
//! `--cv K`, grouped K-fold cross-validation of the decision's recipe against the old decision
//! and a trigram-Jaccard baseline on the same folds; with `--fit`, the recipe's fit on all pairs
//! (the shipped weights).

use std::path::PathBuf;

use anyhow::Context;
use paidan_dedup::{
    DEFAULT_WINDOW_DAYS, DedupConfig, PairRow, cross_validate, eval_pairs, fit_recipe, read_pairs,
    render_cv, render_fit, render_text,
};

#[derive(clap::Args, Debug)]
pub struct EvalDedupArgs {
    /// JSONL rows `{"a": {"id","title","text","time"}, "b": {...}, "duplicate": bool, "sure": bool}`;
    /// several files are read as one set (`--pairs a.jsonl b.jsonl` or `--pairs` repeated).
    #[arg(long, required = true, num_args = 1..)]
    pub pairs: Vec<PathBuf>,
    /// Write the figures here as JSON: `{"precision","recall","f1","macro_f1","threshold",
    /// "window_days","n","sweep"}`; with `--cv`, the cross-validation report; with `--fit`, the fit.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Decision threshold [default: the service's].
    #[arg(long)]
    pub threshold: Option<f32>,
    /// Hard time window in days between the two reports of a pair; 0 = no window.
    #[arg(long, default_value_t = DEFAULT_WINDOW_DAYS as u32)]
    pub window_days: u32,
    /// Grouped K-fold cross-validation: pairs sharing a message id stay in one fold; the
    /// decision's weights and threshold are refitted on the training folds of each fold.
    #[arg(long, value_name = "K", conflicts_with_all = ["fit", "threshold"])]
    pub cv: Option<usize>,
    /// Fit the decision on all pairs with the recipe the cross-validation measures, and print
    /// the weights and threshold to ship.
    #[arg(long, conflicts_with = "threshold")]
    pub fit: bool,
}

pub fn run(a: EvalDedupArgs) -> anyhow::Result<()> {
    let mut rows: Vec<PairRow> = Vec::new();
    for path in &a.pairs {
        rows.extend(
            read_pairs(path)
                .with_context(|| format!("cannot read pairs from {}", path.display()))?,
        );
    }
    let mut cfg = DedupConfig::default().with_window_days(a.window_days);
    if let Some(t) = a.threshold {
        cfg.threshold = t;
    }
    let json = if let Some(k) = a.cv {
        anyhow::ensure!(
            k >= 2 && k <= rows.len(),
            "--cv needs 2..={} folds",
            rows.len()
        );
        let report = cross_validate(&rows, k, &cfg);
        print!("{}", render_cv(&report));
        serde_json::to_string_pretty(&report)?
    } else if a.fit {
        let fit = fit_recipe(&rows, &cfg);
        print!("{}", render_fit(&fit));
        serde_json::to_string_pretty(&fit)?
    } else {
        let eval = eval_pairs(&rows, &cfg);
        print!("{}", render_text(&eval));
        serde_json::to_string_pretty(&eval)?
    };
    if let Some(path) = a.json {
        std::fs::write(&path, json + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
