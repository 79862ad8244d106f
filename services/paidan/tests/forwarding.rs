//! Forwarding between real processes on loopback: `paidan serve` (a child process, configured
//! with a gRPC and a webhook sink) forwards to `paidan-receiver` (a child process that appends what
//! it accepts to a JSONL file and is switched between ok / fail / hang / flaky by a control file).

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use common::{Proc, ReceiverProc};
use paidan_proto::v1;
use paidan_proto::v1::intake_client::IntakeClient;
use paidan_testkit::Received;
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;

const VIAS: [&str; 2] = ["grpc", "webhook"];

/// A config file for `paidan serve` forwarding to both sides of `receiver`, retrying fast.
fn forward_config(dir: &Path, receiver: &ReceiverProc) -> PathBuf {
    let path = dir.join("paidan.toml");
    let text = format!(
        r#"
[forward]
max_attempts = 1000000
base_backoff = "20ms"
max_backoff = "250ms"
poll_interval = "50ms"
timeout = "1s"
batch = 64
concurrency = 8

[[forward.sinks]]
type = "grpc"
name = "platform"
endpoint = "http://{grpc}"

[[forward.sinks]]
type = "webhook"
name = "hook"
url = "http://{http}/events"
secret = "{secret}"
"#,
        grpc = receiver.grpc,
        http = receiver.http,
        secret = receiver.secret,
    );
    std::fs::write(&path, text).unwrap();
    path
}

async fn start_serve(data: &Path, config: &Path) -> (Proc, IntakeClient<Channel>) {
    // Failed deliveries are logged at warn, hundreds of them here: errors only.
    let (child, addr) =
        common::spawn_server_logging(data, &["--config", config.to_str().unwrap()], "error");
    let proc = Proc(child);
    let ch = common::channel(addr).await;
    common::wait_health(&ch, "paidan.v1.Intake", ServingStatus::Serving).await;
    (proc, IntakeClient::new(ch))
}

/// A complaint of its own matter: a jurisdiction of its own keeps dedup from linking it.
fn distinct(rid: &str, n: usize) -> v1::SubmitComplaintRequest {
    let mut r = common::complaint(
        rid,
        &format!("{n}号楼下餐馆油烟直排，气味很大，家里不能开窗，请尽快处理"),
    );
    r.jurisdiction = format!("J-{rid}");
    r
}

