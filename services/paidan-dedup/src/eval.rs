//! Evaluation on labelled pairs: the service's decision, the fit of its weights, grouped
//! cross-validation against the baselines, and the recall of candidate generation.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::legacy::{LEGACY_THRESHOLD, LegacyWeights, legacy_score_of};
use crate::{
    DedupConfig, DedupError, Features, Fingerprint, MatchContext, MatchScore, N_FEATURES, Weights,
    entity_keys_v1, evidence, place_conflict, probability, score_with, sketch,
};

/// One side of a labelled pair. Extra fields are ignored.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PairSide {
    /// Message id (pairs sharing an id are kept in one cross-validation fold).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub text: String,
    /// e.g. "2019/1/13 15:32:04", "2018-12-30", "05/03/2016" (month/day/year).
    #[serde(default)]
    pub time: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
}

/// `{"a": {...}, "b": {...}, "duplicate": bool, "sure": bool}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairRow {
    pub a: PairSide,
    pub b: PairSide,
    pub duplicate: bool,
    /// The annotators were sure of the label (missing = sure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sure: Option<bool>,
}

/// Read a JSONL file of [`PairRow`]s (blank lines skipped).
pub fn read_pairs(path: &Path) -> Result<Vec<PairRow>, DedupError> {
    let text = std::fs::read_to_string(path)?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|source| DedupError::PairRow {
                line: i + 1,
                source,
            })
        })
        .collect()
}

static YMD_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T](\d{1,2}):(\d{1,2})(?::(\d{1,2}))?)?$")
        .expect("static")
});
static MDY_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(\d{1,2})/(\d{1,2})/(\d{4})(?:[ T](\d{1,2}):(\d{1,2})(?::(\d{1,2}))?)?$")
        .expect("static")
});

/// Milliseconds since the Unix epoch of a complaint time (read as UTC; only gaps matter).
/// Accepts `Y/M/D[ h:m[:s]]`, `Y-M-D[ h:m[:s]]` and `M/D/Y[ h:m[:s]]`.
pub fn parse_time_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    let (caps, ymd) = if let Some(c) = YMD_RE.captures(s) {
        (c, [1, 2, 3])
    } else {
        (MDY_RE.captures(s)?, [3, 1, 2])
    };
    let num = |i: usize| {
        caps.get(i)
            .map_or(Some(0), |m| m.as_str().parse::<i64>().ok())
    };
    let (y, mo, d) = (num(ymd[0])?, num(ymd[1])?, num(ymd[2])?);
    let month = time::Month::try_from(u8::try_from(mo).ok()?).ok()?;
    let date = time::Date::from_calendar_date(i32::try_from(y).ok()?, month, u8::try_from(d).ok()?)
        .ok()?;
    let t = time::Time::from_hms(
        u8::try_from(num(4)?).ok()?,
        u8::try_from(num(5)?).ok()?,
        u8::try_from(num(6)?).ok()?,
    )
    .ok()?;
    let at = time::PrimitiveDateTime::new(date, t).assume_utc();
    Some((at.unix_timestamp_nanos() / 1_000_000) as i64)
}

/// A pair ready for scoring: fingerprints, evidence (category and jurisdiction taken as equal,
/// since the pairs carry neither; the gap from the pair's times), and the baselines' inputs.
struct Prepared {
    evidence: MatchScore,
    trigram_jaccard: f32,
    /// Shares an index key of this build (text band, entity, crossing or place-term key).
    candidate: bool,
    /// Shares a key of fingerprint version 1 (text band or entity name).
    candidate_v1: bool,
    gap_ms: i64,
    duplicate: bool,
    sure: bool,
}

fn prepare(rows: &[PairRow]) -> Vec<Prepared> {
    rows.iter()
        .map(|r| {
            let fp = |s: &PairSide| {
                Fingerprint::new(&s.title, &s.text, s.address.as_deref().unwrap_or(""))
            };
            let body = |s: &PairSide| {
                sketch::char_shingles(
                    &paidan_text::normalize(&format!("{}。{}", s.title, s.text)),
                    3,
                )
            };
            let time = |s: &PairSide| s.time.as_deref().and_then(parse_time_ms);
            let gap_ms = match (time(&r.a), time(&r.b)) {
                (Some(x), Some(y)) => (x - y).abs(),
                _ => 0,
            };
            let (a, b) = (fp(&r.a), fp(&r.b));
            let ctx = MatchContext {
                gap_ms,
                ..MatchContext::default()
            };
            Prepared {
                evidence: evidence(&a, &b, &ctx),
                trigram_jaccard: sketch::jaccard_sorted(&body(&r.a), &body(&r.b)),
                candidate: shares_any_key(&a, &b),
                candidate_v1: shares_key(&a, &b, sketch::NUM_BANDS, sketch::BAND_ROWS).1,
                gap_ms,
                duplicate: r.duplicate,
                sure: r.sure.unwrap_or(true),
            }
        })
        .collect()
}

