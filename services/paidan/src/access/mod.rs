//! Access control for the gRPC server, in one tower layer in front of every service, and for the
//! Open311 facade (`crate::open311`, its routes in [`HTTP_RULES`]): bearer-token authentication
//! (tokens configured by their SHA-256; Open311 clients send the token as `api_key`), roles per
//! RPC or route, a rate limit per token and a global limit on requests in flight, shared by both.
//!
//! Health, reflection and Open311 service discovery stay open. With no tokens configured
//! authentication is off (a local development server); the concurrency limit applies either way.
//! Handlers learn who is calling from the [`Caller`] put into the request's extensions.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};
use tower::{Layer, Service};

mod table;
pub use table::*;

/// `[access]` in the config file.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccessConfig {
    /// Requests handled at once across all clients; more are refused with RESOURCE_EXHAUSTED.
    pub max_concurrent_requests: usize,
    /// Requests per second allowed to each token unless the token sets its own (0 = unlimited).
    pub rate_per_sec: u32,
    /// Burst above the rate (default: one second's worth).
    pub burst: Option<u32>,
    pub tokens: Vec<TokenConfig>,
}

impl Default for AccessConfig {
    fn default() -> Self {
        AccessConfig {
            max_concurrent_requests: 1024,
            rate_per_sec: 0,
            burst: None,
            tokens: Vec::new(),
        }
    }
}

/// One client system's token. Only the SHA-256 of the token is configured, never the token.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Recorded as the actor of every change this token makes.
    pub name: String,
    /// Lowercase hex SHA-256 of the token (`printf %s "$TOKEN" | sha256sum`).
    pub sha256: String,
    pub roles: Vec<Role>,
    /// Overrides `[access].rate_per_sec` for this token (0 = unlimited).
    pub rate_per_sec: Option<u32>,
    pub burst: Option<u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum AccessConfigError {
    #[error("token {name:?}: sha256 must be 64 hex digits (the SHA-256 of the token), got {got:?}")]
    BadHash { name: String, got: String },
    #[error("token {0:?} has no roles")]
    NoRoles(String),
    #[error("token name {0:?} is used twice")]
    DuplicateName(String),
    #[error("tokens {0:?} and {1:?} have the same hash")]
    DuplicateHash(String, String),
    #[error("token name must not be empty")]
    EmptyName,
    #[error("max_concurrent_requests must be at least 1")]
    NoConcurrency,
}

/// An authenticated client, as handlers see it (request extensions).
#[derive(Debug)]
pub struct Principal {
    pub name: String,
    pub roles: Vec<Role>,
    limiter: Option<DefaultDirectRateLimiter>,
}

impl Principal {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

/// Put into every request's extensions by the access layer.
#[derive(Clone, Debug)]
pub struct Caller(pub Option<Arc<Principal>>);

impl Caller {
    /// The caller of a request (anonymous when authentication is off).
    pub fn of<T>(req: &tonic::Request<T>) -> Caller {
        req.extensions()
            .get::<Caller>()
            .cloned()
            .unwrap_or(Caller(None))
    }

    /// Whether responses may carry callers' phone numbers unmasked: the platform (the system of
    /// record for callers) and admins. Without authentication nobody may.
    pub fn sees_personal_data(&self) -> bool {
        self.0
            .as_ref()
            .is_some_and(|p| p.has(Role::Platform) || p.has(Role::Admin))
    }

