//! Compiles `proto/paidan/v1/*.proto` with a vendored protoc, so a fresh machine needs nothing
//! installed, and writes the descriptor set that gRPC reflection serves.
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY-free: build scripts are single-threaded; tonic-prost-build reads PROTOC.
    unsafe_set_protoc(&protoc);
    // The manifest directory of this build, read when the script runs: `env!` would bake in the
    // directory the script was compiled in, and cargo reuses a compiled build script across
    // checkouts that share a target directory (a worktree then compiled the other's protos).
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let files = [
        "paidan/v1/intake.proto",
        "paidan/v1/sink.proto",
        "paidan/v1/admin.proto",
    ]
    .map(|f| root.join(f));
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
    }
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    tonic_prost_build::configure()
        .file_descriptor_set_path(out.join("paidan_descriptor.bin"))
        .compile_protos(&files, &[root])?;
    Ok(())
}

#[allow(unsafe_code)]
fn unsafe_set_protoc(path: &std::path::Path) {
    // std::env::set_var is unsafe in edition 2024; a build script has no other threads.
    unsafe { std::env::set_var("PROTOC", path) };
}
