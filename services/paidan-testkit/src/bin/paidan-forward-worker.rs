//! Test helper for the crash tests (tests/crash.rs): a minimal "paidan" that stores cases in a
//! sled dir and forwards them to a gRPC CaseSink, printing `ACK <case_id>` once a case is durable.
//!
//! `paidan-forward-worker <data_dir> <grpc_endpoint> <first_index> <count>`

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use paidan_forward::{ForwardConfig, Forwarder, SinkConfig, forwarder::now_millis};
use paidan_store::{CaseRecord, SledStore, Store, StoreError};
use paidan_testkit::CaseBuilder;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 5 {
        return Err(
            "usage: paidan-forward-worker <data_dir> <grpc_endpoint> <first_index> <count>".into(),
        );
    }
    let store = Arc::new(SledStore::open(std::path::Path::new(&args[1]))?);
    let first: usize = args[3].parse()?;
    let count: usize = args[4].parse()?;
    let cfg = ForwardConfig {
        sinks: vec![SinkConfig::Grpc {
            name: "platform".into(),
            endpoint: args[2].clone(),
        }],
        base_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(50),
        max_attempts: 1_000,
        batch: 8,
        poll_interval: Duration::from_millis(20),
        timeout: Duration::from_secs(2),
        ..ForwardConfig::default()
    };
    let forwarder = Forwarder::from_config(store.clone(), &cfg)?;
    let notify = forwarder.notifier();
    tokio::spawn(forwarder.run(std::future::pending()));
    let mut out = std::io::stdout();
    for i in first..first + count {
        let s = store.clone();
        let c = tokio::task::spawn_blocking(move || -> Result<CaseRecord, StoreError> {
            let c = s
                .insert_case(
                    CaseBuilder::new(i, now_millis())
                        .model_version("worker")
                        .new_case(),
                )?
                .case;
            s.flush()?;
            Ok(c)
        })
        .await??;
        notify.notify_one();
        writeln!(out, "ACK {}", c.id)?;
        out.flush()?;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    writeln!(out, "DONE")?;
    out.flush()?;
    std::future::pending::<()>().await;
    Ok(())
}