    /// The actor recorded in a case's history: the token's name, with the person the client
    /// system names (`operator`) after a colon. Without authentication, the operator as given.
    pub fn actor(&self, operator: &str) -> String {
        let operator = operator.trim();
        match (&self.0, operator.is_empty()) {
            (Some(p), true) => p.name.clone(),
            (Some(p), false) => format!("{}:{operator}", p.name),
            (None, true) => "anonymous".to_string(),
            (None, false) => operator.to_string(),
        }
    }
}

/// The resolved access policy, shared by every connection.
pub struct AccessControl {
    by_hash: HashMap<[u8; 32], Arc<Principal>>,
    in_flight: Arc<Semaphore>,
    max_in_flight: usize,
}

fn quota(rate: u32, burst: Option<u32>) -> Option<Quota> {
    let rate = NonZeroU32::new(rate)?;
    let burst = burst.and_then(NonZeroU32::new).unwrap_or(rate);
    Some(Quota::per_second(rate).allow_burst(burst))
}

impl AccessControl {
    pub fn new(cfg: &AccessConfig) -> Result<AccessControl, AccessConfigError> {
        if cfg.max_concurrent_requests == 0 {
            return Err(AccessConfigError::NoConcurrency);
        }
        let mut by_hash = HashMap::new();
        let mut names: HashMap<&str, ()> = HashMap::new();
        for t in &cfg.tokens {
            if t.name.trim().is_empty() {
                return Err(AccessConfigError::EmptyName);
            }
            if names.insert(&t.name, ()).is_some() {
                return Err(AccessConfigError::DuplicateName(t.name.clone()));
            }
            if t.roles.is_empty() {
                return Err(AccessConfigError::NoRoles(t.name.clone()));
            }
            let hash: [u8; 32] = hex::decode(t.sha256.trim())
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| AccessConfigError::BadHash {
                    name: t.name.clone(),
                    got: t.sha256.clone(),
                })?;
            let limiter = quota(
                t.rate_per_sec.unwrap_or(cfg.rate_per_sec),
                t.burst.or(cfg.burst),
            )
            .map(RateLimiter::direct);
            let principal = Arc::new(Principal {
                name: t.name.clone(),
                roles: t.roles.clone(),
                limiter,
            });
            if let Some(other) = by_hash.insert(hash, principal) {
                return Err(AccessConfigError::DuplicateHash(
                    other.name.clone(),
                    t.name.clone(),
                ));
            }
        }
        Ok(AccessControl {
            by_hash,
            in_flight: Arc::new(Semaphore::new(cfg.max_concurrent_requests)),
            max_in_flight: cfg.max_concurrent_requests,
        })
    }

    /// Whether tokens are required.
    pub fn authenticates(&self) -> bool {
        !self.by_hash.is_empty()
    }

    /// The principal of a token (the bearer token of gRPC, the `api_key` of Open311).
    fn authenticate(&self, token: &str) -> Result<Arc<Principal>, Refusal> {
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        self.by_hash
            .get(&hash)
            .cloned()
            .ok_or_else(|| Refusal::Unauthenticated("unknown or revoked token".into()))
    }

    /// Decide on one gRPC request: who is calling, whether they may, and a slot among the
    /// requests in flight (held until the response is ready).
    pub fn admit(
        &self,
        path: &str,
        headers: &http::HeaderMap,
    ) -> Result<(Caller, Option<OwnedSemaphorePermit>), Status> {
        self.decide(rule_for(path), path, || bearer(headers))
            .map_err(|refusal| match refusal {
                Refusal::PermissionDenied(m) if rule_for(path) == Rule::Deny => {
                    Status::permission_denied(format!(
                        "{m} (is it a method of paidan.v1.Intake or paidan.v1.Admin?)"
                    ))
                }
                r => r.into(),
            })
    }

    /// Decide on one Open311 request (`route` as in [`HTTP_RULES`]), the token being its
    /// `api_key` (or an `authorization: Bearer` header); the same rules, rate and in-flight
    /// limits as gRPC.
    pub fn admit_http(
        &self,
        route: &str,
        api_key: Option<&str>,
    ) -> Result<(Caller, Option<OwnedSemaphorePermit>), Refusal> {
        self.decide(http_rule_for(route), route, || {
            api_key
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .ok_or_else(|| {
                    Refusal::Unauthenticated(
                        "missing api_key: send the token as the api_key parameter".into(),
                    )
                })
        })
    }

