//! The paidan binary's library half: the gRPC server, the Open311 facade and the command
//! implementations, so integration tests can start a real server in-process.

pub mod access;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod deadline_watch;
pub mod grpc;
pub mod open311;
pub mod server;
pub mod signals;
pub mod telemetry;
