//! The access table: which role each gRPC method and each Open311 route needs, and the rule
//! lookup. Deny by default: a method or route without an entry is refused to every token.

use serde::Deserialize;

/// What a token may do. A token can hold several roles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Hotline intake systems: Triage, SubmitComplaint(s), FindDuplicates.
    Intake,
    /// The 12345 platform: GetCase, UpdateCaseStatus, CorrectCase, ReturnCase, RecordFollowUp,
    /// ExtendDeadline, GetDepartmentStats; sees callers' phone numbers.
    Platform,
    /// Analysts: ListCases, ListHotIssues (phone numbers masked).
    Analyst,
    /// Operators of paidan: the Admin service, SplitReport, MergeCases, GetDepartmentStats; sees
    /// phone numbers.
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

/// The access table: every served paidan method, by gRPC path, and the role it needs (a method
/// several roles may call is listed once per role). The README's
/// role table says the same; `access_table_matches_the_readme` keeps them together.
pub const RULES: &[(&str, Role)] = &[
    ("/paidan.v1.Intake/Triage", Role::Intake),
    ("/paidan.v1.Intake/SubmitComplaint", Role::Intake),
    ("/paidan.v1.Intake/SubmitComplaints", Role::Intake),
    ("/paidan.v1.Intake/FindDuplicates", Role::Intake),
    ("/paidan.v1.Intake/GetCase", Role::Platform),
    ("/paidan.v1.Intake/UpdateCaseStatus", Role::Platform),
    ("/paidan.v1.Intake/CorrectCase", Role::Platform),
    ("/paidan.v1.Intake/ReturnCase", Role::Platform),
    ("/paidan.v1.Intake/RecordFollowUp", Role::Platform),
    ("/paidan.v1.Intake/ExtendDeadline", Role::Platform),
    ("/paidan.v1.Intake/GetDepartmentStats", Role::Platform),
    ("/paidan.v1.Intake/GetDepartmentStats", Role::Admin),
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

/// Methods listed more than once in [`RULES`] (several roles may call them), with their roles.
static SHARED: std::sync::LazyLock<Vec<(&'static str, Vec<Role>)>> =
    std::sync::LazyLock::new(|| {
        let mut shared: Vec<(&'static str, Vec<Role>)> = Vec::new();
        for &(path, role) in RULES {
            if RULES.iter().filter(|(p, _)| *p == path).count() > 1 {
                match shared.iter_mut().find(|(p, _)| *p == path) {
                    Some((_, roles)) => roles.push(role),
                    None => shared.push((path, vec![role])),
                }
            }
        }
        shared
    });

/// Both roles that read cases: the platform (full phone numbers) and analysts (masked).
pub(crate) const READERS: &[Role] = &[Role::Platform, Role::Analyst];

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
    if let Some((_, roles)) = SHARED.iter().find(|(p, _)| *p == path) {
        return Rule::AnyRole(roles);
    }
    RULES
        .iter()
        .find(|(p, _)| *p == path)
        .map_or(Rule::Deny, |&(_, role)| Rule::Role(role))
}
