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

/// What a token may do. A token can hold several roles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Hotline intake systems: Triage, SubmitComplaint(s), FindDuplicates.
    Intake,
    /// The 12345 platform: GetCase, UpdateCaseStatus, CorrectCase; sees callers' phone numbers.
    Platform,
    /// Analysts: ListCases, ListHotIssues (phone numbers masked).
    Analyst,
    /// Operators of paidan: the Admin service, SplitReport, MergeCases; sees phone numbers.
    Admin,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Intake => "intake",
            Role::Platform => "platform",
            Role::Analyst => "analyst",
            Role::Admin => "admin",
        }
    }
}

/// Who may call a gRPC method or an Open311 route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// No token needed (health, reflection, Open311 service discovery).
    Open,
    /// A valid token holding this role.
    Role(Role),
    /// A valid token holding any of these roles (Open311 reads: the platform and analysts).
    AnyRole(&'static [Role]),
    /// Not in the table: refused to every token (deny by default). A served method without a rule
    /// fails `every_served_method_has_an_access_rule`, which walks the served descriptor sets.
    Deny,
}

/// Services that need no token, every method.
const OPEN_SERVICES: &[&str] = &[
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
];

/// The access table: every served paidan method, by gRPC path, and the role it needs. The README's
/// role table says the same; `access_table_matches_the_readme` keeps them together.
pub const RULES: &[(&str, Role)] = &[
    ("/paidan.v1.Intake/Triage", Role::Intake),
    ("/paidan.v1.Intake/SubmitComplaint", Role::Intake),
    ("/paidan.v1.Intake/SubmitComplaints", Role::Intake),
    ("/paidan.v1.Intake/FindDuplicates", Role::Intake),
    ("/paidan.v1.Intake/GetCase", Role::Platform),
    ("/paidan.v1.Intake/UpdateCaseStatus", Role::Platform),
    ("/paidan.v1.Intake/CorrectCase", Role::Platform),
    ("/paidan.v1.Intake/ListCases", Role::Analyst),
    ("/paidan.v1.Intake/ListHotIssues", Role::Analyst),
    ("/paidan.v1.Intake/SplitReport", Role::Admin),
    ("/paidan.v1.Intake/MergeCases", Role::Admin),
    ("/paidan.v1.Admin/ReloadModel", Role::Admin),
    ("/paidan.v1.Admin/ListOutbox", Role::Admin),
    ("/paidan.v1.Admin/RetryDeadLetters", Role::Admin),
    ("/paidan.v1.Admin/DropDeadLetters", Role::Admin),
    ("/paidan.v1.Admin/ListAuditEvents", Role::Admin),
];

/// Both roles that read cases: the platform (full phone numbers) and analysts (masked).
const READERS: &[Role] = &[Role::Platform, Role::Analyst];

/// The Open311 GeoReport v2 facade's routes (served with `open311_addr`), as `METHOD /path` in the
/// form clients call them, and who may call them: service discovery is open like health, filing
/// is for intake systems, reading for whoever may read cases over gRPC. The README's role table
/// lists these too. A route the facade serves without an entry here is refused to every token.
pub const HTTP_RULES: &[(&str, Rule)] = &[
    ("GET /open311/v2/services.json", Rule::Open),
    ("GET /open311/v2/services/{service_code}.json", Rule::Open),
    ("POST /open311/v2/requests.json", Rule::Role(Role::Intake)),
    ("GET /open311/v2/requests.json", Rule::AnyRole(READERS)),
    (
        "GET /open311/v2/requests/{service_request_id}.json",
        Rule::AnyRole(READERS),
    ),
];

/// The rule for an Open311 route (`METHOD /path` as in [`HTTP_RULES`]); anything else is denied.
pub fn http_rule_for(route: &str) -> Rule {
    HTTP_RULES
        .iter()
        .find(|(r, _)| *r == route)
        .map_or(Rule::Deny, |&(_, rule)| rule)
}

/// Services in the descriptor sets that paidan does not serve: the platform implements
/// `CaseSink` and paidan calls it.
pub const NOT_SERVED: &[&str] = &["paidan.v1.CaseSink"];

