//! The wall clock in milliseconds since the Unix epoch: the one clock of the intake core and the
//! forwarder (stored times are `paidan_store::Millis`, an `i64` of the same unit).
//!
//! It sits here, in the one crate below both of them besides the store, and is no text rule.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch now (0 if the clock is before 1970).
pub fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
