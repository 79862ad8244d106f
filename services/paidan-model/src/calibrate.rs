//! Temperature scaling, expected calibration error, review thresholds and head metrics.

use serde::{Deserialize, Serialize};

/// Softmax of `logits / temperature` into `out`.
pub fn softmax_t(logits: &[f32], temperature: f32, out: &mut Vec<f32>) {
    out.clear();
    let t = temperature.max(1e-3);
    let m = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0f32;
    for &l in logits {
        let e = ((l - m) / t).exp();
        out.push(e);
        sum += e;
    }
    if sum > 0.0 {
        out.iter_mut().for_each(|p| *p /= sum);
    }
}

/// Mean negative log-likelihood of `labels` under `softmax(logits / t)`.
pub fn nll(logits: &[Vec<f32>], labels: &[usize], t: f32) -> f64 {
    let mut p = Vec::new();
    let mut s = 0f64;
    for (l, &y) in logits.iter().zip(labels) {
        softmax_t(l, t, &mut p);
        s -= f64::from(p[y].max(1e-12)).ln();
    }
    s / labels.len().max(1) as f64
}

/// The temperature minimising dev NLL (golden-section search on log t in [0.05, 20]).
pub fn fit_temperature(logits: &[Vec<f32>], labels: &[usize]) -> f32 {
    if labels.is_empty() {
        return 1.0;
    }
    let f = |lt: f64| nll(logits, labels, lt.exp() as f32);
    let (mut a, mut b) = (0.05f64.ln(), 20f64.ln());
    let g = (5f64.sqrt() - 1.0) / 2.0;
    let mut c = b - g * (b - a);
    let mut d = a + g * (b - a);
    let (mut fc, mut fd) = (f(c), f(d));
    for _ in 0..60 {
        if fc < fd {
            b = d;
            d = c;
            fd = fc;
            c = b - g * (b - a);
            fc = f(c);
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + g * (b - a);
            fd = f(d);
        }
    }
    ((a + b) / 2.0).exp() as f32
}

/// Expected calibration error with `bins` equal-width confidence bins: Σ |acc − conf| · n_bin / n.
pub fn ece(confidences: &[f32], correct: &[bool], bins: usize) -> f64 {
    let n = confidences.len();
    if n == 0 {
        return 0.0;
    }
    let mut cnt = vec![0usize; bins];
    let mut conf = vec![0f64; bins];
    let mut acc = vec![0f64; bins];
    for (&c, &ok) in confidences.iter().zip(correct) {
        let b = ((c.clamp(0.0, 1.0) * bins as f32) as usize).min(bins - 1);
        cnt[b] += 1;
        conf[b] += f64::from(c);
        acc[b] += if ok { 1.0 } else { 0.0 };
    }
    (0..bins)
        .filter(|&b| cnt[b] > 0)
        .map(|b| (acc[b] - conf[b]).abs() / n as f64)
        .sum()
}

/// Review rule of one head: review when confidence < `threshold` or top1 − top2 < `margin`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReviewRule {
    pub threshold: f32,
    pub margin: f32,
}

impl ReviewRule {
    pub fn accepts(&self, top1: f32, top2: f32) -> bool {
        top1 >= self.threshold && top1 - top2 >= self.margin
    }
}

/// Picks the review rule that sends the fewest dev rows to review while the rows it lets through
/// reach `target_accuracy`; if no rule reaches it, the strictest rule in the grid.
/// Each item: (top1 confidence, top2 confidence, top1 correct).
pub fn choose_rule(rows: &[(f32, f32, bool)], target_accuracy: f64) -> ReviewRule {
    let mut best: Option<(usize, ReviewRule)> = None;
    let thresholds: Vec<f32> = (0..=18).map(|i| 0.05 * i as f32).collect();
    let margins = [0.0f32, 0.05, 0.1, 0.15, 0.2, 0.3];
    for &t in &thresholds {
        for &m in &margins {
            let rule = ReviewRule {
                threshold: t,
                margin: m,
            };
            let (mut acc_n, mut acc_ok) = (0usize, 0usize);
            for &(p1, p2, ok) in rows {
                if rule.accepts(p1, p2) {
                    acc_n += 1;
                    acc_ok += usize::from(ok);
                }
            }
            // Require a minimum of accepted rows so one lucky row cannot satisfy the target.
            if acc_n < 10.min(rows.len()) || (acc_ok as f64) < target_accuracy * acc_n as f64 {
                continue;
            }
            let reviewed = rows.len() - acc_n;
            if best.is_none_or(|(r, _)| reviewed < r) {
                best = Some((reviewed, rule));
            }
        }
    }
    best.map(|(_, r)| r).unwrap_or(ReviewRule {
        threshold: 0.9,
        margin: 0.3,
    })
}

