//! The shipped model triages a complaint the same whether its words are cut on their own or
//! through a `Segmentation` shared with the dedup fingerprint (which tags the normalised
//! "title。text" first), on every real complaint of `eval/sets/load_texts.jsonl`.

use std::path::PathBuf;

use paidan_model::{Classifier, TriageInput};
use paidan_text::{Segmentation, normalize};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn shared_segmentation_gives_the_same_triage() {
    let classifier = Classifier::load(&repo().join("models/default")).expect("models/default");
    let raw = std::fs::read_to_string(repo().join("eval/sets/load_texts.jsonl")).unwrap();
    let mut seg = Segmentation::new();
    let mut n = 0;
    for (i, line) in raw.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
        let (title, text, jurisdiction) = (s("title"), s("text"), s("jurisdiction"));
        let input = TriageInput {
            title: &title,
            text: &text,
            jurisdiction: &jurisdiction,
        };
        let alone = classifier.triage(&input).unwrap();
        seg.clear();
        // What the fingerprint segments: the normalised title and text joined by "。".
        let fp_view = format!("{}。{}", normalize(&title), normalize(&text));
        seg.tag(&fp_view);
        assert_eq!(
            classifier.triage_with(&input, &mut seg).unwrap(),
            alone,
            "row {i}"
        );
        assert_eq!(
            classifier.logits_with(&title, &text, &mut seg),
            classifier.logits(&title, &text),
            "row {i}: logits"
        );
        n += 1;
    }
    assert!(n >= 1000, "only {n} rows");
}
