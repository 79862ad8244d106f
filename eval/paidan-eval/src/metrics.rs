//! Classification metrics on plain prediction records, independent of any model.
//!
//! Conventions follow scikit-learn's `classification_report` so numbers are comparable with the Python
//! baseline: the class set is the union of gold and predicted labels, and a zero division (a class never
//! predicted, or never gold) counts as 0.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// Number of equal-width confidence bins used for ECE and the reliability diagram.
pub const ECE_BINS: usize = 15;

/// One scored prediction of one head (category or department) on a row that has a gold label.
#[derive(Debug, Clone, PartialEq)]
pub struct HeadPrediction {
    /// Gold label.
    pub gold: String,
    /// Predicted label (top-1).
    pub pred: String,
    /// Confidence of the predicted label, in [0, 1].
    pub confidence: f64,
}

impl HeadPrediction {
    /// Convenience constructor.
    pub fn new(gold: &str, pred: &str, confidence: f64) -> Self {
        HeadPrediction {
            gold: gold.to_owned(),
            pred: pred.to_owned(),
            confidence,
        }
    }

    /// Whether the prediction is right.
    pub fn correct(&self) -> bool {
        self.gold == self.pred
    }
}

/// Precision / recall / F1 / support of one class.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    /// TP / (TP + FP); 0 when the class is never predicted.
    pub precision: f64,
    /// TP / (TP + FN); 0 when the class never occurs in gold.
    pub recall: f64,
    /// Harmonic mean of precision and recall; 0 when both are 0.
    pub f1: f64,
    /// Number of gold rows of this class.
    pub support: u64,
}

/// Confusion matrix as `{gold: {pred: count}}` (only non-zero cells).
pub type Confusion = BTreeMap<String, BTreeMap<String, u64>>;

/// The metrics of one head, in the JSON shape of the eval report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeadReport {
    /// Share of rows whose top-1 label is right.
    pub accuracy: f64,
    /// Unweighted mean of per-class F1 over the union of gold and predicted classes.
    pub macro_f1: f64,
    /// Support-weighted mean of per-class F1.
    pub weighted_f1: f64,
    /// Expected calibration error over [`ECE_BINS`] equal-width confidence bins.
    pub ece: f64,
    /// Per-class precision / recall / F1 / support.
    pub per_class: BTreeMap<String, ClassMetrics>,
    /// `{gold: {pred: count}}`.
    pub confusion: Confusion,
}

/// One bin of a reliability diagram.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReliabilityBin {
    /// Lower edge (exclusive, except for the first bin which also takes confidence 0).
    pub lo: f64,
    /// Upper edge (inclusive).
    pub hi: f64,
    /// Predictions whose confidence falls in the bin.
    pub count: u64,
    /// Accuracy of those predictions (`None` when the bin is empty).
    pub accuracy: Option<f64>,
    /// Mean confidence of those predictions (`None` when the bin is empty).
    pub mean_confidence: Option<f64>,
}

/// One point of the accuracy-vs-coverage curve: answer automatically only when confidence ≥ threshold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CoveragePoint {
    /// Confidence threshold.
    pub threshold: f64,
    /// Share of rows with confidence ≥ threshold.
    pub coverage: f64,
    /// Accuracy on those rows.
    pub accuracy: f64,
}

fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

/// Share of correct predictions; `None` for an empty slice.
pub fn accuracy(preds: &[HeadPrediction]) -> Option<f64> {
    if preds.is_empty() {
        return None;
    }
    let right = preds.iter().filter(|p| p.correct()).count() as u64;
    Some(ratio(right, preds.len() as u64))
}

/// Confusion matrix `{gold: {pred: count}}`.
pub fn confusion(preds: &[HeadPrediction]) -> Confusion {
    let mut m = Confusion::new();
    for p in preds {
        *m.entry(p.gold.clone())
            .or_default()
            .entry(p.pred.clone())
            .or_default() += 1;
    }
    m
}

