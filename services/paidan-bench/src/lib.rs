//! Shared fixtures of paidan's benchmarks: real complaint texts, synthetic case streams built from
//! them, and a dedup index of N cases in a real [`SledStore`].
//!
//! The criterion benches (`benches/`) measure single stages; the `dedup-lookup` binary measures
//! the duplicate-candidate lookup at 10k / 100k / 1M indexed cases with latency percentiles.
//!
//! # The synthetic case stream
//! Only 2,000 real texts ship in the repo (`eval/sets/load_texts.jsonl`), so an index of 1M cases
//! is made of recombined real sentences: case `k` takes the title of one real complaint, 3–6
//! sentences drawn from the whole pool, a house number that depends on `k`, and the jurisdiction
//! of the complaint its title came from (117 jurisdictions, the largest holding 28 % of cases).
//! `received_at` spreads the cases evenly over the two years before [`NOW_MS`]. Every real
//! sentence recurs in many synthetic cases (about 300 at 1M), so a real query shares
//! band keys with more indexed cases than a real city's history would give it: the lookup numbers
//! are on the pessimistic side.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use paidan_dedup::Fingerprint;
use paidan_store::{CaseRecord, DedupEntry, Millis, NewCase, Store};
use paidan_testkit::CaseBuilder;

/// Errors of the fixtures.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} line {line}: {source}")]
    Json {
        path: PathBuf,
        line: usize,
        source: serde_json::Error,
    },
    #[error("{0} holds no texts")]
    Empty(PathBuf),
    #[error("store: {0}")]
    Store(#[from] paidan_store::StoreError),
}

/// "Now" of the synthetic stream: 2026-01-01T00:00:00Z.
pub const NOW_MS: Millis = 1_767_225_600_000;
/// The synthetic stream spreads `received_at` over this many milliseconds before [`NOW_MS`].
pub const SPAN_MS: Millis = 2 * 365 * paidan_dedup::DAY_MS;

/// One complaint text.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
pub struct Text {
    #[serde(default)]
    pub title: String,
    pub text: String,
    #[serde(default)]
    pub jurisdiction: String,
}

/// Repository root (two levels above this crate).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `eval/sets/load_texts.jsonl` of the repository.
pub fn default_texts_path() -> PathBuf {
    repo_root().join("eval/sets/load_texts.jsonl")
}

/// Reads a JSONL file of `{"text", "title"?, "jurisdiction"?}` rows, skipping empty texts.
pub fn read_texts(path: &Path) -> Result<Vec<Text>, BenchError> {
    let raw = std::fs::read_to_string(path).map_err(|source| BenchError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut out = Vec::new();
    for (i, line) in raw.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let mut t: Text = serde_json::from_str(line).map_err(|source| BenchError::Json {
            path: path.to_path_buf(),
            line: i + 1,
            source,
        })?;
        if t.text.trim().is_empty() {
            continue;
        }
        if t.jurisdiction.is_empty() {
            t.jurisdiction = "A市".into();
        }
        out.push(t);
    }
    if out.is_empty() {
        return Err(BenchError::Empty(path.to_path_buf()));
    }
    Ok(out)
}

/// The texts of [`default_texts_path`].
pub fn load_texts() -> Result<Vec<Text>, BenchError> {
    read_texts(&default_texts_path())
}

/// SplitMix64: a tiny deterministic mixer for reproducible synthetic streams.
pub fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Splits texts into sentences (at 。！？；!?; and newlines), keeping the terminator.
pub fn sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if matches!(c, '。' | '！' | '？' | '；' | '!' | '?' | ';' | '\n') {
            let end = i + c.len_utf8();
            let s = &text[start..end];
            if s.trim().chars().count() > 1 {
                out.push(s);
            }
            start = end;
        }
    }
    if text[start..].trim().chars().count() > 1 {
        out.push(&text[start..]);
    }
    out
}

/// Deterministic synthetic complaints recombined from real sentences (see the crate docs).
pub struct Synth {
    texts: Vec<Text>,
    pool: Vec<String>,
}

impl Synth {
    pub fn new(texts: Vec<Text>) -> Synth {
        let pool = texts
            .iter()
            .flat_map(|t| sentences(&t.text))
            .map(|s| s.trim().to_string())
            .collect();
        Synth { texts, pool }
    }

    /// Number of distinct sentences in the pool.
    pub fn pool_len(&self) -> usize {
        self.pool.len()
    }

    /// The real texts the stream is made from.
    pub fn texts(&self) -> &[Text] {
        &self.texts
    }

    /// Synthetic complaint number `k` and its `received_at`.
    pub fn case(&self, k: u64) -> (Text, Millis) {
        let mut h = splitmix64(k ^ 0x5041_4944_414e); // "PAIDAN"
        let base = &self.texts[(h % self.texts.len() as u64) as usize];
        h = splitmix64(h);
        let n = 3 + (h % 4) as usize;
        let mut text = String::new();
        for i in 0..n {
            h = splitmix64(h);
            let s = &self.pool[(h % self.pool.len() as u64) as usize];
            if i == 1 {
                text.push_str(&format!(
                    "地址在{}号楼{}单元。",
                    1 + k % 97,
                    1 + (k / 97) % 9
                ));
            }
            text.push_str(s);
        }
        h = splitmix64(h);
        let received_at = NOW_MS - (h % SPAN_MS as u64) as Millis;
        (
            Text {
                title: base.title.clone(),
                text,
                jurisdiction: base.jurisdiction.clone(),
            },
            received_at,
        )
    }
}

