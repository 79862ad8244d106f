//! `paidan stats`: department figures (`GetDepartmentStats`) for analysts, as a table or as JSON.
//!
//! Why over gRPC and not from the store: a serving sled store is locked by the server (only a
//! stopped server's store could be read), the figures are behind an access rule (platform and
//! admin roles: they judge departments), and the RPC is what every store and every node answers
//! the same way. So this is a client: `--server` (http://, or https:// with `--ca-cert`) and a
//! token holding one of those roles (`--token`, or `PAIDAN_TOKEN`).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use paidan_proto::convert::{millis, timestamp};
use paidan_proto::v1;
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime, UtcOffset};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};

#[derive(clap::Args, Debug)]
pub struct StatsArgs {
    /// Window start: RFC 3339 (2026-11-01T00:00:00+08:00) or a date (2026-11-01, midnight in
    /// --utc-offset) [default: 30 days before --until].
    #[arg(long)]
    pub since: Option<String>,
    /// Window end, exclusive, in the same forms [default: now].
    #[arg(long)]
    pub until: Option<String>,
    /// Only this jurisdiction [default: all].
    #[arg(long, default_value = "")]
    pub jurisdiction: String,
    /// Print JSON (one object: the window, departments, categories) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// The paidan server.
    #[arg(long, env = "PAIDAN_SERVER", default_value = "http://127.0.0.1:50051")]
    pub server: String,
    /// A token holding the platform or admin role.
    #[arg(long, env = "PAIDAN_TOKEN", hide_env_values = true)]
    pub token: String,
    /// CA certificate (PEM) of an https:// server.
    #[arg(long)]
    pub ca_cert: Option<PathBuf>,
    /// Hours east of UTC of a bare date in --since/--until [default: 8, China].
    #[arg(long, default_value_t = 8, allow_hyphen_values = true)]
    pub utc_offset: i8,
}

/// An RFC 3339 instant, or a date at midnight `offset` hours east of UTC, in milliseconds.
pub fn parse_instant(s: &str, offset: i8) -> anyhow::Result<i64> {
    let s = s.trim();
    let t = match OffsetDateTime::parse(s, &Rfc3339) {
        Ok(t) => t,
        Err(_) => {
            let format = time::macros::format_description!("[year]-[month]-[day]");
            let d = Date::parse(s, &format).map_err(|_| {
                anyhow::anyhow!(
                    "{s:?} is neither an RFC 3339 instant (2026-11-01T00:00:00+08:00) nor a date (2026-11-01)"
                )
            })?;
            let off = UtcOffset::from_hms(offset, 0, 0).context("--utc-offset")?;
            d.midnight().assume_offset(off)
        }
    };
    Ok((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

fn rfc3339(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| ms.to_string())
}

/// Ask the server.
pub async fn fetch(a: &StatsArgs) -> anyhow::Result<v1::GetDepartmentStatsResponse> {
    let since = a
        .since
        .as_deref()
        .map(|s| parse_instant(s, a.utc_offset))
        .transpose()
        .context("--since")?;
    let until = a
        .until
        .as_deref()
        .map(|s| parse_instant(s, a.utc_offset))
        .transpose()
        .context("--until")?;
    let mut endpoint = Endpoint::from_shared(a.server.clone())
        .with_context(|| format!("--server {:?} is not a URL", a.server))?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(60));
    if a.server.starts_with("https://") {
        let Some(ca) = &a.ca_cert else {
            anyhow::bail!("an https:// server needs --ca-cert");
        };
        let pem = std::fs::read(ca).with_context(|| format!("cannot read {}", ca.display()))?;
        endpoint = endpoint
            .tls_config(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem)))?;
    }
    let channel = endpoint
        .connect()
        .await
        .with_context(|| format!("cannot connect to {}", a.server))?;
    let mut client = v1::intake_client::IntakeClient::new(channel);
    let mut req = tonic::Request::new(v1::GetDepartmentStatsRequest {
        jurisdiction: a.jurisdiction.clone(),
        since: since.map(timestamp),
        until: until.map(timestamp),
    });
    let bearer = format!("Bearer {}", a.token.trim())
        .parse()
        .context("the token is not a valid header value")?;
    req.metadata_mut().insert("authorization", bearer);
    let r = client
        .get_department_stats(req)
        .await
        .map_err(|s| anyhow::anyhow!("GetDepartmentStats: {:?}: {}", s.code(), s.message()))?;
    Ok(r.into_inner())
}

