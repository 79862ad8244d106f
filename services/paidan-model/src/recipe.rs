//! The linear recipe end to end, shared by `paidan train` and `paidan cv`: segment and hash every
//! row once (the slow part, on all cores), then per fit: vocabulary and idf from the training
//! rows only, tf-idf vectors, the jointly trained heads ([`crate::linear`]).

use serde::{Deserialize, Serialize};

use crate::data::Row;
use crate::error::ModelError;
use crate::linear::{LinearDoc, LinearModel, LinearOptions, LinearServing, fit};
use crate::tfidf::{TfidfConfig, TfidfFeaturizer, hashes_of};

/// A complaint's logits: (category head, department head).
pub type HeadLogits = (Vec<f32>, Vec<f32>);

/// Everything that decides a linear model besides the data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct LinearRecipe {
    pub tfidf: TfidfConfig,
    pub linear: LinearOptions,
}

/// The n-gram hashes of every row, computed on all cores.
pub fn hash_rows(rows: &[&Row], cfg: &TfidfConfig) -> Vec<Vec<u64>> {
    crate::par::map_chunks(rows, |r| hashes_of(cfg, &r.title, &r.text))
}

/// Labels and loss weight of one training row (class indices of both heads).
#[derive(Debug, Clone, Copy)]
pub struct Target {
    pub cat: Option<usize>,
    pub dep: Option<usize>,
    pub weight: f32,
}

/// A fitted linear model with its vocabulary.
#[derive(Debug, Clone)]
pub struct FittedLinear {
    pub featurizer: TfidfFeaturizer,
    pub model: LinearModel,
}

impl FittedLinear {
    /// The serving form and a closure-free way to score hash lists with it.
    pub fn serving(&self) -> LinearServing {
        LinearServing::new(&self.model)
    }
}

/// Fits vocabulary, idf and both heads on the given rows.
pub fn fit_linear(
    hashes: &[&[u64]],
    targets: &[Target],
    nc: usize,
    nd: usize,
    recipe: &LinearRecipe,
    seed: u64,
    on_epoch: &mut dyn FnMut(usize, f32),
) -> Result<FittedLinear, ModelError> {
    let owned: Vec<Vec<u64>> = hashes.iter().map(|h| h.to_vec()).collect();
    let featurizer = TfidfFeaturizer::fit(recipe.tfidf.clone(), &owned);
    drop(owned);
    let mut scratch = Vec::new();
    let docs: Vec<LinearDoc> = hashes
        .iter()
        .zip(targets)
        .map(|(h, t)| {
            let mut x = Vec::new();
            featurizer.vectorize_hashes(h, &mut scratch, &mut x);
            LinearDoc {
                x,
                cat: t.cat,
                dep: t.dep,
                weight: t.weight,
            }
        })
        .collect();
    let model = fit(
        &docs,
        featurizer.num_features(),
        nc,
        nd,
        &recipe.linear,
        seed,
        on_epoch,
    )?;
    Ok(FittedLinear { featurizer, model })
}

/// Out-of-fold logits: for every fold, fit on the other folds' rows plus every training-only row
/// (`fold[i] = None`), and score that fold's rows with the serving form. Folds run on up to
/// `threads` threads. Returns, per row, (category logits, department logits) for scored rows.
#[allow(clippy::too_many_arguments)]
pub fn out_of_fold(
    hashes: &[Vec<u64>],
    targets: &[Target],
    fold: &[Option<usize>],
    k: usize,
    nc: usize,
    nd: usize,
    recipe: &LinearRecipe,
    seed: u64,
    threads: usize,
    on_fold: &(dyn Fn(usize) + Sync),
) -> Result<Vec<Option<HeadLogits>>, ModelError> {
    let run_fold = |f: usize| -> Result<Vec<(usize, HeadLogits)>, ModelError> {
        let train: Vec<usize> = (0..hashes.len()).filter(|&i| fold[i] != Some(f)).collect();
        let h: Vec<&[u64]> = train.iter().map(|&i| hashes[i].as_slice()).collect();
        let t: Vec<Target> = train.iter().map(|&i| targets[i]).collect();
        let fitted = fit_linear(&h, &t, nc, nd, recipe, seed, &mut |_, _| {})?;
        let serving = fitted.serving();
        let mut scratch = Vec::new();
        let mut x = Vec::new();
        let mut out = Vec::new();
        for i in (0..hashes.len()).filter(|&i| fold[i] == Some(f)) {
            fitted
                .featurizer
                .vectorize_hashes(&hashes[i], &mut scratch, &mut x);
            let (c, d) = serving.logits(&x);
            out.push((i, (c.unwrap_or_default(), d.unwrap_or_default())));
        }
        on_fold(f);
        Ok(out)
    };
    let results = crate::par::map_jobs(k, threads, run_fold);
    let mut out = vec![None; hashes.len()];
    for r in results {
        for (i, l) in r? {
            out[i] = Some(l);
        }
    }
    Ok(out)
}
