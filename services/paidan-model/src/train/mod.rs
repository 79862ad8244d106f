//! Training: JSONL → featurise → candle embedding-bag model (AdamW, seeded) → calibration on dev →
//! model directory (config.json, tokenizer.json, model.safetensors, taxonomy.toml).

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng, rngs::StdRng};
use sha2::{Digest, Sha256};

use crate::calibrate::{
    HeadMetrics, ReviewRule, choose_route_below, choose_rule, fit_temperature, head_metrics,
    softmax_t, top_two,
};
use crate::classifier::{
    ArtifactConfig, CONFIG_FILE, Calibration, Classifier, HeadCalibration, SplitMetrics,
    TAXONOMY_FILE, TOKENIZER_FILE, TrainingInfo, WEIGHTS_FILE, load_model,
};
use crate::classifier::{RECIPE_BAG, RECIPE_LINEAR, save_linear};
use crate::cv::{LoadedSet, Sources, head_codes, item_folds, load_sources, score_oof};
use crate::data::{Row, read_rows};
use crate::error::ModelError;
use crate::features::{FeatureConfig, Featurizer, prepare, words};
use crate::model::{Config, Model, weighted_cross_entropy};
use crate::recipe::{LinearRecipe, fit_linear, hash_rows, out_of_fold};
use crate::sparse::{RowAdamW, SparseBags};
use crate::taxonomy::Taxonomy;

/// What `paidan train` needs.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// Training JSONL (`text` required; `title`, `category`, `department`, `sure`, `id` optional).
    pub data: PathBuf,
    /// Dev JSONL for calibration and reported metrics; None = hold out 10 % of `data` (by seed).
    pub dev: Option<PathBuf>,
    /// Output model directory (created).
    pub out: PathBuf,
    /// Taxonomy TOML; None = label sets from the data (bare codes).
    pub taxonomy: Option<PathBuf>,
    pub seed: u64,
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub weight_decay: f64,
    pub dim: usize,
    /// Hidden layer width (0 = none).
    pub hidden: usize,
    pub dropout: f32,
    pub label_smoothing: f32,
    /// Loss weight of rows with `sure` = false.
    pub unsure_weight: f32,
    /// Review rules are chosen so that dev rows not sent to review reach this accuracy.
    pub target_accuracy: f64,
    pub features: FeatureConfig,
    /// Version prefix; None = the taxonomy's name, else the output directory's name.
    pub name: Option<String>,
    /// The tf-idf linear recipe (the default); None = the embedding bag (the fields `dim`,
    /// `hidden`, `dropout`, `features`, `epochs`… above apply to it only).
    pub recipe: Option<LinearRecipe>,
    /// More labelled files trained on with `data` (and folded with it for calibration).
    pub more_data: Vec<PathBuf>,
    /// Training-only files and their loss weight (linear recipe).
    pub aux: Vec<(PathBuf, f32)>,
    /// Loss weight of each taxonomy phrase (linear recipe; 0 = unused).
    pub phrase_weight: f32,
    /// Without `dev`, the linear recipe calibrates on out-of-fold predictions of this many
    /// grouped folds before training on everything.
    pub cv_folds: usize,
    /// Salt of the fold assignment.
    pub fold_seed: String,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            data: PathBuf::new(),
            dev: None,
            out: PathBuf::new(),
            taxonomy: None,
            seed: 42,
            epochs: 12,
            batch_size: 32,
            learning_rate: 0.02,
            weight_decay: 1e-4,
            dim: 64,
            hidden: 0,
            dropout: 0.0,
            label_smoothing: 0.05,
            unsure_weight: 0.5,
            target_accuracy: 0.9,
            features: FeatureConfig::default(),
            name: None,
            recipe: Some(LinearRecipe::default()),
            more_data: Vec::new(),
            aux: Vec::new(),
            phrase_weight: 1.0,
            cv_folds: 5,
            fold_seed: "paidan-cv".into(),
        }
    }
}

