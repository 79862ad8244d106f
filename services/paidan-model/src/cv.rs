//! Grouped k-fold cross-validation: how recipes and hyper-parameters are chosen (never by a
//! test split), and where the shipped model's calibration and review operating point come from.
//!
//! Near-identical messages are grouped first, exactly as `eval/split.py` groups them (same title
//! of at least 4 characters, or character-4-gram Jaccard ≥ 0.5 of the texts), and a whole group
//! goes to one fold, chosen by SHA-256(`seed:` + the id of its first row) — so a repeat complaint
//! never sits on both sides of a fold boundary and the folds are the same on every machine.
//! Rows marked training-only (`eval = false`, e.g. mapped rows of another city, or taxonomy
//! phrases) join the training part of every fold and are never scored.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::calibrate::{
    Coverage, ReviewRule, apply_category_prior, argmax, coverage_at, fit_temperature, head_metrics,
    softmax_t,
};
use crate::data::{Row, read_rows};
use crate::error::ModelError;
use crate::recipe::{LinearRecipe, Target, hash_rows, out_of_fold};
use crate::taxonomy::Taxonomy;

/// One labelled row with where it came from and how much it counts in training.
#[derive(Debug, Clone)]
pub struct Labelled {
    pub row: Row,
    /// Name of the source (file stem), reported per set.
    pub set: String,
    /// Loss weight (unsure rows and auxiliary sets count less).
    pub weight: f32,
    /// Scored in cross-validation (false: training-only).
    pub eval: bool,
}

fn shingles(text: &str) -> Vec<u64> {
    let chars: Vec<char> = text.chars().filter(|c| !c.is_whitespace()).collect();
    let mut out: Vec<u64> = if chars.len() < 4 {
        vec![hash_chars(&chars)]
    } else {
        chars.windows(4).map(hash_chars).collect()
    };
    out.sort_unstable();
    out.dedup();
    out
}

fn hash_chars(cs: &[char]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &c in cs {
        h ^= c as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn sorted_intersection(a: &[u64], b: &[u64]) -> usize {
    let (mut i, mut j, mut n) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                n += 1;
                i += 1;
                j += 1;
            }
        }
    }
    n
}

/// Group of every row (the index of the group's first row), as `eval/split.py` groups.
pub fn group_rows(rows: &[&Row]) -> Vec<usize> {
    let mut parent: Vec<usize> = (0..rows.len()).collect();
    fn find(p: &mut [usize], mut x: usize) -> usize {
        while p[x] != x {
            p[x] = p[p[x]];
            x = p[x];
        }
        x
    }
    fn union(p: &mut [usize], a: usize, b: usize) {
        let (a, b) = (find(p, a), find(p, b));
        if a != b {
            p[a.max(b)] = a.min(b);
        }
    }
    let mut by_title: HashMap<&str, usize> = HashMap::new();
    for (i, r) in rows.iter().enumerate() {
        let t = r.title.trim();
        if t.chars().count() >= 4 {
            match by_title.get(t) {
                Some(&j) => union(&mut parent, i, j),
                None => {
                    by_title.insert(t, i);
                }
            }
        }
    }
    let sh: Vec<Vec<u64>> = rows.iter().map(|r| shingles(&r.text)).collect();
    let mut index: HashMap<u64, Vec<usize>> = HashMap::new();
    for (i, s) in sh.iter().enumerate() {
        for &g in s {
            index.entry(g).or_default().push(i);
        }
    }
    let mut cand: HashMap<usize, usize> = HashMap::new();
    for (i, s) in sh.iter().enumerate() {
        cand.clear();
        for g in s {
            let post = &index[g];
            if post.len() <= 60 {
                for &j in post {
                    if j < i {
                        *cand.entry(j).or_insert(0) += 1;
                    }
                }
            }
        }
        let mut js: Vec<(usize, usize)> = cand.iter().map(|(&j, &n)| (j, n)).collect();
        js.sort_unstable();
        for (j, shared) in js {
            if shared * 4 < s.len().min(sh[j].len()) {
                continue;
            }
            let inter = sorted_intersection(s, &sh[j]);
            if inter as f64 / (s.len() + sh[j].len() - inter) as f64 >= 0.5 {
                union(&mut parent, i, j);
            }
        }
    }
    (0..rows.len()).map(|i| find(&mut parent, i)).collect()
}

