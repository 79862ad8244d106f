//! The model registry: a directory of versioned model artifacts, the serving model, and the eval
//! gate that keeps a worse model from being served by accident. A domain rule, so it lives here:
//! the Admin RPC only converts, and [`crate::Intake::reload_model`] records every attempt in the
//! audit trail.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use paidan_model::{Classifier, TriageInput};

use crate::error::{CoreError, Result};

/// What a reload did.
#[derive(Clone, Debug, PartialEq)]
pub struct Reloaded {
    pub previous_version: String,
    pub model_version: String,
    /// Category macro-F1 on the gate set (0 without a gate set).
    pub previous_macro_f1: f64,
    pub new_macro_f1: f64,
}

pub struct ModelRegistry {
    /// Where relative model names are looked up.
    root: PathBuf,
    /// Labelled rows every candidate model is scored on before it may serve.
    gate: Option<Vec<paidan_eval::EvalRow>>,
    /// How much worse (category macro-F1) a new model may be and still be served.
    gate_margin: f64,
    /// Gate score of the serving model, computed lazily.
    serving_score: Mutex<Option<(String, f64)>>,
}

/// Loads a model and runs one triage so the first real request does not pay for lazy setup.
pub fn load_and_warm(dir: &Path) -> Result<Classifier, String> {
    let model = Classifier::load(dir)
        .map_err(|e| format!("cannot load model from {}: {e}", dir.display()))?;
    model
        .triage(&TriageInput {
            title: "噪音扰民",
            text: "小区楼下烧烤店油烟太大，晚上噪音扰民",
            jurisdiction: "",
        })
        .map_err(|e| format!("model in {} fails its warm-up triage: {e}", dir.display()))?;
    Ok(model)
}

impl ModelRegistry {
    pub fn new(
        root: PathBuf,
        gate_set: Option<&Path>,
        gate_margin: f64,
    ) -> Result<ModelRegistry, String> {
        let gate = match gate_set {
            Some(p) => Some(
                paidan_eval::read_rows(p).map_err(|e| format!("gate set {}: {e}", p.display()))?,
            ),
            None => None,
        };
        Ok(ModelRegistry {
            root,
            gate,
            gate_margin,
            serving_score: Mutex::new(None),
        })
    }

    fn resolve(&self, name: &Path) -> PathBuf {
        if name.is_absolute() || name.exists() {
            name.to_path_buf()
        } else {
            self.root.join(name)
        }
    }

    fn score(&self, model: &Classifier) -> Result<Option<f64>> {
        match &self.gate {
            None => Ok(None),
            Some(rows) => paidan_eval::category_macro_f1(model, rows)
                .map(Some)
                .map_err(|e| CoreError::Model(format!("gate evaluation failed: {e}"))),
        }
    }

    /// Load `name`, score both models on the gate set, and return the candidate unless it is worse
    /// by more than the margin (or `force`); the caller swaps it in ([`crate::Intake::reload_model`]).
    /// Blocking: call from a blocking thread.
    pub(crate) fn admit(
        &self,
        serving: Option<std::sync::Arc<Classifier>>,
        name: &Path,
        force: bool,
    ) -> Result<(Classifier, Reloaded)> {
        let dir = self.resolve(name);
        let candidate = load_and_warm(&dir).map_err(CoreError::FailedPrecondition)?;
        let previous_version = serving
            .as_ref()
            .map(|m| m.version().to_owned())
            .unwrap_or_default();
        let new_score = self.score(&candidate)?;
        let old_score = match (&serving, &self.gate) {
            (Some(m), Some(_)) => {
                let cached = self.serving_score.lock().expect("poisoned").clone();
                match cached {
                    Some((v, s)) if v == m.version() => Some(s),
                    _ => self.score(m)?,
                }
            }
            _ => None,
        };
        if let (Some(new), Some(old)) = (new_score, old_score)
            && new + self.gate_margin < old
            && !force
        {
            return Err(CoreError::FailedPrecondition(format!(
                "refused: model {} scores category macro-F1 {new:.4} on the gate set, the serving model {} scores {old:.4}; the allowed drop is {:.4} (set force to serve it anyway)",
                candidate.version(),
                previous_version,
                self.gate_margin
            )));
        }
        let version = candidate.version().to_owned();
        *self.serving_score.lock().expect("poisoned") = new_score.map(|s| (version.clone(), s));
        Ok((
            candidate,
            Reloaded {
                previous_version,
                model_version: version,
                previous_macro_f1: old_score.unwrap_or(0.0),
                new_macro_f1: new_score.unwrap_or(0.0),
            },
        ))
    }
}
