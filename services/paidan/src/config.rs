//! Server configuration: a TOML file, overridden by flags and environment variables.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use paidan_core::{Catalogue, IntakeConfig};

pub use crate::access::AccessConfig;
pub use crate::deadline_watch::DeadlineWatchConfig;
use serde::Deserialize;

/// The `[server]`-level settings of the config file; every field is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileConfig {
    pub addr: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    /// The case store on PostgreSQL (`postgres://user:password@host:port/database`); sled in
    /// `data_dir` when unset.
    pub store_url: Option<String>,
    /// sled's page cache in MiB (default 128, at least 8): how much of the embedded store's pages
    /// it keeps in memory. Less memory, more reads from disk; not used on PostgreSQL.
    pub store_cache_mb: Option<u64>,
    /// This node's name in a cluster over one PostgreSQL store (default: hostname:port).
    pub node_id: Option<String>,
    /// Where the other nodes reach this node's gRPC server (default: the address it listens on).
    pub advertise_addr: Option<String>,
    pub model_dir: Option<PathBuf>,
    /// The dispatch catalogue (lead, co-departments, deadlines, calendar, per-jurisdiction
    /// overrides); the built-in copy of the shipped `models/dispatch.toml` when unset.
    pub dispatch_catalogue: Option<PathBuf>,
    /// `[deadline_watch]`: due-soon and overdue events (督办), see `deadline_watch.rs`.
    pub deadline_watch: DeadlineWatchConfig,
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
    /// Open311 GeoReport v2 facade address (plain HTTP; off when unset).
    pub open311_addr: Option<SocketAddr>,
    /// Longest a request may run, whatever deadline the client sent (default 30 s).
    pub request_timeout_secs: Option<u64>,
    pub intake: IntakeConfig,
    pub forward: Option<paidan_forward::ForwardConfig>,
    /// Tokens, roles and limits (authentication is off when no token is configured).
    pub access: AccessConfig,
    /// Serve over TLS (plaintext when unset).
    pub tls: Option<TlsConfig>,
}

/// `[tls]`: PEM files; relative paths are read from the config file's directory.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The server's certificate chain.
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Require client certificates signed by this CA (mutual TLS).
    pub client_ca: Option<PathBuf>,
    /// With `client_ca`: accept clients without a certificate too (tokens still apply).
    #[serde(default)]
    pub client_auth_optional: bool,
}

impl TlsConfig {
    fn relative_to(mut self, dir: &Path) -> TlsConfig {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = dir.join(&*p);
            }
        };
        fix(&mut self.cert);
        fix(&mut self.key);
        if let Some(ca) = &mut self.client_ca {
            fix(ca);
        }
        self
    }

    /// Reads the PEM files into tonic's server TLS settings.
    pub fn server_config(&self) -> anyhow::Result<tonic::transport::ServerTlsConfig> {
        let read = |p: &Path| {
            std::fs::read(p).with_context(|| format!("cannot read TLS file {}", p.display()))
        };
        let identity = tonic::transport::Identity::from_pem(read(&self.cert)?, read(&self.key)?);
        let mut tls = tonic::transport::ServerTlsConfig::new().identity(identity);
        if let Some(ca) = &self.client_ca {
            tls = tls
                .client_ca_root(tonic::transport::Certificate::from_pem(read(ca)?))
                .client_auth_optional(self.client_auth_optional);
        }
        Ok(tls)
    }
}

impl FileConfig {
    pub fn load(path: &Path) -> anyhow::Result<FileConfig> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        let mut cfg: FileConfig = toml::from_str(&text)
            .with_context(|| format!("config file {} is invalid", path.display()))?;
        if let Some(mb) = cfg.store_cache_mb {
            anyhow::ensure!(
                (MIN_STORE_CACHE_MB..=MAX_STORE_CACHE_MB).contains(&mb),
                "config file {}: store_cache_mb is {mb}; give a size in MiB from \
                 {MIN_STORE_CACHE_MB} to {MAX_STORE_CACHE_MB} (default {DEFAULT_STORE_CACHE_MB})",
                path.display()
            );
        }
        let dir = path.parent().unwrap_or(Path::new("."));
        cfg.tls = cfg.tls.map(|t| t.relative_to(dir));
        Ok(cfg)
    }
}

