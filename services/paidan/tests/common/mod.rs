//! Test support: a real paidan server on 127.0.0.1:0 (in-process or as a child process) and a
//! real tonic client.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use paidan::config::{FileConfig, ServeConfig};
use paidan::server::ServerHandle;
use paidan_proto::v1;
use paidan_proto::v1::intake_client::IntakeClient;
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The shipped model, or `PAIDAN_TEST_MODEL_DIR` when set (to test another artifact).
pub fn default_model() -> PathBuf {
    std::env::var_os("PAIDAN_TEST_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("models/default"))
}

pub fn serve_config(data_dir: &Path, model_dir: &Path) -> ServeConfig {
    let mut cfg = ServeConfig::resolve(
        FileConfig::default(),
        Some("127.0.0.1:0".parse().unwrap()),
        Some(data_dir.to_path_buf()),
        Some(model_dir.to_path_buf()),
        None,
    );
    cfg.intake.inference_threads = 1;
    cfg
}

pub async fn channel(addr: std::net::SocketAddr) -> Channel {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
        {
            Ok(c) => return c,
            Err(e) if Instant::now() > deadline => panic!("cannot connect to {addr}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Polls gRPC health until `service` reports `want`.
pub async fn wait_health(ch: &Channel, service: &str, want: ServingStatus) {
    let mut health = HealthClient::new(ch.clone());
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let got = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.into(),
            })
            .await
            .map(|r| r.into_inner().status);
        if matches!(got, Ok(s) if s == want as i32) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "health of {service:?} never became {want:?}: {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An in-process server with the shipped model, SERVING.
pub async fn serving(data_dir: &Path) -> (ServerHandle, IntakeClient<Channel>, Channel) {
    let handle = paidan::server::start(serve_config(data_dir, &default_model()), false)
        .await
        .expect("server starts");
    let ch = channel(handle.addr).await;
    wait_health(&ch, "paidan.v1.Intake", ServingStatus::Serving).await;
    (handle, IntakeClient::new(ch.clone()), ch)
}

pub fn complaint(request_id: &str, text: &str) -> v1::SubmitComplaintRequest {
    v1::SubmitComplaintRequest {
        request_id: request_id.into(),
        title: String::new(),
        text: text.into(),
        channel: v1::Channel::Channel12345 as i32,
        jurisdiction: "A3区".into(),
        caller_phone: "13812345678".into(),
        address: String::new(),
        location: None,
        received_at: None,
    }
}

/// `paidan serve` as a child process on 127.0.0.1:0; returns the child and its address.
pub fn spawn_server(data_dir: &Path, extra: &[&str]) -> (Child, std::net::SocketAddr) {
    let addr_file = data_dir.with_extension("addr");
    let _ = std::fs::remove_file(&addr_file);
    let child = Command::new(env!("CARGO_BIN_EXE_paidan"))
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .arg("--model-dir")
        .arg(default_model())
        .arg("--addr-file")
        .arg(&addr_file)
        .args(extra)
        .env("PAIDAN_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn paidan serve");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(s) = std::fs::read_to_string(&addr_file) {
            if let Ok(addr) = s.trim().parse() {
                return (child, addr);
            }
        }
        assert!(Instant::now() < deadline, "paidan serve did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}