async fn forwarding(client: &mut IntakeClient<Channel>, case_id: &str) -> v1::Forwarding {
    client
        .get_case(v1::GetCaseRequest {
            case_id: case_id.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .forwarding
        .expect("a case carries its forwarding state")
}

fn key(case_id: &str, seq: u64) -> String {
    format!("{case_id}:{seq}")
}

/// Distinct idempotency keys received on one side.
fn keys_via(received: &[Received], via: &str) -> BTreeSet<String> {
    received
        .iter()
        .filter(|r| r.via == via)
        .map(|r| r.idempotency_key.clone())
        .collect()
}

/// What must hold of any receiver log, whatever happened to paidan in between:
/// - every line's key is `<case_id>:<sequence>` of the event it carries;
/// - a repeated key (per side) is a redelivery of the very same event (identical payload);
/// - per case and side, first arrivals come in sequence order without gaps (1, 2, …): an event is
///   never delivered before the earlier events of its case.
///
/// Returns the number of redeliveries.
fn check_log(received: &[Received]) -> usize {
    let mut first: HashMap<(&str, &str), &Received> = HashMap::new();
    let mut next_seq: HashMap<(&str, &str), u64> = HashMap::new();
    let mut repeats = 0;
    for r in received {
        assert_eq!(r.idempotency_key, key(&r.case_id, r.sequence), "{r:?}");
        assert_eq!(r.event.idempotency_key, r.idempotency_key);
        assert_eq!(r.event.case_id, r.case_id);
        assert_eq!(r.event.case.id, r.case_id);
        assert_eq!(r.event.sequence, r.sequence);
        match first.get(&(r.via.as_str(), r.idempotency_key.as_str())) {
            Some(f) => {
                repeats += 1;
                assert_eq!(
                    f.event, r.event,
                    "a redelivery of {} carries the same event",
                    r.idempotency_key
                );
            }
            None => {
                let want = next_seq
                    .entry((r.via.as_str(), r.case_id.as_str()))
                    .or_insert(1);
                assert_eq!(
                    r.sequence, *want,
                    "{} via {}: events of a case arrive in order",
                    r.idempotency_key, r.via
                );
                *want += 1;
                first.insert((r.via.as_str(), r.idempotency_key.as_str()), r);
            }
        }
    }
    repeats
}

/// The receiver fails, then hangs, then recovers: deliveries are retried (the attempt count on the
/// case grows) and nothing arrives while it refuses; once it answers, every event of every case
/// arrives on both sinks, in order, and any repeat is the same event under the same key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_retry_while_the_platform_fails_and_all_arrive_when_it_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = common::spawn_receiver(&dir.path().join("receiver"), "fail");
    let config = forward_config(dir.path(), &receiver);
    let (mut serve, mut client) = start_serve(&dir.path().join("data"), &config).await;

    // Six cases; the first three also move to 派单, a second event of the same case.
    let mut cases = Vec::new();
    for i in 0..6 {
        let r = client
            .submit_complaint(distinct(&format!("retry-{i}"), i))
            .await
            .unwrap()
            .into_inner();
        assert!(r.duplicate_of.is_empty());
        cases.push(r.case_id);
    }
    for id in &cases[..3] {
        client
            .update_case_status(v1::UpdateCaseStatusRequest {
                case_id: id.clone(),
                status: v1::CaseStatus::Dispatched as i32,
                note: "派单".into(),
                actor: "platform".into(),
            })
            .await
            .unwrap();
    }
    let mut expected = BTreeSet::new();
    for (i, id) in cases.iter().enumerate() {
        expected.insert(key(id, 1));
        if i < 3 {
            expected.insert(key(id, 2));
        }
    }

    // Failing: every case is retried, still pending, with the error on record.
    let fail_attempts = common::eventually("retries while the receiver fails", 120, async || {
        let mut attempts = Vec::new();
        for id in &cases {
            let f = forwarding(&mut client, id).await;
            assert_eq!(f.state, v1::ForwardingState::Pending as i32, "{id}: {f:?}");
            if f.attempts < 3 {
                return None;
            }
            assert!(!f.last_error.is_empty(), "{id}: {f:?}");
            attempts.push(f.attempts);
        }
        Some(attempts)
    })
    .await;
    assert!(
        receiver.received().is_empty(),
        "a failing receiver accepts nothing"
    );

    // Hanging: each delivery times out and counts as another failed attempt.
    receiver.set_mode("hang");
    common::eventually("retries while the receiver hangs", 120, async || {
        for (id, before) in cases.iter().zip(&fail_attempts) {
            let f = forwarding(&mut client, id).await;
            assert_eq!(f.state, v1::ForwardingState::Pending as i32, "{id}: {f:?}");
            if f.attempts < before + 2 {
                return None;
            }
        }
        Some(())
    })
    .await;
    assert!(
        receiver.received().is_empty(),
        "a hanging receiver accepts nothing"
    );

    // Recovered: everything arrives on both sides and every case shows delivered.
    receiver.set_mode("ok");
    let received = common::eventually("every event on both sinks", 120, async || {
        let got = receiver.received();
        VIAS.iter()
            .all(|via| keys_via(&got, via) == expected)
            .then_some(got)
    })
    .await;
    common::eventually("every case delivered", 60, async || {
        for id in &cases {
            let f = forwarding(&mut client, id).await;
            if f.state != v1::ForwardingState::Delivered as i32 || f.events_pending != 0 {
                return None;
            }
            assert!(f.delivered_at.is_some() && f.events_delivered >= 1, "{f:?}");
        }
        Some(())
    })
    .await;
    check_log(&received);
    for r in &received {
        let (kind, status) = if r.sequence == 1 {
            ("created", "accepted")
        } else {
            ("updated", "dispatched")
        };
        assert_eq!(
            (r.kind.as_str(), r.event.case.status.as_str()),
            (kind, status),
            "{}",
            r.idempotency_key
        );
        assert!(r.event.case.text.contains("油烟直排"));
    }
    // Forwarding goes on after the recovery: a new case arrives too, and no other key appears.
    let late = client
        .submit_complaint(distinct("retry-late", 99))
        .await
        .unwrap()
        .into_inner()
        .case_id;
    let after = common::eventually("a late case on both sinks", 60, async || {
        let got = receiver.received();
        VIAS.iter()
            .all(|via| keys_via(&got, via).contains(&key(&late, 1)))
            .then_some(got)
    })
    .await;
    check_log(&after);
    for via in VIAS {
        let mut want = expected.clone();
        want.insert(key(&late, 1));
        assert_eq!(keys_via(&after, via), want, "{via}");
    }
    serve.terminate();
}

/// Clients submit (and move some cases on) while deliveries to a flaky platform are in flight;
/// `paidan serve` is SIGKILLed twice and restarted on the same data dir. Every acknowledged case
/// and status change reaches both sinks; de-duplicated by key, each (case, event) arrives once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_delivery_loses_no_acknowledged_event() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let receiver = common::spawn_receiver(&dir.path().join("receiver"), "flaky");
    let config = forward_config(dir.path(), &receiver);

    // Every event a client got an answer for: case id → highest acknowledged sequence.
    let acked: Arc<Mutex<BTreeMap<String, u64>>> = Arc::default();
    // Cases submitted after the receiver was told to fail, just before the last kill: certainly
    // acknowledged and not yet delivered when paidan dies.
    let backlog: Arc<Mutex<Vec<String>>> = Arc::default();
    let failing = Arc::new(AtomicBool::new(false));
    for round in 0..2 {
        let (mut serve, client) = start_serve(&data, &config).await;
        let before = receiver.received().len();
        let mut writers = Vec::new();
        for w in 0..4 {
            let (acked, backlog, failing) = (acked.clone(), backlog.clone(), failing.clone());
            let mut client = client.clone();
            writers.push(tokio::spawn(async move {
                for i in 0.. {
                    let rid = format!("r{round}-w{w}-{i}");
                    let after_switch = failing.load(Ordering::SeqCst);
                    let Ok(r) = client.submit_complaint(distinct(&rid, i)).await else {
                        return; // the server died under us
                    };
                    let id = r.into_inner().case_id;
                    acked.lock().unwrap().insert(id.clone(), 1);
                    if after_switch {
                        backlog.lock().unwrap().push(id.clone());
                    }
                    if i % 3 == 0 {
                        let moved = client
                            .update_case_status(v1::UpdateCaseStatusRequest {
                                case_id: id.clone(),
                                status: v1::CaseStatus::Dispatched as i32,
                                note: "派单".into(),
                                actor: "platform".into(),
                            })
                            .await;
                        if moved.is_err() {
                            return;
                        }
                        acked.lock().unwrap().insert(id, 2);
                    }
                }
            }));
        }
        // Kill once cases are being acknowledged and deliveries are landing: the first time
        // while the flaky platform takes every other delivery, the second time after it has
        // refused everything for a while, so acknowledged events are surely still owed.
        let target = acked.lock().unwrap().len() + 40;
        common::eventually("acknowledged cases and deliveries", 300, async || {
            (acked.lock().unwrap().len() >= target && receiver.received().len() >= before + 20)
                .then_some(())
        })
        .await;
        if round == 1 {
            receiver.set_mode("fail");
            failing.store(true, Ordering::SeqCst);
            common::eventually(
                "cases acknowledged while the platform fails",
                300,
                async || (backlog.lock().unwrap().len() >= 5).then_some(()),
            )
            .await;
        }
        serve.kill();
        for w in writers {
            w.await.unwrap();
        }
    }
    receiver.set_mode("flaky");
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    let want: BTreeSet<String> = acked
        .iter()
        .flat_map(|(id, &last)| (1..=last).map(move |s| key(id, s)))
        .collect();
    let received_at_kill = receiver.received();
    let backlog = std::mem::take(&mut *backlog.lock().unwrap());
    for id in &backlog {
        assert!(
            received_at_kill.iter().all(|r| &r.case_id != id),
            "{id} was created after the platform began failing, yet it was received"
        );
    }

    // Restart on the same data dir; the outbox survives and drains.
    let (mut serve, mut client) = start_serve(&data, &config).await;
    common::eventually("every acknowledged event on both sinks", 300, async || {
        let got = receiver.received();
        VIAS.iter()
            .all(|via| keys_via(&got, via).is_superset(&want))
            .then_some(())
    })
    .await;
    let mut missing_at_kill = 0;
    for via in VIAS {
        missing_at_kill += want.difference(&keys_via(&received_at_kill, via)).count();
    }
    // Everything stored drains: no acknowledged case is left pending or dead.
    common::eventually("the outbox drains", 120, async || {
        for id in acked.keys() {
            let f = forwarding(&mut client, id).await;
            assert_ne!(f.state, v1::ForwardingState::Dead as i32, "{id}: {f:?}");
            if f.state != v1::ForwardingState::Delivered as i32 || f.events_pending != 0 {
                return None;
            }
        }
        Some(())
    })
    .await;
    let received = receiver.received();
    let repeats = check_log(&received);
    // Exactly once per (case, event) after de-duplication: each side's distinct keys are the
    // acknowledged events plus, at most, events stored just before a kill whose answer was lost.
    for via in VIAS {
        let got = keys_via(&received, via);
        assert!(got.is_superset(&want));
        for k in got.difference(&want) {
            let (id, seq) = k.rsplit_once(':').unwrap();
            let seq: u64 = seq.parse().unwrap();
            assert!(
                acked.get(id).is_none_or(|&last| seq == last + 1),
                "{k} via {via} is neither acknowledged nor the next event of an acknowledged case"
            );
        }
    }
    eprintln!(
        "sigkill: {} acknowledged events ({} cases, {} created while the platform failed), {} of \
         them (both sinks) not yet received at the last kill, {} deliveries, {} redeliveries",
        want.len(),
        acked.len(),
        backlog.len(),
        missing_at_kill,
        received.len(),
        repeats
    );
    serve.terminate();
}

