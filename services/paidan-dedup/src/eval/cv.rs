//! Grouped cross-validation of the recipe against the baselines (the legacy score and the
//! shipped weights).

use super::*;

/// One method's pooled figures over the held-out folds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CvMethod {
    /// The decision alone (whether the pair would be a candidate is not asked).
    pub decision: Metrics,
    /// Only candidates can be linked: a duplicate pair that shares no index key is a miss.
    pub with_candidates: Metrics,
    /// The decision alone on the pairs the annotators were sure of.
    pub sure_only: Metrics,
}

/// One outer fold.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CvFold {
    pub fold: usize,
    pub pairs: usize,
    pub duplicates: usize,
    /// Chosen on the training folds only.
    pub lambda: f64,
    pub threshold: f64,
    pub jaccard_threshold: f64,
    pub decision: Metrics,
    pub legacy: Metrics,
    pub jaccard: Metrics,
}

/// Share of the duplicate pairs that share an index key (are candidates at all).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CandidateRecall {
    pub duplicate_pairs: usize,
    /// Keys of this build: text bands, entity names and tails, road crossings, place + term.
    pub hits: usize,
    pub recall: f64,
    /// Keys of fingerprint version 1: text bands and entity names.
    pub hits_v1: usize,
    pub recall_v1: f64,
    /// Non-duplicate labelled pairs that are candidates (scored, not errors).
    pub other_pairs: usize,
    pub other_hits: usize,
    pub other_hits_v1: usize,
}

/// Result of `paidan eval-dedup --cv K`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CvReport {
    pub folds: usize,
    pub pairs: usize,
    pub duplicates: usize,
    pub window_days: f64,
    /// The decision of this build, refitted ([`fit_recipe`]) on the training folds of each fold.
    pub refit: CvMethod,
    /// The decision before this revision, fixed weights and threshold 0.5 (its candidates:
    /// fingerprint-version-1 keys).
    pub legacy: CvMethod,
    /// Exact Jaccard of character trigrams of title + text, threshold chosen on the training folds.
    pub trigram_jaccard: CvMethod,
    pub candidates: CandidateRecall,
    pub per_fold: Vec<CvFold>,
    /// What the recipe chooses from.
    pub lambdas: Vec<f64>,
    pub inner_folds: usize,
}

/// Grouped `k`-fold cross-validation ([`grouped_folds`]): on each fold the recipe
/// ([`fit_recipe`]) and the Jaccard baseline's threshold see the training folds only; the
/// held-out predictions are pooled. The window of `cfg` applies to every method.
pub fn cross_validate(rows: &[PairRow], k: usize, cfg: &DedupConfig) -> CvReport {
    let prepared = prepare(rows);
    let folds = grouped_folds(rows, k);
    let n = rows.len();
    let mut refit = vec![false; n];
    let mut legacy = vec![false; n];
    let mut jaccard = vec![false; n];
    let mut per_fold = Vec::new();
    let lw = LegacyWeights::default();
    for f in 0..k {
        let train_idx: Vec<usize> = (0..n).filter(|&i| folds[i] != f).collect();
        let test_idx: Vec<usize> = (0..n).filter(|&i| folds[i] == f).collect();
        let train_rows: Vec<PairRow> = train_idx.iter().map(|&i| rows[i].clone()).collect();
        let train: Vec<&Prepared> = train_idx.iter().map(|&i| &prepared[i]).collect();
        let fit = fit_prepared(&train_rows, &train, cfg);
        let jac_train: Vec<(f32, &Prepared)> =
            train.iter().map(|p| (p.trigram_jaccard, *p)).collect();
        let (jt, _) = best_threshold_full(&jac_train, cfg);
        for &i in &test_idx {
            let p = &prepared[i];
            refit[i] = decide(
                probability(&p.evidence, &fit.weights),
                p,
                fit.threshold,
                cfg,
            );
            legacy[i] = decide(legacy_score_of(&p.evidence, &lw), p, LEGACY_THRESHOLD, cfg);
            jaccard[i] = decide(p.trigram_jaccard, p, jt, cfg);
        }
        let m = |pred: &[bool]| {
            Metrics::from_predictions(test_idx.iter().map(|&i| (pred[i], prepared[i].duplicate)))
        };
        per_fold.push(CvFold {
            fold: f,
            pairs: test_idx.len(),
            duplicates: test_idx.iter().filter(|&&i| prepared[i].duplicate).count(),
            lambda: fit.lambda,
            threshold: clean(fit.threshold),
            jaccard_threshold: clean(jt),
            decision: m(&refit),
            legacy: m(&legacy),
            jaccard: m(&jaccard),
        });
    }
    let method = |pred: &[bool], cand: &dyn Fn(&Prepared) -> bool| CvMethod {
        decision: Metrics::from_predictions(
            prepared.iter().zip(pred).map(|(p, &d)| (d, p.duplicate)),
        ),
        with_candidates: Metrics::from_predictions(
            prepared
                .iter()
                .zip(pred)
                .map(|(p, &d)| (d && cand(p), p.duplicate)),
        ),
        sure_only: Metrics::from_predictions(
            prepared
                .iter()
                .zip(pred)
                .filter(|(p, _)| p.sure)
                .map(|(p, &d)| (d, p.duplicate)),
        ),
    };
    let dup = |p: &&Prepared| p.duplicate;
    let duplicates = prepared.iter().filter(dup).count();
    let count = |f: &dyn Fn(&Prepared) -> bool, d: bool| {
        prepared.iter().filter(|p| p.duplicate == d && f(p)).count()
    };
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let hits = count(&|p| p.candidate, true);
    let hits_v1 = count(&|p| p.candidate_v1, true);
    CvReport {
        folds: k,
        pairs: n,
        duplicates,
        window_days: cfg.window_days(),
        refit: method(&refit, &|p| p.candidate),
        legacy: method(&legacy, &|p| p.candidate_v1),
        trigram_jaccard: method(&jaccard, &|p| p.candidate),
        candidates: CandidateRecall {
            duplicate_pairs: duplicates,
            hits,
            recall: ratio(hits, duplicates),
            hits_v1,
            recall_v1: ratio(hits_v1, duplicates),
            other_pairs: n - duplicates,
            other_hits: count(&|p| p.candidate, false),
            other_hits_v1: count(&|p| p.candidate_v1, false),
        },
        per_fold,
        lambdas: LAMBDAS.to_vec(),
        inner_folds: INNER_FOLDS,
    }
}

