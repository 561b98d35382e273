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

/// What a write to a table must do about migrations.
pub enum Lookup {
    /// Nothing: no migration of it is under way.
    None,
    Active(Arc<ActiveMigration>),
    /// Refuse it: a migration this proxy could not take up (or the state is not known yet),
    /// and writing one layout alone could lose the write in the other.
    Refused(String),
}

pub struct MigrationWatch {
    /// Lower-cased logical table name -> its migration, for those the proxy acts on.
    active: RwLock<HashMap<String, Arc<ActiveMigration>>>,
    /// Lower-cased table name -> why its migration was not taken up.
    refused: RwLock<HashMap<String, String>>,
    /// Whether the state was read at least once.
    known: AtomicBool,
    /// Whether any table needs a look (a migration, or the state not known yet): the
    /// check on every statement costs one load.
    any: AtomicBool,
    /// The router for tables cut over to a new layout; `None` while none is.
    cut_over: ArcSwapOption<CutOverRouting>,
    /// The cut-over tables `cut_over` was built for, sorted.
    cut_over_tables: std::sync::Mutex<Vec<String>>,
    topology: Arc<Topology>,
    backend: Option<Backend>,
    stop: Arc<Notify>,
    /// Set while the state reads fail (for the log: say it once).
    failing: AtomicBool,
}

/// Routing while tables are cut over: the proxy's topology with each of `tables` laid out
/// as its migration's target config does.
pub struct CutOverRouting {
    pub router: Router,
    /// Lower-cased names of the tables it routes by their new layout.
    tables: Vec<String>,
}

impl CutOverRouting {
    /// Whether `table` goes by its new layout under this routing.
    pub fn covers(&self, table: &str) -> bool {
        self.tables.iter().any(|t| t.eq_ignore_ascii_case(table))
    }
}

/// One row of the state table.
struct StateRow {
    table: String,
    phase: Phase,
    from: String,
    to: String,
    /// A fence not renewed within [`shardgate_migrate::FENCE_LEASE`]: its command died.
    fence_lapsed: bool,
}

impl StateRow {
    /// The phase the proxy acts on: a lapsed fence is lifted, and writes go by the old
    /// layout with the new one following, as before the fence (both were current under it).
    fn effective_phase(&self) -> Phase {
        if self.phase == Phase::Fencing && self.fence_lapsed {
            Phase::Checked
        } else {
            self.phase
        }
    }
}

impl MigrationWatch {
    pub fn new(topology: &Arc<Topology>) -> Self {
        MigrationWatch {
            active: RwLock::new(HashMap::new()),
            refused: RwLock::new(HashMap::new()),
            known: AtomicBool::new(false),
            any: AtomicBool::new(true),
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

    /// What a write to `table` must do.
    pub fn lookup(&self, table: &str) -> Lookup {
        if !self.any.load(Ordering::Relaxed) {
            return Lookup::None;
        }
        if !self.known.load(Ordering::Acquire) && self.backend.is_some() {
            return Lookup::Refused(format!(
                "shardgate: writes to `{table}` wait until this proxy has read the migration state (on its first backend), which it has not yet"
            ));
        }
        if let Some(m) = self.get(table) {
            return Lookup::Active(m);
        }
        match self
            .refused
            .read()
            .ok()
            .and_then(|r| r.get(&table.to_ascii_lowercase()).cloned())
        {
            Some(why) => Lookup::Refused(format!(
                "shardgate: `{table}` is being migrated and this proxy could not take the migration up ({why}); writes to it are refused"
            )),
            None => Lookup::None,
        }
    }

    /// Reads the state once, now (before the proxy takes clients).
    pub async fn refresh(&self) {
        let Some(backend) = self.backend.clone() else {
            return;
        };
        let pool = mysql_async::Pool::new(backend_opts(&backend));
        match read_state(&pool).await {
            Ok(rows) => self.apply(rows).await,
            Err(e) => {
                tracing::warn!(backend = %backend.name, error = %e, "migration state not read")
            }
        }
        let _ = pool.disconnect().await;
    }

    /// The routing to use instead of the proxy's own while a table is cut over.
    pub fn router(&self) -> Option<Arc<CutOverRouting>> {
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
    }

    /// Brings the known migrations to what the state table says.
    async fn apply(&self, rows: Vec<StateRow>) {
        let known: HashMap<String, Arc<ActiveMigration>> = match self.active.read() {
            Ok(map) => map.clone(),
            Err(_) => return,
        };
        let mut next = HashMap::new();
        let mut refused = HashMap::new();
        for mut row in rows {
            if row.fence_lapsed && row.phase == Phase::Fencing {
                tracing::warn!(table = %row.table, "the migration's fence lapsed (its command stopped renewing it): writes go on by the old layout; run cutover (or rollback) again");
            }
            row.phase = row.effective_phase();
            let name = row.table.to_ascii_lowercase();
            let relevant = row.phase.dual_writes() || row.phase == Phase::Finished;
            if !relevant || self.topology.table(&row.table).is_none() {
                // Rolled back: writes waiting at its fence look again and go by the old
                // layout alone.
                if let Some(m) = known.get(&name) {
                    m.set_phase(row.phase);
                }
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
                        tracing::error!(table = %row.table, error = %e, "migration not taken up; its writes are refused");
                        refused.insert(name, e);
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
            let mut tables = Vec::new();
            for m in wanted {
                let base = topology.as_ref().unwrap_or(&self.topology);
                match base.with_table_from(m.target_topology(), m.table()) {
                    Ok(t) => {
                        topology = Some(t);
                        tables.push(m.table().to_ascii_lowercase());
                    }
                    // Routing it by the old layout would misroute: refuse its statements.
                    Err(e) => {
                        m.set_unroutable();
                        tracing::error!(table = %m.table(), error = %e, "cut-over layout not usable")
                    }
                }
            }
            self.cut_over.store(topology.map(|t| {
                Arc::new(CutOverRouting {
                    router: Router::new(Arc::new(t)),
                    tables,
                })
            }));
        }
        self.any
            .store(!next.is_empty() || !refused.is_empty(), Ordering::Relaxed);
        if let Ok(mut r) = self.refused.write() {
            *r = refused;
        }
        self.known.store(true, Ordering::Release);
        if let Ok(mut map) = self.active.write() {
            *map = next;
        }
    }

    pub fn stop(&self) {
        self.stop.notify_waiters();
    }
}

/// table, phase, from config, to config, fence lapsed (0 or 1).
type StateColumns = (String, String, String, String, i64);

/// Every row of the state table. No state table means no migration.
async fn read_state(pool: &mysql_async::Pool) -> Result<Vec<StateRow>, mysql_async::Error> {
    let mut conn = pool.get_conn().await?;
    let lease_us = shardgate_migrate::FENCE_LEASE.as_micros();
    let rows: Result<Vec<StateColumns>, _> = conn
        .query(format!(
            "SELECT table_name, phase, from_config, to_config, \
             TIMESTAMPDIFF(MICROSECOND, updated_at, NOW(3)) > {lease_us} \
             FROM `{STATE_DATABASE}`.migrations"
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
        .filter_map(|(table, phase, from, to, lapsed)| {
            Some(StateRow {
                table,
                phase: Phase::parse(&phase)?,
                from,
                to,
                fence_lapsed: lapsed != 0,
            })
        })
        .collect())
}
