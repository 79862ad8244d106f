//! paidan-text: complaint text normalisation, PII masking and jieba segmentation with the
//! city-management user dictionary (`dict/city.dict`).
//!
//! Everything here is pure and allocation-light; the segmenter is loaded once per process
//! through [`Segmenter::global`].

use std::sync::{LazyLock, OnceLock};

use jieba_rs::Jieba;
use regex::Regex;
use unicode_normalization::UnicodeNormalization;

/// The city-management user dictionary (jieba format: `word freq tag`).
pub const CITY_DICT: &str = include_str!("../dict/city.dict");

/// Placeholder written by [`mask_for_features`] for phone numbers.
pub const PH_PHONE: &str = "〈电话〉";
/// Placeholder written by [`mask_for_features`] for ID-card numbers.
pub const PH_ID: &str = "〈身份证〉";
/// Placeholder written by [`mask_for_features`] for e-mail addresses.
pub const PH_EMAIL: &str = "〈邮箱〉";
/// Placeholder written by [`mask_for_features`] for URLs.
pub const PH_URL: &str = "〈网址〉";
/// Placeholder written by [`mask_for_features`] for other long digit runs (order numbers, ...).
pub const PH_NUMBER: &str = "〈数字〉";

/// Errors of this crate (only dictionary loading can fail).
#[derive(Debug, thiserror::Error)]
pub enum TextError {
    #[error("invalid user dictionary: {0}")]
    Dict(String),
}

pub mod clock;
pub mod segmentation;

pub use clock::now_millis;
pub use segmentation::Segmentation;

/// The first `chars` characters of `text`, with `…` appended when it was cut (shown where a
/// case's text is quoted: dedup candidates, hot issues, report excerpts).
pub fn excerpt(text: &str, chars: usize) -> String {
    let mut out: String = text.chars().take(chars).collect();
    if text.chars().nth(chars).is_some() {
        out.push('…');
    }
    out
}

/// NFKC (full-width → half-width), traditional → simplified (zhconv, zh-Hans), strip control chars,
/// collapse all whitespace runs to one ASCII space, trim.
pub fn normalize(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    let mut pending_space = false;
    for c in nfkc_fast(input) {
        if c.is_whitespace() {
            pending_space = true;
            continue;
        }
        if c.is_control() || is_format_char(c) {
            continue;
        }
        if pending_space {
            if !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
        }
        out.push(c);
    }
    // Traditional → simplified only when there is something non-ASCII to convert.
    if out.is_ascii() {
        return out;
    }
    // zhconv's table is not closed under itself: a few variants take two steps (戱 → 戯 → 戏,
    // found by fuzz/triage_pipeline), so convert again while the text still changes. Text that
    // was already simplified costs one comparison; the bound keeps a cycle in the table finite.
    let mut from = out;
    for _ in 0..MAX_ZHCONV_PASSES {
        let to = zhconv::zhconv(&from, zhconv::Variant::ZhHans);
        if to == from {
            break;
        }
        from = to;
    }
    from
}

/// Conversion passes at most (two are enough for every chain seen so far).
const MAX_ZHCONV_PASSES: usize = 4;

/// Han ideographs of the CJK Unified Ideographs block are NFKC-inert: no decomposition,
/// combining class 0, and no canonical composition has one as either element. NFKC of a string
/// is therefore the concatenation of the NFKC of the pieces between them and the ideographs
/// themselves; most of a Chinese complaint is ideographs, which skip the normaliser's lookups.
fn is_nfkc_inert(c: char) -> bool {
    ('\u{4E00}'..='\u{9FFF}').contains(&c)
}

/// `input.nfkc()`, with the inert ideographs passed through (see [`is_nfkc_inert`]).
fn nfkc_fast(input: &str) -> impl Iterator<Item = char> + '_ {
    let mut rest = input;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let split = rest.find(is_nfkc_inert).unwrap_or(rest.len());
        if split == 0 {
            let c = rest.chars().next()?;
            rest = &rest[c.len_utf8()..];
            return Some(NfkcPiece::One(Some(c)));
        }
        let piece = &rest[..split];
        rest = &rest[split..];
        Some(NfkcPiece::Run(piece.nfkc()))
    })
    .flatten()
}

