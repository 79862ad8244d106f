//! `paidan-receiver`: a local stand-in for the 12345 platform that prints what paidan forwards
//! (dev-only; see [`paidan_testkit::receiver`]).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use paidan_testkit::receiver::{FailMode, ReceiverConfig, start_receiver};

#[derive(Parser, Debug)]
#[command(
    name = "paidan-receiver",
    about = "A stand-in 12345 platform: gRPC CaseSink and a signed webhook"
)]
struct ReceiverArgs {
    /// Serve paidan.v1.CaseSink here (port 0 picks a free port; see --addr-file).
    #[arg(long)]
    grpc_addr: Option<SocketAddr>,
    /// Serve the webhook (POST /events) and control endpoints here.
    #[arg(long)]
    http_addr: Option<SocketAddr>,
    /// Append received events to this JSONL file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Webhook secret: unsigned or badly signed posts get 401.
    #[arg(long, env = "PAIDAN_WEBHOOK_SECRET")]
    secret: Option<String>,
    /// ok | fail | hang | flaky | reject (switch later with PUT /control/mode or the control file).
    #[arg(long, default_value = "ok")]
    fail_mode: FailMode,
    #[arg(long)]
    control_file: Option<PathBuf>,
    /// Once listening, write the bound addresses here as JSON: {"grpc":"ip:port","http":"ip:port"}
    /// (null for a side not served). Useful with port 0.
    #[arg(long)]
    addr_file: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PAIDAN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let a = ReceiverArgs::parse();
    if a.grpc_addr.is_none() && a.http_addr.is_none() {
        anyhow::bail!("give --grpc-addr and/or --http-addr");
    }
    let cfg = ReceiverConfig {
        grpc_addr: a.grpc_addr,
        http_addr: a.http_addr,
        out: a.out,
        secret: a.secret,
        max_skew_s: 300,
        mode: a.fail_mode,
        control_file: a.control_file,
    };
    let handle = start_receiver(cfg).await?;
    if let Some(path) = &a.addr_file {
        let addrs = serde_json::json!({
            "grpc": handle.grpc_addr.map(|a| a.to_string()),
            "http": handle.http_addr.map(|a| a.to_string()),
        });
        // Write then rename, so a reader never sees half a file.
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, addrs.to_string())
            .and_then(|()| std::fs::rename(&tmp, path))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    terminated().await;
    handle.shutdown().await;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn terminated() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("install the SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
