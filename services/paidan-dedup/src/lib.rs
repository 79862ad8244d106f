//! paidan-dedup: is a new complaint the same matter as an earlier one?
//!
//! A [`Fingerprint`] of a report (title, text, address) holds
//! - a 128-permutation MinHash signature of the character trigrams of the normalised text,
//! - the places/entities named in the text and the address ([`entity`]),
//! - the problem's key terms ([`terms`]: 油烟, 烧烤, 施工, 噪音 …, canonical) and a bottom-64
//!   sample of its content words (jieba nouns, verbs, adjectives),
//! - the character bigrams of the title, and
//! - its index keys. The store files cases under these keys and looks candidates up by a shared
//!   key only (sub-linear): the LSH band keys (12 bands × 2 rows since fingerprint version 3,
//!   42 × 3 before: [`sketch::NUM_BANDS`]); one key per specific place
//!   (estate, organisation, river, site, bus route) and per last two characters of its name; one
//!   per pair of roads named (a crossing: "解放路与人民路交叉口" and "人民路解放路口" give the same
//!   key); and one per (road or village, key term) of the first four of each. The place keys
//!   survive rewording, which MinHash bands over character trigrams do not.
//!
//! [`score`] turns two fingerprints and a [`MatchContext`] into a [`MatchScore`] in [0, 1]:
//! - A **place conflict** is a veto (score 0): both name specific places of one kind and none
//!   matches, or two different cities — a template sent about another estate, school or city is
//!   another matter. Name variants and typos of one place still match ([`entity::same_name`]),
//!   also across kinds; place names are cut at words that cannot be part of a name
//!   ([`entity::trim_to_name`]); problem words and institution types are not names (烧烤店,
//!   麻将馆, 普惠性幼儿园).
//! - Otherwise a logistic decision over six [`Features`], each with one meaning: containment of
//!   the character trigrams, key-term overlap, a shared specific place and a shared road/village/
//!   district (each counted as far as the texts are about the same thing: times
//!   `max(containment, content-word overlap)`, so another problem at the same place is not
//!   linked), a road/village/district conflict, and the age of the gap past 90 days (the soft
//!   time window). A different category adds a fixed −1.5 to the logit (not fitted: the pairs
//!   carry no category), never forbids.
//!
//! The weights and the threshold are fitted by L2-regularised logistic regression on all 747
//! labelled pairs of `eval/sets/dedup_{tune,test,more}.jsonl`, the penalty and the threshold
//! chosen by a grouped cross-validation inside the pairs ([`fit_recipe`]; print the fit with
//! `paidan eval-dedup --pairs eval/sets/dedup_tune.jsonl eval/sets/dedup_test.jsonl
//! eval/sets/dedup_more.jsonl --fit`; a test checks that the shipped values are that fit).
//! Grouped 5-fold cross-validation of the whole recipe ([`cross_validate`]; the same command with
//! `--cv 5` instead of `--fit`), 365-day window: macro-F1 **0.896** (precision 0.963, recall 0.957
//! of the duplicate class); the decision before fingerprint version 2 with its fixed weights on
//! the same pairs 0.832; character-trigram Jaccard with a threshold chosen on the training folds
//! 0.720. 576 of the 606 duplicate pairs (0.950) share an index key (581 with the 42 × 3 bands of
//! version 2), 559 (0.922) with the version-1 keys; counting a non-candidate as a miss, macro-F1
//! 0.876 (0.885 with the version-2 keys; old: 0.804). The features
//! were designed while reading errors of these same pairs, so the figure is somewhat optimistic;
//! details, caveats and the behaviour on unlabelled candidate pairs in `eval/sets/dedup_README.md`.
//!
//! [`DedupConfig::is_duplicate`] applies the threshold, the hard time window (365 days; the
//! service measures the gap from the matter's latest report) and the jurisdiction gate.
//! [`eval_pairs`] scores exactly this decision on labelled pairs; [`legacy`] keeps the decision
//! before fingerprint version 2 as the baseline.

