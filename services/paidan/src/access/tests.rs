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
    let readme = include_str!("../../../../README.md");
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