/// Precision, recall and F1 of the duplicate class, macro-F1 over both classes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub macro_f1: f64,
    pub n: usize,
}

impl Metrics {
    /// From (predicted, actual) pairs.
    pub fn from_predictions<I: IntoIterator<Item = (bool, bool)>>(it: I) -> Metrics {
        let (mut tp, mut fp, mut fn_, mut tn) = (0usize, 0usize, 0usize, 0usize);
        for (pred, gold) in it {
            match (pred, gold) {
                (true, true) => tp += 1,
                (true, false) => fp += 1,
                (false, true) => fn_ += 1,
                (false, false) => tn += 1,
            }
        }
        let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let f1 = |tp: usize, fp: usize, fn_: usize| ratio(2 * tp, 2 * tp + fp + fn_);
        let f1_dup = f1(tp, fp, fn_);
        let f1_not = f1(tn, fn_, fp);
        Metrics {
            precision: ratio(tp, tp + fp),
            recall: ratio(tp, tp + fn_),
            f1: f1_dup,
            macro_f1: (f1_dup + f1_not) / 2.0,
            n: tp + fp + fn_ + tn,
        }
    }
}

/// One threshold of a sweep.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepPoint {
    pub threshold: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub macro_f1: f64,
}

/// Result of `paidan eval-dedup`: figures at the configured threshold and a threshold sweep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DedupEval {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub macro_f1: f64,
    pub threshold: f64,
    /// The hard time window the figures were computed with, in days (0 = no window).
    pub window_days: f64,
    pub n: usize,
    pub sweep: Vec<SweepPoint>,
}

/// Thresholds of the sweep: 0.05, 0.10, …, 0.95.
fn sweep_thresholds() -> impl Iterator<Item = f32> {
    (1..20).map(|i| i as f32 / 20.0)
}

/// Score the service's decision ([`crate::score`] + [`DedupConfig::is_duplicate`]) on pairs.
/// The pairs' times give the time gap (the window applies); category and jurisdiction are
/// taken as equal, since the pairs carry neither. Whether the pair would be a candidate is not
/// asked here (see [`cross_validate`] for that).
pub fn eval_pairs(rows: &[PairRow], cfg: &DedupConfig) -> DedupEval {
    eval_pairs_with(rows, cfg, &Weights::default())
}

/// [`eval_pairs`] with other weights.
pub fn eval_pairs_with(rows: &[PairRow], cfg: &DedupConfig, w: &Weights) -> DedupEval {
    let prepared = prepare(rows);
    let scored: Vec<(MatchScore, bool)> = prepared
        .iter()
        .map(|p| {
            let mut s = p.evidence;
            s.score = probability(&s, w);
            (s, p.duplicate)
        })
        .collect();
    let at = |threshold: f32| {
        let c = DedupConfig { threshold, ..*cfg };
        Metrics::from_predictions(scored.iter().map(|(s, gold)| (c.is_duplicate(s), *gold)))
    };
    let m = at(cfg.threshold);
    DedupEval {
        precision: m.precision,
        recall: m.recall,
        f1: m.f1,
        macro_f1: m.macro_f1,
        threshold: clean(cfg.threshold),
        window_days: cfg.window_days(),
        n: m.n,
        sweep: sweep_thresholds()
            .map(|t| {
                let m = at(t);
                SweepPoint {
                    threshold: clean(t),
                    precision: m.precision,
                    recall: m.recall,
                    f1: m.f1,
                    macro_f1: m.macro_f1,
                }
            })
            .collect(),
    }
}

/// Printed table of a [`DedupEval`].
pub fn render_text(eval: &DedupEval) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "pairs: {}   threshold: {:.2}   window: {}\nprecision {:.3}   recall {:.3}   f1 {:.3}   macro-f1 {:.3}\n",
        eval.n,
        eval.threshold,
        window_name(eval.window_days),
        eval.precision,
        eval.recall,
        eval.f1,
        eval.macro_f1
    );
    let _ = writeln!(s, "threshold  precision  recall  f1     macro-f1");
    for p in &eval.sweep {
        let mark = if (p.threshold - eval.threshold).abs() < 1e-6 {
            " <"
        } else {
            ""
        };
        let _ = writeln!(
            s,
            "{:>9.2}  {:>9.3}  {:>6.3}  {:.3}  {:.3}{mark}",
            p.threshold, p.precision, p.recall, p.f1, p.macro_f1
        );
    }
    s
}

