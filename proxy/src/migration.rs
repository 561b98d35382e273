//! What the proxy knows of running migrations: a task reads the migration state table every
//! second (`shardgate_meta.migrations` on the first backend, where `shardgate migrate`
//! keeps it by default), so a state change reaches every proxy within about a second.
//!
//! This version does not dual-write yet. Until it does, a table whose migration is under
//! way (started, and not finished or rolled back) refuses writes and DDL with an error that
//! says why, rather than letting source and target drift apart unseen. Reads go on.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use mysql_async::prelude::Queryable;
use shardgate_config::{Backend, Topology};
use shardgate_migrate::{backend_opts, Phase};
use tokio::sync::Notify;

/// How often the state table is read.
const POLL: Duration = Duration::from_millis(1000);
/// Where `shardgate migrate` keeps the state by default.
const STATE_DATABASE: &str = "shardgate_meta";

pub struct MigrationWatch {
    /// Lower-cased logical table name -> phase, for migrations under way.
    active: RwLock<HashMap<String, Phase>>,
    /// Whether any migration is under way: the check on every write costs one load.
    any: AtomicBool,
    backend: Option<Backend>,
    stop: Arc<Notify>,
}

impl MigrationWatch {
    pub fn new(topology: &Topology) -> Self {
        MigrationWatch {
            active: RwLock::new(HashMap::new()),
            any: AtomicBool::new(false),
            backend: topology.backends.first().cloned(),
            stop: Arc::new(Notify::new()),
        }
    }

    /// The phase of `table`'s migration when one is under way.
    pub fn phase(&self, table: &str) -> Option<Phase> {
        if !self.any.load(Ordering::Relaxed) {
            return None;
        }
        self.active
            .read()
            .ok()?
            .get(&table.to_ascii_lowercase())
            .copied()
    }

    /// Polls the state table until [`Self::stop`].
    pub async fn run(self: Arc<Self>) {
        let Some(backend) = self.backend.clone() else {
            return;
        };
        let stopped = self.stop.notified();
        tokio::pin!(stopped);
        stopped.as_mut().enable();
        let pool = mysql_async::Pool::new(backend_opts(&backend));
        loop {
            match read_state(&pool).await {
                Ok(active) => {
                    self.any.store(!active.is_empty(), Ordering::Relaxed);
                    if let Ok(mut current) = self.active.write() {
                        *current = active;
                    }
                }
                // The state cannot be read: keep what was last known.
                Err(e) => {
                    tracing::debug!(backend = %backend.name, error = %e, "migration state not read")
                }
            }
            tokio::select! {
                _ = &mut stopped => break,
                _ = tokio::time::sleep(POLL) => {}
            }
        }
        let _ = pool.disconnect().await;
    }

    pub fn stop(&self) {
        self.stop.notify_waiters();
    }
}

/// Migrations under way, by lower-cased table name. No state table means none.
async fn read_state(
    pool: &mysql_async::Pool,
) -> Result<HashMap<String, Phase>, mysql_async::Error> {
    let mut conn = pool.get_conn().await?;
    let rows: Result<Vec<(String, String)>, _> = conn
        .query(format!(
            "SELECT table_name, phase FROM `{STATE_DATABASE}`.migrations"
        ))
        .await;
    let rows = match rows {
        Ok(rows) => rows,
        // Unknown database or table: nothing was ever migrated here.
        Err(mysql_async::Error::Server(e)) if matches!(e.code, 1049 | 1146) => Vec::new(),
        Err(e) => return Err(e),
    };
    Ok(rows
        .into_iter()
        .filter_map(|(table, phase)| {
            let phase = Phase::parse(&phase)?;
            phase
                .dual_writes()
                .then(|| (table.to_ascii_lowercase(), phase))
        })
        .collect())
}
