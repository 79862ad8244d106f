//! paidan-dedup
