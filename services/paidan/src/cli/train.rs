//! `paidan train`: a model artifact from labelled JSONL, with a progress bar.

use std::path::PathBuf;

use paidan_model::{HeadMetrics, TrainOptions, TrainPhase, train};

#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// Training JSONL: `text` (required), `title`, `category` and/or `department`, `sure`, `id`.
    #[arg(long)]
    pub data: PathBuf,
    /// Dev JSONL for calibration and review thresholds [default: 10% of --data held out by seed].
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
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Loss weight of rows labelled `sure: false`.
    #[arg(long)]
    pub unsure_weight: Option<f32>,
    /// Version prefix [default: the taxonomy's name or the output directory's name].
    #[arg(long)]
    pub name: Option<String>,
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
    let mut opts = TrainOptions {
        data: a.data,
        dev: a.dev,
        out: a.out,
        taxonomy: a.taxonomy,
        seed: a.seed,
        name: a.name,
        ..TrainOptions::default()
    };
    if let Some(e) = a.epochs {
        opts.epochs = e;
    }
    if let Some(w) = a.unsure_weight {
        opts.unsure_weight = w;
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
    Ok(())
}
