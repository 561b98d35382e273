//! The `shardgate` command line. Each subcommand is a function returning `anyhow::Result`;
//! `main` only parses arguments and maps errors to an exit code.

mod check_config;
mod hash_password;
mod idgen;
mod migrate;
mod migrate_cutover;
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
    /// Online resharding of one table from the layout of one config to that of another.
    Migrate {
        #[command(subcommand)]
        command: MigrateCommand,
        /// The config with the table's current layout.
        #[arg(long, global = true)]
        from: Option<std::path::PathBuf>,
        /// The config with its new layout.
        #[arg(long, global = true)]
        to: Option<std::path::PathBuf>,
        /// The logical table to move.
        #[arg(long, global = true)]
        table: Option<String>,
        /// The backend (of the source config) holding the migration state: the one its
        /// `migration_state.backend` names (its first by default), where the proxies look;
        /// naming another is refused.
        #[arg(long, global = true)]
        state: Option<String>,
    },
    /// Distributed ids: benchmark a generator, or take an id apart.
    Idgen {
        #[command(subcommand)]
        command: IdgenCommand,
    },
    /// Print a client password's stored form for the config's `users` (reads the password
    /// from standard input).
    HashPassword {
        #[arg(long, value_enum, default_value = "mysql-native-password")]
        plugin: PasswordPlugin,
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

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum PasswordPlugin {
    MysqlNativePassword,
    CachingSha2Password,
}

#[derive(Debug, Clone, Copy, Subcommand)]
pub enum MigrateCommand {
    /// Show the source and target layouts, a row estimate and the steps.
    Plan,
    /// Create the target tables and record the migration as started (dual-write).
    Start {
        /// Use target tables that already hold rows (left from an earlier attempt with the
        /// same routing); refused otherwise, since rows routed another way would sit in the
        /// wrong tables.
        #[arg(long)]
        reuse_targets: bool,
    },
    /// Copy the existing rows in key chunks, resumably, with a progress bar.
    Backfill,
    /// Compare source and target chunk by chunk; report differing rows by key (JSON) and
    /// log them for repair.
    Check,
    /// Copy the logged keys again from the source (the source wins).
    Repair,
    /// Fence writes, check once more, and flip reads and writes to the new layout (writes
    /// are still copied back to the old one). Refused unless the last check was clean and
    /// the repair log is empty.
    Cutover,
    /// Stop writing the old layout.
    Finish {
        /// Also drop the old layout's tables.
        #[arg(long)]
        drop_source: bool,
        /// Finish although rows wait in the repair log (their last writes may be lost).
        #[arg(long)]
        force: bool,
    },
    /// Print the migration's state as JSON.
    Status,
    /// Go back to the source alone.
    Rollback {
        /// Roll back although rows wait in the repair log (their last writes may be lost).
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum IdgenCommand {
    /// Generate ids as fast as possible and report ids/s, uniqueness, and the spread over
    /// the 32 x 32 tables with a chi-square test against uniform.
    Bench {
        #[arg(long, value_enum, default_value = "snowflake")]
        generator: idgen::GeneratorKind,
        /// Threads sharing the one generator.
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// How many ids in all.
        #[arg(long, default_value_t = 4_000_000)]
        ids: usize,
    },
    /// Print an id's time, worker, sequence, database and table.
    Decode {
        id: i64,
        /// Read the snowflake layout from this routing-rules file.
        #[arg(long, short)]
        config: Option<std::path::PathBuf>,
        /// Which snowflake generator of the config (the first by default).
        #[arg(long)]
        generator: Option<String>,
    },
}

impl Cli {
    /// The config of a command that serves clients (`serve`, `sandbox`), whose `log`
    /// section sets up logging.
    pub fn config_to_serve(&self) -> Option<&std::path::Path> {
        match &self.command {
            Command::Serve { config } | Command::Sandbox { config, .. } => Some(config),
            _ => None,
        }
    }
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match cli.command {
        Command::Route { config, sql } => route::run(&config, &sql, &mut out),
        Command::CheckConfig { file } => check_config::run(&file, &mut out),
        Command::Serve { config } => serve::run(&config),
        Command::Migrate {
            command,
            from,
            to,
            table,
            state,
        } => {
            let (Some(from), Some(to), Some(table)) = (from, to, table) else {
                anyhow::bail!("migrate needs --from OLD.yaml --to NEW.yaml --table NAME");
            };
            let args = migrate::MigrateArgs {
                from: &from,
                to: &to,
                table: &table,
                state: state.as_deref(),
            };
            match command {
                MigrateCommand::Plan => migrate::plan(args, &mut out),
                MigrateCommand::Start { reuse_targets } => {
                    migrate::start(args, reuse_targets, &mut out)
                }
                MigrateCommand::Backfill => migrate::run_backfill(args, &mut out),
                MigrateCommand::Check => migrate::run_check(args, &mut out),
                MigrateCommand::Repair => migrate::run_repair(args, &mut out),
                MigrateCommand::Cutover => migrate_cutover::cutover(args, &mut out),
                MigrateCommand::Finish { drop_source, force } => {
                    migrate_cutover::finish(args, drop_source, force, &mut out)
                }
                MigrateCommand::Status => migrate::status(args, &mut out),
                MigrateCommand::Rollback { force } => migrate::rollback(args, force, &mut out),
            }
        }
        Command::Idgen {
            command:
                IdgenCommand::Bench {
                    generator,
                    threads,
                    ids,
                },
        } => idgen::bench(generator, threads, ids, &mut out),
        Command::Idgen {
            command:
                IdgenCommand::Decode {
                    id,
                    config,
                    generator,
                },
        } => idgen::decode(id, config.as_deref(), generator.as_deref(), &mut out),
        Command::HashPassword { plugin } => {
            let plugin = match plugin {
                PasswordPlugin::MysqlNativePassword => {
                    shardgate_config::AuthPlugin::MysqlNativePassword
                }
                PasswordPlugin::CachingSha2Password => {
                    shardgate_config::AuthPlugin::CachingSha2Password
                }
            };
            hash_password::run(plugin, &mut std::io::stdin().lock(), &mut out)
        }
        Command::Sandbox { config, data_dir } => sandbox::run(
            sandbox::SandboxArgs {
                config: &config,
                data_dir: data_dir.as_deref(),
            },
            &mut out,
        ),
    }
}