/// Everything `paidan serve` needs, resolved.
#[derive(Debug)]
pub struct ServeConfig {
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    /// PostgreSQL instead of sled in `data_dir`; `--store-url` wins over the file.
    pub store_url: Option<String>,
    /// sled's page cache, MiB.
    pub store_cache_mb: u64,
    /// This node's id in a cluster (PostgreSQL store only); `None`: hostname:port once bound.
    pub node_id: Option<String>,
    /// The address other nodes forward to (`host:port`); `None`: the bound gRPC address.
    pub advertise_addr: Option<String>,
    pub model_dir: PathBuf,
    /// `--dispatch-catalogue` wins over the file; `None`: the built-in catalogue.
    pub dispatch_catalogue: Option<PathBuf>,
    pub deadline_watch: DeadlineWatchConfig,
    pub model_registry: PathBuf,
    pub gate_set: Option<PathBuf>,
    pub gate_margin: f64,
    pub max_message_bytes: usize,
    pub metrics_addr: Option<SocketAddr>,
    /// The Open311 facade's address (off when `None`); `--open311-addr` wins over the file.
    pub open311_addr: Option<SocketAddr>,
    pub request_timeout: std::time::Duration,
    pub intake: IntakeConfig,
    pub forward: Option<paidan_forward::ForwardConfig>,
    pub access: AccessConfig,
    pub tls: Option<TlsConfig>,
    /// Write the bound address here once listening (for scripts and tests using port 0).
    pub addr_file: Option<PathBuf>,
}

pub const DEFAULT_ADDR: &str = "127.0.0.1:50051";
/// sled's page cache: the store's default (`StoreOptions::default`), and the range a config may
/// set (below 8 MiB sled reads nearly every page from disk; above 64 GiB is a typo).
pub const DEFAULT_STORE_CACHE_MB: u64 = 128;
pub const MIN_STORE_CACHE_MB: u64 = 8;
pub const MAX_STORE_CACHE_MB: u64 = 64 * 1024;
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
            store_url: file.store_url,
            store_cache_mb: file.store_cache_mb.unwrap_or(DEFAULT_STORE_CACHE_MB),
            node_id: file.node_id,
            advertise_addr: file.advertise_addr,
            model_dir,
            dispatch_catalogue: file.dispatch_catalogue,
            deadline_watch: file.deadline_watch,
            model_registry,
            gate_set: file.gate_set,
            gate_margin: file.gate_margin.unwrap_or(0.01),
            max_message_bytes: file.max_message_bytes.unwrap_or(4 * 1024 * 1024),
            metrics_addr: file.metrics_addr,
            open311_addr: file.open311_addr,
            request_timeout: std::time::Duration::from_secs(
                file.request_timeout_secs.unwrap_or(30).max(1),
            ),
            intake: file.intake,
            forward: file.forward,
            access: file.access,
            tls: file.tls,
            addr_file,
        }
    }
}

impl ServeConfig {
    /// The dispatch catalogue to serve: the `dispatch_catalogue` file, read and validated against
    /// the served model's taxonomy (`<model_dir>/taxonomy.toml`), else the built-in copy of the
    /// shipped `models/dispatch.toml`. An invalid file is an error naming its file, line and key
    /// (`paidan serve` stops with it).
    pub fn dispatch_catalogue(&self) -> anyhow::Result<Catalogue> {
        let Some(path) = &self.dispatch_catalogue else {
            return Ok(Catalogue::builtin());
        };
        let taxonomy = self.model_dir.join("taxonomy.toml");
        let taxonomy = paidan_model::Taxonomy::load(&taxonomy).with_context(|| {
            format!(
                "cannot read {}, the taxonomy the dispatch catalogue is checked against",
                taxonomy.display()
            )
        })?;
        Catalogue::load(path, &taxonomy)
            .map_err(|e| anyhow::anyhow!("invalid dispatch catalogue: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `store_cache_mb` in a config file: (file text, the resolved MiB or the error's words).
    #[test]
    fn the_store_cache_is_read_from_the_file_and_checked() {
        let table: &[(&str, Result<u64, &str>)] = &[
            ("", Ok(DEFAULT_STORE_CACHE_MB)),
            ("store_cache_mb = 32", Ok(32)),
            ("store_cache_mb = 8", Ok(8)),
            ("store_cache_mb = 65536", Ok(65536)),
            (
                "store_cache_mb = 4",
                Err("store_cache_mb is 4; give a size in MiB from 8 to 65536"),
            ),
            (
                "store_cache_mb = 0",
                Err("store_cache_mb is 0; give a size in MiB from 8 to 65536"),
            ),
            ("store_cache_mb = 65537", Err("store_cache_mb is 65537")),
            ("store_cache_mb = -1", Err("is invalid")),
            ("store_cache_mb = \"64MB\"", Err("is invalid")),
        ];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("paidan.toml");
        for (text, want) in table {
            std::fs::write(&path, text).unwrap();
            match (FileConfig::load(&path), want) {
                (Ok(file), Ok(mb)) => {
                    let cfg = ServeConfig::resolve(file, None, None, None, None);
                    assert_eq!(cfg.store_cache_mb, *mb, "{text}");
                }
                (Err(e), Err(words)) => {
                    let msg = format!("{e:#}");
                    assert!(msg.contains(words), "{text}: {msg}");
                }
                (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
            }
        }
    }
}