/// One row's figures, as JSON and as table cells: (received, resolved, on time, overdue, returned,
/// rated, satisfaction, mean hours).
type Figures = (u64, u64, u64, u64, u64, u64, f64, f64);
type Rows = Vec<(String, Figures)>;

fn rows(r: &v1::GetDepartmentStatsResponse) -> (Rows, Rows) {
    // DepartmentStats and CategoryStats share every figure but are two messages
    macro_rules! row {
        ($x:expr, $name:ident) => {
            (
                $x.$name.clone(),
                (
                    $x.received,
                    $x.resolved,
                    $x.resolved_on_time,
                    $x.overdue_open,
                    $x.returned,
                    $x.rated,
                    $x.satisfaction_rate,
                    $x.mean_hours_to_resolve,
                ),
            )
        };
    }
    let d = r.departments.iter().map(|x| row!(x, department)).collect();
    let c = r.categories.iter().map(|x| row!(x, category)).collect();
    (d, c)
}

/// The JSON `paidan stats --json` prints: field names as in the RPC.
pub fn to_json(r: &v1::GetDepartmentStatsResponse, jurisdiction: &str) -> Value {
    let (d, c) = rows(r);
    let row = |key: &str, (name, f): &(String, Figures)| {
        json!({
            key: name,
            "received": f.0,
            "resolved": f.1,
            "resolved_on_time": f.2,
            "overdue_open": f.3,
            "returned": f.4,
            "rated": f.5,
            "satisfaction_rate": f.6,
            "mean_hours_to_resolve": f.7,
        })
    };
    json!({
        "jurisdiction": jurisdiction,
        "since": r.since.as_ref().map(|t| rfc3339(millis(t))),
        "until": r.until.as_ref().map(|t| rfc3339(millis(t))),
        "departments": d.iter().map(|x| row("department", x)).collect::<Vec<_>>(),
        "categories": c.iter().map(|x| row("category", x)).collect::<Vec<_>>(),
    })
}

/// The readable table.
pub fn to_table(r: &v1::GetDepartmentStatsResponse) -> String {
    let (d, c) = rows(r);
    let mut out = format!(
        "window {} .. {}\n",
        r.since
            .as_ref()
            .map_or_else(String::new, |t| rfc3339(millis(t))),
        r.until
            .as_ref()
            .map_or_else(String::new, |t| rfc3339(millis(t)))
    );
    for (title, rows) in [("department", d), ("category", c)] {
        out.push_str(&format!(
            "\n{title:<24} {:>8} {:>8} {:>8} {:>8} {:>8} {:>6} {:>9} {:>9}\n",
            "received",
            "resolved",
            "on time",
            "overdue",
            "returned",
            "rated",
            "satisfied",
            "mean h"
        ));
        if rows.is_empty() {
            out.push_str("(nothing counted in this window)\n");
        }
        for (name, f) in rows {
            out.push_str(&format!(
                "{name:<24} {:>8} {:>8} {:>8} {:>8} {:>8} {:>6} {:>8.1}% {:>9.1}\n",
                f.0,
                f.1,
                f.2,
                f.3,
                f.4,
                f.5,
                f.6 * 100.0,
                f.7
            ));
        }
    }
    out
}

pub async fn run(a: StatsArgs) -> anyhow::Result<()> {
    let r = fetch(&a).await?;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&to_json(&r, &a.jurisdiction))?
        );
    } else {
        print!("{}", to_table(&r));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_and_dates_parse() {
        // (input, utc offset, expected millis or None for an error)
        let table: &[(&str, i8, Option<i64>)] = &[
            ("2026-11-01T00:00:00Z", 8, Some(1_793_491_200_000)),
            (
                "2026-11-01T00:00:00+08:00",
                0,
                Some(1_793_491_200_000 - 8 * 3_600_000),
            ),
            ("2026-11-01", 8, Some(1_793_491_200_000 - 8 * 3_600_000)),
            ("2026-11-01", 0, Some(1_793_491_200_000)),
            ("2026-11-01", -5, Some(1_793_491_200_000 + 5 * 3_600_000)),
            ("yesterday", 8, None),
            ("2026-13-01", 8, None),
        ];
        for &(s, off, want) in table {
            assert_eq!(parse_instant(s, off).ok(), want, "{s} at {off:+}");
        }
    }
}
