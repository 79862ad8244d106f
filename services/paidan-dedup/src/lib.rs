//! paidan-dedup: is a new complaint the same matter as an earlier one?
//!
//! A [`Fingerprint`] of a report (title, text, address) holds
//! - a 128-permutation MinHash signature of the character trigrams of the normalised text,
//! - its LSH band keys (42 bands × 3 rows) plus one key per specific place/entity named
//!   (estate, organisation, river, site, bus route) — the store indexes cases under these keys
//!   and looks candidates up by shared key only (sub-linear),
//! - the character bigrams of the title, and
//! - the places/entities named in the text and the address ([`entity`]).
//!
//! [`score`] turns two fingerprints and a [`MatchContext`] into a [`MatchScore`] in [0, 1]:
//! a logistic combination of text evidence (MinHash Jaccard, containment, title bigram Jaccard)
//! and place evidence, fitted on `eval/sets/dedup_tune.jsonl` ([`fit_weights`]).
//! - Shared places count in proportion to the topic overlap (max of containment and title
//!   similarity): a shared river or estate with nothing else in common is usually another problem
//!   at the same place, and the store finds such pairs through the entity keys.
//! - Conflicting specific places (another estate, school, company, river) pull the score down
//!   hard — templated complaints with the place swapped are different matters; typos and name
//!   variants of one place still match ([`entity::same_name`]). Place names are cut at words
//!   that cannot be part of a name (jieba POS: verbs, adverbs, numerals, …; [`entity::trim_to_name`]).
//! - A different category lowers the logit (−1.5), never forbids.
//! - The soft time window: past [`Weights::age_grace_days`] (90) the logit drops by
//!   [`Weights::age_per_doubling`] (0.75) per doubling of the gap.
//!
//! [`DedupConfig::is_duplicate`] applies the threshold, the hard time window (365 days; the
//! service measures the gap from the matter's latest report) and the jurisdiction gate.
//! [`eval_pairs`] scores exactly this decision on labelled pairs.

pub mod entity;
mod eval;
pub mod sketch;

use serde::{Deserialize, Serialize};

pub use entity::{Entity, EntityKind, EntityOverlap};
pub use eval::{
    BandRecall, DedupEval, Method, MethodResult, Metrics, PairRow, PairSide, SweepPoint,
    band_recall, compare_methods, eval_pairs, eval_pairs_with, fit_weights, parse_time_ms,
    read_pairs, render_comparison, render_text, shares_key, token_simhash,
};

/// Fingerprint format version written by [`Fingerprint::to_bytes`].
pub const FINGERPRINT_VERSION: u8 = 1;

