//! The deadline watch (督办) of `paidan serve`: a task that runs
//! [`Intake::watch_deadlines`](paidan_core::Intake::watch_deadlines) every `interval` (default a
//! minute), so the platform hears once per deadline that a case is due soon (within
//! `due_soon_days` working days, default 1) and once that it is overdue.
//!
//! Why a task of its own: deadlines pass without any request arriving. The rule that decides and
//! marks each event lives in `paidan_core::deadlines` and runs in the store's transaction, so a
//! pass that is interrupted, repeated, or run on another node of the same PostgreSQL store sends
//! nothing twice; this task only keeps time. Configured by `[deadline_watch]`:
//!
//! ```toml
//! [deadline_watch]
//! enabled = true          # default
//! interval = "1m"         # how often a pass runs ("30s", "500ms", …; the first at start)
//! due_soon_days = 1       # working days before a deadline that count as "due soon"
//! ```

use std::sync::Arc;
use std::time::Duration;

use paidan_core::Intake;
use serde::{Deserialize, Deserializer};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// `[deadline_watch]` of the config file.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeadlineWatchConfig {
    pub enabled: bool,
    #[serde(deserialize_with = "duration")]
    pub interval: Duration,
    pub due_soon_days: u32,
}

impl Default for DeadlineWatchConfig {
    fn default() -> Self {
        DeadlineWatchConfig {
            enabled: true,
            interval: Duration::from_secs(60),
            due_soon_days: 1,
        }
    }
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    paidan_forward::config::parse_duration(&text)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            serde::de::Error::custom(format!(
                "bad interval {text:?} (a duration such as \"1m\", \"30s\", \"500ms\")"
            ))
        })
}

/// The running watch; [`DeadlineWatch::stop`] ends it after the pass in progress, if any.
pub struct DeadlineWatch {
    stop: oneshot::Sender<()>,
    join: JoinHandle<()>,
}

impl DeadlineWatch {
    /// Start the watch over `intake` (None when `enabled` is false).
    pub fn start(intake: Arc<Intake>, cfg: &DeadlineWatchConfig) -> Option<DeadlineWatch> {
        if !cfg.enabled {
            tracing::warn!("deadline watch off: no due-soon or overdue events are sent");
            return None;
        }
        let (stop, mut stopped) = oneshot::channel::<()>();
        let (interval, days) = (cfg.interval, cfg.due_soon_days);
        let join = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = &mut stopped => return,
                    _ = ticks.tick() => {}
                }
                if let Err(e) = intake
                    .watch_deadlines(paidan_core::now_millis(), days)
                    .await
                {
                    tracing::error!(error = %e, "deadline watch pass failed; retried next interval");
                }
            }
        });
        Some(DeadlineWatch { stop, join })
    }

    /// Stop and wait for the task (a pass in progress finishes first).
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.join.await;
    }
}