/// The rule for a gRPC path (`/package.Service/Method`): open services, then the table; anything
/// else is denied.
pub fn rule_for(path: &str) -> Rule {
    let service = path
        .trim_start_matches('/')
        .split_once('/')
        .map_or("", |(service, _)| service);
    if OPEN_SERVICES.contains(&service) {
        return Rule::Open;
    }
    RULES
        .iter()
        .find(|(p, _)| *p == path)
        .map_or(Rule::Deny, |&(_, role)| Rule::Role(role))
}

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
mod tests {
    use super::*;

    #[test]
    fn access_table() {
        let table = [
            ("/grpc.health.v1.Health/Check", Rule::Open),
            ("/grpc.health.v1.Health/Watch", Rule::Open),
            (
                "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
                Rule::Open,
            ),
            (
                "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                Rule::Open,
            ),
            ("/paidan.v1.Intake/Triage", Rule::Role(Role::Intake)),
            (
                "/paidan.v1.Intake/SubmitComplaint",
                Rule::Role(Role::Intake),
            ),
            (
                "/paidan.v1.Intake/SubmitComplaints",
                Rule::Role(Role::Intake),
            ),
            ("/paidan.v1.Intake/FindDuplicates", Rule::Role(Role::Intake)),
            ("/paidan.v1.Intake/GetCase", Rule::Role(Role::Platform)),
            (
                "/paidan.v1.Intake/UpdateCaseStatus",
                Rule::Role(Role::Platform),
            ),
            ("/paidan.v1.Intake/CorrectCase", Rule::Role(Role::Platform)),
            ("/paidan.v1.Intake/ListCases", Rule::Role(Role::Analyst)),
            ("/paidan.v1.Intake/ListHotIssues", Rule::Role(Role::Analyst)),
            ("/paidan.v1.Intake/SplitReport", Rule::Role(Role::Admin)),
            ("/paidan.v1.Intake/MergeCases", Rule::Role(Role::Admin)),
            ("/paidan.v1.Admin/ReloadModel", Rule::Role(Role::Admin)),
            ("/paidan.v1.Admin/ListOutbox", Rule::Role(Role::Admin)),
            ("/paidan.v1.Admin/RetryDeadLetters", Rule::Role(Role::Admin)),
            ("/paidan.v1.Admin/DropDeadLetters", Rule::Role(Role::Admin)),
            ("/paidan.v1.Admin/ListAuditEvents", Rule::Role(Role::Admin)),
            ("/paidan.v1.Intake/NoSuchMethod", Rule::Deny),
            ("/paidan.v1.CaseSink/Deliver", Rule::Deny),
            ("/paidan.v1.Admin", Rule::Deny),
            ("/other.Service/Call", Rule::Deny),
            ("/grpc.health.v1.HealthX/Check", Rule::Deny),
            ("garbage", Rule::Deny),
            ("", Rule::Deny),
        ];
        for (path, want) in table {
            assert_eq!(rule_for(path), want, "{path}");
        }
    }

    /// Every `/package.Service/Method` in a descriptor set.
    fn methods(set: &[u8]) -> Vec<String> {
        use prost::Message as _;
        let set = prost_types::FileDescriptorSet::decode(set).expect("a valid descriptor set");
        let mut out = Vec::new();
        for file in &set.file {
            for service in &file.service {
                let full = format!("{}.{}", file.package(), service.name());
                if NOT_SERVED.contains(&full.as_str()) {
                    continue;
                }
                for m in &service.method {
                    out.push(format!("/{full}/{}", m.name()));
                }
            }
        }
        out
    }

    #[test]
    fn every_served_method_has_an_access_rule() {
        let mut sets = crate::server::DESCRIPTOR_SETS.to_vec();
        sets.push(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET);
        sets.push(tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET);
        let served: Vec<String> = sets.into_iter().flat_map(methods).collect();
        assert!(
            served
                .iter()
                .any(|m| m == "/paidan.v1.Intake/SubmitComplaint")
                && served.iter().any(|m| m == "/grpc.health.v1.Health/Check"),
            "the walk must see the served services: {served:?}"
        );
        let missing: Vec<&String> = served
            .iter()
            .filter(|m| rule_for(m) == Rule::Deny)
            .collect();
        assert!(
            missing.is_empty(),
            "served methods without an access rule: {missing:?}"
        );
        // And the table names no method that does not exist (a typo would deny the real one).
        for (path, _) in RULES {
            assert!(
                served.iter().any(|m| m == path),
                "{path} is in RULES but not served"
            );
        }
    }

