//! paidan-eval: evaluation harness for paidan classifiers.
//!
//! * [`rows`] — JSONL eval rows (same format as training data).
//! * [`metrics`] — accuracy, macro/weighted F1, ECE, per-class P/R/F1, confusion, coverage curve, on plain
//!   prediction records (independent of any model).
//! * [`report`] — joins rows and per-row predictions into the JSON eval report, writes `--predictions`.
//! * [`compare`] — two models side by side with McNemar's paired test.
//! * [`html`] — one self-contained HTML report with inline SVG plots.
//! * [`text`] — plain-text renderers for the terminal.
//! * [`model`] — runs a `paidan_model::Classifier` over rows; `run_eval` / `run_compare` for the CLI and
//!   `category_macro_f1` for the ReloadModel gate.

pub mod compare;
pub mod error;
pub mod html;
pub mod metrics;
pub mod model;
pub mod report;
pub mod rows;
pub mod text;

pub use compare::{
    Comparison, McNemar, McNemarMethod, MeasureDiff, compare, mcnemar, render_comparison_text,
};
pub use error::{EvalError, Result};
pub use html::{HtmlOptions, render_html, write_html};
pub use metrics::{ClassMetrics, HeadPrediction, HeadReport};
pub use model::{
    BATCH, EvalOutputs, Progress, category_macro_f1, evaluate, html_options, predict,
    row_prediction, run_compare, run_eval,
};
pub use report::{
    EvalReport, Evaluation, Head, HeadOutput, PredictionRecord, ReviewStats, RowPrediction,
    evaluate_predictions, write_predictions, write_predictions_file, write_report_json,
};
pub use rows::{EvalRow, parse_rows, read_rows};
pub use text::render_report_text;
