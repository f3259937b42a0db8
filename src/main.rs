//! The `warmstart` command line: parses the arguments and runs one command (`warmstart::cli`).

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = warmstart::cli::Cli::parse();
    warmstart::observe::logging::init(cli.log_format);
    warmstart::cli::run(cli).await
}
