//! Forwarding of case events from the store's outbox to the municipal 12345 platform.
//!
//! - [`Forwarder`] drains the outbox ([`paidan_store::Store::outbox_due`]) into every configured
//!   [`Sink`] at least once, with exponential backoff + full jitter, dead letters and metrics.
//! - [`GrpcSink`] calls the platform's `paidan.v1.CaseSink/Deliver`; [`WebhookSink`] POSTs the
//!   signed JSON [`WebhookEvent`] (see [`event`]).
//!
//! The stand-in platform that tests and demos forward to (the receiver) lives in the dev-only
//! paidan-testkit crate, with the crash tests' forward worker.

pub mod config;
pub mod event;
pub mod forwarder;
pub mod sink;

pub use config::{ForwardConfig, SinkConfig};
pub use event::{WebhookEvent, sign, verify_request, verify_signature};
pub use forwarder::{ForwardError, Forwarder, PassStats, RetryPolicy};
pub use sink::{Ack, GrpcSink, Sink, SinkError, WebhookSink};
