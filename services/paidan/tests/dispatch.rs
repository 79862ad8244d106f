//! Dispatch over gRPC (issue 16): a real server with the shipped model and the built-in dispatch
//! catalogue, a real client. A submitted case carries its co-departments, its due instant and its
//! request type and urgency (the operator's, or guessed from the text and marked so); Triage
//! answers the same co-departments; a linked report is not dispatched.

mod common;

use common::*;
use paidan_core::Catalogue;
use paidan_proto::convert::{millis, timestamp};
use paidan_proto::v1;
use paidan_store::{RequestType, Urgency};

/// 2026-04-30 10:00 in China: the day before the 劳动节 holiday (05-01 .. 05-05).
const APRIL_30: i64 = 1_777_514_400_000;

fn at_april_30(mut r: v1::SubmitComplaintRequest) -> v1::SubmitComplaintRequest {
    r.received_at = Some(timestamp(APRIL_30));
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cases_are_dispatched_with_co_departments_deadlines_and_guesses() {
    let dir = tempfile::tempdir().unwrap();
    let (server, mut client, _) = serving(dir.path()).await;
    let catalogue = Catalogue::builtin();

    // Nothing asked: guessed from the text. A consultation is due the next working day, which
    // after 04-30 is 05-06 (the holiday), so at 05-07 00:00 China time.
    let r = client
        .submit_complaint(at_april_30(complaint(
            "d-1",
            "请问小区门口占道摆摊的归哪个部门管，怎么投诉",
        )))
        .await
        .unwrap()
        .into_inner();
    let c = client
        .get_case(v1::GetCaseRequest {
            case_id: r.case_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(c.request_type, v1::RequestType::Consultation as i32);
    assert!(c.request_type_guessed);
    assert_eq!(c.urgency, v1::Urgency::Normal as i32);
    assert!(c.urgency_guessed);
    assert_eq!(
        millis(c.due_at.as_ref().expect("due_at")),
        1_778_083_200_000,
        "2026-05-07T00:00+08:00"
    );
    assert_eq!(
        c.co_departments,
        catalogue.co_departments(&c.category, &c.department)
    );
    assert_eq!(
        r.triage.as_ref().unwrap().co_departments,
        c.co_departments,
        "the submit answer's triage names the co-departments too"
    );

    // Set by the operator: kept, not marked as guessed; the deadline is the category's.
    let noise = "楼下工地每天夜里两点还在施工，噪音太大了睡不着";
    let mut req = at_april_30(complaint("d-2", noise));
    req.request_type = v1::RequestType::Complaint as i32;
    req.urgency = v1::Urgency::Urgent as i32;
    let r = client
        .submit_complaint(req.clone())
        .await
        .unwrap()
        .into_inner();
    let c = client
        .get_case(v1::GetCaseRequest {
            case_id: r.case_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (c.request_type, c.request_type_guessed),
        (v1::RequestType::Complaint as i32, false)
    );
    assert_eq!(
        (c.urgency, c.urgency_guessed),
        (v1::Urgency::Urgent as i32, false)
    );
    let want = catalogue.dispatch(
        &c.category,
        &c.department,
        Some(RequestType::Complaint),
        Urgency::Urgent,
        APRIL_30,
    );
    assert_eq!(millis(c.due_at.as_ref().unwrap()), want.due_at);
    assert!(
        want.due_at > APRIL_30 + 5 * 24 * 3600 * 1000,
        "the deadline skips the 劳动节 holiday"
    );
    assert_eq!(c.co_departments, want.co_departments);
    assert!(
        !c.co_departments.contains(&c.department),
        "the lead is not its own co-department"
    );

    // Triage answers the same co-departments for the same text.
    let t = client
        .triage(v1::TriageRequest {
            title: String::new(),
            text: noise.into(),
            channel: v1::Channel::Channel12345 as i32,
            jurisdiction: "A3区".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(t.co_departments, c.co_departments);

    // A retry with the same request is the same case; another urgency under the same id is a
    // conflict (the operator's choice is part of the request's content).
    let again = client
        .submit_complaint(req.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (again.case_id.as_str(), again.created),
        (r.case_id.as_str(), false)
    );
    let mut other = req.clone();
    other.urgency = v1::Urgency::VeryUrgent as i32;
    let err = client.submit_complaint(other).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::AlreadyExists, "{err:?}");

    // A second report of the same matter is linked, not dispatched: no deadline, no helpers.
    let r = client
        .submit_complaint(at_april_30(complaint("d-3", noise)))
        .await
        .unwrap()
        .into_inner();
    let linked = client
        .get_case(v1::GetCaseRequest {
            case_id: r.case_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!linked.duplicate_of.is_empty(), "linked to {}", c.id);
    assert_eq!(linked.due_at, None);
    assert!(linked.co_departments.is_empty());
    assert_eq!(linked.request_type, v1::RequestType::Complaint as i32);
    assert!(linked.request_type_guessed);

    // Unknown enum numbers are refused at the edge, naming the field.
    for (rt, u, field) in [(9, 0, "request_type 9"), (0, 7, "urgency 7")] {
        let mut bad = complaint("d-bad", "路灯不亮");
        bad.request_type = rt;
        bad.urgency = u;
        let err = client.submit_complaint(bad).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
        assert!(err.message().contains(field), "{}", err.message());
    }
    server.stop().await.unwrap();
}

/// ReturnCase (退单) over gRPC: the lead hands the case back, paidan re-dispatches it to the next
/// department that has not returned it, until none is left and the case goes to review; each
/// return is on the case, in the audit trail and in the corrections log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn returned_cases_are_redispatched_until_review() {
    let dir = tempfile::tempdir().unwrap();
    let (server, mut client, ch) = serving(dir.path()).await;
    let r = client
        .submit_complaint(complaint(
            "ret-1",
            "楼下工地每天夜里两点还在施工，噪音太大了睡不着",
        ))
        .await
        .unwrap()
        .into_inner();
    let get = |client: &mut v1::intake_client::IntakeClient<_>| {
        let id = r.case_id.clone();
        let mut client = client.clone();
        async move {
            client
                .get_case(v1::GetCaseRequest { case_id: id })
                .await
                .unwrap()
                .into_inner()
        }
    };
    let mut case = get(&mut client).await;
    let ret = |department: &str, reason: v1::ReturnReason| v1::ReturnCaseRequest {
        case_id: r.case_id.clone(),
        department: department.into(),
        reason: reason as i32,
        note: "不归我们管".into(),
        actor: String::new(),
    };

    // refused: not the lead, no reason, an unknown case
    for (req, code, msg) in [
        (
            ret("no_such_department", v1::ReturnReason::NotOurResponsibility),
            tonic::Code::InvalidArgument,
            "only the lead returns a case",
        ),
        (
            ret(&case.department, v1::ReturnReason::Unspecified),
            tonic::Code::InvalidArgument,
            "reason is required",
        ),
        (
            v1::ReturnCaseRequest {
                case_id: "PD404".into(),
                ..ret(&case.department, v1::ReturnReason::Other)
            },
            tonic::Code::NotFound,
            "PD404",
        ),
    ] {
        let err = client.return_case(req).await.unwrap_err();
        assert_eq!(err.code(), code, "{err:?}");
        assert!(err.message().contains(msg), "{}", err.message());
    }

    let mut returned: Vec<String> = Vec::new();
    for step in 0.. {
        assert!(step < 20, "never reached review");
        let lead = case.department.clone();
        case = client
            .return_case(ret(&lead, v1::ReturnReason::NotOurResponsibility))
            .await
            .unwrap()
            .into_inner();
        returned.push(lead);
        assert_eq!(
            case.returns
                .iter()
                .map(|x| x.department.clone())
                .collect::<Vec<_>>(),
            returned
        );
        assert_eq!(
            case.returns.last().unwrap().reason,
            v1::ReturnReason::NotOurResponsibility as i32
        );
        if case.status == v1::CaseStatus::Rejected as i32 {
            assert!(case.history.last().unwrap().note.contains("needs review"));
            break;
        }
        assert_eq!(case.status, v1::CaseStatus::Dispatched as i32);
        assert!(
            !returned.contains(&case.department),
            "re-dispatched to {} which returned it",
            case.department
        );
    }
    assert!(
        returned.len() >= 2,
        "at least the model's top two: {returned:?}"
    );
    assert_eq!(get(&mut client).await.returns.len(), returned.len());

    // the audit trail names every return
    let mut admin = v1::admin_client::AdminClient::new(ch);
    let audit = admin
        .list_audit_events(v1::ListAuditEventsRequest { limit: 100 })
        .await
        .unwrap()
        .into_inner()
        .events;
    assert_eq!(
        audit.iter().filter(|e| e.action == "return_case").count(),
        returned.len()
    );
    server.stop().await.unwrap();
}

/// The loop a 12345 platform runs, over gRPC: submit (lead, co-departments, due_at) → returned →
/// re-dispatched → extended (延期) → resolved → rated dissatisfied → reopened with a new deadline →
/// resolved → rated satisfied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_return_extend_resolve_and_follow_up() {
    let dir = tempfile::tempdir().unwrap();
    let (server, mut client, _) = serving(dir.path()).await;
    let r = client
        .submit_complaint(complaint("loop-1", "小区门口的路灯坏了一个多月，晚上很黑"))
        .await
        .unwrap()
        .into_inner();
    let id = r.case_id.clone();
    let case = client
        .get_case(v1::GetCaseRequest {
            case_id: id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let first_due = millis(case.due_at.as_ref().expect("due_at"));
    let case = client
        .return_case(v1::ReturnCaseRequest {
            case_id: id.clone(),
            department: case.department.clone(),
            reason: v1::ReturnReason::NotOurResponsibility as i32,
            note: "不归我们".into(),
            actor: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(case.status, v1::CaseStatus::Dispatched as i32);
    assert_ne!(case.department, case.returns[0].department);

    // 延期: later by working days, with a reason; refused without one
    let extend = |days: u32, reason: &str| v1::ExtendDeadlineRequest {
        case_id: id.clone(),
        working_days: days,
        reason: reason.into(),
        actor: String::new(),
    };
    let err = client.extend_deadline(extend(2, "")).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
    let case = client
        .extend_deadline(extend(2, "需要协调供电公司"))
        .await
        .unwrap()
        .into_inner();
    let extended = millis(case.due_at.as_ref().unwrap());
    assert!(extended >= first_due + 2 * 24 * 3600 * 1000);
    assert_eq!(
        case.extensions
            .iter()
            .map(|x| (x.from.as_ref().map(millis), millis(x.to.as_ref().unwrap())))
            .collect::<Vec<_>>(),
        [(Some(first_due), extended)]
    );

    let platform = client.clone();
    let status = |to: v1::CaseStatus| {
        let mut client = platform.clone();
        let id = id.clone();
        async move {
            client
                .update_case_status(v1::UpdateCaseStatusRequest {
                    case_id: id,
                    status: to as i32,
                    note: String::new(),
                    actor: String::new(),
                })
                .await
                .unwrap()
                .into_inner()
        }
    };
    status(v1::CaseStatus::InProgress).await;
    status(v1::CaseStatus::Resolved).await;
    let rate = |s: v1::Satisfaction| v1::RecordFollowUpRequest {
        case_id: id.clone(),
        satisfaction: s as i32,
        note: "回访".into(),
        actor: String::new(),
    };
    let err = client
        .record_follow_up(rate(v1::Satisfaction::Unspecified))
        .await
        .unwrap_err();
    assert!(
        err.message().contains("satisfaction is required"),
        "{err:?}"
    );
    let case = client
        .record_follow_up(rate(v1::Satisfaction::Dissatisfied))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(case.status, v1::CaseStatus::InProgress as i32, "重办");
    let reopened_due = millis(case.due_at.as_ref().unwrap());
    assert!(
        reopened_due > millis(case.follow_ups[0].at.as_ref().unwrap()),
        "a new deadline from the call"
    );
    status(v1::CaseStatus::Resolved).await;
    let case = client
        .record_follow_up(rate(v1::Satisfaction::Satisfied))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(case.status, v1::CaseStatus::FollowedUp as i32);
    assert_eq!(
        case.follow_ups
            .iter()
            .map(|f| f.satisfaction)
            .collect::<Vec<_>>(),
        [
            v1::Satisfaction::Dissatisfied as i32,
            v1::Satisfaction::Satisfied as i32
        ]
    );
    server.stop().await.unwrap();
}

/// ListCases by deadline: `overdue` (still being handled, due_at passed) and `due_before`, page
/// by page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cases_are_listed_by_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let (server, mut client, _) = serving(dir.path()).await;
    // 2026-01-05 and -06 10:00 China time: long overdue by now
    let (jan5, jan6) = (1_767_578_400_000, 1_767_664_800_000);
    let mut submit = async |id: &str, text: &str, at: Option<i64>| {
        let mut r = complaint(id, text);
        r.received_at = at.map(timestamp);
        client
            .submit_complaint(r)
            .await
            .unwrap()
            .into_inner()
            .case_id
    };
    let late = submit("due-1", "小区门口的路灯坏了一个多月，晚上很黑", Some(jan5)).await;
    let done = submit(
        "due-2",
        "菜市场门口流动摊贩占道经营，堵得走不动",
        Some(jan6),
    )
    .await;
    let fresh = submit("due-3", "楼道里堆满了纸箱杂物，消防通道堵死了", None).await;
    for to in [
        v1::CaseStatus::Dispatched,
        v1::CaseStatus::InProgress,
        v1::CaseStatus::Resolved,
    ] {
        client
            .update_case_status(v1::UpdateCaseStatusRequest {
                case_id: done.clone(),
                status: to as i32,
                ..Default::default()
            })
            .await
            .unwrap();
    }
    // every page of a listing, its case ids in order
    let list = |req: v1::ListCasesRequest| {
        let mut client = client.clone();
        async move {
            let (mut ids, mut req) = (Vec::new(), req);
            loop {
                let page = client.list_cases(req.clone()).await.unwrap().into_inner();
                ids.extend(page.cases.into_iter().map(|c| c.id));
                if page.next_page_token.is_empty() {
                    return ids;
                }
                req.page_token = page.next_page_token;
            }
        }
    };
    // (request, case ids, newest received first)
    let june = Some(timestamp(1_780_272_000_000)); // 2026-06-01
    for (req, want) in [
        (
            v1::ListCasesRequest {
                overdue: true,
                ..Default::default()
            },
            vec![late.clone()],
        ),
        (
            v1::ListCasesRequest {
                overdue: true,
                page_size: 1,
                ..Default::default()
            },
            vec![late.clone()],
        ),
        (
            v1::ListCasesRequest {
                due_before: june,
                page_size: 1,
                ..Default::default()
            },
            vec![done.clone(), late.clone()],
        ),
        (
            v1::ListCasesRequest::default(),
            vec![fresh.clone(), done.clone(), late.clone()],
        ),
    ] {
        assert_eq!(list(req.clone()).await, want, "{req:?}");
    }
    server.stop().await.unwrap();
}
