//! `x-request-id`: every request carries one through its log lines and back to the caller.
//!
//! The caller's id is kept when it looks like an id (1–128 characters of `A–Z a–z 0–9 - _ . :`),
//! so a hotline system can follow its own id through paidan's logs; otherwise (absent, or
//! something else) paidan makes one (a UUIDv7, time-ordered). The id goes into the request's
//! headers for the layers inside, into a `request` span that every log line of the request
//! carries, and into the response headers (gRPC: the response metadata, also on errors).

use std::task::{Context, Poll};

use futures::future::BoxFuture;
use http::HeaderValue;
use tower::{Layer, Service};
use tracing::Instrument;

pub const HEADER: &str = "x-request-id";

#[derive(Clone, Copy, Debug, Default)]
pub struct RequestIdLayer;

impl<S> Layer<S> for RequestIdLayer {
    type Service = RequestId<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RequestId { inner }
    }
}

#[derive(Clone)]
pub struct RequestId<S> {
    inner: S,
}

/// The caller's id when it is one, else a new one.
pub fn request_id(given: Option<&HeaderValue>) -> HeaderValue {
    given
        .filter(|v| {
            let b = v.as_bytes();
            !b.is_empty()
                && b.len() <= 128
                && b.iter()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b':'))
        })
        .cloned()
        .unwrap_or_else(|| {
            HeaderValue::from_str(&uuid::Uuid::now_v7().to_string()).expect("a UUID is ASCII")
        })
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for RequestId<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<ReqBody>) -> Self::Future {
        let id = request_id(req.headers().get(HEADER));
        req.headers_mut().insert(HEADER, id.clone());
        let span = tracing::info_span!(
            "request",
            request_id = id.to_str().unwrap_or("-"),
            path = req.uri().path()
        );
        // The ready service answers this call; a fresh clone waits for the next one.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(
            async move {
                let mut response = inner.call(req).await?;
                response.headers_mut().insert(HEADER, id);
                Ok(response)
            }
            .instrument(span),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_callers_id_is_kept_when_it_is_one() {
        // (given, kept)
        let table: &[(Option<&str>, bool)] = &[
            (Some("hotline-a:2026-12-05:000123"), true),
            (Some("abc.DEF_9"), true),
            (Some(""), false),
            (Some("has space"), false),
            (Some("新"), false),
            (Some(&"x".repeat(129)), false),
            (None, false),
        ];
        for (given, kept) in table {
            let v = given.map(|g| HeaderValue::from_bytes(g.as_bytes()).unwrap());
            let got = request_id(v.as_ref());
            if *kept {
                assert_eq!(got.to_str().unwrap(), given.unwrap());
            } else {
                let s = got.to_str().unwrap();
                assert!(uuid::Uuid::parse_str(s).is_ok(), "{given:?} → {s}");
            }
        }
    }
}
