//! Per-RPC request counts and latencies, from one tower layer in front of every gRPC service:
//! `paidan_rpc_requests_total{rpc, code}` and `paidan_rpc_duration_seconds{rpc}`; [`http`] does the
//! same for the Open311 routes.
//!
//! It sits outside access control, so refused calls (UNAUTHENTICATED, PERMISSION_DENIED,
//! RESOURCE_EXHAUSTED) are counted with their code. The code is the `grpc-status` of the
//! response headers, where tonic puts it for every unary call that fails (a trailers-only
//! response); a response without it is a unary success, `OK`. `rpc` is the method path without
//! its leading slash, and only for methods in the access table or the open services (anything
//! else is counted as `unknown`, so a client sending made-up paths cannot grow the label set).

use std::task::{Context, Poll};
use std::time::Instant;

use futures::future::BoxFuture;
use tower::{Layer, Service};

use crate::access::{Rule, rule_for};

/// Requests by RPC and gRPC status code.
pub const RPC_REQUESTS: &str = "paidan_rpc_requests_total";
/// Time from a request's arrival to its response headers, by RPC.
pub const RPC_SECONDS: &str = "paidan_rpc_duration_seconds";

#[derive(Clone, Copy, Debug, Default)]
pub struct RpcMetricsLayer;

impl<S> Layer<S> for RpcMetricsLayer {
    type Service = RpcMetrics<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RpcMetrics { inner }
    }
}

#[derive(Clone)]
pub struct RpcMetrics<S> {
    inner: S,
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for RpcMetrics<S>
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

    fn call(&mut self, req: http::Request<ReqBody>) -> Self::Future {
        let rpc = rpc_label(req.uri().path());
        let started = Instant::now();
        // The ready service answers this call; a fresh clone waits for the next one.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let response = inner.call(req).await;
            let code = match &response {
                Ok(r) => code_label(r.headers()),
                Err(_) => "UNKNOWN".to_string(),
            };
            record(rpc, code, started);
            response
        })
    }
}

fn record(rpc: String, code: String, started: Instant) {
    metrics::histogram!(RPC_SECONDS, "rpc" => rpc.clone()).record(started.elapsed().as_secs_f64());
    metrics::counter!(RPC_REQUESTS, "rpc" => rpc, "code" => code).increment(1);
}

/// The same two metrics for the Open311 facade, as an axum middleware on its routes (outside its
/// access guard): `rpc` is `METHOD /route` as routed (`GET /open311/v2/requests/{id}.json`), `code`
/// the HTTP status. Paths no route matches (404 by the fallback) are not counted, so made-up
/// paths cannot grow the label set.
pub async fn http(
    matched: axum::extract::MatchedPath,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let rpc = format!("{} {}", req.method(), matched.as_str());
    let started = Instant::now();
    let response = next.run(req).await;
    record(rpc, response.status().as_u16().to_string(), started);
    response
}

fn rpc_label(path: &str) -> String {
    match rule_for(path) {
        Rule::Deny => "unknown".to_string(),
        _ => path.trim_start_matches('/').to_string(),
    }
}

/// The canonical name of the response's gRPC code (`OK`, `INVALID_ARGUMENT`, …).
fn code_label(headers: &http::HeaderMap) -> String {
    let code = match headers.get("grpc-status") {
        None => tonic::Code::Ok,
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|v| v.parse::<i32>().ok())
            .map_or(tonic::Code::Unknown, tonic::Code::from),
    };
    // `InvalidArgument` → `INVALID_ARGUMENT`
    let mut name = String::new();
    for (i, c) in format!("{code:?}").chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            name.push('_');
        }
        name.push(c.to_ascii_uppercase());
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        let rpcs = [
            ("/paidan.v1.Intake/Triage", "paidan.v1.Intake/Triage"),
            (
                "/grpc.health.v1.Health/Check",
                "grpc.health.v1.Health/Check",
            ),
            ("/paidan.v1.Intake/NoSuchMethod", "unknown"),
            ("/anything/else", "unknown"),
        ];
        for (path, want) in rpcs {
            assert_eq!(rpc_label(path), want, "{path}");
        }
        let codes = [
            (None, "OK"),
            (Some("0"), "OK"),
            (Some("3"), "INVALID_ARGUMENT"),
            (Some("16"), "UNAUTHENTICATED"),
            (Some("8"), "RESOURCE_EXHAUSTED"),
            (Some("x"), "UNKNOWN"),
        ];
        for (status, want) in codes {
            let mut h = http::HeaderMap::new();
            if let Some(s) = status {
                h.insert("grpc-status", s.parse().unwrap());
            }
            assert_eq!(code_label(&h), want, "{status:?}");
        }
    }
}
