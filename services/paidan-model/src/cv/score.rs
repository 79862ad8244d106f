//! Scoring out-of-fold predictions (accuracy, macro-F1, calibration, the review and automation
//! operating points) and running the folds: the measures `paidan cv` reports.

use super::*;

/// Figures of one head over the out-of-fold predictions.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CvHead {
    pub rows: usize,
    pub accuracy: f64,
    pub macro_f1: f64,
    pub sure_rows: usize,
    pub accuracy_sure: f64,
    pub ece_uncalibrated: f64,
    pub ece: f64,
    /// Temperature fitted on the out-of-fold logits.
    pub temperature: f32,
}

/// Per source set: accuracy of both heads.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CvSet {
    pub rows: usize,
    pub category_accuracy: Option<f64>,
    pub department_accuracy: Option<f64>,
}

/// What `paidan cv` reports.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CvReport {
    pub folds: usize,
    pub fold_seed: String,
    /// True when the folds ignored near-duplicate groups (`--ungrouped`).
    #[serde(default)]
    pub ungrouped: bool,
    pub seed: u64,
    pub recipe: LinearRecipe,
    pub unsure_weight: f32,
    pub phrase_weight: f32,
    pub sources: Vec<String>,
    pub rows_scored: usize,
    pub rows_train_only: usize,
    pub category: Option<CvHead>,
    pub department: Option<CvHead>,
    /// Department served with the taxonomy routing table below `route_below` (category's
    /// default department when the head is less sure than that), and the cut chosen here.
    pub department_served_accuracy: Option<f64>,
    pub route_below: Option<f32>,
    /// Weight of the category prior on the department head (chosen here; 0 = off); the
    /// `department` figures above are the head alone, `department_joint_accuracy` with it.
    pub category_prior: f32,
    pub department_joint_accuracy: Option<f64>,
    /// How auto-routing is scored: p(category) × p(department) after temperature scaling (the
    /// category alone when there is no department head); a row counts as right when every head
    /// is right.
    pub automation_score: String,
    pub automation: Vec<Coverage>,
    pub per_set: BTreeMap<String, CvSet>,
    pub seconds: f64,
}

/// Out-of-fold logits of the scored rows with their gold labels.
#[derive(Debug, Clone, Default)]
pub struct Oof {
    pub index: Vec<usize>,
    pub cat: Vec<Option<Vec<f32>>>,
    pub dep: Vec<Option<Vec<f32>>>,
}

fn cv_head(logits: &[Vec<f32>], gold: &[usize], sure: &[bool]) -> Option<(CvHead, f32)> {
    if gold.is_empty() {
        return None;
    }
    let t = fit_temperature(logits, gold);
    let m = head_metrics(
        logits,
        gold,
        sure,
        t,
        ReviewRule {
            threshold: 0.0,
            margin: 0.0,
        },
    );
    Some((
        CvHead {
            rows: m.rows,
            accuracy: m.accuracy,
            macro_f1: m.macro_f1,
            sure_rows: m.sure_rows,
            accuracy_sure: m.accuracy_sure,
            ece_uncalibrated: m.ece_uncalibrated,
            ece: m.ece,
            temperature: t,
        },
        t,
    ))
}

/// Calibration chosen on out-of-fold predictions: temperatures, the routing-table cut and the
/// automation threshold at `target`.
#[derive(Debug, Clone, Copy, Default)]
pub struct OofCalibration {
    pub cat_temperature: Option<f32>,
    pub dep_temperature: Option<f32>,
    pub route_below: Option<f32>,
    /// Weight of the category prior on the department head (0 = off).
    pub category_prior: f32,
    /// Department accuracy with that prior.
    pub department_joint_accuracy: Option<f64>,
}

