//! The Open311 GeoReport v2 facade (`open311_addr`): JSON over HTTP under `/open311/v2/`, for
//! civic apps and city systems that do not speak gRPC. Thin, as the gRPC handlers are: the guard
//! here admits each request through the same [`AccessControl`] (the `api_key` is the token;
//! routes and roles in `access::HTTP_RULES`, deny by default), the handlers check what is
//! Open311's own, convert, and call the same `Intake` operations (`services.rs`, `requests.rs`),
//! and `error.rs` is the one mapping to Open311 errors.

pub mod error;
pub mod requests;
pub mod retry;
pub mod services;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use paidan_core::Intake;
use serde::Deserialize;
use tokio::net::TcpListener;
use tracing::Instrument;

use crate::access::{AccessControl, bearer};
use error::Open311Error;
use retry::{RETRY_WINDOW, RecentPosts};

/// The routes, as clients call them (`{…}.json`: a path segment ending in `.json`).
pub const SERVICES: &str = "/open311/v2/services.json";
pub const SERVICE: &str = "/open311/v2/services/{service_code}.json";
pub const REQUESTS: &str = "/open311/v2/requests.json";
pub const REQUEST: &str = "/open311/v2/requests/{service_request_id}.json";

/// Every route served, by method; each has its rule in `access::HTTP_RULES`
/// (`every_route_has_an_access_rule`).
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", SERVICES),
    ("GET", SERVICE),
    ("POST", REQUESTS),
    ("GET", REQUESTS),
    ("GET", REQUEST),
];

/// The router's form of a route: axum's matcher has no parameter with a suffix, so
/// `{id}.json` is routed as `{id}` and the handler checks the suffix ([`strip_json`]).
fn routed(route: &str) -> String {
    route.replace("}.json", "}")
}

/// A `{…}.json` segment without its `.json`; any other ending is not served (404).
pub fn strip_json(segment: &str) -> Result<&str, Open311Error> {
    segment.strip_suffix(".json").ok_or_else(|| {
        Open311Error::not_found(format!(
            "{segment:?} is not served: only JSON is, as {}.json",
            segment.rsplit_once('.').map_or(segment, |(stem, _)| stem)
        ))
    })
}

/// What the handlers share.
pub struct Open311 {
    intake: Arc<Intake>,
    access: Arc<AccessControl>,
    recent: RecentPosts,
    request_timeout: Duration,
    max_body_bytes: usize,
}

impl Open311 {
    /// `request_timeout` and `max_body_bytes` as for gRPC (`request_timeout_secs`,
    /// `max_message_bytes`).
    pub fn new(
        intake: Arc<Intake>,
        access: Arc<AccessControl>,
        request_timeout: Duration,
        max_body_bytes: usize,
    ) -> Open311 {
        Open311 {
            intake,
            access,
            recent: RecentPosts::new(RETRY_WINDOW),
            request_timeout,
            max_body_bytes,
        }
    }
}

/// The facade's routes behind the access guard; anything else answers an Open311 404 or 405.
pub fn router(state: Arc<Open311>) -> Router {
    Router::new()
        .route(SERVICES, get(services::list))
        .route(&routed(SERVICE), get(services::definition))
        .route(
            REQUESTS,
            get(requests::list_requests).post(requests::create),
        )
        .route(&routed(REQUEST), get(requests::one))
        .route_layer(middleware::from_fn_with_state(state.clone(), guard))
        .route_layer(middleware::from_fn(crate::telemetry::layer::http))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.max_body_bytes))
        .layer(crate::telemetry::RequestIdLayer)
        .with_state(state)
}

/// Serve until `shutdown` resolves, then finish the requests in flight.
pub async fn serve(
    listener: TcpListener,
    state: Arc<Open311>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn not_found(uri: Uri) -> Open311Error {
    Open311Error::not_found(format!(
        "{} is not served: the Open311 GeoReport v2 API is {SERVICES}, {SERVICE}, {REQUESTS} and {REQUEST}",
        uri.path()
    ))
}

async fn method_not_allowed(method: Method, uri: Uri) -> Open311Error {
    Open311Error::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} {} is not served", uri.path()),
    )
}

