//! The serving API: load a model directory and triage complaints.

use std::path::Path;

use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use paidan_text::Segmentation;
use serde::{Deserialize, Serialize};

use crate::calibrate::{HeadMetrics, ReviewRule, head_metrics, softmax_t};
use crate::data::Row;
use crate::error::ModelError;
use crate::features::{FeatureConfig, Featurizer};
use crate::linear::{LinearModel, LinearOptions, LinearServing};
use crate::model::{Config, Model, ServingModel};
use crate::taxonomy::Taxonomy;
use crate::tfidf::{TfidfConfig, TfidfFeaturizer};

/// `config.json` `recipe` of the embedding-bag model (the default for configs without one).
pub const RECIPE_BAG: &str = "embedding_bag";
/// `config.json` `recipe` of the tf-idf linear model ([`crate::linear`]).
pub const RECIPE_LINEAR: &str = "tfidf_linear";

fn default_recipe() -> String {
    RECIPE_BAG.into()
}

/// Files of a model directory.
pub const CONFIG_FILE: &str = "config.json";
pub const TOKENIZER_FILE: &str = "tokenizer.json";
pub const WEIGHTS_FILE: &str = "model.safetensors";
pub const TAXONOMY_FILE: &str = "taxonomy.toml";

/// Temperature and review rule of one head.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HeadCalibration {
    pub temperature: f32,
    pub threshold: f32,
    pub margin: f32,
    /// Department head only: below this confidence the taxonomy routing table's department
    /// replaces the head's answer (chosen on the dev split as the cut that serves the most
    /// correct departments; 0 = never). None (older config.json) = whenever the review rule
    /// flags the head, the former behaviour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_below: Option<f32>,
    /// Department head only: weight `beta` of the category prior (see
    /// [`crate::calibrate::apply_category_prior`]: the department is predicted jointly with the
    /// category through the routing table), chosen on out-of-fold predictions; None or 0 = off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category_prior: Option<f32>,
}

impl HeadCalibration {
    pub fn rule(&self) -> ReviewRule {
        ReviewRule {
            threshold: self.threshold,
            margin: self.margin,
        }
    }
}

/// Calibration of both heads (None for an absent head).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub category: Option<HeadCalibration>,
    pub department: Option<HeadCalibration>,
    /// Accuracy the review rules were chosen to reach on the rows they let through (dev split).
    pub target_accuracy: f64,
    pub ece_bins: usize,
    /// Automation operating point: a case is auto-routed only when p(category) × p(department)
    /// (calibrated; the category alone without a department head) is at least this; chosen on
    /// out-of-fold predictions so that `target_accuracy` of the auto-routed cases are right on
    /// every head. None (older configs) = the per-head rules alone decide.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_threshold: Option<f32>,
}

/// Metrics of both heads on one split.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SplitMetrics {
    pub category: Option<HeadMetrics>,
    pub department: Option<HeadMetrics>,
    /// Auto-routed share and its accuracy at the automation operating point.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automation: Option<crate::calibrate::Coverage>,
}

/// How the model was trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingInfo {
    pub data_sha256: String,
    /// SHA-256 of the dev file, or a description of the held-out part of the data.
    pub dev: String,
    pub train_rows: usize,
    pub dev_rows: usize,
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub weight_decay: f64,
    pub label_smoothing: f32,
    pub unsure_weight: f32,
    pub dropout: f32,
    pub seconds: f64,
    /// How often each category (in `categories` order) was the top prediction on the
    /// out-of-fold training rows: the mix the model was fitted to see, which serving compares its
    /// recent predictions with (drift). Empty for models trained before 2026-12-05.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub predicted_categories: Vec<u64>,
    /// The same for departments (the department head's top prediction).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub predicted_departments: Vec<u64>,
}

/// The parsed `config.json` of a model directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArtifactConfig {
    pub format: u32,
    /// `embedding_bag` (candle embedding bag, `features` + `tokenizer.json`) or `tfidf_linear`
    /// (tf-idf n-grams + linear heads, `tfidf` + `linear`; vocabulary in model.safetensors).
    #[serde(default = "default_recipe")]
    pub recipe: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tfidf: Option<TfidfConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linear: Option<LinearOptions>,
    /// e.g. "city-20261122-3f2a9c1d".
    pub version: String,
    /// UTC date of training (YYYY-MM-DD).
    pub created: String,
    pub seed: u64,
    pub model: Config,
    pub features: FeatureConfig,
    pub categories: Vec<String>,
    pub departments: Vec<String>,
    pub calibration: Calibration,
    pub training: TrainingInfo,
    pub metrics: SplitMetrics,
}

