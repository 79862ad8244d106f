//! Forwarding configuration, read from the server's TOML config (a `[forward]` table):
//!
//! ```toml
//! [forward]
//! max_attempts = 12          # then the entry is a dead letter
//! base_backoff = "1s"        # backoff = random(0, min(max_backoff, base_backoff * 2^attempts))
//! max_backoff = "5m"
//! batch = 64                 # entries per outbox read (bounds memory)
//! concurrency = 8            # deliveries in flight at once
//! poll_interval = "1s"       # wake-up when nothing notifies
//! timeout = "10s"            # per delivery; a hanging platform counts as a retryable failure
//! shutdown_grace = "5s"      # on shutdown, deliveries in flight get this long, then stay queued
//!
//! [[forward.sinks]]
//! type = "grpc"
//! name = "platform"
//! endpoint = "http://127.0.0.1:50061"
//!
//! [[forward.sinks]]
//! type = "webhook"
//! name = "hook"
//! url = "http://127.0.0.1:8081/paidan/events"
//! secret = "change-me"        # or secret_env = "PAIDAN_WEBHOOK_SECRET"
//! ```
//! Durations are strings with a unit (`ms`, `s`, `m`, `h`) or integers in milliseconds.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ForwardConfig {
    pub sinks: Vec<SinkConfig>,
    pub max_attempts: u32,
    #[serde(with = "duration")]
    pub base_backoff: Duration,
    #[serde(with = "duration")]
    pub max_backoff: Duration,
    pub batch: usize,
    pub concurrency: usize,
    #[serde(with = "duration")]
    pub poll_interval: Duration,
    #[serde(with = "duration")]
    pub timeout: Duration,
    /// On shutdown, deliveries in flight get this long to finish; the rest are abandoned (their
    /// events stay in the outbox and are delivered after the restart).
    #[serde(with = "duration")]
    pub shutdown_grace: Duration,
}

impl Default for ForwardConfig {
    fn default() -> Self {
        ForwardConfig {
            sinks: Vec::new(),
            max_attempts: 12,
            base_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
            batch: 64,
            concurrency: 8,
            poll_interval: Duration::from_secs(1),
            timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum SinkConfig {
    /// The platform's `paidan.v1.CaseSink` gRPC service, e.g. `http://platform:50061`.
    Grpc { name: String, endpoint: String },
    /// Signed JSON POSTs to `url`.
    Webhook {
        name: String,
        url: String,
        #[serde(default)]
        secret: String,
        /// Read the secret from this environment variable instead (wins over `secret`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret_env: Option<String>,
    },
}

impl SinkConfig {
    pub fn name(&self) -> &str {
        match self {
            SinkConfig::Grpc { name, .. } | SinkConfig::Webhook { name, .. } => name,
        }
    }
}

/// Parse "250ms", "2s", "5m", "1h" or a bare number of milliseconds.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    Some(match unit.trim() {
        "" | "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.checked_mul(60)?),
        "h" => Duration::from_secs(n.checked_mul(3600)?),
        _ => return None,
    })
}

mod duration {
    use super::*;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{}ms", d.as_millis()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Millis(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Millis(n) => Ok(Duration::from_millis(n)),
            Raw::Text(t) => parse_duration(&t)
                .ok_or_else(|| serde::de::Error::custom(format!("bad duration {t:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        let table = [
            ("250ms", Some(250)),
            ("2s", Some(2_000)),
            ("5m", Some(300_000)),
            ("1h", Some(3_600_000)),
            ("40", Some(40)),
            ("fast", None),
            ("5 parsecs", None),
            ("", None),
        ];
        for (s, want) in table {
            assert_eq!(parse_duration(s), want.map(Duration::from_millis), "{s}");
        }
    }

    #[test]
    fn config_reads_from_toml_with_defaults() {
        let cfg: ForwardConfig = toml::from_str(
            r#"
            max_attempts = 5
            base_backoff = "200ms"
            max_backoff = 60000
            [[sinks]]
            type = "grpc"
            name = "platform"
            endpoint = "http://127.0.0.1:50061"
            [[sinks]]
            type = "webhook"
            name = "hook"
            url = "http://127.0.0.1:8081/events"
            secret_env = "HOOK_SECRET"
            "#,
        )
        .unwrap();
        assert_eq!(cfg.max_attempts, 5);
        assert_eq!(cfg.base_backoff, Duration::from_millis(200));
        assert_eq!(cfg.max_backoff, Duration::from_secs(60));
        assert_eq!(cfg.batch, ForwardConfig::default().batch);
        assert_eq!(
            cfg.sinks.iter().map(SinkConfig::name).collect::<Vec<_>>(),
            ["platform", "hook"]
        );
        assert!(toml::from_str::<ForwardConfig>("batchsize = 3").is_err());
        assert!(toml::from_str::<ForwardConfig>("base_backoff = \"soon\"").is_err());
        // round trip
        let back: ForwardConfig = toml::from_str(&toml::to_string(&cfg).unwrap()).unwrap();
        assert_eq!(back, cfg);
    }
}
