//! Evaluation on labelled pairs: the service's decision, the baselines it is compared with,
//! the fit of the decision's weights, and the recall of LSH candidate generation.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::{
    DedupConfig, DedupError, Fingerprint, MatchContext, MatchScore, N_FEATURES, Weights,
    entity_keys, features, score_with, sketch,
};

/// One side of a labelled pair. Extra fields (id, …) are ignored.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PairSide {
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

/// `{"a": {...}, "b": {...}, "duplicate": bool}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairRow {
    pub a: PairSide,
    pub b: PairSide,
    pub duplicate: bool,
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

/// A pair ready for scoring.
struct Prepared {
    a: Fingerprint,
    b: Fingerprint,
    trigram_jaccard: f32,
    simhash: f32,
    gap_ms: i64,
    duplicate: bool,
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
            Prepared {
                a: fp(&r.a),
                b: fp(&r.b),
                trigram_jaccard: sketch::jaccard_sorted(&body(&r.a), &body(&r.b)),
                simhash: sketch::simhash_similarity(token_simhash(&r.a), token_simhash(&r.b)),
                gap_ms,
                duplicate: r.duplicate,
            }
        })
        .collect()
}

/// SimHash (64 bits) of the jieba tokens of the normalised title + text, each token weighted
/// by its count. Only the comparison uses it: it lost to the MinHash-based decision.
pub fn token_simhash(s: &PairSide) -> u64 {
    let body = paidan_text::normalize(&format!("{}。{}", s.title, s.text));
    let tokens = paidan_text::Segmenter::global().cut(&body);
    sketch::simhash(
        tokens
            .iter()
            .filter(|t| t.chars().any(sketch::is_content_char))
            .map(|t| (sketch::hash_str(t), 1.0)),
    )
}

