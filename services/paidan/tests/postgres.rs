//! `paidan serve` on PostgreSQL (`store_url`): a real server on 127.0.0.1:0 over its own database
//! on the test server (`PAIDAN_TEST_PG_URL`, see scripts/pg-throwaway.sh), driven by a real
//! client: SubmitComplaint (a retry, a report of the same matter), GetCase, UpdateCaseStatus;
//! what the server wrote is then read back from the database itself, and a restarted server on
//! the same database serves it. Nothing goes to the sled directory.

mod common;
#[path = "../../paidan-store-pg/tests/pg/mod.rs"]
mod pg;

use paidan_proto::v1;
use paidan_store::{CaseStatus, Store};
use paidan_store_pg::PgStore;
use tonic_health::pb::health_check_response::ServingStatus;

async fn serve_on(
    url: &str,
    data_dir: &std::path::Path,
) -> (
    paidan::server::ServerHandle,
    v1::intake_client::IntakeClient<tonic::transport::Channel>,
) {
    let mut cfg = common::serve_config(data_dir, &common::default_model());
    cfg.store_url = Some(url.to_string());
    let handle = paidan::server::start(cfg, false)
        .await
        .expect("server starts on PostgreSQL");
    let ch = common::channel(handle.addr).await;
    common::wait_health(&ch, "paidan.v1.Intake", ServingStatus::Serving).await;
    (handle, v1::intake_client::IntakeClient::new(ch))
}

const SMOKE: &str =
    "幸福家园小区3栋楼下的烧烤店每天晚上油烟直排，油烟味很大，家里不能开窗，请城管处理。";
const SMOKE_AGAIN: &str =
    "投诉幸福家园小区3栋楼下烧烤店，晚上油烟直排很严重，油烟味大家里都不敢开窗，希望城管来处理。";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_on_postgres_submits_reads_and_updates_cases() {
    let db = pg::TestDb::new("grpc");
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("sled");
    let (server, mut client) = serve_on(&db.url, &data_dir).await;

    let first = client
        .submit_complaint(common::complaint("pg-1", SMOKE))
        .await
        .unwrap()
        .into_inner();
    assert!(first.created && first.duplicate_of.is_empty(), "{first:?}");
    let retry = client
        .submit_complaint(common::complaint("pg-1", SMOKE))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (retry.case_id.as_str(), retry.created),
        (first.case_id.as_str(), false)
    );
    let other_content = client
        .submit_complaint(common::complaint("pg-1", SMOKE_AGAIN))
        .await
        .unwrap_err();
    assert_eq!(other_content.code(), tonic::Code::AlreadyExists);
    // the duplicate lookup runs on the database's band keys
    let second = client
        .submit_complaint(common::complaint("pg-2", SMOKE_AGAIN))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.duplicate_of, first.case_id, "{second:?}");

    let get = |id: &str| v1::GetCaseRequest { case_id: id.into() };
    let case = client
        .get_case(get(&first.case_id))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(case.status, v1::CaseStatus::Accepted as i32);
    assert_eq!((case.request_id.as_str(), case.report_count), ("pg-1", 2));
    let updated = client
        .update_case_status(v1::UpdateCaseStatusRequest {
            case_id: first.case_id.clone(),
            status: v1::CaseStatus::Dispatched as i32,
            note: "派往区城管局".into(),
            actor: "platform".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.status, v1::CaseStatus::Dispatched as i32);
    let case = client
        .get_case(get(&first.case_id))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(case.status, v1::CaseStatus::Dispatched as i32);
    assert_eq!(case.history.len(), 1);
    let missing = client.get_case(get("PD999999999999")).await.unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);
    server.stop().await.unwrap();
    assert!(!data_dir.exists(), "nothing was written for sled");

    // What the server acknowledged is in the database.
    let (url, id) = (db.url.clone(), first.case_id.clone());
    let (stored, pending) = tokio::task::spawn_blocking(move || {
        let store = PgStore::open(&url).unwrap();
        (
            store
                .get_case(&id)
                .unwrap()
                .expect("the case is in PostgreSQL"),
            store.outbox_len(false).unwrap(),
        )
    })
    .await
    .unwrap();
    assert_eq!(stored.status, CaseStatus::Dispatched);
    assert_eq!(stored.history[0].note, "派往区城管局");
    assert_eq!(stored.reports.len(), 1);
    // no sink configured: Created, DuplicateLinked and Updated of the master wait in the outbox
    assert_eq!(pending, 3);

    // A restarted server on the same database serves it.
    let (server, mut client) = serve_on(&db.url, &data_dir).await;
    let case = client
        .get_case(get(&first.case_id))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(case.status, v1::CaseStatus::Dispatched as i32);
    let retry = client
        .submit_complaint(common::complaint("pg-2", SMOKE_AGAIN))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((retry.case_id, retry.created), (second.case_id, false));
    server.stop().await.unwrap();
}

/// Many submits at once reach the writer together, so its rounds (one transaction each on
/// PostgreSQL) hold several: each request id still gets one case however often it is sent in
/// one round, and the reports of one matter share one open case (a later job of a round sees
/// the earlier jobs' uncommitted cases).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_submits_on_postgres_keep_one_case_per_request_and_per_matter() {
    let db = pg::TestDb::new("grpc_rounds");
    let tmp = tempfile::tempdir().unwrap();
    let (server, client) = serve_on(&db.url, &tmp.path().join("sled")).await;
    let sends = (0..24).map(|i| {
        let mut client = client.clone();
        let rid = format!("pg-r-{}", i % 8);
        // a request id always carries the same content; the matter's two wordings alternate
        let text = if i % 2 == 0 { SMOKE } else { SMOKE_AGAIN };
        async move {
            let r = client
                .submit_complaint(common::complaint(&rid, text))
                .await
                .unwrap()
                .into_inner();
            (rid, r)
        }
    });
    let answers = futures::future::join_all(sends).await;
    let mut by_request = std::collections::BTreeMap::<String, Vec<_>>::new();
    for (rid, r) in &answers {
        by_request.entry(rid.clone()).or_default().push(r);
    }
    assert_eq!(by_request.len(), 8);
    for (rid, rs) in &by_request {
        let ids: std::collections::BTreeSet<&str> = rs.iter().map(|r| r.case_id.as_str()).collect();
        assert_eq!(ids.len(), 1, "{rid}: one case {rs:?}");
        assert_eq!(rs.iter().filter(|r| r.created).count(), 1, "{rid}: {rs:?}");
    }
    let masters: std::collections::BTreeSet<&str> = answers
        .iter()
        .map(|(_, r)| {
            if r.duplicate_of.is_empty() {
                r.case_id.as_str()
            } else {
                r.duplicate_of.as_str()
            }
        })
        .collect();
    assert_eq!(masters.len(), 1, "one matter, one open case: {answers:?}");
    server.stop().await.unwrap();
}