    /// The README's role table lists, per role, exactly the methods `RULES` gives that role.
    #[test]
    fn access_table_matches_the_readme() {
        let readme = include_str!("../../../README.md");
        for role in [Role::Intake, Role::Platform, Role::Analyst, Role::Admin] {
            let prefix = format!("| `{}` |", role.name());
            let row = readme
                .lines()
                .find(|l| l.starts_with(&prefix))
                .unwrap_or_else(|| panic!("README has no role row for {}", role.name()));
            let cell = row[prefix.len()..].split('|').next().unwrap();
            let mut documented: Vec<String> = cell
                .split(',')
                .map(|m| m.trim().trim_matches('`').to_string())
                .collect();
            let mut coded: Vec<String> = RULES
                .iter()
                .filter(|(_, r)| *r == role)
                .map(|(p, _)| {
                    let (service, method) = p[1..].split_once('/').unwrap();
                    match service {
                        "paidan.v1.Intake" => method.to_string(),
                        s => format!("{}.{method}", s.trim_start_matches("paidan.v1.")),
                    }
                })
                .collect();
            coded.extend(
                HTTP_RULES
                    .iter()
                    .filter(|(_, r)| match r {
                        Rule::Role(r) => *r == role,
                        Rule::AnyRole(rs) => rs.contains(&role),
                        Rule::Open | Rule::Deny => false,
                    })
                    .map(|(route, _)| route.to_string()),
            );
            documented.sort();
            coded.sort();
            assert_eq!(documented, coded, "README row of the {} role", role.name());
        }
        // The open routes are named where the README says what needs no token.
        let open_line = readme
            .lines()
            .find(|l| l.contains("need no token"))
            .expect("README says what needs no token");
        for (route, rule) in HTTP_RULES {
            assert_ne!(*rule, Rule::Deny, "{route} is listed only to be denied");
            if *rule == Rule::Open {
                assert!(
                    open_line.contains(&format!("`{route}`")),
                    "README's \"need no token\" line lacks `{route}`: {open_line}"
                );
            }
        }
    }

    #[test]
    fn http_access_table() {
        let table = [
            ("GET /open311/v2/services.json", Rule::Open),
            ("GET /open311/v2/services/{service_code}.json", Rule::Open),
            ("POST /open311/v2/requests.json", Rule::Role(Role::Intake)),
            ("GET /open311/v2/requests.json", Rule::AnyRole(READERS)),
            (
                "GET /open311/v2/requests/{service_request_id}.json",
                Rule::AnyRole(READERS),
            ),
            ("POST /open311/v2/services.json", Rule::Deny),
            ("DELETE /open311/v2/requests.json", Rule::Deny),
            ("GET /open311/v2/requests.xml", Rule::Deny),
            ("/paidan.v1.Intake/GetCase", Rule::Deny),
            ("", Rule::Deny),
        ];
        for (route, want) in table {
            assert_eq!(http_rule_for(route), want, "{route}");
        }
        // gRPC paths never match an HTTP rule and the other way round.
        for (route, _) in HTTP_RULES {
            assert_eq!(rule_for(route), Rule::Deny, "{route}");
        }
    }

