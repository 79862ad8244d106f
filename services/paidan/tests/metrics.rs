//! `/metrics` after a scripted set of calls, refused and invalid ones included: every counter
//! equals what was sent, per RPC and code (gRPC and Open311), and the domain's figures (triage,
//! duplicates, writer, outbox, model) agree with the calls; `x-request-id` comes back on answers
//! and errors. One test per process: the recorder is process-wide.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{channel, default_model, serve_config, wait_health};
use paidan::access::{AccessConfig, Role, TokenConfig};
use paidan_proto::v1;
use paidan_proto::v1::intake_client::IntakeClient;
use sha2::{Digest, Sha256};
use tonic::{Code, Request};
use tonic_health::pb::health_check_response::ServingStatus;

const INTAKE: &str = "secret-intake-metrics";

fn authed<T>(msg: T, secret: Option<&str>) -> Request<T> {
    let mut req = Request::new(msg);
    if let Some(s) = secret {
        req.metadata_mut()
            .insert("authorization", format!("Bearer {s}").parse().unwrap());
    }
    req
}

fn triage(text: &str) -> v1::TriageRequest {
    v1::TriageRequest {
        text: text.into(),
        jurisdiction: "A3区".into(),
        ..Default::default()
    }
}

/// The scrape as `name{sorted labels}` → value.
fn parse(body: &str) -> BTreeMap<(String, BTreeSet<(String, String)>), f64> {
    let mut out = BTreeMap::new();
    for line in body
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let (series, value) = line.rsplit_once(' ').expect("`series value`");
        let (name, labels) = match series.split_once('{') {
            None => (series.to_string(), BTreeSet::new()),
            Some((name, rest)) => {
                let labels = rest
                    .trim_end_matches('}')
                    .split("\",")
                    .filter(|kv| !kv.is_empty())
                    .map(|kv| {
                        let (k, v) = kv.split_once('=').expect("label=value");
                        (k.to_string(), v.trim_matches('"').to_string())
                    })
                    .collect();
                (name.to_string(), labels)
            }
        };
        out.insert((name, labels), value.parse().expect("a number"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_what_was_sent_per_rpc_and_code() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = serve_config(&dir.path().join("data"), &default_model());
    cfg.metrics_addr = Some("127.0.0.1:0".parse().unwrap());
    cfg.open311_addr = Some("127.0.0.1:0".parse().unwrap());
    cfg.access = AccessConfig {
        tokens: vec![TokenConfig {
            name: "hotline".into(),
            sha256: hex::encode(Sha256::digest(INTAKE.as_bytes())),
            roles: vec![Role::Intake],
            rate_per_sec: None,
            burst: None,
        }],
        ..AccessConfig::default()
    };
    let server = paidan::server::start(cfg, false).await.unwrap();
    let ch = channel(server.addr).await;
    wait_health(&ch, "paidan.v1.Intake", ServingStatus::Serving).await;
    let mut client = IntakeClient::new(ch);

    let texts = [
        "小区楼下烧烤店油烟太大，晚上噪音扰民",
        "人民路与解放路交叉口电线杆上到处贴小广告",
        "工地夜间施工噪音很大",
        "路灯坏了好几天没人修",
        "小区门口垃圾堆了一周没人清运",
    ];
    let mut version = String::new();
    let mut flagged = 0.0;
    // (category, department) of every prediction, for the drift figures
    let mut predicted: Vec<(String, String)> = Vec::new();
    let codes = |r: &v1::TriageResponse| {
        let code = |l: &Option<v1::Label>| l.as_ref().map(|l| l.code.clone()).unwrap_or_default();
        (code(&r.category), code(&r.department))
    };
    for t in texts {
        let r = client
            .triage(authed(triage(t), Some(INTAKE)))
            .await
            .unwrap()
            .into_inner();
        flagged += f64::from(u8::from(r.needs_review));
        predicted.push(codes(&r));
        version = r.model_version;
    }
    // x-request-id: the caller's is echoed, otherwise one is made; errors carry it too
    let mut req = authed(triage("噪音扰民"), Some(INTAKE));
    req.metadata_mut()
        .insert("x-request-id", "hotline-a-42".parse().unwrap());
    let r = client.triage(req).await.unwrap();
    assert_eq!(r.metadata().get("x-request-id").unwrap(), "hotline-a-42");
    let r = r.into_inner();
    flagged += f64::from(u8::from(r.needs_review));
    predicted.push(codes(&r));
    let refused = client
        .triage(authed(triage("噪音"), None))
        .await
        .unwrap_err();
    let made = refused
        .metadata()
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(uuid::Uuid::parse_str(made).is_ok(), "{made}");
    let services = reqwest::get(format!(
        "http://{}/open311/v2/services.json",
        server.open311_addr.unwrap()
    ))
    .await
    .unwrap();
    assert_eq!(services.status(), 200);
    assert!(services.headers().contains_key("x-request-id"));

    let err = |r: Result<tonic::Response<_>, tonic::Status>| {
        r.map(|_: tonic::Response<v1::TriageResponse>| ())
            .unwrap_err()
            .code()
    };
    assert_eq!(
        err(client.triage(authed(triage(""), Some(INTAKE))).await),
        Code::InvalidArgument
    );
    assert_eq!(
        err(client.triage(authed(triage("噪音"), None)).await),
        Code::Unauthenticated
    );
    let denied = client
        .get_case(authed(
            v1::GetCaseRequest {
                case_id: "PD000000000001".into(),
            },
            Some(INTAKE),
        ))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let submitted = client
        .submit_complaint(authed(
            common::complaint("m-1", "楼下广场舞音响太吵"),
            Some(INTAKE),
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(submitted.created);
    let case_triage = submitted.triage.as_ref().unwrap();
    flagged += f64::from(u8::from(case_triage.needs_review));
    predicted.push(codes(case_triage));

    let body = reqwest::get(format!("http://{}/metrics", server.metrics_addr.unwrap()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let m = parse(&body);
    let get = |name: &str, labels: &[(&str, &str)]| -> f64 {
        let want: BTreeSet<(String, String)> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        m.get(&(name.to_string(), want)).copied().unwrap_or(0.0)
    };
    let sum = |name: &str| -> f64 {
        m.iter()
            .filter(|((n, _), _)| n == name)
            .map(|(_, v)| v)
            .sum()
    };
    let rpc = |method: &str, code: &str| {
        get(
            "paidan_rpc_requests_total",
            &[("rpc", method), ("code", code)],
        )
    };
    // (what, got, want)
    let checks = [
        ("Triage OK", rpc("paidan.v1.Intake/Triage", "OK"), 6.0),
        (
            "Triage INVALID_ARGUMENT",
            rpc("paidan.v1.Intake/Triage", "INVALID_ARGUMENT"),
            1.0,
        ),
        (
            "Triage UNAUTHENTICATED",
            rpc("paidan.v1.Intake/Triage", "UNAUTHENTICATED"),
            2.0,
        ),
        (
            "Open311 services",
            rpc("GET /open311/v2/services.json", "200"),
            1.0,
        ),
        (
            "GetCase PERMISSION_DENIED",
            rpc("paidan.v1.Intake/GetCase", "PERMISSION_DENIED"),
            1.0,
        ),
        (
            "SubmitComplaint OK",
            rpc("paidan.v1.Intake/SubmitComplaint", "OK"),
            1.0,
        ),
        (
            "Triage latencies",
            get(
                "paidan_rpc_duration_seconds_count",
                &[("rpc", "paidan.v1.Intake/Triage")],
            ),
            9.0,
        ),
        (
            "complaints triaged (6 Triage + 1 submit)",
            sum("paidan_triage_total"),
            7.0,
        ),
        (
            "complaints through the inference batches",
            get("paidan_inference_batch_size_sum", &[]),
            7.0,
        ),
        (
            "complaints flagged for review",
            sum("paidan_triage_needs_review_total"),
            flagged,
        ),
        (
            "duplicate lookups",
            get("paidan_dedup_lookups_total", &[]),
            1.0,
        ),
        ("cases stored", get("paidan_cases_stored_total", &[]), 1.0),
        (
            "pending outbox events (no forwarder)",
            get("paidan_outbox_pending_events", &[]),
            1.0,
        ),
        ("dead letters", get("paidan_outbox_dead_letters", &[]), 0.0),
        (
            "cases in the duplicate index",
            get("paidan_dedup_index_cases", &[]),
            1.0,
        ),
        (
            "serving model",
            get("paidan_model_info", &[("version", &version)]),
            1.0,
        ),
    ];
    // drift: the window holds every prediction; PSI against the model's training mix
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(default_model().join("config.json")).unwrap())
            .unwrap();
    let strings = |k: &str| -> Vec<String> { serde_json::from_value(config[k].clone()).unwrap() };
    let counts =
        |k: &str| -> Vec<u64> { serde_json::from_value(config["training"][k].clone()).unwrap() };
    let psi = |classes: &str, counts_key: &str, pick: fn(&(String, String)) -> &str| {
        paidan_core::drift::psi(
            &strings(classes),
            &counts(counts_key),
            predicted.iter().map(pick),
        )
        .unwrap()
    };
    let drift = [
        (
            "drift window",
            get("paidan_triage_drift_window_size", &[]),
            predicted.len() as f64,
        ),
        (
            "window review share",
            get("paidan_triage_window_review_ratio", &[]),
            flagged / predicted.len() as f64,
        ),
        (
            "category PSI",
            get("paidan_triage_drift_psi", &[("head", "category")]),
            psi("categories", "predicted_categories", |p| &p.0),
        ),
        (
            "department PSI",
            get("paidan_triage_drift_psi", &[("head", "department")]),
            psi("departments", "predicted_departments", |p| &p.1),
        ),
    ];
    for (what, got, want) in drift {
        assert!(
            (got - want).abs() < 1e-9,
            "{what}: {got} (want {want})\n{body}"
        );
    }
    // measured, not counted: present and plausible
    for name in [
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_threads",
        "paidan_store_data_dir_bytes",
    ] {
        assert!(sum(name) > 0.0, "{name} missing or zero\n{body}");
    }
    let wrong: Vec<String> = checks
        .iter()
        .filter(|(_, got, want)| got != want)
        .map(|(what, got, want)| format!("{what}: {got} (want {want})"))
        .collect();
    assert!(wrong.is_empty(), "{wrong:#?}\n--- scrape ---\n{body}");
    assert!(
        get("paidan_triage_confidence_count", &[("head", "category")]) == 7.0,
        "a confidence per triaged complaint and head"
    );
    server.stop().await.unwrap();
}