/// A threshold as f64 without the f32 noise (0.72, not 0.7200000286102295), for the JSON reports.
fn clean(t: f32) -> f64 {
    (f64::from(t) * 1e6).round() / 1e6
}

fn window_name(days: f64) -> String {
    if days == 0.0 {
        "none".to_string()
    } else {
        format!("{days} days")
    }
}

// ---------------------------------------------------------------------------------------------
// Fitting

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
fn decide(score: f32, p: &Prepared, threshold: f32, cfg: &DedupConfig) -> bool {
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

fn fit_prepared(rows: &[PairRow], prepared: &[&Prepared], cfg: &DedupConfig) -> Fit {
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

// ---------------------------------------------------------------------------------------------
// Cross-validation

/// One method's pooled figures over the held-out folds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CvMethod {
    /// The decision alone (whether the pair would be a candidate is not asked).
    pub decision: Metrics,
    /// Only candidates can be linked: a duplicate pair that shares no index key is a miss.
    pub with_candidates: Metrics,
    /// The decision alone on the pairs the annotators were sure of.
    pub sure_only: Metrics,
}

/// One outer fold.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CvFold {
    pub fold: usize,
    pub pairs: usize,
    pub duplicates: usize,
    /// Chosen on the training folds only.
    pub lambda: f64,
    pub threshold: f64,
    pub jaccard_threshold: f64,
    pub decision: Metrics,
    pub legacy: Metrics,
    pub jaccard: Metrics,
}

/// Share of the duplicate pairs that share an index key (are candidates at all).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CandidateRecall {
    pub duplicate_pairs: usize,
    /// Keys of this build: text bands, entity names and tails, road crossings, place + term.
    pub hits: usize,
    pub recall: f64,
    /// Keys of fingerprint version 1: text bands and entity names.
    pub hits_v1: usize,
    pub recall_v1: f64,
    /// Non-duplicate labelled pairs that are candidates (scored, not errors).
    pub other_pairs: usize,
    pub other_hits: usize,
    pub other_hits_v1: usize,
}

/// Result of `paidan eval-dedup --cv K`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CvReport {
    pub folds: usize,
    pub pairs: usize,
    pub duplicates: usize,
    pub window_days: f64,
    /// The decision of this build, refitted ([`fit_recipe`]) on the training folds of each fold.
    pub refit: CvMethod,
    /// The decision before this revision, fixed weights and threshold 0.5 (its candidates:
    /// fingerprint-version-1 keys).
    pub legacy: CvMethod,
    /// Exact Jaccard of character trigrams of title + text, threshold chosen on the training folds.
    pub trigram_jaccard: CvMethod,
    pub candidates: CandidateRecall,
    pub per_fold: Vec<CvFold>,
    /// What the recipe chooses from.
    pub lambdas: Vec<f64>,
    pub inner_folds: usize,
}

