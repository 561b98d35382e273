//! The `shardgate` binary.

use clap::Parser;
use shardgate_proxy::cli::{run, Cli};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // The proxy's own commands log as their config says; a config that does not load is
    // reported by the command itself.
    let settings = cli
        .config_to_serve()
        .and_then(|path| shardgate_config::Topology::load(path).ok())
        .map(|topology| topology.log);
    init_logging(settings.as_ref());
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shardgate: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Log lines to standard error, at the config's `log.level` (warnings and errors by
/// default) as `log.format` says; `RUST_LOG` (`RUST_LOG=shardgate_proxy=debug`) wins when
/// set. Colours only on a terminal.
fn init_logging(settings: Option<&shardgate_config::LogSettings>) {
    use std::io::IsTerminal;
    let level = settings.map_or("warn", |s| s.level.as_str());
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match settings.map(|s| s.format) {
        Some(shardgate_config::LogFormat::Json) => builder.json().try_init(),
        _ => builder.try_init(),
    };
}
