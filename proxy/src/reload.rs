//! Reloading the config without a restart (SIGHUP, `SHARDGATE RELOAD CONFIG`): the file is
//! read and validated again, and its rules are swapped in whole or not at all. Statements
//! that start afterwards use the new rules; a transaction in flight finishes on the old
//! ones. Backends whose settings did not change keep their pools; changed and new ones get
//! new pools, and a pool no rules use any more closes once its last statement ends.
//!
//! Refused, with the running rules kept: a file that does not validate; a change to a
//! setting the proxy acts on only at start ([`Topology::restart_only_changes`]); any
//! change while a migration is known (its routing is built on the rules it began with).

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use shardgate_config::Topology;

use crate::rules::Rules;
use crate::server::ProxyContext;

/// Readies what new rules need before they are swapped in (the sandbox creates their
/// databases); an error refuses the reload.
pub type PrepareRules = Box<
    dyn Fn(Arc<Topology>) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync,
>;

/// Where a reload reads the rules.
pub struct ConfigSource {
    pub path: PathBuf,
    pub prepare: Option<PrepareRules>,
}

impl ConfigSource {
    pub fn file(path: impl Into<PathBuf>) -> ConfigSource {
        ConfigSource {
            path: path.into(),
            prepare: None,
        }
    }
}

/// Why a reload was refused; the running rules stay in force.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error(
        "shardgate: this proxy was not started from a config file; there is nothing to reload"
    )]
    NoConfigFile,
    #[error("shardgate: the config was not reloaded: {0}")]
    Invalid(#[from] shardgate_config::ConfigError),
    #[error("shardgate: the config was not reloaded: these settings take a restart: {}", .0.join(", "))]
    RestartOnly(Vec<&'static str>),
    #[error("shardgate: the config was not reloaded: a migration of {} is known to this proxy, and its routing is built on the rules in force; restart the proxy with the new config instead", .0.join(", "))]
    MigrationKnown(Vec<String>),
    #[error("shardgate: the config was not reloaded: {0}")]
    NotReady(String),
}

/// What a reload put in force.
#[derive(Debug, Clone)]
pub struct Reloaded {
    pub generation: u64,
    pub tables: usize,
    pub backends: usize,
    /// Backends that kept their pool (unchanged settings).
    pub pools_kept: usize,
}

impl ProxyContext {
    /// Reads the config file again and puts its rules in force, or refuses and keeps the
    /// running ones. Either outcome is logged.
    pub async fn reload(&self) -> Result<Reloaded, ReloadError> {
        let result = self.reload_rules().await;
        if let Err(e) = &result {
            tracing::warn!("{e}");
        }
        result
    }

    async fn reload_rules(&self) -> Result<Reloaded, ReloadError> {
        let source = self
            .config_source
            .as_ref()
            .ok_or(ReloadError::NoConfigFile)?;
        let _one_at_a_time = self.reloading.lock().await;
        let next = Arc::new(Topology::load(&source.path)?);
        let running = self.rules();
        let restart_only = running.topology.restart_only_changes(&next);
        if !restart_only.is_empty() {
            return Err(ReloadError::RestartOnly(restart_only));
        }
        let migrating = self.migrations.tables_known();
        if !migrating.is_empty() {
            return Err(ReloadError::MigrationKnown(migrating));
        }
        if let Some(prepare) = &source.prepare {
            prepare(next.clone()).await.map_err(ReloadError::NotReady)?;
        }
        let rules = Arc::new(Rules::new(next.clone(), Some(&running)));
        let reloaded = Reloaded {
            generation: next.generation,
            tables: next.tables.len(),
            backends: next.backends.len(),
            pools_kept: rules.pools_kept_from(&running),
        };
        self.migrations.set_topology(next.clone());
        self.swap_rules(rules.clone());
        rules.retire_pools_of(&running);
        crate::telemetry::config_generation(next.generation);
        tracing::info!(
            generation = reloaded.generation,
            tables = reloaded.tables,
            backends = reloaded.backends,
            pools_kept = reloaded.pools_kept,
            file = %source.path.display(),
            "config reloaded"
        );
        Ok(reloaded)
    }
}

/// Reloads on every SIGHUP until the process ends; each outcome is logged.
pub async fn reload_on_sighup(ctx: Arc<ProxyContext>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            tracing::warn!("SIGHUP cannot be watched: reload with SHARDGATE RELOAD CONFIG");
            return;
        };
        while hangups.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading the config");
            let _ = ctx.reload().await;
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctx;
        std::future::pending::<()>().await;
    }
}