/// Grouped `k`-fold cross-validation ([`grouped_folds`]): on each fold the recipe
/// ([`fit_recipe`]) and the Jaccard baseline's threshold see the training folds only; the
/// held-out predictions are pooled. The window of `cfg` applies to every method.
pub fn cross_validate(rows: &[PairRow], k: usize, cfg: &DedupConfig) -> CvReport {
    let prepared = prepare(rows);
    let folds = grouped_folds(rows, k);
    let n = rows.len();
    let mut refit = vec![false; n];
    let mut legacy = vec![false; n];
    let mut jaccard = vec![false; n];
    let mut per_fold = Vec::new();
    let lw = LegacyWeights::default();
    for f in 0..k {
        let train_idx: Vec<usize> = (0..n).filter(|&i| folds[i] != f).collect();
        let test_idx: Vec<usize> = (0..n).filter(|&i| folds[i] == f).collect();
        let train_rows: Vec<PairRow> = train_idx.iter().map(|&i| rows[i].clone()).collect();
        let train: Vec<&Prepared> = train_idx.iter().map(|&i| &prepared[i]).collect();
        let fit = fit_prepared(&train_rows, &train, cfg);
        let jac_train: Vec<(f32, &Prepared)> =
            train.iter().map(|p| (p.trigram_jaccard, *p)).collect();
        let (jt, _) = best_threshold_full(&jac_train, cfg);
        for &i in &test_idx {
            let p = &prepared[i];
            refit[i] = decide(
                probability(&p.evidence, &fit.weights),
                p,
                fit.threshold,
                cfg,
            );
            legacy[i] = decide(legacy_score_of(&p.evidence, &lw), p, LEGACY_THRESHOLD, cfg);
            jaccard[i] = decide(p.trigram_jaccard, p, jt, cfg);
        }
        let m = |pred: &[bool]| {
            Metrics::from_predictions(test_idx.iter().map(|&i| (pred[i], prepared[i].duplicate)))
        };
        per_fold.push(CvFold {
            fold: f,
            pairs: test_idx.len(),
            duplicates: test_idx.iter().filter(|&&i| prepared[i].duplicate).count(),
            lambda: fit.lambda,
            threshold: clean(fit.threshold),
            jaccard_threshold: clean(jt),
            decision: m(&refit),
            legacy: m(&legacy),
            jaccard: m(&jaccard),
        });
    }
    let method = |pred: &[bool], cand: &dyn Fn(&Prepared) -> bool| CvMethod {
        decision: Metrics::from_predictions(
            prepared.iter().zip(pred).map(|(p, &d)| (d, p.duplicate)),
        ),
        with_candidates: Metrics::from_predictions(
            prepared
                .iter()
                .zip(pred)
                .map(|(p, &d)| (d && cand(p), p.duplicate)),
        ),
        sure_only: Metrics::from_predictions(
            prepared
                .iter()
                .zip(pred)
                .filter(|(p, _)| p.sure)
                .map(|(p, &d)| (d, p.duplicate)),
        ),
    };
    let dup = |p: &&Prepared| p.duplicate;
    let duplicates = prepared.iter().filter(dup).count();
    let count = |f: &dyn Fn(&Prepared) -> bool, d: bool| {
        prepared.iter().filter(|p| p.duplicate == d && f(p)).count()
    };
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let hits = count(&|p| p.candidate, true);
    let hits_v1 = count(&|p| p.candidate_v1, true);
    CvReport {
        folds: k,
        pairs: n,
        duplicates,
        window_days: cfg.window_days(),
        refit: method(&refit, &|p| p.candidate),
        legacy: method(&legacy, &|p| p.candidate_v1),
        trigram_jaccard: method(&jaccard, &|p| p.candidate),
        candidates: CandidateRecall {
            duplicate_pairs: duplicates,
            hits,
            recall: ratio(hits, duplicates),
            hits_v1,
            recall_v1: ratio(hits_v1, duplicates),
            other_pairs: n - duplicates,
            other_hits: count(&|p| p.candidate, false),
            other_hits_v1: count(&|p| p.candidate_v1, false),
        },
        per_fold,
        lambdas: LAMBDAS.to_vec(),
        inner_folds: INNER_FOLDS,
    }
}

/// [`best_threshold`] over 0.00, 0.01, …, 1.00 (similarities are not probabilities).
fn best_threshold_full(scored: &[(f32, &Prepared)], cfg: &DedupConfig) -> (f32, f64) {
    let mut best = (0.5f32, f64::MIN);
    for i in 0..=100 {
        let t = i as f32 / 100.0;
        let m = Metrics::from_predictions(
            scored
                .iter()
                .map(|(s, p)| (decide(*s, p, t, cfg), p.duplicate)),
        )
        .macro_f1;
        if m > best.1 + 1e-12 {
            best = (t, m);
        }
    }
    best
}

/// Printed summary of a [`CvReport`].
pub fn render_cv(r: &CvReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "grouped {}-fold CV over {} pairs ({} duplicate), window: {}\n",
        r.folds,
        r.pairs,
        r.duplicates,
        window_name(r.window_days)
    );
    let _ = writeln!(
        s,
        "method                         macro-F1  P(dup)  R(dup)  | with candidates: macro-F1  R(dup) | sure only: macro-F1"
    );
    for (name, m) in [
        ("decision, refit per fold", &r.refit),
        ("old decision, fixed weights", &r.legacy),
        ("char-trigram Jaccard", &r.trigram_jaccard),
    ] {
        let _ = writeln!(
            s,
            "{name:<30} {:>8.3}  {:>6.3}  {:>6.3}  |                  {:>8.3}  {:>6.3} |            {:>8.3}",
            m.decision.macro_f1,
            m.decision.precision,
            m.decision.recall,
            m.with_candidates.macro_f1,
            m.with_candidates.recall,
            m.sure_only.macro_f1
        );
    }
    let c = &r.candidates;
    let _ = writeln!(
        s,
        "\ncandidate recall: {}/{} = {:.3} (version-1 keys: {}/{} = {:.3}); non-duplicate pairs sharing a key: {}/{} ({} with version-1 keys)",
        c.hits,
        c.duplicate_pairs,
        c.recall,
        c.hits_v1,
        c.duplicate_pairs,
        c.recall_v1,
        c.other_hits,
        c.other_pairs,
        c.other_hits_v1
    );
    let _ = writeln!(
        s,
        "\nfold  pairs  dup  lambda  threshold  macro-F1: decision  old     jaccard (threshold)"
    );
    for f in &r.per_fold {
        let _ = writeln!(
            s,
            "{:>4}  {:>5}  {:>3}  {:>6}  {:>9.2}            {:.3}  {:.3}   {:.3} ({:.2})",
            f.fold,
            f.pairs,
            f.duplicates,
            f.lambda,
            f.threshold,
            f.decision.macro_f1,
            f.legacy.macro_f1,
            f.jaccard.macro_f1,
            f.jaccard_threshold
        );
    }
    s
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

