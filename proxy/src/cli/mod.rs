//! The `shardgate` command line. Each subcommand is a function returning `anyhow::Result`;
//! `main` only parses arguments and maps errors to an exit code.

mod check_config;
mod route;
pub mod sandbox;
mod serve;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "shardgate",
    version,
    about = "A MySQL wire-protocol sharding proxy"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show how a statement is routed: one line per physical statement (backend, database,
    /// SQL), then the merge step.
    Route {
        /// The routing-rules file.
        #[arg(long, short)]
        config: std::path::PathBuf,
        /// The logical SQL statement.
        sql: String,
    },
    /// Run the proxy.
    Serve {
        /// The routing-rules file.
        #[arg(long, short)]
        config: std::path::PathBuf,
    },
    /// Validate a routing-rules file and summarize it.
    CheckConfig {
        /// The routing-rules file.
        file: std::path::PathBuf,
    },
    /// Start a throwaway MariaDB server for each backend of a config (on the config's
    /// addresses), create the backend account and the physical databases, and run the proxy
    /// in front of them until Ctrl-C or SIGTERM.
    Sandbox {
        /// The routing-rules file.
        #[arg(long, short, default_value = "examples/orders.yaml")]
        config: std::path::PathBuf,
        /// Keep the servers' data here (one directory per backend) instead of throwing it away.
        #[arg(long)]
        data_dir: Option<std::path::PathBuf>,
    },
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match cli.command {
        Command::Route { config, sql } => route::run(&config, &sql, &mut out),
        Command::CheckConfig { file } => check_config::run(&file, &mut out),
        Command::Serve { config } => serve::run(&config),
        Command::Sandbox { config, data_dir } => sandbox::run(
            sandbox::SandboxArgs {
                config: &config,
                data_dir: data_dir.as_deref(),
            },
            &mut out,
        ),
    }
}
