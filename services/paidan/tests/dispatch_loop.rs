//! Issue 16 is done when this passes: the whole dispatch loop over gRPC against a real server on
//! 127.0.0.1:0 with access control on, with real clients — submit → lead, co-departments and
//! due_at → returned (退单) → re-dispatched → resolved → rated (回访) → the department figures,
//! from the RPC (platform and admin may read them, analysts and intake systems may not) and from
//! `paidan stats` (the binary, as JSON and as a table).

mod common;

use std::collections::BTreeMap;

use common::*;
use paidan::access::{AccessConfig, Role, TokenConfig};
use paidan_proto::convert::{millis, timestamp};
use paidan_proto::v1;
use paidan_proto::v1::intake_client::IntakeClient;
use sha2::{Digest, Sha256};
use tonic::transport::Channel;
use tonic::{Code, Request};

const INTAKE: &str = "loop-intake-1f2e";
const PLATFORM: &str = "loop-platform-3d4c";
const ANALYST: &str = "loop-analyst-5b6a";
const ADMIN: &str = "loop-admin-7988";
const WHERE: &str = "A3区";

fn token(name: &str, secret: &str, role: Role) -> TokenConfig {
    TokenConfig {
        name: name.into(),
        sha256: hex::encode(Sha256::digest(secret.as_bytes())),
        roles: vec![role],
        rate_per_sec: None,
        burst: None,
    }
}

fn authed<T>(msg: T, secret: &str) -> Request<T> {
    let mut req = Request::new(msg);
    req.metadata_mut()
        .insert("authorization", format!("Bearer {secret}").parse().unwrap());
    req
}

async fn get(client: &mut IntakeClient<Channel>, id: &str) -> v1::Case {
    client
        .get_case(authed(v1::GetCaseRequest { case_id: id.into() }, PLATFORM))
        .await
        .unwrap()
        .into_inner()
}

async fn status(client: &mut IntakeClient<Channel>, id: &str, to: v1::CaseStatus) -> v1::Case {
    client
        .update_case_status(authed(
            v1::UpdateCaseStatusRequest {
                case_id: id.into(),
                status: to as i32,
                note: "已处理".into(),
                actor: String::new(),
            },
            PLATFORM,
        ))
        .await
        .unwrap()
        .into_inner()
}

/// (received, resolved, on time, overdue open, returned, rated, satisfaction rate)
type Want = (u64, u64, u64, u64, u64, u64, f64);

fn dept_rows(r: &v1::GetDepartmentStatsResponse) -> BTreeMap<String, Want> {
    r.departments
        .iter()
        .map(|d| {
            (
                d.department.clone(),
                (
                    d.received,
                    d.resolved,
                    d.resolved_on_time,
                    d.overdue_open,
                    d.returned,
                    d.rated,
                    d.satisfaction_rate,
                ),
            )
        })
        .collect()
}

fn category_rows(r: &v1::GetDepartmentStatsResponse) -> BTreeMap<String, Want> {
    r.categories
        .iter()
        .map(|d| {
            (
                d.category.clone(),
                (
                    d.received,
                    d.resolved,
                    d.resolved_on_time,
                    d.overdue_open,
                    d.returned,
                    d.rated,
                    d.satisfaction_rate,
                ),
            )
        })
        .collect()
}

