use clap::Parser;

fn main() -> anyhow::Result<()> {
    let cli = paidan::cli::Cli::parse();
    paidan::cli::init_tracing(cli.log_json);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(paidan::cli::run(cli))
}