/// One complaint to triage.
#[derive(Debug, Clone, Copy)]
pub struct TriageInput<'a> {
    pub title: &'a str,
    pub text: &'a str,
    pub jurisdiction: &'a str,
}

/// A code with its display name and calibrated confidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scored {
    pub code: String,
    pub name: String,
    pub confidence: f32,
}

impl Scored {
    fn empty() -> Scored {
        Scored {
            code: String::new(),
            name: String::new(),
            confidence: 0.0,
        }
    }
}

/// The model's answer for one complaint. A head the model does not have yields an empty code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Triage {
    pub category: Scored,
    pub department: Scored,
    /// Next best, up to 3.
    pub category_alternatives: Vec<Scored>,
    pub department_alternatives: Vec<Scored>,
    pub needs_review: bool,
    pub review_reasons: Vec<String>,
    pub model_version: String,
}

/// What turns a complaint into logits.
#[derive(Debug)]
enum Engine {
    Bag {
        featurizer: Featurizer,
        serving: ServingModel,
    },
    Linear {
        tfidf: TfidfFeaturizer,
        serving: LinearServing,
    },
}

/// A loaded model directory. `Send + Sync`; share it behind an `Arc`.
#[derive(Debug)]
pub struct Classifier {
    cfg: ArtifactConfig,
    taxonomy: Taxonomy,
    engine: Engine,
    /// Routing-table department (index) of every category outside any jurisdiction override,
    /// for the department's category prior; computed once at load.
    routes: Vec<Option<usize>>,
}

/// Index in `departments` of each category's routing-table department in `jurisdiction`.
pub(crate) fn route_indices(
    taxonomy: &Taxonomy,
    categories: &[String],
    departments: &[String],
    jurisdiction: &str,
) -> Vec<Option<usize>> {
    categories
        .iter()
        .map(|c| {
            let d = taxonomy.default_department(c, jurisdiction);
            departments.iter().position(|x| x == d)
        })
        .collect()
}

/// Tensor names of a linear model's `model.safetensors`.
pub(crate) const T_HASH: &str = "tfidf.hash";
pub(crate) const T_IDF: &str = "tfidf.idf";
pub(crate) const T_WEIGHT: &str = "linear.weight";
pub(crate) const T_BIAS: &str = "linear.bias";

/// Saves a linear model: n-gram hashes (i64 bit patterns), idf (f32), weights (f16, features ×
/// (categories + departments)), bias (f32).
pub(crate) fn save_linear(
    path: &Path,
    tfidf: &TfidfFeaturizer,
    model: &LinearModel,
) -> Result<(), ModelError> {
    use candle_core::Tensor;
    let dev = Device::Cpu;
    let n = tfidf.num_features();
    let k = model.width();
    let hashes: Vec<i64> = tfidf.hashes().iter().map(|&h| h as i64).collect();
    let mut t = std::collections::HashMap::new();
    t.insert(T_HASH.to_string(), Tensor::from_vec(hashes, n, &dev)?);
    t.insert(
        T_IDF.to_string(),
        Tensor::from_vec(tfidf.idf().to_vec(), n, &dev)?,
    );
    t.insert(
        T_WEIGHT.to_string(),
        Tensor::from_vec(model.weight.clone(), (n, k), &dev)?.to_dtype(DType::F16)?,
    );
    t.insert(
        T_BIAS.to_string(),
        Tensor::from_vec(model.bias.clone(), k, &dev)?,
    );
    candle_core::safetensors::save(&t, path)?;
    Ok(())
}