fn add(rows: &mut BTreeMap<String, Want>, name: &str, f: impl Fn(&mut Want)) {
    f(rows
        .entry(name.to_string())
        .or_insert((0, 0, 0, 0, 0, 0, 0.0)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_dispatch_loop_ends_in_the_figures() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = serve_config(&dir.path().join("data"), &default_model());
    cfg.access = AccessConfig {
        tokens: vec![
            token("hotline", INTAKE, Role::Intake),
            token("platform-12345", PLATFORM, Role::Platform),
            token("analysts", ANALYST, Role::Analyst),
            token("ops", ADMIN, Role::Admin),
        ],
        ..AccessConfig::default()
    };
    let server = paidan::server::start(cfg, false).await.unwrap();
    let ch = channel(server.addr).await;
    wait_health(
        &ch,
        "paidan.v1.Intake",
        tonic_health::pb::health_check_response::ServingStatus::Serving,
    )
    .await;
    let mut client = IntakeClient::new(ch.clone());

    // submit: a lead, its co-departments and a deadline
    let mut req = complaint("loop-1", "楼下工地每天夜里两点还在施工，噪音太大了睡不着");
    req.urgency = v1::Urgency::Urgent as i32;
    let id = client
        .submit_complaint(authed(req, INTAKE))
        .await
        .unwrap()
        .into_inner()
        .case_id;
    let case = get(&mut client, &id).await;
    let first_lead = case.department.clone();
    assert!(!first_lead.is_empty());
    let co = paidan_core::Catalogue::builtin()
        .for_jurisdiction(WHERE)
        .co_departments(&case.category, &case.department);
    assert_eq!(case.co_departments, co, "the catalogue's co-departments");
    let due = millis(case.due_at.as_ref().expect("due_at"));
    assert!(due > millis(case.received_at.as_ref().unwrap()));

    // a second case, left open
    let other = client
        .submit_complaint(authed(
            complaint("loop-2", "小区门口的路灯坏了一个多月，晚上很黑"),
            INTAKE,
        ))
        .await
        .unwrap()
        .into_inner()
        .case_id;
    let other = get(&mut client, &other).await;

    // returned by the lead (退单): re-dispatched to another department
    let case = client
        .return_case(authed(
            v1::ReturnCaseRequest {
                case_id: id.clone(),
                department: first_lead.clone(),
                reason: v1::ReturnReason::NotOurResponsibility as i32,
                note: "夜间施工许可归住建".into(),
                actor: String::new(),
            },
            PLATFORM,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(case.status, v1::CaseStatus::Dispatched as i32);
    assert_ne!(case.department, first_lead, "re-dispatched");
    let lead = case.department.clone();

    // resolved, rated satisfied
    status(&mut client, &id, v1::CaseStatus::InProgress).await;
    status(&mut client, &id, v1::CaseStatus::Resolved).await;
    let case = client
        .record_follow_up(authed(
            v1::RecordFollowUpRequest {
                case_id: id.clone(),
                satisfaction: v1::Satisfaction::Satisfied as i32,
                note: "回访满意".into(),
                actor: String::new(),
            },
            PLATFORM,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(case.status, v1::CaseStatus::FollowedUp as i32);

    // the figures, by hand: the kept case counts for its lead now, the return for the department
    // that made it; the open case is received and not yet due
    let mut want_d = BTreeMap::new();
    add(&mut want_d, &lead, |w| {
        (w.0, w.1, w.2, w.5, w.6) = (w.0 + 1, 1, 1, 1, 1.0);
    });
    add(&mut want_d, &first_lead, |w| w.4 += 1);
    add(&mut want_d, &other.department, |w| w.0 += 1);
    let mut want_c = BTreeMap::new();
    add(&mut want_c, &case.category, |w| {
        (w.0, w.1, w.2, w.4, w.5, w.6) = (w.0 + 1, 1, 1, 1, 1, 1.0);
    });
    add(&mut want_c, &other.category, |w| w.0 += 1);

    let ask = |secret: &'static str, jurisdiction: &str| {
        let mut client = client.clone();
        let req = v1::GetDepartmentStatsRequest {
            jurisdiction: jurisdiction.into(),
            since: None,
            until: None,
        };
        async move { client.get_department_stats(authed(req, secret)).await }
    };
    let stats = ask(PLATFORM, WHERE).await.unwrap().into_inner();
    assert_eq!(dept_rows(&stats), want_d, "departments: {stats:#?}");
    assert_eq!(category_rows(&stats), want_c, "categories: {stats:#?}");
    let kept = stats
        .departments
        .iter()
        .find(|d| d.department == lead)
        .unwrap();
    assert!(
        (0.0..1.0).contains(&kept.mean_hours_to_resolve),
        "resolved within the test: {}",
        kept.mean_hours_to_resolve
    );
    let (since, until) = (
        millis(stats.since.as_ref().unwrap()),
        millis(stats.until.as_ref().unwrap()),
    );
    assert_eq!(until % 3_600_000, 0, "whole hours");
    // 30 days, hours rounded out (exactly 30 days when asked on the hour)
    assert!(
        [0, 3_600_000].contains(&(until - since - 30 * 24 * 3_600_000)),
        "{since} .. {until}"
    );

    // who may read them
    for (who, secret, allowed) in [
        ("admin", ADMIN, true),
        ("analyst", ANALYST, false),
        ("intake", INTAKE, false),
    ] {
        match ask(secret, WHERE).await {
            Ok(r) => {
                assert!(allowed, "{who} read the figures");
                assert_eq!(r.into_inner(), stats, "{who} reads the same figures");
            }
            Err(s) => {
                assert!(!allowed, "{who}: {s:?}");
                assert_eq!(s.code(), Code::PermissionDenied, "{who}");
            }
        }
    }
    let unauthenticated = client
        .clone()
        .get_department_stats(v1::GetDepartmentStatsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(unauthenticated.code(), Code::Unauthenticated);
    // another jurisdiction has nothing; all jurisdictions are these
    let elsewhere = ask(PLATFORM, "B7区").await.unwrap().into_inner();
    assert!(elsewhere.departments.is_empty() && elsewhere.categories.is_empty());
    assert_eq!(
        dept_rows(&ask(PLATFORM, "").await.unwrap().into_inner()),
        want_d
    );
    // an empty window is refused
    let mut empty = client.clone();
    let err = empty
        .get_department_stats(authed(
            v1::GetDepartmentStatsRequest {
                jurisdiction: String::new(),
                since: Some(timestamp(until)),
                until: Some(timestamp(since)),
            },
            PLATFORM,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");

    // `paidan stats`, the analysts' command, over the same RPC
    let addr = format!("http://{}", server.addr);
    let lead2 = lead.clone();
    let stats2 = stats.clone();
    tokio::task::spawn_blocking(move || {
        let run = |args: &[&str]| {
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_paidan"))
                .args(["stats", "--server", &addr, "--jurisdiction", WHERE])
                .args(args)
                .env("PAIDAN_TOKEN", PLATFORM)
                .output()
                .expect("paidan stats runs");
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            (out.status.success(), stdout, stderr)
        };
        let (ok, out, err) = run(&["--json"]);
        assert!(ok, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["jurisdiction"], WHERE);
        assert_eq!(
            v["departments"].as_array().unwrap().len(),
            stats2.departments.len()
        );
        for (i, d) in stats2.departments.iter().enumerate() {
            let j = &v["departments"][i];
            assert_eq!(j["department"], d.department.as_str());
            for (key, n) in [
                ("received", d.received),
                ("resolved", d.resolved),
                ("resolved_on_time", d.resolved_on_time),
                ("overdue_open", d.overdue_open),
                ("returned", d.returned),
                ("rated", d.rated),
            ] {
                assert_eq!(j[key], n, "{} {key}", d.department);
            }
            assert_eq!(j["satisfaction_rate"], d.satisfaction_rate);
        }
        assert_eq!(
            v["categories"].as_array().unwrap().len(),
            stats2.categories.len()
        );
        let (ok, out, err) = run(&[]);
        assert!(ok, "{err}");
        assert!(
            out.lines()
                .any(|l| l.starts_with(lead2.as_str()) && l.contains("100.0%")),
            "{out}"
        );
        // a token that may not read figures is told so
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_paidan"))
            .args(["stats", "--server", &addr, "--token", ANALYST])
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("PermissionDenied"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    })
    .await
    .unwrap();
    server.stop().await.unwrap();
}
