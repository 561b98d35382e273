//! The `shardgate` binary.

use clap::Parser;
use shardgate_proxy::cli::{run, Cli};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logging();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shardgate: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Log lines to standard error: warnings and errors by default, more with `RUST_LOG`
/// (`RUST_LOG=shardgate_proxy=debug`). Colours only on a terminal.
fn init_logging() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
