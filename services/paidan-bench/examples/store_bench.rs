//! Store throughput: `cargo run --release -p paidan-bench --example store_bench [N]`
//! (or without --release for the dev profile). Measures insert+flush per case (what an
//! un-batched server would do) and N inserts per flush (group commit), in a temp directory.

use std::time::Instant;

use paidan_store::*;
use paidan_testkit::CaseBuilder;

fn record(i: usize) -> CaseRecord {
    CaseBuilder::new(i, 1_767_225_600_000 + i as i64)
        .request(format!("bench-{i}"), format!("{i:064x}"))
        .title_text(
            "噪音扰民",
            "小区楼下的工地每天晚上十一点以后还在施工，噪音很大，严重影响休息，希望有关部门尽快处理。".repeat(3),
        )
        .caller("13812345678", "西湖区文三路100号")
        .alternatives(&["CAT.OTHER"], &[])
        .model_version("bench")
        .build()
}

fn new_case(i: usize) -> NewCase {
    NewCase {
        record: record(i),
        dedup: Some(DedupEntry {
            jurisdiction: "330106".into(),
            bands: (0..16)
                .map(|b| (i as u64).wrapping_mul(31).wrapping_add(b))
                .collect(),
            fingerprint: vec![0; 64],
            received_at: 0,
            category: "CAT.NOISE".into(),
        }),
        link_to: None,
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1000);

    let dir = tempfile::tempdir()?;
    let store = SledStore::open(dir.path())?;
    let start = Instant::now();
    for i in 0..n {
        store.insert_case(new_case(i))?;
        store.flush()?;
    }
    let el = start.elapsed();
    println!(
        "insert+flush each:      {n} cases in {:.2?} = {:.0} cases/s ({:.2} ms/case)",
        el,
        n as f64 / el.as_secs_f64(),
        el.as_secs_f64() * 1000.0 / n as f64
    );

    for batch in [10, 100, n] {
        let dir = tempfile::tempdir()?;
        let store = SledStore::open(dir.path())?;
        let start = Instant::now();
        let mut i = 0;
        while i < n {
            for _ in 0..batch.min(n - i) {
                store.insert_case(new_case(i))?;
                i += 1;
            }
            store.flush()?;
        }
        let el = start.elapsed();
        println!(
            "{batch:>5} inserts per flush: {n} cases in {:.2?} = {:.0} cases/s",
            el,
            n as f64 / el.as_secs_f64()
        );
    }
    Ok(())
}
