//! Mask personal data in a JSONL stream with paidan's own masking: every line's top-level `text`
//! (and `title`, if present) string goes through [`paidan_text::mask_pii`]; everything else —
//! the other fields, their order, the separators — is copied byte for byte.
//!
//! cargo run -q -p paidan-text --example mask_jsonl < in.jsonl > out.jsonl
//!
//! Used to build `models/data/haikou_v1.jsonl` (see `models/data/map_haikou.py`).
//!
//! paidan-text has no JSON dependency, so this example carries a minimal JSON scanner: it finds
//! the byte span of each top-level member's value, decodes the two string values it rewrites and
//! re-encodes them the way serde_json writes strings (`"` and `\` and control characters
//! escaped, everything else raw UTF-8). Blank lines are skipped; a line that is not a JSON
//! object stops the run with an error naming the line.

use std::io::{self, BufRead, BufWriter, Write};

/// Members whose string value is masked.
const MASKED: [&str; 2] = ["text", "title"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let stdin = io::stdin();
    let mut out = BufWriter::new(io::stdout().lock());
    for (i, line) in stdin.lock().lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let masked = mask_line(&line).map_err(|e| format!("line {}: {e}", i + 1))?;
        out.write_all(masked.as_bytes())?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

/// The line with the values of the `MASKED` members replaced by their masked text.
fn mask_line(line: &str) -> Result<String, String> {
    let b = line.as_bytes();
    let mut p = Scanner { b, pos: 0 };
    p.ws();
    p.expect(b'{')?;
    let mut spans: Vec<(usize, usize)> = Vec::new(); // value spans to rewrite (start, end)
    p.ws();
    if p.peek() == Some(b'}') {
        p.pos += 1;
    } else {
        loop {
            p.ws();
            let key_start = p.pos;
            p.string()?;
            let key = decode_string(&line[key_start..p.pos])?;
            p.ws();
            p.expect(b':')?;
            p.ws();
            let v_start = p.pos;
            let is_string = p.peek() == Some(b'"');
            p.value()?;
            if is_string && MASKED.contains(&key.as_str()) {
                spans.push((v_start, p.pos));
            }
            p.ws();
            match p.next() {
                Some(b',') => continue,
                Some(b'}') => break,
                _ => return Err(format!("expected ',' or '}}' at byte {}", p.pos)),
            }
        }
    }
    p.ws();
    if p.pos != b.len() {
        return Err(format!("trailing characters at byte {}", p.pos));
    }
    let mut out = String::with_capacity(line.len());
    let mut last = 0;
    for (s, e) in spans {
        out.push_str(&line[last..s]);
        let text = decode_string(&line[s..e])?;
        encode_string(&paidan_text::mask_pii(&text), &mut out);
        last = e;
    }
    out.push_str(&line[last..]);
    Ok(out)
}

struct Scanner<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.next() == Some(c) {
            Ok(())
        } else {
            Err(format!(
                "expected '{}' at byte {}",
                c as char,
                self.pos.saturating_sub(1)
            ))
        }
    }

    /// Skips a string literal (the opening quote is at `pos`).
    fn string(&mut self) -> Result<(), String> {
        self.expect(b'"')?;
        loop {
            match self.next() {
                Some(b'"') => return Ok(()),
                Some(b'\\') => {
                    if self.next().is_none() {
                        break;
                    }
                }
                Some(c) if c < 0x20 => {
                    return Err(format!(
                        "control character in string at byte {}",
                        self.pos - 1
                    ));
                }
                Some(_) => {}
                None => break,
            }
        }
        Err("unterminated string".into())
    }

    /// Skips any JSON value.
    fn value(&mut self) -> Result<(), String> {
        match self.peek() {
            Some(b'"') => self.string(),
            Some(open @ (b'{' | b'[')) => {
                let close = if open == b'{' { b'}' } else { b']' };
                self.pos += 1;
                self.ws();
                if self.peek() == Some(close) {
                    self.pos += 1;
                    return Ok(());
                }
                loop {
                    self.ws();
                    if open == b'{' {
                        self.string()?;
                        self.ws();
                        self.expect(b':')?;
                        self.ws();
                    }
                    self.value()?;
                    self.ws();
                    match self.next() {
                        Some(b',') => continue,
                        Some(c) if c == close => return Ok(()),
                        _ => {
                            return Err(format!(
                                "bad separator at byte {}",
                                self.pos.saturating_sub(1)
                            ));
                        }
                    }
                }
            }
            Some(_) => {
                // number, true, false, null: a run of literal characters
                let start = self.pos;
                while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || b"+-.".contains(&c))
                {
                    self.pos += 1;
                }
                let lit = &self.b[start..self.pos];
                let ok = matches!(lit, b"true" | b"false" | b"null")
                    || (!lit.is_empty() && (lit[0] == b'-' || lit[0].is_ascii_digit()));
                if ok {
                    Ok(())
                } else {
                    Err(format!("bad value at byte {start}"))
                }
            }
            None => Err("unexpected end of line".into()),
        }
    }
}

/// Decodes a JSON string literal (with its quotes).
fn decode_string(lit: &str) -> Result<String, String> {
    let inner = lit
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .ok_or("not a string literal")?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next().ok_or("dangling escape")? {
            '"' => out.push('"'),
            '\\' => out.push('\\'),
            '/' => out.push('/'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'u' => {
                let hi = hex4(&mut chars)?;
                let code = if (0xD800..0xDC00).contains(&hi) {
                    if chars.next() != Some('\\') || chars.next() != Some('u') {
                        return Err("lone surrogate".into());
                    }
                    let lo = hex4(&mut chars)?;
                    if !(0xDC00..0xE000).contains(&lo) {
                        return Err("bad surrogate pair".into());
                    }
                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                } else {
                    hi
                };
                out.push(char::from_u32(code).ok_or("bad \\u escape")?);
            }
            other => return Err(format!("bad escape \\{other}")),
        }
    }
    Ok(out)
}

fn hex4(chars: &mut std::str::Chars<'_>) -> Result<u32, String> {
    let mut v = 0;
    for _ in 0..4 {
        let d = chars
            .next()
            .and_then(|c| c.to_digit(16))
            .ok_or("bad \\u escape")?;
        v = v * 16 + d;
    }
    Ok(v)
}

/// Writes `s` as a JSON string literal the way serde_json does.
fn encode_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}