/// [`best_threshold`] over 0.00, 0.01, …, 1.00 (similarities are not probabilities).
fn best_threshold_full(scored: &[(f32, &Prepared)], cfg: &DedupConfig) -> (f32, f64) {
    let mut best = (0.5f32, f64::MIN);
    for i in 0..=100 {
        let t = i as f32 / 100.0;
        let m = Metrics::from_predictions(
            scored
                .iter()
                .map(|(s, p)| (decide(*s, p, t, cfg), p.duplicate)),
        )
        .macro_f1;
        if m > best.1 + 1e-12 {
            best = (t, m);
        }
    }
    best
}

/// Printed summary of a [`CvReport`].
pub fn render_cv(r: &CvReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "grouped {}-fold CV over {} pairs ({} duplicate), window: {}\n",
        r.folds,
        r.pairs,
        r.duplicates,
        window_name(r.window_days)
    );
    let _ = writeln!(
        s,
        "method                         macro-F1  P(dup)  R(dup)  | with candidates: macro-F1  R(dup) | sure only: macro-F1"
    );
    for (name, m) in [
        ("decision, refit per fold", &r.refit),
        ("old decision, fixed weights", &r.legacy),
        ("char-trigram Jaccard", &r.trigram_jaccard),
    ] {
        let _ = writeln!(
            s,
            "{name:<30} {:>8.3}  {:>6.3}  {:>6.3}  |                  {:>8.3}  {:>6.3} |            {:>8.3}",
            m.decision.macro_f1,
            m.decision.precision,
            m.decision.recall,
            m.with_candidates.macro_f1,
            m.with_candidates.recall,
            m.sure_only.macro_f1
        );
    }
    let c = &r.candidates;
    let _ = writeln!(
        s,
        "\ncandidate recall: {}/{} = {:.3} (version-1 keys: {}/{} = {:.3}); non-duplicate pairs sharing a key: {}/{} ({} with version-1 keys)",
        c.hits,
        c.duplicate_pairs,
        c.recall,
        c.hits_v1,
        c.duplicate_pairs,
        c.recall_v1,
        c.other_hits,
        c.other_pairs,
        c.other_hits_v1
    );
    let _ = writeln!(
        s,
        "\nfold  pairs  dup  lambda  threshold  macro-F1: decision  old     jaccard (threshold)"
    );
    for f in &r.per_fold {
        let _ = writeln!(
            s,
            "{:>4}  {:>5}  {:>3}  {:>6}  {:>9.2}            {:.3}  {:.3}   {:.3} ({:.2})",
            f.fold,
            f.pairs,
            f.duplicates,
            f.lambda,
            f.threshold,
            f.decision.macro_f1,
            f.legacy.macro_f1,
            f.jaccard.macro_f1,
            f.jaccard_threshold
        );
    }
    s
}