    #[test]
    fn http_admission() {
        let cfg = AccessConfig {
            tokens: vec![
                token("hotline", "tok-intake", &[Role::Intake]),
                token("platform", "tok-platform", &[Role::Platform]),
                token("analysts", "tok-analyst", &[Role::Analyst]),
                token("ops", "tok-admin", &[Role::Admin]),
            ],
            ..AccessConfig::default()
        };
        let access = AccessControl::new(&cfg).unwrap();
        let post = "POST /open311/v2/requests.json";
        let read = "GET /open311/v2/requests.json";
        let services = "GET /open311/v2/services.json";
        type Want = Result<&'static str, &'static str>;
        let table: [(&str, Option<&str>, Want); 11] = [
            (post, None, Err("Unauthenticated")),
            (post, Some("  "), Err("Unauthenticated")),
            (post, Some("wrong"), Err("Unauthenticated")),
            (post, Some("tok-intake"), Ok("hotline")),
            (post, Some(" tok-intake "), Ok("hotline")),
            (post, Some("tok-platform"), Err("PermissionDenied")),
            (read, Some("tok-platform"), Ok("platform")),
            (read, Some("tok-analyst"), Ok("analysts")),
            (read, Some("tok-admin"), Err("PermissionDenied")),
            (services, None, Ok("-")),
            (
                "PUT /open311/v2/requests.json",
                Some("tok-admin"),
                Err("PermissionDenied"),
            ),
        ];
        for (route, key, want) in table {
            let got = access
                .admit_http(route, key)
                .map(|(c, _)| c.0.map(|p| p.name.clone()).unwrap_or_else(|| "-".into()))
                .map_err(|r| match r {
                    Refusal::Unauthenticated(_) => "Unauthenticated",
                    Refusal::PermissionDenied(_) => "PermissionDenied",
                    Refusal::Exhausted { .. } => "Exhausted",
                });
            assert_eq!(got, want.map(str::to_string), "{route} with {key:?}");
        }
        let Err(Refusal::PermissionDenied(m)) = access.admit_http(read, Some("tok-intake")) else {
            panic!("intake may not read");
        };
        assert!(m.contains("platform or analyst"), "{m}");
        // Authentication off: anyone, anonymously (as for gRPC).
        let off = AccessControl::new(&AccessConfig::default()).unwrap();
        let (caller, permit) = off.admit_http(post, None).unwrap();
        assert!(caller.0.is_none() && permit.is_some());
    }

    fn sha(token: &str) -> String {
        hex::encode(Sha256::digest(token.as_bytes()))
    }

    fn token(name: &str, secret: &str, roles: &[Role]) -> TokenConfig {
        TokenConfig {
            name: name.into(),
            sha256: sha(secret),
            roles: roles.to_vec(),
            rate_per_sec: None,
            burst: None,
        }
    }

    #[test]
    fn config_errors() {
        let ok = token("a", "s1", &[Role::Intake]);
        let cases: Vec<(Vec<TokenConfig>, &str)> = vec![
            (
                vec![TokenConfig {
                    sha256: "abc".into(),
                    ..ok.clone()
                }],
                "64 hex digits",
            ),
            (
                vec![TokenConfig {
                    roles: vec![],
                    ..ok.clone()
                }],
                "no roles",
            ),
            (vec![ok.clone(), ok.clone()], "used twice"),
            (
                vec![
                    ok.clone(),
                    TokenConfig {
                        name: "b".into(),
                        ..ok.clone()
                    },
                ],
                "same hash",
            ),
            (
                vec![TokenConfig {
                    name: " ".into(),
                    ..ok.clone()
                }],
                "must not be empty",
            ),
        ];
        for (tokens, want) in cases {
            let cfg = AccessConfig {
                tokens,
                ..AccessConfig::default()
            };
            let err = AccessControl::new(&cfg).err().expect(want).to_string();
            assert!(err.contains(want), "{err:?} should say {want:?}");
        }
    }

