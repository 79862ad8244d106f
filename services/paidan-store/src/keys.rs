//! Key encodings of the sled trees. Every multi-part key is built so that byte order equals the
//! order we iterate in: times are sign-flipped big-endian, strings are length-prefixed.

use crate::types::{CaseRecord, Millis};

/// Order-preserving encoding of a signed time: flip the sign bit, big-endian.
pub(crate) fn enc_time(t: Millis) -> [u8; 8] {
    ((t as u64) ^ (1u64 << 63)).to_be_bytes()
}

pub(crate) fn dec_time(b: &[u8]) -> Option<Millis> {
    let arr: [u8; 8] = b.try_into().ok()?;
    Some((u64::from_be_bytes(arr) ^ (1u64 << 63)) as i64)
}

pub(crate) fn enc_u64(v: u64) -> [u8; 8] {
    v.to_be_bytes()
}

pub(crate) fn dec_u64(b: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(b.try_into().ok()?))
}

fn push_str(out: &mut Vec<u8>, s: &str) {
    let len = u16::try_from(s.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&s.as_bytes()[..len as usize]);
}

/// Tags of the attribute index (`idx_attr` and `idx_counts`).
pub(crate) const TAG_STATUS: u8 = b's';
pub(crate) const TAG_CATEGORY: u8 = b'c';
pub(crate) const TAG_DEPARTMENT: u8 = b'd';
pub(crate) const TAG_CHANNEL: u8 = b'h';
pub(crate) const TAG_JURISDICTION: u8 = b'j';

/// `tag ‖ len ‖ value`: the prefix of one attribute value in `idx_attr`, and its key in `idx_counts`.
pub(crate) fn attr_prefix(tag: u8, value: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(3 + value.len());
    k.push(tag);
    push_str(&mut k, value);
    k
}

/// The attribute prefixes a case sits under.
pub(crate) fn case_attr_prefixes(c: &CaseRecord) -> Vec<Vec<u8>> {
    vec![
        attr_prefix(TAG_STATUS, &(c.status as u8).to_string()),
        attr_prefix(TAG_CATEGORY, &c.category),
        attr_prefix(TAG_DEPARTMENT, &c.department),
        attr_prefix(TAG_CHANNEL, &(c.channel as u8).to_string()),
        attr_prefix(TAG_JURISDICTION, &c.jurisdiction),
    ]
}

/// `prefix ‖ enc_time(received_at) ‖ id`
pub(crate) fn time_key(prefix: &[u8], received_at: Millis, id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + 8 + id.len());
    k.extend_from_slice(prefix);
    k.extend_from_slice(&enc_time(received_at));
    k.extend_from_slice(id.as_bytes());
    k
}

/// `enc_time(next_attempt_at) ‖ seq`
pub(crate) fn due_key(next_attempt_at: Millis, seq: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(16);
    k.extend_from_slice(&enc_time(next_attempt_at));
    k.extend_from_slice(&enc_u64(seq));
    k
}

/// The smallest key greater than every key starting with `prefix` (None when there is none).
pub(crate) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// Page tokens: hex of `enc_time(received_at)` followed by the case id.
pub(crate) fn encode_page_token(received_at: Millis, id: &str) -> String {
    let mut s = String::with_capacity(16 + id.len());
    for b in enc_time(received_at) {
        s.push_str(&format!("{b:02x}"));
    }
    s.push_str(id);
    s
}

pub(crate) fn decode_page_token(token: &str) -> Option<(Millis, String)> {
    if token.len() <= 16 || !token.is_char_boundary(16) {
        return None;
    }
    let (hex, id) = token.split_at(16);
    let mut bytes = [0u8; 8];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return None;
    }
    Some((dec_time(&bytes)?, id.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_encoding_preserves_order() {
        let times = [i64::MIN, -1_000, -1, 0, 1, 1_700_000_000_000, i64::MAX];
        for w in times.windows(2) {
            assert!(enc_time(w[0]) < enc_time(w[1]), "{} < {}", w[0], w[1]);
        }
        for t in times {
            assert_eq!(dec_time(&enc_time(t)), Some(t));
        }
    }

    #[test]
    fn page_tokens_round_trip_and_reject_garbage() {
        let cases: &[(&str, Option<(i64, &str)>)] = &[
            ("", None),
            ("zz", None),
            ("0123456789abcdef", None),
            ("xx23456789abcdefPD1", None),
            (
                "8000000000000001PD000000000001",
                Some((1, "PD000000000001")),
            ),
            ("8000000000000001PD 1", None),
        ];
        for (token, want) in cases {
            let got = decode_page_token(token);
            assert_eq!(
                got.as_ref().map(|(t, id)| (*t, id.as_str())),
                *want,
                "token {token:?}"
            );
        }
        let tok = encode_page_token(1_700_000_000_123, "PD000000000042");
        assert_eq!(
            decode_page_token(&tok),
            Some((1_700_000_000_123, "PD000000000042".to_string()))
        );
    }

    #[test]
    fn prefix_end_is_the_next_prefix() {
        let cases: &[(&[u8], Option<&[u8]>)] = &[
            (b"ab", Some(b"ac")),
            (&[1, 0xff], Some(&[2])),
            (&[0xff, 0xff], None),
            (b"", None),
        ];
        for (p, want) in cases {
            assert_eq!(prefix_end(p).as_deref(), *want, "{p:?}");
        }
    }
}
