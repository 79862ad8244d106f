//! The linear recipe: one weight row per tf-idf feature ([`crate::tfidf`]) holding the logits
//! it adds to every class of both heads (category columns, then department columns), plus a bias
//! — multinomial logistic regression per head with L2 regularisation, trained jointly.
//!
//! Why linear: on every check of the triage-quality issue a linear model over tf-idf n-grams
//! (scikit-learn's LinearSVC) beat the embedding bag, and grouped cross-validation confirms it
//! here (`paidan cv`, eval/SCORES.md). Logistic rather than hinge loss so that the heads give
//! probabilities that temperature scaling can calibrate.
//!
//! Training differentiates through candle: the sparse product `x · W` of a batch is computed
//! outside candle, the logits become a candle `Var`, the weighted cross-entropy of both heads
//! (`crate::model::weighted_cross_entropy`) is differentiated by candle, and the gradient of the
//! logits is scattered back to the weight rows the batch used, which a row-wise Adam updates
//! (`crate::sparse::RowAdamW`, with the L2 penalty as decoupled weight decay of those rows).
//!
//! Serving keeps the weights as 16-bit fixed point with one scale per column (see
//! [`LinearServing`]): a complaint's logits are the bias plus the tf-idf-weighted sum of its
//! feature rows.

use candle_core::{Device, Tensor, Var};
use rand::seq::SliceRandom;
use rand::{SeedableRng, rngs::StdRng};

use crate::error::ModelError;
use crate::model::weighted_cross_entropy;
use crate::sparse::RowAdamW;
use crate::tfidf::SparseVec;

/// Hyper-parameters of the linear recipe (chosen by grouped CV, see eval/SCORES.md).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LinearOptions {
    /// `svm`: one-vs-rest L2-regularised squared-hinge SVM per class, solved exactly by dual
    /// coordinate descent (what liblinear and scikit-learn's LinearSVC do); `logistic`: softmax
    /// cross-entropy per head trained with row-wise Adam through candle.
    #[serde(default = "default_solver")]
    pub solver: String,
    /// SVM: inverse regularisation strength (per row, times the row's weight).
    #[serde(default = "default_c")]
    pub c: f64,
    /// SVM: stop when the projected-gradient spread falls below this.
    #[serde(default = "default_tol")]
    pub tol: f64,
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    /// L2 penalty, applied as decoupled weight decay to the rows a batch uses.
    pub weight_decay: f64,
    pub label_smoothing: f32,
    /// SVM: NBSVM (Wang & Manning 2012) — each one-vs-rest problem is trained on features scaled
    /// by the class's log-count ratio r = log((p/|p|₁)/(q/|q|₁)), p, q = 1 + summed feature values
    /// of the positive / negative rows; r is folded into the weights afterwards, so serving is
    /// unchanged.
    #[serde(default)]
    pub nb: bool,
}

fn default_solver() -> String {
    "logistic".into()
}
fn default_c() -> f64 {
    1.0
}
fn default_tol() -> f64 {
    0.1
}

impl Default for LinearOptions {
    fn default() -> Self {
        LinearOptions {
            solver: "svm".into(),
            c: 2.0,
            tol: 0.1,
            epochs: 12,
            batch_size: 32,
            learning_rate: 0.05,
            weight_decay: 1e-4,
            label_smoothing: 0.0,
            nb: false,
        }
    }
}

/// One training document of the linear recipe.
#[derive(Debug, Clone)]
pub struct LinearDoc {
    pub x: SparseVec,
    pub cat: Option<usize>,
    pub dep: Option<usize>,
    pub weight: f32,
}

/// Weights of both heads: `weight` is `features × (nc + nd)` row-major, `bias` `nc + nd`.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearModel {
    pub nc: usize,
    pub nd: usize,
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

impl LinearModel {
    pub fn width(&self) -> usize {
        self.nc + self.nd
    }

    pub fn num_features(&self) -> usize {
        self.weight.len() / self.width().max(1)
    }

