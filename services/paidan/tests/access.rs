//! Access control over a real server: tokens and roles per RPC, open health and reflection, phone
//! numbers by role, the audit trail naming the token, rate limits, and TLS with client
//! certificates from a CA generated here (rcgen).

mod common;

use std::time::Duration;

use common::{channel, complaint, default_model, serve_config, wait_health};
use paidan::access::{AccessConfig, Role, TokenConfig};
use paidan_proto::v1;
use paidan_proto::v1::admin_client::AdminClient;
use paidan_proto::v1::intake_client::IntakeClient;
use sha2::{Digest, Sha256};
use tonic::transport::Channel;
use tonic::{Code, Request};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_types::StatusExt;

const INTAKE: &str = "secret-intake-7f3a";
const PLATFORM: &str = "secret-platform-91bc";
const ANALYST: &str = "secret-analyst-c2d4";
const ADMIN: &str = "secret-admin-5e6f";

fn token(name: &str, secret: &str, roles: &[Role]) -> TokenConfig {
    TokenConfig {
        name: name.into(),
        sha256: hex::encode(Sha256::digest(secret.as_bytes())),
        roles: roles.to_vec(),
        rate_per_sec: None,
        burst: None,
    }
}

fn access() -> AccessConfig {
    AccessConfig {
        tokens: vec![
            token("hotline-a", INTAKE, &[Role::Intake]),
            token("platform-12345", PLATFORM, &[Role::Platform]),
            token("analysts", ANALYST, &[Role::Analyst]),
            token("ops", ADMIN, &[Role::Admin]),
            TokenConfig {
                rate_per_sec: Some(1),
                burst: Some(2),
                ..token("slow-client", "secret-slow", &[Role::Intake])
            },
        ],
        ..AccessConfig::default()
    }
}

fn authed<T>(msg: T, secret: Option<&str>) -> Request<T> {
    let mut req = Request::new(msg);
    if let Some(s) = secret {
        req.metadata_mut()
            .insert("authorization", format!("Bearer {s}").parse().unwrap());
    }
    req
}

