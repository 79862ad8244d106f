//! `paidan loadgen`: drive a running paidan server over gRPC with N concurrent clients using real
//! complaint texts, and report throughput and latency percentiles.
//!
//! Each client has its own HTTP/2 connection (as separate intake systems would) and sends one
//! request at a time: the next request goes out when the previous reply arrived (closed loop), so
//! `--clients` is the number of requests in flight. Latency is measured per request from send to
//! reply and kept in an HDR histogram (microsecond resolution, 3 significant digits).
//!
//! The run is bounded: by `--duration` (at most 10 minutes) and by `--max-requests`. It only talks
//! to loopback addresses unless `--allow-remote` is given.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use paidan_proto::v1::intake_client::IntakeClient;
use paidan_proto::v1::{Channel as WireChannel, SubmitComplaintRequest, TriageRequest};
use serde::Serialize;
use tonic::transport::{Channel, Endpoint};

/// Longest run accepted.
const MAX_DURATION: Duration = Duration::from_secs(600);
/// Most clients accepted.
const MAX_CLIENTS: usize = 4096;
/// Highest latency the histogram records (longer ones are clamped to it).
const MAX_LATENCY_US: u64 = 120_000_000;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rpc {
    /// paidan.v1.Intake/Triage
    Triage,
    /// paidan.v1.Intake/SubmitComplaint (a unique request_id per request)
    Submit,
}

impl Rpc {
    fn name(self) -> &'static str {
        match self {
            Rpc::Triage => "triage",
            Rpc::Submit => "submit",
        }
    }
}

#[derive(clap::Args, Debug, Clone)]
pub struct LoadgenArgs {
    /// Server address, HOST:PORT (loopback only unless --allow-remote).
    #[arg(long, default_value = "127.0.0.1:50051")]
    pub addr: String,
    /// Which RPC to drive.
    #[arg(long, value_enum, default_value_t = Rpc::Triage)]
    pub rpc: Rpc,
    /// Concurrent clients, each with its own connection and one request in flight.
    #[arg(long, default_value_t = 32)]
    pub clients: usize,
    /// How long to send requests, e.g. 15s, 500ms, 2m (at most 10m).
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Time to send requests before measuring (not counted), e.g. 1s; 0s for none.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// JSONL with `text` and optional `title` (and optional `jurisdiction`) per line.
    #[arg(long)]
    pub data: PathBuf,
    /// Write the result as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Stop after this many measured requests (all clients together).
    #[arg(long, default_value_t = 10_000_000)]
    pub max_requests: u64,
    /// Jurisdiction sent with rows that do not carry one.
    #[arg(long, default_value = "A市")]
    pub jurisdiction: String,
    /// Allow a non-loopback server address.
    #[arg(long)]
    pub allow_remote: bool,
    /// Wait up to this long for the server's health to turn SERVING (model loaded) before starting.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub wait_ready: Duration,
}

#[derive(Clone, Debug)]
struct Text {
    title: String,
    text: String,
    jurisdiction: String,
}

/// The JSON written by `--json`.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct LoadgenReport {
    pub rpc: String,
    pub clients: usize,
    /// Requests answered OK in the measured window.
    pub requests: u64,
    /// OK replies per second of the measured window.
    pub rps: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Requests answered with an error status (or a transport error) in the measured window.
    pub errors: u64,
    /// Length of the measured window in seconds.
    pub seconds: f64,
}

