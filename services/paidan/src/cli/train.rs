//! `paidan train`: a model artifact from labelled JSONL, with a progress bar.

use std::path::PathBuf;

use anyhow::Context;
use paidan_model::{HeadMetrics, TrainOptions, TrainPhase, train};

#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// Training JSONL: `text` (required), `title`, `category` and/or `department`, `sure`, `id`;
    /// repeatable (the files are trained on together).
    #[arg(long, required = true)]
    pub data: Vec<PathBuf>,
    /// Dev JSONL for calibration and review thresholds [default: linear recipe: out-of-fold
    /// predictions of grouped CV over --data; embedding bag: 10% of --data held out by seed].
    #[arg(long)]
    pub dev: Option<PathBuf>,
    /// Output model directory.
    #[arg(long)]
    pub out: PathBuf,
    /// Taxonomy TOML [default: label sets from the data].
    #[arg(long)]
    pub taxonomy: Option<PathBuf>,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// `linear` (tf-idf n-grams + linear heads, the default) or `bag` (the candle embedding bag).
    #[arg(long, default_value = "linear")]
    pub recipe: String,
    /// Linear recipe without --dev: grouped folds whose out-of-fold predictions calibrate.
    #[arg(long, default_value_t = 5)]
    pub folds: usize,
    /// Accuracy the auto-routed cases must reach (the review operating point).
    #[arg(long, default_value_t = 0.95)]
    pub target_accuracy: f64,
    /// Version prefix [default: the taxonomy's name or the output directory's name].
    #[arg(long)]
    pub name: Option<String>,
    #[command(flatten)]
    pub recipe_args: super::cv::RecipeArgs,
}

fn head_line(name: &str, m: &Option<HeadMetrics>) -> String {
    match m {
        None => format!("{name:<11} (no labels)"),
        Some(m) => format!(
            "{name:<11} acc {:.4}  macro-F1 {:.4}  sure-acc {:.4}  ECE {:.4} (uncalibrated {:.4}, T={:.2})  review {:.1}% → acc {:.4} on the rest",
            m.accuracy,
            m.macro_f1,
            m.accuracy_sure,
            m.ece,
            m.ece_uncalibrated,
            m.temperature,
            m.review_rate * 100.0,
            m.accepted_accuracy
        ),
    }
}

pub fn run(a: TrainArgs) -> anyhow::Result<()> {
    let mut data = a.data.into_iter();
    let first = data.next().context("--data is required")?;
    let r = &a.recipe_args;
    let mut opts = TrainOptions {
        data: first,
        more_data: data.collect(),
        dev: a.dev,
        out: a.out,
        taxonomy: a.taxonomy,
        seed: a.seed,
        name: a.name,
        unsure_weight: r.unsure_weight,
        phrase_weight: r.phrase_weight,
        aux: r.aux.iter().map(|p| (p.clone(), r.aux_weight)).collect(),
        cv_folds: a.folds,
        target_accuracy: a.target_accuracy,
        ..TrainOptions::default()
    };
    match a.recipe.as_str() {
        "linear" => opts.recipe = Some(r.recipe()),
        "bag" => {
            opts.recipe = None;
            opts.target_accuracy = 0.9;
            if let Some(e) = r.epochs {
                opts.epochs = e;
            }
        }
        other => anyhow::bail!("unknown --recipe {other:?}: linear or bag"),
    }
    let bar = super::progress::bar(1, "train");
    let mut phase = None;
    let report = train(&opts, &mut |p| {
        if phase != Some(p.phase) {
            phase = Some(p.phase);
            bar.set_prefix(format!("{:?}", p.phase).to_lowercase());
            bar.reset();
        }
        bar.set_length(p.total.max(1));
        bar.set_position(p.done);
        bar.set_message(p.message);
        if p.phase == TrainPhase::Done {
            bar.finish_and_clear();
        }
    })?;
    bar.finish_and_clear();
    println!(
        "trained {} in {:.1}s on {} rows (dev {} rows) → {}",
        report.version,
        report.seconds,
        report.train_rows,
        report.dev_rows,
        report.out.display()
    );
    println!("{}", head_line("category", &report.dev.category));
    println!("{}", head_line("department", &report.dev.department));
    if let Some(c) = &report.dev.automation {
        println!(
            "auto-routed at ≥{:.0}% right on both heads: {:.1}% of cases (joint confidence ≥ {:.3}; {:.4} right)",
            c.target * 100.0,
            c.coverage * 100.0,
            c.threshold,
            c.accuracy
        );
    }
    Ok(())
}
