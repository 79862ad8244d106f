//! SIGKILL the storing + forwarding process while deliveries are in flight, restart it, and check
//! that every acknowledged case reaches the platform (at least once, de-duplicable to exactly once
//! by idempotency key).

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use paidan_testkit::receiver::{FailMode, ReceiverConfig, start_receiver};

fn spawn_worker(
    dir: &std::path::Path,
    endpoint: &str,
    first: usize,
    count: usize,
) -> (Child, Arc<Mutex<Vec<String>>>, std::thread::JoinHandle<()>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_paidan-forward-worker"))
        .args([
            dir.to_str().unwrap(),
            endpoint,
            &first.to_string(),
            &count.to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let acks = Arc::new(Mutex::new(Vec::new()));
    let stdout = child.stdout.take().unwrap();
    let a = acks.clone();
    // The reader ends when the child's stdout closes (it exits or is killed); join it before
    // counting acks, or lines still in the pipe are missed.
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(id) = line.strip_prefix("ACK ") {
                a.lock().unwrap().push(id.to_string());
            }
        }
    });
    (child, acks, reader)
}

async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..6_000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("gave up waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_delivery_loses_no_acknowledged_case() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    // flaky: half the deliveries fail, so retries are in flight when the kill lands
    let receiver = start_receiver(ReceiverConfig {
        grpc_addr: Some("127.0.0.1:0".parse().unwrap()),
        out: Some(dir.path().join("received.jsonl")),
        mode: FailMode::Flaky,
        ..ReceiverConfig::default()
    })
    .await
    .unwrap();
    let endpoint = format!("http://{}", receiver.grpc_addr.unwrap());

    let mut all_acked: HashSet<String> = HashSet::new();
    for round in 0..3 {
        let (mut child, acks, reader) = spawn_worker(&db, &endpoint, round * 1_000, 60);
        let before = receiver.received().len();
        // Kill only once this round has acknowledged cases and deliveries are under way.
        wait_for("some acknowledged cases and deliveries", || {
            acks.lock().unwrap().len() >= 5 && receiver.received().len() >= before + 5
        })
        .await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        all_acked.extend(acks.lock().unwrap().iter().cloned());
    }
    assert!(all_acked.len() >= 15);
    // restart with nothing new to submit: it only drains the outbox
    let (mut child, _, _) = spawn_worker(&db, &endpoint, 99_000, 0);
    let want: HashSet<String> = all_acked.iter().map(|id| format!("{id}:1")).collect();
    wait_for("every acknowledged case", || {
        want.is_subset(&receiver.unique_keys())
    })
    .await;
    child.kill().unwrap();
    child.wait().unwrap();

    let received = receiver.received();
    let mut first_seen: HashMap<String, usize> = HashMap::new();
    for (i, r) in received.iter().enumerate() {
        assert_eq!(r.idempotency_key, format!("{}:{}", r.case_id, r.sequence));
        // a duplicate is exactly a repeat of a key received before
        assert_eq!(
            r.duplicate,
            first_seen.contains_key(&r.idempotency_key),
            "{r:?}"
        );
        first_seen.entry(r.idempotency_key.clone()).or_insert(i);
    }
    let unique: HashSet<&String> = received.iter().map(|r| &r.idempotency_key).collect();
    assert_eq!(
        unique.len(),
        received.iter().filter(|r| !r.duplicate).count()
    );
    receiver.shutdown().await;
}
