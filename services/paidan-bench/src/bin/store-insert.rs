//! `store-insert`: cost of one `Store::insert_case` (record, indexes, request id, dedup entry,
//! outbox event — one transaction) on a real sled store, measured in a way that survives a shared
//! machine: wall time per insert, bytes sled wrote per insert, and — under callgrind — an
//! instruction count of exactly the measured loop (`measured_inserts`).
//!
//! ```sh
//! # wall time and disk growth
//! cargo build --release -p paidan-bench --bin store-insert
//! target/release/store-insert --history 5000 --inserts 2000
//! # instructions per insert (only the measured loop is collected)
//! valgrind --tool=callgrind --toggle-collect='*measured_inserts*' --callgrind-out-file=/tmp/cg.out \
//!     target/release/store-insert --history 1000 --inserts 300
//! callgrind_annotate /tmp/cg.out | head -30     # "PROGRAM TOTALS" / 300 = instructions per insert
//! ```
//!
//! Inputs are built before the measured loop (synthetic complaints with real fingerprints), so
//! fingerprinting is not part of the figure. No flush inside the loop (group commit amortises it);
//! one flush after it, so the disk growth counts what the inserts logged.

use std::path::Path;
use std::time::Instant;

use clap::Parser;
use paidan_bench::{Synth, fill, load_texts, new_case};
use paidan_store::{NewCase, SledStore, Store};

#[derive(Parser, Debug)]
#[command(about = "Per-insert cost of the sled store (wall time, disk bytes; callgrind-friendly)")]
struct Args {
    /// Cases inserted (unmeasured) before the measured loop.
    #[arg(long, default_value_t = 5000)]
    history: u64,
    /// Cases inserted in the measured loop.
    #[arg(long, default_value_t = 2000)]
    inserts: u64,
    /// Leave out the dedup entry (the share of the dedup index in the insert).
    #[arg(long)]
    without_dedup: bool,
}

fn dir_size(p: &Path) -> u64 {
    let mut total = 0;
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => total += dir_size(&e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

#[inline(never)]
fn measured_inserts(store: &SledStore, pool: Vec<NewCase>) -> u64 {
    let mut n = 0;
    for nc in pool {
        let r = store.insert_case(nc).expect("insert");
        n += u64::from(r.created);
    }
    n
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let synth = Synth::new(load_texts()?);
    let dir = tempfile::tempdir()?;
    let store = SledStore::open(dir.path())?;
    fill(&store, &synth, 0, args.history, 1, &|_| {})?;
    store.flush()?;
    let pool: Vec<NewCase> = (0..args.inserts)
        .map(|i| {
            let k = 10_000_000 + i;
            let (t, at) = synth.case(k);
            let mut nc = new_case(&t, format!("bench-{k}"), at);
            if args.without_dedup {
                nc.dedup = None;
            }
            nc
        })
        .collect();
    let before = dir_size(dir.path());
    let t = Instant::now();
    let created = measured_inserts(&store, pool);
    let secs = t.elapsed().as_secs_f64();
    store.flush()?;
    let after = dir_size(dir.path());
    let report = serde_json::json!({
        "history": args.history,
        "inserts": created,
        "without_dedup": args.without_dedup,
        "us_per_insert": secs * 1e6 / created.max(1) as f64,
        "inserts_per_sec": created as f64 / secs,
        "disk_bytes_per_insert": after.saturating_sub(before) as f64 / created.max(1) as f64,
    });
    println!("{report}");
    Ok(())
}
