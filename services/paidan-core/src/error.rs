use paidan_store::StoreError;

/// Errors of the intake domain. The server maps each variant to one gRPC status.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// The request is malformed (empty text, text too long, unknown code...).
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    /// request_id reused with different content.
    #[error("{0}")]
    AlreadyExists(String),
    /// The request is valid but the case's state forbids it (e.g. a lifecycle move).
    #[error("{0}")]
    FailedPrecondition(String),
    /// No model is loaded (yet), or inference is shutting down.
    #[error("{0}")]
    Unavailable(String),
    #[error("model error: {0}")]
    Model(String),
    #[error("storage error: {0}")]
    Storage(String),
}

impl From<StoreError> for CoreError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(id) => CoreError::NotFound(format!("case {id} not found")),
            e @ StoreError::Conflict { .. } => CoreError::AlreadyExists(e.to_string()),
            e @ StoreError::InvalidTransition { .. } => {
                CoreError::FailedPrecondition(e.to_string())
            }
            e @ (StoreError::InvalidPageToken | StoreError::Invalid(_)) => {
                CoreError::Invalid(e.to_string())
            }
            e @ (StoreError::Storage(_) | StoreError::Corrupt { .. }) => {
                CoreError::Storage(e.to_string())
            }
        }
    }
}

pub type Result<T, E = CoreError> = std::result::Result<T, E>;