fn context(p: &Prepared) -> MatchContext {
    MatchContext {
        same_category: true,
        gap_ms: p.gap_ms,
        same_jurisdiction: true,
    }
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
/// taken as equal, since the pairs carry neither.
pub fn eval_pairs(rows: &[PairRow], cfg: &DedupConfig) -> DedupEval {
    eval_pairs_with(rows, cfg, &Weights::default())
}

/// [`eval_pairs`] with other weights.
pub fn eval_pairs_with(rows: &[PairRow], cfg: &DedupConfig, w: &Weights) -> DedupEval {
    let prepared = prepare(rows);
    let scored: Vec<(MatchScore, bool)> = prepared
        .iter()
        .map(|p| (score_with(&p.a, &p.b, &context(p), w), p.duplicate))
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
        threshold: f64::from(cfg.threshold),
        window_days: cfg.window_days(),
        n: m.n,
        sweep: sweep_thresholds()
            .map(|t| {
                let m = at(t);
                SweepPoint {
                    threshold: f64::from(t),
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
        if eval.window_days == 0.0 {
            "none".to_string()
        } else {
            format!("{} days", eval.window_days)
        },
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

/// Similarity methods compared on the pairs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Method {
    /// Exact Jaccard of character trigrams of title + text (the anchor baseline).
    TrigramJaccard,
    /// MinHash (128 permutations) estimate of the same.
    MinHash,
    /// SimHash (64 bits) of jieba tokens.
    SimHash,
    /// The service's decision: [`crate::score`] + [`DedupConfig::is_duplicate`].
    Decision,
}

impl Method {
    pub const ALL: [Method; 4] = [
        Method::TrigramJaccard,
        Method::MinHash,
        Method::SimHash,
        Method::Decision,
    ];
}

/// One method's figures: threshold chosen on the tune pairs, applied unchanged to the test pairs.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MethodResult {
    pub method: Method,
    pub threshold: f64,
    pub tune: Metrics,
    pub test: Metrics,
}

fn method_scores(
    prepared: &[Prepared],
    method: Method,
    cfg: &DedupConfig,
) -> Vec<(f32, bool, bool)> {
    prepared
        .iter()
        .map(|p| {
            let in_window = p.gap_ms <= cfg.window_ms;
            let s = match method {
                Method::TrigramJaccard => p.trigram_jaccard,
                Method::MinHash => sketch::minhash_similarity(p.a.minhash(), p.b.minhash()),
                Method::SimHash => p.simhash,
                Method::Decision => crate::score(&p.a, &p.b, &context(p)).score,
            };
            (s, in_window, p.duplicate)
        })
        .collect()
}

fn metrics_at(scores: &[(f32, bool, bool)], threshold: f32) -> Metrics {
    Metrics::from_predictions(
        scores
            .iter()
            .map(|(s, w, gold)| (*w && *s >= threshold, *gold)),
    )
}

/// Compare the methods: each baseline's threshold is the best macro-F1 threshold on `tune`
/// (grid of 0.01); the decision uses `cfg.threshold`. Every method gets the same time window.
pub fn compare_methods(tune: &[PairRow], test: &[PairRow], cfg: &DedupConfig) -> Vec<MethodResult> {
    let (pt, ps) = (prepare(tune), prepare(test));
    Method::ALL
        .iter()
        .map(|&method| {
            let (st, ss) = (
                method_scores(&pt, method, cfg),
                method_scores(&ps, method, cfg),
            );
            let threshold = if method == Method::Decision {
                cfg.threshold
            } else {
                let mut best = (f64::MIN, 0.0f32);
                for i in 0..=100 {
                    let t = i as f32 / 100.0;
                    let m = metrics_at(&st, t).macro_f1;
                    if m > best.0 {
                        best = (m, t);
                    }
                }
                best.1
            };
            MethodResult {
                method,
                threshold: f64::from(threshold),
                tune: metrics_at(&st, threshold),
                test: metrics_at(&ss, threshold),
            }
        })
        .collect()
}

/// Printed table of [`compare_methods`].
pub fn render_comparison(results: &[MethodResult]) -> String {
    let mut s = String::from(
        "method           threshold  tune P/R/F1/macro-F1        test P/R/F1/macro-F1\n",
    );
    for r in results {
        let _ = writeln!(
            s,
            "{:<16} {:>9.2}  {:.3} {:.3} {:.3} {:.3}     {:.3} {:.3} {:.3} {:.3}",
            format!("{:?}", r.method),
            r.threshold,
            r.tune.precision,
            r.tune.recall,
            r.tune.f1,
            r.tune.macro_f1,
            r.test.precision,
            r.test.recall,
            r.test.f1,
            r.test.macro_f1
        );
    }
    s
}

/// Fit the linear part of the decision's weights by L2-regularised logistic regression on
/// labelled pairs (deterministic full-batch gradient descent). `different_category` and
/// `conflict_factor` are kept from `Weights::default()`.
pub fn fit_weights(rows: &[PairRow]) -> Weights {
    let prepared = prepare(rows);
    let base = Weights::default();
    let data: Vec<([f32; N_FEATURES], f32)> = prepared
        .iter()
        .map(|p| {
            let s = score_with(&p.a, &p.b, &context(p), &base);
            (features(&s), if p.duplicate { 1.0 } else { 0.0 })
        })
        .collect();
    let mut w = [0f32; N_FEATURES];
    if data.is_empty() {
        return base;
    }
    let (lr, l2, iters) = (0.5f32, 0.01f32, 4000);
    let n = data.len() as f32;
    for _ in 0..iters {
        let mut g = [0f32; N_FEATURES];
        for (x, y) in &data {
            let z: f32 = x.iter().zip(&w).map(|(a, b)| a * b).sum();
            let err = 1.0 / (1.0 + (-z).exp()) - y;
            for (gi, xi) in g.iter_mut().zip(x) {
                *gi += err * xi;
            }
        }
        for (i, (wi, gi)) in w.iter_mut().zip(g).enumerate() {
            let reg = if i == 0 { 0.0 } else { l2 * *wi };
            *wi -= lr * (gi / n + reg);
        }
    }
    base.with_linear(&w)
}

/// Candidate-generation recall for one LSH layout.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BandRecall {
    pub bands: usize,
    pub rows: usize,
    pub duplicate_pairs: usize,
    /// Duplicate pairs sharing at least one text band.
    pub duplicate_text_hit: usize,
    /// Duplicate pairs sharing a text band or an entity key (what the store looks up).
    pub duplicate_any_hit: usize,
    pub other_pairs: usize,
    /// Non-duplicate pairs sharing a text band or an entity key (candidates to score, not errors).
    pub other_any_hit: usize,
}

/// For each `(bands, rows)` layout, how many pairs share at least one index key.
pub fn band_recall(rows: &[PairRow], layouts: &[(usize, usize)]) -> Vec<BandRecall> {
    let prepared = prepare(rows);
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
            for p in &prepared {
                let (text_hit, any_hit) = shares_key(&p.a, &p.b, bands, rws);
                if p.duplicate {
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

/// Whether two fingerprints share a text band (layout `bands × rows`), and whether they share
/// a text band or an entity key.
pub fn shares_key(a: &Fingerprint, b: &Fingerprint, bands: usize, rows: usize) -> (bool, bool) {
    let ka = sketch::band_keys(a.minhash(), bands, rows);
    let kb = sketch::band_keys(b.minhash(), bands, rows);
    let text = ka.iter().zip(&kb).any(|(x, y)| x == y);
    let (ea, eb) = (entity_keys(a.entities()), entity_keys(b.entities()));
    let entity = sketch::intersection_sorted(&ea, &eb) > 0;
    (text, text || entity)
}
