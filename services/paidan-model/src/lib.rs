//! paidan-model: taxonomy, featuriser, candle classifier (category + department heads), training,
//! calibration and the serving API ([`Classifier`]).
//!
//! A model directory holds `config.json` ([`ArtifactConfig`]), `tokenizer.json` (WordLevel
//! vocabulary), `model.safetensors` and `taxonomy.toml`.

pub mod calibrate;
pub mod classifier;
pub mod cv;
pub mod data;
pub mod error;
pub mod features;
mod huge;
pub mod linear;
pub mod model;
mod par;
pub mod recipe;
mod sparse;
pub mod taxonomy;
pub mod tfidf;
pub mod train;

pub use calibrate::{HeadMetrics, ReviewRule};
pub use classifier::{
    ArtifactConfig, Calibration, Classifier, HeadCalibration, Scored, SplitMetrics, TrainingInfo,
    Triage, TriageInput,
};
pub use data::{Row, read_rows};
pub use error::ModelError;
pub use features::{FeatureConfig, Featurizer};
pub use model::{Bags, Config, DenseModel, FoldedModel, Model, ServingModel};
pub use taxonomy::{Category, Department, Taxonomy};
pub use train::{TrainOptions, TrainPhase, TrainProgress, TrainReport, train};

#[cfg(test)]
mod tests;
