//! gRPC adapters over the domain.

pub mod admin;
pub mod intake;
pub mod status;
