//! The forwarder against a real receiver on loopback (gRPC + signed webhook), with a real sled
//! store in a temp dir.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use paidan_forward::*;
use paidan_store::*;
use paidan_testkit::CaseBuilder;
use paidan_testkit::receiver::*;

const SECRET: &str = "test-secret";

fn new_case(i: usize) -> NewCase {
    CaseBuilder::new(i, forwarder::now_millis())
        .location((30.27, 120.15))
        .routed("CAT.NOISE", "DEPT.ENV", 0.8)
        .model_version("t")
        .new_case()
}

struct Rig {
    _dir: tempfile::TempDir,
    store: Arc<SledStore>,
    receiver: ReceiverHandle,
    config: ForwardConfig,
    out: std::path::PathBuf,
}

async fn rig(mode: FailMode, webhook_secret: &str) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SledStore::open(&dir.path().join("db")).unwrap());
    let out = dir.path().join("received.jsonl");
    let receiver = start_receiver(ReceiverConfig {
        grpc_addr: Some("127.0.0.1:0".parse().unwrap()),
        http_addr: Some("127.0.0.1:0".parse().unwrap()),
        out: Some(out.clone()),
        secret: Some(SECRET.into()),
        mode,
        ..ReceiverConfig::default()
    })
    .await
    .unwrap();
    let config = ForwardConfig {
        sinks: vec![
            SinkConfig::Grpc {
                name: "platform".into(),
                endpoint: format!("http://{}", receiver.grpc_addr.unwrap()),
            },
            SinkConfig::Webhook {
                name: "hook".into(),
                url: format!("http://{}/events", receiver.http_addr.unwrap()),
                secret: webhook_secret.into(),
                secret_env: None,
            },
        ],
        max_attempts: 50,
        base_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
        batch: 4,
        concurrency: 3,
        poll_interval: Duration::from_millis(10),
        timeout: Duration::from_millis(500),
        ..ForwardConfig::default()
    };
    Rig {
        _dir: dir,
        store,
        receiver,
        config,
        out,
    }
}

/// A status update as a raw store edit (the lifecycle rules are paidan-core's; the forwarder only
/// sees the event it enqueues).
fn dispatch(store: &SledStore, id: &str, at: Millis) {
    store
        .edit_cases(&|r| {
            let mut c = r.case(id)?;
            c.status = CaseStatus::Dispatched;
            let mut e = CaseEdit::at(at);
            e.event(id, EventKind::Updated);
            e.cases.push(c);
            Ok(e)
        })
        .unwrap();
}

/// Insert `n` cases and give every odd one a status update; returns the expected keys per case.
fn populate(store: &SledStore, n: usize) -> BTreeMap<String, Vec<String>> {
    let mut keys = BTreeMap::new();
    for i in 0..n {
        let c = store.insert_case(new_case(i)).unwrap().case;
        let mut k = vec![format!("{}:1", c.id)];
        if i % 2 == 1 {
            dispatch(store, &c.id, forwarder::now_millis());
            k.push(format!("{}:2", c.id));
        }
        keys.insert(c.id, k);
    }
    store.flush().unwrap();
    keys
}

