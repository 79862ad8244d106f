//! Forwarding of case events from the store's outbox to the municipal 12345 platform.

pub mod convert;