enum NfkcPiece<I> {
    One(Option<char>),
    Run(I),
}

impl<I: Iterator<Item = char>> Iterator for NfkcPiece<I> {
    type Item = char;
    fn next(&mut self) -> Option<char> {
        match self {
            NfkcPiece::One(c) => c.take(),
            NfkcPiece::Run(it) => it.next(),
        }
    }
}

/// Invisible format characters (zero-width spaces/joiners, BOM, bidi marks) that
/// `char::is_control` does not cover.
fn is_format_char(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{FEFF}'
    )
}

/// Kinds of sensitive spans recognised in complaint text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pii {
    Id,
    Mobile,
    Landline,
    Email,
    Url,
    Digits,
}

// One regex with named alternatives; leftmost-first semantics prefer earlier alternatives at the
// same start. Digit boundaries are checked by hand (the regex crate has no look-around, and `\b`
// does not separate digits from CJK characters).
static PII_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?P<url>https?://[A-Za-z0-9._~:/?#\[\]@!$&'()*+,;=%-]+)",
        r"|(?P<email>[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})",
        r"|(?P<id>[1-9][0-9]{16}[0-9Xx])",
        r"|(?P<mob>(?:\+?86[- ]?)?1[3-9][0-9](?:[- ]?[0-9]{4}){2})",
        r"|(?P<land>(?:\(0[0-9]{2,3}\)|0[0-9]{2,3}-?)[0-9]{7,8})",
        r"|(?P<digits>[0-9]{5,})",
    ))
    .expect("static PII regex")
});

/// Finds PII spans with digit boundaries enforced: a span must not be glued to further digits
/// (and an ID number not to further letters), otherwise it is some other number.
fn pii_spans(input: &str) -> Vec<(usize, usize, Pii)> {
    let bytes = input.as_bytes();
    let mut spans = Vec::new();
    let mut caps_iter = PII_RE.capture_locations();
    let mut pos = 0;
    while pos < input.len() {
        let Some(m) = PII_RE.captures_read_at(&mut caps_iter, input, pos) else {
            break;
        };
        let (s, e) = (m.start(), m.end());
        let kind = if caps_iter.get(1).is_some() {
            Pii::Url
        } else if caps_iter.get(2).is_some() {
            Pii::Email
        } else if caps_iter.get(3).is_some() {
            Pii::Id
        } else if caps_iter.get(4).is_some() {
            Pii::Mobile
        } else if caps_iter.get(5).is_some() {
            Pii::Landline
        } else {
            Pii::Digits
        };
        let before_digit = s > 0 && bytes[s - 1].is_ascii_digit();
        let after_digit = e < bytes.len() && bytes[e].is_ascii_digit();
        let after_alpha = e < bytes.len() && bytes[e].is_ascii_alphabetic();
        let ok = match kind {
            Pii::Url | Pii::Email => true,
            Pii::Id => !before_digit && !after_digit && !after_alpha,
            Pii::Mobile | Pii::Landline | Pii::Digits => !before_digit && !after_digit,
        };
        if ok {
            spans.push((s, e, kind));
            pos = e;
        } else if matches!(kind, Pii::Id | Pii::Mobile | Pii::Landline) {
            // Not a phone/ID after all: treat the whole digit run as a plain number.
            let mut a = s;
            while a > 0 && bytes[a - 1].is_ascii_digit() {
                a -= 1;
            }
            let mut b = s;
            while b < bytes.len() && bytes[b].is_ascii_digit() {
                b += 1;
            }
            if a >= pos && b - a >= 5 {
                spans.push((a, b, Pii::Digits));
            }
            pos = b.max(s + 1);
        } else {
            pos = e;
        }
    }
    spans
}

fn mask_digits_keep(out: &mut String, span: &str, keep_front: usize, keep_back: usize) {
    let digits = span.chars().filter(|c| c.is_ascii_alphanumeric()).count();
    let mut seen = 0;
    for c in span.chars() {
        if c.is_ascii_alphanumeric() {
            if seen < keep_front || seen >= digits.saturating_sub(keep_back) {
                out.push(c);
            } else {
                out.push('*');
            }
            seen += 1;
        } else {
            out.push(c);
        }
    }
}