/// Run passes until the outbox is empty (or give up after many passes).
async fn pump(f: &Forwarder, store: &SledStore) {
    for _ in 0..2_000 {
        if store.outbox_len(false).unwrap() == 0 {
            return;
        }
        f.run_once().await.unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!(
        "outbox did not drain: {:?}",
        store.outbox_list(false, 10).unwrap()
    );
}

fn check_in_order(received: &[Received], via: &str, want: &BTreeMap<String, Vec<String>>) {
    let mut per_case: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in received.iter().filter(|r| r.via == via && !r.duplicate) {
        per_case
            .entry(r.case_id.clone())
            .or_default()
            .push(r.idempotency_key.clone());
    }
    assert_eq!(
        &per_case, want,
        "{via}: every event once, in per-case order"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_while_failing_then_delivers_everything_once_per_key() {
    let rig = rig(FailMode::Fail, SECRET).await;
    let want = populate(&rig.store, 6);
    let total: usize = want.values().map(Vec::len).sum();
    let f = Forwarder::from_config(rig.store.clone(), &rig.config).unwrap();

    for _ in 0..5 {
        let stats = f.run_once().await.unwrap();
        assert_eq!((stats.delivered, stats.dead), (0, 0));
        tokio::time::sleep(Duration::from_millis(6)).await;
    }
    assert!(rig.receiver.received().is_empty());
    assert_eq!(rig.store.outbox_len(false).unwrap(), total as u64);
    let pending = rig.store.outbox_list(false, 100).unwrap();
    assert!(
        pending
            .iter()
            .any(|e| e.attempts >= 2 && e.last_error.contains("Unavailable"))
    );
    let c = rig
        .store
        .get_case(want.keys().next().unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(c.forwarding.state, ForwardingState::Pending);
    assert!(c.forwarding.attempts >= 1);

    rig.receiver.set_mode(FailMode::Ok);
    pump(&f, &rig.store).await;

    let received = rig.receiver.received();
    check_in_order(&received, "grpc", &want);
    check_in_order(&received, "webhook", &want);
    let all: HashSet<String> = want.values().flatten().cloned().collect();
    assert_eq!(rig.receiver.unique_keys(), all);
    // duplicates, if any, are only redeliveries of a key already received
    assert!(
        received
            .iter()
            .filter(|r| r.duplicate)
            .all(|r| all.contains(&r.idempotency_key))
    );
    for id in want.keys() {
        let c = rig.store.get_case(id).unwrap().unwrap();
        assert_eq!(c.forwarding.state, ForwardingState::Delivered, "{id}");
        assert_eq!(c.forwarding.events_delivered as usize, want[id].len());
    }
    // the webhook carries the full case
    let r = received.iter().find(|r| r.via == "webhook").unwrap();
    assert_eq!(r.event.case.caller_phone, "13812345678");
    assert_eq!(r.event.case.category.code, "CAT.NOISE");
    assert_eq!(
        r.event.case.location.as_ref().map(|l| l.latitude),
        Some(30.27)
    );
    // the JSONL file has every accepted delivery
    let lines = std::fs::read_to_string(&rig.out).unwrap().lines().count();
    assert_eq!(lines, received.len());
    rig.receiver.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flaky_and_hanging_platforms_are_retried() {
    for mode in [FailMode::Flaky, FailMode::Hang] {
        let mut rig = rig(mode, SECRET).await;
        rig.config.timeout = Duration::from_millis(150);
        let want = populate(&rig.store, 3);
        let f = Forwarder::from_config(rig.store.clone(), &rig.config).unwrap();
        if mode == FailMode::Hang {
            let stats = f.run_once().await.unwrap();
            assert_eq!(
                (stats.delivered, stats.dead, stats.retried),
                (0, 0, stats.due),
                "{mode}"
            );
            let e = &rig.store.outbox_list(false, 1).unwrap()[0];
            assert!(
                e.last_error.contains("platform: grpc") && e.last_error.contains("hook: http"),
                "{mode}: {}",
                e.last_error
            );
            rig.receiver.set_mode(FailMode::Ok);
        }
        pump(&f, &rig.store).await;
        let received = rig.receiver.received();
        check_in_order(&received, "grpc", &want);
        check_in_order(&received, "webhook", &want);
        rig.receiver.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_events_go_dead_at_once_and_can_be_retried() {
    let rig = rig(FailMode::Reject, SECRET).await;
    let want = populate(&rig.store, 2);
    let f = Forwarder::from_config(rig.store.clone(), &rig.config).unwrap();
    let stats = f.run_once().await.unwrap();
    assert_eq!(stats.dead, 2, "{stats:?}");
    let dead = rig.store.outbox_list(true, 10).unwrap();
    assert!(
        dead.iter().all(|e| e.attempts == 1),
        "no retries of a final answer"
    );
    assert!(
        dead[0].last_error.contains("InvalidArgument") || dead[0].last_error.contains("400"),
        "{}",
        dead[0].last_error
    );
    let id = want.keys().next().unwrap();
    assert_eq!(
        rig.store.get_case(id).unwrap().unwrap().forwarding.state,
        ForwardingState::Dead
    );

    rig.receiver.set_mode(FailMode::Ok);
    assert_eq!(
        rig.store
            .outbox_retry_dead(&[], forwarder::now_millis())
            .unwrap(),
        2
    );
    pump(&f, &rig.store).await;
    let received = rig.receiver.received();
    check_in_order(&received, "grpc", &want);
    check_in_order(&received, "webhook", &want);
    assert_eq!(rig.store.outbox_len(true).unwrap(), 0);
    rig.receiver.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_webhook_signature_is_refused_and_dead_lettered() {
    let rig = rig(FailMode::Ok, "wrong-secret").await;
    populate(&rig.store, 1);
    let f = Forwarder::from_config(rig.store.clone(), &rig.config).unwrap();
    let stats = f.run_once().await.unwrap();
    assert_eq!(stats.dead, 1);
    let dead = &rig.store.outbox_list(true, 1).unwrap()[0];
    assert!(
        dead.last_error.contains("hook: http 401"),
        "{}",
        dead.last_error
    );
    // the gRPC sink did get it, and a retry will not send it there again
    assert_eq!(dead.delivered_to, vec!["platform".to_string()]);
    let received = rig.receiver.received();
    assert_eq!(
        received.iter().map(|r| r.via.as_str()).collect::<Vec<_>>(),
        vec!["grpc"]
    );
    rig.receiver.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attempts_are_capped() {
    let mut rig = rig(FailMode::Fail, SECRET).await;
    rig.config.max_attempts = 3;
    populate(&rig.store, 1);
    let f = Forwarder::from_config(rig.store.clone(), &rig.config).unwrap();
    let mut passes = 0;
    while rig.store.outbox_len(true).unwrap() == 0 {
        f.run_once().await.unwrap();
        passes += 1;
        assert!(passes < 500, "never went dead");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let dead = &rig.store.outbox_list(true, 1).unwrap()[0];
    assert_eq!(dead.attempts, 3);
    rig.receiver.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_wakes_on_notify_and_stops_on_shutdown() {
    let mut rig = rig(FailMode::Ok, SECRET).await;
    // a long poll interval: only the notify can wake it in time
    rig.config.poll_interval = Duration::from_secs(3_600);
    let f = Forwarder::from_config(rig.store.clone(), &rig.config).unwrap();
    let notify = f.notifier();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(f.run(async {
        let _ = stop_rx.await;
    }));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let want = populate(&rig.store, 9);
    notify.notify_one();
    for _ in 0..1_000 {
        if rig.store.outbox_len(false).unwrap() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(rig.store.outbox_len(false).unwrap(), 0);
    check_in_order(&rig.receiver.received(), "grpc", &want);
    stop_tx.send(()).unwrap();
    task.await.unwrap();
    rig.receiver.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_deduplicates_across_restarts_and_obeys_the_control_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.jsonl");
    let control = dir.path().join("mode");
    let rig = rig(FailMode::Ok, SECRET).await;
    let keys = populate(&rig.store, 2);
    let entries = rig.store.outbox_due(forwarder::now_millis(), 10).unwrap();
    rig.receiver.shutdown().await;

    let start = || {
        start_receiver(ReceiverConfig {
            grpc_addr: Some("127.0.0.1:0".parse().unwrap()),
            out: Some(out.clone()),
            control_file: Some(control.clone()),
            ..ReceiverConfig::default()
        })
    };
    let r1 = start().await.unwrap();
    let sink = GrpcSink::new(
        "p",
        &format!("http://{}", r1.grpc_addr.unwrap()),
        Duration::from_secs(5),
    )
    .unwrap();
    // (mode written to the control file, expected outcome of delivering entries[0])
    let table: &[(&str, Result<bool, bool>)] = &[
        ("fail", Err(true)),
        ("reject", Err(false)),
        ("ok", Ok(false)),
        ("ok", Ok(true)),
    ];
    for (mode, want) in table {
        std::fs::write(&control, mode).unwrap();
        let got = sink
            .deliver(&entries[0])
            .await
            .map(|a| a.duplicate)
            .map_err(|e| e.retryable);
        assert_eq!(&got, want, "{mode}");
    }
    r1.shutdown().await;
    // restarted: keys in the file are known
    let r2 = start().await.unwrap();
    let sink = GrpcSink::new(
        "p",
        &format!("http://{}", r2.grpc_addr.unwrap()),
        Duration::from_secs(5),
    )
    .unwrap();
    assert!(sink.deliver(&entries[0]).await.unwrap().duplicate);
    assert!(!sink.deliver(&entries[1]).await.unwrap().duplicate);
    assert_eq!(r2.unique_keys().len(), 2);
    assert!(
        keys.values()
            .flatten()
            .any(|k| *k == entries[1].idempotency_key)
    );
    r2.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_every_remaining_sink_has_leaves_the_outbox() {
    let rig = rig(FailMode::Ok, "wrong-secret").await;
    populate(&rig.store, 1);
    let f = Forwarder::from_config(rig.store.clone(), &rig.config).unwrap();
    // gRPC accepts, the webhook refuses: dead, delivered_to = [platform]
    assert_eq!(f.run_once().await.unwrap().dead, 1);
    assert_eq!(
        rig.store
            .outbox_retry_dead(&[], forwarder::now_millis())
            .unwrap(),
        1
    );
    // the webhook is dropped from the config: nothing is owed any more
    let mut cfg = rig.config.clone();
    cfg.sinks.retain(|s| s.name() == "platform");
    let f = Forwarder::from_config(rig.store.clone(), &cfg).unwrap();
    let stats = f.run_once().await.unwrap();
    assert_eq!((stats.due, stats.delivered), (1, 1));
    assert_eq!(rig.store.outbox_len(false).unwrap(), 0);
    assert_eq!(
        rig.receiver.received().len(),
        1,
        "not sent to the platform twice"
    );
    rig.receiver.shutdown().await;
}

/// Regression: a graceful stop used to wait for the whole pass in progress — with a hanging
/// platform up to (batch / concurrency) × sinks × timeout (160 s with the defaults) — before the
/// server could flush and exit. Now deliveries in flight get `shutdown_grace`, then are abandoned:
/// their events stay in the outbox, unchanged, and go out after the restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_abandons_deliveries_a_hanging_platform_holds() {
    let mut rig = rig(FailMode::Hang, SECRET).await;
    // Without the grace, stopping would take an hour per delivery in flight.
    rig.config.timeout = Duration::from_secs(3_600);
    rig.config.shutdown_grace = Duration::from_millis(50);
    let want = populate(&rig.store, 5);
    let f = Forwarder::from_config(rig.store.clone(), &rig.config).unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(f.run(async {
        let _ = stop_rx.await;
    }));
    // Wait (bounded) until deliveries are hanging in the receiver.
    for _ in 0..6_000 {
        if rig.receiver.requests() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        rig.receiver.requests() >= 3,
        "no delivery reached the receiver"
    );
    stop_tx.send(()).unwrap();
    // A deadline far below the hour a stuck pass would take; not a timing measurement.
    tokio::time::timeout(Duration::from_secs(120), task)
        .await
        .expect("the forwarder stops although the platform hangs")
        .unwrap();
    // Nothing was lost or counted as a failure: every event is still owed, untouched.
    let pending = rig.store.outbox_list(false, 100).unwrap();
    assert_eq!(pending.len(), want.values().map(Vec::len).sum::<usize>());
    assert!(
        pending
            .iter()
            .all(|e| e.attempts == 0 && e.delivered_to.is_empty()),
        "{pending:?}"
    );
    assert!(rig.receiver.received().is_empty());
    // After the "restart" everything is delivered, in order.
    rig.receiver.set_mode(FailMode::Ok);
    rig.config.timeout = Duration::from_millis(500);
    let f = Forwarder::from_config(rig.store.clone(), &rig.config).unwrap();
    pump(&f, &rig.store).await;
    let received = rig.receiver.received();
    check_in_order(&received, "grpc", &want);
    check_in_order(&received, "webhook", &want);
    rig.receiver.shutdown().await;
}