/// Milliseconds in a day.
pub const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum DedupError {
    #[error("fingerprint bytes are empty")]
    Empty,
    #[error("fingerprint format version {0} is not supported (expected {FINGERPRINT_VERSION})")]
    Version(u8),
    #[error("fingerprint bytes are corrupt: {0}")]
    Decode(#[from] postcard::Error),
    #[error("reading pairs: {0}")]
    Io(#[from] std::io::Error),
    #[error("pairs line {line}: {source}")]
    PairRow {
        line: usize,
        source: serde_json::Error,
    },
}

/// What is remembered of one report to find later reports of the same matter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// MinHash signature over character trigrams of title + text.
    minhash: Vec<u32>,
    /// Number of distinct trigrams (for the containment estimate).
    shingles: u32,
    /// Hashes of the character bigrams of the title, sorted, de-duplicated.
    title: Vec<u32>,
    /// Places and entities named in the text and the address.
    entities: Vec<Entity>,
    /// LSH band keys followed by the entity keys.
    bands: Vec<u64>,
}

impl Fingerprint {
    /// Fingerprint of a report. `address` may be empty.
    pub fn new(title: &str, text: &str, address: &str) -> Fingerprint {
        let title = paidan_text::normalize(title);
        let text = paidan_text::normalize(text);
        let address = paidan_text::normalize(address);
        let body = if title.is_empty() {
            text.clone()
        } else {
            format!("{title}。{text}")
        };

        let shingles = sketch::char_shingles(&body, 3);
        let minhash = sketch::minhash(&shingles);
        let mut title_grams: Vec<u32> = sketch::char_shingles(&title, 2)
            .into_iter()
            .map(|h| (h >> 32) as u32)
            .collect();
        title_grams.sort_unstable();
        title_grams.dedup();
        title_grams.truncate(MAX_TITLE_GRAMS);

        let mut entities = entity::extract(&body);
        if !address.is_empty() {
            entities.extend(entity::extract(&address));
            entities.sort();
            entities.dedup();
        }

        let mut bands = sketch::band_keys(&minhash, sketch::NUM_BANDS, sketch::BAND_ROWS);
        bands.extend(entity_keys(&entities));
        Fingerprint {
            minhash,
            shingles: shingles.len() as u32,
            title: title_grams,
            entities,
            bands,
        }
    }

    /// Index keys: LSH band keys of the text, then one key per specific entity. Two reports
    /// are candidates of each other iff they share at least one key.
    pub fn bands(&self) -> &[u64] {
        &self.bands
    }

    /// The places and entities named in the report.
    pub fn entities(&self) -> &[Entity] {
        &self.entities
    }

    /// The MinHash signature.
    pub fn minhash(&self) -> &[u32] {
        &self.minhash
    }

    /// Compact binary form (a version byte, then postcard), as kept by the store.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![FINGERPRINT_VERSION];
        // Serialising plain vectors, integers and strings into a Vec cannot fail.
        out.extend(postcard::to_stdvec(self).expect("fingerprint serialises"));
        out
    }

    /// Inverse of [`Fingerprint::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Fingerprint, DedupError> {
        let (&version, rest) = bytes.split_first().ok_or(DedupError::Empty)?;
        if version != FINGERPRINT_VERSION {
            return Err(DedupError::Version(version));
        }
        Ok(postcard::from_bytes(rest)?)
    }
}

const MAX_TITLE_GRAMS: usize = 96;

/// Index keys of the specific entities (estate, organisation, river, site, route).
fn entity_keys(entities: &[Entity]) -> Vec<u64> {
    let mut keys: Vec<u64> = entities
        .iter()
        .filter(|e| e.kind.is_specific())
        .map(|e| sketch::hash_str(&format!("{:?}:{}", e.kind, e.name)) ^ ENTITY_KEY_TAG)
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

const ENTITY_KEY_TAG: u64 = 0x656e_7469_7479_0000; // "entity"

/// What is known about the two reports besides their text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchContext {
    /// Both were classified into the same category (a different category lowers the score).
    pub same_category: bool,
    /// Time between the two reports, in milliseconds (sign ignored).
    pub gap_ms: i64,
    /// Both belong to the same jurisdiction (required for a duplicate).
    pub same_jurisdiction: bool,
}

impl Default for MatchContext {
    fn default() -> Self {
        MatchContext {
            same_category: true,
            gap_ms: 0,
            same_jurisdiction: true,
        }
    }
}

/// The evidence and the final score of one comparison.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MatchScore {
    /// Same-matter score in [0, 1]; compare with [`DedupConfig::threshold`].
    pub score: f32,
    /// MinHash estimate of the Jaccard similarity of the character trigrams.
    pub text: f32,
    /// Estimated share of the shorter report's trigrams found in the other.
    pub containment: f32,
    /// Jaccard similarity of the title bigrams.
    pub title: f32,
    /// Shared and conflicting places/entities.
    pub entities: EntityOverlap,
    pub same_category: bool,
    pub same_jurisdiction: bool,
    pub gap_ms: i64,
}

