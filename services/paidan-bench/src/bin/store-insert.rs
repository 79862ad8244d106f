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

/// The server's allocator (`services/paidan/src/main.rs`), so what is measured here is what serves.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::path::Path;
use std::time::Instant;

use clap::Parser;
use paidan_bench::{Synth, fill, load_texts, new_case};
use paidan_store::{NewCase, SledStore, Store, StoreOptions};

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
    /// sled page cache, MiB (default: the store's default).
    #[arg(long)]
    cache_mib: Option<u64>,
}

fn vm_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .unwrap_or(0.0)
        / 1024.0
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
    let mut opts = StoreOptions::default();
    if let Some(m) = args.cache_mib {
        opts.cache_capacity = m * 1024 * 1024;
    }
    let store = SledStore::open_with(dir.path(), &opts)?;
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
    let rss_after_inserts = vm_rss_mb();
    // What a restart over this store holds: reopen and read every case once.
    drop(store);
    let store = SledStore::open_with(dir.path(), &opts)?;
    let rss_reopened = vm_rss_mb();
    let mut read = 0u64;
    for id in 0..(args.history + args.inserts) * 2 {
        read += u64::from(store.get_case(&format!("PD{id:012}"))?.is_some());
    }
    let rss_after_reads = vm_rss_mb();
    let report = serde_json::json!({
        "history": args.history,
        "inserts": created,
        "without_dedup": args.without_dedup,
        "us_per_insert": secs * 1e6 / created.max(1) as f64,
        "inserts_per_sec": created as f64 / secs,
        "disk_bytes_per_insert": after.saturating_sub(before) as f64 / created.max(1) as f64,
        "cache_capacity_mib": opts.cache_capacity / (1024 * 1024),
        "rss_mb_after_inserts": rss_after_inserts,
        "rss_mb_reopened": rss_reopened,
        "rss_mb_after_reading_all": rss_after_reads,
        "cases_read": read,
    });
    println!("{report}");
    Ok(())
}