/// Department accuracy on out-of-fold rows for each prior weight; the best (lowest on ties).
/// Each row: (category probabilities, department probabilities, gold department).
pub fn choose_category_prior(
    rows: &[(Vec<f32>, Vec<f32>, usize)],
    routes: &[Option<usize>],
) -> (f32, f64) {
    let mut best = (0f32, -1f64);
    for beta in [0.0f32, 0.25, 0.5, 1.0, 2.0] {
        let mut ok = 0usize;
        for (pc, pd, g) in rows {
            let mut q = pd.clone();
            apply_category_prior(&mut q, pc, routes, beta);
            ok += usize::from(argmax(&q).0 == *g);
        }
        let acc = ok as f64 / rows.len().max(1) as f64;
        if acc > best.1 + 1e-9 {
            best = (beta, acc);
        }
    }
    best
}

/// What [`score_oof`] returns: the category and department head figures, the routing-table cut
/// (accuracy, cut), automation coverage per target, per-set accuracy, and the calibration.
pub type OofScores = (
    Option<CvHead>,
    Option<CvHead>,
    Option<(f64, f32)>,
    Vec<Coverage>,
    BTreeMap<String, CvSet>,
    OofCalibration,
);

/// Scores out-of-fold predictions: head figures, routing-table cut, automation coverage at each
/// target, per-set accuracy.
pub fn score_oof(
    set: &LoadedSet,
    oof: &[Option<(Vec<f32>, Vec<f32>)>],
    targets: &[f64],
) -> OofScores {
    let scored: Vec<usize> = (0..set.items.len())
        .filter(|&i| set.items[i].eval && oof[i].is_some())
        .collect();
    let collect = |head: usize| {
        let (mut l, mut g, mut s, mut idx) = (vec![], vec![], vec![], vec![]);
        for &i in &scored {
            let gold = if head == 0 { set.cats[i] } else { set.deps[i] };
            let (c, d) = oof[i].as_ref().expect("scored");
            let logits = if head == 0 { c } else { d };
            if let Some(gv) = gold
                && !logits.is_empty()
            {
                l.push(logits.clone());
                g.push(gv);
                s.push(set.items[i].row.sure);
                idx.push(i);
            }
        }
        (l, g, s, idx)
    };
    let (cl, cg, cs, _) = collect(0);
    let (dl, dg, ds, _) = collect(1);
    let cat = cv_head(&cl, &cg, &cs);
    let dep = cv_head(&dl, &dg, &ds);
    let ct = cat.as_ref().map(|c| c.1);
    let dt = dep.as_ref().map(|d| d.1);
    let mut cal = OofCalibration {
        cat_temperature: ct,
        dep_temperature: dt,
        route_below: None,
        category_prior: 0.0,
        department_joint_accuracy: None,
    };
    // The category prior on the department head, chosen first (the routing-table cut below is
    // then chosen on the adjusted department probabilities).
    let routes =
        crate::classifier::route_indices(&set.taxonomy, &set.categories, &set.departments, "");
    if let (Some(ctt), Some(dtt)) = (ct, dt) {
        let mut rows = Vec::new();
        for &i in &scored {
            let (c, d) = oof[i].as_ref().expect("scored");
            if let Some(g) = set.deps[i]
                && !c.is_empty()
                && !d.is_empty()
            {
                let (mut a, mut b) = (Vec::new(), Vec::new());
                softmax_t(c, ctt, &mut a);
                softmax_t(d, dtt, &mut b);
                rows.push((a, b, g));
            }
        }
        cal.category_prior = choose_category_prior(&rows, &routes).0;
    }
    // Per row: predicted category (and its p), department head (k, p), table's department.
    let mut pc = Vec::new();
    let mut pd = Vec::new();
    let mut rows_route = Vec::new();
    let mut auto: Vec<(f32, bool, usize)> = Vec::new();
    let mut per_set: BTreeMap<String, (usize, usize, usize, usize, usize)> = BTreeMap::new();
    let mut served: Vec<(usize, f32, usize, Option<usize>)> = Vec::new();
    for &i in &scored {
        let (c, d) = oof[i].as_ref().expect("scored");
        let (mut kc, mut p_c) = (None, 1f32);
        if let Some(t) = ct
            && !c.is_empty()
        {
            softmax_t(c, t, &mut pc);
            let (k, p) = argmax(&pc);
            kc = Some(k);
            p_c = p;
        }
        let (mut kd, mut p_d) = (None, 1f32);
        if let Some(t) = dt
            && !d.is_empty()
        {
            softmax_t(d, t, &mut pd);
            if kc.is_some() {
                apply_category_prior(&mut pd, &pc, &routes, cal.category_prior);
            }
            let (k, p) = argmax(&pd);
            kd = Some(k);
            p_d = p;
            let table = kc
                .map(|k| set.taxonomy.default_department(&set.categories[k], ""))
                .and_then(|code| set.departments.iter().position(|x| x == code));
            if let Some(g) = set.deps[i] {
                rows_route.push((p, k == g, table == Some(g)));
                served.push((k, p, g, table));
            }
        }
        let e = per_set.entry(set.items[i].set.clone()).or_default();
        e.0 += 1;
        if let (Some(k), Some(g)) = (kc, set.cats[i]) {
            e.1 += 1;
            e.2 += usize::from(k == g);
        }
        if let (Some(k), Some(g)) = (kd, set.deps[i]) {
            e.3 += 1;
            e.4 += usize::from(k == g);
        }
        let cat_ok = match (kc, set.cats[i]) {
            (Some(k), Some(g)) => Some(k == g),
            _ => None,
        };
        let dep_ok = match (kd, set.deps[i]) {
            (Some(k), Some(g)) => Some(k == g),
            _ => None,
        };
        // A row counts for automation when it has gold for every head the model has.
        let need_cat = ct.is_some();
        let need_dep = dt.is_some();
        if (need_cat && cat_ok.is_none()) || (need_dep && dep_ok.is_none()) {
            continue;
        }
        let right = cat_ok.unwrap_or(true) && dep_ok.unwrap_or(true);
        auto.push((p_c * p_d, right, i));
    }
    let route = (!rows_route.is_empty()).then(|| {
        let cut = crate::calibrate::choose_route_below(&rows_route);
        let ok = served
            .iter()
            .filter(|&&(k, p, g, table)| if p < cut { table == Some(g) } else { k == g })
            .count();
        (ok as f64 / served.len() as f64, cut)
    });
    cal.route_below = route.map(|r| r.1);
    cal.department_joint_accuracy = (!served.is_empty()).then(|| {
        served.iter().filter(|&&(k, _, g, _)| k == g).count() as f64 / served.len() as f64
    });
    let pairs: Vec<(f32, bool)> = auto.iter().map(|&(s, r, _)| (s, r)).collect();
    let coverage = targets.iter().map(|&t| coverage_at(&pairs, t)).collect();
    let per_set = per_set
        .into_iter()
        .map(|(k, (n, cn, cok, dn, dok))| {
            (
                k,
                CvSet {
                    rows: n,
                    category_accuracy: (cn > 0).then(|| cok as f64 / cn as f64),
                    department_accuracy: (dn > 0).then(|| dok as f64 / dn as f64),
                },
            )
        })
        .collect();
    (
        cat.map(|c| c.0),
        dep.map(|d| d.0),
        route,
        coverage,
        per_set,
        cal,
    )
}

