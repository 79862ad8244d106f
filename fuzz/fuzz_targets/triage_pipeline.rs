//! normalise → mask → segment → featurise → classify with the shipped model, on arbitrary
//! title/text/jurisdiction. Checks the invariants the service relies on: no panic, masking is
//! idempotent, every feature id is inside the model's input space, the model answers with a
//! known category and department and probabilities in [0, 1].
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use paidan_model::{Classifier, TriageInput};

/// The input is `text [\x1f title [\x1f jurisdiction]]` (lossy UTF-8), so a plain complaint
/// text is a valid seed.
struct Input<'a> {
    title: &'a str,
    text: &'a str,
    jurisdiction: &'a str,
}

impl<'a> Input<'a> {
    fn split(s: &'a str) -> Input<'a> {
        let mut parts = s.splitn(3, '\u{1f}');
        let text = parts.next().unwrap_or("");
        Input {
            text,
            title: parts.next().unwrap_or(""),
            jurisdiction: parts.next().unwrap_or(""),
        }
    }
}

fn model() -> &'static Classifier {
    static MODEL: OnceLock<Classifier> = OnceLock::new();
    MODEL.get_or_init(|| {
        let dir = std::env::var_os("PAIDAN_FUZZ_MODEL_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/default")
            });
        Classifier::load(&dir).unwrap_or_else(|e| panic!("load model {}: {e}", dir.display()))
    })
}

/// No mainland mobile number (11 digits, 1[3-9]…) or 18-character ID number stands bare in
/// `masked` (full-width digits count as digits). Bare: not glued to letters, digits, `*` (a
/// masked neighbour) or e-mail/URL characters, which `mask_pii` leaves alone by design. Not
/// idempotence: masking one number can turn the digits glued to it into a bare number.
fn assert_no_bare_phone_or_id(input: &str, masked: &str) {
    let chars: Vec<char> = masked
        .chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            c => c,
        })
        .collect();
    let glue = |c: Option<&char>| {
        c.is_some_and(|c| c.is_ascii_alphanumeric() || "*@._%+-/:=?&#~".contains(*c))
    };
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && chars[i].is_ascii_digit() {
            i += 1;
        }
        let mut end = i;
        if end - start == 17 && matches!(chars.get(end), Some('X' | 'x')) {
            end += 1;
        }
        let run: String = chars[start..end].iter().collect();
        let bare = (start == 0 || !glue(chars.get(start - 1))) && !glue(chars.get(end));
        let mobile =
            run.len() == 11 && run.starts_with('1') && matches!(run.as_bytes()[1], b'3'..=b'9');
        let id = run.len() == 18 && !run.starts_with('0');
        assert!(
            !(bare && (mobile || id)),
            "bare number {run:?} left in masked text {masked:?} (input {input:?})"
        );
        i = end.max(i);
    }
}

fn check_prob(what: &str, p: f32) {
    assert!(
        (0.0..=1.0).contains(&p),
        "{what} confidence {p} outside [0, 1]"
    );
}

fuzz_target!(|data: &[u8]| {
    let data = String::from_utf8_lossy(data);
    let input = Input::split(&data);
    let model = model();

    // The text stages on their own.
    let normalized = paidan_text::normalize(input.text);
    assert_eq!(
        paidan_text::normalize(&normalized),
        normalized,
        "normalize is idempotent"
    );
    let masked = paidan_text::mask_pii(input.text);
    assert_no_bare_phone_or_id(input.text, &masked);
    let words = paidan_text::Segmenter::global().cut(&normalized);
    for w in &words {
        assert!(!w.is_empty());
    }
    let _ = paidan_text::Segmenter::global().tag(&normalized);

    // The model's view: feature ids stay inside its input space.
    // (featurize_count panics on an id outside the model's space or a non-finite value)
    let _ = model.featurize_count(input.title, input.text);

    // The service only classifies what validation lets through, but the classifier must not
    // fall over on anything.
    let _ = paidan_core::validate::check_text(
        &paidan_core::Limits::default(),
        input.title,
        input.text,
        input.jurisdiction,
    );
    let t = model
        .triage(&TriageInput {
            title: input.title,
            text: input.text,
            jurisdiction: input.jurisdiction,
        })
        .expect("triage");
    let tax = model.taxonomy();
    assert!(
        tax.category_name(&t.category.code).is_some(),
        "unknown category {:?}",
        t.category.code
    );
    assert!(
        tax.department_name(&t.department.code).is_some(),
        "unknown department {:?}",
        t.department.code
    );
    check_prob("category", t.category.confidence);
    check_prob("department", t.department.confidence);
    for s in &t.category_alternatives {
        check_prob(&s.code, s.confidence);
        assert!(
            s.confidence <= t.category.confidence,
            "alternatives rank below the top"
        );
    }
    for s in &t.department_alternatives {
        check_prob(&s.code, s.confidence);
    }
    assert!(
        !t.needs_review || !t.review_reasons.is_empty(),
        "a review flag comes with its reasons"
    );
});
