//! What the proxy knows of running migrations: a task reads the migration state table every
//! second (`shardgate_meta.migrations` on the first backend, where `shardgate migrate`
//! keeps it by default), so a state change reaches every proxy within about a second.
//!
//! For each table being migrated the proxy keeps an [`ActiveMigration`]: which layout is
//! the source of truth (the old one until cutover, the new one after), and a writer that
//! copies the rows each write touched to the other layout (dual-write, `session::dual_write`).
//! Once a table is cut over, statements are routed by a router whose topology lays that
//! table out as the target config does.

mod active;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use mysql_async::prelude::Queryable;
use shardgate_config::{Backend, Topology};
use shardgate_migrate::{backend_opts, Phase};
use shardgate_router::Router;
use tokio::sync::Notify;

pub use active::ActiveMigration;

/// How often the state table is read.
const POLL: Duration = Duration::from_millis(1000);
/// Where `shardgate migrate` keeps the state by default.
pub const STATE_DATABASE: &str = "shardgate_meta";

pub struct MigrationWatch {
    /// Lower-cased logical table name -> its migration, for those the proxy acts on.
    active: RwLock<HashMap<String, Arc<ActiveMigration>>>,
    /// Whether any migration is under way: the check on every statement costs one load.
    any: AtomicBool,
    /// The router for tables cut over to a new layout; `None` while none is.
    cut_over: ArcSwapOption<Router>,
    /// The cut-over tables `cut_over` was built for, sorted.
    cut_over_tables: std::sync::Mutex<Vec<String>>,
    topology: Arc<Topology>,
    backend: Option<Backend>,
    stop: Arc<Notify>,
    /// Set while the state reads fail (for the log: say it once).
    failing: AtomicBool,
}

/// One row of the state table.
struct StateRow {
    table: String,
    phase: Phase,
    from: String,
    to: String,
}

impl MigrationWatch {
    pub fn new(topology: &Arc<Topology>) -> Self {
        MigrationWatch {
            active: RwLock::new(HashMap::new()),
            any: AtomicBool::new(false),
            cut_over: ArcSwapOption::empty(),
            cut_over_tables: std::sync::Mutex::new(Vec::new()),
            topology: topology.clone(),
            backend: topology.backends.first().cloned(),
            stop: Arc::new(Notify::new()),
            failing: AtomicBool::new(false),
        }
    }

    /// `table`'s migration, when one is under way.
    pub fn get(&self, table: &str) -> Option<Arc<ActiveMigration>> {
        if !self.any.load(Ordering::Relaxed) {
            return None;
        }
        self.active
            .read()
            .ok()?
            .get(&table.to_ascii_lowercase())
            .cloned()
    }

    /// The router to use instead of the proxy's own while a table is cut over.
    pub fn router(&self) -> Option<Arc<Router>> {
        if !self.any.load(Ordering::Relaxed) {
            return None;
        }
        self.cut_over.load_full()
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
                Ok(rows) => {
                    self.failing.store(false, Ordering::Relaxed);
                    self.apply(rows).await;
                }
                // The state cannot be read: keep what was last known.
                Err(e) => {
                    if !self.failing.swap(true, Ordering::Relaxed) {
                        tracing::warn!(backend = %backend.name, error = %e, "migration state not read");
                    }
                }
            }
            tokio::select! {
                _ = &mut stopped => break,
                _ = tokio::time::sleep(POLL) => {}
            }
        }
        let _ = pool.disconnect().await;
        let active: Vec<Arc<ActiveMigration>> = match self.active.write() {
            Ok(mut map) => map.drain().map(|(_, m)| m).collect(),
            Err(_) => Vec::new(),
        };
        for migration in active {
            migration.close().await;
        }
    }

    /// Brings the known migrations to what the state table says.
    async fn apply(&self, rows: Vec<StateRow>) {
        let known: HashMap<String, Arc<ActiveMigration>> = match self.active.read() {
            Ok(map) => map.clone(),
            Err(_) => return,
        };
        let mut next = HashMap::new();
        for row in rows {
            let name = row.table.to_ascii_lowercase();
            let relevant = row.phase.dual_writes() || row.phase == Phase::Finished;
            if !relevant || self.topology.table(&row.table).is_none() {
                continue;
            }
            let migration = match known.get(&name) {
                Some(m) if m.same_migration(&row.from, &row.to) => {
                    if m.phase() != row.phase {
                        m.set_phase(row.phase);
                        tracing::info!(table = %row.table, phase = row.phase.as_str(), "migration phase");
                    }
                    m.clone()
                }
                _ => match ActiveMigration::load(
                    &row.table,
                    row.phase,
                    &row.from,
                    &row.to,
                    self.backend.as_ref(),
                )
                .await
                {
                    Ok(m) => {
                        tracing::info!(table = %row.table, phase = row.phase.as_str(), "migration seen");
                        Arc::new(m)
                    }
                    Err(e) => {
                        tracing::error!(table = %row.table, error = %e, "migration not taken up");
                        continue;
                    }
                },
            };
            next.insert(name, migration);
        }
        // The router for cut-over tables: the proxy's topology with each such table laid
        // out as its target config does. Rebuilt only when that set changes, since a new
        // router empties every session's statement cache.
        let mut wanted: Vec<&Arc<ActiveMigration>> =
            next.values().filter(|m| m.routes_by_target()).collect();
        wanted.sort_by(|a, b| a.table().cmp(b.table()));
        let names: Vec<String> = wanted.iter().map(|m| m.table().to_string()).collect();
        let rebuild = self
            .cut_over_tables
            .lock()
            .map(|mut had| {
                let differs = *had != names;
                *had = names;
                differs
            })
            .unwrap_or(false);
        if rebuild {
            let mut topology: Option<Topology> = None;
            for m in wanted {
                let base = topology.as_ref().unwrap_or(&self.topology);
                match base.with_table_from(m.target_topology(), m.table()) {
                    Ok(t) => topology = Some(t),
                    // Routing it by the old layout would misroute: refuse its statements.
                    Err(e) => {
                        m.set_unroutable();
                        tracing::error!(table = %m.table(), error = %e, "cut-over layout not usable")
                    }
                }
            }
            self.cut_over
                .store(topology.map(|t| Arc::new(Router::new(Arc::new(t)))));
        }
        self.any.store(!next.is_empty(), Ordering::Relaxed);
        let gone: Vec<Arc<ActiveMigration>> = known
            .iter()
            .filter(|(name, m)| next.get(*name).is_none_or(|n| !Arc::ptr_eq(n, m)))
            .map(|(_, m)| m.clone())
            .collect();
        if let Ok(mut map) = self.active.write() {
            *map = next;
        }
        for m in gone {
            m.close().await;
        }
    }

    pub fn stop(&self) {
        self.stop.notify_waiters();
    }
}

/// Every row of the state table. No state table means no migration.
async fn read_state(pool: &mysql_async::Pool) -> Result<Vec<StateRow>, mysql_async::Error> {
    let mut conn = pool.get_conn().await?;
    let rows: Result<Vec<(String, String, String, String)>, _> = conn
        .query(format!(
            "SELECT table_name, phase, from_config, to_config FROM `{STATE_DATABASE}`.migrations"
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
        .filter_map(|(table, phase, from, to)| {
            Some(StateRow {
                table,
                phase: Phase::parse(&phase)?,
                from,
                to,
            })
        })
        .collect())
}
