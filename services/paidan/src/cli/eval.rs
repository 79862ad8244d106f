//! `paidan eval` and `paidan compare`: the analysts' measurements, backed by `paidan-eval`.

use std::path::PathBuf;

use paidan_eval::{EvalOutputs, render_comparison_text, render_report_text, run_compare, run_eval};

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// Model artifact directory.
    #[arg(long)]
    pub model: PathBuf,
    /// Labelled JSONL (`text`, optional `title`, `category` and/or `department`, optional `id`).
    #[arg(long)]
    pub data: PathBuf,
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// One self-contained HTML report with plots.
    #[arg(long)]
    pub html: Option<PathBuf>,
    /// One JSON line per row with the model's answer.
    #[arg(long)]
    pub predictions: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct CompareArgs {
    /// Two model directories: A (e.g. the serving one), then B (the candidate).
    #[arg(long = "model", num_args = 1, required = true)]
    pub models: Vec<PathBuf>,
    #[arg(long)]
    pub data: PathBuf,
    /// Also write the comparison as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

pub fn run(a: EvalArgs) -> anyhow::Result<()> {
    let bar = super::progress::bar(1, "eval");
    let eval = run_eval(
        &a.model,
        &a.data,
        EvalOutputs {
            json: a.json.as_deref(),
            html: a.html.as_deref(),
            predictions: a.predictions.as_deref(),
        },
        &mut |done, total| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        },
    )?;
    bar.finish_and_clear();
    print!("{}", render_report_text(&eval.report));
    Ok(())
}

pub fn run_cmp(a: CompareArgs) -> anyhow::Result<()> {
    let [model_a, model_b] = a.models.as_slice() else {
        anyhow::bail!("give exactly two models: --model A --model B");
    };
    let bar = super::progress::bar(1, "compare");
    let cmp = run_compare(model_a, model_b, &a.data, &mut |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })?;
    bar.finish_and_clear();
    print!("{}", render_comparison_text(&cmp));
    if let Some(p) = a.json {
        std::fs::write(&p, serde_json::to_string_pretty(&cmp)? + "\n")?;
    }
    Ok(())
}