/// Per-class precision / recall / F1 / support over the union of gold and predicted labels.
pub fn per_class(preds: &[HeadPrediction]) -> BTreeMap<String, ClassMetrics> {
    let labels: BTreeSet<&str> = preds
        .iter()
        .flat_map(|p| [p.gold.as_str(), p.pred.as_str()])
        .collect();
    let mut tp: BTreeMap<&str, u64> = BTreeMap::new();
    let mut gold_n: BTreeMap<&str, u64> = BTreeMap::new();
    let mut pred_n: BTreeMap<&str, u64> = BTreeMap::new();
    for p in preds {
        *gold_n.entry(&p.gold).or_default() += 1;
        *pred_n.entry(&p.pred).or_default() += 1;
        if p.correct() {
            *tp.entry(&p.gold).or_default() += 1;
        }
    }
    labels
        .into_iter()
        .map(|l| {
            let t = tp.get(l).copied().unwrap_or(0);
            let support = gold_n.get(l).copied().unwrap_or(0);
            let precision = ratio(t, pred_n.get(l).copied().unwrap_or(0));
            let recall = ratio(t, support);
            let f1 = if precision + recall > 0.0 {
                2.0 * precision * recall / (precision + recall)
            } else {
                0.0
            };
            (
                l.to_owned(),
                ClassMetrics {
                    precision,
                    recall,
                    f1,
                    support,
                },
            )
        })
        .collect()
}

/// Macro-F1 (unweighted mean over classes); 0 for no classes.
pub fn macro_f1(per_class: &BTreeMap<String, ClassMetrics>) -> f64 {
    if per_class.is_empty() {
        return 0.0;
    }
    per_class.values().map(|c| c.f1).sum::<f64>() / per_class.len() as f64
}

/// Support-weighted F1; 0 for no support.
pub fn weighted_f1(per_class: &BTreeMap<String, ClassMetrics>) -> f64 {
    let total: u64 = per_class.values().map(|c| c.support).sum();
    if total == 0 {
        return 0.0;
    }
    per_class
        .values()
        .map(|c| c.f1 * c.support as f64)
        .sum::<f64>()
        / total as f64
}

fn bin_index(confidence: f64, n_bins: usize) -> usize {
    let c = if confidence.is_finite() {
        confidence.clamp(0.0, 1.0)
    } else {
        0.0
    };
    // Bins are (lo, hi]; confidence 0 goes to the first bin.
    ((c * n_bins as f64).ceil() as usize)
        .saturating_sub(1)
        .min(n_bins - 1)
}

/// Reliability diagram bins: `n_bins` equal-width bins over [0, 1].
pub fn reliability_bins(preds: &[HeadPrediction], n_bins: usize) -> Vec<ReliabilityBin> {
    let n_bins = n_bins.max(1);
    let mut count = vec![0u64; n_bins];
    let mut right = vec![0u64; n_bins];
    let mut conf_sum = vec![0f64; n_bins];
    for p in preds {
        let b = bin_index(p.confidence, n_bins);
        count[b] += 1;
        right[b] += u64::from(p.correct());
        conf_sum[b] += p.confidence;
    }
    (0..n_bins)
        .map(|b| ReliabilityBin {
            lo: b as f64 / n_bins as f64,
            hi: (b + 1) as f64 / n_bins as f64,
            count: count[b],
            accuracy: (count[b] > 0).then(|| ratio(right[b], count[b])),
            mean_confidence: (count[b] > 0).then(|| conf_sum[b] / count[b] as f64),
        })
        .collect()
}

/// Expected calibration error from reliability bins: Σ_b (n_b / n) · |acc_b − conf_b|.
pub fn ece_from_bins(bins: &[ReliabilityBin]) -> f64 {
    let n: u64 = bins.iter().map(|b| b.count).sum();
    if n == 0 {
        return 0.0;
    }
    bins.iter()
        .filter_map(|b| Some(b.count as f64 / n as f64 * (b.accuracy? - b.mean_confidence?).abs()))
        .sum()
}

/// Expected calibration error with [`ECE_BINS`] bins.
pub fn ece(preds: &[HeadPrediction]) -> f64 {
    ece_from_bins(&reliability_bins(preds, ECE_BINS))
}

