//! The Intake contract end to end: a real server on 127.0.0.1:0, the generated tonic client, a
//! real sled directory and the shipped model.

mod common;

use common::{complaint, serving};
use paidan_proto::v1;
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn triage_returns_taxonomy_labels_from_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let (server, mut client, _) = serving(dir.path()).await;
    let cases = [
        (
            "小区楼下烧烤店油烟太大，晚上油烟味呛得没法开窗",
            "cooking_fumes",
        ),
        (
            "工地夜间施工噪音扰民，凌晨两点还在打桩",
            "noise_construction",
        ),
        (
            "公司拖欠工资三个月，社保也没有缴纳",
            "labor_social_security",
        ),
    ];
    for (text, want) in cases {
        let t = client
            .triage(v1::TriageRequest {
                title: String::new(),
                text: text.into(),
                channel: v1::Channel::Channel12319 as i32,
                jurisdiction: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(t.needs_review, !t.review_reasons.is_empty(), "{t:?}");
        let cat = t.category.clone().unwrap();
        assert_eq!(cat.code, want, "{text}");
        assert!(!cat.name.is_empty());
        assert!(cat.confidence > 0.0 && cat.confidence <= 1.0);
        let dept = t.department.clone().unwrap();
        assert!(!dept.code.is_empty() && dept.confidence > 0.0);
        assert!(!t.model_version.is_empty());
    }
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_is_idempotent_and_cases_can_be_read_listed_moved_and_corrected() {
    let dir = tempfile::tempdir().unwrap();
    let (server, mut client, _) = serving(dir.path()).await;
    let req = complaint(
        "req-1",
        "幸福小区门口的烧烤摊每天晚上油烟很大，呛得居民没法开窗，请城管处理。电话13812345678",
    );
    let first = client
        .submit_complaint(req.clone())
        .await
        .unwrap()
        .into_inner();
    assert!(first.created);
    assert!(first.case_id.starts_with("PD"), "{}", first.case_id);
    assert!(first.duplicate_of.is_empty());
    let again = client
        .submit_complaint(req.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (again.case_id.as_str(), again.created),
        (first.case_id.as_str(), false)
    );

    let mut changed = req.clone();
    changed.text.push_str("补充");
    let err = client.submit_complaint(changed).await.unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists, "{err:?}");
    assert!(err.message().contains("req-1"), "{}", err.message());

    let case = client
        .get_case(v1::GetCaseRequest {
            case_id: first.case_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        case.caller_phone, "138****5678",
        "phone is masked when displayed"
    );
    assert!(!case.text.contains("13812345678"), "{}", case.text);
    assert_eq!(case.status, v1::CaseStatus::Accepted as i32);
    assert_eq!(case.report_count, 1);
    assert!(!case.model_version.is_empty());

    let err = client
        .get_case(v1::GetCaseRequest {
            case_id: "PD999999999999".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    // Lifecycle: 受理 → 派单 → 办理中 → 办结; a jump back to 受理 is refused.
    for (to, ok) in [
        (v1::CaseStatus::Dispatched, true),
        (v1::CaseStatus::InProgress, true),
        (v1::CaseStatus::Accepted, false),
        (v1::CaseStatus::Resolved, true),
    ] {
        let r = client
            .update_case_status(v1::UpdateCaseStatusRequest {
                case_id: first.case_id.clone(),
                status: to as i32,
                note: format!("to {to:?}"),
                actor: "platform".into(),
            })
            .await;
        match (ok, r) {
            (true, Ok(c)) => assert_eq!(c.into_inner().status, to as i32),
            (false, Err(e)) => assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}"),
            (ok, r) => panic!("to {to:?}: expected ok={ok}, got {r:?}"),
        }
    }
    let case = client
        .correct_case(v1::CorrectCaseRequest {
            case_id: first.case_id.clone(),
            category: "street_vending".into(),
            department: String::new(),
            note: "占道烧烤摊".into(),
            actor: "operator-7".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(case.category, "street_vending");
    assert_eq!(case.history.len(), 3);
    assert_eq!(case.corrections.len(), 1);
    assert_eq!(
        case.corrections[0].category_before,
        first.triage.unwrap().category.unwrap().code
    );
    let err = client
        .correct_case(v1::CorrectCaseRequest {
            case_id: first.case_id.clone(),
            category: "no_such_category".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);

    // ListCases: filters and paging.
    for i in 0..5 {
        let mut r = complaint(
            &format!("list-{i}"),
            &format!("{i}号楼电梯故障已经一个星期没人修，物业不管，老人上下楼困难"),
        );
        r.channel = v1::Channel::Channel12319 as i32;
        r.jurisdiction = format!("B{i}区");
        client.submit_complaint(r).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_cases(v1::ListCasesRequest {
                channel: v1::Channel::Channel12319 as i32,
                page_size: 2,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert!(page.cases.len() <= 2);
        seen.extend(page.cases.into_iter().map(|c| c.request_id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    seen.sort();
    assert_eq!(seen, ["list-0", "list-1", "list-2", "list-3", "list-4"]);
    let resolved = client
        .list_cases(v1::ListCasesRequest {
            status: v1::CaseStatus::Resolved as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resolved.cases.len(), 1);
    assert_eq!(resolved.cases[0].id, first.case_id);
    let err = client
        .list_cases(v1::ListCasesRequest {
            page_token: "not-a-token".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_status_and_leaves_the_store_intact() {
    let dir = tempfile::tempdir().unwrap();
    let (server, mut client, _) = serving(dir.path()).await;
    let kept = client
        .submit_complaint(complaint(
            "keep",
            "路灯坏了好几天，晚上一片漆黑，行人很危险",
        ))
        .await
        .unwrap()
        .into_inner();
    type Edit = fn(&mut v1::SubmitComplaintRequest);
    let table: Vec<(&str, Edit, Code, &str)> = vec![
        (
            "empty",
            |r| r.text.clear(),
            Code::InvalidArgument,
            "text is empty",
        ),
        (
            "whitespace",
            |r| r.text = " \t\n　".into(),
            Code::InvalidArgument,
            "text is empty",
        ),
        (
            "too long",
            |r| r.text = "噪".repeat(20_001),
            Code::InvalidArgument,
            "20000",
        ),
        (
            "NUL",
            |r| r.text = "噪音\0扰民".into(),
            Code::InvalidArgument,
            "U+0000",
        ),
        (
            "no request id",
            |r| r.request_id.clear(),
            Code::InvalidArgument,
            "request_id",
        ),
        (
            "10 kB request id",
            |r| r.request_id = "x".repeat(10_000),
            Code::InvalidArgument,
            "request_id",
        ),
        (
            "unknown channel",
            |r| r.channel = 99,
            Code::InvalidArgument,
            "channel 99",
        ),
        (
            "no channel",
            |r| r.channel = 0,
            Code::InvalidArgument,
            "channel is required",
        ),
        (
            "future",
            |r| {
                r.received_at = Some(prost_types::Timestamp {
                    seconds: 4_000_000_000,
                    nanos: 0,
                })
            },
            Code::InvalidArgument,
            "future",
        ),
        (
            "reused id",
            |r| r.request_id = "keep".into(),
            Code::AlreadyExists,
            "keep",
        ),
    ];
    for (name, edit, code, needle) in table {
        let mut r = complaint(&format!("bad-{name}"), "小区里有人乱搭建违章建筑");
        edit(&mut r);
        let err = client.submit_complaint(r).await.expect_err(name);
        assert_eq!(err.code(), code, "{name}: {err:?}");
        assert!(
            err.message().contains(needle),
            "{name}: {:?} lacks {needle:?}",
            err.message()
        );
    }
    let err = client
        .triage(v1::TriageRequest {
            text: String::new(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let all = client
        .list_cases(v1::ListCasesRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.cases.len(), 1, "only the good complaint is stored");
    assert_eq!(all.cases[0].id, kept.case_id);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_submit_answers_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (server, mut client, _) = serving(dir.path()).await;
    let texts = [
        "工地夜间施工噪音扰民，凌晨还在施工",
        "人行道上有流动摊贩占道经营",
        "",
        "河道里漂着很多垃圾，水发黑发臭",
    ];
    let reqs: Vec<_> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let mut r = complaint(&format!("bulk-{i}"), t);
            r.jurisdiction = format!("C{i}区");
            r
        })
        .collect();
    let mut stream = client
        .submit_complaints(tokio_stream::iter(reqs))
        .await
        .unwrap()
        .into_inner();
    let mut ok = Vec::new();
    let mut err = None;
    while let Some(item) = stream.message().await.transpose() {
        match item {
            Ok(r) => ok.push(r),
            Err(e) => {
                err = Some(e);
                break;
            }
        }
    }
    assert_eq!(ok.len(), 2, "responses before the bad one arrive in order");
    assert!(ok.iter().all(|r| r.created));
    assert_eq!(
        err.expect("the empty text fails the stream").code(),
        Code::InvalidArgument
    );
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_model_health_is_not_serving_and_triage_is_unavailable() {
    use tonic_health::pb::health_check_response::ServingStatus;
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::serve_config(&dir.path().join("data"), &dir.path().join("no-model"));
    let server = paidan::server::start(cfg, false).await.unwrap();
    let ch = common::channel(server.addr).await;
    common::wait_health(&ch, "paidan.v1.Intake", ServingStatus::NotServing).await;
    let mut client = v1::intake_client::IntakeClient::new(ch);
    let err = client
        .triage(v1::TriageRequest {
            text: "噪音扰民".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_lists_the_services() {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let dir = tempfile::tempdir().unwrap();
    let (server, _, ch) = serving(dir.path()).await;
    let mut refl = ServerReflectionClient::new(ch);
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut resp = refl
        .server_reflection_info(tokio_stream::iter([req]))
        .await
        .unwrap()
        .into_inner();
    let msg = resp.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = msg.message_response else {
        panic!("unexpected reflection answer {msg:?}");
    };
    let names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
    for want in [
        "paidan.v1.Intake",
        "paidan.v1.Admin",
        "grpc.health.v1.Health",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {names:?}"
        );
    }
    server.stop().await.unwrap();
}