pub mod entity;
mod eval;
pub mod legacy;
pub mod sketch;
pub mod terms;

use serde::{Deserialize, Serialize};

pub use entity::{Entity, EntityKind, EntityOverlap};
pub use eval::{
    BandRecall, CandidateRecall, CvFold, CvMethod, CvReport, DedupEval, Fit, INNER_FOLDS, LAMBDAS,
    Metrics, PairRow, PairSide, SweepPoint, band_recall, cross_validate, eval_pairs,
    eval_pairs_with, fit_logistic, fit_recipe, grouped_folds, keys_with_layout, parse_time_ms,
    read_pairs, render_cv, render_fit, render_text, score_row, shares_any_key, shares_key,
};

/// Fingerprint format version written by [`Fingerprint::to_bytes`]. Version 2 added the key
/// terms and the place keys; version 3 cut the text bands 12 × 2 instead of 42 × 3
/// ([`sketch::NUM_BANDS`]). [`Fingerprint::from_bytes`] still reads versions 1 and 2 (version 1
/// without key terms) and gives them this version's text bands, computed from their signature:
/// a store re-keys what it holds with `from_bytes` then `to_bytes` (paidan-core's
/// `dedup::rekey`).
pub const FINGERPRINT_VERSION: u8 = 3;

/// Milliseconds in a day.
pub const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum DedupError {
    #[error("fingerprint bytes are empty")]
    Empty,
    #[error(
        "fingerprint format version {0} is not supported (expected 1 to {FINGERPRINT_VERSION})"
    )]
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
    /// Hashes of the problem's key terms ([`terms::key_terms`]), sorted, de-duplicated.
    terms: Vec<u32>,
    /// The smallest [`MAX_WORDS`] hashes of the content words ([`terms::Words::content`]): a
    /// bottom-k sample, so two long texts are sampled alike.
    words: Vec<u32>,
}

impl Fingerprint {
    /// Fingerprint of a report. `address` may be empty.
    pub fn new(title: &str, text: &str, address: &str) -> Fingerprint {
        Fingerprint::build(title, text, address, None)
    }

    /// [`Fingerprint::new`] with the words taken from `seg`, which already holds the blocks the
    /// classifier cut for the same complaint (only blocks it has not seen are segmented; the
    /// bytes are those of [`Fingerprint::new`]). Tagging here first and classifying after lets
    /// the classifier reuse these blocks instead.
    pub fn with_segmentation(
        title: &str,
        text: &str,
        address: &str,
        seg: &mut paidan_text::Segmentation,
    ) -> Fingerprint {
        Fingerprint::build(title, text, address, Some(seg))
    }

