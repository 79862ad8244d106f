//! Joining eval rows with per-row predictions into the eval report (JSON) and its plot details.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{EvalError, Result};
use crate::metrics::{
    self, CoveragePoint, ECE_BINS, HeadPrediction, HeadReport, ReliabilityBin, coverage_curve,
    head_report, reliability_bins,
};
use crate::rows::EvalRow;

/// Top-1 output of one head for one row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeadOutput {
    /// Predicted label code.
    pub label: String,
    /// Calibrated confidence of that label.
    pub confidence: f32,
}

impl HeadOutput {
    /// Convenience constructor.
    pub fn new(label: &str, confidence: f32) -> Self {
        HeadOutput {
            label: label.to_owned(),
            confidence,
        }
    }
}

/// What a model said about one row. A head the model does not have (e.g. department on the 7-class model) is `None`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowPrediction {
    /// Category head output.
    pub category: Option<HeadOutput>,
    /// Department head output.
    pub department: Option<HeadOutput>,
    /// The model asked for human review.
    pub needs_review: bool,
}

/// Which head of the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Head {
    /// Category (problem type).
    Category,
    /// Responsible department.
    Department,
}

impl Head {
    /// `category` / `department`.
    pub fn as_str(self) -> &'static str {
        match self {
            Head::Category => "category",
            Head::Department => "department",
        }
    }

    /// The gold label of a row for this head.
    pub fn gold(self, row: &EvalRow) -> Option<&str> {
        match self {
            Head::Category => row.category.as_deref(),
            Head::Department => row.department.as_deref(),
        }
    }

    /// The output of a prediction for this head.
    pub fn output(self, pred: &RowPrediction) -> Option<&HeadOutput> {
        match self {
            Head::Category => pred.category.as_ref(),
            Head::Department => pred.department.as_ref(),
        }
    }
}

/// Review-flag statistics: how much the model sends to humans and how right it is on each side.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReviewStats {
    /// Share of rows with `needs_review`.
    pub flagged_share: f64,
    /// Accuracy (of the primary head: category when labelled, else department) on rows not flagged.
    pub accuracy_unflagged: Option<f64>,
    /// Accuracy on flagged rows.
    pub accuracy_flagged: Option<f64>,
    /// Share of unflagged rows (with gold for every predicted head) right on every head.
    #[serde(default)]
    pub all_heads_right_unflagged: Option<f64>,
}

/// Coverage at an accuracy target: auto-route the rows whose joint confidence (the product of
/// the predicted heads' confidences) is at least `threshold`, the lowest cut at which those rows
/// are right on every head at a rate ≥ `target`.
pub type AutomationPoint = paidan_model::calibrate::Coverage;

/// Automation targets `paidan eval` reports.
pub const AUTOMATION_TARGETS: [f64; 2] = [0.95, 0.98];

/// The eval report, serialised exactly as `paidan eval --json` writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// Number of rows evaluated.
    pub n: usize,
    /// Category head metrics (`null` when the model or the data has no category).
    pub category: Option<HeadReport>,
    /// Department head metrics (`null` when the model or the data has no department).
    pub department: Option<HeadReport>,
    /// Review-flag statistics.
    pub review: ReviewStats,
    /// Share auto-routed at ≥ 95 % and ≥ 98 % right on every head (rows with gold for every
    /// predicted head; a row counts as right when every head is right).
    #[serde(default)]
    pub automation: Vec<AutomationPoint>,
    /// Version string of the evaluated model.
    pub model_version: String,
}

/// Plot and table material for one head (not part of the JSON report).
#[derive(Debug, Clone, PartialEq)]
pub struct HeadDetail {
    /// Rows scored on this head.
    pub n: usize,
    /// Reliability diagram bins ([`ECE_BINS`] bins).
    pub reliability: Vec<ReliabilityBin>,
    /// Accuracy-vs-coverage curve.
    pub coverage: Vec<CoveragePoint>,
    /// Accuracy on rows whose label is marked `sure=true` (`None` when the data has no `sure` field).
    pub accuracy_sure: Option<f64>,
    /// Number of `sure=true` rows scored.
    pub n_sure: usize,
    /// Confidence of every scored prediction, for the histogram.
    pub confidences: Vec<f64>,
}

