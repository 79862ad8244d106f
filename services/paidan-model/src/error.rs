//! Errors of the model crate.

use std::path::PathBuf;

/// Everything that can go wrong loading, training or running a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}, line {line}: {msg}")]
    Data {
        path: PathBuf,
        line: usize,
        msg: String,
    },
    #[error("taxonomy: {0}")]
    Taxonomy(String),
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("artifact: {0}")]
    Artifact(String),
    #[error("training: {0}")]
    Train(String),
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
}

impl ModelError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ModelError::Io {
            path: path.into(),
            source,
        }
    }
}