/// Parses `15s`, `500ms`, `2m`, `1h`, or bare seconds (`15`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration: write e.g. 15s, 500ms, 2m"))?;
    let secs = match unit.trim() {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        other => {
            return Err(format!(
                "unknown duration unit {other:?} in {s:?}: use ms, s, m or h"
            ));
        }
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("{s:?} is not a valid duration"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Reads the texts, skipping rows with empty text.
fn read_texts(path: &Path, default_jurisdiction: &str) -> anyhow::Result<Vec<Text>> {
    Ok(super::texts::read_text_rows(path, None)?
        .into_iter()
        .map(|row| Text {
            title: row.title,
            text: row.text,
            jurisdiction: row
                .jurisdiction
                .filter(|j| !j.is_empty())
                .unwrap_or_else(|| default_jurisdiction.to_string()),
        })
        .collect())
}

/// Resolves `addr` and refuses anything but loopback unless `allow_remote`.
async fn resolve(addr: &str, allow_remote: bool) -> anyhow::Result<SocketAddr> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(addr)
        .await
        .with_context(|| format!("cannot resolve {addr:?} (expected HOST:PORT)"))?
        .collect();
    let first = *addrs
        .first()
        .with_context(|| format!("{addr:?} resolves to no address"))?;
    if !allow_remote && let Some(remote) = addrs.iter().find(|a| !a.ip().is_loopback()) {
        bail!(
            "{addr} resolves to {remote}, which is not a loopback address; loadgen drives local servers only \
                 (pass --allow-remote to load a server you are responsible for)"
        );
    }
    Ok(first)
}

/// Polls grpc.health.v1 until the server reports SERVING, or fails after `limit`.
async fn wait_ready(endpoint: &Endpoint, limit: Duration) -> anyhow::Result<()> {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    let deadline = Instant::now() + limit;
    let mut last;
    loop {
        match endpoint.connect().await {
            Ok(channel) => {
                match HealthClient::new(channel)
                    .check(HealthCheckRequest {
                        service: String::new(),
                    })
                    .await
                {
                    Ok(r) if r.get_ref().status == ServingStatus::Serving as i32 => return Ok(()),
                    Ok(r) => last = format!("health status {}", r.get_ref().status),
                    Err(s) => last = format!("health check: {}", s.message()),
                }
            }
            Err(e) => last = format!("connect: {e}"),
        }
        if Instant::now() >= deadline {
            bail!(
                "server at {} did not become ready within {limit:?} ({last})",
                endpoint.uri()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

struct Shared {
    texts: Vec<Text>,
    rpc: Rpc,
    run_id: String,
    /// Next text / request number.
    next: AtomicU64,
    /// Measured requests started (bounded by max_requests).
    measured: AtomicU64,
    max_requests: u64,
    measuring: AtomicBool,
    stop: AtomicBool,
}

#[derive(Default)]
struct ClientResult {
    ok: u64,
    errors: u64,
    first_error: Option<String>,
    hist: Option<Histogram<u64>>,
}

async fn client_loop(mut client: IntakeClient<Channel>, shared: Arc<Shared>) -> ClientResult {
    let mut hist =
        Histogram::<u64>::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid histogram bounds");
    let mut res = ClientResult::default();
    while !shared.stop.load(Ordering::Relaxed) {
        let measuring = shared.measuring.load(Ordering::Relaxed);
        if measuring && shared.measured.fetch_add(1, Ordering::Relaxed) >= shared.max_requests {
            break;
        }
        let n = shared.next.fetch_add(1, Ordering::Relaxed);
        let t = &shared.texts[(n % shared.texts.len() as u64) as usize];
        let started = Instant::now();
        let outcome = match shared.rpc {
            Rpc::Triage => client
                .triage(TriageRequest {
                    title: t.title.clone(),
                    text: t.text.clone(),
                    channel: WireChannel::Channel12345 as i32,
                    jurisdiction: t.jurisdiction.clone(),
                })
                .await
                .map(|_| ()),
            Rpc::Submit => client
                .submit_complaint(SubmitComplaintRequest {
                    request_id: format!("loadgen-{}-{n}", shared.run_id),
                    title: t.title.clone(),
                    text: t.text.clone(),
                    channel: WireChannel::Channel12345 as i32,
                    jurisdiction: t.jurisdiction.clone(),
                    ..Default::default()
                })
                .await
                .map(|_| ()),
        };
        let micros = (started.elapsed().as_micros() as u64).clamp(1, MAX_LATENCY_US);
        if !measuring {
            continue;
        }
        match outcome {
            Ok(()) => {
                res.ok += 1;
                hist.record(micros)
                    .expect("latency clamped into the histogram's range");
            }
            Err(status) => {
                res.errors += 1;
                if res.first_error.is_none() {
                    res.first_error = Some(format!("{:?}: {}", status.code(), status.message()));
                }
            }
        }
    }
    res.hist = Some(hist);
    res
}

/// Runs the load and returns the measured report (without printing or writing it).
pub async fn measure(args: &LoadgenArgs) -> anyhow::Result<LoadgenReport> {
    if args.clients == 0 || args.clients > MAX_CLIENTS {
        bail!("--clients must be between 1 and {MAX_CLIENTS}");
    }
    if args.duration.is_zero() || args.duration > MAX_DURATION {
        bail!(
            "--duration must be more than 0 and at most {}s",
            MAX_DURATION.as_secs()
        );
    }
    if args.warmup > MAX_DURATION {
        bail!("--warmup must be at most {}s", MAX_DURATION.as_secs());
    }
    if args.max_requests == 0 {
        bail!("--max-requests must be at least 1");
    }
    let texts = read_texts(&args.data, &args.jurisdiction)?;
    let addr = resolve(&args.addr, args.allow_remote).await?;
    let endpoint = Endpoint::from_shared(format!("http://{addr}"))?
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(5));
    wait_ready(&endpoint, args.wait_ready).await?;
    let mut clients = Vec::with_capacity(args.clients);
    for _ in 0..args.clients {
        let channel = endpoint.connect().await.with_context(|| {
            format!("cannot connect to {addr}: is `paidan serve` running there?")
        })?;
        clients.push(IntakeClient::new(channel).max_decoding_message_size(64 * 1024 * 1024));
    }
    let run_id = format!(
        "{:x}-{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros())
            .unwrap_or_default(),
        std::process::id()
    );
    let shared = Arc::new(Shared {
        texts,
        rpc: args.rpc,
        run_id,
        next: AtomicU64::new(0),
        measured: AtomicU64::new(0),
        max_requests: args.max_requests,
        measuring: AtomicBool::new(args.warmup.is_zero()),
        stop: AtomicBool::new(false),
    });
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|c| tokio::spawn(client_loop(c, shared.clone())))
        .collect();
    if !args.warmup.is_zero() {
        tokio::time::sleep(args.warmup).await;
        shared.measuring.store(true, Ordering::Relaxed);
    }
    let started = Instant::now();
    let deadline = started + args.duration;
    // Stop at the deadline, or earlier when every client gave up because max_requests was reached.
    let all_done = futures::future::join_all(tasks);
    tokio::pin!(all_done);
    let results = tokio::select! {
        r = &mut all_done => r,
        _ = tokio::time::sleep_until(deadline.into()) => {
            shared.stop.store(true, Ordering::Relaxed);
            all_done.await
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    let mut hist =
        Histogram::<u64>::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid histogram bounds");
    let (mut ok, mut errors, mut first_error) = (0u64, 0u64, None);
    for r in results {
        let r = r.context("a load client task panicked")?;
        ok += r.ok;
        errors += r.errors;
        if first_error.is_none() {
            first_error = r.first_error;
        }
        if let Some(h) = &r.hist {
            hist.add(h).expect("histograms share bounds");
        }
    }
    if let Some(e) = &first_error {
        tracing::warn!(errors, first_error = %e, "some requests failed");
    }
    let ms = |q: f64| {
        if ok == 0 {
            0.0
        } else {
            hist.value_at_quantile(q) as f64 / 1000.0
        }
    };
    Ok(LoadgenReport {
        rpc: args.rpc.name().to_string(),
        clients: args.clients,
        requests: ok,
        rps: if seconds > 0.0 {
            ok as f64 / seconds
        } else {
            0.0
        },
        p50_ms: ms(0.50),
        p95_ms: ms(0.95),
        p99_ms: ms(0.99),
        max_ms: if ok == 0 {
            0.0
        } else {
            hist.max() as f64 / 1000.0
        },
        errors,
        seconds,
    })
}

pub async fn run(args: LoadgenArgs) -> anyhow::Result<()> {
    let report = measure(&args).await?;
    println!(
        "{} × {} clients, {:.1} s: {} ok, {} errors, {:.0} req/s; latency p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        report.rpc,
        report.clients,
        report.seconds,
        report.requests,
        report.errors,
        report.rps,
        report.p50_ms,
        report.p95_ms,
        report.p99_ms,
        report.max_ms
    );
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if report.requests == 0 {
        bail!("no request succeeded ({} errors)", report.errors);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let table: &[(&str, Option<Duration>)] = &[
            ("15s", Some(Duration::from_secs(15))),
            ("15", Some(Duration::from_secs(15))),
            ("500ms", Some(Duration::from_millis(500))),
            ("2m", Some(Duration::from_secs(120))),
            ("1.5s", Some(Duration::from_millis(1500))),
            ("0s", Some(Duration::ZERO)),
            ("1h", Some(Duration::from_secs(3600))),
            ("s", None),
            ("15 parsecs", None),
            ("-1s", None),
            ("", None),
        ];
        for (input, want) in table {
            assert_eq!(parse_duration(input).ok(), *want, "{input:?}");
        }
    }

    #[tokio::test]
    async fn refuses_remote_addresses() {
        let table: &[(&str, bool, bool)] = &[
            ("127.0.0.1:50051", false, true),
            ("[::1]:50051", false, true),
            ("localhost:50051", false, true),
            ("10.1.2.3:50051", false, false),
            ("8.8.8.8:443", false, false),
            ("10.1.2.3:50051", true, true),
            ("no-port", false, false),
        ];
        for (addr, allow, ok) in table {
            assert_eq!(
                resolve(addr, *allow).await.is_ok(),
                *ok,
                "{addr} allow_remote={allow}"
            );
        }
    }

    #[test]
    fn reads_texts_with_optional_fields() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.jsonl");
        std::fs::write(
            &p,
            "{\"title\":\"噪音\",\"text\":\"工地夜间施工\"}\n\n{\"text\":\"路灯不亮\",\"jurisdiction\":\"鼓楼区\"}\n{\"text\":\"  \"}\n",
        )
        .unwrap();
        let t = read_texts(&p, "A市").unwrap();
        let got: Vec<(&str, &str, &str)> = t
            .iter()
            .map(|t| (t.title.as_str(), t.text.as_str(), t.jurisdiction.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![("噪音", "工地夜间施工", "A市"), ("", "路灯不亮", "鼓楼区")]
        );
        std::fs::write(&p, "{\"text\":\"  \"}\n").unwrap();
        assert!(read_texts(&p, "A市").is_err());
        std::fs::write(&p, "not json\n").unwrap();
        assert!(read_texts(&p, "A市").is_err());
    }
}
