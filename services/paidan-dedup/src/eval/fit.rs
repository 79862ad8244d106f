//! Fitting the weights: L2 logistic regression on the pair features, the threshold, and the
//! recipe (penalty chosen by inner grouped cross-validation).

use super::*;

/// L2 penalties tried by [`fit_recipe`] (on the sum of the log-losses; the bias is not
/// penalised). The recipe's only choice besides the threshold.
pub const LAMBDAS: [f64; 5] = [0.1, 0.3, 1.0, 3.0, 10.0];

/// Folds of the inner cross-validation of [`fit_recipe`].
pub const INNER_FOLDS: usize = 4;

/// Thresholds tried: 0.05, 0.06, …, 0.95.
fn threshold_grid() -> impl Iterator<Item = f32> {
    (5..=95).map(|i| i as f32 / 100.0)
}

/// L2-regularised logistic regression by Newton's method (deterministic, exact to 1e-9).
/// `x` rows start with the bias column. Returns the weights.
pub fn fit_logistic(x: &[[f32; N_FEATURES]], y: &[bool], lambda: f64) -> [f32; N_FEATURES] {
    const N: usize = N_FEATURES;
    let mut w = [0f64; N];
    for _ in 0..100 {
        let mut g = [0f64; N];
        let mut h = [[0f64; N]; N];
        for (xi, &yi) in x.iter().zip(y) {
            let xi: [f64; N] = xi.map(f64::from);
            let z: f64 = xi.iter().zip(&w).map(|(a, b)| a * b).sum();
            let p = 1.0 / (1.0 + (-z).exp());
            let err = p - f64::from(u8::from(yi));
            let v = (p * (1.0 - p)).max(1e-12);
            for i in 0..N {
                g[i] += err * xi[i];
                for j in 0..N {
                    h[i][j] += v * xi[i] * xi[j];
                }
            }
        }
        for i in 1..N {
            g[i] += lambda * w[i];
            h[i][i] += lambda;
        }
        // A column that is all zeros (a feature never seen) would make H singular.
        for (i, row) in h.iter_mut().enumerate() {
            row[i] += 1e-9;
        }
        let step = solve(h, g);
        let mut max = 0f64;
        for i in 0..N {
            w[i] -= step[i];
            max = max.max(step[i].abs());
        }
        if max < 1e-9 {
            break;
        }
    }
    w.map(|v| v as f32)
}

/// Solve `a x = b` by Gaussian elimination with partial pivoting.
fn solve<const N: usize>(mut a: [[f64; N]; N], mut b: [f64; N]) -> [f64; N] {
    for col in 0..N {
        let pivot = (col..N)
            .max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))
            .unwrap_or(col);
        a.swap(col, pivot);
        b.swap(col, pivot);
        let d = a[col][col];
        if d.abs() < 1e-300 {
            continue;
        }
        let pivot_row = a[col];
        for row in col + 1..N {
            let f = a[row][col] / d;
            for (x, p) in a[row][col..].iter_mut().zip(&pivot_row[col..]) {
                *x -= f * p;
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = [0f64; N];
    for row in (0..N).rev() {
        let s: f64 = (row + 1..N).map(|k| a[row][k] * x[k]).sum();
        x[row] = if a[row][row].abs() < 1e-300 {
            0.0
        } else {
            (b[row] - s) / a[row][row]
        };
    }
    x
}

/// A fitted decision: the weights, the threshold, and how they were chosen.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fit {
    pub weights: Weights,
    pub threshold: f32,
    /// The L2 penalty the inner cross-validation chose.
    pub lambda: f64,
    /// Pooled macro-F1 of the inner cross-validation at the chosen penalty and threshold.
    pub inner_macro_f1: f64,
}

/// The feature rows of prepared pairs.
fn design(prepared: &[&Prepared], grace_days: f32) -> (Vec<[f32; N_FEATURES]>, Vec<bool>) {
    prepared
        .iter()
        // A place conflict is decided by the veto, not by the weights.
        .filter(|p| !place_conflict(&p.evidence))
        .map(|p| (Features::of(&p.evidence, grace_days).vector(), p.duplicate))
        .unzip()
}

/// Weights by [`fit_logistic`], with the age weight held at 0 if the data would make old
/// reports *more* alike (the service prunes candidates assuming the score falls with age).
fn fit_weights_on(prepared: &[&Prepared], lambda: f64) -> Weights {
    let base = Weights::default();
    let (mut x, y) = design(prepared, base.age_grace_days);
    let mut w = fit_logistic(&x, &y, lambda);
    if w[N_FEATURES - 1] > 0.0 {
        x.iter_mut().for_each(|r| r[N_FEATURES - 1] = 0.0);
        w = fit_logistic(&x, &y, lambda);
        w[N_FEATURES - 1] = 0.0;
    }
    base.with_linear(&w)
}

/// Is `p` a duplicate at `threshold` under the window of `cfg`?
pub(super) fn decide(score: f32, p: &Prepared, threshold: f32, cfg: &DedupConfig) -> bool {
    p.gap_ms <= cfg.window_ms && score >= threshold
}

