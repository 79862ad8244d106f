//! `dedup-lookup`: latency of the duplicate lookup of `SubmitComplaint` at 10k / 100k / 1M
//! indexed cases in a real sled store.
//!
//! One store is filled with the synthetic case stream of `paidan_bench` up to each size in turn
//! (insert_case, as the intake core writes cases: record, indexes, band entries, outbox event, one
//! transaction each; flushed once per size). At each size every real text of
//! `eval/sets/load_texts.jsonl` is looked up once untimed (warm-up) and once timed: the lookup is
//! `Deduplicator::best_open_match` of paidan-core — band candidates from the store, their
//! fingerprints decoded and scored, resolved to the open master — exactly what a submit runs.
//! The fingerprint of the query is computed outside the timed section (and reported separately).
//!
//! ```sh
//! cargo run --release -p paidan-bench --bin dedup-lookup -- --sizes 10000,100000,1000000 --json out.json
//! ```

/// The server's allocator (`services/paidan/src/main.rs`), so what is measured here is what serves.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use hdrhistogram::Histogram;
use paidan_bench::{NOW_MS, Synth, fill, load_texts};
use paidan_core::{DedupSettings, Deduplicator};
use paidan_dedup::Fingerprint;
use paidan_store::{SledStore, Store};
use serde::Serialize;

#[derive(Parser, Debug)]
#[command(about = "Dedup lookup latency at growing index sizes (real sled store)")]
struct Args {
    /// Index sizes to measure, ascending, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "10000,100000")]
    sizes: Vec<u64>,
    /// Keep the store in this directory (reused by later runs: cases already there are not rebuilt).
    /// Default: a temporary directory.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Threads inserting cases while the index is built.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Lookups per size (cycling over the real texts).
    #[arg(long, default_value_t = 2000)]
    queries: usize,
    /// Write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Serialize, Debug)]
struct SizeResult {
    indexed_cases: u64,
    /// Seconds spent inserting the cases added for this size.
    build_seconds: f64,
    /// Insert rate while building this size (cases/s, no flush per case).
    build_cases_per_sec: f64,
    /// Size of the sled directory after the flush, bytes.
    disk_bytes: u64,
    lookups: u64,
    p50_us: f64,
    p95_us: f64,
    p99_us: f64,
    max_us: f64,
    mean_us: f64,
    /// Mean band candidates returned by the store per lookup (before the limit of 32).
    mean_candidates: f64,
    /// Lookups that found a duplicate (an open master scoring over the threshold).
    matched: u64,
    /// Cases in the in-memory band index (those whose matter was active within the window).
    band_index_cases: usize,
    band_index_postings: usize,
    band_index_table_bytes: usize,
    /// Everything the band index holds (posting table, slots, case and time maps), bytes, and
    /// that per indexed (windowed) case: issue 19's target is at most 200.
    band_index_bytes: usize,
    band_index_bytes_per_case: f64,
    /// Cells of evicted cases the index's sweep has not cleared yet.
    band_index_stale_cells: usize,
    /// Resident memory of this process after the lookups, bytes.
    vm_rss_bytes: u64,
    /// Seconds to reopen the store (rebuilds the band index), measured when this size was built.
    reopen_seconds: Option<f64>,
}

fn vm_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .unwrap_or(0)
        * 1024
}

#[derive(Serialize, Debug)]
struct Report {
    fingerprint_mean_us: f64,
    results: Vec<SizeResult>,
}

