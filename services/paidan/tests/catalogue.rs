//! The dispatch catalogue a server serves (issue 16): `dispatch_catalogue` / `--dispatch-catalogue`
//! / `PAIDAN_DISPATCH_CATALOGUE` is read and validated at start — an invalid file stops
//! `paidan serve` with its file, line and key — and its per-jurisdiction overrides apply to the
//! cases of that jurisdiction, over gRPC with the shipped model.

mod common;

use std::process::{Command, Stdio};

use common::*;
use paidan_proto::convert::{millis, timestamp};
use paidan_proto::v1;

/// 2026-04-30 10:00 in China: the day before the 劳动节 holiday (05-01 .. 05-05).
const APRIL_30: i64 = 1_777_514_400_000;

fn shipped() -> String {
    std::fs::read_to_string(repo_root().join("models/dispatch.toml")).unwrap()
}

#[test]
fn an_invalid_catalogue_stops_paidan_serve_naming_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("dispatch.toml");
    let text = format!(
        "{}\n[jurisdictions.\"A3区\".categories.clutter]\nlead = \"urban_mgmt\"\n",
        shipped()
    );
    let line = text.lines().count();
    std::fs::write(&bad, &text).unwrap();
    // (how it is given: the flag or the environment)
    for by_flag in [true, false] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_paidan"));
        cmd.args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path().join(format!("data-{by_flag}")))
            .arg("--model-dir")
            .arg(default_model())
            .env("PAIDAN_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if by_flag {
            cmd.arg("--dispatch-catalogue").arg(&bad);
        } else {
            cmd.env("PAIDAN_DISPATCH_CATALOGUE", &bad);
        }
        let out = cmd.output().expect("run paidan serve");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "served with a bad catalogue");
        let want = format!(
            "{}:{line}: jurisdictions.A3区.categories.clutter.lead: unknown department \"urban_mgmt\"",
            bad.display()
        );
        assert!(stderr.contains(&want), "want {want:?} in:\n{stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jurisdictions_overrides_dispatch_its_cases() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dispatch.toml");
    std::fs::write(
        &path,
        format!(
            "{}\n[jurisdictions.\"A3区\".categories.noise_construction]\nlead = \"ecology_environment\"\ndeadline = {{ normal = 2, urgent = 1, very_urgent = 1 }}\n",
            shipped()
        ),
    )
    .unwrap();
    let mut cfg = serve_config(&dir.path().join("data"), &default_model());
    cfg.dispatch_catalogue = Some(path);
    let server = paidan::server::start(cfg, false).await.unwrap();
    let ch = channel(server.addr).await;
    wait_health(
        &ch,
        "paidan.v1.Intake",
        tonic_health::pb::health_check_response::ServingStatus::Serving,
    )
    .await;
    let mut client = v1::intake_client::IntakeClient::new(ch);

    // (jurisdiction → lead, co-departments, due at)
    let noise = "楼下工地每天夜里两点还在施工，噪音太大了睡不着";
    let cases = [
        // 2 working days after 04-30: 05-06, 05-07
        (
            "A3区",
            "ecology_environment",
            vec!["housing_construction"],
            1_778_169_600_000, // 2026-05-08T00:00+08:00
        ),
        // the file's: the model's department leads, 5 working days (05-06 .. 05-09, 05-11)
        (
            "A4区",
            "urban_management",
            vec!["ecology_environment", "housing_construction"],
            1_778_515_200_000, // 2026-05-12T00:00+08:00
        ),
    ];
    for (i, (jurisdiction, lead, co, due)) in cases.into_iter().enumerate() {
        let mut req = complaint(&format!("j-{i}"), noise);
        req.jurisdiction = jurisdiction.into();
        req.received_at = Some(timestamp(APRIL_30));
        req.request_type = v1::RequestType::Complaint as i32;
        req.urgency = v1::Urgency::Normal as i32;
        let r = client.submit_complaint(req).await.unwrap().into_inner();
        let c = client
            .get_case(v1::GetCaseRequest { case_id: r.case_id })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(c.category, "noise_construction", "the model's category");
        assert_eq!(
            (c.department.as_str(), c.co_departments.clone()),
            (lead, co.iter().map(|s| s.to_string()).collect::<Vec<_>>()),
            "{jurisdiction}"
        );
        assert_eq!(millis(c.due_at.as_ref().unwrap()), due, "{jurisdiction}");
        // Triage in the same jurisdiction names the same co-departments
        let t = client
            .triage(v1::TriageRequest {
                text: noise.into(),
                jurisdiction: jurisdiction.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(t.co_departments, c.co_departments, "{jurisdiction}");
    }
    server.stop().await.unwrap();
}

/// A complaint with no jurisdiction that names one of the catalogue's is filed under it; its
/// places are on the case, in the submit answer's and Triage's triage, and in the webhook event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn places_and_a_named_jurisdiction_reach_the_case_and_triage() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dispatch.toml");
    std::fs::write(
        &path,
        format!(
            "{}\n[jurisdictions.\"秀英区\".defaults]\ndeadline = {{ normal = 3, urgent = 2, very_urgent = 1 }}\n",
            shipped()
        ),
    )
    .unwrap();
    let mut cfg = serve_config(&dir.path().join("data"), &default_model());
    cfg.dispatch_catalogue = Some(path);
    let server = paidan::server::start(cfg, false).await.unwrap();
    let ch = channel(server.addr).await;
    wait_health(
        &ch,
        "paidan.v1.Intake",
        tonic_health::pb::health_check_response::ServingStatus::Serving,
    )
    .await;
    let mut client = v1::intake_client::IntakeClient::new(ch);
    // hk-20180606033515 (tests/fixtures of paidan-core), a real Haikou work order
    let text = "市民来电反映: 其是秀英区长滨路永秀花园北一区2栋804的业主，于6月3日民生燃气工作人员帮助其开通燃气，让其签订发生用气危险的责任自负的合同，其认为烟管直接伸出去，危险性并未增加，故来电投诉，";
    let want = [
        (v1::PlaceKind::District, "秀英区"),
        (v1::PlaceKind::Road, "长滨路"),
        (v1::PlaceKind::Estate, "永秀花园"),
        (v1::PlaceKind::Building, "2栋"),
    ]
    .map(|(k, n)| v1::Place {
        kind: k as i32,
        name: n.into(),
    })
    .to_vec();
    let mut req = complaint("p-1", text);
    req.jurisdiction = String::new();
    let r = client.submit_complaint(req).await.unwrap().into_inner();
    assert_eq!(r.triage.as_ref().unwrap().places, want);
    let c = client
        .get_case(v1::GetCaseRequest {
            case_id: r.case_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(c.jurisdiction, "秀英区", "filled from the text");
    assert_eq!(c.places, want);
    let event = paidan_forward::event::WebhookEvent::from_proto(&v1::CaseEvent {
        case: Some(c.clone()),
        ..Default::default()
    });
    assert_eq!(
        event
            .case
            .places
            .iter()
            .map(|p| (p.kind.as_str(), p.name.as_str()))
            .collect::<Vec<_>>(),
        [
            ("district", "秀英区"),
            ("road", "长滨路"),
            ("estate", "永秀花园"),
            ("building", "2栋")
        ]
    );
    // a caller's jurisdiction is kept
    let mut req = complaint("p-2", text);
    req.jurisdiction = "A3区".into();
    let r = client.submit_complaint(req).await.unwrap().into_inner();
    let c = client
        .get_case(v1::GetCaseRequest { case_id: r.case_id })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(c.jurisdiction, "A3区");
    // Triage answers the same places
    let t = client
        .triage(v1::TriageRequest {
            text: text.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(t.places, want);
    server.stop().await.unwrap();
}
