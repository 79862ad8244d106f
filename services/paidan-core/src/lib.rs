//! The intake domain of paidan, below the gRPC layer.
//!
//! [`Intake`] is what the server's handlers call: it validates, triages on the inference thread
//! pool, links duplicates through the store's band index, writes the case with its indexes and
//! outbox event in one store transaction, and acknowledges only after a flush that covers it
//! (submits: the writer thread's round; other writes: [`GroupCommit`]).

pub mod audit;
mod commit;
pub mod deadlines;
mod dedup;
pub mod dispatch;
pub mod drift;
mod error;
pub mod figures;
pub mod followup;
mod inference;
mod intake;
pub mod metrics;
pub mod places;
mod registry;
pub mod returns;
pub mod rules;
#[cfg(test)]
mod test_store;
pub mod validate;
mod writer;

pub use commit::GroupCommit;
pub use dedup::{Candidate, DedupSettings, Deduplicator, rekey as rekey_dedup};
pub use dispatch::{Asked, Catalogue, DueFilter};
pub use error::{CoreError, Result};
pub use inference::{InferencePool, TriageText};
pub use intake::{Intake, IntakeConfig, Submitted, triage_record};
pub use paidan_text::{excerpt, now_millis};
pub use registry::{ModelRegistry, Reloaded, load_and_warm};
pub use validate::{Complaint, Limits};
