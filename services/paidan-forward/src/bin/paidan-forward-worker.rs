//! Test helper for the crash tests (tests/crash.rs): a minimal "paidan" that stores cases in a
//! sled dir and forwards them to a gRPC CaseSink, printing `ACK <case_id>` once a case is durable.
//!
//! `paidan-forward-worker <data_dir> <grpc_endpoint> <first_index> <count>`

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use paidan_forward::{ForwardConfig, Forwarder, SinkConfig, forwarder::now_millis};
use paidan_store::*;

fn case(i: usize) -> NewCase {
    let now = now_millis();
    let label = |c: &str| LabelRecord {
        code: c.into(),
        name: c.into(),
        confidence: 0.9,
    };
    NewCase {
        record: CaseRecord {
            id: String::new(),
            request_id: format!("req-{i}"),
            request_digest: format!("digest-{i}"),
            channel: Channel::Hotline12345,
            received_at: now,
            created_at: now,
            jurisdiction: "330106".into(),
            caller_phone: "13812345678".into(),
            title: "噪音".into(),
            text: format!("第{i}号投诉：夜间施工噪音扰民"),
            address: "文三路".into(),
            location: None,
            triage: TriageRecord {
                category: label("CAT.NOISE"),
                department: label("DEPT.ENV"),
                category_alternatives: vec![],
                department_alternatives: vec![],
                needs_review: false,
                review_reasons: vec![],
                model_version: "worker".into(),
            },
            category: "CAT.NOISE".into(),
            department: "DEPT.ENV".into(),
            status: CaseStatus::Accepted,
            history: vec![],
            corrections: vec![],
            duplicate_of: None,
            duplicate_score: 0.0,
            reports: vec![],
            forwarding: ForwardingRecord::new(),
        },
        dedup: None,
        link_to: None,
    }
}

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
            let c = s.insert_case(case(i))?.case;
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