/// Fold (0..k) of every row: its group's, by SHA-256(`seed:` + id (or text) of the group's
/// first row).
pub fn assign_folds(rows: &[&Row], k: usize, seed: &str) -> Vec<usize> {
    let groups = group_rows(rows);
    let k = k.max(1);
    let mut fold_of_group: HashMap<usize, usize> = HashMap::new();
    groups
        .iter()
        .map(|&g| {
            *fold_of_group.entry(g).or_insert_with(|| {
                let r = rows[g];
                let key = r.id.clone().unwrap_or_else(|| r.text.clone());
                let h = Sha256::digest(format!("{seed}:{key}").as_bytes());
                u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as usize % k
            })
        })
        .collect()
}

/// Where labelled rows come from: scored sets, training-only sets with a weight, and the
/// taxonomy whose phrases become training-only pseudo-documents.
#[derive(Debug, Clone)]
pub struct Sources {
    /// Scored in CV (and trained on).
    pub data: Vec<PathBuf>,
    /// Training-only sets and their loss weight (e.g. mapped rows of another city).
    pub aux: Vec<(PathBuf, f32)>,
    /// Label sets and phrases; None = label sets from the data.
    pub taxonomy: Option<PathBuf>,
    /// Loss weight of rows with `sure` = false (multiplies the set's weight).
    pub unsure_weight: f32,
    /// Loss weight of each taxonomy phrase (0 = phrases unused).
    pub phrase_weight: f32,
}

/// Labelled rows with their label indices, the taxonomy and the label lists of both heads.
#[derive(Debug, Clone)]
pub struct LoadedSet {
    pub items: Vec<Labelled>,
    pub cats: Vec<Option<usize>>,
    pub deps: Vec<Option<usize>>,
    pub taxonomy: Taxonomy,
    pub categories: Vec<String>,
    pub departments: Vec<String>,
    /// `name sha256` of every file read, for provenance.
    pub digests: Vec<String>,
}

fn stem(p: &Path) -> String {
    p.file_stem().map_or_else(
        || p.display().to_string(),
        |s| s.to_string_lossy().into_owned(),
    )
}

/// Reads every source, checks labels against the taxonomy (a label it lacks is an error naming
/// file and line), and adds the taxonomy's phrases.
pub fn load_sources(src: &Sources, name: &str) -> Result<LoadedSet, ModelError> {
    let mut items = Vec::new();
    let mut digests = Vec::new();
    let mut paths: Vec<(PathBuf, f32, bool)> =
        src.data.iter().map(|p| (p.clone(), 1.0, true)).collect();
    paths.extend(src.aux.iter().map(|(p, w)| (p.clone(), *w, false)));
    let mut origin: Vec<(PathBuf, usize)> = Vec::new();
    for (p, w, eval) in &paths {
        let (rows, sha) = read_rows(p)?;
        digests.push(format!("{} {sha}", stem(p)));
        for r in rows {
            origin.push((p.clone(), r.line));
            let weight = if r.sure { *w } else { *w * src.unsure_weight };
            items.push(Labelled {
                row: r,
                set: stem(p),
                weight,
                eval: *eval,
            });
        }
    }
    if items.is_empty() {
        return Err(ModelError::Train("no rows in the data files".into()));
    }
    let taxonomy = match &src.taxonomy {
        Some(p) => Taxonomy::load(p)?,
        None => {
            let mut cats = BTreeSet::new();
            let mut deps = BTreeSet::new();
            for it in &items {
                cats.extend(it.row.category.iter().cloned());
                deps.extend(it.row.department.iter().cloned());
            }
            let cats: Vec<String> = cats.into_iter().collect();
            let deps: Vec<String> = deps.into_iter().collect();
            Taxonomy::from_codes(name, &cats, &deps)
        }
    };
    if src.phrase_weight > 0.0 {
        for c in taxonomy.categories() {
            for (i, ph) in c.phrases.iter().enumerate() {
                origin.push((PathBuf::from("taxonomy"), i + 1));
                items.push(Labelled {
                    row: Row {
                        line: i + 1,
                        id: Some(format!("phrase:{}:{}", c.code, i + 1)),
                        title: String::new(),
                        text: ph.clone(),
                        category: Some(c.code.clone()),
                        department: (!c.default_department.is_empty())
                            .then(|| c.default_department.clone()),
                        sure: true,
                    },
                    set: "taxonomy".into(),
                    weight: src.phrase_weight,
                    eval: false,
                });
            }
        }
    }
    let has_cat = items.iter().any(|i| i.row.category.is_some());
    let has_dep = items.iter().any(|i| i.row.department.is_some());
    let categories: Vec<String> = if has_cat {
        taxonomy
            .categories()
            .iter()
            .map(|c| c.code.clone())
            .collect()
    } else {
        vec![]
    };
    let departments: Vec<String> = if has_dep {
        taxonomy
            .departments()
            .iter()
            .map(|d| d.code.clone())
            .collect()
    } else {
        vec![]
    };
    if categories.is_empty() && departments.is_empty() {
        return Err(ModelError::Train(
            "no row has a category or department label".into(),
        ));
    }
    let index = |codes: &[String]| -> HashMap<String, usize> {
        codes
            .iter()
            .enumerate()
            .map(|(i, c)| (c.clone(), i))
            .collect()
    };
    let (ci, di) = (index(&categories), index(&departments));
    let mut cats = Vec::with_capacity(items.len());
    let mut deps = Vec::with_capacity(items.len());
    for (it, (path, line)) in items.iter().zip(&origin) {
        let look = |v: &Option<String>, ix: &HashMap<String, usize>, what: &str| match v {
            None => Ok(None),
            Some(c) => ix.get(c).map(|&i| Some(i)).ok_or_else(|| ModelError::Data {
                path: path.clone(),
                line: *line,
                msg: format!("{what} {c:?} is not in the taxonomy"),
            }),
        };
        cats.push(look(&it.row.category, &ci, "category")?);
        deps.push(look(&it.row.department, &di, "department")?);
    }
    Ok(LoadedSet {
        items,
        cats,
        deps,
        taxonomy,
        categories,
        departments,
        digests,
    })
}