/// Dev/test metrics of one head.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HeadMetrics {
    pub rows: usize,
    pub accuracy: f64,
    pub macro_f1: f64,
    /// Rows with `sure` = true (missing `sure` counts as sure).
    pub sure_rows: usize,
    pub accuracy_sure: f64,
    /// ECE (15 bins) with temperature 1 and with the fitted temperature.
    pub ece_uncalibrated: f64,
    pub ece: f64,
    pub temperature: f32,
    /// Share of rows the review rule flags, and accuracy on the rest.
    pub review_rate: f64,
    pub accepted_accuracy: f64,
}

/// Macro-F1 over the classes that occur in `gold` or `pred`.
pub fn macro_f1(gold: &[usize], pred: &[usize], classes: usize) -> f64 {
    let mut tp = vec![0usize; classes];
    let mut fp = vec![0usize; classes];
    let mut fneg = vec![0usize; classes];
    for (&g, &p) in gold.iter().zip(pred) {
        if g == p {
            tp[g] += 1;
        } else {
            fp[p] += 1;
            fneg[g] += 1;
        }
    }
    let mut sum = 0f64;
    let mut n = 0usize;
    for c in 0..classes {
        if tp[c] + fp[c] + fneg[c] == 0 {
            continue;
        }
        n += 1;
        let denom = 2 * tp[c] + fp[c] + fneg[c];
        sum += 2.0 * tp[c] as f64 / denom as f64;
    }
    if n == 0 { 0.0 } else { sum / n as f64 }
}

/// Metrics of one head from raw logits, gold labels and sure flags, given a temperature and rule.
pub fn head_metrics(
    logits: &[Vec<f32>],
    gold: &[usize],
    sure: &[bool],
    temperature: f32,
    rule: ReviewRule,
) -> HeadMetrics {
    let n = gold.len();
    if n == 0 {
        return HeadMetrics::default();
    }
    let classes = logits[0].len();
    let mut p = Vec::new();
    let (mut pred, mut conf1, mut conf_t, mut correct) = (vec![], vec![], vec![], vec![]);
    let (mut sure_n, mut sure_ok, mut acc_n, mut acc_ok) = (0, 0, 0, 0);
    for ((l, &g), &s) in logits.iter().zip(gold).zip(sure) {
        softmax_t(l, 1.0, &mut p);
        let (k, c1) = argmax(&p);
        conf1.push(c1);
        softmax_t(l, temperature, &mut p);
        let (top1, top2) = top_two(&p);
        conf_t.push(top1);
        let ok = k == g;
        pred.push(k);
        correct.push(ok);
        if s {
            sure_n += 1;
            sure_ok += usize::from(ok);
        }
        if rule.accepts(top1, top2) {
            acc_n += 1;
            acc_ok += usize::from(ok);
        }
    }
    let ok_n = correct.iter().filter(|&&c| c).count();
    HeadMetrics {
        rows: n,
        accuracy: ok_n as f64 / n as f64,
        macro_f1: macro_f1(gold, &pred, classes),
        sure_rows: sure_n,
        accuracy_sure: if sure_n > 0 {
            sure_ok as f64 / sure_n as f64
        } else {
            0.0
        },
        ece_uncalibrated: ece(&conf1, &correct, 15),
        ece: ece(&conf_t, &correct, 15),
        temperature,
        review_rate: (n - acc_n) as f64 / n as f64,
        accepted_accuracy: if acc_n > 0 {
            acc_ok as f64 / acc_n as f64
        } else {
            0.0
        },
    }
}

pub(crate) fn argmax(p: &[f32]) -> (usize, f32) {
    let mut best = (0, f32::NEG_INFINITY);
    for (i, &v) in p.iter().enumerate() {
        if v > best.1 {
            best = (i, v);
        }
    }
    best
}

pub(crate) fn top_two(p: &[f32]) -> (f32, f32) {
    let (mut a, mut b) = (f32::NEG_INFINITY, 0f32);
    for &v in p {
        if v > a {
            b = a.max(0.0);
            a = v;
        } else if v > b {
            b = v;
        }
    }
    (a.max(0.0), b)
}

/// The operating point of an automation rule "auto-route when score ≥ threshold".
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Coverage {
    /// Accuracy the auto-routed rows must reach.
    pub target: f64,
    /// Share of rows auto-routed (score ≥ threshold).
    pub coverage: f64,
    pub threshold: f32,
    /// Accuracy on the auto-routed rows.
    pub accuracy: f64,
    pub accepted: usize,
}