// ---------------------------------------------------------------------------------------------
// Candidates

/// Whether two fingerprints share any index key (what the store looks up, jurisdiction and
/// window aside).
pub fn shares_any_key(a: &Fingerprint, b: &Fingerprint) -> bool {
    let mut ka = a.bands().to_vec();
    let mut kb = b.bands().to_vec();
    ka.sort_unstable();
    kb.sort_unstable();
    sketch::intersection_sorted(&ka, &kb) > 0
}

/// Whether two fingerprints share a text band (layout `bands × rows`), and whether they share
/// a text band or an entity-name key (the keys of fingerprint version 1).
pub fn shares_key(a: &Fingerprint, b: &Fingerprint, bands: usize, rows: usize) -> (bool, bool) {
    let ka = sketch::band_keys(a.minhash(), bands, rows);
    let kb = sketch::band_keys(b.minhash(), bands, rows);
    let text = ka.iter().zip(&kb).any(|(x, y)| x == y);
    let (ea, eb) = (entity_keys_v1(a.entities()), entity_keys_v1(b.entities()));
    let entity = sketch::intersection_sorted(&ea, &eb) > 0;
    (text, text || entity)
}

/// Candidate-generation recall for one LSH layout.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BandRecall {
    pub bands: usize,
    pub rows: usize,
    pub duplicate_pairs: usize,
    /// Duplicate pairs sharing at least one text band.
    pub duplicate_text_hit: usize,
    /// Duplicate pairs sharing a text band or an entity-name key (fingerprint version 1).
    pub duplicate_any_hit: usize,
    pub other_pairs: usize,
    /// Non-duplicate pairs sharing a text band or an entity-name key.
    pub other_any_hit: usize,
}

/// For each `(bands, rows)` layout, how many pairs share at least one version-1 key.
pub fn band_recall(rows: &[PairRow], layouts: &[(usize, usize)]) -> Vec<BandRecall> {
    let fps: Vec<(Fingerprint, Fingerprint, bool)> = rows
        .iter()
        .map(|r| {
            let fp = |s: &PairSide| {
                Fingerprint::new(&s.title, &s.text, s.address.as_deref().unwrap_or(""))
            };
            (fp(&r.a), fp(&r.b), r.duplicate)
        })
        .collect();
    layouts
        .iter()
        .map(|&(bands, rws)| {
            let mut r = BandRecall {
                bands,
                rows: rws,
                duplicate_pairs: 0,
                duplicate_text_hit: 0,
                duplicate_any_hit: 0,
                other_pairs: 0,
                other_any_hit: 0,
            };
            for (a, b, dup) in &fps {
                let (text_hit, any_hit) = shares_key(a, b, bands, rws);
                if *dup {
                    r.duplicate_pairs += 1;
                    r.duplicate_text_hit += usize::from(text_hit);
                    r.duplicate_any_hit += usize::from(any_hit);
                } else {
                    r.other_pairs += 1;
                    r.other_any_hit += usize::from(any_hit);
                }
            }
            r
        })
        .collect()
}

/// [`score_with`] under the pair's own context, for tools that score single rows.
pub fn score_row(r: &PairRow, w: &Weights) -> MatchScore {
    let fp = |s: &PairSide| Fingerprint::new(&s.title, &s.text, s.address.as_deref().unwrap_or(""));
    let time = |s: &PairSide| s.time.as_deref().and_then(parse_time_ms);
    let gap_ms = match (time(&r.a), time(&r.b)) {
        (Some(x), Some(y)) => (x - y).abs(),
        _ => 0,
    };
    let ctx = MatchContext {
        gap_ms,
        ..MatchContext::default()
    };
    score_with(&fp(&r.a), &fp(&r.b), &ctx, w)
}