    /// Exact f32 logits (category, department) of one vector.
    pub fn logits(&self, x: &SparseVec) -> (Vec<f32>, Vec<f32>) {
        let k = self.width();
        let mut out = self.bias.clone();
        for &(f, v) in x {
            let row = &self.weight[f as usize * k..(f as usize + 1) * k];
            for (o, w) in out.iter_mut().zip(row) {
                *o += v * w;
            }
        }
        let dep = out.split_off(self.nc);
        (out, dep)
    }
}

/// Trains a [`LinearModel`] over `num_features` features with the solver of `opts`.
/// Deterministic given `seed`.
pub fn fit(
    docs: &[LinearDoc],
    num_features: usize,
    nc: usize,
    nd: usize,
    opts: &LinearOptions,
    seed: u64,
    on_epoch: &mut dyn FnMut(usize, f32),
) -> Result<LinearModel, ModelError> {
    match opts.solver.as_str() {
        "svm" => Ok(fit_svm(docs, num_features, nc, nd, opts, seed)),
        "logistic" => fit_logistic(docs, num_features, nc, nd, opts, seed, on_epoch),
        other => Err(ModelError::Train(format!(
            "unknown solver {other:?} (svm or logistic)"
        ))),
    }
}

/// One binary problem of the one-vs-rest SVM: rows with a label for the head, +1 for `class`.
/// Returns the weights over the features and the bias (the weight of a constant feature 1,
/// regularised like the others, as liblinear does).
fn svm_binary(
    docs: &[&LinearDoc],
    labels: &[usize],
    class: usize,
    num_features: usize,
    opts: &LinearOptions,
    seed: u64,
) -> (Vec<f32>, f32) {
    let n = docs.len();
    // Per-feature scale of the inputs: the NB log-count ratio, or 1.
    let r: Vec<f64> = if opts.nb {
        let (mut p, mut q) = (vec![1f64; num_features], vec![1f64; num_features]);
        for (d, &l) in docs.iter().zip(labels) {
            let t = if l == class { &mut p } else { &mut q };
            for &(f, v) in &d.x {
                t[f as usize] += f64::from(v);
            }
        }
        let (sp, sq) = (p.iter().sum::<f64>(), q.iter().sum::<f64>());
        p.iter()
            .zip(&q)
            .map(|(a, b)| (a / sp).ln() - (b / sq).ln())
            .collect()
    } else {
        Vec::new()
    };
    let rs = |f: u32| if r.is_empty() { 1.0 } else { r[f as usize] };
    let mut w = vec![0f64; num_features];
    let mut b = 0f64;
    let mut alpha = vec![0f64; n];
    let y: Vec<f64> = labels
        .iter()
        .map(|&l| if l == class { 1.0 } else { -1.0 })
        .collect();
    // D_ii = 1 / (2 C_i); Q_ii = x·x + 1 (the constant feature) + D_ii.
    let diag: Vec<f64> = docs
        .iter()
        .map(|d| 0.5 / (opts.c * f64::from(d.weight.max(1e-6))))
        .collect();
    let qd: Vec<f64> = docs
        .iter()
        .zip(&diag)
        .map(|(d, dg)| {
            d.x.iter()
                .map(|&(f, v)| (f64::from(v) * rs(f)).powi(2))
                .sum::<f64>()
                + 1.0
                + dg
        })
        .collect();
    let mut active: Vec<usize> = (0..n).collect();
    let mut rng = StdRng::seed_from_u64(seed ^ (class as u64).wrapping_mul(0x9e37_79b9));
    let (mut pg_max_old, mut pg_min_old) = (f64::INFINITY, f64::NEG_INFINITY);
    let max_iter = opts.epochs.max(1) * 100;
    for _ in 0..max_iter {
        active.shuffle(&mut rng);
        let (mut pg_max, mut pg_min) = (f64::NEG_INFINITY, f64::INFINITY);
        let mut k = 0;
        while k < active.len() {
            let i = active[k];
            let d = docs[i];
            let dot: f64 =
                d.x.iter()
                    .map(|&(f, v)| w[f as usize] * f64::from(v) * rs(f))
                    .sum::<f64>()
                    + b;
            let g = y[i] * dot - 1.0 + diag[i] * alpha[i];
            let mut pg = g;
            if alpha[i] == 0.0 {
                if g > pg_max_old {
                    // Shrink: at the bound and not going to move.
                    active.swap_remove(k);
                    continue;
                }
                pg = g.min(0.0);
            }
            pg_max = pg_max.max(pg);
            pg_min = pg_min.min(pg);
            if pg.abs() > 1e-12 {
                let old = alpha[i];
                alpha[i] = (old - g / qd[i]).max(0.0);
                let step = (alpha[i] - old) * y[i];
                for &(f, v) in &d.x {
                    w[f as usize] += step * f64::from(v) * rs(f);
                }
                b += step;
            }
            k += 1;
        }
        if pg_max - pg_min <= opts.tol {
            if active.len() == n {
                break;
            }
            // Converged on the active set: check all rows once more without shrinking.
            active = (0..n).collect();
            pg_max_old = f64::INFINITY;
            pg_min_old = f64::NEG_INFINITY;
            continue;
        }
        pg_max_old = if pg_max <= 0.0 { f64::INFINITY } else { pg_max };
        pg_min_old = if pg_min >= 0.0 {
            f64::NEG_INFINITY
        } else {
            pg_min
        };
    }
    let _ = pg_min_old;
    // Fold the NB scale into the weights: w·(x∘r) = (w∘r)·x.
    (
        w.iter()
            .enumerate()
            .map(|(f, v)| (v * rs(f as u32)) as f32)
            .collect(),
        b as f32,
    )
}