    /// The one admission decision: open rules pass; otherwise, with authentication on, the
    /// token (`token` is asked only then) must be known, hold a role the rule names and be under
    /// its rate; then a slot among the requests in flight.
    fn decide<'a>(
        &self,
        rule: Rule,
        what: &str,
        token: impl FnOnce() -> Result<&'a str, Refusal>,
    ) -> Result<(Caller, Option<OwnedSemaphorePermit>), Refusal> {
        if rule == Rule::Open {
            return Ok((Caller(None), None));
        }
        let caller = if self.authenticates() {
            let principal = self.authenticate(token()?)?;
            let needed: &[Role] = match &rule {
                Rule::Role(role) => std::slice::from_ref(role),
                Rule::AnyRole(roles) => roles,
                Rule::Open => &[],
                Rule::Deny => {
                    return Err(Refusal::PermissionDenied(format!(
                        "{what} has no access rule, so no token may call it"
                    )));
                }
            };
            if !needed.is_empty() && !needed.iter().any(|&r| principal.has(r)) {
                let names: Vec<&str> = needed.iter().map(|r| r.name()).collect();
                return Err(Refusal::PermissionDenied(format!(
                    "token {:?} may not call {what}: it needs the {} role",
                    principal.name,
                    names.join(" or ")
                )));
            }
            if let Some(limiter) = &principal.limiter
                && let Err(not_until) = limiter.check()
            {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                return Err(Refusal::Exhausted {
                    message: format!(
                        "rate limit of token {:?} exceeded; retry in {} ms",
                        principal.name,
                        wait.as_millis().max(1)
                    ),
                    retry_after: wait,
                });
            }
            Caller(Some(principal))
        } else {
            Caller(None)
        };
        let permit =
            self.in_flight
                .clone()
                .try_acquire_owned()
                .map_err(|_| Refusal::Exhausted {
                    message: format!(
                        "server busy: {} requests in flight; retry shortly",
                        self.max_in_flight
                    ),
                    retry_after: Duration::from_millis(50),
                })?;
        Ok((caller, Some(permit)))
    }
}

/// The bearer token of a request's `authorization` header.
pub(crate) fn bearer(headers: &http::HeaderMap) -> Result<&str, Refusal> {
    let Some(value) = headers.get(http::header::AUTHORIZATION) else {
        return Err(Refusal::Unauthenticated(
            "missing credentials: send `authorization: Bearer <token>`".into(),
        ));
    };
    value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            Refusal::Unauthenticated(
                "malformed authorization header: expected `Bearer <token>`".into(),
            )
        })
}

/// Why a request was refused. gRPC answers it as a status (below), the Open311 facade as an HTTP
/// error (`open311::error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No token, a malformed one, or one that is not configured.
    Unauthenticated(String),
    /// A valid token without the role needed, or a method or route without an access rule.
    PermissionDenied(String),
    /// Over the token's rate, or the server has `max_concurrent_requests` in flight.
    Exhausted {
        message: String,
        retry_after: Duration,
    },
}

impl From<Refusal> for Status {
    /// RESOURCE_EXHAUSTED carries a `google.rpc.RetryInfo` detail, which gRPC clients read as the
    /// hint.
    fn from(r: Refusal) -> Status {
        match r {
            Refusal::Unauthenticated(m) => Status::unauthenticated(m),
            Refusal::PermissionDenied(m) => Status::permission_denied(m),
            Refusal::Exhausted {
                message,
                retry_after,
            } => Status::with_error_details(
                Code::ResourceExhausted,
                message,
                ErrorDetails::with_retry_info(Some(retry_after.max(Duration::from_millis(1)))),
            ),
        }
    }
}

/// The tower layer that applies an [`AccessControl`] to every request.
#[derive(Clone)]
pub struct AccessLayer(pub Arc<AccessControl>);

impl<S> Layer<S> for AccessLayer {
    type Service = AccessService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        AccessService {
            inner,
            access: self.0.clone(),
        }
    }
}

#[derive(Clone)]
pub struct AccessService<S> {
    inner: S,
    access: Arc<AccessControl>,
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for AccessService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<ReqBody>) -> Self::Future {
        let path = req.uri().path().to_string();
        match self.access.admit(&path, req.headers()) {
            Err(status) => {
                let who = if status.code() == Code::Unauthenticated {
                    "unauthenticated"
                } else {
                    "refused"
                };
                tracing::info!(rpc = %path, code = ?status.code(), message = status.message(), "{who}");
                Box::pin(futures::future::ready(Ok(status.into_http())))
            }
            Ok((caller, permit)) => {
                let span = tracing::info_span!(
                    "rpc",
                    rpc = %path,
                    caller = caller.0.as_ref().map(|p| p.name.as_str()).unwrap_or("-")
                );
                req.extensions_mut().insert(caller);
                // The ready service answers this call; a fresh clone waits for the next one.
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                Box::pin(tracing::Instrument::instrument(
                    async move {
                        let response = inner.call(req).await;
                        drop(permit);
                        response
                    },
                    span,
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests;