/// Weights of the logistic decision. The defaults were fitted with [`fit_weights`] on
/// `eval/sets/dedup_tune.jsonl` (`cargo run -p paidan-dedup --example dedup_measure`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Weights {
    pub bias: f32,
    pub text: f32,
    pub containment: f32,
    pub title: f32,
    /// Per specific entity kind shared (capped at 3), times the topic overlap
    /// (max of containment and title similarity).
    pub shared_specific: f32,
    /// Per general entity kind shared (capped at 2), times the topic overlap.
    pub shared_general: f32,
    /// Per specific entity kind in conflict.
    pub conflict_specific: f32,
    /// Per general entity kind in conflict.
    pub conflict_general: f32,
    /// Containment when some specific entity conflicts (templates with a swapped place).
    pub conflict_containment: f32,
    /// Added to the logit when the categories differ (not fitted: the pairs carry no category).
    pub different_category: f32,
    /// Multiplies the probability when specific entities conflict and none is shared.
    pub conflict_factor: f32,
    /// Gaps up to this many days carry no age penalty.
    pub age_grace_days: f32,
    /// Added to the logit per doubling of the gap beyond `age_grace_days` (the soft part of
    /// the time window: an old report needs stronger evidence; not fitted, see the crate docs).
    pub age_per_doubling: f32,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            bias: -1.196,
            text: 0.947,
            containment: 1.341,
            title: 1.01,
            shared_specific: 1.428,
            shared_general: 1.277,
            conflict_specific: -1.468,
            conflict_general: -0.782,
            conflict_containment: -0.598,
            different_category: -1.5,
            conflict_factor: 0.5,
            age_grace_days: 90.0,
            age_per_doubling: -0.75,
        }
    }
}

/// Number of features of [`features`].
pub(crate) const N_FEATURES: usize = 9;

/// The feature vector of a comparison (bias first), in [`Weights`] order.
pub(crate) fn features(s: &MatchScore) -> [f32; N_FEATURES] {
    let e = &s.entities;
    let conflict = e.conflict_specific > 0;
    // Shared places count only as far as the texts are about the same thing: a shared river,
    // estate or road with nothing else in common is another problem at the same place.
    let topic = s.containment.max(s.title);
    [
        1.0,
        s.text,
        s.containment,
        s.title,
        e.shared_specific.min(3) as f32 * topic,
        e.shared_general.min(2) as f32 * topic,
        e.conflict_specific as f32,
        e.conflict_general as f32,
        if conflict { s.containment } else { 0.0 },
    ]
}

impl Weights {
    pub(crate) fn linear(&self) -> [f32; N_FEATURES] {
        [
            self.bias,
            self.text,
            self.containment,
            self.title,
            self.shared_specific,
            self.shared_general,
            self.conflict_specific,
            self.conflict_general,
            self.conflict_containment,
        ]
    }

    pub(crate) fn with_linear(&self, w: &[f32; N_FEATURES]) -> Weights {
        Weights {
            bias: w[0],
            text: w[1],
            containment: w[2],
            title: w[3],
            shared_specific: w[4],
            shared_general: w[5],
            conflict_specific: w[6],
            conflict_general: w[7],
            conflict_containment: w[8],
            ..*self
        }
    }
}

fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

/// The evidence of a comparison, without the final score.
fn evidence(a: &Fingerprint, b: &Fingerprint, ctx: &MatchContext) -> MatchScore {
    let text = sketch::minhash_similarity(&a.minhash, &b.minhash);
    // |A ∩ B| = J (|A| + |B|) / (1 + J); containment = |A ∩ B| / min(|A|, |B|).
    let (na, nb) = (a.shingles as f32, b.shingles as f32);
    let containment = if na.min(nb) > 0.0 {
        (text * (na + nb) / (1.0 + text) / na.min(nb)).min(1.0)
    } else {
        0.0
    };
    let title_inter = sketch::intersection_sorted(&a.title, &b.title);
    let title_union = a.title.len() + b.title.len() - title_inter;
    let title = if title_union == 0 {
        0.0
    } else {
        title_inter as f32 / title_union as f32
    };
    MatchScore {
        score: 0.0,
        text,
        containment,
        title,
        entities: entity::overlap(&a.entities, &b.entities),
        same_category: ctx.same_category,
        same_jurisdiction: ctx.same_jurisdiction,
        gap_ms: ctx.gap_ms.saturating_abs(),
    }
}

