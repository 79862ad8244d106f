//! Edge validation of incoming complaints: every rule here gives a message that says what is
//! wrong and how to fix it. The server maps failures to INVALID_ARGUMENT.

use paidan_store::{Channel, Millis};

/// Limits on request fields; the text limit is configurable (default 20,000 characters).
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
#[serde(default)]
pub struct Limits {
    pub max_text_chars: usize,
    pub max_title_chars: usize,
    pub max_request_id_bytes: usize,
    /// Address, jurisdiction, phone.
    pub max_field_chars: usize,
    /// How far in the future `received_at` may lie (clock skew between systems).
    pub max_future_skew_ms: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_text_chars: 20_000,
            max_title_chars: 500,
            max_request_id_bytes: 128,
            max_field_chars: 500,
            max_future_skew_ms: 5 * 60 * 1000,
        }
    }
}

/// A complaint as the intake system sends it.
#[derive(Clone, Debug)]
pub struct Complaint {
    pub request_id: String,
    pub title: String,
    pub text: String,
    /// Decoded and checked at the edge (`paidan_proto::convert::complaint`).
    pub channel: Channel,
    pub jurisdiction: String,
    pub caller_phone: String,
    pub address: String,
    pub location: Option<(f64, f64)>,
    pub received_at: Option<Millis>,
}

fn control_char(s: &str) -> Option<char> {
    s.chars()
        .find(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
}

fn check_field(name: &str, value: &str, max_chars: usize) -> Result<(), String> {
    if let Some(c) = control_char(value) {
        return Err(format!(
            "{name} contains the control character U+{:04X}; remove it",
            c as u32
        ));
    }
    let n = value.chars().count();
    if n > max_chars {
        return Err(format!(
            "{name} is {n} characters long; the limit is {max_chars}"
        ));
    }
    Ok(())
}

/// Text that holds no letter of any script (CJK, Latin, …) — only digits, punctuation, symbols,
/// emoji or invisible characters — says nothing a person or the model could route. Refused with
/// a message naming what was found, so the intake operator can ask the caller again, rather
/// than stored and forwarded as a case nobody can act on.
fn check_has_words(text: &str) -> Result<(), String> {
    if text.chars().any(|c| c.is_alphabetic() && !is_invisible(c)) {
        return Ok(());
    }
    let mut kinds = Vec::new();
    if text.chars().any(char::is_numeric) {
        kinds.push("digits");
    }
    if text
        .chars()
        .any(|c| !c.is_numeric() && !c.is_whitespace() && !is_invisible(c))
    {
        kinds.push("punctuation/symbols/emoji");
    }
    if kinds.is_empty() {
        kinds.push("invisible characters");
    }
    Err(format!(
        "text has no words (only {}): send what the caller reported in `text`",
        kinds.join(", ")
    ))
}

/// Zero-width, filler and other invisible format characters (U+200B, U+FEFF, U+3164, bidi
/// controls, variation selectors, tags, …).
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFF8}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

/// Checks the text fields a triage needs.
pub fn check_text(
    limits: &Limits,
    title: &str,
    text: &str,
    jurisdiction: &str,
) -> Result<(), String> {
    if text.trim().is_empty() {
        return Err("text is empty: send the complaint's content in `text`".into());
    }
    check_field("text", text, limits.max_text_chars)?;
    check_has_words(text)?;
    check_field("title", title, limits.max_title_chars)?;
    check_field("jurisdiction", jurisdiction, limits.max_field_chars)?;
    Ok(())
}