/// Phase of a training run, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrainPhase {
    Featurise,
    Train,
    Calibrate,
    Done,
}

/// Progress callback payload: set the bar length to `total` and position to `done`; `message`
/// says what happens (e.g. "epoch 3/12 loss 0.8123").
#[derive(Debug, Clone)]
pub struct TrainProgress {
    pub phase: TrainPhase,
    pub done: u64,
    pub total: u64,
    pub loss: Option<f32>,
    pub message: String,
}

/// What a finished training run reports.
#[derive(Debug, Clone)]
pub struct TrainReport {
    pub out: PathBuf,
    pub version: String,
    pub train_rows: usize,
    pub dev_rows: usize,
    pub seconds: f64,
    pub dev: SplitMetrics,
    pub config: ArtifactConfig,
}

struct Doc {
    ids: Vec<u32>,
    cat: Option<usize>,
    dep: Option<usize>,
    weight: f32,
    sure: bool,
}

fn holdout(rows: Vec<Row>, seed: u64) -> (Vec<Row>, Vec<Row>) {
    let (mut train, mut dev) = (Vec::new(), Vec::new());
    for r in rows {
        let key = r.id.clone().unwrap_or_else(|| r.text.clone());
        let h = Sha256::digest(format!("{seed}:{key}").as_bytes());
        if u32::from_be_bytes([h[0], h[1], h[2], h[3]]) % 10 == 0 {
            dev.push(r);
        } else {
            train.push(r);
        }
    }
    (train, dev)
}

fn label_index(
    rows: &[Row],
    path: &Path,
    pick: impl Fn(&Row) -> Option<&String>,
    codes: &[String],
    what: &str,
) -> Result<Vec<Option<usize>>, ModelError> {
    let idx: HashMap<&str, usize> = codes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i))
        .collect();
    rows.iter()
        .map(|r| match pick(r) {
            None => Ok(None),
            Some(c) => idx
                .get(c.as_str())
                .map(|&i| Some(i))
                .ok_or_else(|| ModelError::Data {
                    path: path.to_path_buf(),
                    line: r.line,
                    msg: format!("{what} {c:?} is not in the taxonomy"),
                }),
        })
        .collect()
}

/// Prepares and segments texts on all cores (the slow part of featurisation).
fn segment_all(rows: &[Row], max_chars: usize) -> Vec<(String, Vec<String>)> {
    crate::par::map_chunks(rows, |r| {
        let p = prepare(&r.title, &r.text, max_chars);
        let w = words(&p).into_iter().map(str::to_string).collect();
        (p, w)
    })
}

/// The training date recorded in the artifact (UTC).
pub(crate) fn today_utc() -> String {
    time::OffsetDateTime::now_utc().date().to_string()
}

fn init_vars(varmap: &VarMap, cfg: &Config, seed: u64) -> Result<(), ModelError> {
    let data = varmap
        .data()
        .lock()
        .map_err(|_| ModelError::Train("varmap lock poisoned".into()))?;
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed_1417);
    for name in names {
        let var = &data[name];
        let dims = var.dims().to_vec();
        let n: usize = dims.iter().product();
        let bound = if name == "embedding" {
            1.0 / (cfg.dim as f32).sqrt()
        } else if name.ends_with(".weight") {
            (6.0 / (dims[0] + dims[1]) as f32).sqrt()
        } else {
            0.0
        };
        let vals: Vec<f32> = (0..n)
            .map(|_| {
                if bound > 0.0 {
                    rng.random_range(-bound..bound)
                } else {
                    0.0
                }
            })
            .collect();
        var.set(&Tensor::from_vec(vals, dims, &Device::Cpu)?)?;
    }
    Ok(())
}