/// The soft time window: 0 up to `age_grace_days`, then `age_per_doubling` per doubling.
fn age_logit(gap_ms: i64, w: &Weights) -> f32 {
    let days = gap_ms as f64 / DAY_MS as f64;
    let grace = f64::from(w.age_grace_days);
    if grace > 0.0 && days > grace {
        (f64::from(w.age_per_doubling) * (days / grace).log2()) as f32
    } else {
        0.0
    }
}

/// Same-matter score of two reports with the given weights.
pub fn score_with(a: &Fingerprint, b: &Fingerprint, ctx: &MatchContext, w: &Weights) -> MatchScore {
    let mut s = evidence(a, b, ctx);
    let x = features(&s);
    let mut z: f32 = x.iter().zip(w.linear()).map(|(x, w)| x * w).sum();
    if !ctx.same_category {
        z += w.different_category;
    }
    z += age_logit(s.gap_ms, w);
    let mut p = sigmoid(z);
    if s.entities.conflict_specific > 0
        && s.entities.conflict_specific >= s.entities.shared_specific
    {
        p *= w.conflict_factor;
    }
    s.score = p.clamp(0.0, 1.0);
    s
}

/// Same-matter score of two reports (the service's decision uses this).
pub fn score(a: &Fingerprint, b: &Fingerprint, ctx: &MatchContext) -> MatchScore {
    score_with(a, b, ctx, &Weights::default())
}

/// The duplicate decision's settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DedupConfig {
    /// Minimum [`MatchScore::score`] for a duplicate.
    pub threshold: f32,
    /// Hard time window: reports further apart than this are never duplicates
    /// (default [`DEFAULT_WINDOW_DAYS`]; `i64::MAX` = no window). The service measures the gap
    /// from the matter's most recent report, so a matter that keeps being reported stays
    /// linkable. Inside the window the score itself decays with age past
    /// [`Weights::age_grace_days`] (the soft window).
    pub window_ms: i64,
}

impl Default for DedupConfig {
    fn default() -> Self {
        DedupConfig {
            threshold: DEFAULT_THRESHOLD,
            window_ms: DEFAULT_WINDOW_DAYS * DAY_MS,
        }
    }
}

/// Default threshold, chosen on `eval/sets/dedup_tune.jsonl`.
pub const DEFAULT_THRESHOLD: f32 = 0.5;

/// Default hard window in days. On `dedup_tune.jsonl` 27 of 147 labelled duplicates are more
/// than 30 days apart — the same matter reported again (follow-ups: "二问", "再次", "依然",
/// "对答复不满意"); 2 are more than a year apart.
pub const DEFAULT_WINDOW_DAYS: i64 = 365;

impl DedupConfig {
    /// Score at or above the threshold, within the time window, same jurisdiction.
    pub fn is_duplicate(&self, s: &MatchScore) -> bool {
        s.same_jurisdiction && s.gap_ms <= self.window_ms && s.score >= self.threshold
    }

    /// This config with a hard window of `days` days; 0 = no window.
    pub fn with_window_days(self, days: u32) -> DedupConfig {
        DedupConfig {
            window_ms: if days == 0 {
                i64::MAX
            } else {
                i64::from(days) * DAY_MS
            },
            ..self
        }
    }

    /// The hard window in days; 0 = no window.
    pub fn window_days(&self) -> f64 {
        if self.window_ms == i64::MAX {
            0.0
        } else {
            self.window_ms as f64 / DAY_MS as f64
        }
    }
}

#[cfg(test)]
mod tests;
