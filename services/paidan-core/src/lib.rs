//! The intake domain of paidan, below the gRPC layer.
//!
//! [`Intake`] is what the server's handlers call: it validates, triages on the inference thread
//! pool, links duplicates through the store's band index, writes the case with its indexes and
//! outbox event in one store transaction, and acknowledges only after a group-commit flush.

mod commit;
mod dedup;
mod error;
mod inference;
mod intake;
pub mod validate;

pub use commit::GroupCommit;
pub use dedup::{Candidate, DedupSettings, Deduplicator};
pub use error::{CoreError, Result};
pub use inference::{InferencePool, TriageText};
pub use intake::{Intake, IntakeConfig, Submitted, excerpt, now_millis, triage_record};
pub use validate::{Complaint, Limits};
