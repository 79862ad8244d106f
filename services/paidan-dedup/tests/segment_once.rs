//! A fingerprint built from a shared [`Segmentation`] (the one the classifier cut for the same
//! complaint) is byte for byte the fingerprint [`Fingerprint::new`] builds on its own, on every
//! real complaint of `eval/sets/load_texts.jsonl`, whichever side segments first.

use paidan_dedup::Fingerprint;
use paidan_text::{Segmentation, mask_for_features, normalize};

struct Row {
    title: String,
    text: String,
    address: String,
}

fn rows() -> Vec<Row> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../eval/sets/load_texts.jsonl"
    );
    let raw = std::fs::read_to_string(path).expect("eval/sets/load_texts.jsonl");
    let field = |v: &serde_json::Value, k: &str| v[k].as_str().unwrap_or_default().to_string();
    raw.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("jsonl row");
            Row {
                title: field(&v, "title"),
                text: field(&v, "text"),
                // The rows carry no address; the jurisdiction exercises the address path.
                address: field(&v, "jurisdiction"),
            }
        })
        .collect()
}

/// The classifier's view of a complaint as paidan-model builds it (title and text joined by a
/// space, normalised, PII masked), for filling the segmentation the way it does.
fn classifier_view(r: &Row) -> String {
    mask_for_features(&normalize(&format!("{} {}", r.title, r.text)))
}

#[test]
fn shared_segmentation_gives_the_same_fingerprint_bytes() {
    let rows = rows();
    assert!(rows.len() >= 1000, "only {} rows", rows.len());
    let mut seg = Segmentation::new();
    let (mut reused, mut cut) = (0, 0);
    for (i, r) in rows.iter().enumerate() {
        let alone = Fingerprint::new(&r.title, &r.text, &r.address).to_bytes();

        // Fingerprint first (tagging), then the classifier's view from memory.
        seg.clear();
        let first = Fingerprint::with_segmentation(&r.title, &r.text, &r.address, &mut seg);
        assert_eq!(first.to_bytes(), alone, "row {i}: fingerprint first");
        let view = classifier_view(r);
        assert_eq!(
            seg.cut(&view),
            paidan_text::Segmenter::global().cut(&view),
            "row {i}: classifier view"
        );
        let (c, u) = seg.counts();
        cut += c;
        reused += u;

        // Classifier first (plain cut, no tags), then the fingerprint.
        seg.clear();
        seg.cut(&view);
        let after = Fingerprint::with_segmentation(&r.title, &r.text, &r.address, &mut seg);
        assert_eq!(after.to_bytes(), alone, "row {i}: classifier first");

        // The same segmentation again: everything from memory.
        let again = Fingerprint::with_segmentation(&r.title, &r.text, &r.address, &mut seg);
        assert_eq!(again.to_bytes(), alone, "row {i}: again");
    }
    eprintln!("fingerprint then classifier view: {cut} blocks segmented, {reused} from memory");
    // The classifier's view shares most of its blocks with the fingerprint's.
    assert!(reused > cut, "reused {reused} blocks, cut {cut}");
}