/// Full-width forms of ASCII (U+FF01..U+FF5E: `１３８`, `（`, `－`, `Ｘ`), as Chinese input
/// methods type them.
fn is_fullwidth_ascii(c: char) -> bool {
    ('\u{FF01}'..='\u{FF5E}').contains(&c)
}

/// `input` with full-width ASCII forms folded to ASCII, and for every byte offset of the folded
/// string (plus its end) the byte offset of the same character in `input`.
fn fold_fullwidth(input: &str) -> (String, Vec<usize>) {
    let mut folded = String::with_capacity(input.len());
    let mut map = Vec::with_capacity(input.len() + 1);
    for (i, c) in input.char_indices() {
        let f = if is_fullwidth_ascii(c) {
            char::from_u32(c as u32 - 0xFEE0).unwrap_or(c)
        } else {
            c
        };
        map.extend(std::iter::repeat_n(i, f.len_utf8()));
        folded.push(f);
    }
    map.push(input.len());
    (folded, map)
}

/// Display/log masking: mainland mobiles 13812341234 → 138****1234, landlines keep area code,
/// 18-digit ID numbers (incl. trailing X) → 110101********1234 style; everything else unchanged.
/// Numbers typed in full-width digits (１３８１２３４１２３４) are found too; a masked number is
/// written in ASCII (138****1234).
pub fn mask_pii(input: &str) -> String {
    if input.chars().any(is_fullwidth_ascii) {
        let (folded, map) = fold_fullwidth(input);
        return mask_pii_spans(input, &folded, |i| map[i]);
    }
    mask_pii_spans(input, input, |i| i)
}

/// Masks the spans found in `folded` (ASCII-folded `input`); `orig` maps a byte offset of
/// `folded` to the offset of the same character in `input`.
fn mask_pii_spans(input: &str, folded: &str, orig: impl Fn(usize) -> usize) -> String {
    let mut out = String::with_capacity(input.len());
    let mut last = 0;
    for (s, e, kind) in pii_spans(folded) {
        if matches!(kind, Pii::Email | Pii::Url | Pii::Digits) {
            continue;
        }
        out.push_str(&input[last..orig(s)]);
        let span = &folded[s..e];
        match kind {
            Pii::Id => {
                mask_digits_keep(&mut out, span, 6, 4);
            }
            Pii::Mobile => {
                // Keep an optional +86 prefix, the first three and the last four digits.
                let digits: String = span.chars().filter(|c| c.is_ascii_digit()).collect();
                let (prefix, number) = if digits.len() > 11 {
                    span.split_at(span.len() - span_len_for_last_digits(span, 11))
                } else {
                    ("", span)
                };
                out.push_str(prefix);
                mask_digits_keep(&mut out, number, 3, 4);
            }
            Pii::Landline => {
                // The area code is the leading 0xx / 0xxx (possibly in parentheses or before '-').
                let area_len = landline_area_len(span);
                out.push_str(&span[..area_len]);
                let rest = &span[area_len..];
                let n = rest.len();
                mask_digits_keep(&mut out, rest, 0, 4.min(n));
            }
            Pii::Email | Pii::Url | Pii::Digits => {}
        }
        last = orig(e);
    }
    out.push_str(&input[last..]);
    out
}

/// Byte length of the suffix of `span` that holds its last `n` digits (plus separators between them).
fn span_len_for_last_digits(span: &str, n: usize) -> usize {
    let mut count = 0;
    for (i, c) in span.char_indices().rev() {
        if c.is_ascii_digit() {
            count += 1;
            if count == n {
                return span.len() - i;
            }
        }
    }
    span.len()
}

fn landline_area_len(span: &str) -> usize {
    if let Some(close) = span.find(')') {
        return close + 1;
    }
    if let Some(dash) = span.find('-') {
        return dash + 1;
    }
    // Without a separator: 3-digit area codes are 010 and 02x, the rest have 4 digits.
    let b = span.as_bytes();
    if b.len() >= 2 && (b[1] == b'1' || b[1] == b'2') {
        3
    } else {
        4
    }
}

