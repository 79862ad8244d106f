//! The one mapping from domain errors to gRPC statuses.

use paidan_core::CoreError;
use tonic::{Code, Status};

/// Wraps a domain error on its way out of a handler (`?` converts it into a `Status`).
#[derive(Debug)]
pub struct ApiError(pub CoreError);

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        ApiError(e)
    }
}

impl From<ApiError> for Status {
    fn from(ApiError(e): ApiError) -> Status {
        let code = match &e {
            CoreError::Invalid(_) => Code::InvalidArgument,
            CoreError::NotFound(_) => Code::NotFound,
            CoreError::AlreadyExists(_) => Code::AlreadyExists,
            CoreError::FailedPrecondition(_) => Code::FailedPrecondition,
            CoreError::Unavailable(_) => Code::Unavailable,
            CoreError::Model(_) | CoreError::Storage(_) => Code::Internal,
        };
        if code == Code::Internal {
            tracing::error!(error = %e, "request failed");
        }
        Status::new(code, e.to_string())
    }
}

pub fn invalid(msg: impl Into<String>) -> Status {
    Status::invalid_argument(msg.into())
}
