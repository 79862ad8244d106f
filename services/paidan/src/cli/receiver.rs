//! `paidan receiver`: a local stand-in for the 12345 platform that prints what paidan forwards.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use paidan_forward::{FailMode, ReceiverConfig, start_receiver};

#[derive(clap::Args, Debug)]
pub struct ReceiverArgs {
    /// Serve paidan.v1.CaseSink here (port 0 picks a free port; see --addr-file).
    #[arg(long)]
    pub grpc_addr: Option<SocketAddr>,
    /// Serve the webhook (POST /events) and control endpoints here.
    #[arg(long)]
    pub http_addr: Option<SocketAddr>,
    /// Append received events to this JSONL file.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Webhook secret: unsigned or badly signed posts get 401.
    #[arg(long, env = "PAIDAN_WEBHOOK_SECRET")]
    pub secret: Option<String>,
    /// ok | fail | hang | flaky | reject (switch later with PUT /control/mode or the control file).
    #[arg(long, default_value = "ok")]
    pub fail_mode: FailMode,
    #[arg(long)]
    pub control_file: Option<PathBuf>,
    /// Once listening, write the bound addresses here as JSON: {"grpc":"ip:port","http":"ip:port"}
    /// (null for a side not served). Useful with port 0.
    #[arg(long)]
    pub addr_file: Option<PathBuf>,
}

pub async fn run(a: ReceiverArgs) -> anyhow::Result<()> {
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
    crate::signals::terminated().await;
    handle.shutdown().await;
    Ok(())
}
