//! Duplicate detection on two arbitrary reports: fingerprinting, the binary form the store keeps
//! (round trip, and decoding arbitrary bytes as a stored fingerprint), and the score. Checks: no
//! panic, scores in [0, 1], a report compared with itself is never scored lower than with another
//! under the same context, and the decision respects the jurisdiction gate.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paidan_dedup::{DAY_MS, DedupConfig, Fingerprint, MatchContext, score};

/// The input is one flag byte (bit 0 same category, bit 1 same jurisdiction, bits 2-7 the gap
/// in days), then `a_text \x1f b_text \x1f a_title \x1f b_title \x1f a_address \x1f b_address`
/// (lossy UTF-8, missing parts empty) — or, with flag byte 0xff, bytes read back as if the store
/// had kept them as a fingerprint.
struct Input<'a> {
    a: [&'a str; 3],
    b: [&'a str; 3],
    same_category: bool,
    same_jurisdiction: bool,
    gap_ms: i64,
}

fn check(what: &str, s: f32) {
    assert!((0.0..=1.0).contains(&s), "{what}: score {s} outside [0, 1]");
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    if flags == 0xff {
        stored(rest);
        return;
    }
    let rest = String::from_utf8_lossy(rest);
    let mut parts = rest.split('\u{1f}');
    let mut next = || parts.next().unwrap_or("");
    let (at, bt, ati, bti, aa, ba) = (next(), next(), next(), next(), next(), next());
    let input = Input {
        a: [ati, at, aa],
        b: [bti, bt, ba],
        same_category: flags & 1 != 0,
        same_jurisdiction: flags & 2 != 0,
        gap_ms: i64::from(flags >> 2) * DAY_MS,
    };
    let a = Fingerprint::new(input.a[0], input.a[1], input.a[2]);
    let b = Fingerprint::new(input.b[0], input.b[1], input.b[2]);
    for fp in [&a, &b] {
        let back = Fingerprint::from_bytes(&fp.to_bytes()).expect("round trip");
        assert_eq!(&back, fp);
    }
    let ctx = MatchContext {
        same_category: input.same_category,
        gap_ms: input.gap_ms,
        same_jurisdiction: input.same_jurisdiction,
    };
    let ab = score(&a, &b, &ctx);
    let ba = score(&b, &a, &ctx);
    check("a-b", ab.score);
    check("b-a", ba.score);
    check("text", ab.text);
    check("containment", ab.containment);
    check("title", ab.title);
    assert!(ab.gap_ms >= 0, "gap is a distance");
    if !input.same_jurisdiction {
        assert!(
            !DedupConfig::default().is_duplicate(&ab),
            "jurisdiction gate"
        );
    }
    let aa = score(&a, &a, &ctx);
    check("a-a", aa.score);
    assert!(aa.text >= ab.text, "a text is most similar to itself");
});

/// Corrupt or foreign stored bytes: an error or a fingerprint, never a panic, and whatever
/// decodes scores in range against a fresh fingerprint and itself.
fn stored(bytes: &[u8]) {
    if let Ok(stored) = Fingerprint::from_bytes(bytes) {
        let fresh = Fingerprint::new("", "小区楼下烧烤店油烟太大，晚上噪音扰民", "");
        let ctx = MatchContext::default();
        check("stored-fresh", score(&fresh, &stored, &ctx).score);
        check("stored-stored", score(&stored, &stored, &ctx).score);
        let _ = stored.bands();
    }
}
