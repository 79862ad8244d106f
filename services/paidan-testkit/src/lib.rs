//! Dev-only test kit for paidan's tests and benchmarks. Production crates never depend on it.
//!
//! - [`receiver`]: a stand-in for the 12345 platform (gRPC `CaseSink` + signed webhook), also
//!   served by the `paidan-receiver` binary.
//! - [`case`]: [`CaseBuilder`], a stored [`paidan_store::CaseRecord`] with test defaults.
//! - [`model`]: [`train_tiny`], the tiny-model training fixture of the server and eval tests.
//! - [`bin_path`]: the path of one of this crate's binaries (`paidan-receiver`,
//!   `paidan-forward-worker`), built on demand, for other crates' integration tests.
//!
//! A crate this kit depends on (paidan-forward, paidan-store, paidan-model) may use it in its
//! integration tests (`tests/`), not in its unit tests: those would see a second copy of the crate.

pub mod case;
pub mod model;
pub mod receiver;

pub use case::CaseBuilder;
pub use model::{TinyModel, train_tiny};
pub use receiver::{FailMode, Received, ReceiverConfig, ReceiverHandle, start_receiver};

use std::path::PathBuf;
use std::sync::Mutex;

/// The path of this crate's binary `name`, built first (once per process; a no-op when it is up to
/// date) in the target directory and profile of the running test, since cargo builds another
/// package's binaries for no test.
pub fn bin_path(name: &str) -> PathBuf {
    static BUILT: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    // target/<profile>/deps/<test> → target/<profile>
    let exe = std::env::current_exe().expect("current test executable");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test executable in target/<profile>/deps")
        .to_path_buf();
    let target_dir = profile_dir.parent().expect("target directory");
    let mut cmd = std::process::Command::new(std::env::var_os("CARGO").unwrap_or("cargo".into()));
    // Offline: the running test was built, so every dependency is here already.
    cmd.args([
        "build",
        "--quiet",
        "--offline",
        "-p",
        "paidan-testkit",
        "--bin",
        name,
    ])
    .arg("--manifest-path")
    .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
    .env("CARGO_TARGET_DIR", target_dir);
    if profile_dir.file_name().is_some_and(|p| p == "release") {
        cmd.arg("--release");
    }
    if !built.iter().any(|b| b == name) {
        let status = cmd.status().expect("run cargo build for a test kit binary");
        assert!(
            status.success(),
            "cargo build -p paidan-testkit --bin {name} failed"
        );
        built.push(name.to_owned());
    }
    profile_dir.join(name)
}