/// One-vs-rest squared-hinge SVMs for every class of both heads, on all cores.
fn fit_svm(
    docs: &[LinearDoc],
    num_features: usize,
    nc: usize,
    nd: usize,
    opts: &LinearOptions,
    seed: u64,
) -> LinearModel {
    let k = nc + nd;
    let heads: [(Vec<&LinearDoc>, Vec<usize>); 2] = [
        (
            docs.iter().filter(|d| d.cat.is_some()).collect(),
            docs.iter().filter_map(|d| d.cat).collect(),
        ),
        (
            docs.iter().filter(|d| d.dep.is_some()).collect(),
            docs.iter().filter_map(|d| d.dep).collect(),
        ),
    ];
    let jobs: Vec<(usize, usize)> = (0..nc)
        .map(|c| (0, c))
        .chain((0..nd).map(|c| (1, c)))
        .collect();
    let results = crate::par::map_jobs(jobs.len(), crate::par::cores(), |j| {
        let (head, class) = jobs[j];
        let (d, l) = &heads[head];
        let col = if head == 0 { class } else { nc + class };
        if l.contains(&class) {
            let (w, b) = svm_binary(d, l, class, num_features, opts, seed);
            (col, w, b)
        } else {
            // A class without rows: never predicted.
            (col, vec![0.0; num_features], -10.0)
        }
    });
    let mut weight = vec![0f32; num_features * k];
    let mut bias = vec![0f32; k];
    for (col, w, b) in results {
        for (f, v) in w.into_iter().enumerate() {
            weight[f * k + col] = v;
        }
        bias[col] = b;
    }
    LinearModel {
        nc,
        nd,
        weight,
        bias,
    }
}