/// Every RPC a role could be denied, called with `secret`; returns the status code.
async fn call(ch: &Channel, rpc: &str, secret: Option<&str>, case_id: &str) -> Code {
    let mut intake = IntakeClient::new(ch.clone());
    let mut admin = AdminClient::new(ch.clone());
    let id = case_id.to_string();
    let code = |r: Result<(), tonic::Status>| r.err().map(|s| s.code()).unwrap_or(Code::Ok);
    match rpc {
        "Triage" => code(
            intake
                .triage(authed(
                    v1::TriageRequest {
                        text: "小区楼下烧烤店油烟太大".into(),
                        ..Default::default()
                    },
                    secret,
                ))
                .await
                .map(drop),
        ),
        "SubmitComplaint" => code(
            intake
                .submit_complaint(authed(
                    complaint(&format!("acc-{rpc}-{secret:?}"), "工地夜间施工噪音扰民"),
                    secret,
                ))
                .await
                .map(drop),
        ),
        "FindDuplicates" => code(
            intake
                .find_duplicates(authed(
                    v1::FindDuplicatesRequest {
                        text: "工地夜间施工噪音扰民".into(),
                        jurisdiction: "A3区".into(),
                        ..Default::default()
                    },
                    secret,
                ))
                .await
                .map(drop),
        ),
        "GetCase" => code(
            intake
                .get_case(authed(v1::GetCaseRequest { case_id: id }, secret))
                .await
                .map(drop),
        ),
        "CorrectCase" => code(
            intake
                .correct_case(authed(
                    v1::CorrectCaseRequest {
                        case_id: id,
                        note: "access test".into(),
                        ..Default::default()
                    },
                    secret,
                ))
                .await
                .map(drop),
        ),
        "ListCases" => code(
            intake
                .list_cases(authed(v1::ListCasesRequest::default(), secret))
                .await
                .map(drop),
        ),
        "ListHotIssues" => code(
            intake
                .list_hot_issues(authed(v1::ListHotIssuesRequest::default(), secret))
                .await
                .map(drop),
        ),
        "MergeCases" => code(
            intake
                .merge_cases(authed(
                    v1::MergeCasesRequest {
                        master_case_id: id.clone(),
                        duplicate_case_id: id,
                        ..Default::default()
                    },
                    secret,
                ))
                .await
                .map(drop),
        ),
        "ListOutbox" => code(
            admin
                .list_outbox(authed(v1::ListOutboxRequest::default(), secret))
                .await
                .map(drop),
        ),
        "ListAuditEvents" => code(
            admin
                .list_audit_events(authed(v1::ListAuditEventsRequest::default(), secret))
                .await
                .map(drop),
        ),
        "ReloadModel" => code(
            admin
                .reload_model(authed(v1::ReloadModelRequest::default(), secret))
                .await
                .map(drop),
        ),
        other => panic!("no such rpc in the table: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_reaches_its_rpcs_and_no_others() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = serve_config(&dir.path().join("data"), &default_model());
    cfg.access = access();
    let handle = paidan::server::start(cfg, false).await.unwrap();
    let ch = channel(handle.addr).await;
    // Health is open: no token needed.
    wait_health(&ch, "paidan.v1.Intake", ServingStatus::Serving).await;

    let mut intake = IntakeClient::new(ch.clone());
    let case = intake
        .submit_complaint(authed(
            complaint("acc-seed", "小区楼下烧烤店油烟太大，晚上噪音扰民"),
            Some(INTAKE),
        ))
        .await
        .unwrap()
        .into_inner();

    // rpc → the one role that may call it.
    let table = [
        ("Triage", "intake"),
        ("SubmitComplaint", "intake"),
        ("FindDuplicates", "intake"),
        ("GetCase", "platform"),
        ("CorrectCase", "platform"),
        ("ListCases", "analyst"),
        ("ListHotIssues", "analyst"),
        ("MergeCases", "admin"),
        ("ListOutbox", "admin"),
        ("ListAuditEvents", "admin"),
        ("ReloadModel", "admin"),
    ];
    let roles = [
        ("intake", INTAKE),
        ("platform", PLATFORM),
        ("analyst", ANALYST),
        ("admin", ADMIN),
    ];
    for (rpc, allowed) in table {
        for (role, secret) in roles {
            let got = call(&ch, rpc, Some(secret), &case.case_id).await;
            if role == allowed {
                assert!(
                    !matches!(got, Code::PermissionDenied | Code::Unauthenticated),
                    "{role} should reach {rpc}, got {got:?}"
                );
            } else {
                assert_eq!(got, Code::PermissionDenied, "{role} calling {rpc}");
            }
        }
        let anonymous = call(&ch, rpc, None, &case.case_id).await;
        assert_eq!(anonymous, Code::Unauthenticated, "no token calling {rpc}");
        let forged = call(&ch, rpc, Some("not-a-token"), &case.case_id).await;
        assert_eq!(forged, Code::Unauthenticated, "unknown token calling {rpc}");
    }

    // The message says what is wrong.
    let denied = intake
        .get_case(authed(
            v1::GetCaseRequest {
                case_id: case.case_id.clone(),
            },
            Some(INTAKE),
        ))
        .await
        .unwrap_err();
    assert!(
        denied.message().contains("platform role") && denied.message().contains("hotline-a"),
        "{}",
        denied.message()
    );

    // Reflection is open too.
    let mut reflection =
        tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient::new(ch.clone());
    let req = tonic_reflection::pb::v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            tonic_reflection::pb::v1::server_reflection_request::MessageRequest::ListServices(
                String::new(),
            ),
        ),
    };
    let mut stream = reflection
        .server_reflection_info(tokio_stream::iter([req]))
        .await
        .expect("reflection needs no token")
        .into_inner();
    assert!(stream.message().await.unwrap().is_some());

    handle.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phone_numbers_by_role_and_the_audit_trail_names_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = serve_config(&dir.path().join("data"), &default_model());
    cfg.access = access();
    let handle = paidan::server::start(cfg, false).await.unwrap();
    let ch = channel(handle.addr).await;
    wait_health(&ch, "paidan.v1.Intake", ServingStatus::Serving).await;
    let mut intake = IntakeClient::new(ch.clone());
    let mut admin = AdminClient::new(ch.clone());

    let case = intake
        .submit_complaint(authed(
            complaint("acc-pii", "电话13812345678，小区楼下烧烤店油烟太大"),
            Some(INTAKE),
        ))
        .await
        .unwrap()
        .into_inner();

    // The platform sees the caller's number; analysts see it masked, in the field and the text.
    let full = intake
        .get_case(authed(
            v1::GetCaseRequest {
                case_id: case.case_id.clone(),
            },
            Some(PLATFORM),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(full.caller_phone, "13812345678");
    let listed = intake
        .list_cases(authed(v1::ListCasesRequest::default(), Some(ANALYST)))
        .await
        .unwrap()
        .into_inner();
    let masked = listed
        .cases
        .iter()
        .find(|c| c.id == case.case_id)
        .expect("listed");
    assert_eq!(masked.caller_phone, "138****5678");
    assert!(!masked.text.contains("13812345678"), "{}", masked.text);

    // The platform moves the case on, naming its operator; the history and the audit trail name
    // the token and the operator.
    let moved = intake
        .update_case_status(authed(
            v1::UpdateCaseStatusRequest {
                case_id: case.case_id.clone(),
                status: v1::CaseStatus::Dispatched as i32,
                note: "派给区城管局".into(),
                actor: "张三".into(),
            },
            Some(PLATFORM),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(moved.history.last().unwrap().actor, "platform-12345:张三");

    let dropped = admin
        .drop_dead_letters(authed(
            v1::DropDeadLettersRequest {
                idempotency_keys: vec!["PD999999999999:1".into()],
            },
            Some(ADMIN),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(dropped.affected, 0);

    let events = admin
        .list_audit_events(authed(
            v1::ListAuditEventsRequest { limit: 10 },
            Some(ADMIN),
        ))
        .await
        .unwrap()
        .into_inner()
        .events;
    let seen: Vec<(&str, &str, &str)> = events
        .iter()
        .map(|e| (e.action.as_str(), e.actor.as_str(), e.target.as_str()))
        .collect();
    assert_eq!(
        seen,
        vec![
            ("drop_dead_letters", "ops", "PD999999999999:1"),
            (
                "update_status",
                "platform-12345:张三",
                case.case_id.as_str()
            ),
        ],
        "newest first"
    );
    assert!(events.iter().all(|e| e.at.is_some()));

    handle.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_over_its_rate_gets_resource_exhausted_with_a_retry_hint() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = serve_config(&dir.path().join("data"), &default_model());
    cfg.access = access();
    let handle = paidan::server::start(cfg, false).await.unwrap();
    let ch = channel(handle.addr).await;
    wait_health(&ch, "paidan.v1.Intake", ServingStatus::Serving).await;
    let mut intake = IntakeClient::new(ch.clone());
    let triage = || {
        authed(
            v1::TriageRequest {
                text: "噪音扰民".into(),
                ..Default::default()
            },
            Some("secret-slow"),
        )
    };
    // A burst of two at one request per second: the third at once is refused.
    let mut codes = Vec::new();
    let mut refusal = None;
    for _ in 0..3 {
        match intake.triage(triage()).await {
            Ok(_) => codes.push(Code::Ok),
            Err(s) => {
                codes.push(s.code());
                refusal = Some(s);
            }
        }
    }
    assert_eq!(codes, [Code::Ok, Code::Ok, Code::ResourceExhausted]);
    let refusal = refusal.unwrap();
    assert!(
        refusal.message().contains("slow-client"),
        "{}",
        refusal.message()
    );
    let hint = refusal
        .get_details_retry_info()
        .and_then(|r| r.retry_delay)
        .expect("a RetryInfo detail");
    assert!(
        hint > Duration::ZERO && hint <= Duration::from_secs(1),
        "{hint:?}"
    );
    // Other tokens are not affected.
    intake
        .triage(authed(
            v1::TriageRequest {
                text: "噪音扰民".into(),
                ..Default::default()
            },
            Some(INTAKE),
        ))
        .await
        .expect("another token has its own budget");

    handle.stop().await.unwrap();
}

/// A CA, a server certificate for localhost and a client certificate, all made here.
struct Pki {
    ca: String,
    server_cert: String,
    server_key: String,
    client_cert: String,
    client_key: String,
}

fn pki() -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "paidan test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf = |names: Vec<String>| {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (server_cert, server_key) = leaf(vec!["localhost".into(), "127.0.0.1".into()]);
    let (client_cert, client_key) = leaf(vec!["hotline-a.client".into()]);
    Pki {
        ca: ca.pem(),
        server_cert,
        server_key,
        client_cert,
        client_key,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_client_certificates() {
    use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};
    let dir = tempfile::tempdir().unwrap();
    let pki = pki();
    let write = |name: &str, body: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, body).unwrap();
        p
    };
    // Through the config file, as an operator would set it up (relative paths).
    write("ca.pem", &pki.ca);
    write("server.pem", &pki.server_cert);
    write("server.key", &pki.server_key);
    let config = write(
        "paidan.toml",
        "[tls]\ncert = \"server.pem\"\nkey = \"server.key\"\nclient_ca = \"ca.pem\"\n",
    );
    let file = paidan::config::FileConfig::load(&config).unwrap();
    let mut cfg = serve_config(&dir.path().join("data"), &default_model());
    cfg.tls = file.tls;
    let handle = paidan::server::start(cfg, false).await.unwrap();
    let addr = handle.addr;

    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&pki.ca))
        .domain_name("localhost");
    let endpoint = |tls: ClientTlsConfig| {
        Endpoint::from_shared(format!("https://{addr}"))
            .unwrap()
            .tls_config(tls)
            .unwrap()
            .connect_timeout(Duration::from_secs(10))
    };

    // With a client certificate from the CA: served.
    let ch = endpoint(
        tls.clone()
            .identity(Identity::from_pem(&pki.client_cert, &pki.client_key)),
    )
    .connect()
    .await
    .expect("mutual TLS connects");
    wait_health(&ch, "paidan.v1.Intake", ServingStatus::Serving).await;
    let triage = IntakeClient::new(ch)
        .triage(v1::TriageRequest {
            text: "小区楼下烧烤店油烟太大".into(),
            ..Default::default()
        })
        .await
        .expect("triage over TLS")
        .into_inner();
    assert!(!triage.category.unwrap().code.is_empty());

    // Without a client certificate the handshake fails; so does a plaintext client.
    let no_cert = async {
        let ch = endpoint(tls.clone()).connect().await?;
        tonic_health::pb::health_client::HealthClient::new(ch)
            .check(tonic_health::pb::HealthCheckRequest::default())
            .await
            .map_err(|s| Box::new(s) as Box<dyn std::error::Error + Send + Sync>)?;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
    };
    assert!(
        no_cert.await.is_err(),
        "a client without a certificate got in"
    );
    let plain = async {
        let ch = Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await?;
        tonic_health::pb::health_client::HealthClient::new(ch)
            .check(tonic_health::pb::HealthCheckRequest::default())
            .await
            .map_err(|s| Box::new(s) as Box<dyn std::error::Error + Send + Sync>)?;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
    };
    assert!(plain.await.is_err(), "a plaintext client got in");

    handle.stop().await.unwrap();
}
