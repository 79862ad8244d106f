//! The tiny-model training fixture: a model directory trained in a test from a few JSONL rows,
//! in seconds, for a server to load or an evaluation to score.

use std::path::{Path, PathBuf};

use paidan_model::recipe::LinearRecipe;
use paidan_model::{FeatureConfig, TrainOptions};

/// What [`train_tiny`] trains: the rows and the few knobs the tests vary.
#[derive(Clone, Debug)]
pub struct TinyModel {
    /// Training rows, JSONL.
    pub rows: String,
    /// Dev rows, JSONL (None: the trainer holds out rows of `rows`).
    pub dev: Option<PathBuf>,
    pub taxonomy: Option<PathBuf>,
    /// The linear tf-idf recipe (the shipped one) or, with None, the embedding bag.
    pub recipe: Option<LinearRecipe>,
    /// Embedding-bag epochs, dimension and hashed feature buckets.
    pub epochs: usize,
    pub dim: usize,
    pub buckets: usize,
    pub seed: u64,
}

impl TinyModel {
    /// An embedding-bag model of `rows`: one epoch, dimension 8, 1,024 buckets.
    pub fn new(rows: String) -> TinyModel {
        TinyModel {
            rows,
            dev: None,
            taxonomy: None,
            recipe: None,
            epochs: 1,
            dim: 8,
            buckets: 1024,
            seed: TrainOptions::default().seed,
        }
    }
}

/// Trains `m` into `dir/name` (its rows written to `dir/name-train.jsonl`) and returns the model
/// directory, named `name`. Panics when training fails.
pub fn train_tiny(dir: &Path, name: &str, m: &TinyModel) -> PathBuf {
    let data = dir.join(format!("{name}-train.jsonl"));
    std::fs::write(&data, &m.rows).expect("write the tiny model's rows");
    let out = dir.join(name);
    let opts = TrainOptions {
        data,
        dev: m.dev.clone(),
        out: out.clone(),
        taxonomy: m.taxonomy.clone(),
        seed: m.seed,
        epochs: m.epochs,
        dim: m.dim,
        features: FeatureConfig {
            buckets: m.buckets,
            ..FeatureConfig::default()
        },
        name: Some(name.to_owned()),
        recipe: m.recipe.clone(),
        ..TrainOptions::default()
    };
    paidan_model::train(&opts, &mut |_| {}).expect("the tiny model trains");
    out
}

/// The first `n` lines of a JSONL file (with their newlines).
pub fn first_rows(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).expect("read JSONL rows");
    text.lines().take(n).map(|l| format!("{l}\n")).collect()
}
