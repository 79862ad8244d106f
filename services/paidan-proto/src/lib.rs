//! The `paidan.v1` gRPC contract, generated from `proto/` at build time.
//!
//! Only this crate, the server and the forwarder's gRPC sink depend on tonic/prost; the domain
//! crates never see these types.

pub mod v1 {
    tonic::include_proto!("paidan.v1");
}

/// Encoded `FileDescriptorSet` for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("paidan_descriptor");

pub use prost_types::Timestamp;