/// Loads what [`save_linear`] wrote, checking shapes against the config.
pub(crate) fn load_linear(
    dir: &Path,
    cfg: &ArtifactConfig,
) -> Result<(TfidfFeaturizer, LinearModel), ModelError> {
    let path = dir.join(WEIGHTS_FILE);
    if !path.is_file() {
        return Err(ModelError::Artifact(format!(
            "{} is missing",
            path.display()
        )));
    }
    let tcfg = cfg.tfidf.clone().ok_or_else(|| {
        ModelError::Artifact("config.json: recipe tfidf_linear needs a \"tfidf\" section".into())
    })?;
    let t = candle_core::safetensors::load(&path, &Device::Cpu)?;
    let get = |name: &str| {
        t.get(name).ok_or_else(|| {
            ModelError::Artifact(format!("{}: tensor {name} is missing", path.display()))
        })
    };
    let hashes: Vec<u64> = get(T_HASH)?
        .to_vec1::<i64>()?
        .into_iter()
        .map(|h| h as u64)
        .collect();
    let idf: Vec<f32> = get(T_IDF)?.to_dtype(DType::F32)?.to_vec1()?;
    let (nc, nd) = (cfg.model.num_categories, cfg.model.num_departments);
    let w = get(T_WEIGHT)?.to_dtype(DType::F32)?;
    let (rows, k) = w.dims2()?;
    if rows != hashes.len() || idf.len() != rows || k != nc + nd || rows != cfg.model.num_features {
        return Err(ModelError::Artifact(format!(
            "{}: weights are {rows} × {k}, {} hashes, {} idf; config.json says {} features × {}",
            path.display(),
            hashes.len(),
            idf.len(),
            cfg.model.num_features,
            nc + nd
        )));
    }
    let bias: Vec<f32> = get(T_BIAS)?.to_dtype(DType::F32)?.to_vec1()?;
    if bias.len() != k {
        return Err(ModelError::Artifact(format!(
            "{}: bias has {} values, expected {k}",
            path.display(),
            bias.len()
        )));
    }
    let weight: Vec<f32> = w.flatten_all()?.to_vec1()?;
    let (hashes, idf, weight) = frequent_first(hashes, idf, weight, k);
    let model = LinearModel {
        nc,
        nd,
        weight,
        bias,
    };
    Ok((TfidfFeaturizer::from_parts(tcfg, hashes, idf), model))
}

/// Renumbers the features of a loaded model most frequent first (idf ascending is document
/// frequency descending; ties keep the stored order): the same model, the ids permuted.
///
/// Why: the weight table (200,000 rows of 96 bytes in serving) is larger than the caches, and
/// the stored order is by hash, so the few thousand n-grams nearly every complaint has (common
/// characters, 的/了/小区…) sat one to a cache line among rows that are almost never read.
/// Numbered first, they share lines and stay cached; a complaint's rare n-grams still miss.
/// The stored file is not changed (training writes hash order; this is a serving layout).
fn frequent_first(
    hashes: Vec<u64>,
    idf: Vec<f32>,
    mut weight: Vec<f32>,
    k: usize,
) -> (Vec<u64>, Vec<f32>, Vec<f32>) {
    let mut order: Vec<usize> = (0..hashes.len()).collect();
    order.sort_by(|&a, &b| idf[a].total_cmp(&idf[b]).then(a.cmp(&b)));
    let h = order.iter().map(|&i| hashes[i]).collect();
    let d = order.iter().map(|&i| idf[i]).collect();
    // Rows moved in place along the permutation's cycles (a second table would add 37 MB to
    // the peak while loading).
    let mut done = vec![false; order.len()];
    let mut held = vec![0f32; k];
    for start in 0..order.len() {
        if done[start] || order[start] == start {
            continue;
        }
        held.copy_from_slice(&weight[start * k..(start + 1) * k]);
        let mut at = start;
        loop {
            done[at] = true;
            let from = order[at];
            if from == start {
                weight[at * k..(at + 1) * k].copy_from_slice(&held);
                break;
            }
            weight.copy_within(from * k..(from + 1) * k, at * k);
            at = from;
        }
    }
    (h, d, weight)
}

/// Loads the candle model from mmaped safetensors with the same constructor used in training.
pub fn load_model(dir: &Path, cfg: &Config) -> Result<Model, ModelError> {
    let path = dir.join(WEIGHTS_FILE);
    if !path.is_file() {
        return Err(ModelError::Artifact(format!(
            "{} is missing",
            path.display()
        )));
    }
    // SAFETY: the file is only read; model directories are not modified while loaded.
    #[allow(unsafe_code)]
    let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[&path], DType::F32, &Device::Cpu)? };
    Ok(Model::new(vb, cfg)?)
}