/// A bare HTTP/1.1 POST; returns the status code.
async fn post(addr: std::net::SocketAddr, headers: &[(&str, &str)], body: &[u8]) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut head = format!(
        "POST /events HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).await.unwrap();
    let resp = String::from_utf8_lossy(&resp);
    resp.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {resp}"))
}

/// The receiver process accepts a correctly signed webhook event and refuses (401, nothing
/// recorded) a tampered body, a wrong secret, a missing signature and a stale timestamp.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_receiver_process_verifies_webhook_signatures() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = common::spawn_receiver(&dir.path().join("receiver"), "ok");
    let event = |text: &str| {
        let e = v1::CaseEvent {
            idempotency_key: "PD000000000007:1".into(),
            case_id: "PD000000000007".into(),
            sequence: 1,
            kind: v1::CaseEventKind::Created as i32,
            occurred_at: None,
            case: Some(v1::Case {
                id: "PD000000000007".into(),
                text: text.into(),
                ..Default::default()
            }),
        };
        serde_json::to_vec(&paidan_forward::WebhookEvent::from_proto(&e)).unwrap()
    };
    let body = event("楼下餐馆油烟直排");
    let tampered = event("楼下餐馆油烟直排，已处理完毕");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (ts, stale) = (now.to_string(), (now - 3_600).to_string());
    let secret = receiver.secret.as_bytes();
    let sig = paidan_forward::sign(secret, &ts, &body);
    let key = ("Idempotency-Key", "PD000000000007:1");
    // (what, timestamp, signature, body) → status
    let table: [(&str, &str, String, &[u8], u16); 5] = [
        ("tampered body", &ts, sig.clone(), &tampered, 401),
        (
            "wrong secret",
            &ts,
            paidan_forward::sign(b"not-the-secret", &ts, &body),
            &body,
            401,
        ),
        ("no signature", &ts, String::new(), &body, 401),
        (
            "stale timestamp",
            &stale,
            paidan_forward::sign(secret, &stale, &body),
            &body,
            401,
        ),
        ("signed", &ts, sig.clone(), &body, 200),
    ];
    for (what, ts, sig, body, want) in table {
        let mut headers = vec![key, ("X-Paidan-Timestamp", ts)];
        if !sig.is_empty() {
            headers.push(("X-Paidan-Signature", &sig));
        }
        assert_eq!(post(receiver.http, &headers, body).await, want, "{what}");
    }
    let got = receiver.received();
    assert_eq!(got.len(), 1, "only the signed event is recorded: {got:?}");
    assert_eq!(got[0].event.case.text, "楼下餐馆油烟直排");
}