/// A stored case as the intake core would build it (triage labels fixed, no PII).
pub fn case_record(t: &Text, request_id: String, received_at: Millis) -> CaseRecord {
    let digest = format!(
        "{:016x}",
        splitmix64(request_id.len() as u64 ^ received_at as u64)
    );
    CaseBuilder::new(0, received_at)
        .request(request_id, digest)
        .jurisdiction(t.jurisdiction.clone())
        .caller("", "")
        .title_text(t.title.clone(), t.text.clone())
        .routed("noise", "eco_env", 0.9)
        .alternatives(&["other"], &["urban_mgmt"])
        .model_version("bench")
        .build()
}

/// A new case with its dedup entry, as `Intake::submit` would insert it.
pub fn new_case(t: &Text, request_id: String, received_at: Millis) -> NewCase {
    let fp = Fingerprint::new(&t.title, &t.text, "");
    let record = case_record(t, request_id, received_at);
    NewCase {
        dedup: Some(DedupEntry {
            jurisdiction: record.jurisdiction.clone(),
            bands: fp.bands().to_vec(),
            fingerprint: fp.to_bytes(),
            received_at,
            category: record.category.clone(),
        }),
        link_to: None,
        record,
    }
}

/// Inserts synthetic cases `from..to` into `store` on `threads` threads (no flush), calling
/// `progress(done)` now and then. Returns the number inserted.
pub fn fill(
    store: &dyn Store,
    synth: &Synth,
    from: u64,
    to: u64,
    threads: usize,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<u64, BenchError> {
    let next = AtomicUsize::new(from as usize);
    let done = AtomicUsize::new(0);
    let threads = threads.max(1);
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| -> Result<(), BenchError> {
                    loop {
                        let k = next.fetch_add(1, Ordering::Relaxed) as u64;
                        if k >= to {
                            return Ok(());
                        }
                        let (t, at) = synth.case(k);
                        store.insert_case(new_case(&t, format!("bench-{k}"), at))?;
                        let d = done.fetch_add(1, Ordering::Relaxed) + 1;
                        if d.is_multiple_of(10_000) {
                            progress(d as u64);
                        }
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().expect("fill worker panicked")?;
        }
        Ok::<(), BenchError>(())
    })?;
    Ok(done.load(Ordering::Relaxed) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_split_at_terminators() {
        let table: &[(&str, &[&str])] = &[
            (
                "噪音很大。晚上施工！怎么办？",
                &["噪音很大。", "晚上施工！", "怎么办？"],
            ),
            ("没有句号", &["没有句号"]),
            ("。。好的；", &["好的；"]),
            ("", &[]),
        ];
        for (input, want) in table {
            assert_eq!(&sentences(input), want, "{input:?}");
        }
    }

    #[test]
    fn synthetic_stream_is_deterministic_and_varied() {
        let texts = vec![
            Text {
                title: "噪音扰民".into(),
                text: "工地夜间施工。噪音很大！请处理。".into(),
                jurisdiction: "A3区".into(),
            },
            Text {
                title: "路灯不亮".into(),
                text: "小区门口路灯坏了。晚上看不见路。".into(),
                jurisdiction: "鼓楼区".into(),
            },
        ];
        let synth = Synth::new(texts.clone());
        assert_eq!(synth.pool_len(), 5);
        let a = synth.case(7);
        assert_eq!(a, synth.case(7));
        let distinct: std::collections::HashSet<String> =
            (0..50).map(|k| synth.case(k).0.text).collect();
        assert!(
            distinct.len() > 40,
            "only {} distinct of 50",
            distinct.len()
        );
        for k in 0..50 {
            let (t, at) = synth.case(k);
            assert!(at <= NOW_MS && at > NOW_MS - SPAN_MS);
            assert!(
                texts
                    .iter()
                    .any(|r| r.title == t.title && r.jurisdiction == t.jurisdiction)
            );
        }
    }

    #[test]
    fn fill_indexes_every_case() {
        let texts = load_texts().unwrap();
        let synth = Synth::new(texts);
        let dir = tempfile::tempdir().unwrap();
        let store = paidan_store::SledStore::open(dir.path()).unwrap();
        let n = fill(&store, &synth, 0, 200, 2, &|_| {}).unwrap();
        assert_eq!(n, 200);
        // Every case can be found again through its own band keys.
        for k in [0u64, 57, 199] {
            let (t, at) = synth.case(k);
            let fp = Fingerprint::new(&t.title, &t.text, "");
            let found = store
                .dedup_candidates(&t.jurisdiction, fp.bands(), at, at, 1000)
                .unwrap();
            let ids: Vec<String> = found.iter().map(|(id, _)| id.clone()).collect();
            let mine = ids
                .iter()
                .filter_map(|id| store.get_case(id).unwrap())
                .any(|c| c.request_id == format!("bench-{k}"));
            assert!(mine, "case {k} not found through its bands");
        }
    }
}