impl Classifier {
    /// Loads `config.json`, `tokenizer.json`, `model.safetensors` and `taxonomy.toml` from `dir`.
    pub fn load(dir: &Path) -> Result<Classifier, ModelError> {
        let cfg_path = dir.join(CONFIG_FILE);
        let cfg_text =
            std::fs::read_to_string(&cfg_path).map_err(|e| ModelError::io(&cfg_path, e))?;
        let cfg: ArtifactConfig = serde_json::from_str(&cfg_text)
            .map_err(|e| ModelError::Artifact(format!("{}: {e}", cfg_path.display())))?;
        let taxonomy = Taxonomy::load(&dir.join(TAXONOMY_FILE))?;
        match cfg.recipe.as_str() {
            RECIPE_BAG => {
                let featurizer = Featurizer::load(cfg.features.clone(), &dir.join(TOKENIZER_FILE))?;
                Classifier::assemble(dir, cfg, taxonomy, featurizer)
            }
            RECIPE_LINEAR => {
                if cfg.categories.len() != cfg.model.num_categories
                    || cfg.departments.len() != cfg.model.num_departments
                {
                    return Err(ModelError::Artifact(
                        "label lists do not match the model heads".into(),
                    ));
                }
                let (tfidf, model) = load_linear(dir, &cfg)?;
                let serving = LinearServing::new(&model);
                let routes = route_indices(&taxonomy, &cfg.categories, &cfg.departments, "");
                Ok(Classifier {
                    cfg,
                    taxonomy,
                    engine: Engine::Linear { tfidf, serving },
                    routes,
                })
            }
            other => Err(ModelError::Artifact(format!(
                "{}: unknown recipe {other:?} (embedding_bag or tfidf_linear)",
                cfg_path.display()
            ))),
        }
    }

    pub(crate) fn assemble(
        dir: &Path,
        cfg: ArtifactConfig,
        taxonomy: Taxonomy,
        featurizer: Featurizer,
    ) -> Result<Classifier, ModelError> {
        if featurizer.num_features() != cfg.model.num_features {
            return Err(ModelError::Artifact(format!(
                "tokenizer gives {} features, config.json says {}",
                featurizer.num_features(),
                cfg.model.num_features
            )));
        }
        if cfg.categories.len() != cfg.model.num_categories
            || cfg.departments.len() != cfg.model.num_departments
        {
            return Err(ModelError::Artifact(
                "label lists do not match the model heads".into(),
            ));
        }
        let serving = ServingModel::new(&load_model(dir, &cfg.model)?)?;
        let routes = route_indices(&taxonomy, &cfg.categories, &cfg.departments, "");
        Ok(Classifier {
            cfg,
            taxonomy,
            routes,
            engine: Engine::Bag {
                featurizer,
                serving,
            },
        })
    }

    /// The model version, e.g. "city-20261122-3f2a9c1d".
    pub fn version(&self) -> &str {
        &self.cfg.version
    }

    pub fn taxonomy(&self) -> &Taxonomy {
        &self.taxonomy
    }

    /// The parsed config.json (metrics, thresholds, digests...).
    pub fn config(&self) -> &ArtifactConfig {
        &self.cfg
    }

    /// The embedding-bag featuriser (None for a linear model).
    pub fn featurizer(&self) -> Option<&Featurizer> {
        match &self.engine {
            Engine::Bag { featurizer, .. } => Some(featurizer),
            Engine::Linear { .. } => None,
        }
    }

    /// The tf-idf featuriser (None for an embedding-bag model).
    pub fn tfidf(&self) -> Option<&TfidfFeaturizer> {
        match &self.engine {
            Engine::Linear { tfidf, .. } => Some(tfidf),
            Engine::Bag { .. } => None,
        }
    }

