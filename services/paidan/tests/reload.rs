//! ReloadModel: the eval gate refuses a worse model (saying both scores), `force` overrides it,
//! and a reload under load drops no request.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use paidan_proto::v1;
use paidan_proto::v1::admin_client::AdminClient;
use paidan_testkit::model::{TinyModel, first_rows, train_tiny};
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;

/// A deliberately weak model: 150 training rows, one epoch, tiny features, the embedding-bag
/// recipe (so a reload also swaps the serving engine: the shipped model is linear).
fn train_weak_model(dir: &std::path::Path) -> std::path::PathBuf {
    let data = common::repo_root().join("models/data");
    let weak = TinyModel {
        dev: Some(data.join("city_dev.jsonl")),
        taxonomy: Some(common::repo_root().join("models/taxonomy.toml")),
        ..TinyModel::new(first_rows(&data.join("city_train.jsonl"), 150))
    };
    train_tiny(dir, "weak", &weak)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gate_refuses_a_worse_model_and_reload_drops_no_request() {
    let dir = tempfile::tempdir().unwrap();
    let weak = train_weak_model(dir.path());
    let mut cfg = common::serve_config(&dir.path().join("data"), &common::default_model());
    cfg.gate_set = Some(common::repo_root().join("models/data/city_dev.jsonl"));
    let server = paidan::server::start(cfg, false).await.unwrap();
    let ch = common::channel(server.addr).await;
    common::wait_health(&ch, "paidan.v1.Intake", ServingStatus::Serving).await;
    let mut admin = AdminClient::new(ch.clone());

    let err = admin
        .reload_model(v1::ReloadModelRequest {
            model: weak.display().to_string(),
            force: false,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert!(
        err.message().contains("refused") && err.message().contains("macro-F1"),
        "{}",
        err.message()
    );

    // Reloading the shipped model (equal score) while clients triage: every request is answered.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
        let mut c = v1::intake_client::IntakeClient::new(ch.clone());
        clients.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let r = c
                    .triage(v1::TriageRequest {
                        text: "工地夜间施工噪音扰民".into(),
                        ..Default::default()
                    })
                    .await;
                match r {
                    Ok(_) => ok.fetch_add(1, Ordering::Relaxed),
                    Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    let same = admin
        .reload_model(v1::ReloadModelRequest {
            model: common::default_model().display().to_string(),
            force: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(same.new_macro_f1 > 0.0 && (same.new_macro_f1 - same.previous_macro_f1).abs() < 1e-6);
    let forced = admin
        .reload_model(v1::ReloadModelRequest {
            model: weak.display().to_string(),
            force: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(forced.model_version.starts_with("weak"), "{forced:?}");
    assert!(forced.new_macro_f1 < forced.previous_macro_f1, "{forced:?}");
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.unwrap();
    }
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "requests failed during reload"
    );
    assert!(ok.load(Ordering::Relaxed) > 0);
    let t = v1::intake_client::IntakeClient::new(ch)
        .triage(v1::TriageRequest {
            text: "路灯坏了".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        t.model_version, forced.model_version,
        "the forced model serves now"
    );
    server.stop().await.unwrap();
}
