//! The `shardgate` binary.

use clap::Parser;
use shardgate_proxy::cli::{run, Cli};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shardgate: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
