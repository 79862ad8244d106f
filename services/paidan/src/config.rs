//! Server configuration: a TOML file, overridden by flags and environment variables.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use paidan_core::IntakeConfig;
use serde::Deserialize;

/// The `[server]`-level settings of the config file; every field is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileConfig {
    pub addr: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub model_dir: Option<PathBuf>,
    /// Directory of versioned model artifacts for ReloadModel (default: the model dir's parent).
    pub model_registry: Option<PathBuf>,
    /// Labelled JSONL every reloaded model is scored on (category macro-F1).
    pub gate_set: Option<PathBuf>,
    /// Largest allowed macro-F1 drop on the gate set (default 0.01).
    pub gate_margin: Option<f64>,
    /// Largest gRPC message accepted (default 4 MiB).
    pub max_message_bytes: Option<usize>,
    /// Prometheus exporter address (off when unset).
    pub metrics_addr: Option<SocketAddr>,
    pub intake: IntakeConfig,
    pub forward: Option<paidan_forward::ForwardConfig>,
}

impl FileConfig {
    pub fn load(path: &Path) -> anyhow::Result<FileConfig> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("config file {} is invalid", path.display()))
    }
}

/// Everything `paidan serve` needs, resolved.
#[derive(Debug)]
pub struct ServeConfig {
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    pub model_dir: PathBuf,
    pub model_registry: PathBuf,
    pub gate_set: Option<PathBuf>,
    pub gate_margin: f64,
    pub max_message_bytes: usize,
    pub metrics_addr: Option<SocketAddr>,
    pub intake: IntakeConfig,
    pub forward: Option<paidan_forward::ForwardConfig>,
    /// Write the bound address here once listening (for scripts and tests using port 0).
    pub addr_file: Option<PathBuf>,
}

pub const DEFAULT_ADDR: &str = "127.0.0.1:50051";
pub const DEFAULT_DATA_DIR: &str = "./data";
pub const DEFAULT_MODEL_DIR: &str = "models/default";

impl ServeConfig {
    pub fn resolve(
        file: FileConfig,
        addr: Option<SocketAddr>,
        data_dir: Option<PathBuf>,
        model_dir: Option<PathBuf>,
        addr_file: Option<PathBuf>,
    ) -> ServeConfig {
        let model_dir = model_dir
            .or(file.model_dir)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_MODEL_DIR));
        let model_registry = file.model_registry.unwrap_or_else(|| {
            model_dir
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("."))
        });
        ServeConfig {
            addr: addr
                .or(file.addr)
                .unwrap_or_else(|| DEFAULT_ADDR.parse().expect("default address")),
            data_dir: data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
            model_dir,
            model_registry,
            gate_set: file.gate_set,
            gate_margin: file.gate_margin.unwrap_or(0.01),
            max_message_bytes: file.max_message_bytes.unwrap_or(4 * 1024 * 1024),
            metrics_addr: file.metrics_addr,
            intake: file.intake,
            forward: file.forward,
            addr_file,
        }
    }
}