    /// The fingerprint; the normalised "title。text" is tagged by `seg` when given, else by the
    /// global segmenter directly (the same words).
    fn build(
        title: &str,
        text: &str,
        address: &str,
        seg: Option<&mut paidan_text::Segmentation>,
    ) -> Fingerprint {
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

        let tagged = match seg {
            Some(seg) => seg.tag(&body),
            None => paidan_text::Segmenter::global().tag(&body),
        };
        let words = terms::analyse_tagged(&tagged);
        let key_terms = &words.key_terms;
        let mut term_hashes: Vec<u32> = key_terms.iter().map(|t| term_hash(t)).collect();
        term_hashes.sort_unstable();
        term_hashes.dedup();
        term_hashes.truncate(MAX_TERMS);
        let mut word_hashes: Vec<u32> = words.content.iter().map(|w| term_hash(w)).collect();
        word_hashes.sort_unstable();
        word_hashes.dedup();
        word_hashes.truncate(MAX_WORDS);

        let mut bands = sketch::band_keys(&minhash, sketch::NUM_BANDS, sketch::BAND_ROWS);
        bands.extend(entity_keys(&entities));
        bands.extend(place_keys(&entities, &body, &address, key_terms));
        Fingerprint {
            minhash,
            shingles: shingles.len() as u32,
            title: title_grams,
            entities,
            bands,
            terms: term_hashes,
            words: word_hashes,
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

    /// Hashes of the problem's key terms, sorted.
    pub fn terms(&self) -> &[u32] {
        &self.terms
    }

    /// The index keys fingerprint version 1 had (text bands and entity names), for measuring
    /// what the extra keys add.
    pub fn keys_v1(&self) -> Vec<u64> {
        let mut keys = sketch::band_keys(&self.minhash, sketch::V2_BANDS, sketch::V2_ROWS);
        keys.extend(entity_keys_v1(&self.entities));
        keys
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
        match version {
            FINGERPRINT_VERSION => Ok(postcard::from_bytes(rest)?),
            2 => Ok(postcard::from_bytes::<Fingerprint>(rest)?.with_current_bands()),
            1 => {
                let v1: FingerprintV1 = postcard::from_bytes(rest)?;
                Ok(Fingerprint {
                    minhash: v1.minhash,
                    shingles: v1.shingles,
                    title: v1.title,
                    entities: v1.entities,
                    bands: v1.bands,
                    terms: Vec::new(),
                    words: Vec::new(),
                }
                .with_current_bands())
            }
            _ => Err(DedupError::Version(version)),
        }
    }

    /// What fingerprint version 2 stored for this report: its index keys (text bands 42 × 3,
    /// then the entity and place keys) and its bytes. A store written before version 3 holds
    /// these; tests and measurements of the re-key make such a store with it.
    pub fn as_version_2(&self) -> (Vec<u64>, Vec<u8>) {
        let mut v2 = self.clone();
        v2.bands = self.keys_with_text_bands(sketch::NUM_BANDS, sketch::V2_BANDS, sketch::V2_ROWS);
        let mut bytes = vec![2];
        bytes.extend(postcard::to_stdvec(&v2).expect("fingerprint serialises"));
        (v2.bands, bytes)
    }

    /// Whether `bytes` are in this build's format (what [`Fingerprint::to_bytes`] writes), so a
    /// store need not re-key them.
    pub fn is_current(bytes: &[u8]) -> bool {
        bytes.first() == Some(&FINGERPRINT_VERSION)
    }

    /// A fingerprint of versions 1 or 2 with its leading text band keys (42 × 3) replaced by
    /// this version's, computed from the signature; its entity and place keys after them stay.
    fn with_current_bands(mut self) -> Fingerprint {
        self.bands =
            self.keys_with_text_bands(sketch::V2_BANDS, sketch::NUM_BANDS, sketch::BAND_ROWS);
        self
    }

    /// This fingerprint's index keys with its leading text bands — `held` of them, as its keys
    /// were cut — replaced by the `bands × rows` layout's; the entity and place keys after them
    /// stay. An empty text has no text bands in either.
    pub(crate) fn keys_with_text_bands(&self, held: usize, bands: usize, rows: usize) -> Vec<u64> {
        let held = if sketch::has_bands(&self.minhash) {
            held.min(self.bands.len())
        } else {
            0
        };
        let mut keys = sketch::band_keys(&self.minhash, bands, rows);
        keys.extend_from_slice(&self.bands[held..]);
        keys
    }
}

/// Version 1 of the stored form (before the key terms). A case stored by an older build keeps
/// its keys and is scored without key terms until it leaves the window.
#[derive(Deserialize)]
struct FingerprintV1 {
    minhash: Vec<u32>,
    shingles: u32,
    title: Vec<u32>,
    entities: Vec<Entity>,
    bands: Vec<u64>,
}

const MAX_TITLE_GRAMS: usize = 96;

/// Index keys of the specific entities (estate, organisation, river, site, route): one per name,
/// and one per last two characters of a longer name — [`entity::same_name`] takes names that end
/// alike as one place (红星农场马洲 and 马洲), so the index must find them too.
fn entity_keys(entities: &[Entity]) -> Vec<u64> {
    let key = |kind: EntityKind, name: &str| {
        sketch::hash_str(&format!("{kind:?}:{name}")) ^ ENTITY_KEY_TAG
    };
    let mut keys: Vec<u64> = Vec::new();
    for e in entities.iter().filter(|e| e.kind.is_specific()) {
        keys.push(key(e.kind, &e.name));
        let n = e.name.chars().count();
        if n > 2 {
            let tail: String = e.name.chars().skip(n - 2).collect();
            keys.push(key(e.kind, &tail));
        }
    }
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// The entity keys of fingerprint version 1 (one per name, no tails): what the decision before
/// this revision looked up; kept to measure its candidate recall ([`shares_key`]).
pub(crate) fn entity_keys_v1(entities: &[Entity]) -> Vec<u64> {
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
const CROSSING_KEY_TAG: u64 = 0x6372_6f73_7300_0000; // "cross"
const PLACE_TERM_KEY_TAG: u64 = 0x706c_6163_6500_0000; // "place"
const MAX_TERMS: usize = 32;
/// Content words kept (bottom-k by hash).
const MAX_WORDS: usize = 64;
/// General places (roads, villages) and key terms that make (place, term) keys.
const MAX_KEY_PLACES: usize = 4;
const MAX_KEY_TERMS: usize = 4;

fn term_hash(t: &str) -> u32 {
    (sketch::hash_str(t) >> 32) as u32
}

/// Index keys that survive rewording: one per pair of roads named (a crossing: "解放路与人民路
/// 交叉口" and "人民路解放路口" name the same unordered pair), and one per (road or village,
/// key term) of the first places and terms named. Specific places already have their own key.
fn place_keys(entities: &[Entity], body: &str, address: &str, key_terms: &[&str]) -> Vec<u64> {
    let first_seen = |name: &str| {
        body.find(name)
            .or_else(|| address.find(name).map(|i| body.len() + i))
            .unwrap_or(usize::MAX)
    };
    let mut general: Vec<(usize, &Entity)> = entities
        .iter()
        .filter(|e| matches!(e.kind, EntityKind::Road | EntityKind::Village))
        .map(|e| (first_seen(&e.name), e))
        .collect();
    general.sort();
    general.truncate(MAX_KEY_PLACES);
    let mut roads: Vec<&str> = general
        .iter()
        .filter(|(_, e)| e.kind == EntityKind::Road)
        .map(|(_, e)| e.name.as_str())
        .collect();
    roads.sort_unstable();
    roads.dedup();
    let mut keys = Vec::new();
    for (i, a) in roads.iter().enumerate() {
        for b in &roads[i + 1..] {
            keys.push(sketch::hash_str(&format!("{a}|{b}")) ^ CROSSING_KEY_TAG);
        }
    }
    for (_, place) in &general {
        for term in key_terms.iter().take(MAX_KEY_TERMS) {
            keys.push(
                sketch::hash_str(&format!("{:?}:{}|{term}", place.kind, place.name))
                    ^ PLACE_TERM_KEY_TAG,
            );
        }
    }
    keys.sort_unstable();
    keys.dedup();
    keys
}

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
    /// Jaccard similarity of the title bigrams (the decision before this revision used it).
    pub title: f32,
    /// Dice overlap of the two reports' key terms ([`terms::key_terms`]); 0 when either has none.
    #[serde(default)]
    pub terms: f32,
    /// Dice overlap of the content words (bottom-k estimate); 0 when either has none.
    #[serde(default)]
    pub words: f32,
    /// Shared and conflicting places/entities.
    pub entities: EntityOverlap,
    pub same_category: bool,
    pub same_jurisdiction: bool,
    pub gap_ms: i64,
}

/// Weights of the logistic decision over [`Features`]. The defaults are the fit on all labelled
/// pairs of `eval/sets/dedup_{tune,test,more}.jsonl` by the recipe that grouped cross-validation
/// chose ([`fit_recipe`]; `paidan eval-dedup --cv 5` measures it, `--fit` prints the fit).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Weights {
    pub bias: f32,
    /// Times [`Features::containment`].
    pub containment: f32,
    /// Times [`Features::terms`].
    pub terms: f32,
    /// Times [`Features::shared_place`].
    pub shared_place: f32,
    /// Times [`Features::shared_area`].
    pub shared_area: f32,
    /// Times [`Features::area_conflict`].
    pub area_conflict: f32,
    /// Times [`Features::age`]: added to the logit per doubling of the gap beyond
    /// `age_grace_days` (the soft part of the time window).
    pub age_per_doubling: f32,
    /// Added to the logit when the categories differ. Not fitted (the labelled pairs carry no
    /// category, and at serving time the category is the model's guess): a prior.
    pub different_category: f32,
    /// Gaps up to this many days count as no age (not fitted).
    pub age_grace_days: f32,
}

impl Default for Weights {
    fn default() -> Self {
        SHIPPED_WEIGHTS
    }
}

/// The shipped weights: `paidan eval-dedup --fit` on the three pair files (see [`Weights`]).
const SHIPPED_WEIGHTS: Weights = Weights {
    bias: -0.5821,
    containment: 2.6121,
    terms: 1.1389,
    shared_place: 3.1396,
    shared_area: 1.4654,
    area_conflict: -2.6143,
    age_per_doubling: -0.8728,
    different_category: -1.5,
    age_grace_days: 90.0,
};

/// The decision's inputs, each with one meaning.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Features {
    /// Share of the shorter report's character trigrams found in the other (MinHash estimate).
    pub containment: f32,
    /// Dice overlap of the key terms (the problem: 油烟, 施工, 积水 …).
    pub terms: f32,
    /// A specific place (estate, organisation, river, site, bus route) named in both (matching
    /// names, [`entity::same_name`], of one kind or across kinds): the topic overlap
    /// `max(containment, words)`, else 0.
    pub shared_place: f32,
    /// A road, village or district named in both: the topic overlap, else 0.
    pub shared_area: f32,
    /// 1 when both name roads, villages or districts of one kind and none matches.
    pub area_conflict: f32,
    /// Doublings of the gap past the grace period: `log2(days / grace)`, 0 inside it.
    pub age: f32,
}

/// Number of fitted weights (bias included).
pub const N_FEATURES: usize = 7;

/// Whether the two reports name different places of one kind and none in common: specific places
/// (estate, school, company, river, site, route) named in both with no matching name, or two
/// different cities. By the labelling guideline that is another matter (a template sent about
/// another estate or city), whatever the text says, so it is a veto, not a weight: the score is 0.
pub fn place_conflict(s: &MatchScore) -> bool {
    let e = &s.entities;
    let shared_place = e.shared_specific > 0 || e.shared_across_kinds > 0;
    (e.conflict_specific > 0 && !shared_place) || e.conflict_city > 0
}

impl Features {
    /// The features of a comparison.
    pub fn of(s: &MatchScore, grace_days: f32) -> Features {
        let e = &s.entities;
        let shared_place = e.shared_specific > 0 || e.shared_across_kinds > 0;
        // Shared places count as far as the reports are about the same problem: the same estate
        // or road with nothing else in common is another matter at the same place.
        let topic = s.containment.max(s.words);
        let days = s.gap_ms as f64 / DAY_MS as f64;
        let grace = f64::from(grace_days);
        Features {
            containment: s.containment,
            terms: s.terms,
            shared_place: f32::from(u8::from(shared_place)) * topic,
            shared_area: f32::from(u8::from(e.shared_general > 0)) * topic,
            area_conflict: f32::from(u8::from(e.conflict_general > e.conflict_city)),
            age: if grace > 0.0 && days > grace {
                (days / grace).log2() as f32
            } else {
                0.0
            },
        }
    }