/// A report plus everything needed to draw it: rows, predictions and per-head details.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// The JSON report.
    pub report: EvalReport,
    /// Category details, when the category head was scored.
    pub category: Option<HeadDetail>,
    /// Department details, when the department head was scored.
    pub department: Option<HeadDetail>,
    /// The rows, in input order.
    pub rows: Vec<EvalRow>,
    /// The predictions, aligned with `rows`.
    pub predictions: Vec<RowPrediction>,
}

impl Evaluation {
    /// Head report and detail of one head.
    pub fn head(&self, head: Head) -> Option<(&HeadReport, &HeadDetail)> {
        match head {
            Head::Category => self.report.category.as_ref().zip(self.category.as_ref()),
            Head::Department => self
                .report
                .department
                .as_ref()
                .zip(self.department.as_ref()),
        }
    }

    /// The head review accuracy is measured on: category when scored, else department.
    pub fn primary_head(&self) -> Option<Head> {
        if self.report.category.is_some() {
            Some(Head::Category)
        } else if self.report.department.is_some() {
            Some(Head::Department)
        } else {
            None
        }
    }
}

/// Scored predictions of one head: rows that have a gold label and a model output, with row indices.
pub fn head_predictions(
    rows: &[EvalRow],
    preds: &[RowPrediction],
    head: Head,
) -> Vec<(usize, HeadPrediction)> {
    rows.iter()
        .zip(preds)
        .enumerate()
        .filter_map(|(i, (row, pred))| {
            let gold = head.gold(row)?;
            let out = head.output(pred)?;
            Some((
                i,
                HeadPrediction::new(gold, &out.label, f64::from(out.confidence)),
            ))
        })
        .collect()
}

fn head_detail(rows: &[EvalRow], scored: &[(usize, HeadPrediction)]) -> HeadDetail {
    let plain: Vec<HeadPrediction> = scored.iter().map(|(_, p)| p.clone()).collect();
    let sure: Vec<HeadPrediction> = scored
        .iter()
        .filter(|(i, _)| rows[*i].is_sure())
        .map(|(_, p)| p.clone())
        .collect();
    let any_sure_field = scored.iter().any(|(i, _)| rows[*i].sure.is_some());
    HeadDetail {
        n: plain.len(),
        reliability: reliability_bins(&plain, ECE_BINS),
        coverage: coverage_curve(&plain),
        accuracy_sure: if any_sure_field {
            metrics::accuracy(&sure)
        } else {
            None
        },
        n_sure: sure.len(),
        confidences: plain.iter().map(|p| p.confidence).collect(),
    }
}

