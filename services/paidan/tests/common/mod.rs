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
        ..Default::default()
    }
}

/// `paidan serve` as a child process on 127.0.0.1:0; returns the child and its address.
pub fn spawn_server(data_dir: &Path, extra: &[&str]) -> (Child, std::net::SocketAddr) {
    spawn_server_logging(data_dir, extra, "warn")
}

/// [`spawn_server`] with the child's `PAIDAN_LOG` filter (its stderr is the test's).
pub fn spawn_server_logging(
    data_dir: &Path,
    extra: &[&str],
    log: &str,
) -> (Child, std::net::SocketAddr) {
    let addr_file = data_dir.with_extension("addr");
    let _ = std::fs::remove_file(&addr_file);
    let mut child = Command::new(env!("CARGO_BIN_EXE_paidan"))
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .arg("--model-dir")
        .arg(default_model())
        .arg("--addr-file")
        .arg(&addr_file)
        .args(extra)
        .env("PAIDAN_LOG", log)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn paidan serve");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(s) = std::fs::read_to_string(&addr_file)
            && let Ok(addr) = s.trim().parse()
        {
            return (child, addr);
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("paidan serve exited before listening: {status}");
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("paidan serve did not start");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A child process killed (SIGKILL) and reaped when dropped, so a failing test leaves no server
/// or receiver behind.
pub struct Proc(pub Child);

impl Proc {
    pub fn id(&self) -> u32 {
        self.0.id()
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }

    /// SIGTERM, then wait (bounded) for a clean exit.
    pub fn terminate(&mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status()
            .expect("run kill -TERM");
        assert!(status.success(), "kill -TERM failed");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(st) = self.0.try_wait().expect("wait for child") {
                assert!(st.success(), "child exited with {st} after SIGTERM");
                return;
            }
            assert!(
                Instant::now() < deadline,
                "child did not exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            self.kill();
        }
    }
}

/// `paidan-receiver` (the test kit's) as a child process (gRPC CaseSink + webhook on 127.0.0.1:0), appending what it
/// accepts to `out`; its mode is switched through `control` (read by the receiver on every request).
pub struct ReceiverProc {
    pub proc: Proc,
    pub grpc: std::net::SocketAddr,
    pub http: std::net::SocketAddr,
    pub out: PathBuf,
    pub control: PathBuf,
    pub secret: String,
}

impl ReceiverProc {
    /// ok | fail | hang | flaky | reject
    pub fn set_mode(&self, mode: &str) {
        // Write then rename: the receiver never reads a half-written mode.
        let tmp = self.control.with_extension("tmp");
        std::fs::write(&tmp, mode).unwrap();
        std::fs::rename(&tmp, &self.control).unwrap();
    }

    /// Every delivery the receiver accepted so far (redeliveries included), in arrival order.
    pub fn received(&self) -> Vec<paidan_testkit::Received> {
        let text = std::fs::read_to_string(&self.out).unwrap_or_default();
        // A line still being written has no newline yet and does not parse: skipped.
        text.lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

pub fn spawn_receiver(dir: &Path, mode: &str) -> ReceiverProc {
    std::fs::create_dir_all(dir).unwrap();
    let addr_file = dir.join("receiver.addr");
    let out = dir.join("received.jsonl");
    let control = dir.join("receiver.mode");
    let secret = "forward-test-secret".to_string();
    let _ = std::fs::remove_file(&addr_file);
    let child = Command::new(paidan_testkit::bin_path("paidan-receiver"))
        .args([
            "--grpc-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
            "--fail-mode",
            mode,
            "--secret",
            &secret,
        ])
        .arg("--out")
        .arg(&out)
        .arg("--control-file")
        .arg(&control)
        .arg("--addr-file")
        .arg(&addr_file)
        .env("PAIDAN_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn paidan-receiver");
    let mut proc = Proc(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    let addrs: serde_json::Value = loop {
        if let Ok(s) = std::fs::read_to_string(&addr_file) {
            break serde_json::from_str(&s).expect("receiver address file is JSON");
        }
        if let Ok(Some(status)) = proc.0.try_wait() {
            panic!("paidan-receiver exited before listening: {status}");
        }
        assert!(Instant::now() < deadline, "paidan-receiver did not start");
        std::thread::sleep(Duration::from_millis(20));
    };
    let addr = |k: &str| addrs[k].as_str().unwrap().parse().unwrap();
    let r = ReceiverProc {
        grpc: addr("grpc"),
        http: addr("http"),
        proc,
        out,
        control,
        secret,
    };
    r.set_mode(mode);
    r
}

/// Poll `cond` until it returns Some (every 50 ms, at most `secs` seconds); panics with `what`.
pub async fn eventually<T>(what: &str, secs: u64, mut cond: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(t) = cond().await {
            return t;
        }
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