/// `paidan outbox …` on a stopped server's data dir; returns stdout.
fn outbox_cli(data: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_paidan"))
        .arg("outbox")
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env("PAIDAN_LOG", "error")
        .output()
        .expect("run paidan outbox");
    assert!(
        out.status.success(),
        "paidan outbox {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A platform that rejects an event (INVALID_ARGUMENT / HTTP 400) sends it to the dead letters at
/// once; with the server stopped, `paidan outbox list --dead` shows it, `drop` deletes one,
/// `retry` re-queues the other, and after a restart against a healthy platform the retried one
/// is delivered and the dropped one never is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_events_are_dead_lettered_and_replayed_with_paidan_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let receiver = common::spawn_receiver(&dir.path().join("receiver"), "reject");
    let config = forward_config(dir.path(), &receiver);
    let (mut serve, mut client) = start_serve(&data, &config).await;
    let mut ids = Vec::new();
    for i in 0..2 {
        let r = client
            .submit_complaint(distinct(&format!("dead-{i}"), i))
            .await
            .unwrap()
            .into_inner();
        ids.push(r.case_id);
    }
    let (kept, dropped) = (key(&ids[0], 1), key(&ids[1], 1));
    common::eventually("both cases dead-lettered", 60, async || {
        for id in &ids {
            let f = forwarding(&mut client, id).await;
            if f.state != v1::ForwardingState::Dead as i32 {
                return None;
            }
            assert_eq!(f.attempts, 1, "a final answer is not retried: {f:?}");
            assert!(f.last_error.contains("reject"), "{f:?}");
        }
        Some(())
    })
    .await;
    serve.terminate();
    assert!(receiver.received().is_empty());

    let listed = outbox_cli(&data, &["list", "--dead"]);
    assert!(
        listed.contains(&kept) && listed.contains(&dropped) && listed.contains("2 dead letters"),
        "{listed}"
    );
    assert!(outbox_cli(&data, &["drop", &dropped]).contains("1 dead letters dropped"));
    assert!(outbox_cli(&data, &["retry"]).contains("1 dead letters moved back"));
    assert!(outbox_cli(&data, &["list", "--dead"]).contains("0 dead letters"));
    let pending = outbox_cli(&data, &["list"]);
    assert!(
        pending.contains(&kept) && !pending.contains(&dropped) && pending.contains("1 pending"),
        "{pending}"
    );
    // The command changed state: the audit trail says who did what (newest first).
    {
        use paidan_store::Store as _;
        let store = paidan_store::SledStore::open(&data).unwrap();
        let log: Vec<(String, String, String)> = store
            .audit_log(10)
            .unwrap()
            .into_iter()
            .map(|e| (e.action, e.target, e.actor))
            .collect();
        assert_eq!(log.len(), 2, "{log:?}");
        assert_eq!(
            (log[0].0.as_str(), log[0].1.as_str()),
            ("retry_dead_letters", "all")
        );
        assert_eq!(
            (log[1].0.as_str(), log[1].1.as_str()),
            ("drop_dead_letters", dropped.as_str())
        );
        assert!(
            log.iter().all(|(_, _, actor)| actor.starts_with("cli:")),
            "{log:?}"
        );
    }

    receiver.set_mode("ok");
    let (mut serve, mut client) = start_serve(&data, &config).await;
    let got = common::eventually("the replayed event on both sinks", 60, async || {
        let got = receiver.received();
        VIAS.iter()
            .all(|via| keys_via(&got, via).contains(&kept))
            .then_some(got)
    })
    .await;
    common::eventually("the replayed case delivered", 60, async || {
        let f = forwarding(&mut client, &ids[0]).await;
        (f.state == v1::ForwardingState::Delivered as i32).then_some(())
    })
    .await;
    check_log(&got);
    for via in VIAS {
        assert_eq!(
            keys_via(&receiver.received(), via),
            BTreeSet::from([kept.clone()]),
            "{via}: the dropped event is never sent"
        );
    }
    serve.terminate();
}
