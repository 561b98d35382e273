//! The `shardgate` command line. Each subcommand is a function returning `anyhow::Result`;
//! `main` only parses arguments and maps errors to an exit code.

mod check_config;
mod route;
pub mod sandbox;

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
    /// Validate a routing-rules file and summarize it.
    CheckConfig {
        /// The routing-rules file.
        file: std::path::PathBuf,
    },
    /// Start one throwaway MariaDB server per backend of a config and create its physical
    /// databases (and, with --schema, its tables, routed like any DDL).
    Sandbox {
        /// The routing-rules file.
        #[arg(long, short)]
        config: std::path::PathBuf,
        /// SQL file of logical CREATE TABLE statements, one per `;`.
        #[arg(long)]
        schema: Option<std::path::PathBuf>,
        /// Write the config, with the sandbox servers' addresses, to this file.
        #[arg(long)]
        write_config: Option<std::path::PathBuf>,
        /// Insert this many demo rows through the router and report where they landed.
        #[arg(long, default_value_t = 0)]
        demo_rows: usize,
        /// Stop the servers once set up, instead of waiting for Ctrl-C.
        #[arg(long)]
        exit: bool,
    },
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match cli.command {
        Command::Route { config, sql } => route::run(&config, &sql, &mut out),
        Command::CheckConfig { file } => check_config::run(&file, &mut out),
        Command::Sandbox {
            config,
            schema,
            write_config,
            demo_rows,
            exit,
        } => sandbox::run(
            sandbox::SandboxArgs {
                config: &config,
                schema: schema.as_deref(),
                write_config: write_config.as_deref(),
                demo_rows,
                exit,
            },
            &mut out,
        ),
    }
}
