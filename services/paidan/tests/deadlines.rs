//! Due-soon and overdue events (督办, issue 16) end to end: a real server with the shipped model,
//! a deadline watch on a short interval and a real platform (the test kit's gRPC receiver). Each
//! case gets one event per deadline, in its own sequence after its earlier events; an extension
//! (延期) that leaves the case overdue gives a new deadline and one more event; a restarted
//! server sends none again. Run on sled and on PostgreSQL (`PAIDAN_TEST_PG_URL`, see
//! scripts/pg-throwaway.sh).

mod common;
#[path = "../../paidan-store-pg/tests/pg/mod.rs"]
mod pg;

use std::time::Duration;

use common::*;
use paidan::config::ServeConfig;
use paidan::deadline_watch::DeadlineWatchConfig;
use paidan_core::deadlines::Notice;
use paidan_forward::{ForwardConfig, SinkConfig};
use paidan_proto::convert::timestamp;
use paidan_proto::v1;
use paidan_testkit::receiver::{ReceiverConfig, ReceiverHandle, start_receiver};
use tonic_health::pb::health_check_response::ServingStatus;

const DAY: i64 = 24 * 3600 * 1000;

fn config(dir: &std::path::Path, receiver: &ReceiverHandle, url: Option<&str>) -> ServeConfig {
    let mut cfg = serve_config(&dir.join("data"), &default_model());
    cfg.store_url = url.map(str::to_string);
    cfg.forward = Some(ForwardConfig {
        sinks: vec![SinkConfig::Grpc {
            name: "platform".into(),
            endpoint: format!("http://{}", receiver.grpc_addr.unwrap()),
        }],
        poll_interval: Duration::from_millis(50),
        base_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(200),
        ..ForwardConfig::default()
    });
    cfg.deadline_watch = DeadlineWatchConfig {
        enabled: true,
        interval: Duration::from_millis(100),
        due_soon_days: 1,
    };
    cfg
}

async fn serving(
    cfg: ServeConfig,
) -> (
    paidan::server::ServerHandle,
    v1::intake_client::IntakeClient<tonic::transport::Channel>,
) {
    let server = paidan::server::start(cfg, false).await.unwrap();
    let ch = channel(server.addr).await;
    wait_health(&ch, "paidan.v1.Intake", ServingStatus::Serving).await;
    (server, v1::intake_client::IntakeClient::new(ch))
}

/// The kinds the platform received for `case`, by sequence, each key once.
fn kinds(receiver: &ReceiverHandle, case: &str) -> Vec<(u64, String)> {
    let mut out: Vec<(u64, String)> = receiver
        .received()
        .into_iter()
        .filter(|r| r.case_id == case && !r.duplicate)
        .map(|r| (r.sequence, r.kind))
        .collect();
    out.sort();
    out
}