/// Softmax cross-entropy of both heads, row-wise Adam (see the module docs); `on_epoch(epoch,
/// mean loss)` after each epoch.
fn fit_logistic(
    docs: &[LinearDoc],
    num_features: usize,
    nc: usize,
    nd: usize,
    opts: &LinearOptions,
    seed: u64,
    on_epoch: &mut dyn FnMut(usize, f32),
) -> Result<LinearModel, ModelError> {
    let k = nc + nd;
    if k == 0 {
        return Err(ModelError::Train("no head to train".into()));
    }
    let device = Device::Cpu;
    let mut weight = vec![0f32; num_features * k];
    let mut bias = vec![0f32; k];
    let mut row_opt = RowAdamW::new(num_features, k, opts.weight_decay);
    let mut bias_opt = RowAdamW::new(1, k, 0.0);
    let mut rng = StdRng::seed_from_u64(seed);
    let bs = opts.batch_size.max(1);
    let total_steps = (docs.len().div_ceil(bs) * opts.epochs).max(1);
    let mut order: Vec<usize> = (0..docs.len()).collect();
    let mut step = 0usize;
    // Batch scratch: distinct rows of the batch and their gradient.
    let mut slot_of: std::collections::HashMap<u32, u32> = std::collections::HashMap::new();
    let mut distinct: Vec<u32> = Vec::new();
    let mut grad: Vec<f32> = Vec::new();
    for epoch in 0..opts.epochs {
        order.shuffle(&mut rng);
        let (mut loss_sum, mut batches) = (0f32, 0usize);
        for batch in order.chunks(bs) {
            let lr = opts.learning_rate * (1.0 - step as f64 / total_steps as f64).max(0.02);
            step += 1;
            let b = batch.len();
            let mut z = Vec::with_capacity(b * k);
            for &i in batch {
                let start = z.len();
                z.extend_from_slice(&bias);
                let zb = &mut z[start..];
                for &(f, v) in &docs[i].x {
                    let row = &weight[f as usize * k..(f as usize + 1) * k];
                    for (o, w) in zb.iter_mut().zip(row) {
                        *o += v * w;
                    }
                }
            }
            let logits = Var::from_vec(z, (b, k), &device)?;
            let w: Vec<f32> = batch.iter().map(|&i| docs[i].weight).collect();
            let mut loss: Option<Tensor> = None;
            for (off, n, targets) in [
                (
                    0,
                    nc,
                    batch.iter().map(|&i| docs[i].cat).collect::<Vec<_>>(),
                ),
                (
                    nc,
                    nd,
                    batch.iter().map(|&i| docs[i].dep).collect::<Vec<_>>(),
                ),
            ] {
                if n == 0 {
                    continue;
                }
                let l = logits.as_tensor().narrow(1, off, n)?;
                if let Some(x) = weighted_cross_entropy(&l, &targets, &w, opts.label_smoothing)? {
                    loss = Some(match loss {
                        Some(acc) => (acc + x)?,
                        None => x,
                    });
                }
            }
            let Some(loss) = loss else { continue };
            loss_sum += loss.to_scalar::<f32>()?;
            batches += 1;
            let grads = loss.backward()?;
            let Some(g) = grads.get(logits.as_tensor()) else {
                continue;
            };
            let g: Vec<f32> = g.flatten_all()?.to_vec1()?;
            // Scatter: grad of row f = Σ_b x_bf · g_b.
            slot_of.clear();
            distinct.clear();
            grad.clear();
            for (bi, &i) in batch.iter().enumerate() {
                let gb = &g[bi * k..(bi + 1) * k];
                for &(f, v) in &docs[i].x {
                    let s = *slot_of.entry(f).or_insert_with(|| {
                        distinct.push(f);
                        grad.extend(std::iter::repeat_n(0f32, k));
                        (distinct.len() - 1) as u32
                    }) as usize;
                    for (a, &gj) in grad[s * k..(s + 1) * k].iter_mut().zip(gb) {
                        *a += v * gj;
                    }
                }
            }
            row_opt.step(&mut weight, &distinct, &grad, lr);
            let mut gbias = vec![0f32; k];
            for gb in g.chunks(k) {
                for (a, &gj) in gbias.iter_mut().zip(gb) {
                    *a += gj;
                }
            }
            bias_opt.step(&mut bias, &[0], &gbias, lr);
        }
        on_epoch(epoch + 1, loss_sum / batches.max(1) as f32);
    }
    Ok(LinearModel {
        nc,
        nd,
        weight,
        bias,
    })
}