    /// Number of feature occurrences (bag) or distinct features (linear) of one complaint: the
    /// featurisation step alone, for benchmarks and fuzzing. Every id is checked to lie inside the
    /// model's feature space (a panic otherwise).
    pub fn featurize_count(&self, title: &str, text: &str) -> usize {
        match &self.engine {
            Engine::Bag { featurizer, .. } => {
                let mut ids = Vec::with_capacity(1024);
                featurizer.features(title, text, &mut ids);
                let n = featurizer.num_features();
                assert!(
                    ids.iter().all(|&id| (id as usize) < n),
                    "feature id out of range"
                );
                ids.len()
            }
            Engine::Linear { tfidf, .. } => {
                let mut x = Vec::with_capacity(1024);
                tfidf.vectorize(title, text, &mut x);
                let n = tfidf.num_features();
                assert!(
                    x.iter().all(|&(id, v)| (id as usize) < n && v.is_finite()),
                    "feature out of range or not finite"
                );
                x.len()
            }
        }
    }

    /// Raw logits (category, department) of one complaint.
    pub fn logits(&self, title: &str, text: &str) -> (Option<Vec<f32>>, Option<Vec<f32>>) {
        self.logits_inner(title, text, None)
    }

    /// [`Classifier::logits`] with the words cut through `seg`, the complaint's shared
    /// segmentation (the dedup fingerprint's blocks are not cut again). Same logits.
    pub fn logits_with(
        &self,
        title: &str,
        text: &str,
        seg: &mut Segmentation,
    ) -> (Option<Vec<f32>>, Option<Vec<f32>>) {
        self.logits_inner(title, text, Some(seg))
    }

    /// The logits, the words cut through `seg` when given, else by the segmenter directly (a
    /// classification alone gains nothing from remembering blocks).
    fn logits_inner(
        &self,
        title: &str,
        text: &str,
        seg: Option<&mut Segmentation>,
    ) -> (Option<Vec<f32>>, Option<Vec<f32>>) {
        match (&self.engine, seg) {
            (
                Engine::Bag {
                    featurizer,
                    serving,
                },
                seg,
            ) => {
                let mut ids = Vec::with_capacity(1024);
                match seg {
                    Some(seg) => featurizer.features_with(title, text, seg, &mut ids),
                    None => featurizer.features(title, text, &mut ids),
                }
                serving.logits(&ids)
            }
            (Engine::Linear { tfidf, serving }, seg) => {
                let mut x = Vec::with_capacity(1024);
                match seg {
                    Some(seg) => tfidf.vectorize_with(title, text, seg, &mut x),
                    None => tfidf.vectorize(title, text, &mut x),
                }
                serving.logits(&x)
            }
        }
    }

    /// Category, department, alternatives and the review decision for one complaint.
    pub fn triage(&self, input: &TriageInput<'_>) -> Result<Triage, ModelError> {
        self.triage_inner(input, None)
    }

    /// [`Classifier::triage`] with the words cut through `seg` (see
    /// [`Classifier::logits_with`]); the caller clears it between complaints.
    pub fn triage_with(
        &self,
        input: &TriageInput<'_>,
        seg: &mut Segmentation,
    ) -> Result<Triage, ModelError> {
        self.triage_inner(input, Some(seg))
    }