/// The route of a request, as in `access::HTTP_RULES` (HEAD as GET).
fn route_key(method: &Method, matched: &str) -> String {
    let method = if method == Method::HEAD {
        &Method::GET
    } else {
        method
    };
    let path = ROUTES
        .iter()
        .map(|(_, r)| *r)
        .find(|r| routed(r) == matched)
        .unwrap_or(matched);
    format!("{method} {path}")
}

#[derive(Deserialize)]
struct Key {
    api_key: Option<String>,
}

/// The token: `api_key` of a form body, else of the query, else an `authorization: Bearer`
/// header.
fn api_key(parts: &Parts, body: &Bytes) -> Result<Option<String>, Open311Error> {
    let undecodable = |e: serde_urlencoded::de::Error| {
        Open311Error::bad_request(format!("the parameters do not decode: {e}"))
    };
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    let from_body = if is_form {
        serde_urlencoded::from_bytes::<Key>(body)
            .map_err(undecodable)?
            .api_key
    } else {
        None
    };
    let from_query = match parts.uri.query() {
        Some(q) => {
            serde_urlencoded::from_str::<Key>(q)
                .map_err(undecodable)?
                .api_key
        }
        None => None,
    };
    Ok(from_body
        .filter(|k| !k.trim().is_empty())
        .or(from_query.filter(|k| !k.trim().is_empty()))
        .or_else(|| bearer(&parts.headers).ok().map(str::to_owned)))
}

/// Admission of every routed request, before its handler: who calls (the [`crate::access::Caller`]
/// goes into the request's extensions), whether they may, a slot among the requests in flight
/// (shared with gRPC) and the request timeout.
async fn guard(
    State(s): State<Arc<Open311>>,
    matched: MatchedPath,
    req: Request,
    next: Next,
) -> Response {
    let route = route_key(req.method(), matched.as_str());
    let (parts, body) = req.into_parts();
    // The form is read here once for its api_key; the handler reads it from these bytes.
    let Ok(bytes) = axum::body::to_bytes(body, s.max_body_bytes).await else {
        return Open311Error::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the body could not be read within the limit of {} bytes",
                s.max_body_bytes
            ),
        )
        .into_response();
    };
    let admitted =
        api_key(&parts, &bytes).and_then(|key| Ok(s.access.admit_http(&route, key.as_deref())?));
    let (caller, permit) = match admitted {
        Ok(a) => a,
        Err(e) => {
            tracing::info!(%route, status = e.status.as_u16(), description = %e.description, "open311 refused");
            return e.into_response();
        }
    };
    let span = tracing::info_span!(
        "open311",
        %route,
        caller = caller.0.as_ref().map(|p| p.name.as_str()).unwrap_or("-")
    );
    let mut req = Request::from_parts(parts, Body::from(bytes));
    req.extensions_mut().insert(caller);
    let response = match tokio::time::timeout(s.request_timeout, next.run(req))
        .instrument(span)
        .await
    {
        Ok(response) => response,
        Err(_) => Open311Error::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "timed out after {} s; a POST may still have been filed: repeat it unchanged within {} minutes to get its service_request_id",
                s.request_timeout.as_secs(),
                RETRY_WINDOW.as_secs() / 60
            ),
        )
        .into_response(),
    };
    drop(permit);
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::{HTTP_RULES, Rule, http_rule_for};

    #[test]
    fn every_route_has_an_access_rule() {
        for (method, route) in ROUTES {
            let key = format!("{method} {route}");
            assert_ne!(http_rule_for(&key), Rule::Deny, "{key} has no rule");
            assert_eq!(route_key(&method.parse().unwrap(), &routed(route)), key);
        }
        for (key, _) in HTTP_RULES {
            assert!(
                ROUTES.iter().any(|(m, r)| format!("{m} {r}") == *key),
                "{key} is in HTTP_RULES but not routed"
            );
        }
        assert_eq!(
            route_key(&Method::HEAD, "/open311/v2/requests/{service_request_id}"),
            "GET /open311/v2/requests/{service_request_id}.json"
        );
    }

    #[test]
    fn only_json_is_served() {
        assert_eq!(strip_json("PD1.json").unwrap(), "PD1");
        let e = strip_json("PD1.xml").unwrap_err();
        assert_eq!(e.status, StatusCode::NOT_FOUND);
        assert!(e.description.contains("as PD1.json"), "{}", e.description);
    }
}
