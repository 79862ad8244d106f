//! Running a paidan classifier over eval rows, and the library entry points the CLI calls.

use std::collections::BTreeMap;
use std::path::Path;

use paidan_model::{Classifier, Scored, Triage, TriageInput};

use crate::compare::{Comparison, compare};
use crate::error::{EvalError, Result};
use crate::html::{HtmlOptions, write_html};
use crate::metrics::{self, HeadPrediction};
use crate::report::{
    Evaluation, Head, HeadOutput, RowPrediction, evaluate_predictions, head_predictions,
    write_predictions_file, write_report_json,
};
use crate::rows::{EvalRow, read_rows};

/// Rows per `triage_batch` call.
pub const BATCH: usize = 256;

/// Progress callback: `(rows done, rows total)`. The CLI binds it to a progress bar.
pub type Progress<'a> = &'a mut dyn FnMut(usize, usize);

fn head_output(s: &Scored) -> Option<HeadOutput> {
    (!s.code.is_empty()).then(|| HeadOutput::new(&s.code, s.confidence))
}

/// The eval record of one triage result.
pub fn row_prediction(t: &Triage) -> RowPrediction {
    RowPrediction {
        category: head_output(&t.category),
        department: head_output(&t.department),
        needs_review: t.needs_review,
    }
}

/// Runs the classifier over all rows in batches of [`BATCH`], reporting progress after each batch.
pub fn predict(
    classifier: &Classifier,
    rows: &[EvalRow],
    progress: Progress<'_>,
) -> Result<Vec<RowPrediction>> {
    let mut preds = Vec::with_capacity(rows.len());
    progress(0, rows.len());
    for chunk in rows.chunks(BATCH) {
        let inputs: Vec<TriageInput<'_>> = chunk
            .iter()
            .map(|r| TriageInput {
                title: r.title.as_deref().unwrap_or(""),
                text: &r.text,
                jurisdiction: r.jurisdiction.as_deref().unwrap_or(""),
            })
            .collect();
        let out = classifier.triage_batch(&inputs)?;
        if out.len() != chunk.len() {
            return Err(EvalError::Mismatch(format!(
                "the model returned {} results for {} inputs",
                out.len(),
                chunk.len()
            )));
        }
        preds.extend(out.iter().map(row_prediction));
        progress(preds.len(), rows.len());
    }
    Ok(preds)
}

/// HTML options naming the classifier's category and department codes from its taxonomy.
pub fn html_options(classifier: &Classifier, data_name: &str) -> HtmlOptions {
    let tax = classifier.taxonomy();
    let category_names: BTreeMap<String, String> = tax
        .categories()
        .iter()
        .filter(|c| c.name != c.code)
        .map(|c| (c.code.clone(), c.name.clone()))
        .collect();
    let department_names: BTreeMap<String, String> = tax
        .departments()
        .iter()
        .filter(|d| d.name != d.code)
        .map(|d| (d.code.clone(), d.name.clone()))
        .collect();
    HtmlOptions {
        data_name: data_name.to_owned(),
        category_names,
        department_names,
        ..HtmlOptions::default()
    }
}

/// Evaluates a classifier on rows.
pub fn evaluate(
    classifier: &Classifier,
    rows: Vec<EvalRow>,
    progress: Progress<'_>,
) -> Result<Evaluation> {
    let preds = predict(classifier, &rows, progress)?;
    evaluate_predictions(rows, preds, classifier.version())
}

/// Category macro-F1 of `classifier` on `rows` — the score the service's ReloadModel gate compares.
pub fn category_macro_f1(classifier: &Classifier, rows: &[EvalRow]) -> Result<f64> {
    let preds = predict(classifier, rows, &mut |_, _| {})?;
    let scored: Vec<HeadPrediction> = head_predictions(rows, &preds, Head::Category)
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    if scored.is_empty() {
        return Err(EvalError::Empty(
            "no gate row has a category label the model predicts".into(),
        ));
    }
    Ok(metrics::macro_f1(&metrics::per_class(&scored)))
}

/// Where `run_eval` writes its outputs; every one is optional.
#[derive(Debug, Clone, Copy, Default)]
pub struct EvalOutputs<'a> {
    /// The JSON report.
    pub json: Option<&'a Path>,
    /// The self-contained HTML report.
    pub html: Option<&'a Path>,
    /// One JSON line per row with the model's answer.
    pub predictions: Option<&'a Path>,
}

/// `paidan eval`: loads the model and the rows, evaluates, and writes the requested outputs.
pub fn run_eval(
    model_dir: &Path,
    data: &Path,
    outputs: EvalOutputs<'_>,
    progress: Progress<'_>,
) -> Result<Evaluation> {
    let classifier = Classifier::load(model_dir)?;
    let rows = read_rows(data)?;
    let preds = predict(&classifier, &rows, progress)?;
    let eval = evaluate_predictions(rows, preds, classifier.version())?;
    if let Some(p) = outputs.json {
        write_report_json(p, &eval.report)?;
    }
    if let Some(p) = outputs.predictions {
        write_predictions_file(p, &eval.rows, &eval.predictions)?;
    }
    if let Some(p) = outputs.html {
        write_html(
            p,
            &eval,
            &html_options(&classifier, &data.display().to_string()),
        )?;
    }
    Ok(eval)
}

/// `paidan compare`: evaluates two models on the same rows and compares them (A = `model_a`).
pub fn run_compare(
    model_a: &Path,
    model_b: &Path,
    data: &Path,
    progress: Progress<'_>,
) -> Result<Comparison> {
    let a = Classifier::load(model_a)?;
    let b = Classifier::load(model_b)?;
    let rows = read_rows(data)?;
    let total = rows.len() * 2;
    let pa = predict(&a, &rows, &mut |done, _| progress(done, total))?;
    let pb = predict(&b, &rows, &mut |done, _| progress(rows.len() + done, total))?;
    let ea = evaluate_predictions(rows.clone(), pa, a.version())?;
    let eb = evaluate_predictions(rows, pb, b.version())?;
    compare(&ea, &eb)
}