/// Builds the evaluation from rows and aligned predictions.
///
/// A head is scored when the model produced it and at least one row has its gold label. Fails when the
/// lengths differ or when no head can be scored at all.
pub fn evaluate_predictions(
    rows: Vec<EvalRow>,
    predictions: Vec<RowPrediction>,
    model_version: &str,
) -> Result<Evaluation> {
    if rows.len() != predictions.len() {
        return Err(EvalError::Mismatch(format!(
            "{} rows but {} predictions",
            rows.len(),
            predictions.len()
        )));
    }
    if rows.is_empty() {
        return Err(EvalError::Empty("the data set has no rows".into()));
    }
    let mut reports = [None, None];
    let mut details = [None, None];
    let mut primary: Option<Vec<(usize, HeadPrediction)>> = None;
    for (k, head) in [Head::Category, Head::Department].into_iter().enumerate() {
        let scored = head_predictions(&rows, &predictions, head);
        let plain: Vec<HeadPrediction> = scored.iter().map(|(_, p)| p.clone()).collect();
        if let Some(r) = head_report(&plain) {
            reports[k] = Some(r);
            details[k] = Some(head_detail(&rows, &scored));
            if primary.is_none() {
                primary = Some(scored);
            }
        }
    }
    let Some(primary) = primary else {
        return Err(EvalError::Empty(
            "no row has a category or department label that the model predicts".into(),
        ));
    };
    let flagged = predictions.iter().filter(|p| p.needs_review).count();
    let split = |want: bool| -> Vec<HeadPrediction> {
        primary
            .iter()
            .filter(|(i, _)| predictions[*i].needs_review == want)
            .map(|(_, p)| p.clone())
            .collect()
    };
    // Rows with gold for every head the model predicted: joint confidence and all-right.
    let mut joint: Vec<(f32, bool, bool)> = Vec::new();
    for (row, pred) in rows.iter().zip(&predictions) {
        let mut conf = 1f32;
        let mut right = true;
        let mut any = false;
        let mut complete = true;
        for head in [Head::Category, Head::Department] {
            let Some(out) = head.output(pred) else {
                continue;
            };
            match head.gold(row) {
                Some(g) => {
                    any = true;
                    conf *= out.confidence;
                    right &= out.label == g;
                }
                None => complete = false,
            }
        }
        if any && complete {
            joint.push((conf, right, pred.needs_review));
        }
    }
    let pairs: Vec<(f32, bool)> = joint.iter().map(|&(c, r, _)| (c, r)).collect();
    let automation = if pairs.is_empty() {
        Vec::new()
    } else {
        AUTOMATION_TARGETS
            .iter()
            .map(|&t| paidan_model::calibrate::coverage_at(&pairs, t))
            .collect()
    };
    let unflagged: Vec<bool> = joint.iter().filter(|j| !j.2).map(|j| j.1).collect();
    let review = ReviewStats {
        flagged_share: flagged as f64 / rows.len() as f64,
        accuracy_unflagged: metrics::accuracy(&split(false)),
        accuracy_flagged: metrics::accuracy(&split(true)),
        all_heads_right_unflagged: (!unflagged.is_empty())
            .then(|| unflagged.iter().filter(|&&r| r).count() as f64 / unflagged.len() as f64),
    };
    let [category, department] = reports;
    let [category_detail, department_detail] = details;
    Ok(Evaluation {
        report: EvalReport {
            n: rows.len(),
            category,
            department,
            review,
            automation,
            model_version: model_version.to_owned(),
        },
        category: category_detail,
        department: department_detail,
        rows,
        predictions,
    })
}

/// One line of `--predictions` output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictionRecord {
    /// Row id (`line-N` when the row had none).
    pub id: String,
    /// Predicted category (`null` when the model has no category head).
    pub category: Option<String>,
    /// Its confidence.
    pub category_confidence: Option<f32>,
    /// Predicted department (`null` when the model has no department head).
    pub department: Option<String>,
    /// Its confidence.
    pub department_confidence: Option<f32>,
    /// The model asked for human review.
    pub needs_review: bool,
}

impl PredictionRecord {
    /// The record of one row.
    pub fn new(row: &EvalRow, pred: &RowPrediction) -> Self {
        PredictionRecord {
            id: row.id.clone(),
            category: pred.category.as_ref().map(|o| o.label.clone()),
            category_confidence: pred.category.as_ref().map(|o| o.confidence),
            department: pred.department.as_ref().map(|o| o.label.clone()),
            department_confidence: pred.department.as_ref().map(|o| o.confidence),
            needs_review: pred.needs_review,
        }
    }
}