    /// As a vector, bias first, in [`Weights::linear`] order.
    pub fn vector(&self) -> [f32; N_FEATURES] {
        [
            1.0,
            self.containment,
            self.terms,
            self.shared_place,
            self.shared_area,
            self.area_conflict,
            self.age,
        ]
    }
}

impl Weights {
    /// The fitted weights as a vector, in [`Features::vector`] order.
    pub fn linear(&self) -> [f32; N_FEATURES] {
        [
            self.bias,
            self.containment,
            self.terms,
            self.shared_place,
            self.shared_area,
            self.area_conflict,
            self.age_per_doubling,
        ]
    }

    /// These weights with the fitted part replaced.
    pub fn with_linear(&self, w: &[f32; N_FEATURES]) -> Weights {
        Weights {
            bias: w[0],
            containment: w[1],
            terms: w[2],
            shared_place: w[3],
            shared_area: w[4],
            area_conflict: w[5],
            age_per_doubling: w[6],
            ..*self
        }
    }
}

fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

/// The evidence of a comparison, without the final score.
pub(crate) fn evidence(a: &Fingerprint, b: &Fingerprint, ctx: &MatchContext) -> MatchScore {
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
    let terms_inter = sketch::intersection_sorted(&a.terms, &b.terms);
    let terms = if a.terms.is_empty() || b.terms.is_empty() {
        0.0
    } else {
        2.0 * terms_inter as f32 / (a.terms.len() + b.terms.len()) as f32
    };
    let words = bottom_k_dice(&a.words, &b.words, MAX_WORDS);
    MatchScore {
        score: 0.0,
        text,
        containment,
        title,
        terms,
        words,
        entities: entity::overlap(&a.entities, &b.entities),
        same_category: ctx.same_category,
        same_jurisdiction: ctx.same_jurisdiction,
        gap_ms: ctx.gap_ms.saturating_abs(),
    }
}

/// Dice overlap of two sets from their bottom-`k` samples (sorted hashes): the `k` smallest
/// hashes of the union are a sample of it, and each is in the intersection iff both samples
/// hold it. Exact when neither set was cut.
fn bottom_k_dice(a: &[u32], b: &[u32], k: usize) -> f32 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    // The union's k smallest, or all of it when both samples are whole.
    let limit = match (a.len() >= k, b.len() >= k) {
        (false, false) => u32::MAX,
        (true, false) => a[a.len() - 1],
        (false, true) => b[b.len() - 1],
        (true, true) => a[a.len() - 1].min(b[b.len() - 1]),
    };
    let (mut i, mut j, mut union, mut inter) = (0, 0, 0usize, 0usize);
    while i < a.len() || j < b.len() {
        let (x, y) = (a.get(i).copied(), b.get(j).copied());
        let v = match (x, y) {
            (Some(x), Some(y)) if x == y => {
                i += 1;
                j += 1;
                inter += usize::from(x <= limit);
                x
            }
            (Some(x), Some(y)) if x < y => {
                i += 1;
                x
            }
            (Some(x), None) => {
                i += 1;
                x
            }
            (_, Some(y)) => {
                j += 1;
                y
            }
            (None, None) => break,
        };
        if v > limit {
            break;
        }
        union += 1;
    }
    if union == 0 {
        return 0.0;
    }
    let jaccard = inter as f32 / union as f32;
    2.0 * jaccard / (1.0 + jaccard)
}

/// The logit of a comparison's evidence under `w` (category prior included).
pub(crate) fn logit(s: &MatchScore, w: &Weights) -> f32 {
    let x = Features::of(s, w.age_grace_days).vector();
    let z: f32 = x.iter().zip(w.linear()).map(|(x, w)| x * w).sum();
    if s.same_category {
        z
    } else {
        z + w.different_category
    }
}

/// The score of a comparison's evidence: 0 on a [`place_conflict`], else the logistic decision.
pub(crate) fn probability(s: &MatchScore, w: &Weights) -> f32 {
    if place_conflict(s) {
        0.0
    } else {
        sigmoid(logit(s, w)).clamp(0.0, 1.0)
    }
}

/// Same-matter score of two reports with the given weights.
pub fn score_with(a: &Fingerprint, b: &Fingerprint, ctx: &MatchContext, w: &Weights) -> MatchScore {
    let mut s = evidence(a, b, ctx);
    s.score = probability(&s, w);
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

/// Default threshold: the recipe's choice ([`fit_recipe`]) on the 747 labelled pairs, with the
/// shipped weights.
pub const DEFAULT_THRESHOLD: f32 = 0.72;

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