fn seq(kinds: &[(u64, &str)]) -> Vec<(u64, String)> {
    kinds.iter().map(|(n, k)| (*n, k.to_string())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn due_soon_and_overdue_reach_the_platform_once_per_deadline() {
    once_per_deadline(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn due_soon_and_overdue_reach_the_platform_once_per_deadline_on_postgres() {
    let db = pg::TestDb::new("deadlines");
    once_per_deadline(Some(&db.url)).await;
}

async fn once_per_deadline(url: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let receiver = start_receiver(ReceiverConfig {
        grpc_addr: Some("127.0.0.1:0".parse().unwrap()),
        ..ReceiverConfig::default()
    })
    .await
    .unwrap();
    let (server, mut client) = serving(config(dir.path(), &receiver, url)).await;
    let now = paidan_core::now_millis();

    // A: a complaint received 60 days ago, long overdue. B: a consultation received now, due at
    // the end of the next working day: due soon. C: a complaint received now, due in days.
    let mut a = complaint("dl-a", "楼下工地每天夜里两点还在施工，噪音太大了睡不着");
    a.received_at = Some(timestamp(now - 60 * DAY));
    a.request_type = v1::RequestType::Complaint as i32;
    a.urgency = v1::Urgency::Normal as i32;
    let mut b = complaint("dl-b", "请问小区门口占道摆摊的归哪个部门管，怎么投诉");
    b.request_type = v1::RequestType::Consultation as i32;
    let mut c = complaint("dl-c", "小区旁边的河道发黑发臭，垃圾漂浮，夏天气味很大");
    c.request_type = v1::RequestType::Complaint as i32;
    c.urgency = v1::Urgency::Normal as i32;
    let mut ids = Vec::new();
    for r in [a, b, c] {
        let s = client.submit_complaint(r).await.unwrap().into_inner();
        assert!(s.duplicate_of.is_empty());
        ids.push(s.case_id);
    }
    let (a, b, c) = (&ids[0], &ids[1], &ids[2]);

    eventually("the overdue and due-soon events", 120, async || {
        (kinds(&receiver, a).len() == 2 && kinds(&receiver, b).len() == 2).then_some(())
    })
    .await;
    assert_eq!(kinds(&receiver, a), seq(&[(1, "created"), (2, "overdue")]));
    assert_eq!(kinds(&receiver, b), seq(&[(1, "created"), (2, "due_soon")]));
    // the event carries the case with the deadline it is about
    let overdue = receiver
        .received()
        .into_iter()
        .find(|r| &r.case_id == a && r.kind == "overdue")
        .unwrap();
    assert!(overdue.event.case.due_at.is_some());
    assert!(
        overdue
            .event
            .case
            .history
            .last()
            .unwrap()
            .note
            .starts_with("督办: overdue"),
        "{:?}",
        overdue.event.case.history
    );

    // 延期 by one working day: still past, a new deadline → one more overdue event, after the
    // extension's own
    client
        .extend_deadline(v1::ExtendDeadlineRequest {
            case_id: a.clone(),
            working_days: 1,
            reason: "需协调".into(),
            actor: "platform".into(),
        })
        .await
        .unwrap();
    eventually("the overdue event of the new deadline", 120, async || {
        (kinds(&receiver, a).len() == 4).then_some(())
    })
    .await;
    assert_eq!(
        kinds(&receiver, a),
        seq(&[
            (1, "created"),
            (2, "overdue"),
            (3, "updated"),
            (4, "overdue")
        ])
    );
    // nothing more is owed: a pass now (the watch's own run every 100 ms) enqueues nothing
    assert_eq!(
        server
            .intake
            .watch_deadlines(paidan_core::now_millis(), 1)
            .await
            .unwrap(),
        Vec::<(String, Notice)>::new()
    );
    server.stop().await.unwrap();

    // Restarted over the same store: no event again. A new consultation's due-soon event shows
    // the restarted watch has run its passes; once every event is delivered, A, B and C have
    // exactly what they had.
    let (server, mut client) = serving(config(dir.path(), &receiver, url)).await;
    let d = client
        .submit_complaint(complaint("dl-d", "请问楼道里堆放的杂物归哪个部门管"))
        .await
        .unwrap()
        .into_inner()
        .case_id;
    eventually("the new case's due-soon event", 120, async || {
        (kinds(&receiver, &d).len() == 2).then_some(())
    })
    .await;
    assert_eq!(kinds(&receiver, &d)[1].1, "due_soon");
    assert_eq!(
        server
            .intake
            .watch_deadlines(paidan_core::now_millis(), 1)
            .await
            .unwrap(),
        Vec::<(String, Notice)>::new()
    );
    eventually("every event delivered", 120, async || {
        let mut all = true;
        for id in [a, b, c, &d] {
            let f = client
                .get_case(v1::GetCaseRequest {
                    case_id: id.clone(),
                })
                .await
                .unwrap()
                .into_inner()
                .forwarding
                .unwrap();
            all &= f.events_pending == 0;
        }
        all.then_some(())
    })
    .await;
    assert_eq!(kinds(&receiver, a).len(), 4);
    assert_eq!(kinds(&receiver, b), seq(&[(1, "created"), (2, "due_soon")]));
    assert_eq!(kinds(&receiver, c), seq(&[(1, "created")]));
    server.stop().await.unwrap();
    receiver.shutdown().await;
}
