//! Paired comparison of two models on the same rows: measures side by side and McNemar's test.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use statrs::distribution::{Binomial, ChiSquared, ContinuousCDF, DiscreteCDF};

use crate::error::{EvalError, Result};
use crate::report::{Evaluation, Head};

/// Below this many discordant pairs McNemar's test uses the exact binomial form.
pub const EXACT_BELOW: u64 = 25;

/// How the McNemar p-value was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum McNemarMethod {
    /// Exact two-sided binomial test on the discordant pairs (b + c < [`EXACT_BELOW`]).
    ExactBinomial,
    /// χ² with one degree of freedom and Edwards' continuity correction: (|b − c| − 1)² / (b + c).
    ChiSquareCorrected,
}

/// McNemar's paired test on right/wrong outcomes of models A and B over the same rows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct McNemar {
    /// Rows both models got right.
    pub both_right: u64,
    /// Rows only A got right (b).
    pub only_a_right: u64,
    /// Rows only B got right (c).
    pub only_b_right: u64,
    /// Rows both got wrong.
    pub both_wrong: u64,
    /// Which form of the test was used.
    pub method: McNemarMethod,
    /// χ² statistic (only for the χ² form).
    pub statistic: Option<f64>,
    /// Two-sided p-value.
    pub p_value: f64,
}

/// McNemar's test from the discordant counts `b` (only A right) and `c` (only B right).
pub fn mcnemar_test(b: u64, c: u64) -> (McNemarMethod, Option<f64>, f64) {
    let n = b + c;
    if n < EXACT_BELOW {
        if n == 0 {
            return (McNemarMethod::ExactBinomial, None, 1.0);
        }
        let k = b.min(c);
        let p = match Binomial::new(0.5, n) {
            Ok(dist) => (2.0 * dist.cdf(k)).min(1.0),
            Err(_) => 1.0,
        };
        (McNemarMethod::ExactBinomial, None, p)
    } else {
        let diff = (b as f64 - c as f64).abs() - 1.0;
        let stat = diff.max(0.0).powi(2) / n as f64;
        let p = match ChiSquared::new(1.0) {
            Ok(dist) => dist.sf(stat),
            Err(_) => 1.0,
        };
        (McNemarMethod::ChiSquareCorrected, Some(stat), p)
    }
}

/// McNemar's test from paired correctness vectors.
pub fn mcnemar(pairs: impl IntoIterator<Item = (bool, bool)>) -> McNemar {
    let (mut rr, mut rw, mut wr, mut ww) = (0, 0, 0, 0);
    for (a, b) in pairs {
        match (a, b) {
            (true, true) => rr += 1,
            (true, false) => rw += 1,
            (false, true) => wr += 1,
            (false, false) => ww += 1,
        }
    }
    let (method, statistic, p_value) = mcnemar_test(rw, wr);
    McNemar {
        both_right: rr,
        only_a_right: rw,
        only_b_right: wr,
        both_wrong: ww,
        method,
        statistic,
        p_value,
    }
}

/// One measure of both models.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeasureDiff {
    /// Measure name, e.g. `category.macro_f1`.
    pub measure: String,
    /// Value for model A.
    pub a: Option<f64>,
    /// Value for model B.
    pub b: Option<f64>,
    /// B − A (`None` when either is missing).
    pub diff: Option<f64>,
    /// Whether a higher value is better (ECE and flagged share: lower is better).
    pub higher_is_better: bool,
}

/// Two models compared on the same rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// Rows compared.
    pub n: usize,
    /// Version of model A.
    pub model_a: String,
    /// Version of model B.
    pub model_b: String,
    /// Every measure side by side.
    pub measures: Vec<MeasureDiff>,
    /// McNemar's test on category correctness (`null` when not scored by both).
    pub category_mcnemar: Option<McNemar>,
    /// McNemar's test on department correctness (`null` when not scored by both).
    pub department_mcnemar: Option<McNemar>,
}

fn measures(e: &Evaluation) -> Vec<(String, Option<f64>, bool)> {
    let mut out = Vec::new();
    for head in [Head::Category, Head::Department] {
        let h = head.as_str();
        let (r, d) = match e.head(head) {
            Some((r, d)) => (Some(r), Some(d)),
            None => (None, None),
        };
        out.push((format!("{h}.accuracy"), r.map(|r| r.accuracy), true));
        out.push((
            format!("{h}.accuracy_sure"),
            d.and_then(|d| d.accuracy_sure),
            true,
        ));
        out.push((format!("{h}.macro_f1"), r.map(|r| r.macro_f1), true));
        out.push((format!("{h}.weighted_f1"), r.map(|r| r.weighted_f1), true));
        out.push((format!("{h}.ece"), r.map(|r| r.ece), false));
    }
    let rv = &e.report.review;
    out.push(("review.flagged_share".into(), Some(rv.flagged_share), false));
    out.push((
        "review.accuracy_unflagged".into(),
        rv.accuracy_unflagged,
        true,
    ));
    out.push(("review.accuracy_flagged".into(), rv.accuracy_flagged, true));
    out
}

