//! Durability: SIGKILL the server process while clients submit; after a restart every
//! acknowledged case is present and intact.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use paidan_proto::v1;
use paidan_proto::v1::intake_client::IntakeClient;
use tonic_health::pb::health_check_response::ServingStatus;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_case_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut child, addr) = common::spawn_server(&data, &[]);
    let ch = common::channel(addr).await;
    common::wait_health(&ch, "paidan.v1.Intake", ServingStatus::Serving).await;

    // request_id → (case_id, text) for every acknowledged submit.
    let acked: Arc<Mutex<HashMap<String, (String, String)>>> = Arc::default();
    let mut writers = Vec::new();
    for w in 0..4 {
        let (acked, mut client) = (acked.clone(), IntakeClient::new(ch.clone()));
        writers.push(tokio::spawn(async move {
            for i in 0..100_000 {
                let rid = format!("w{w}-{i}");
                let text = format!(
                    "第{w}组第{i}号投诉：{}号楼下餐馆油烟直排，气味很大，请尽快处理",
                    i % 50
                );
                let mut req = common::complaint(&rid, &text);
                req.jurisdiction = format!("J{w}-{i}");
                match client.submit_complaint(req).await {
                    Ok(r) => {
                        acked
                            .lock()
                            .unwrap()
                            .insert(rid, (r.into_inner().case_id, text));
                    }
                    Err(_) => return, // the server died under us
                }
            }
        }));
    }
    // Let some writes land, then kill without warning.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while acked.lock().unwrap().len() < 300 {
        assert!(
            std::time::Instant::now() < deadline,
            "server acknowledged too few writes"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    child.kill().expect("SIGKILL");
    child.wait().unwrap();
    for w in writers {
        w.await.unwrap();
    }
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    assert!(acked.len() >= 300);

    let (mut child, addr) = common::spawn_server(&data, &[]);
    let ch = common::channel(addr).await;
    common::wait_health(&ch, "", ServingStatus::Serving).await;
    let mut client = IntakeClient::new(ch);
    for (rid, (case_id, text)) in &acked {
        let case = client
            .get_case(v1::GetCaseRequest {
                case_id: case_id.clone(),
            })
            .await
            .unwrap_or_else(|e| panic!("acknowledged case {case_id} ({rid}) lost: {e:?}"))
            .into_inner();
        assert_eq!(&case.request_id, rid);
        assert_eq!(&case.text, text);
        assert!(case.triage.is_some());
    }
    // Indexes agree with the cases: the listing holds every acknowledged case.
    let mut listed = 0;
    let mut token = String::new();
    loop {
        let page = client
            .list_cases(v1::ListCasesRequest {
                page_size: 1000,
                page_token: token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        listed += page.cases.len();
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert!(
        listed >= acked.len(),
        "listed {listed} < acknowledged {}",
        acked.len()
    );
    child.kill().unwrap();
    child.wait().unwrap();
}
