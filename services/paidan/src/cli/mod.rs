//! `paidan` subcommands.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::{FileConfig, ServeConfig};

mod bench_triage;
mod corrections;
mod cv;
mod eval;
mod eval_dedup;
mod loadgen;
mod outbox;
mod progress;
pub mod stats;
mod texts;
mod train;

#[derive(Parser, Debug)]
#[command(
    name = "paidan",
    version,
    about = "派单: triage and dispatch of 12345/12319 citizen complaints"
)]
pub struct Cli {
    /// Log as JSON lines instead of text.
    #[arg(long, global = true, env = "PAIDAN_LOG_JSON")]
    pub log_json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the gRPC intake server.
    Serve(ServeArgs),
    /// Train a model artifact from labelled JSONL.
    Train(train::TrainArgs),
    /// Export operator corrections as training rows.
    ExportCorrections(corrections::ExportArgs),
    /// In-process triage throughput on all cores (complaints/s).
    BenchTriage(bench_triage::BenchTriageArgs),
    /// Drive a running server over gRPC with concurrent clients; report req/s and latency.
    Loadgen(loadgen::LoadgenArgs),
    /// Grouped k-fold cross-validation of the training recipe (how recipes are chosen).
    Cv(cv::CvArgs),
    /// Evaluate a model on a labelled set (JSON, HTML, predictions).
    Eval(eval::EvalArgs),
    /// Two models side by side with McNemar's paired test.
    Compare(eval::CompareArgs),
    /// Score the duplicate decision on labelled pairs.
    EvalDedup(eval_dedup::EvalDedupArgs),
    /// Inspect and replay the forwarding outbox of a stopped server.
    Outbox(outbox::OutboxArgs),
    /// Department and category figures (GetDepartmentStats) of a window, as a table or JSON.
    Stats(stats::StatsArgs),
}

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:50051].
    #[arg(long, env = "PAIDAN_ADDR")]
    pub addr: Option<SocketAddr>,
    /// sled directory for cases [default: ./data].
    #[arg(long, env = "PAIDAN_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Keep cases in PostgreSQL instead (postgres://user:password@host:port/database) [default:
    /// sled in --data-dir].
    #[arg(long, env = "PAIDAN_STORE_URL", hide_env_values = true)]
    pub store_url: Option<String>,
    /// This node's id in a cluster over one PostgreSQL store [default: hostname:port].
    #[arg(long, env = "PAIDAN_NODE_ID")]
    pub node_id: Option<String>,
    /// host:port where the other nodes reach this node's gRPC server [default: the listen
    /// address; hostname:port when it is a wildcard].
    #[arg(long, env = "PAIDAN_ADVERTISE_ADDR")]
    pub advertise_addr: Option<String>,
    /// Model artifact directory [default: models/default].
    #[arg(long, env = "PAIDAN_MODEL_DIR")]
    pub model_dir: Option<PathBuf>,
    /// Dispatch catalogue TOML (lead, co-departments, deadlines, per-jurisdiction overrides)
    /// [default: the built-in copy of models/dispatch.toml].
    #[arg(long, env = "PAIDAN_DISPATCH_CATALOGUE")]
    pub dispatch_catalogue: Option<PathBuf>,
    /// Serve the Open311 GeoReport v2 facade (plain HTTP) here [default: off].
    #[arg(long, env = "PAIDAN_OPEN311_ADDR")]
    pub open311_addr: Option<SocketAddr>,
    /// TOML config file (see README); flags and env win over it.
    #[arg(long, env = "PAIDAN_CONFIG")]
    pub config: Option<PathBuf>,
    /// Write the bound address to this file once listening (useful with port 0).
    #[arg(long)]
    pub addr_file: Option<PathBuf>,
}

pub fn init_tracing(json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("PAIDAN_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(a) => {
            let file = match &a.config {
                Some(p) => FileConfig::load(p)?,
                None => FileConfig::default(),
            };
            let mut cfg = ServeConfig::resolve(file, a.addr, a.data_dir, a.model_dir, a.addr_file);
            cfg.open311_addr = a.open311_addr.or(cfg.open311_addr);
            cfg.store_url = a.store_url.or(cfg.store_url);
            cfg.dispatch_catalogue = a.dispatch_catalogue.or(cfg.dispatch_catalogue);
            cfg.node_id = a.node_id.or(cfg.node_id);
            cfg.advertise_addr = a.advertise_addr.or(cfg.advertise_addr);
            let handle = crate::server::start(cfg, true).await?;
            handle.wait().await
        }
        Command::Train(a) => tokio::task::spawn_blocking(move || train::run(a)).await?,
        Command::ExportCorrections(a) => {
            tokio::task::spawn_blocking(move || corrections::run(a)).await?
        }
        Command::BenchTriage(a) => {
            tokio::task::spawn_blocking(move || bench_triage::run(a)).await?
        }
        Command::Loadgen(a) => loadgen::run(a).await,
        Command::Cv(a) => tokio::task::spawn_blocking(move || cv::run(a)).await?,
        Command::Eval(a) => tokio::task::spawn_blocking(move || eval::run(a)).await?,
        Command::Compare(a) => tokio::task::spawn_blocking(move || eval::run_cmp(a)).await?,
        Command::EvalDedup(a) => tokio::task::spawn_blocking(move || eval_dedup::run(a)).await?,
        Command::Outbox(a) => tokio::task::spawn_blocking(move || outbox::run(a)).await?,
        Command::Stats(a) => stats::run(a).await,
    }
}