fn paired(a: &Evaluation, b: &Evaluation, head: Head) -> Option<McNemar> {
    a.head(head)?;
    b.head(head)?;
    let pairs: Vec<(bool, bool)> = a
        .rows
        .iter()
        .zip(&a.predictions)
        .zip(&b.predictions)
        .filter_map(|((row, pa), pb)| {
            let gold = head.gold(row)?;
            let oa = head.output(pa)?;
            let ob = head.output(pb)?;
            Some((oa.label == gold, ob.label == gold))
        })
        .collect();
    (!pairs.is_empty()).then(|| mcnemar(pairs))
}

/// Compares two evaluations of the same rows (same ids in the same order).
pub fn compare(a: &Evaluation, b: &Evaluation) -> Result<Comparison> {
    if a.rows.len() != b.rows.len() || a.rows.iter().zip(&b.rows).any(|(x, y)| x.id != y.id) {
        return Err(EvalError::Mismatch(
            "the two evaluations are not on the same rows".into(),
        ));
    }
    let ma = measures(a);
    let mb = measures(b);
    let measures = ma
        .into_iter()
        .zip(mb)
        .filter(|((_, va, _), (_, vb, _))| va.is_some() || vb.is_some())
        .map(|((name, va, hib), (_, vb, _))| MeasureDiff {
            measure: name,
            a: va,
            b: vb,
            diff: va.zip(vb).map(|(x, y)| y - x),
            higher_is_better: hib,
        })
        .collect();
    Ok(Comparison {
        n: a.rows.len(),
        model_a: a.report.model_version.clone(),
        model_b: b.report.model_version.clone(),
        measures,
        category_mcnemar: paired(a, b, Head::Category),
        department_mcnemar: paired(a, b, Head::Department),
    })
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_owned(), |v| format!("{v:.4}"))
}

/// A p-value with four significant digits, in scientific notation when tiny.
pub fn fmt_p(p: f64) -> String {
    if p >= 1e-4 {
        format!("{p:.4}")
    } else {
        format!("{p:.3e}")
    }
}

