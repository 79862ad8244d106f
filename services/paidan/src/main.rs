use clap::Parser;

/// jemalloc instead of glibc's malloc: see `eval/bench-notes.md`, session 15 (a sled page read
/// from a large store spent a quarter of its time in glibc's `_int_malloc`).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> anyhow::Result<()> {
    let cli = paidan::cli::Cli::parse();
    paidan::cli::init_tracing(cli.log_json);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(paidan::cli::run(cli))
}