impl LoadedSet {
    /// Training targets (label indices and loss weight) of every item.
    pub fn targets(&self) -> Vec<Target> {
        self.items
            .iter()
            .enumerate()
            .map(|(i, it)| Target {
                cat: self.cats[i],
                dep: self.deps[i],
                weight: it.weight,
            })
            .collect()
    }
}

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

/// Scores out-of-fold predictions: head figures, routing-table cut, automation coverage at each
/// target, per-set accuracy.
pub fn score_oof(
    set: &LoadedSet,
    oof: &[Option<(Vec<f32>, Vec<f32>)>],
    targets: &[f64],
) -> (
    Option<CvHead>,
    Option<CvHead>,
    Option<(f64, f32)>,
    Vec<Coverage>,
    BTreeMap<String, CvSet>,
    OofCalibration,
) {
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
        let cut = crate::train::choose_route_below(&rows_route);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, title: &str, text: &str) -> Row {
        Row {
            line: 1,
            id: Some(id.into()),
            title: title.into(),
            text: text.into(),
            category: None,
            department: None,
            sure: true,
        }
    }

    #[test]
    fn groups_like_split_py() {
        let rows = [
            row(
                "a",
                "小区噪音扰民问题",
                "楼下的商铺每天晚上放音乐声音很大影响休息",
            ),
            row("b", "小区噪音扰民问题", "完全不同的一段文字内容描述"),
            row("c", "", "楼下的商铺每天晚上放音乐声音很大影响休息了"),
            row("d", "", "工地夜间施工噪音扰民凌晨还在打桩"),
            row("e", "短", "工地夜间施工噪音扰民凌晨还在打桩！"),
            row("f", "", "河道里垃圾很多没人清理"),
        ];
        let refs: Vec<&Row> = rows.iter().collect();
        let g = group_rows(&refs);
        // a–b by title, a–c by text, d–e by text (punctuation is a character), f alone.
        assert_eq!(g, [0, 0, 0, 3, 3, 5]);
        let folds = assign_folds(&refs, 5, "s");
        assert_eq!(folds[0], folds[1]);
        assert_eq!(folds[0], folds[2]);
        assert_eq!(folds[3], folds[4]);
        assert!(folds.iter().all(|&f| f < 5));
        assert_eq!(folds, assign_folds(&refs, 5, "s"), "deterministic");
    }
}