/// Accuracy-vs-coverage curve: one point per distinct confidence, from the most confident down.
/// Ties share one point (a threshold cannot split them).
pub fn coverage_curve(preds: &[HeadPrediction]) -> Vec<CoveragePoint> {
    let mut sorted: Vec<(f64, bool)> = preds.iter().map(|p| (p.confidence, p.correct())).collect();
    sorted.sort_by(|a, b| b.0.total_cmp(&a.0));
    let n = sorted.len() as u64;
    let mut out = Vec::new();
    let mut right = 0u64;
    for (i, &(c, ok)) in sorted.iter().enumerate() {
        right += u64::from(ok);
        let last_of_tie = sorted.get(i + 1).is_none_or(|next| next.0 != c);
        if last_of_tie {
            let taken = i as u64 + 1;
            out.push(CoveragePoint {
                threshold: c,
                coverage: ratio(taken, n),
                accuracy: ratio(right, taken),
            });
        }
    }
    out
}

/// Thins a curve to at most `max_points` points (keeping the first and last), for plotting.
pub fn thin_curve(curve: &[CoveragePoint], max_points: usize) -> Vec<CoveragePoint> {
    if curve.len() <= max_points || max_points < 2 {
        return curve.to_vec();
    }
    let step = (curve.len() - 1) as f64 / (max_points - 1) as f64;
    (0..max_points)
        .map(|i| curve[((i as f64 * step).round() as usize).min(curve.len() - 1)])
        .collect()
}