/// Trains a model directory from JSONL (see [`TrainOptions`]); `progress` is called often.
pub fn train(
    opts: &TrainOptions,
    progress: &mut dyn FnMut(TrainProgress),
) -> Result<TrainReport, ModelError> {
    if let Some(recipe) = &opts.recipe {
        return train_linear(opts, recipe, progress);
    }
    if !opts.more_data.is_empty() || !opts.aux.is_empty() {
        return Err(ModelError::Train(
            "more data files and training-only sets need the linear recipe".into(),
        ));
    }
    let started = Instant::now();
    let device = Device::Cpu;
    let (all_rows, data_sha) = read_rows(&opts.data)?;
    let (train_rows, dev_rows, dev_desc, dev_path) = match &opts.dev {
        Some(p) => {
            let (rows, sha) = read_rows(p)?;
            (all_rows, rows, format!("sha256:{sha}"), p.clone())
        }
        None => {
            let (t, d) = holdout(all_rows, opts.seed);
            (
                t,
                d,
                format!("10% of data held out by seed {}", opts.seed),
                opts.data.clone(),
            )
        }
    };
    if train_rows.is_empty() {
        return Err(ModelError::Train("no training rows".into()));
    }

    // Label sets: the taxonomy's, else what occurs in the data.
    let has_cat = train_rows.iter().any(|r| r.category.is_some());
    let has_dep = train_rows.iter().any(|r| r.department.is_some());
    let taxonomy = match &opts.taxonomy {
        Some(p) => Taxonomy::load(p)?,
        None => {
            let mut cats = BTreeSet::new();
            let mut deps = BTreeSet::new();
            for r in train_rows.iter().chain(&dev_rows) {
                cats.extend(r.category.iter().cloned());
                deps.extend(r.department.iter().cloned());
            }
            let cats: Vec<String> = cats.into_iter().collect();
            let deps: Vec<String> = deps.into_iter().collect();
            let name = opts
                .out
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "model".into());
            Taxonomy::from_codes(&name, &cats, &deps)
        }
    };
    let (categories, departments) = head_codes(&taxonomy, has_cat, has_dep)?;
    let tr_cat = label_index(
        &train_rows,
        &opts.data,
        |r| r.category.as_ref(),
        &categories,
        "category",
    )?;
    let tr_dep = label_index(
        &train_rows,
        &opts.data,
        |r| r.department.as_ref(),
        &departments,
        "department",
    )?;
    let dv_cat = label_index(
        &dev_rows,
        &dev_path,
        |r| r.category.as_ref(),
        &categories,
        "category",
    )?;
    let dv_dep = label_index(
        &dev_rows,
        &dev_path,
        |r| r.department.as_ref(),
        &departments,
        "department",
    )?;

    // Featurise.
    let total_rows = (train_rows.len() + dev_rows.len()) as u64;
    progress(TrainProgress {
        phase: TrainPhase::Featurise,
        done: 0,
        total: total_rows,
        loss: None,
        message: "segmenting".into(),
    });
    let seg_train = segment_all(&train_rows, opts.features.max_chars);
    let seg_dev = segment_all(&dev_rows, opts.features.max_chars);
    let featurizer = Featurizer::build(
        opts.features.clone(),
        seg_train.iter().map(|(_, w)| w.iter().map(String::as_str)),
    );
    let to_docs = |seg: &[(String, Vec<String>)],
                   rows: &[Row],
                   cat: &[Option<usize>],
                   dep: &[Option<usize>]| {
        seg.iter()
            .zip(rows)
            .enumerate()
            .map(|(i, ((p, w), r))| {
                let ws: Vec<&str> = w.iter().map(String::as_str).collect();
                let mut ids = Vec::new();
                featurizer.features_from(p, &ws, &mut ids);
                Doc {
                    ids,
                    cat: cat[i],
                    dep: dep[i],
                    weight: if r.sure { 1.0 } else { opts.unsure_weight },
                    sure: r.sure,
                }
            })
            .collect::<Vec<_>>()
    };
    let train_docs = to_docs(&seg_train, &train_rows, &tr_cat, &tr_dep);
    let dev_docs = to_docs(&seg_dev, &dev_rows, &dv_cat, &dv_dep);
    progress(TrainProgress {
        phase: TrainPhase::Featurise,
        done: total_rows,
        total: total_rows,
        loss: None,
        message: format!(
            "vocabulary {} words + {} buckets",
            featurizer.vocab_size(),
            opts.features.buckets
        ),
    });

    // Model + optimiser.
    let cfg = Config {
        num_features: featurizer.num_features(),
        dim: opts.dim,
        hidden: opts.hidden,
        num_categories: categories.len(),
        num_departments: departments.len(),
    };
    let varmap = VarMap::new();
    let model = Model::new(VarBuilder::from_varmap(&varmap, DType::F32, &device), &cfg)?;
    init_vars(&varmap, &cfg, opts.seed)?;
    // The embedding table is trained row-wise (only the rows a batch uses, see `sparse`): each
    // step gathers those rows into a small candle Var, differentiates through it, and writes the
    // AdamW update back into `table`. The heads (and hidden layer) use candle's AdamW.
    let (embedding_var, head_vars) = {
        let data = varmap
            .data()
            .lock()
            .map_err(|_| ModelError::Train("varmap lock poisoned".into()))?;
        let mut names: Vec<&String> = data.keys().filter(|k| *k != "embedding").collect();
        names.sort();
        let emb = data
            .get("embedding")
            .cloned()
            .ok_or_else(|| ModelError::Train("model has no embedding".into()))?;
        (
            emb,
            names
                .into_iter()
                .map(|n| data[n].clone())
                .collect::<Vec<_>>(),
        )
    };
    let mut table: Vec<f32> = embedding_var.as_tensor().flatten_all()?.to_vec1()?;
    let mut row_opt = RowAdamW::new(cfg.num_features, cfg.dim, opts.weight_decay);
    let mut opt = AdamW::new(
        head_vars,
        ParamsAdamW {
            lr: opts.learning_rate,
            weight_decay: opts.weight_decay,
            ..Default::default()
        },
    )?;
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let bs = opts.batch_size.max(1);
    let steps_per_epoch = train_docs.len().div_ceil(bs);
    let total_steps = (steps_per_epoch * opts.epochs).max(1);
    let mut order: Vec<usize> = (0..train_docs.len()).collect();
    let mut step = 0usize;
    let dim = cfg.dim;
    for epoch in 0..opts.epochs {
        order.shuffle(&mut rng);
        let mut epoch_loss = 0f32;
        for batch in order.chunks(bs) {
            let lr = opts.learning_rate * (1.0 - step as f64 / total_steps as f64).max(0.02);
            opt.set_learning_rate(lr);
            let ids: Vec<&[u32]> = batch
                .iter()
                .map(|&i| train_docs[i].ids.as_slice())
                .collect();
            let bags = SparseBags::new(&ids);
            let x = Var::from_vec(bags.forward(&table, dim), (batch.len(), dim), &device)?;
            let rep = model.represent_bag(x.as_tensor().clone(), opts.dropout, &mut rng)?;
            let logits = model.heads(&rep)?;
            let w: Vec<f32> = batch.iter().map(|&i| train_docs[i].weight).collect();
            let mut loss: Option<Tensor> = None;
            for (l, tg) in [
                (
                    logits.category,
                    batch.iter().map(|&i| train_docs[i].cat).collect::<Vec<_>>(),
                ),
                (
                    logits.department,
                    batch.iter().map(|&i| train_docs[i].dep).collect::<Vec<_>>(),
                ),
            ] {
                if let Some(l) = l
                    && let Some(x) = weighted_cross_entropy(&l, &tg, &w, opts.label_smoothing)?
                {
                    loss = Some(match loss {
                        Some(acc) => (acc + x)?,
                        None => x,
                    });
                }
            }
            if let Some(loss) = loss {
                epoch_loss += loss.to_scalar::<f32>()?;
                let grads = loss.backward()?;
                opt.step(&grads)?;
                if let Some(g) = grads.get(x.as_tensor()) {
                    let g = bags.backward(&g.flatten_all()?.to_vec1()?, dim);
                    row_opt.step(&mut table, &bags.distinct, &g, lr);
                }
            }
            step += 1;
            progress(TrainProgress {
                phase: TrainPhase::Train,
                done: step as u64,
                total: total_steps as u64,
                loss: None,
                message: format!("epoch {}/{}", epoch + 1, opts.epochs),
            });
        }
        let mean = epoch_loss / steps_per_epoch.max(1) as f32;
        tracing::debug!(epoch = epoch + 1, loss = mean, "epoch done");
        progress(TrainProgress {
            phase: TrainPhase::Train,
            done: step as u64,
            total: total_steps as u64,
            loss: Some(mean),
            message: format!("epoch {}/{} loss {mean:.4}", epoch + 1, opts.epochs),
        });
    }

    embedding_var.set(&Tensor::from_vec(
        std::mem::take(&mut table),
        (cfg.num_features, cfg.dim),
        &device,
    )?)?;

    // Save weights (f16 halves the artifact; serving loads them back as f32), tokenizer, taxonomy.
    progress(TrainProgress {
        phase: TrainPhase::Calibrate,
        done: 0,
        total: 1,
        loss: None,
        message: "saving and calibrating".into(),
    });
    std::fs::create_dir_all(&opts.out).map_err(|e| ModelError::io(&opts.out, e))?;
    let tensors: HashMap<String, Tensor> = {
        let data = varmap
            .data()
            .lock()
            .map_err(|_| ModelError::Train("varmap lock poisoned".into()))?;
        data.iter()
            .map(|(k, v)| Ok((k.clone(), v.as_tensor().to_dtype(DType::F16)?)))
            .collect::<Result<_, candle_core::Error>>()?
    };
    candle_core::safetensors::save(&tensors, opts.out.join(WEIGHTS_FILE))?;
    featurizer.save_tokenizer(&opts.out.join(TOKENIZER_FILE))?;
    let tax_path = opts.out.join(TAXONOMY_FILE);
    std::fs::write(&tax_path, taxonomy.to_toml()).map_err(|e| ModelError::io(&tax_path, e))?;

    // Calibrate on dev with the weights as saved.
    let dense = crate::model::ServingModel::new(&load_model(&opts.out, &cfg)?)?;
    let mut cal_heads: [Option<HeadCalibration>; 2] = [None, None];
    let mut metrics = SplitMetrics::default();
    for (head, cal) in cal_heads.iter_mut().enumerate() {
        let mut logits = Vec::new();
        let mut gold = Vec::new();
        let mut sure = Vec::new();
        for d in &dev_docs {
            let g = if head == 0 { d.cat } else { d.dep };
            if let Some(g) = g {
                let (c, dp) = dense.logits(&d.ids);
                if let Some(l) = if head == 0 { c } else { dp } {
                    logits.push(l);
                    gold.push(g);
                    sure.push(d.sure);
                }
            }
        }
        let present = if head == 0 {
            cfg.num_categories > 0
        } else {
            cfg.num_departments > 0
        };
        if !present {
            continue;
        }
        let t = fit_temperature(&logits, &gold);
        let mut p = Vec::new();
        let rows: Vec<(f32, f32, bool)> = logits
            .iter()
            .zip(&gold)
            .map(|(l, &g)| {
                softmax_t(l, t, &mut p);
                let (a, b) = top_two(&p);
                let k = crate::calibrate::argmax(&p).0;
                (a, b, k == g)
            })
            .collect();
        let rule = choose_rule(&rows, opts.target_accuracy);
        *cal = Some(HeadCalibration {
            temperature: t,
            threshold: rule.threshold,
            margin: rule.margin,
            route_below: None,
            category_prior: None,
        });
        let m = (!gold.is_empty()).then(|| head_metrics(&logits, &gold, &sure, t, rule));
        if head == 0 {
            metrics.category = m;
        } else {
            metrics.department = m;
        }
    }

    // When the routing table replaces the department head's answer: the confidence cut that
    // serves the most correct departments on dev (the table knows only the category).
    if let (Some(cc), Some(dc)) = (cal_heads[0], cal_heads[1].as_mut()) {
        let mut rows: Vec<(f32, bool, bool)> = Vec::new();
        let (mut pc, mut pd) = (Vec::new(), Vec::new());
        for d in &dev_docs {
            let Some(g) = d.dep else { continue };
            let (Some(cl), Some(dl)) = dense.logits(&d.ids) else {
                continue;
            };
            softmax_t(&cl, cc.temperature, &mut pc);
            softmax_t(&dl, dc.temperature, &mut pd);
            let (k, conf) = crate::calibrate::argmax(&pd);
            let routed =
                taxonomy.default_department(&categories[crate::calibrate::argmax(&pc).0], "");
            rows.push((
                conf,
                k == g,
                departments.get(g).is_some_and(|c| c == routed),
            ));
        }
        dc.route_below = Some(choose_route_below(&rows));
    }

    let seconds = started.elapsed().as_secs_f64();
    let prefix = opts.name.clone().unwrap_or_else(|| {
        if taxonomy.name().is_empty() {
            opts.out
                .file_name()
                .map_or("model".into(), |s| s.to_string_lossy().into_owned())
        } else {
            taxonomy.name().to_string()
        }
    });
    let created = today_utc();
    let run_digest = {
        let mut h = Sha256::new();
        h.update(data_sha.as_bytes());
        h.update(dev_desc.as_bytes());
        h.update(format!("{:?}{:?}{}", cfg, opts.features, opts.seed).as_bytes());
        h.update(
            std::fs::read(opts.out.join(WEIGHTS_FILE)).map_err(|e| ModelError::io(&opts.out, e))?,
        );
        hex::encode(h.finalize())
    };
    let config = ArtifactConfig {
        format: 1,
        recipe: RECIPE_BAG.into(),
        tfidf: None,
        linear: None,
        version: format!("{prefix}-{}-{}", created.replace('-', ""), &run_digest[..8]),
        created,
        seed: opts.seed,
        model: cfg,
        features: opts.features.clone(),
        categories,
        departments,
        calibration: Calibration {
            category: cal_heads[0],
            department: cal_heads[1],
            target_accuracy: opts.target_accuracy,
            ece_bins: 15,
            auto_threshold: None,
        },
        training: TrainingInfo {
            data_sha256: data_sha,
            dev: dev_desc,
            train_rows: train_docs.len(),
            dev_rows: dev_docs.len(),
            epochs: opts.epochs,
            batch_size: bs,
            learning_rate: opts.learning_rate,
            weight_decay: opts.weight_decay,
            label_smoothing: opts.label_smoothing,
            unsure_weight: opts.unsure_weight,
            dropout: opts.dropout,
            seconds,
            predicted_categories: Vec::new(),
            predicted_departments: Vec::new(),
        },
        metrics: SplitMetrics {
            category: metrics.category.clone(),
            department: metrics.department.clone(),
            automation: None,
        },
    };
    let cfg_path = opts.out.join(CONFIG_FILE);
    std::fs::write(&cfg_path, serde_json::to_string_pretty(&config)?)
        .map_err(|e| ModelError::io(&cfg_path, e))?;
    // The directory must load as a Classifier.
    let _ = Classifier::load(&opts.out)?;
    progress(TrainProgress {
        phase: TrainPhase::Done,
        done: 1,
        total: 1,
        loss: None,
        message: config.version.clone(),
    });
    Ok(TrainReport {
        out: opts.out.clone(),
        version: config.version.clone(),
        train_rows: train_docs.len(),
        dev_rows: dev_docs.len(),
        seconds,
        dev: metrics,
        config,
    })
}

mod linear;
use linear::train_linear;
