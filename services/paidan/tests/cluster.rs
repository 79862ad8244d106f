//! Three `paidan serve` processes over one PostgreSQL (issue 18's done-when): clients submit to
//! every node with unique request ids and, on an error, send the same request to the next node;
//! reports of one matter go to different nodes at the same time; one node is SIGKILLed while the
//! load runs. Then:
//! - every request was acknowledged, and each acknowledged request id is stored exactly once,
//!   as the case its answer named;
//! - the reports of one matter share one case (one master, the others linked to it), also the
//!   reports sent after the kill, which the partition's new owner matched;
//! - the platform (`paidan-receiver`, a child process, on the webhook) got every event of every
//!   case at least once, first arrivals in per-case order.
//!
//! The nodes authenticate: the writers send the intake token, which a node forwarding to the
//! owner passes on (the owner checks it again), and a call without it is refused.
//!
//! The database is the throwaway server's (`PAIDAN_TEST_PG_URL`, scripts/pg-throwaway.sh), one
//! database for this test. `eval/cluster.sh` runs this same test larger
//! (`PAIDAN_CLUSTER_WRITERS`, `PAIDAN_CLUSTER_PER_WRITER`) and has it write the takeover figures
//! to `PAIDAN_CLUSTER_REPORT` (JSON); the test itself checks no timing.

mod common;
#[path = "../../paidan-store-pg/tests/pg/mod.rs"]
mod pg;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Proc, ReceiverProc};
use paidan_proto::v1;
use paidan_proto::v1::intake_client::IntakeClient;
use sha2::Digest;
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::health_check_response::ServingStatus;

const NODES: usize = 3;
/// Clients filing complaints of their own matters, and how many each (defaults; see the module
/// docs for the knobs).
const WRITERS: usize = 4;
const PER_WRITER: usize = 24;

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
/// Matters reported several times: before the kill, then after it.
const MATTERS: usize = 4;
const REPORTS_PER_WAVE: usize = 3;
/// The intake system's token, the same on every node: a forwarded request carries it, and the
/// owner authenticates it again.
const TOKEN: &str = "cluster-test-intake-token";

fn config(dir: &Path, receiver: &ReceiverProc) -> std::path::PathBuf {
    let path = dir.join("paidan.toml");
    let text = format!(
        r#"
[forward]
max_attempts = 1000000
base_backoff = "20ms"
max_backoff = "250ms"
poll_interval = "50ms"
timeout = "2s"

[[forward.sinks]]
type = "webhook"
name = "hook"
url = "http://{http}/events"
secret = "{secret}"

[[access.tokens]]
name = "hotline"
sha256 = "{token_sha}"
roles = ["intake"]
"#,
        http = receiver.http,
        secret = receiver.secret,
        token_sha = hex::encode(sha2::Sha256::digest(TOKEN.as_bytes())),
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// Run `f` with a connection to `url` on a thread of its own (the sync client must not run on
/// a thread that drives async tasks).
fn db<T: Send + 'static>(
    url: &str,
    f: impl FnOnce(&mut postgres::Client) -> T + Send + 'static,
) -> T {
    let url = url.to_string();
    std::thread::spawn(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
        f(&mut c)
    })
    .join()
    .expect("database thread")
}

/// Partitions held under a live lease, by owner.
fn owners(url: &str) -> BTreeMap<String, usize> {
    db(url, |c| {
        c.query(
            "SELECT owner, count(*) FROM partition_leases WHERE expires_at > now() GROUP BY owner",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1) as usize))
        .collect()
    })
}

/// An acknowledged submit: (request id, case id, master it was linked to or "").
type Ack = (String, String, String);

/// One writer's submit as timed: when it was first sent, when it was acknowledged (both since
/// the start of the load), its partition.
#[derive(Clone, Copy, Debug)]
struct Timed {
    sent: Duration,
    acked: Duration,
    partition: u16,
}

fn p99(mut v: Vec<Duration>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort();
    let i = ((v.len() as f64) * 0.99).ceil() as usize;
    v[i.clamp(1, v.len()) - 1].as_secs_f64() * 1000.0
}