fn dir_size(p: &std::path::Path) -> u64 {
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

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut sizes = args.sizes.clone();
    sizes.sort_unstable();
    sizes.dedup();
    let texts = load_texts()?;
    let synth = Synth::new(texts.clone());
    eprintln!(
        "{} real texts, {} sentences in the pool",
        texts.len(),
        synth.pool_len()
    );

    let tmp;
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => {
            tmp = tempfile::tempdir()?;
            tmp.path().to_path_buf()
        }
    };
    // The marker holds the number of cases in the store and a digest of the fingerprint format: a
    // store built by another version of paidan-dedup (other band keys) is rebuilt, not reused.
    let marker = dir.join("bench-filled.txt");
    let format = {
        let fp = Fingerprint::new(
            "噪音扰民",
            "小区楼下工地夜间施工噪音很大，严重影响休息。",
            "",
        );
        let mut h = 0u64;
        for b in fp.to_bytes() {
            h = paidan_bench::splitmix64(h ^ u64::from(b));
        }
        format!("{h:016x}")
    };
    let mut have: u64 = match std::fs::read_to_string(&marker) {
        Ok(s) => {
            let mut parts = s.split_whitespace();
            match (parts.next().and_then(|n| n.parse().ok()), parts.next()) {
                (Some(n), Some(f)) if f == format => n,
                (Some(n), _) if rekeyable(&dir)? => {
                    eprintln!(
                        "{} holds an older fingerprint version: re-keyed, {n} cases kept",
                        dir.display()
                    );
                    std::fs::write(&marker, format!("{n} {format}\n"))?;
                    n
                }
                _ => {
                    eprintln!(
                        "{} was built with another fingerprint format: rebuilding",
                        dir.display()
                    );
                    std::fs::remove_dir_all(&dir)?;
                    0
                }
            }
        }
        Err(_) => 0,
    };
    std::fs::create_dir_all(&dir)?;
    let mut store =
        Arc::new(SledStore::open(&dir).with_context(|| format!("opening {}", dir.display()))?);
    // As `paidan serve` opens a store: a new one records this build's key version.
    paidan_core::rekey_dedup(&*store)?;

    // Query fingerprints: computed once, outside the timed lookups.
    let t0 = Instant::now();
    let queries: Vec<(Fingerprint, String)> = texts
        .iter()
        .map(|t| {
            (
                Fingerprint::new(&t.title, &t.text, ""),
                t.jurisdiction.clone(),
            )
        })
        .collect();
    let fingerprint_mean_us = t0.elapsed().as_secs_f64() * 1e6 / queries.len() as f64;

    let settings = DedupSettings::default();
    let window = settings.decision.window_ms;
    let dedup = Deduplicator::new(store.clone(), settings);
    let mut results = Vec::new();
    for &size in &sizes {
        let started = Instant::now();
        let before = have;
        if have < size {
            let from = have;
            fill(store.as_ref(), &synth, from, size, args.threads, &|d| {
                if d % 100_000 == 0 {
                    eprintln!("  {} / {} cases", from + d, size);
                }
            })?;
            store.flush()?;
            have = size;
            std::fs::write(&marker, format!("{have} {format}\n"))?;
        }
        let build_seconds = started.elapsed().as_secs_f64();
        // Reopen: what a restart costs (the band index is rebuilt from the store).
        let reopen_seconds = if have > before {
            drop(store);
            let t = Instant::now();
            store = Arc::new(SledStore::open(&dir)?);
            Some(t.elapsed().as_secs_f64())
        } else {
            None
        };
        let added = have - before;

        let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
        let mut candidates = 0u64;
        let mut matched = 0u64;
        let mut total_us = 0f64;
        for pass in 0..2 {
            for i in 0..args.queries {
                let (fp, jurisdiction) = &queries[i % queries.len()];
                let t = Instant::now();
                let m = dedup.best_open_match(store.as_ref(), fp, jurisdiction, "noise", NOW_MS)?;
                let us = t.elapsed().as_secs_f64() * 1e6;
                if pass == 1 {
                    hist.record((us as u64).max(1))?;
                    total_us += us;
                    matched += u64::from(m.is_some());
                    candidates += store
                        .dedup_candidates(
                            jurisdiction,
                            fp.bands(),
                            NOW_MS - window,
                            NOW_MS + window,
                            usize::MAX,
                        )?
                        .len() as u64;
                }
            }
        }
        let n = args.queries as u64;
        let stats = store.band_index_stats();
        let r = SizeResult {
            indexed_cases: have,
            build_seconds,
            build_cases_per_sec: if added > 0 {
                added as f64 / build_seconds
            } else {
                0.0
            },
            disk_bytes: dir_size(&dir),
            lookups: n,
            p50_us: hist.value_at_quantile(0.50) as f64,
            p95_us: hist.value_at_quantile(0.95) as f64,
            p99_us: hist.value_at_quantile(0.99) as f64,
            max_us: hist.max() as f64,
            mean_us: total_us / n as f64,
            mean_candidates: candidates as f64 / n as f64,
            matched,
            band_index_cases: stats.cases,
            band_index_postings: stats.postings,
            band_index_table_bytes: stats.table_bytes,
            band_index_bytes: stats.index_bytes,
            band_index_bytes_per_case: stats.index_bytes as f64 / stats.cases.max(1) as f64,
            band_index_stale_cells: stats.stale_cells,
            vm_rss_bytes: vm_rss_bytes(),
            reopen_seconds,
        };
        eprintln!(
            "{:>8} cases: lookup p50 {:.0} µs, p95 {:.0} µs, p99 {:.0} µs, max {:.0} µs; {:.0} candidates/lookup; built at {:.0} cases/s; {:.0} MB on disk; {} cases in the band index ({:.0} bytes each); RSS {:.0} MB; reopen {:?} s",
            r.indexed_cases,
            r.p50_us,
            r.p95_us,
            r.p99_us,
            r.max_us,
            r.mean_candidates,
            r.build_cases_per_sec,
            r.disk_bytes as f64 / 1e6,
            r.band_index_cases,
            r.band_index_bytes_per_case,
            r.vm_rss_bytes as f64 / 1e6,
            r.reopen_seconds
        );
        results.push(r);
    }
    let report = Report {
        fingerprint_mean_us,
        results,
    };
    let json = serde_json::to_string_pretty(&report)?;
    println!("{json}");
    if let Some(p) = &args.json {
        std::fs::write(p, json + "\n")?;
    }
    Ok(())
}

/// Whether the store in `dir` was written with an older fingerprint version (what changed is the
/// band layout, which `paidan_core::rekey_dedup` converts): re-keys it and says so. A
/// store at this version whose format digest differs was built by other fingerprint code and is
/// rebuilt instead.
fn rekeyable(dir: &std::path::Path) -> anyhow::Result<bool> {
    let store = SledStore::open(dir).with_context(|| format!("opening {}", dir.display()))?;
    if store.dedup_key_version()? == u32::from(paidan_dedup::FINGERPRINT_VERSION) {
        return Ok(false);
    }
    let t = Instant::now();
    let n = paidan_core::rekey_dedup(&store)?;
    eprintln!(
        "  re-keyed {n} dedup entries in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    Ok(true)
}