/// Feature masking: replace phones / ID numbers / e-mails / URLs / long digit runs (5+ digits)
/// with placeholder tokens (e.g. "〈电话〉") so they never become vocabulary.
pub fn mask_for_features(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    let mut last = 0;
    for (s, e, kind) in pii_spans(input) {
        out.push_str(&input[last..s]);
        out.push_str(match kind {
            Pii::Id => PH_ID,
            Pii::Mobile | Pii::Landline => PH_PHONE,
            Pii::Email => PH_EMAIL,
            Pii::Url => PH_URL,
            Pii::Digits => PH_NUMBER,
        });
        last = e;
    }
    out.push_str(&input[last..]);
    out
}

/// Part-of-speech tags as `'static` strings, so tags outlive any particular [`Segmenter`].
/// Sorted (looked up by binary search: every jieba word's tag is, on the submit path).
static KNOWN_TAGS: &[&str] = &[
    "a", "ad", "ag", "al", "an", "b", "bl", "c", "cc", "d", "df", "dg", "e", "eng", "f", "g", "h",
    "i", "j", "k", "l", "m", "mg", "mq", "n", "ng", "nl", "nr", "nrfg", "nrt", "ns", "nt", "nz",
    "o", "p", "q", "qt", "qv", "r", "rg", "rr", "rz", "s", "t", "tg", "u", "ud", "ug", "uj", "ul",
    "uv", "uz", "v", "vd", "vg", "vi", "vn", "vq", "w", "x", "y", "yg", "z", "zg",
];

fn static_tag(tag: &str) -> &'static str {
    KNOWN_TAGS
        .binary_search(&tag)
        .map_or("x", |i| KNOWN_TAGS[i])
}

/// jieba-rs segmenter with the default dictionary plus the city-management user dictionary.
pub struct Segmenter {
    jieba: Jieba,
}

impl std::fmt::Debug for Segmenter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segmenter").finish_non_exhaustive()
    }
}

impl Default for Segmenter {
    fn default() -> Self {
        Self::new()
    }
}

impl Segmenter {
    /// Default jieba dictionary + `dict/city.dict`, loaded once per process.
    pub fn global() -> &'static Segmenter {
        static GLOBAL: OnceLock<Segmenter> = OnceLock::new();
        GLOBAL.get_or_init(Segmenter::new)
    }

    /// A fresh segmenter (default dictionary + the city dictionary). Loading takes a moment;
    /// prefer [`Segmenter::global`].
    pub fn new() -> Segmenter {
        Self::with_user_dict(CITY_DICT).expect("bundled city.dict is valid")
    }

    /// Default dictionary plus an extra user dictionary in jieba format (`word [freq] [tag]` lines).
    pub fn with_user_dict(dict: &str) -> Result<Segmenter, TextError> {
        let mut jieba = Jieba::new();
        let mut reader = std::io::BufReader::new(dict.as_bytes());
        jieba
            .load_dict(&mut reader)
            .map_err(|e| TextError::Dict(e.to_string()))?;
        Ok(Segmenter { jieba })
    }

    /// Words, HMM on, whitespace tokens dropped.
    pub fn cut<'a>(&self, text: &'a str) -> Vec<&'a str> {
        self.jieba
            .cut(text, true)
            .into_iter()
            .map(|t| t.word)
            .filter(|w| !w.trim().is_empty())
            .collect()
    }

    /// (word, part-of-speech tag) pairs, e.g. ("小区","ns"), whitespace tokens dropped.
    pub fn tag<'a>(&self, text: &'a str) -> Vec<(&'a str, &'a str)> {
        self.jieba
            .tag(text, true)
            .into_iter()
            .filter(|t| !t.word.trim().is_empty())
            .map(|t| (&text[t.byte_start..t.byte_end], static_tag(t.tag)))
            .collect()
    }
}

#[cfg(test)]
mod tests;