/// Writes one JSON line per row: `{"id","category","category_confidence","department","department_confidence","needs_review"}`.
pub fn write_predictions(
    out: &mut impl Write,
    rows: &[EvalRow],
    preds: &[RowPrediction],
) -> Result<()> {
    for (row, pred) in rows.iter().zip(preds) {
        serde_json::to_writer(&mut *out, &PredictionRecord::new(row, pred))?;
        out.write_all(b"\n")
            .map_err(|e| EvalError::io("<predictions>", e))?;
    }
    Ok(())
}

/// Writes the predictions JSONL to a file.
pub fn write_predictions_file(
    path: &Path,
    rows: &[EvalRow],
    preds: &[RowPrediction],
) -> Result<()> {
    let file = std::fs::File::create(path).map_err(|e| EvalError::io(path, e))?;
    let mut w = std::io::BufWriter::new(file);
    write_predictions(&mut w, rows, preds)?;
    w.flush().map_err(|e| EvalError::io(path, e))
}

/// Writes the JSON report (pretty-printed) to a file.
pub fn write_report_json(path: &Path, report: &EvalReport) -> Result<()> {
    let json = serde_json::to_string_pretty(report)?;
    std::fs::write(path, json + "\n").map_err(|e| EvalError::io(path, e))
}

/// The rows the model got most confidently wrong on `head`, most confident first.
pub fn worst_errors(eval: &Evaluation, head: Head, limit: usize) -> Vec<usize> {
    let mut wrong: Vec<(usize, f32)> = eval
        .rows
        .iter()
        .zip(&eval.predictions)
        .enumerate()
        .filter_map(|(i, (row, pred))| {
            let gold = head.gold(row)?;
            let out = head.output(pred)?;
            (out.label != gold).then_some((i, out.confidence))
        })
        .collect();
    wrong.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    wrong.into_iter().take(limit).map(|(i, _)| i).collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn row(
        id: &str,
        cat: Option<&str>,
        dep: Option<&str>,
        sure: Option<bool>,
    ) -> EvalRow {
        EvalRow {
            id: id.into(),
            title: None,
            text: format!("text of {id}, call 13812345678"),
            category: cat.map(Into::into),
            department: dep.map(Into::into),
            jurisdiction: None,
            sure,
        }
    }

    pub(crate) fn pred(
        cat: Option<(&str, f32)>,
        dep: Option<(&str, f32)>,
        review: bool,
    ) -> RowPrediction {
        RowPrediction {
            category: cat.map(|(l, c)| HeadOutput::new(l, c)),
            department: dep.map(|(l, c)| HeadOutput::new(l, c)),
            needs_review: review,
        }
    }

    /// Four rows, both heads; one row lacks a department label.
    pub(crate) fn sample() -> Evaluation {
        let rows = vec![
            row("r1", Some("noise"), Some("police"), Some(true)),
            row("r2", Some("noise"), Some("police"), Some(false)),
            row("r3", Some("road"), Some("housing"), Some(true)),
            row("r4", Some("road"), None, Some(true)),
        ];
        let preds = vec![
            pred(Some(("noise", 0.9)), Some(("police", 0.8)), false),
            pred(Some(("road", 0.6)), Some(("police", 0.7)), true),
            pred(Some(("road", 0.95)), Some(("police", 0.55)), false),
            pred(Some(("noise", 0.4)), Some(("housing", 0.5)), true),
        ];
        evaluate_predictions(rows, preds, "test-v1").unwrap()
    }

    #[test]
    fn report_json_shape_and_values() {
        let e = sample();
        let json: serde_json::Value = serde_json::to_value(&e.report).unwrap();
        let mut keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "automation",
                "category",
                "department",
                "model_version",
                "n",
                "review"
            ]
        );
        let mut head_keys: Vec<&str> = json["category"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        head_keys.sort_unstable();
        assert_eq!(
            head_keys,
            [
                "accuracy",
                "confusion",
                "ece",
                "macro_f1",
                "per_class",
                "weighted_f1"
            ]
        );
        assert_eq!(json["n"], 4);
        assert_eq!(json["model_version"], "test-v1");
        // category: r1 ✓ r2 ✗ r3 ✓ r4 ✗ → 0.5
        assert_eq!(json["category"]["accuracy"], 0.5);
        assert_eq!(json["category"]["confusion"]["noise"]["road"], 1);
        assert_eq!(json["category"]["per_class"]["road"]["support"], 2);
        // department scored on r1..r3 only: ✓ ✓ ✗ → 2/3
        let dep = e.report.department.as_ref().unwrap();
        assert!((dep.accuracy - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(e.department.as_ref().unwrap().n, 3);
        // review: r2 and r4 flagged, both wrong; r1 and r3 unflagged, both right.
        assert_eq!(e.report.review.flagged_share, 0.5);
        assert_eq!(e.report.review.accuracy_unflagged, Some(1.0));
        assert_eq!(e.report.review.accuracy_flagged, Some(0.0));
        // sure rows r1 r3 r4 on category: ✓ ✓ ✗
        let cat = e.category.as_ref().unwrap();
        assert!((cat.accuracy_sure.unwrap() - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(worst_errors(&e, Head::Category, 10), vec![1, 3]);
        assert_eq!(worst_errors(&e, Head::Department, 1), vec![2]);
    }

    #[test]
    fn heads_missing_from_model_or_data_are_null() {
        struct Case {
            name: &'static str,
            rows: Vec<EvalRow>,
            preds: Vec<RowPrediction>,
            has_category: bool,
            has_department: bool,
        }
        let cases = vec![
            Case {
                name: "category-only model (7-class)",
                rows: vec![row("a", Some("x"), Some("d"), None)],
                preds: vec![pred(Some(("x", 0.9)), None, false)],
                has_category: true,
                has_department: false,
            },
            Case {
                name: "department-only data",
                rows: vec![row("a", None, Some("d"), None)],
                preds: vec![pred(Some(("x", 0.9)), Some(("d", 0.9)), false)],
                has_category: false,
                has_department: true,
            },
        ];
        for c in cases {
            let e = evaluate_predictions(c.rows, c.preds, "v").unwrap();
            assert_eq!(e.report.category.is_some(), c.has_category, "{}", c.name);
            assert_eq!(
                e.report.department.is_some(),
                c.has_department,
                "{}",
                c.name
            );
            assert_eq!(e.category.is_some(), c.has_category, "{}", c.name);
        }
    }

    #[test]
    fn evaluation_errors() {
        let err =
            evaluate_predictions(vec![row("a", Some("x"), None, None)], vec![], "v").unwrap_err();
        assert!(matches!(err, EvalError::Mismatch(_)), "{err}");
        let err = evaluate_predictions(vec![], vec![], "v").unwrap_err();
        assert!(matches!(err, EvalError::Empty(_)), "{err}");
        let err = evaluate_predictions(
            vec![row("a", None, Some("d"), None)],
            vec![pred(Some(("x", 0.5)), None, false)],
            "v",
        )
        .unwrap_err();
        assert!(matches!(err, EvalError::Empty(_)), "{err}");
    }

    #[test]
    fn predictions_jsonl() {
        let e = sample();
        let mut out = Vec::new();
        write_predictions(&mut out, &e.rows, &e.predictions).unwrap();
        let text = String::from_utf8(out).unwrap();
        let first = text.lines().next().unwrap();
        assert_eq!(
            first,
            r#"{"id":"r1","category":"noise","category_confidence":0.9,"department":"police","department_confidence":0.8,"needs_review":false}"#
        );
        assert_eq!(text.lines().count(), 4);
        let mut out = Vec::new();
        write_predictions(
            &mut out,
            &[row("z", Some("x"), None, None)],
            &[pred(Some(("x", 0.5)), None, true)],
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"id\":\"z\",\"category\":\"x\",\"category_confidence\":0.5,\"department\":null,\"department_confidence\":null,\"needs_review\":true}\n"
        );
    }
}