/// All metrics of one head; `None` when there is nothing to score.
pub fn head_report(preds: &[HeadPrediction]) -> Option<HeadReport> {
    let accuracy = accuracy(preds)?;
    let per_class = per_class(preds);
    Some(HeadReport {
        accuracy,
        macro_f1: macro_f1(&per_class),
        weighted_f1: weighted_f1(&per_class),
        ece: ece(preds),
        per_class,
        confusion: confusion(preds),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn preds(rows: &[(&str, &str, f64)]) -> Vec<HeadPrediction> {
        rows.iter()
            .map(|&(g, p, c)| HeadPrediction::new(g, p, c))
            .collect()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    /// Three-class toy, computed by hand:
    /// gold A A A B B C / pred A A B B C C.
    /// A: P=2/2 R=2/3 F1=0.8; B: P=1/2 R=1/2 F1=0.5; C: P=1/2 R=1/1 F1=2/3.
    /// macro = (0.8+0.5+2/3)/3; weighted = (0.8·3 + 0.5·2 + 2/3·1)/6.
    /// ECE (15 bins): bins hold {.9,.9 both right}, {.81 right}, {.7 right}, {.62 wrong}, {.3 wrong}:
    /// (2·0.1 + 0.19 + 0.3 + 0.62 + 0.3)/6 = 1.61/6.
    fn toy() -> Vec<HeadPrediction> {
        preds(&[
            ("A", "A", 0.9),
            ("A", "A", 0.9),
            ("A", "B", 0.62),
            ("B", "B", 0.81),
            ("B", "C", 0.3),
            ("C", "C", 0.7),
        ])
    }

    struct Case {
        name: &'static str,
        preds: Vec<HeadPrediction>,
        accuracy: f64,
        macro_f1: f64,
        weighted_f1: f64,
        ece: f64,
        per_class: Vec<(&'static str, f64, f64, f64, u64)>,
    }

    #[test]
    fn head_metrics_table() {
        let cases = vec![
            Case {
                name: "three-class toy",
                preds: toy(),
                accuracy: 4.0 / 6.0,
                macro_f1: (0.8 + 0.5 + 2.0 / 3.0) / 3.0,
                weighted_f1: (0.8 * 3.0 + 0.5 * 2.0 + 2.0 / 3.0) / 6.0,
                ece: 1.61 / 6.0,
                per_class: vec![
                    ("A", 1.0, 2.0 / 3.0, 0.8, 3),
                    ("B", 0.5, 0.5, 0.5, 2),
                    ("C", 0.5, 1.0, 2.0 / 3.0, 1),
                ],
            },
            Case {
                // A label only ever predicted (D) joins the class set with F1 0, as in scikit-learn.
                name: "predicted-only class",
                preds: preds(&[("A", "A", 1.0), ("B", "D", 0.5)]),
                accuracy: 0.5,
                macro_f1: 1.0 / 3.0,
                weighted_f1: 0.5,
                // bin (14/15, 1]: conf 1, acc 1 → 0; bin (7/15, 8/15]: conf .5, acc 0 → .5; /2.
                ece: 0.25,
                per_class: vec![
                    ("A", 1.0, 1.0, 1.0, 1),
                    ("B", 0.0, 0.0, 0.0, 1),
                    ("D", 0.0, 0.0, 0.0, 0),
                ],
            },
            Case {
                name: "perfect and calibrated",
                preds: preds(&[("x", "x", 1.0), ("y", "y", 1.0)]),
                accuracy: 1.0,
                macro_f1: 1.0,
                weighted_f1: 1.0,
                ece: 0.0,
                per_class: vec![("x", 1.0, 1.0, 1.0, 1), ("y", 1.0, 1.0, 1.0, 1)],
            },
        ];
        for c in cases {
            let r = head_report(&c.preds).unwrap();
            assert!(
                close(r.accuracy, c.accuracy),
                "{}: accuracy {}",
                c.name,
                r.accuracy
            );
            assert!(
                close(r.macro_f1, c.macro_f1),
                "{}: macro {}",
                c.name,
                r.macro_f1
            );
            assert!(
                close(r.weighted_f1, c.weighted_f1),
                "{}: weighted {}",
                c.name,
                r.weighted_f1
            );
            assert!(close(r.ece, c.ece), "{}: ece {}", c.name, r.ece);
            assert_eq!(r.per_class.len(), c.per_class.len(), "{}", c.name);
            for (label, p, rec, f1, support) in c.per_class {
                let m = r.per_class[label];
                assert!(
                    close(m.precision, p)
                        && close(m.recall, rec)
                        && close(m.f1, f1)
                        && m.support == support,
                    "{}: class {label}: {m:?}",
                    c.name
                );
            }
        }
    }

    #[test]
    fn confusion_is_gold_then_pred() {
        let m = confusion(&toy());
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(json, r#"{"A":{"A":2,"B":1},"B":{"B":1,"C":1},"C":{"C":1}}"#);
    }

    #[test]
    fn empty_has_no_report() {
        assert!(head_report(&[]).is_none());
        assert_eq!(ece(&[]), 0.0);
        assert!(coverage_curve(&[]).is_empty());
    }

    #[test]
    fn reliability_bins_edges() {
        // (confidence, expected bin index) with bins (lo, hi]; 0 joins the first bin.
        let cases = [
            (0.0, 0),
            (0.05, 0),
            (0.3, 4),
            (0.62, 9),
            (0.7, 10),
            (0.81, 12),
            (0.9, 13),
            (1.0, 14),
        ];
        for (c, want) in cases {
            assert_eq!(bin_index(c, ECE_BINS), want, "confidence {c}");
        }
        let bins = reliability_bins(&toy(), ECE_BINS);
        assert_eq!(bins.len(), 15);
        assert_eq!(bins.iter().map(|b| b.count).sum::<u64>(), 6);
        assert_eq!(bins[13].count, 2);
        assert_eq!(bins[13].accuracy, Some(1.0));
        assert!(close(bins[13].mean_confidence.unwrap(), 0.9));
        assert_eq!(bins[9].accuracy, Some(0.0));
        assert_eq!(bins[0].accuracy, None);
    }

    #[test]
    fn coverage_curve_table() {
        // Sorted: .9✓ .9✓ .81✓ .7✓ .62✗ .3✗ — ties at .9 share one point.
        let want = [
            (0.9, 2.0 / 6.0, 1.0),
            (0.81, 3.0 / 6.0, 1.0),
            (0.7, 4.0 / 6.0, 1.0),
            (0.62, 5.0 / 6.0, 4.0 / 5.0),
            (0.3, 1.0, 4.0 / 6.0),
        ];
        let got = coverage_curve(&toy());
        assert_eq!(got.len(), want.len());
        for (g, (t, cov, acc)) in got.iter().zip(want) {
            assert!(
                close(g.threshold, t) && close(g.coverage, cov) && close(g.accuracy, acc),
                "{g:?}"
            );
        }
        let thin = thin_curve(&got, 3);
        assert_eq!(thin.len(), 3);
        assert_eq!(thin[0], got[0]);
        assert_eq!(thin[2], got[4]);
    }
}
