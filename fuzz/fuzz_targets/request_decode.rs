//! Request decoding → conversion → validation, as the Intake handlers do it: arbitrary bytes are
//! decoded as a TriageRequest and a SubmitComplaintRequest (prost, what tonic's codec runs), a
//! decoded SubmitComplaintRequest is converted by the API crate's `paidan_proto::convert::complaint` (as the handler does)
//! and validated with paidan-core's rules.
//! Checks: no panic; whatever validation accepts is within the limits and re-encodes to a message
//! that decodes to the same request.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paidan_proto::convert::{check_channel, complaint};
use paidan_core::validate::{self, Limits};
use paidan_proto::v1;
use prost::Message;

/// A fixed "now" keeps runs reproducible (2026-11-22T02:00:00Z).
const NOW: i64 = 1_763_776_800_000;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();

    if let Ok(r) = v1::TriageRequest::decode(data) {
        let ok = check_channel(r.channel, false).is_ok()
            && validate::check_text(&limits, &r.title, &r.text, &r.jurisdiction).is_ok();
        if ok {
            assert!(r.text.chars().count() <= limits.max_text_chars);
            assert!(!r.text.trim().is_empty());
        }
        let again = v1::TriageRequest::decode(r.encode_to_vec().as_slice()).expect("re-decode");
        assert_eq!(again, r);
    }

    if let Ok(r) = v1::SubmitComplaintRequest::decode(data) {
        let again =
            v1::SubmitComplaintRequest::decode(r.encode_to_vec().as_slice()).expect("re-decode");
        // NaN locations are not equal to themselves; compare the encodings instead.
        assert_eq!(again.encode_to_vec(), r.encode_to_vec());
        if let Ok(c) = complaint(r)
            && validate::check_complaint(&limits, &c, NOW).is_ok()
        {
            assert_ne!(c.channel, paidan_store::Channel::Unspecified);
            assert!(!c.request_id.trim().is_empty());
            assert!(c.request_id.len() <= limits.max_request_id_bytes);
            assert!(c.text.chars().count() <= limits.max_text_chars);
            if let Some((lat, lon)) = c.location {
                assert!(lat.is_finite() && lon.is_finite());
            }
            if let Some(at) = c.received_at {
                assert!((0..=NOW + limits.max_future_skew_ms).contains(&at));
            }
        }
    }
});