/// A plain-text table of a comparison, for the terminal.
pub fn render_comparison_text(c: &Comparison) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "rows: {}", c.n);
    let _ = writeln!(s, "A: {}", c.model_a);
    let _ = writeln!(s, "B: {}", c.model_b);
    let _ = writeln!(s);
    let w = c
        .measures
        .iter()
        .map(|m| m.measure.len())
        .max()
        .unwrap_or(7)
        .max(7);
    let _ = writeln!(s, "{:<w$}  {:>8}  {:>8}  {:>8}", "measure", "A", "B", "B−A");
    for m in &c.measures {
        let diff = m.diff.map_or_else(
            || "—".to_owned(),
            |d| {
                let better = if d == 0.0 {
                    ""
                } else if (d > 0.0) == m.higher_is_better {
                    " ▲"
                } else {
                    " ▼"
                };
                format!("{d:+.4}{better}")
            },
        );
        let _ = writeln!(
            s,
            "{:<w$}  {:>8}  {:>8}  {:>8}",
            m.measure,
            fmt_opt(m.a),
            fmt_opt(m.b),
            diff
        );
    }
    for (name, t) in [
        ("category", &c.category_mcnemar),
        ("department", &c.department_mcnemar),
    ] {
        let Some(t) = t else { continue };
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "McNemar ({name}): both right {}, only A right {}, only B right {}, both wrong {}",
            t.both_right, t.only_a_right, t.only_b_right, t.both_wrong
        );
        let how = match (t.method, t.statistic) {
            (McNemarMethod::ChiSquareCorrected, Some(x)) => {
                format!("χ²(1, continuity-corrected) = {x:.3}")
            }
            _ => "exact binomial".to_owned(),
        };
        let verdict = if t.p_value < 0.05 {
            "the difference is significant at 5 %"
        } else {
            "no significant difference at 5 %"
        };
        let _ = writeln!(s, "  {how}, p = {} → {verdict}", fmt_p(t.p_value));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::evaluate_predictions;
    use crate::report::tests::{pred, row};

    #[test]
    fn mcnemar_known_values() {
        // Expected p-values: exact = min(1, 2·Σ_{i≤min(b,c)} C(b+c, i)/2^(b+c)),
        // χ² = erfc(√(stat/2)) with stat = (|b−c|−1)²/(b+c) (computed independently with Python's math).
        let cases: &[(u64, u64, McNemarMethod, Option<f64>, f64)] = &[
            (0, 0, McNemarMethod::ExactBinomial, None, 1.0),
            (10, 2, McNemarMethod::ExactBinomial, None, 0.03857421875),
            (2, 10, McNemarMethod::ExactBinomial, None, 0.03857421875),
            (3, 0, McNemarMethod::ExactBinomial, None, 0.25),
            (1, 12, McNemarMethod::ExactBinomial, None, 0.00341796875),
            (
                24,
                0,
                McNemarMethod::ExactBinomial,
                None,
                1.1920928955078125e-07,
            ),
            (5, 5, McNemarMethod::ExactBinomial, None, 1.0),
            (
                30,
                15,
                McNemarMethod::ChiSquareCorrected,
                Some(196.0 / 45.0),
                0.03688842570704985,
            ),
            (
                40,
                10,
                McNemarMethod::ChiSquareCorrected,
                Some(16.82),
                4.109787809945886e-05,
            ),
            (
                20,
                5,
                McNemarMethod::ChiSquareCorrected,
                Some(7.84),
                0.005110260660855864,
            ),
            (13, 12, McNemarMethod::ChiSquareCorrected, Some(0.0), 1.0),
        ];
        for &(b, c, method, stat, p) in cases {
            let (m, s, pv) = mcnemar_test(b, c);
            assert_eq!(m, method, "b={b} c={c}");
            match (s, stat) {
                (Some(s), Some(x)) => assert!((s - x).abs() < 1e-9, "b={b} c={c}: stat {s}"),
                (None, None) => {}
                other => panic!("b={b} c={c}: statistic {other:?}"),
            }
            assert!(
                (pv - p).abs() <= 1e-9 * p.max(1e-3),
                "b={b} c={c}: p {pv} want {p}"
            );
        }
    }

    #[test]
    fn mcnemar_counts_pairs() {
        let t = mcnemar([
            (true, true),
            (true, false),
            (true, false),
            (false, true),
            (false, false),
        ]);
        assert_eq!(
            (t.both_right, t.only_a_right, t.only_b_right, t.both_wrong),
            (1, 2, 1, 1)
        );
        assert_eq!(t.method, McNemarMethod::ExactBinomial);
        assert!((t.p_value - 1.0).abs() < 1e-12);
    }

    #[test]
    fn compare_two_models() {
        let rows = vec![
            row("a", Some("x"), None, None),
            row("b", Some("x"), None, None),
            row("c", Some("y"), None, None),
            row("d", Some("y"), None, None),
        ];
        let ea = evaluate_predictions(
            rows.clone(),
            vec![
                pred(Some(("x", 0.9)), None, false),
                pred(Some(("y", 0.6)), None, true),
                pred(Some(("y", 0.8)), None, false),
                pred(Some(("x", 0.7)), None, true),
            ],
            "A",
        )
        .unwrap();
        let eb = evaluate_predictions(
            rows.clone(),
            vec![
                pred(Some(("x", 0.9)), None, false),
                pred(Some(("x", 0.6)), None, false),
                pred(Some(("y", 0.8)), None, false),
                pred(Some(("x", 0.7)), None, true),
            ],
            "B",
        )
        .unwrap();
        let c = compare(&ea, &eb).unwrap();
        assert_eq!((c.model_a.as_str(), c.model_b.as_str(), c.n), ("A", "B", 4));
        let acc = c
            .measures
            .iter()
            .find(|m| m.measure == "category.accuracy")
            .unwrap();
        assert_eq!(
            (acc.a, acc.b, acc.diff),
            (Some(0.5), Some(0.75), Some(0.25))
        );
        let flagged = c
            .measures
            .iter()
            .find(|m| m.measure == "review.flagged_share")
            .unwrap();
        assert_eq!(flagged.diff, Some(-0.25));
        assert!(!flagged.higher_is_better);
        assert!(
            c.measures
                .iter()
                .all(|m| !m.measure.starts_with("department"))
        );
        let t = c.category_mcnemar.unwrap();
        assert_eq!(
            (t.both_right, t.only_a_right, t.only_b_right, t.both_wrong),
            (2, 0, 1, 1)
        );
        assert!(c.department_mcnemar.is_none());
        let text = render_comparison_text(&c);
        assert!(text.contains("category.accuracy"), "{text}");
        assert!(text.contains("+0.2500 ▲"), "{text}");
        assert!(text.contains("McNemar (category)"), "{text}");
        let json: serde_json::Value = serde_json::to_value(&c).unwrap();
        assert_eq!(json["category_mcnemar"]["method"], "exact_binomial");

        let mut other = rows;
        other[0].id = "zz".into();
        let ec = evaluate_predictions(other, eb.predictions.clone(), "C").unwrap();
        assert!(matches!(compare(&ea, &ec), Err(EvalError::Mismatch(_))));
    }
}
