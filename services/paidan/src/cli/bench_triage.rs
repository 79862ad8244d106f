//! `paidan bench-triage`: in-process throughput of the whole triage path (normalise, mask,
//! segment, featurise, classify, calibrate, review flags) over real texts, on all cores.
//!
//! The texts are split into contiguous shares, one per thread; each thread runs its share through
//! `Classifier::triage_batch` in batches of `--batch`, `--passes` times. One warm-up batch per
//! thread runs before the clock starts. Throughput = complaints triaged / wall-clock seconds.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use paidan_model::{Classifier, TriageInput};
use serde::Serialize;

#[derive(clap::Args, Debug, Clone)]
pub struct BenchTriageArgs {
    /// JSONL with `text` and optional `title` (and optional `jurisdiction`) per line.
    #[arg(long)]
    pub data: PathBuf,
    /// Write `{"complaints_per_sec", "n", "threads", ...}` here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Worker threads [default: all cores].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Use at most this many rows of --data.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Model artifact directory.
    #[arg(long, default_value = "models/default", env = "PAIDAN_MODEL_DIR")]
    pub model_dir: PathBuf,
    /// Complaints per `triage_batch` call.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// How many times each thread runs through its share of the texts.
    #[arg(long, default_value_t = 3)]
    pub passes: usize,
}

/// The JSON written by `--json`.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct BenchTriageReport {
    pub complaints_per_sec: f64,
    /// Complaints triaged in the timed part (rows × passes).
    pub n: usize,
    pub threads: usize,
    /// Distinct rows used.
    pub rows: usize,
    pub batch: usize,
    pub seconds: f64,
    pub model_dir: String,
}

fn read_rows(path: &Path, limit: Option<usize>) -> anyhow::Result<Vec<super::texts::TextRow>> {
    super::texts::read_text_rows(path, limit)
}

/// Contiguous shares of `0..n` for `k` workers, sizes differing by at most one.
fn shares(n: usize, k: usize) -> Vec<std::ops::Range<usize>> {
    let k = k.max(1);
    (0..k)
        .map(|i| (i * n / k)..((i + 1) * n / k))
        .filter(|r| !r.is_empty())
        .collect()
}

fn to_inputs(rows: &[(String, String, String)]) -> Vec<TriageInput<'_>> {
    rows.iter()
        .map(|(title, text, jurisdiction)| TriageInput {
            title,
            text,
            jurisdiction,
        })
        .collect()
}

/// Runs the measurement on an already loaded classifier.
pub fn measure(
    classifier: &Classifier,
    rows: &[(String, String, String)],
    threads: usize,
    batch: usize,
    passes: usize,
) -> anyhow::Result<(usize, f64)> {
    let batch = batch.max(1);
    let passes = passes.max(1);
    let parts = shares(rows.len(), threads);
    // Warm-up: one batch, untimed.
    let warm = to_inputs(&rows[..rows.len().min(batch)]);
    classifier
        .triage_batch(&warm)
        .map_err(|e| anyhow::anyhow!("warm-up triage failed: {e}"))?;

    let start = Instant::now();
    let done: anyhow::Result<usize> = std::thread::scope(|s| {
        let handles: Vec<_> = parts
            .iter()
            .map(|range| {
                let share = &rows[range.clone()];
                s.spawn(move || -> anyhow::Result<usize> {
                    let mut n = 0;
                    for _ in 0..passes {
                        for chunk in share.chunks(batch) {
                            let inputs = to_inputs(chunk);
                            let out = classifier
                                .triage_batch(&inputs)
                                .map_err(|e| anyhow::anyhow!("triage failed: {e}"))?;
                            if out.len() != inputs.len() {
                                bail!(
                                    "triage_batch returned {} results for {} inputs",
                                    out.len(),
                                    inputs.len()
                                );
                            }
                            n += out.len();
                        }
                    }
                    Ok(n)
                })
            })
            .collect();
        let mut total = 0;
        for h in handles {
            total += h
                .join()
                .map_err(|_| anyhow::anyhow!("a triage thread panicked"))??;
        }
        Ok(total)
    });
    let n = done?;
    Ok((n, start.elapsed().as_secs_f64()))
}

pub fn run(args: BenchTriageArgs) -> anyhow::Result<()> {
    let threads = match args.threads {
        Some(0) => bail!("--threads must be at least 1"),
        Some(t) => t,
        None => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
    };
    let rows: Vec<(String, String, String)> = read_rows(&args.data, args.limit)?
        .into_iter()
        .map(|r| (r.title, r.text, r.jurisdiction.unwrap_or_default()))
        .collect();
    let classifier = Classifier::load(&args.model_dir)
        .map_err(|e| anyhow::anyhow!("cannot load model from {}: {e}", args.model_dir.display()))?;
    let (n, seconds) = measure(&classifier, &rows, threads, args.batch, args.passes)?;
    let report = BenchTriageReport {
        complaints_per_sec: if seconds > 0.0 {
            n as f64 / seconds
        } else {
            0.0
        },
        n,
        threads,
        rows: rows.len(),
        batch: args.batch.max(1),
        seconds,
        model_dir: args.model_dir.display().to_string(),
    };
    println!(
        "triaged {} complaints ({} rows × {} passes) on {} threads in {:.2} s: {:.0} complaints/s",
        report.n,
        report.rows,
        args.passes.max(1),
        report.threads,
        report.seconds,
        report.complaints_per_sec
    );
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_cover_every_row_once() {
        let table: &[(usize, usize, &[usize])] = &[
            (10, 2, &[5, 5]),
            (11, 2, &[5, 6]),
            (3, 4, &[1, 1, 1]),
            (0, 2, &[]),
            (7, 1, &[7]),
            (7, 0, &[7]),
        ];
        for (n, k, sizes) in table {
            let s = shares(*n, *k);
            let got: Vec<usize> = s.iter().map(|r| r.len()).collect();
            assert_eq!(&got, sizes, "n={n} k={k}");
            let mut next = 0;
            for r in &s {
                assert_eq!(r.start, next);
                next = r.end;
            }
            assert_eq!(next, *n);
        }
    }

    #[test]
    fn reads_rows_with_limit() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.jsonl");
        std::fs::write(&p, "{\"text\":\"a\"}\n{\"text\":\"\"}\n{\"title\":\"t\",\"text\":\"b\"}\n{\"text\":\"c\"}\n").unwrap();
        let all: Vec<String> = read_rows(&p, None)
            .unwrap()
            .into_iter()
            .map(|r| r.text)
            .collect();
        assert_eq!(all, ["a", "b", "c"]);
        let two: Vec<String> = read_rows(&p, Some(2))
            .unwrap()
            .into_iter()
            .map(|r| r.text)
            .collect();
        assert_eq!(two, ["a", "b"]);
    }
}