/// Send `req` to the nodes starting at `first`, moving to the next on any error, until one
/// answers (at most two minutes).
async fn submit(
    clients: &[IntakeClient<Channel>],
    first: usize,
    req: v1::SubmitComplaintRequest,
) -> v1::SubmitComplaintResponse {
    let deadline = Instant::now() + Duration::from_secs(120);
    for attempt in 0.. {
        let mut client = clients[(first + attempt) % clients.len()].clone();
        let mut r = tonic::Request::new(req.clone());
        r.set_timeout(Duration::from_secs(20));
        r.metadata_mut()
            .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
        match client.submit_complaint(r).await {
            Ok(r) => return r.into_inner(),
            Err(e) => {
                assert!(
                    Instant::now() < deadline,
                    "{} never acknowledged; last: {e}",
                    req.request_id
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    unreachable!()
}

fn own_matter(rid: &str, n: usize) -> v1::SubmitComplaintRequest {
    let mut r = common::complaint(
        rid,
        &format!("{n}号楼下餐馆油烟直排，气味很大，家里不能开窗，请尽快处理"),
    );
    // a jurisdiction of its own: never linked to another, and spread over the partitions
    r.jurisdiction = format!("J-{rid}");
    r
}

fn matter_report(m: usize, rid: &str) -> v1::SubmitComplaintRequest {
    let mut r = common::complaint(
        rid,
        &format!(
            "幸福家园小区{m}栋楼下的烧烤店每天晚上油烟直排，油烟味很大，家里不能开窗，请城管处理。"
        ),
    );
    r.jurisdiction = format!("M-{m}");
    r
}

/// Every matter's reports of one wave, each sent to a different node, all at once.
async fn matter_wave(clients: &[IntakeClient<Channel>], wave: usize) -> Vec<(usize, Ack)> {
    let mut tasks = Vec::new();
    for m in 0..MATTERS {
        for k in 0..REPORTS_PER_WAVE {
            let clients = clients.to_vec();
            tasks.push(tokio::spawn(async move {
                let rid = format!("m{m}-w{wave}-{k}");
                let r = submit(&clients, m + k, matter_report(m, &rid)).await;
                (m, (rid, r.case_id, r.duplicate_of))
            }));
        }
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_one_killed_lose_nothing_acknowledged() {
    let t0 = Instant::now();
    let phase = |what: &str| eprintln!("cluster: {:>6.1}s {what}", t0.elapsed().as_secs_f64());
    let pgdb = pg::TestDb::new("cluster");
    let dir = tempfile::tempdir().unwrap();
    let receiver = common::spawn_receiver(&dir.path().join("receiver"), "ok");
    let cfg = config(dir.path(), &receiver);
    phase("receiver up");

    let mut nodes: Vec<(Proc, SocketAddr)> = (0..NODES)
        .map(|i| {
            let node = format!("node-{i}");
            let (child, addr) = common::spawn_server_logging(
                &dir.path().join(&node),
                &[
                    "--store-url",
                    &pgdb.url,
                    "--config",
                    cfg.to_str().unwrap(),
                    "--node-id",
                    &node,
                ],
                "error,paidan::cluster=info",
            );
            (Proc(child), addr)
        })
        .collect();
    let mut clients = Vec::new();
    for (_, addr) in &nodes {
        let ch = common::channel(*addr).await;
        common::wait_health(&ch, "paidan.v1.Intake", ServingStatus::Serving).await;
        clients.push(IntakeClient::new(
            Endpoint::from_shared(format!("http://{addr}"))
                .unwrap()
                .connect_timeout(Duration::from_secs(1))
                .connect_lazy(),
        ));
    }
    // Every node holds a share and every partition is held: the fair shares settled.
    let url = pgdb.url.clone();
    phase("every node serving");
    common::eventually("three nodes sharing the 64 partitions", 60, async || {
        let o = owners(&url);
        (o.len() == NODES && o.values().sum::<usize>() == 64).then_some(())
    })
    .await;

    let (writers_n, per_writer) = (
        knob("PAIDAN_CLUSTER_WRITERS", WRITERS),
        knob("PAIDAN_CLUSTER_PER_WRITER", PER_WRITER),
    );
    phase("partitions shared");
    // Without the token nothing is stored, owned here or not.
    for c in &clients {
        let refused = c
            .clone()
            .submit_complaint(own_matter("no-token", 0))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{refused:?}");
    }
    let acked: Arc<Mutex<Vec<Ack>>> = Arc::default();
    let timed: Arc<Mutex<Vec<Timed>>> = Arc::default();
    let start = Instant::now();
    let mut writers = Vec::new();
    for w in 0..writers_n {
        let (clients, acked, timed) = (clients.clone(), acked.clone(), timed.clone());
        writers.push(tokio::spawn(async move {
            for i in 0..per_writer {
                let rid = format!("w{w}-{i}");
                let req = own_matter(&rid, i);
                let partition = paidan_store_pg::partition_of(&req.jurisdiction);
                let sent = start.elapsed();
                let r = submit(&clients, w + i, req).await;
                let acked_at = start.elapsed();
                timed.lock().unwrap().push(Timed {
                    sent,
                    acked: acked_at,
                    partition,
                });
                acked.lock().unwrap().push((rid, r.case_id, r.duplicate_of));
            }
        }));
    }
    let mut matters = matter_wave(&clients, 0).await;
    common::eventually("a third of the load acknowledged", 120, async || {
        (acked.lock().unwrap().len() >= writers_n * per_writer / 3).then_some(())
    })
    .await;

    // SIGKILL a node that owns partitions, mid-load.
    let victim = 1;
    let held_before = owners(&url);
    assert!(
        held_before.get("node-1").is_some_and(|n| *n > 0),
        "{held_before:?}"
    );
    let victims: BTreeSet<u16> = db(&url, |c| {
        c.query(
            "SELECT partition FROM partition_leases WHERE owner = 'node-1' AND expires_at > now()",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get::<_, i16>(0) as u16)
        .collect()
    });
    nodes[victim].0.kill();
    let killed = start.elapsed();
    let killed_at = Instant::now();
    // Reports of the same matters after the kill: the new owners must link them too.
    matters.extend(matter_wave(&clients, 1).await);
    for w in writers {
        w.await.unwrap();
    }
    let url2 = url.clone();
    common::eventually("the survivors holding all 64 partitions", 60, async || {
        let o = owners(&url2);
        (!o.contains_key("node-1") && o.values().sum::<usize>() == 64).then_some(())
    })
    .await;
    // The takeover gap: from the kill to the first acknowledgement of a submit sent after it
    // for a partition the killed node held. p99 of the submits sent before the kill, and of
    // those sent from the kill to the end of the gap.
    let timed = timed.lock().unwrap().clone();
    let gap = timed
        .iter()
        .filter(|t| t.sent >= killed && victims.contains(&t.partition))
        .map(|t| t.acked.saturating_sub(killed))
        .min();
    let latency = |f: &dyn Fn(&Timed) -> bool| {
        p99(timed
            .iter()
            .filter(|t| f(t))
            .map(|t| t.acked - t.sent)
            .collect())
    };
    let gap_end = killed + gap.unwrap_or_default();
    let during = |t: &Timed| t.sent >= killed && t.sent <= gap_end;
    let report = serde_json::json!({
        "nodes": NODES,
        "writers": writers_n,
        "submits": timed.len(),
        "killed_partitions": victims.len(),
        "takeover_gap_ms": gap.map(|g| g.as_secs_f64() * 1000.0),
        "p99_before_kill_ms": latency(&|t| t.acked < killed),
        "p99_during_takeover_ms": latency(&during),
        "submits_during_takeover": timed.iter().filter(|t| during(t)).count(),
        "p99_victim_partitions_during_takeover_ms": latency(&|t| {
            during(t) && victims.contains(&t.partition)
        }),
        "load_seconds": start.elapsed().as_secs_f64(),
        "load_after_kill_seconds": killed_at.elapsed().as_secs_f64(),
    });
    eprintln!("cluster: {report}");
    if let Ok(path) = std::env::var("PAIDAN_CLUSTER_REPORT") {
        std::fs::write(path, report.to_string()).unwrap();
    }

    // Every acknowledged request id is stored exactly once, as the case its answer named.
    let mut acks = acked.lock().unwrap().clone();
    assert_eq!(acks.len(), writers_n * per_writer);
    acks.extend(matters.iter().map(|(_, a)| a.clone()));
    let stored: HashMap<String, (String, i64)> = db(&url, |c| {
        c.query(
            "SELECT request_id, min(id), count(*) FROM cases GROUP BY request_id",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2))))
        .collect()
    });
    for (rid, case_id, _) in &acks {
        assert_eq!(
            stored.get(rid),
            Some(&(case_id.clone(), 1)),
            "request {rid} acknowledged as {case_id}"
        );
    }
    assert_eq!(
        stored.len(),
        acks.len(),
        "nothing stored that was not asked for"
    );

    // The reports of one matter, sent to different nodes before and after the kill, share one
    // case.
    for m in 0..MATTERS {
        let masters: BTreeSet<&str> = matters
            .iter()
            .filter(|(mm, _)| *mm == m)
            .map(|(_, (_, id, dup))| if dup.is_empty() { id } else { dup }.as_str())
            .collect();
        assert_eq!(masters.len(), 1, "matter {m}: {matters:?}");
    }
    let jurisdiction_masters: i64 = db(&url, |c| {
        c.query_one(
            "SELECT count(*) FROM cases WHERE jurisdiction LIKE 'M-%' AND duplicate_of IS NULL",
            &[],
        )
        .unwrap()
        .get(0)
    });
    assert_eq!(jurisdiction_masters, MATTERS as i64);

    // Every event reaches the platform, in per-case order: a master has its Created event and
    // one DuplicateLinked per linked report.
    let url3 = url.clone();
    phase("load done and checked");
    common::eventually("the outbox drained by the survivors", 120, async || {
        let pending: i64 = db(&url3, |c| {
            c.query_one("SELECT count(*) FROM outbox", &[])
                .unwrap()
                .get(0)
        });
        (pending == 0).then_some(())
    })
    .await;
    let want: BTreeSet<String> = db(&url, |c| {
        c.query(
            "SELECT m.id, 1 + (SELECT count(*) FROM cases r WHERE r.duplicate_of = m.id)
             FROM cases m WHERE m.duplicate_of IS NULL",
            &[],
        )
        .unwrap()
        .iter()
        .flat_map(|r| {
            let (id, n): (String, i64) = (r.get(0), r.get(1));
            (1..=n).map(move |s| format!("{id}:{s}"))
        })
        .collect()
    });
    phase("outbox drained");
    let received = receiver.received();
    let got: BTreeSet<String> = received.iter().map(|r| r.idempotency_key.clone()).collect();
    assert_eq!(
        want.difference(&got).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "events never received"
    );
    assert!(got.is_subset(&want), "only events of stored cases");
    let mut next: HashMap<&str, u64> = HashMap::new();
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    for r in &received {
        if !seen.insert(r.idempotency_key.as_str()) {
            continue; // a redelivery (the old owner's and the new owner's forwarders overlap)
        }
        let want = next.entry(r.case_id.as_str()).or_insert(1);
        assert_eq!(
            r.sequence, *want,
            "{}: first arrivals in order",
            r.idempotency_key
        );
        *want += 1;
    }
    eprintln!(
        "cluster: {} requests acknowledged, {} events, {} deliveries",
        acks.len(),
        want.len(),
        received.len()
    );
    // A SubmitComplaints stream to one node: each complaint goes to its partition's owner, the
    // answers come back in order.
    let stream: Vec<v1::SubmitComplaintRequest> =
        (0..24).map(|k| own_matter(&format!("s-{k}"), k)).collect();
    let mut r = tonic::Request::new(futures::stream::iter(stream.clone()));
    r.metadata_mut()
        .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    let mut answers = clients[0]
        .clone()
        .submit_complaints(r)
        .await
        .expect("the stream is taken")
        .into_inner();
    let mut streamed = Vec::new();
    while let Some(a) = answers.message().await.expect("every complaint answered") {
        streamed.push(a);
    }
    assert_eq!(streamed.len(), stream.len());
    let stored: HashMap<String, String> = db(&url, |c| {
        c.query(
            "SELECT request_id, id FROM cases WHERE request_id LIKE 's-%'",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
    });
    for (req, a) in stream.iter().zip(&streamed) {
        assert!(a.created, "{a:?}");
        assert_eq!(
            stored.get(&req.request_id),
            Some(&a.case_id),
            "in request order"
        );
    }
    let spread: BTreeSet<u16> = stream
        .iter()
        .map(|r| paidan_store_pg::partition_of(&r.jurisdiction))
        .collect();
    assert!(
        spread.len() > 10,
        "the stream spans partitions of both survivors"
    );

    // The survivors stop cleanly (their leases released, their rows gone).
    for (i, (p, _)) in nodes.iter_mut().enumerate() {
        if i != victim {
            p.terminate();
        }
    }
    assert!(owners(&url).is_empty(), "a clean stop releases every lease");
}