    fn triage_inner(
        &self,
        input: &TriageInput<'_>,
        seg: Option<&mut Segmentation>,
    ) -> Result<Triage, ModelError> {
        let (cat_logits, dep_logits) = self.logits_inner(input.title, input.text, seg);
        let mut reasons = Vec::new();
        let mut p = Vec::new();
        let mut dep_p = Vec::new();

        let (category, category_alternatives, cat_ok) =
            match (&cat_logits, &self.cfg.calibration.category) {
                (Some(l), Some(cal)) => {
                    softmax_t(l, cal.temperature, &mut p);
                    let ranked = self.rank(&p, &self.cfg.categories, true);
                    let ok = self.check("category", &ranked, cal, &mut reasons);
                    let mut it = ranked.into_iter();
                    let top = it.next().unwrap_or_else(Scored::empty);
                    (top, it.take(3).collect(), ok)
                }
                _ => (Scored::empty(), Vec::new(), true),
            };

        let (mut department, department_alternatives, dep_ok) =
            match (&dep_logits, &self.cfg.calibration.department) {
                (Some(l), Some(cal)) => {
                    softmax_t(l, cal.temperature, &mut dep_p);
                    if let Some(beta) = cal.category_prior.filter(|b| *b > 0.0)
                        && !p.is_empty()
                    {
                        let overridden = self
                            .taxonomy
                            .routed_jurisdictions()
                            .any(|j| j == input.jurisdiction);
                        let local;
                        let routes = if overridden {
                            local = route_indices(
                                &self.taxonomy,
                                &self.cfg.categories,
                                &self.cfg.departments,
                                input.jurisdiction,
                            );
                            &local
                        } else {
                            &self.routes
                        };
                        crate::calibrate::apply_category_prior(&mut dep_p, &p, routes, beta);
                    }
                    let ranked = self.rank(&dep_p, &self.cfg.departments, false);
                    let ok = self.check("department", &ranked, cal, &mut reasons);
                    let mut it = ranked.into_iter();
                    let top = it.next().unwrap_or_else(Scored::empty);
                    (top, it.take(3).collect(), ok)
                }
                _ => (Scored::empty(), Vec::new(), true),
            };

        // Department head absent, or too unsure to beat the table: route by the taxonomy table
        // for the predicted category.
        let dep_missing = department.code.is_empty();
        let route = match self.cfg.calibration.department.and_then(|c| c.route_below) {
            Some(below) => department.confidence < below,
            None => !dep_ok,
        };
        // The table stands in for an unsure head: a person confirms the department.
        let table_routed = route && !dep_missing && !category.code.is_empty();
        if (route || dep_missing) && !category.code.is_empty() {
            let routed = self
                .taxonomy
                .default_department(&category.code, input.jurisdiction);
            if !routed.is_empty() {
                // Without a department head the routing follows the category: use its confidence.
                let conf = if dep_missing {
                    category.confidence
                } else {
                    self.cfg
                        .departments
                        .iter()
                        .position(|d| d == routed)
                        .and_then(|i| dep_p.get(i).copied())
                        .unwrap_or(0.0)
                };
                if dep_missing {
                    department = Scored {
                        code: routed.to_string(),
                        name: self
                            .taxonomy
                            .department_name(routed)
                            .unwrap_or(routed)
                            .to_string(),
                        confidence: conf,
                    };
                } else if routed != department.code {
                    let where_ = if input.jurisdiction.is_empty() {
                        String::new()
                    } else {
                        format!(" in {}", input.jurisdiction)
                    };
                    reasons.push(format!(
                        "department routed by the taxonomy table: {} for category {}{} (model suggested {})",
                        routed, category.code, where_, department.code
                    ));
                    department = Scored {
                        code: routed.to_string(),
                        name: self
                            .taxonomy
                            .department_name(routed)
                            .unwrap_or(routed)
                            .to_string(),
                        confidence: conf,
                    };
                } else {
                    reasons.push(format!(
                        "department {} confirmed by the taxonomy table for category {}",
                        routed, category.code
                    ));
                }
            }
        }

        // The automation operating point: both heads' confidence together.
        let mut auto_ok = true;
        if let Some(t) = self.cfg.calibration.auto_threshold {
            let pc = if category.code.is_empty() {
                1.0
            } else {
                category.confidence
            };
            let pd = if dep_logits.is_some() && !department.code.is_empty() {
                department.confidence
            } else {
                1.0
            };
            let score = pc * pd;
            if score < t {
                auto_ok = false;
                reasons.push(format!(
                    "joint confidence {score:.2} (category × department) < {t:.2}, the cut at which {:.0} % of auto-routed cases were right in cross-validation",
                    self.cfg.calibration.target_accuracy * 100.0
                ));
            }
        }

        Ok(Triage {
            category,
            department,
            category_alternatives,
            department_alternatives,
            needs_review: !(cat_ok && dep_ok && auto_ok) || (table_routed && !reasons.is_empty()),
            review_reasons: reasons,
            model_version: self.cfg.version.clone(),
        })
    }

