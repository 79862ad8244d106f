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
    /// No model is loaded (yet), inference is shutting down, or (in a cluster) this node does not
    /// hold the partition a write belongs to: nothing was done, the same request may succeed later.
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
            e @ StoreError::Fenced(_) => CoreError::Unavailable(e.to_string()),
            StoreError::Storage(e) => CoreError::Storage(e),
            e @ StoreError::Corrupt { .. } => CoreError::Storage(e.to_string()),
        }
    }
}

pub type Result<T, E = CoreError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_map_to_the_domain_error_a_client_can_act_on() {
        let kind = |e: CoreError| match e {
            CoreError::Invalid(_) => "invalid",
            CoreError::NotFound(_) => "not found",
            CoreError::AlreadyExists(_) => "already exists",
            CoreError::FailedPrecondition(_) => "failed precondition",
            CoreError::Unavailable(_) => "unavailable",
            CoreError::Model(_) => "model",
            CoreError::Storage(_) => "storage",
        };
        // (store error, domain error, message)
        let table = [
            (
                StoreError::NotFound("c1".into()),
                "not found",
                "case c1 not found",
            ),
            (
                StoreError::InvalidPageToken,
                "invalid",
                "invalid page token",
            ),
            (
                StoreError::Fenced("node-a does not hold partition 5".into()),
                "unavailable",
                "fenced: node-a does not hold partition 5",
            ),
            (
                StoreError::Storage("disk full".into()),
                "storage",
                "storage error: disk full",
            ),
        ];
        for (store, want, message) in table {
            let core = CoreError::from(store);
            assert_eq!((core.to_string().as_str(), kind(core)), (message, want));
        }
    }
}
