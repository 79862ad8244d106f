//! Evaluation on labelled pairs: reading the pairs and scoring the service's decision (here), the
//! fit of its weights ([`fit`]), grouped cross-validation against the baselines ([`cv`]), and the
//! recall of candidate generation ([`candidates`]).

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

mod candidates;
mod cv;
mod fit;

pub use candidates::*;
pub use cv::*;
pub use fit::*;

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
                candidate_v1: shares_key(&a, &b, sketch::V2_BANDS, sketch::V2_ROWS).1,
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
