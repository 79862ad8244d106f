//! The Python grpcio client generated from proto/ talks to a real server. `.ci/run` installs
//! clients/python/requirements.txt first; without grpcio this test fails and says so.

mod common;

use std::process::Command;

fn python(args: &[&str]) -> (bool, String, String) {
    let script = common::repo_root().join("clients/python/paidan_client.py");
    let out = Command::new("python3")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_grpcio_client_triages_submits_and_reads() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _, _) = common::serving(dir.path()).await;
    let addr = server.addr.to_string();
    tokio::task::spawn_blocking(move || {
        let addr = addr.as_str();
        let (ok, out, err) = python(&[
            "--addr",
            addr,
            "triage",
            "工地夜间施工噪音扰民，凌晨还在打桩",
        ]);
        assert!(
            ok,
            "python client failed (pip install -r clients/python/requirements.txt?): {err}"
        );
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["category"]["code"], "noise_construction", "{out}");

        let (ok, out, err) = python(&[
            "--addr",
            addr,
            "submit",
            "--request-id",
            "py-1",
            "--phone",
            "13912345678",
            "小区门口流动摊贩占道经营",
        ]);
        assert!(ok, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let case_id = v["caseId"].as_str().expect("caseId").to_owned();

        let (ok, out, err) = python(&["--addr", addr, "get", &case_id]);
        assert!(ok, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["requestId"], "py-1");
        assert_eq!(v["callerPhone"], "139****5678");

        let (ok, out, _) = python(&["--addr", addr, "get", "PD999999999999"]);
        assert!(!ok);
        assert!(out.contains("NOT_FOUND"), "{out}");
    })
    .await
    .unwrap();
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_sends_its_bearer_token() {
    use paidan::access::{AccessConfig, Role, TokenConfig};
    use sha2::{Digest, Sha256};
    let token = |name: &str, secret: &str, role: Role| TokenConfig {
        name: name.into(),
        sha256: hex::encode(Sha256::digest(secret.as_bytes())),
        roles: vec![role],
        rate_per_sec: None,
        burst: None,
    };
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::serve_config(&dir.path().join("data"), &common::default_model());
    cfg.access = AccessConfig {
        tokens: vec![
            token("py-intake", "py-secret-intake", Role::Intake),
            token("py-platform", "py-secret-platform", Role::Platform),
        ],
        ..AccessConfig::default()
    };
    let server = paidan::server::start(cfg, false).await.unwrap();
    let ch = common::channel(server.addr).await;
    common::wait_health(
        &ch,
        "paidan.v1.Intake",
        tonic_health::pb::health_check_response::ServingStatus::Serving,
    )
    .await;
    let addr = server.addr.to_string();
    tokio::task::spawn_blocking(move || {
        let addr = addr.as_str();
        let text = "小区门口流动摊贩占道经营";
        let (ok, out, err) = python(&["--addr", addr, "triage", text]);
        assert!(!ok, "{err}");
        assert!(out.contains("UNAUTHENTICATED"), "{out}");

        let with = |secret: &'static str, args: &[&str]| {
            let mut all = vec!["--addr", addr, "--token", secret];
            all.extend_from_slice(args);
            python(&all)
        };
        let (ok, out, err) = with(
            "py-secret-intake",
            &[
                "submit",
                "--request-id",
                "py-auth-1",
                "--phone",
                "13912345678",
                text,
            ],
        );
        assert!(ok, "{out} {err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let case_id = v["caseId"].as_str().expect("caseId").to_owned();

        let (ok, out, _) = with("py-secret-intake", &["get", &case_id]);
        assert!(!ok);
        assert!(out.contains("PERMISSION_DENIED"), "{out}");

        let (ok, out, err) = with("py-secret-platform", &["get", &case_id]);
        assert!(ok, "{out} {err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            v["callerPhone"], "13912345678",
            "the platform sees the number"
        );
    })
    .await
    .unwrap();
    server.stop().await.unwrap();
}
