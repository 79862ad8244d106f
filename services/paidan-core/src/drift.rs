//! Drift: do the complaints coming in still look like what the model was fitted to?
//!
//! The inference pool keeps the last [`WINDOW`] predictions (category, department, flagged). At
//! each scrape the window's mix of top predictions is compared, per head, with the mix the model
//! predicted on its own out-of-fold training rows (`training.predicted_categories` /
//! `predicted_departments` in the model's config.json) as a population stability index:
//! PSI = Σ (a − e) · ln(a / e) over classes, a = share in the window, e = share in training, each
//! count plus ½ so an unseen class stays finite. Comparing predictions with predictions keeps
//! the model's own biases on both sides; a PSI above 0.25 is the usual "the population moved"
//! mark, 0.1–0.25 "watch it". The window empties when the model changes.

use std::collections::VecDeque;
use std::sync::Mutex;

use paidan_model::{Classifier, Triage};

/// Predictions kept.
pub const WINDOW: usize = 2000;

#[derive(Default)]
pub struct DriftWindow {
    recent: Mutex<VecDeque<(String, String, bool)>>,
}

/// The window against the serving model's training mix.
#[derive(Clone, Debug, PartialEq)]
pub struct DriftReport {
    /// Predictions in the window.
    pub n: usize,
    /// None when the model has no training mix (trained before 2026-12-05) or the window is empty.
    pub category_psi: Option<f64>,
    pub department_psi: Option<f64>,
    /// Share of the window flagged for review.
    pub review_share: f64,
}

impl DriftWindow {
    pub(crate) fn record(&self, t: &Triage) {
        let mut w = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        if w.len() == WINDOW {
            w.pop_front();
        }
        w.push_back((
            t.category.code.clone(),
            t.department.code.clone(),
            t.needs_review,
        ));
    }

    pub(crate) fn clear(&self) {
        self.recent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    pub fn report(&self, model: Option<&Classifier>) -> DriftReport {
        let w = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        let n = w.len();
        let review_share = if n == 0 {
            0.0
        } else {
            w.iter().filter(|x| x.2).count() as f64 / n as f64
        };
        let (mut category_psi, mut department_psi) = (None, None);
        if let (Some(m), true) = (model, n > 0) {
            let cfg = m.config();
            category_psi = psi(
                &cfg.categories,
                &cfg.training.predicted_categories,
                w.iter().map(|x| x.0.as_str()),
            );
            department_psi = psi(
                &cfg.departments,
                &cfg.training.predicted_departments,
                w.iter().map(|x| x.1.as_str()),
            );
        }
        DriftReport {
            n,
            category_psi,
            department_psi,
            review_share,
        }
    }
}

/// PSI of `seen` codes against `expected` counts per class (aligned with `classes`); codes outside
/// `classes` are ignored. None without expected counts.
pub fn psi<'a>(
    classes: &[String],
    expected: &[u64],
    seen: impl Iterator<Item = &'a str>,
) -> Option<f64> {
    if classes.is_empty() || expected.len() != classes.len() {
        return None;
    }
    let mut actual = vec![0u64; classes.len()];
    for code in seen {
        if let Some(i) = classes.iter().position(|c| c == code) {
            actual[i] += 1;
        }
    }
    let k = classes.len() as f64;
    let a_total = actual.iter().sum::<u64>() as f64 + 0.5 * k;
    let e_total = expected.iter().sum::<u64>() as f64 + 0.5 * k;
    Some(
        actual
            .iter()
            .zip(expected)
            .map(|(&a, &e)| {
                let a = (a as f64 + 0.5) / a_total;
                let e = (e as f64 + 0.5) / e_total;
                (a - e) * (a / e).ln()
            })
            .sum(),
    )
}

#[cfg(test)]
mod tests {
    use super::psi;

    #[test]
    fn psi_is_zero_for_the_same_mix_and_grows_as_it_moves() {
        let classes: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let expected = [500, 300, 200];
        let mix = |a: usize, b: usize, c: usize| {
            let mut v = vec!["a"; a];
            v.extend(vec!["b"; b]);
            v.extend(vec!["c"; c]);
            psi(&classes, &expected, v.into_iter()).unwrap()
        };
        let same = mix(500, 300, 200);
        let little = mix(450, 330, 220);
        let much = mix(100, 200, 700);
        assert!(same.abs() < 1e-3, "{same}");
        assert!(little > same && little < 0.1, "{little}");
        assert!(much > 0.25, "{much}");
        assert_eq!(psi(&classes, &[], ["a"].into_iter()), None);
    }
}
