//! Error type of the eval harness.

use std::path::PathBuf;

/// Everything that can go wrong while evaluating a model.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A JSONL eval row could not be parsed or is invalid.
    #[error("{source_name}:{line}: {message}")]
    Row {
        /// File name (or `<input>` for in-memory readers).
        source_name: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong with the row.
        message: String,
    },
    /// The data set has no rows, or no row carries a label the model can be scored on.
    #[error("nothing to evaluate: {0}")]
    Empty(String),
    /// Predictions and rows do not line up.
    #[error("{0}")]
    Mismatch(String),
    /// The classifier failed.
    #[error("model: {0}")]
    Model(#[from] paidan_model::ModelError),
    /// Serialising JSON failed.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// Drawing a plot failed.
    #[error("plot: {0}")]
    Plot(String),
}

impl EvalError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        EvalError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = EvalError> = std::result::Result<T, E>;
