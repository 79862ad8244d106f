//! The one mapping to Open311 errors: the spec's `[{"code", "description"}]` body with the
//! matching HTTP status (`code` is that status). Domain errors (`CoreError`), access refusals and
//! the extractors' rejections all become an [`Open311Error`] here, as `grpc/status.rs` does for
//! gRPC.

use std::time::Duration;

use axum::Json;
use axum::extract::rejection::{FormRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use paidan_core::CoreError;
use serde::Serialize;

use crate::access::Refusal;

/// An error as an Open311 client sees it.
#[derive(Debug)]
pub struct Open311Error {
    pub status: StatusCode,
    pub description: String,
    /// Sent as `Retry-After` (whole seconds, rounded up) with 429.
    pub retry_after: Option<Duration>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: u16,
    description: &'a str,
}

impl Open311Error {
    pub fn new(status: StatusCode, description: impl Into<String>) -> Open311Error {
        Open311Error {
            status,
            description: description.into(),
            retry_after: None,
        }
    }

    pub fn bad_request(description: impl Into<String>) -> Open311Error {
        Open311Error::new(StatusCode::BAD_REQUEST, description)
    }

    pub fn not_found(description: impl Into<String>) -> Open311Error {
        Open311Error::new(StatusCode::NOT_FOUND, description)
    }

    /// No model is loaded yet (it carries the taxonomy the services come from).
    pub fn no_model() -> Open311Error {
        Open311Error::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no model is loaded yet: the services come with it; retry shortly",
        )
    }
}

impl From<CoreError> for Open311Error {
    fn from(e: CoreError) -> Open311Error {
        let status = match &e {
            CoreError::Invalid(_) => StatusCode::BAD_REQUEST,
            CoreError::NotFound(_) => StatusCode::NOT_FOUND,
            CoreError::AlreadyExists(_) | CoreError::FailedPrecondition(_) => StatusCode::CONFLICT,
            CoreError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            CoreError::Model(_) | CoreError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %e, "open311 request failed");
        }
        Open311Error::new(status, e.to_string())
    }
}

impl From<Refusal> for Open311Error {
    fn from(r: Refusal) -> Open311Error {
        match r {
            Refusal::Unauthenticated(m) => Open311Error::new(StatusCode::UNAUTHORIZED, m),
            Refusal::PermissionDenied(m) => Open311Error::new(StatusCode::FORBIDDEN, m),
            Refusal::Exhausted {
                message,
                retry_after,
            } => Open311Error {
                retry_after: Some(retry_after),
                ..Open311Error::new(StatusCode::TOO_MANY_REQUESTS, message)
            },
        }
    }
}

/// A body that is not a form (415), one that does not decode (400), one over the size limit (413).
impl From<FormRejection> for Open311Error {
    fn from(r: FormRejection) -> Open311Error {
        Open311Error::new(r.status(), r.body_text())
    }
}

impl From<QueryRejection> for Open311Error {
    fn from(r: QueryRejection) -> Open311Error {
        Open311Error::new(r.status(), r.body_text())
    }
}

impl From<PathRejection> for Open311Error {
    fn from(r: PathRejection) -> Open311Error {
        Open311Error::new(r.status(), r.body_text())
    }
}

impl IntoResponse for Open311Error {
    fn into_response(self) -> Response {
        let body = [ErrorBody {
            code: self.status.as_u16(),
            description: &self.description,
        }];
        let mut response = (self.status, Json(body)).into_response();
        if let Some(wait) = self.retry_after {
            let secs = wait.as_millis().div_ceil(1000).max(1);
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_str(&secs.to_string()).expect("digits are a header value"),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_domain_error_has_its_status() {
        let table = [
            (CoreError::Invalid("x".into()), 400),
            (CoreError::NotFound("x".into()), 404),
            (CoreError::AlreadyExists("x".into()), 409),
            (CoreError::FailedPrecondition("x".into()), 409),
            (CoreError::Unavailable("x".into()), 503),
            (CoreError::Model("x".into()), 500),
            (CoreError::Storage("x".into()), 500),
        ];
        for (e, want) in table {
            let what = format!("{e:?}");
            assert_eq!(Open311Error::from(e).status.as_u16(), want, "{what}");
        }
    }

    #[test]
    fn refusals_answer_401_403_429_with_retry_after() {
        let table = [
            (Refusal::Unauthenticated("a".into()), 401, None),
            (Refusal::PermissionDenied("b".into()), 403, None),
            (
                Refusal::Exhausted {
                    message: "c".into(),
                    retry_after: Duration::from_millis(1500),
                },
                429,
                Some("2"),
            ),
        ];
        for (r, status, retry_after) in table {
            let response = Open311Error::from(r).into_response();
            assert_eq!(response.status().as_u16(), status);
            assert_eq!(
                response
                    .headers()
                    .get(header::RETRY_AFTER)
                    .map(|v| v.to_str().unwrap()),
                retry_after
            );
        }
    }
}