/// Validates a complaint for SubmitComplaint (its channel was checked when it was decoded).
pub fn check_complaint(limits: &Limits, c: &Complaint, now: Millis) -> Result<(), String> {
    if c.request_id.trim().is_empty() {
        return Err(
            "request_id is empty: set a unique id per complaint so retries are idempotent".into(),
        );
    }
    if c.request_id.len() > limits.max_request_id_bytes {
        return Err(format!(
            "request_id is {} bytes long; the limit is {}",
            c.request_id.len(),
            limits.max_request_id_bytes
        ));
    }
    if let Some(ch) = control_char(&c.request_id) {
        return Err(format!(
            "request_id contains the control character U+{:04X}",
            ch as u32
        ));
    }
    check_text(limits, &c.title, &c.text, &c.jurisdiction)?;
    check_field("address", &c.address, limits.max_field_chars)?;
    check_field("caller_phone", &c.caller_phone, 32)?;
    if let Some(bad) = c
        .caller_phone
        .chars()
        .find(|ch| !(ch.is_ascii_digit() || matches!(ch, '+' | '-' | ' ' | '(' | ')')))
    {
        return Err(format!(
            "caller_phone may hold digits, spaces and + - ( ) only; found {bad:?}"
        ));
    }
    if let Some((lat, lon)) = c.location
        && (!(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon))
    {
        return Err(format!(
            "location ({lat}, {lon}) is out of range: latitude -90..90, longitude -180..180"
        ));
    }
    if let Some(at) = c.received_at {
        if at > now + limits.max_future_skew_ms {
            return Err(format!(
                "received_at lies {} s in the future; the clock skew allowed is {} s",
                (at - now) / 1000,
                limits.max_future_skew_ms / 1000
            ));
        }
        if at < 0 {
            return Err("received_at is before 1970".into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Millis = 1_763_776_800_000;

    fn ok() -> Complaint {
        Complaint {
            request_id: "r-1".into(),
            title: "烧烤油烟".into(),
            text: "小区楼下烧烤店油烟太大，晚上噪音扰民".into(),
            channel: Channel::Hotline12345,
            jurisdiction: "A3区".into(),
            caller_phone: "138 1234 5678".into(),
            address: "幸福路12号".into(),
            location: Some((28.2, 112.9)),
            received_at: Some(NOW - 1000),
        }
    }

    /// Each case edits a valid complaint; `None` means it must pass, `Some(s)` that the error
    /// mentions `s`.
    #[test]
    fn complaint_rules() {
        type Edit = fn(&mut Complaint);
        let table: Vec<(&str, Edit, Option<&str>)> = vec![
            ("valid", |_| {}, None),
            ("empty text", |c| c.text.clear(), Some("text is empty")),
            (
                "whitespace text",
                |c| c.text = " \n\t　 ".into(),
                Some("text is empty"),
            ),
            ("text at limit", |c| c.text = "噪".repeat(20_000), None),
            (
                "text over limit",
                |c| c.text = "噪".repeat(20_001),
                Some("limit is 20000"),
            ),
            (
                "NUL in text",
                |c| c.text = "噪音\u{0}扰民".into(),
                Some("U+0000"),
            ),
            ("newlines fine", |c| c.text = "噪音\r\n扰民\t".into(), None),
            (
                "no request id",
                |c| c.request_id = " ".into(),
                Some("request_id is empty"),
            ),
            (
                "long request id",
                |c| c.request_id = "x".repeat(10_000),
                Some("limit is 128"),
            ),
            ("12319", |c| c.channel = Channel::Hotline12319, None),
            (
                "letters in phone",
                |c| c.caller_phone = "call me".into(),
                Some("caller_phone"),
            ),
            (
                "bad latitude",
                |c| c.location = Some((91.0, 0.0)),
                Some("out of range"),
            ),
            (
                "future",
                |c| c.received_at = Some(NOW + 3_600_000),
                Some("in the future"),
            ),
            ("small skew", |c| c.received_at = Some(NOW + 60_000), None),
            ("no time", |c| c.received_at = None, None),
            ("emoji", |c| c.text = "😡😡 噪音".into(), None),
            (
                "emoji only",
                |c| c.text = "😡😡🔥👎🏻".into(),
                Some("text has no words (only punctuation/symbols/emoji)"),
            ),
            (
                "punctuation only",
                |c| c.text = "。。。！！？？……“”,.;".into(),
                Some("text has no words (only punctuation/symbols/emoji)"),
            ),
            (
                "digits only",
                |c| c.text = "1234 ０１２３ 13800001111".into(),
                Some("text has no words (only digits)"),
            ),
            (
                "digits and punctuation",
                |c| c.text = "110!!!".into(),
                Some("(only digits, punctuation/symbols/emoji)"),
            ),
            (
                "zero-width only",
                |c| c.text = "\u{200B}\u{FEFF}\u{2060}".into(),
                Some("text has no words (only invisible characters)"),
            ),
            (
                "English only",
                |c| c.text = "smoke from the BBQ".into(),
                None,
            ),
            ("one letter", |c| c.text = "110 x".into(), None),
            (
                "Hangul filler is not a letter",
                |c| c.text = "\u{3164}\u{3164}".into(),
                Some("only invisible characters"),
            ),
            ("traditional", |c| c.text = "燒烤油煙".into(), None),
        ];
        for (name, edit, want) in table {
            let mut c = ok();
            edit(&mut c);
            let got = check_complaint(&Limits::default(), &c, NOW);
            match (want, got) {
                (None, Ok(_)) => {}
                (Some(s), Err(e)) => assert!(e.contains(s), "{name}: {e:?} lacks {s:?}"),
                (want, got) => panic!("{name}: want {want:?}, got {got:?}"),
            }
        }
    }
}