    /// [`Classifier::triage`] for many complaints (same order).
    pub fn triage_batch(&self, inputs: &[TriageInput<'_>]) -> Result<Vec<Triage>, ModelError> {
        inputs.iter().map(|i| self.triage(i)).collect()
    }

    fn rank(&self, p: &[f32], codes: &[String], category: bool) -> Vec<Scored> {
        let mut idx: Vec<usize> = (0..p.len()).collect();
        idx.sort_by(|&a, &b| p[b].total_cmp(&p[a]).then(a.cmp(&b)));
        idx.truncate(4);
        idx.into_iter()
            .map(|i| {
                let code = &codes[i];
                let name = if category {
                    self.taxonomy.category_name(code)
                } else {
                    self.taxonomy.department_name(code)
                };
                Scored {
                    code: code.clone(),
                    name: name.unwrap_or(code).to_string(),
                    confidence: p[i],
                }
            })
            .collect()
    }

    fn check(
        &self,
        head: &str,
        ranked: &[Scored],
        cal: &HeadCalibration,
        reasons: &mut Vec<String>,
    ) -> bool {
        let top1 = ranked.first().map_or(0.0, |s| s.confidence);
        let top2 = ranked.get(1).map_or(0.0, |s| s.confidence);
        let mut ok = true;
        if top1 < cal.threshold {
            reasons.push(format!(
                "{head} confidence {top1:.2} < {:.2}",
                cal.threshold
            ));
            ok = false;
        }
        if top1 - top2 < cal.margin {
            reasons.push(format!(
                "{head} margin {:.2} < {:.2} ({} vs {})",
                top1 - top2,
                cal.margin,
                ranked[0].code,
                ranked.get(1).map_or("", |s| s.code.as_str())
            ));
            ok = false;
        }
        ok
    }

    /// Metrics of this model on labelled rows (accuracy, macro-F1, sure-row accuracy, ECE, review rate).
    pub fn evaluate(&self, rows: &[Row]) -> SplitMetrics {
        let mut cat = (Vec::new(), Vec::new(), Vec::new());
        let mut dep = (Vec::new(), Vec::new(), Vec::new());
        for r in rows {
            let (cl, dl) = self.logits(&r.title, &r.text);
            if let (Some(l), Some(g)) = (cl, r.category.as_ref())
                && let Some(k) = self.cfg.categories.iter().position(|c| c == g)
            {
                cat.0.push(l);
                cat.1.push(k);
                cat.2.push(r.sure);
            }
            if let (Some(l), Some(g)) = (dl, r.department.as_ref())
                && let Some(k) = self.cfg.departments.iter().position(|c| c == g)
            {
                dep.0.push(l);
                dep.1.push(k);
                dep.2.push(r.sure);
            }
        }
        let m = |h: &(Vec<Vec<f32>>, Vec<usize>, Vec<bool>), cal: &Option<HeadCalibration>| {
            cal.as_ref()
                .filter(|_| !h.1.is_empty())
                .map(|c| head_metrics(&h.0, &h.1, &h.2, c.temperature, c.rule()))
        };
        SplitMetrics {
            category: m(&cat, &self.cfg.calibration.category),
            department: m(&dep, &self.cfg.calibration.department),
            automation: None,
        }
    }
}

#[cfg(test)]
mod serving_order_tests {
    use super::frequent_first;

    #[test]
    fn frequent_first_is_the_same_model_renumbered() {
        let k = 3;
        // idf with ties (kept in stored order) and a row per feature that names it.
        let idf = vec![2.0f32, 1.0, 3.0, 1.0, 2.0, 1.5, 0.5];
        let hashes: Vec<u64> = (0..idf.len() as u64).map(|i| 100 + i).collect();
        let weight: Vec<f32> = (0..idf.len() * k).map(|x| x as f32).collect();
        let (h, d, w) = frequent_first(hashes.clone(), idf.clone(), weight.clone(), k);
        let want: Vec<usize> = vec![6, 1, 3, 5, 0, 4, 2];
        for (new, &old) in want.iter().enumerate() {
            assert_eq!(h[new], hashes[old], "hash of new feature {new}");
            assert_eq!(d[new], idf[old], "idf of new feature {new}");
            assert_eq!(w[new * k..(new + 1) * k], weight[old * k..(old + 1) * k]);
        }
        // Already in order: unchanged.
        let sorted = vec![0.5f32, 1.0, 1.0, 2.0];
        let (_, d, w) = frequent_first(
            vec![1, 2, 3, 4],
            sorted.clone(),
            (0..8).map(|x| x as f32).collect(),
            2,
        );
        assert_eq!(d, sorted);
        assert_eq!(w, (0..8).map(|x| x as f32).collect::<Vec<_>>());
    }
}
