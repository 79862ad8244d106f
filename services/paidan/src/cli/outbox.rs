//! `paidan outbox list|retry|drop`: inspect and replay the forwarding outbox of a stopped server
//! (sled admits one process; on a running server use the Admin RPCs instead; on PostgreSQL,
//! `--store-url`, the server may be running). Retry and drop go
//! through the same domain functions as the RPCs, so they are in the audit trail too, with the
//! actor `cli:<user>`.

use std::path::PathBuf;

use anyhow::Context;
use paidan_core::{audit, now_millis};
use paidan_store::OutboxEntry;

#[derive(clap::Args, Debug)]
pub struct OutboxArgs {
    #[arg(long, env = "PAIDAN_DATA_DIR", default_value = crate::config::DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// The PostgreSQL store instead of sled (as `paidan serve --store-url`).
    #[arg(long, env = "PAIDAN_STORE_URL", hide_env_values = true)]
    pub store_url: Option<String>,
    #[command(subcommand)]
    pub action: OutboxAction,
}

#[derive(clap::Subcommand, Debug)]
pub enum OutboxAction {
    /// Pending entries (or dead letters with --dead).
    List {
        #[arg(long)]
        dead: bool,
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Move dead letters back to the outbox (all when no key is given).
    Retry { keys: Vec<String> },
    /// Delete the named dead letters.
    Drop {
        #[arg(required = true)]
        keys: Vec<String>,
    },
}

fn line(e: &OutboxEntry) -> String {
    format!(
        "{:<24} {:<16} {:?} attempts={} delivered_to=[{}] {}",
        e.idempotency_key,
        e.case_id,
        e.kind,
        e.attempts,
        e.delivered_to.join(","),
        e.last_error
    )
}

pub fn run(a: OutboxArgs) -> anyhow::Result<()> {
    let store = crate::server::open_store(&a.data_dir, a.store_url.as_deref()).context(
        "cannot open the case store (a running server holds a sled store: use the Admin RPCs)",
    )?;
    let actor = format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".to_string())
    );
    match a.action {
        OutboxAction::List { dead, limit } => {
            let (entries, total) = audit::outbox_list(&*store, dead, limit)?;
            for e in entries {
                println!("{}", line(&e));
            }
            println!(
                "{} {}",
                total,
                if dead {
                    "dead letters"
                } else {
                    "pending entries"
                }
            );
        }
        OutboxAction::Retry { keys } => {
            let n = audit::retry_dead_letters(&*store, &keys, &actor, now_millis())?;
            println!("{n} dead letters moved back to the outbox");
        }
        OutboxAction::Drop { keys } => {
            let n = audit::drop_dead_letters(&*store, &keys, &actor, now_millis())?;
            println!("{n} dead letters dropped");
        }
    }
    Ok(())
}