/// The threshold with the best macro-F1 over scored pairs (ties: the one nearest 0.5).
fn best_threshold(scored: &[(f32, &Prepared)], cfg: &DedupConfig) -> (f32, f64) {
    let mut best = (0.5f32, f64::MIN);
    for t in threshold_grid() {
        let m = Metrics::from_predictions(
            scored
                .iter()
                .map(|(s, p)| (decide(*s, p, t, cfg), p.duplicate)),
        )
        .macro_f1;
        if m > best.1 + 1e-12
            || ((m - best.1).abs() <= 1e-12 && (t - 0.5).abs() < (best.0 - 0.5).abs())
        {
            best = (t, m);
        }
    }
    best
}

/// Deterministic grouped folds: pairs connected through a shared message id (union-find over
/// ids; a pair without ids is its own group) go to one fold. Groups are dealt largest first to
/// the fold with the fewest pairs so far (ties: the lowest fold). Returns each row's fold.
pub fn grouped_folds(rows: &[PairRow], k: usize) -> Vec<usize> {
    let k = k.max(1);
    let mut parent: Vec<usize> = (0..rows.len()).collect();
    fn find(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    let mut first_row: HashMap<&str, usize> = HashMap::new();
    for (i, r) in rows.iter().enumerate() {
        for id in [&r.a.id, &r.b.id].into_iter().flatten() {
            match first_row.get(id.as_str()) {
                Some(&j) => {
                    let (a, b) = (find(&mut parent, i), find(&mut parent, j));
                    if a != b {
                        parent[a.max(b)] = a.min(b);
                    }
                }
                None => {
                    first_row.insert(id, i);
                }
            }
        }
    }
    let mut groups: HashMap<usize, Vec<usize>> = HashMap::new();
    for i in 0..rows.len() {
        let root = find(&mut parent, i);
        groups.entry(root).or_default().push(i);
    }
    // Largest first; ties by the group's first row (deterministic, independent of hashing).
    let mut groups: Vec<Vec<usize>> = groups.into_values().collect();
    groups.sort_by_key(|g| (std::cmp::Reverse(g.len()), g[0]));
    let mut load = vec![0usize; k];
    let mut fold = vec![0usize; rows.len()];
    for g in groups {
        let f = (0..k).min_by_key(|&f| (load[f], f)).unwrap_or(0);
        load[f] += g.len();
        for i in g {
            fold[i] = f;
        }
    }
    fold
}

/// The recipe: for each penalty in [`LAMBDAS`], an inner grouped cross-validation
/// ([`INNER_FOLDS`] folds) over `rows`; the penalty with the best pooled macro-F1 (at its best
/// threshold) wins; the weights are then fitted on all of `rows` with it, and the threshold is
/// the one that inner cross-validation chose. Nothing outside `rows` is looked at.
pub fn fit_recipe(rows: &[PairRow], cfg: &DedupConfig) -> Fit {
    let prepared = prepare(rows);
    let all: Vec<&Prepared> = prepared.iter().collect();
    fit_prepared(rows, &all, cfg)
}

pub(super) fn fit_prepared(rows: &[PairRow], prepared: &[&Prepared], cfg: &DedupConfig) -> Fit {
    let folds = grouped_folds(rows, INNER_FOLDS);
    let mut best: Option<(f64, f64, f32)> = None; // (macro-F1, lambda, threshold)
    for &lambda in &LAMBDAS {
        let mut scored: Vec<(f32, &Prepared)> = Vec::with_capacity(prepared.len());
        for f in 0..INNER_FOLDS {
            let train: Vec<&Prepared> = prepared
                .iter()
                .zip(&folds)
                .filter(|(_, k)| **k != f)
                .map(|(p, _)| *p)
                .collect();
            let w = fit_weights_on(&train, lambda);
            for (p, _) in prepared.iter().zip(&folds).filter(|(_, k)| **k == f) {
                scored.push((probability(&p.evidence, &w), *p));
            }
        }
        let (t, m) = best_threshold(&scored, cfg);
        if best.is_none_or(|(bm, _, _)| m > bm + 1e-12) {
            best = Some((m, lambda, t));
        }
    }
    let (inner_macro_f1, lambda, threshold) = best.unwrap_or((0.0, 1.0, 0.5));
    Fit {
        weights: fit_weights_on(prepared, lambda),
        threshold,
        lambda,
        inner_macro_f1,
    }
}

/// The shipped form of a [`Fit`], to paste into `SHIPPED_WEIGHTS` and `DEFAULT_THRESHOLD`.
pub fn render_fit(fit: &Fit) -> String {
    let w = &fit.weights;
    format!(
        "// lambda {} (inner {}-fold CV macro-F1 {:.3})\n\
         const SHIPPED_WEIGHTS: Weights = Weights {{\n    bias: {:.4},\n    containment: {:.4},\n    terms: {:.4},\n    shared_place: {:.4},\n    shared_area: {:.4},\n    area_conflict: {:.4},\n    age_per_doubling: {:.4},\n    different_category: {:?},\n    age_grace_days: {:?},\n}};\n\
         pub const DEFAULT_THRESHOLD: f32 = {:.2};\n",
        fit.lambda,
        INNER_FOLDS,
        fit.inner_macro_f1,
        w.bias,
        w.containment,
        w.terms,
        w.shared_place,
        w.shared_area,
        w.area_conflict,
        w.age_per_doubling,
        w.different_category,
        w.age_grace_days,
        fit.threshold
    )
}