/// What `paidan cv` runs.
#[derive(Debug, Clone)]
pub struct CvOptions {
    pub sources: Sources,
    pub folds: usize,
    /// Salt of the fold assignment.
    pub fold_seed: String,
    /// Training seed.
    pub seed: u64,
    pub recipe: LinearRecipe,
    pub threads: usize,
    /// Automation targets reported (e.g. 0.95 and 0.98).
    pub targets: Vec<f64>,
    /// Each row its own group (a random split, as published anchors use); the default keeps
    /// near-duplicates together, which is the honest choice for repeat complaints.
    pub ungrouped: bool,
}

/// One row of `--folds-out`: the row, its fold (None = training-only) and the OOF prediction.
#[derive(Debug, Clone, Serialize)]
pub struct FoldRow {
    pub fold: Option<usize>,
    pub eval: bool,
    pub set: String,
    pub id: Option<String>,
    pub title: String,
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    pub sure: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category_pred: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub department_pred: Option<String>,
}

/// Runs grouped k-fold CV of the linear recipe; returns the report and every row with its fold.
pub fn cross_validate(
    opts: &CvOptions,
    on_fold: &(dyn Fn(usize) + Sync),
) -> Result<(CvReport, Vec<FoldRow>), ModelError> {
    let started = std::time::Instant::now();
    let set = load_sources(&opts.sources, "cv")?;
    let k = opts.folds.max(2);
    let eval_idx: Vec<usize> = (0..set.items.len())
        .filter(|&i| set.items[i].eval)
        .collect();
    let eval_rows: Vec<&Row> = eval_idx.iter().map(|&i| &set.items[i].row).collect();
    let folds_eval = if opts.ungrouped {
        eval_rows
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let key = r.id.clone().unwrap_or_else(|| format!("{i}:{}", r.text));
                let h = Sha256::digest(format!("{}:{key}", opts.fold_seed).as_bytes());
                u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as usize % k
            })
            .collect()
    } else {
        assign_folds(&eval_rows, k, &opts.fold_seed)
    };
    let mut fold = vec![None; set.items.len()];
    for (j, &i) in eval_idx.iter().enumerate() {
        fold[i] = Some(folds_eval[j]);
    }
    let all_rows: Vec<&Row> = set.items.iter().map(|it| &it.row).collect();
    let hashes = hash_rows(&all_rows, &opts.recipe.tfidf);
    let targets = set.targets();
    let oof = out_of_fold(
        &hashes,
        &targets,
        &fold,
        k,
        set.categories.len(),
        set.departments.len(),
        &opts.recipe,
        opts.seed,
        opts.threads,
        on_fold,
    )?;
    let (category, department, route, automation, per_set, cal) =
        score_oof(&set, &oof, &opts.targets);
    let rows = set
        .items
        .iter()
        .enumerate()
        .map(|(i, it)| {
            let pred =
                |l: &[f32], codes: &[String]| (!l.is_empty()).then(|| codes[argmax(l).0].clone());
            let (cp, dp) = match &oof[i] {
                Some((c, d)) => (pred(c, &set.categories), pred(d, &set.departments)),
                None => (None, None),
            };
            FoldRow {
                fold: fold[i],
                eval: it.eval,
                set: it.set.clone(),
                id: it.row.id.clone(),
                title: it.row.title.clone(),
                text: it.row.text.clone(),
                category: it.row.category.clone(),
                department: it.row.department.clone(),
                sure: it.row.sure,
                category_pred: cp,
                department_pred: dp,
            }
        })
        .collect();
    let report = CvReport {
        folds: k,
        fold_seed: opts.fold_seed.clone(),
        ungrouped: opts.ungrouped,
        seed: opts.seed,
        recipe: opts.recipe.clone(),
        unsure_weight: opts.sources.unsure_weight,
        phrase_weight: opts.sources.phrase_weight,
        sources: set.digests.clone(),
        rows_scored: eval_idx.len(),
        rows_train_only: set.items.len() - eval_idx.len(),
        category,
        department,
        department_served_accuracy: route.map(|r| r.0),
        route_below: route.map(|r| r.1),
        category_prior: cal.category_prior,
        department_joint_accuracy: cal.department_joint_accuracy,
        automation_score:
            "p(category) × p(department), temperature-scaled; right = every head right".into(),
        automation,
        per_set,
        seconds: started.elapsed().as_secs_f64(),
    };
    Ok((report, rows))
}