/// The automation threshold when no cut reaches the target: above every score.
pub const NO_AUTOMATION: f32 = 1.01;

/// The lowest threshold at which the rows scoring at least it are right at a rate ≥ `target`,
/// i.e. the largest auto-routed share that meets the target. Each item: (score, right). Fewer
/// than 10 accepted rows never count as meeting a target (one lucky row would).
pub fn coverage_at(rows: &[(f32, bool)], target: f64) -> Coverage {
    let mut sorted: Vec<(f32, bool)> = rows.to_vec();
    sorted.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut best = Coverage {
        target,
        // Above every score (a product of probabilities): nothing auto-routed.
        threshold: NO_AUTOMATION,
        ..Coverage::default()
    };
    let mut ok = 0usize;
    let mut i = 0;
    while i < sorted.len() {
        // Rows with equal scores are accepted or refused together.
        let s = sorted[i].0;
        while i < sorted.len() && sorted[i].0 == s {
            ok += usize::from(sorted[i].1);
            i += 1;
        }
        if i >= 10.min(sorted.len()) && ok as f64 >= target * i as f64 {
            best = Coverage {
                target,
                coverage: i as f64 / sorted.len() as f64,
                threshold: s,
                accuracy: ok as f64 / i as f64,
                accepted: i,
            };
        }
    }
    best
}

/// The department-confidence cut below which the routing table's department is served instead of
/// the head's: the one (of 0, 0.05, …, 0.95) with the most correct served departments on dev,
/// the lowest on ties. Each row: (head confidence, head right, table right).
pub(crate) fn choose_route_below(rows: &[(f32, bool, bool)]) -> f32 {
    let mut best = (0usize, 0f32);
    for i in 0..20 {
        let cut = 0.05 * i as f32;
        let ok = rows
            .iter()
            .filter(|&&(c, head, table)| if c < cut { table } else { head })
            .count();
        if i == 0 || ok > best.0 {
            best = (ok, cut);
        }
    }
    best.1
}

/// Floor of the routing-table mass in [`apply_category_prior`]: a department that no likely
/// category routes to keeps a little weight, so a confident department head can still win.
pub const PRIOR_FLOOR: f32 = 0.02;

/// Department jointly with category: `q(d) ∝ p_dep(d) · (PRIOR_FLOOR + m(d))^beta`, where `m(d)` is
/// the category probability mass whose routing-table department is `d` (`routes[c]` = index of
/// category `c`'s department, None when the table names none). `beta = 0` leaves `p_dep` as it is.
pub fn apply_category_prior(p_dep: &mut [f32], p_cat: &[f32], routes: &[Option<usize>], beta: f32) {
    if beta <= 0.0 {
        return;
    }
    let mut mass = vec![0f32; p_dep.len()];
    for (pc, r) in p_cat.iter().zip(routes) {
        if let Some(d) = r
            && *d < mass.len()
        {
            mass[*d] += pc;
        }
    }
    let mut sum = 0f32;
    for (p, m) in p_dep.iter_mut().zip(&mass) {
        *p *= (PRIOR_FLOOR + m).powf(beta);
        sum += *p;
    }
    if sum > 0.0 {
        p_dep.iter_mut().for_each(|p| *p /= sum);
    }
}

#[cfg(test)]
mod coverage_tests {
    use super::*;

    #[test]
    fn coverage_at_table() {
        // (rows as (score, right), target) → (coverage, threshold)
        let ten_right: Vec<(f32, bool)> = (0..10).map(|i| (0.9 - i as f32 * 0.01, true)).collect();
        let mut mixed = ten_right.clone();
        mixed.extend([(0.5, false), (0.4, true), (0.3, false), (0.2, false)]);
        for (rows, target, coverage, threshold) in [
            (ten_right.clone(), 0.95, 1.0, 0.81),
            // 11 rows at ≥ 0.5 are 10/11 = 0.909 right; 12 at ≥ 0.4 are 11/12 = 0.917.
            (mixed.clone(), 0.95, 10.0 / 14.0, 0.81),
            (mixed.clone(), 0.9, 12.0 / 14.0, 0.4),
            // At least 10 accepted rows (or all rows when there are fewer) must meet a target.
            (ten_right[..5].to_vec(), 0.95, 1.0, 0.86),
            (vec![(0.9, false); 12], 0.95, 0.0, NO_AUTOMATION),
        ] {
            let c = coverage_at(&rows, target);
            assert!(
                (c.coverage - coverage).abs() < 1e-9,
                "{rows:?} {target}: {c:?}"
            );
            assert!(
                (c.threshold - threshold).abs() < 1e-6,
                "{rows:?} {target}: {c:?}"
            );
        }
    }
}
