//! The API crate: the `paidan.v1` gRPC contract generated from `proto/` at build time, and every
//! conversion between it and the domain with the wire validation that goes with it ([`convert`]).
//!
//! Only this crate, the server and the forwarder's gRPC sink depend on tonic/prost; the domain
//! crates never see these types.

pub mod convert;

pub mod v1 {
    tonic::include_proto!("paidan.v1");
}

/// Encoded `FileDescriptorSet` for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("paidan_descriptor");

pub use prost_types::Timestamp;