/// Hints the CPU to bring the cache lines at the start of `row` (a table row, ≤ 2 lines) in.
#[inline(always)]
fn prefetch(row: &[i16]) {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: prefetching is a hint; the pointers come from a live slice and are never
        // dereferenced by the instruction.
        #[allow(unsafe_code)]
        unsafe {
            use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            let p = row.as_ptr().cast::<i8>();
            _mm_prefetch::<_MM_HINT_T0>(p);
            if row.len() > 32 {
                _mm_prefetch::<_MM_HINT_T0>(p.add(64));
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = row;
}

/// `sum += Σ v × row(f)` over the features of `x`, rows of `w` columns.
#[inline(always)]
fn sum_rows(table: &[i16], w: usize, x: &SparseVec, sum: &mut [f32]) {
    // The table is larger than the caches and a complaint's rows are scattered: fetch a few
    // rows ahead while summing (measured: the sum waits on memory more than on arithmetic).
    const AHEAD: usize = 8;
    for (i, &(f, v)) in x.iter().enumerate() {
        if let Some(&(g, _)) = x.get(i + AHEAD) {
            prefetch(&table[g as usize * w..]);
        }
        let at = f as usize * w;
        let row = &table[at..at + w];
        for (s, &q) in sum.iter_mut().zip(row) {
            *s += v * f32::from(q);
        }
    }
}

/// [`sum_rows`] compiled for AVX2: without it (the x86-64 baseline has no instruction that
/// widens 16-bit integers) the compiler kept one scalar multiply-add per column (perf
/// annotate); with it, 8 columns at a time. Multiplies and adds stay separate instructions (no
/// fused multiply-add is enabled), and each column adds its rows in the same order, so the sums
/// are the same to the bit.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn sum_rows_avx2(table: &[i16], w: usize, x: &SparseVec, sum: &mut [f32]) {
    sum_rows(table, w, x, sum)
}

/// Columns of the serving table are padded to a multiple of this.
const LANES: usize = 16;

/// The serving form of a [`LinearModel`]: weights as 16-bit fixed point with one scale per
/// column (a quarter of the f32 table), summed in f32 weighted by the tf-idf values.
#[derive(Debug, Clone)]
pub struct LinearServing {
    width: usize,
    nc: usize,
    nd: usize,
    table: Vec<i16>,
    scale: Vec<f32>,
    bias: Vec<f32>,
}

impl LinearServing {
    pub fn new(m: &LinearModel) -> LinearServing {
        let k = m.width();
        let width = k.div_ceil(LANES).max(1) * LANES;
        let rows = m.num_features();
        let mut scale = vec![1f32; width];
        for (c, s) in scale.iter_mut().enumerate().take(k) {
            let max = (0..rows)
                .map(|f| m.weight[f * k + c].abs())
                .fold(0f32, f32::max);
            if max > 0.0 {
                *s = max / f32::from(i16::MAX);
            }
        }
        let mut table = crate::huge::filled(rows * width, 0i16);
        for f in 0..rows {
            for c in 0..k {
                table[f * width + c] = (m.weight[f * k + c] / scale[c]).round() as i16;
            }
        }
        LinearServing {
            width,
            nc: m.nc,
            nd: m.nd,
            table,
            scale,
            bias: m.bias.clone(),
        }
    }

    pub fn num_features(&self) -> usize {
        self.table.len() / self.width
    }

    /// Logits (category, department) of one tf-idf vector; None for an absent head.
    pub fn logits(&self, x: &SparseVec) -> (Option<Vec<f32>>, Option<Vec<f32>>) {
        let mut sum = vec![0f32; self.width];
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked just above), all `sum_rows_avx2` requires.
            #[allow(unsafe_code)]
            unsafe {
                sum_rows_avx2(&self.table, self.width, x, &mut sum)
            };
        } else {
            sum_rows(&self.table, self.width, x, &mut sum);
        }
        #[cfg(not(target_arch = "x86_64"))]
        sum_rows(&self.table, self.width, x, &mut sum);
        let mut out = sum
            .iter()
            .zip(&self.scale)
            .zip(&self.bias)
            .map(|((s, sc), b)| s * sc + b);
        let cat = (self.nc > 0).then(|| out.by_ref().take(self.nc).collect());
        let dep = (self.nd > 0).then(|| out.by_ref().take(self.nd).collect());
        (cat, dep)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> Vec<LinearDoc> {
        // Feature 0 → class 0, feature 1 → class 1; feature 2 is noise; department follows.
        (0..40)
            .map(|i| {
                let c = i % 2;
                LinearDoc {
                    x: vec![(c as u32, 0.8), (2, 0.6)],
                    cat: Some(c),
                    dep: Some(1 - c),
                    weight: 1.0,
                }
            })
            .collect()
    }

    #[test]
    fn learns_a_separable_toy_problem_deterministically() {
        for solver in ["logistic", "svm"] {
            check_toy(LinearOptions {
                solver: solver.into(),
                epochs: 20,
                batch_size: 8,
                learning_rate: 0.1,
                ..LinearOptions::default()
            });
        }
    }

    fn check_toy(opts: LinearOptions) {
        let docs = toy();
        let a = fit(&docs, 3, 2, 2, &opts, 7, &mut |_, _| {}).unwrap();
        let b = fit(&docs, 3, 2, 2, &opts, 7, &mut |_, _| {}).unwrap();
        assert_eq!(a, b, "same seed, same weights");
        for d in &docs {
            let (c, dep) = a.logits(&d.x);
            let arg = |v: &[f32]| if v[0] > v[1] { 0 } else { 1 };
            assert_eq!(Some(arg(&c)), d.cat);
            assert_eq!(Some(arg(&dep)), d.dep);
        }
        // The serving table agrees with the exact logits.
        let s = LinearServing::new(&a);
        for d in &docs {
            let (c, dep) = a.logits(&d.x);
            let (sc, sd) = s.logits(&d.x);
            for (x, y) in c
                .iter()
                .chain(&dep)
                .zip(sc.unwrap().iter().chain(&sd.unwrap()))
            {
                assert!((x - y).abs() < 1e-3 * (1.0 + x.abs()), "{x} vs {y}");
            }
        }
    }

    #[test]
    fn vector_sums_equal_the_plain_ones_to_the_bit() {
        // A table of odd width (46 columns padded to 48) and sparse vectors over it, as served.
        let (rows, nc, nd) = (3000usize, 31usize, 15usize);
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let weight: Vec<f32> = (0..rows * (nc + nd))
            .map(|_| (next() % 20_001) as f32 / 10_000.0 - 1.0)
            .collect();
        let m = LinearModel {
            nc,
            nd,
            weight,
            bias: vec![0.25; nc + nd],
        };
        let s = LinearServing::new(&m);
        for _ in 0..50 {
            let mut ids: Vec<u32> = (0..400).map(|_| (next() % rows as u64) as u32).collect();
            ids.sort_unstable();
            ids.dedup();
            let v: SparseVec = ids
                .into_iter()
                .map(|f| (f, (next() % 1000) as f32 / 1000.0))
                .collect();
            let mut plain = vec![0f32; s.width];
            sum_rows(&s.table, s.width, &v, &mut plain);
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                let mut wide = vec![0f32; s.width];
                // SAFETY: AVX2 is present (checked above).
                #[allow(unsafe_code)]
                unsafe {
                    sum_rows_avx2(&s.table, s.width, &v, &mut wide)
                };
                let bits = |a: &[f32]| a.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&plain), bits(&wide));
            }
            // And `logits` is the plain sum, scaled and shifted.
            let (c, d) = s.logits(&v);
            let want: Vec<f32> = plain
                .iter()
                .zip(&s.scale)
                .zip(&s.bias)
                .map(|((x, sc), b)| x * sc + b)
                .take(nc + nd)
                .collect();
            let got: Vec<f32> = c.unwrap().into_iter().chain(d.unwrap()).collect();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn a_row_without_a_label_for_a_head_does_not_train_it() {
        let mut docs = toy();
        for d in &mut docs {
            d.dep = None;
        }
        let logistic = LinearOptions {
            solver: "logistic".into(),
            ..LinearOptions::default()
        };
        let m = fit(&docs, 3, 2, 2, &logistic, 1, &mut |_, _| {}).unwrap();
        assert!(m.weight.chunks(4).all(|r| r[2] == 0.0 && r[3] == 0.0));
        assert!(m.bias[2] == 0.0 && m.bias[3] == 0.0);
        // The SVM leaves a class without rows at zero weights and a bias that never wins.
        let m = fit(&docs, 3, 2, 2, &LinearOptions::default(), 1, &mut |_, _| {}).unwrap();
        assert!(m.weight.chunks(4).all(|r| r[2] == 0.0 && r[3] == 0.0));
        assert!(m.bias[2] < -1.0 && m.bias[3] < -1.0);
    }
}