    fn headers(auth: Option<&str>) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        if let Some(a) = auth {
            h.insert(http::header::AUTHORIZATION, a.parse().unwrap());
        }
        h
    }

    #[test]
    fn admission() {
        let cfg = AccessConfig {
            tokens: vec![
                token("hotline", "tok-intake", &[Role::Intake]),
                token("platform", "tok-platform", &[Role::Platform, Role::Analyst]),
            ],
            ..AccessConfig::default()
        };
        let access = AccessControl::new(&cfg).unwrap();
        let table: [(&str, Option<&str>, Result<&str, Code>); 12] = [
            ("/paidan.v1.Intake/Triage", None, Err(Code::Unauthenticated)),
            // Deny by default: a method without a rule is refused to every valid token...
            (
                "/paidan.v1.Intake/NoSuchMethod",
                Some("Bearer tok-platform"),
                Err(Code::PermissionDenied),
            ),
            (
                "/paidan.v1.CaseSink/Deliver",
                Some("Bearer tok-intake"),
                Err(Code::PermissionDenied),
            ),
            // ...and still needs a valid token to learn that.
            ("/other.Service/Call", None, Err(Code::Unauthenticated)),
            (
                "/paidan.v1.Intake/Triage",
                Some("Basic dG9rLWludGFrZQ=="),
                Err(Code::Unauthenticated),
            ),
            (
                "/paidan.v1.Intake/Triage",
                Some("Bearer wrong"),
                Err(Code::Unauthenticated),
            ),
            (
                "/paidan.v1.Intake/Triage",
                Some("Bearer tok-intake"),
                Ok("hotline"),
            ),
            (
                "/paidan.v1.Intake/GetCase",
                Some("Bearer tok-intake"),
                Err(Code::PermissionDenied),
            ),
            (
                "/paidan.v1.Intake/GetCase",
                Some("Bearer tok-platform"),
                Ok("platform"),
            ),
            (
                "/paidan.v1.Intake/ListCases",
                Some("bearer tok-platform"),
                Ok("platform"),
            ),
            (
                "/paidan.v1.Admin/ReloadModel",
                Some("Bearer tok-platform"),
                Err(Code::PermissionDenied),
            ),
            ("/grpc.health.v1.Health/Check", None, Ok("-")),
        ];
        for (path, auth, want) in table {
            let got = access
                .admit(path, &headers(auth))
                .map(|(c, _)| c.0.map(|p| p.name.clone()).unwrap_or_else(|| "-".into()))
                .map_err(|s| s.code());
            assert_eq!(got, want.map(str::to_string), "{path} with {auth:?}");
        }
    }

    #[test]
    fn actors_and_personal_data() {
        let p = |roles: &[Role]| {
            Caller(Some(Arc::new(Principal {
                name: "sys".into(),
                roles: roles.to_vec(),
                limiter: None,
            })))
        };
        let table = [
            (p(&[Role::Platform]), "张三", "sys:张三", true),
            (p(&[Role::Admin]), " ", "sys", true),
            (p(&[Role::Analyst]), "", "sys", false),
            (p(&[Role::Intake]), "op1", "sys:op1", false),
            (Caller(None), "op1", "op1", false),
            (Caller(None), "", "anonymous", false),
        ];
        for (caller, operator, actor, sees) in table {
            assert_eq!(caller.actor(operator), actor);
            assert_eq!(caller.sees_personal_data(), sees, "{caller:?}");
        }
    }

    #[test]
    fn rate_limit_and_concurrency_answer_resource_exhausted() {
        let cfg = AccessConfig {
            max_concurrent_requests: 2,
            tokens: vec![TokenConfig {
                rate_per_sec: Some(1),
                burst: Some(3),
                ..token("hotline", "t", &[Role::Intake])
            }],
            ..AccessConfig::default()
        };
        let access = AccessControl::new(&cfg).unwrap();
        let h = headers(Some("Bearer t"));
        let first = access.admit("/paidan.v1.Intake/Triage", &h).unwrap();
        let second = access.admit("/paidan.v1.Intake/Triage", &h).unwrap();
        // Two in flight: the third (within the burst) is refused for concurrency.
        let busy = access.admit("/paidan.v1.Intake/Triage", &h).unwrap_err();
        assert_eq!(busy.code(), Code::ResourceExhausted);
        assert!(busy.message().contains("in flight"), "{}", busy.message());
        drop((first, second));
        // The burst of 3 is spent (the refused call counted): the rate limit answers.
        let limited = access.admit("/paidan.v1.Intake/Triage", &h).unwrap_err();
        assert_eq!(limited.code(), Code::ResourceExhausted);
        assert!(
            limited.message().contains("rate limit"),
            "{}",
            limited.message()
        );
        let retry = limited
            .get_details_retry_info()
            .expect("a RetryInfo detail");
        assert!(retry.retry_delay.is_some_and(|d| d > Duration::ZERO));
        // Health is never limited.
        assert!(access.admit("/grpc.health.v1.Health/Check", &h).is_ok());
    }
}
