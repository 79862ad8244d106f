//! The decision before fingerprint version 2 (nine weights fitted on the 181 pairs of
//! `dedup_tune.jsonl`, plus four hand-set constants), kept only as the baseline that
//! `paidan eval-dedup --cv` measures the current decision against on the same folds.
//! The service does not use it.

use crate::{DAY_MS, Fingerprint, MatchContext, MatchScore, evidence};

/// The old weights, as shipped until fingerprint version 2.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LegacyWeights {
    pub bias: f32,
    pub text: f32,
    pub containment: f32,
    pub title: f32,
    pub shared_specific: f32,
    pub shared_general: f32,
    pub conflict_specific: f32,
    pub conflict_general: f32,
    pub conflict_containment: f32,
    pub different_category: f32,
    pub conflict_factor: f32,
    pub age_grace_days: f32,
    pub age_per_doubling: f32,
}

impl Default for LegacyWeights {
    fn default() -> Self {
        LegacyWeights {
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

/// The old decision's threshold.
pub const LEGACY_THRESHOLD: f32 = 0.5;

/// The old score of a comparison's evidence.
pub fn legacy_score_of(s: &MatchScore, w: &LegacyWeights) -> f32 {
    let e = &s.entities;
    let conflict = e.conflict_specific > 0;
    let topic = s.containment.max(s.title);
    let x = [
        1.0,
        s.text,
        s.containment,
        s.title,
        e.shared_specific.min(3) as f32 * topic,
        e.shared_general.min(2) as f32 * topic,
        e.conflict_specific as f32,
        e.conflict_general as f32,
        if conflict { s.containment } else { 0.0 },
    ];
    let wv = [
        w.bias,
        w.text,
        w.containment,
        w.title,
        w.shared_specific,
        w.shared_general,
        w.conflict_specific,
        w.conflict_general,
        w.conflict_containment,
    ];
    let mut z: f32 = x.iter().zip(wv).map(|(x, w)| x * w).sum();
    if !s.same_category {
        z += w.different_category;
    }
    let days = s.gap_ms as f64 / DAY_MS as f64;
    let grace = f64::from(w.age_grace_days);
    if grace > 0.0 && days > grace {
        z += (f64::from(w.age_per_doubling) * (days / grace).log2()) as f32;
    }
    let mut p = 1.0 / (1.0 + (-z).exp());
    if e.conflict_specific > 0 && e.conflict_specific >= e.shared_specific {
        p *= w.conflict_factor;
    }
    p.clamp(0.0, 1.0)
}

/// The old score of two reports.
pub fn legacy_score(a: &Fingerprint, b: &Fingerprint, ctx: &MatchContext) -> f32 {
    legacy_score_of(&evidence(a, b, ctx), &LegacyWeights::default())
}
