//! The linear recipe's trainer: calibration from out-of-fold predictions (or a dev set), then one
//! fit on all training rows. The embedding-bag trainer and the shared options are in `mod.rs`.

use super::*;

/// The linear recipe: calibration from out-of-fold predictions (or `dev`), then one fit on all
/// training rows; writes config.json, model.safetensors and taxonomy.toml.
pub(super) fn train_linear(
    opts: &TrainOptions,
    recipe: &LinearRecipe,
    progress: &mut dyn FnMut(TrainProgress),
) -> Result<TrainReport, ModelError> {
    let started = Instant::now();
    let mut data = vec![opts.data.clone()];
    data.extend(opts.more_data.iter().cloned());
    let n_data = data.len();
    if let Some(d) = &opts.dev {
        data.push(d.clone());
    }
    let name = opts
        .out
        .file_name()
        .map_or("model".into(), |s| s.to_string_lossy().into_owned());
    let set = load_sources(
        &Sources {
            data,
            aux: opts.aux.clone(),
            taxonomy: opts.taxonomy.clone(),
            unsure_weight: opts.unsure_weight,
            phrase_weight: opts.phrase_weight,
        },
        &name,
    )?;
    let dev_set = opts.dev.as_ref().map(|d| {
        d.file_stem()
            .map_or_else(String::new, |s| s.to_string_lossy().into_owned())
    });
    // With a dev file: its rows are the only scored fold and never trained on.
    let n_files_rows = |set: &LoadedSet, i: usize| set.items[i].eval;
    let fold: Vec<Option<usize>> = match &dev_set {
        Some(stem) if n_data > 0 => (0..set.items.len())
            .map(|i| (n_files_rows(&set, i) && &set.items[i].set == stem).then_some(0))
            .collect(),
        _ => item_folds(&set, opts.cv_folds.max(2), &opts.fold_seed),
    };
    let k = if dev_set.is_some() {
        1
    } else {
        opts.cv_folds.max(2)
    };
    let train_idx: Vec<usize> = if dev_set.is_some() {
        (0..set.items.len())
            .filter(|&i| fold[i].is_none())
            .collect()
    } else {
        (0..set.items.len()).collect()
    };
    if train_idx.is_empty() {
        return Err(ModelError::Train("no training rows".into()));
    }
    let total = set.items.len() as u64;
    progress(TrainProgress {
        phase: TrainPhase::Featurise,
        done: 0,
        total,
        loss: None,
        message: "segmenting".into(),
    });
    let rows: Vec<&Row> = set.items.iter().map(|i| &i.row).collect();
    let hashes = hash_rows(&rows, &recipe.tfidf);
    let targets = set.targets();
    let (nc, nd) = (set.categories.len(), set.departments.len());
    progress(TrainProgress {
        phase: TrainPhase::Train,
        done: 0,
        total: k as u64 + 1,
        loss: None,
        message: if dev_set.is_some() {
            "calibration fit".into()
        } else {
            format!("{k}-fold out-of-fold predictions for calibration")
        },
    });
    let done = std::sync::atomic::AtomicU64::new(0);
    let oof = out_of_fold(
        &hashes,
        &targets,
        &fold,
        k,
        nc,
        nd,
        recipe,
        opts.seed,
        2,
        &|_| {
            done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        },
    )?;
    progress(TrainProgress {
        phase: TrainPhase::Train,
        done: k as u64,
        total: k as u64 + 1,
        loss: None,
        message: "final fit".into(),
    });
    let h: Vec<&[u64]> = train_idx.iter().map(|&i| hashes[i].as_slice()).collect();
    let t: Vec<_> = train_idx.iter().map(|&i| targets[i]).collect();
    let fitted = fit_linear(&h, &t, nc, nd, recipe, opts.seed, &mut |_, _| {})?;
    progress(TrainProgress {
        phase: TrainPhase::Calibrate,
        done: 0,
        total: 1,
        loss: None,
        message: "calibrating and saving".into(),
    });
    let (cat_m, dep_m, _route, coverage, _per_set, cal) =
        score_oof(&set, &oof, &[opts.target_accuracy]);
    let head = |t: Option<f32>, route: Option<f32>, prior: Option<f32>| {
        t.map(|temperature| HeadCalibration {
            temperature,
            threshold: 0.0,
            margin: 0.0,
            route_below: route,
            category_prior: prior,
        })
    };
    let cal_cat = if nc > 0 {
        head(cal.cat_temperature, None, None)
    } else {
        None
    };
    let cal_dep = if nd > 0 {
        head(
            cal.dep_temperature,
            Some(cal.route_below.unwrap_or(0.0)),
            (nc > 0).then_some(cal.category_prior),
        )
    } else {
        None
    };
    let auto = coverage.first().copied();
    // No cut reaches the target (tiny data): nothing is auto-routed.
    let auto_threshold = auto.map(|c| c.threshold);
    // Metrics of the out-of-fold (or dev) predictions with the chosen temperatures.
    let metric = |head: usize, t: Option<f32>| -> Option<HeadMetrics> {
        let t = t?;
        let (mut l, mut g, mut s) = (vec![], vec![], vec![]);
        for (i, o) in oof.iter().enumerate() {
            let Some((c, d)) = o else { continue };
            let gold = if head == 0 { set.cats[i] } else { set.deps[i] };
            let logits = if head == 0 { c } else { d };
            if let Some(gv) = gold
                && set.items[i].eval
                && !logits.is_empty()
            {
                l.push(logits.clone());
                g.push(gv);
                s.push(set.items[i].row.sure);
            }
        }
        (!g.is_empty()).then(|| {
            head_metrics(
                &l,
                &g,
                &s,
                t,
                ReviewRule {
                    threshold: 0.0,
                    margin: 0.0,
                },
            )
        })
    };
    let _ = (&cat_m, &dep_m);
    let metrics = SplitMetrics {
        category: metric(0, cal.cat_temperature.filter(|_| nc > 0)),
        department: metric(1, cal.dep_temperature.filter(|_| nd > 0)),
        automation: auto,
    };

    std::fs::create_dir_all(&opts.out).map_err(|e| ModelError::io(&opts.out, e))?;
    let weights = opts.out.join(WEIGHTS_FILE);
    save_linear(&weights, &fitted.featurizer, &fitted.model)?;
    // A linear model has no tokenizer.json; remove a stale one from an earlier bag model.
    let _ = std::fs::remove_file(opts.out.join(TOKENIZER_FILE));
    let tax_path = opts.out.join(TAXONOMY_FILE);
    std::fs::write(&tax_path, set.taxonomy.to_toml()).map_err(|e| ModelError::io(&tax_path, e))?;
    let seconds = started.elapsed().as_secs_f64();
    let prefix = opts.name.clone().unwrap_or_else(|| {
        if set.taxonomy.name().is_empty() {
            name.clone()
        } else {
            set.taxonomy.name().to_string()
        }
    });
    let created = today_utc();
    let data_sha = set.digests.join(", ");
    let dev_desc = match &opts.dev {
        Some(d) => format!("dev file {}", d.display()),
        None => format!(
            "{k}-fold grouped CV out-of-fold predictions (fold seed {:?})",
            opts.fold_seed
        ),
    };
    let model_cfg = Config {
        num_features: fitted.featurizer.num_features(),
        dim: 0,
        hidden: 0,
        num_categories: nc,
        num_departments: nd,
    };
    let run_digest = {
        let mut h = Sha256::new();
        h.update(data_sha.as_bytes());
        h.update(dev_desc.as_bytes());
        h.update(format!("{recipe:?}{}", opts.seed).as_bytes());
        h.update(std::fs::read(&weights).map_err(|e| ModelError::io(&weights, e))?);
        hex::encode(h.finalize())
    };
    let scored = oof.iter().filter(|o| o.is_some()).count();
    let config = ArtifactConfig {
        format: 1,
        recipe: RECIPE_LINEAR.into(),
        tfidf: Some(recipe.tfidf.clone()),
        linear: Some(recipe.linear.clone()),
        version: format!("{prefix}-{}-{}", created.replace('-', ""), &run_digest[..8]),
        created,
        seed: opts.seed,
        model: model_cfg,
        features: FeatureConfig::default(),
        categories: set.categories.clone(),
        departments: set.departments.clone(),
        calibration: Calibration {
            category: cal_cat,
            department: cal_dep,
            target_accuracy: opts.target_accuracy,
            ece_bins: 15,
            auto_threshold,
        },
        training: TrainingInfo {
            data_sha256: data_sha,
            dev: dev_desc,
            train_rows: train_idx.len(),
            dev_rows: scored,
            epochs: recipe.linear.epochs,
            batch_size: recipe.linear.batch_size,
            learning_rate: recipe.linear.learning_rate,
            weight_decay: recipe.linear.weight_decay,
            label_smoothing: recipe.linear.label_smoothing,
            unsure_weight: opts.unsure_weight,
            dropout: 0.0,
            seconds,
            predicted_categories: top_counts(oof.iter().flatten().map(|(c, _)| c), nc),
            predicted_departments: top_counts(oof.iter().flatten().map(|(_, d)| d), nd),
        },
        metrics: metrics.clone(),
    };
    let cfg_path = opts.out.join(CONFIG_FILE);
    std::fs::write(&cfg_path, serde_json::to_string_pretty(&config)? + "\n")
        .map_err(|e| ModelError::io(&cfg_path, e))?;
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
        train_rows: train_idx.len(),
        dev_rows: scored,
        seconds,
        dev: metrics,
        config,
    })
}

/// How often each class was the top prediction over the rows that have one.
fn top_counts<'a>(logits: impl Iterator<Item = &'a Vec<f32>>, classes: usize) -> Vec<u64> {
    let mut counts = vec![0u64; classes];
    for row in logits {
        if let Some((i, _)) = row.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1))
            && i < classes
        {
            counts[i] += 1;
        }
    }
    counts
}
