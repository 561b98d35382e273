//! What the proxy knows of running migrations: a task reads the migration state table
//! (`shardgate_meta.migrations` on the backend the config's `migration_state.backend` names,
//! its first by default, where `shardgate migrate` keeps it) every second, and every 200 ms
//! while a migration is under way, so a switch reaches every proxy within that.
//!
//! For each table being migrated the proxy keeps an [`ActiveMigration`]: which layout is
//! the source of truth (the old one until cutover, the new one after), and a writer that
//! copies the rows each write touched to the other layout (dual-write, `session::dual_write`).
//! Once a table is cut over, statements are routed by a router whose topology lays that
//! table out as the target config does.

mod active;
mod snapshot;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use mysql_async::prelude::Queryable;
use shardgate_config::{Backend, Topology};
use shardgate_migrate::{backend_opts, Phase};
use shardgate_router::Router;
use tokio::sync::Notify;

pub use active::{ActiveMigration, WriteGuard};
pub use snapshot::{CutOverRouting, MigrationSnapshot, TableMigration};

/// How often the state table is read (and the proxy's heartbeat renewed): rarely while no
/// migration is under way, often while one is (its switches wait for every proxy).
const POLL: Duration = shardgate_migrate::STATE_POLL;
const POLL_ACTIVE: Duration = shardgate_migrate::STATE_POLL_ACTIVE;
/// How long an acknowledgment waits for the writes begun before a phase change.
const DRAIN_WAIT: Duration = Duration::from_millis(900);
/// Where `shardgate migrate` keeps the state by default.
pub const STATE_DATABASE: &str = "shardgate_meta";

/// What a write to a table must do about migrations.
pub enum Lookup {
    /// Nothing: no migration of it is under way.
    None,
    /// Its migration, in the phase of the snapshot looked in.
    Active(TableMigration),
    /// Refuse it: a migration this proxy could not take up (or the state is not known yet),
    /// and writing one layout alone could lose the write in the other.
    Refused(String),
}

pub struct MigrationWatch {
    /// The migrations and the routing the proxy acts on, published together.
    snapshot: ArcSwap<MigrationSnapshot>,
    /// Whether the state was read at least once.
    known: AtomicBool,
    /// Whether any table needs a look (a migration, or the state not known yet): the
    /// check on every statement costs one load.
    any: AtomicBool,
    /// Whether a migration this proxy acts on is short of finished: its switches wait for
    /// this proxy, which then reads the state every [`POLL_ACTIVE`].
    under_way: AtomicBool,
    /// The cut-over tables the snapshot's routing was built for, sorted.
    cut_over_tables: std::sync::Mutex<Vec<String>>,
    /// The proxy's rules in force (a reload swaps them): cut-over routing is built on them.
    topology: ArcSwap<Topology>,
    backend: Option<Backend>,
    stop: Arc<Notify>,
    /// Set while the state reads fail (for the log: say it once).
    failing: AtomicBool,
    /// This proxy's name in the registry of live proxies (`shardgate_migrate::heartbeat`).
    proxy_id: String,
    /// Whether the registry's tables are known to exist.
    registry_ready: AtomicBool,
    /// Set while heartbeats fail (for the log: say it once).
    heartbeat_failing: AtomicBool,
    /// When this proxy last read the state and renewed its heartbeat, in milliseconds
    /// since `started`. Past [`shardgate_migrate::PROXY_LEASE`] the migration steps no
    /// longer wait for it, so it must no longer write migrating tables.
    last_heartbeat_ms: AtomicU64,
    started: std::time::Instant,
}

/// One row of the state table.
struct StateRow {
    table: String,
    phase: Phase,
    from: String,
    to: String,
    /// Bumped by every change of the row: what an acknowledgment names.
    version: u64,
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
            snapshot: ArcSwap::from_pointee(MigrationSnapshot::default()),
            known: AtomicBool::new(false),
            any: AtomicBool::new(true),
            under_way: AtomicBool::new(false),
            cut_over_tables: std::sync::Mutex::new(Vec::new()),
            topology: ArcSwap::new(topology.clone()),
            backend: topology.backends.get(topology.migration_state).cloned(),
            stop: Arc::new(Notify::new()),
            failing: AtomicBool::new(false),
            proxy_id: proxy_id(&topology.listen),
            registry_ready: AtomicBool::new(false),
            heartbeat_failing: AtomicBool::new(false),
            last_heartbeat_ms: AtomicU64::new(0),
            started: std::time::Instant::now(),
        }
    }

    /// This proxy's name in the registry of live proxies.
    pub fn proxy_id(&self) -> &str {
        &self.proxy_id
    }

    /// The migrations and routing to act on, as one snapshot; `None` when no table needs
    /// a look (the check on every statement costs one load).
    pub fn snapshot(&self) -> Option<Arc<MigrationSnapshot>> {
        if !self.any.load(Ordering::Relaxed) {
            return None;
        }
        Some(self.snapshot.load_full())
    }

    /// `table`'s migration as the latest snapshot has it, when one is under way.
    pub fn get(&self, table: &str) -> Option<TableMigration> {
        self.snapshot()?.table(table).cloned()
    }

    /// What a write to `table` must do, by `snapshot`.
    pub fn lookup(&self, snapshot: &MigrationSnapshot, table: &str) -> Lookup {
        if !self.known.load(Ordering::Acquire) && self.backend.is_some() {
            let state = self.backend.as_ref().map_or("", |b| b.name.as_str());
            return Lookup::Refused(format!(
                "shardgate: writes to `{table}` wait until this proxy has read the migration state (on backend {state}), which it has not yet"
            ));
        }
        if let Some(m) = snapshot.table(table) {
            if self.registry_ready.load(Ordering::Relaxed) {
                let since_ms = (self.started.elapsed().as_millis() as u64)
                    .saturating_sub(self.last_heartbeat_ms.load(Ordering::Relaxed));
                // A second's margin: the registry counts from when the heartbeat
                // committed, this from before it was sent.
                let lease_ms = shardgate_migrate::PROXY_LEASE.as_millis() as u64 - 1000;
                if since_ms > lease_ms {
                    return Lookup::Refused(format!(
                        "shardgate: `{table}` is being migrated and this proxy has not reached the migration state for {} s, so the migration no longer waits for it; writes to it are refused until it does (see the proxy's log)",
                        since_ms / 1000
                    ));
                }
            }
            return Lookup::Active(m.clone());
        }
        match snapshot.refused(table) {
            Some(why) => Lookup::Refused(format!(
                "shardgate: `{table}` is being migrated and this proxy could not take the migration up ({why}); writes to it are refused"
            )),
            None => Lookup::None,
        }
    }

    /// Reads the state once, now (before the proxy takes clients). Where there is a state
    /// table, the proxy registers first: a migration step that changes the state and then
    /// reads the registry either finds this proxy there (and waits for it) or changed the
    /// state before this read.
    pub async fn refresh(&self) {
        let Some(backend) = self.backend.clone() else {
            return;
        };
        let pool = mysql_async::Pool::new(backend_opts(&backend));
        if let Ok(Some(_)) = read_state(&pool).await {
            self.acknowledge(&pool, Vec::new(), Vec::new()).await;
        }
        match read_state(&pool).await {
            Ok(rows) => {
                let rows = rows.unwrap_or_default();
                let read = acknowledgeable(&rows);
                let taken_up = self.apply(rows).await;
                if self.registry_ready.load(Ordering::Relaxed) {
                    self.acknowledge(&pool, read, taken_up).await;
                }
            }
            Err(e) => {
                tracing::warn!(backend = %backend.name, error = %e, "migration state not read")
            }
        }
        let _ = pool.disconnect().await;
    }

    /// The routing to use instead of the proxy's own while a table is cut over.
    pub fn router(&self) -> Option<Arc<CutOverRouting>> {
        self.snapshot()?.cut_over.clone()
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
                Ok(None) => {
                    self.failing.store(false, Ordering::Relaxed);
                    self.apply(Vec::new()).await;
                }
                Ok(Some(rows)) => {
                    self.failing.store(false, Ordering::Relaxed);
                    report_phases(&rows);
                    // Progress is read while a backfill's figures can still change.
                    let backfilling = rows.iter().any(|r| {
                        matches!(
                            r.phase,
                            Phase::DualWrite | Phase::Backfilling | Phase::Backfilled
                        )
                    });
                    let read = acknowledgeable(&rows);
                    let taken_up = self.apply(rows).await;
                    self.acknowledge(&pool, read, taken_up).await;
                    if backfilling {
                        report_backfill(&pool).await;
                    }
                }
                // The state cannot be read: keep what was last known.
                Err(e) => {
                    if !self.failing.swap(true, Ordering::Relaxed) {
                        tracing::warn!(backend = %backend.name, error = %e, "migration state not read");
                    }
                }
            }
            let poll = if self.under_way.load(Ordering::Relaxed) {
                POLL_ACTIVE
            } else {
                POLL
            };
            tokio::select! {
                _ = &mut stopped => break,
                _ = tokio::time::sleep(poll) => {}
            }
        }
        if self.registry_ready.load(Ordering::Relaxed) {
            // Leaving: no step waits for this proxy any more.
            if let Ok(mut conn) = pool.get_conn().await {
                let _ =
                    shardgate_migrate::unregister(&mut conn, STATE_DATABASE, &self.proxy_id).await;
            }
        }
        let _ = pool.disconnect().await;
    }

    /// Renews this proxy's heartbeat and acknowledges the state just read: for each table,
    /// its phase and version, once the writes begun before the phase changed have finished
    /// (a table whose writes are still under way is acknowledged at a later read).
    async fn acknowledge(
        &self,
        pool: &mysql_async::Pool,
        read: Vec<(String, Phase, u64)>,
        taken_up: Vec<Arc<ActiveMigration>>,
    ) {
        let started = std::time::Instant::now();
        let mut acks = Vec::new();
        for (table, phase, version) in read {
            let mine = taken_up
                .iter()
                .filter(|m| m.table().eq_ignore_ascii_case(&table));
            let mut drained = true;
            for m in mine {
                while !m.drained() && started.elapsed() < DRAIN_WAIT {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                drained &= m.drained();
            }
            if drained {
                acks.push(shardgate_migrate::Ack {
                    table,
                    phase,
                    version,
                });
            }
        }
        let sent_ms = self.started.elapsed().as_millis() as u64;
        let result = async {
            let mut conn = pool.get_conn().await?;
            if !self.registry_ready.load(Ordering::Relaxed) {
                for ddl in shardgate_migrate::registry_ddl(STATE_DATABASE) {
                    conn.query_drop(ddl).await?;
                }
                self.registry_ready.store(true, Ordering::Relaxed);
            }
            shardgate_migrate::heartbeat(&mut conn, STATE_DATABASE, &self.proxy_id, &acks).await
        }
        .await;
        if result.is_ok() {
            self.heartbeat_failing.store(false, Ordering::Relaxed);
            self.last_heartbeat_ms.store(sent_ms, Ordering::Relaxed);
        }
        if let Err(e) = result {
            if !self.heartbeat_failing.swap(true, Ordering::Relaxed) {
                tracing::warn!(proxy = %self.proxy_id, error = %e, "heartbeat not written: migration steps will not wait for this proxy");
            }
        }
    }

    /// Brings the known migrations to what the state table says, in one new snapshot.
    /// Returns every migration taken up before or after, whose writes an acknowledgment
    /// waits for.
    async fn apply(&self, rows: Vec<StateRow>) -> Vec<Arc<ActiveMigration>> {
        let previous = self.snapshot.load_full();
        let mut next: HashMap<String, TableMigration> = HashMap::new();
        let mut refused = HashMap::new();
        // Phases to set once the snapshot naming them is published.
        let mut moved: Vec<(Arc<ActiveMigration>, Phase)> = Vec::new();
        for mut row in rows {
            if row.fence_lapsed && row.phase == Phase::Fencing {
                tracing::warn!(table = %row.table, "the migration's fence lapsed (its command stopped renewing it): writes go on by the old layout; run cutover (or rollback) again");
            }
            row.phase = row.effective_phase();
            let name = row.table.to_ascii_lowercase();
            let known = previous.tables.get(&name).map(|t| &t.migration);
            let relevant = row.phase.dual_writes() || row.phase == Phase::Finished;
            if !relevant || self.topology.load().table(&row.table).is_none() {
                // Rolled back: writes waiting at its fence look again and go by the old
                // layout alone.
                if let Some(m) = known {
                    moved.push((m.clone(), row.phase));
                }
                continue;
            }
            let migration = match known {
                Some(m) if m.same_migration(&row.from, &row.to) => {
                    if m.phase() != row.phase {
                        moved.push((m.clone(), row.phase));
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
            next.insert(
                name,
                TableMigration {
                    migration,
                    phase: row.phase,
                },
            );
        }
        // A migration replaced by another of the same table, or gone from the state: a
        // write still holding it is counted in an earlier epoch once it is retired, so the
        // acknowledgments wait for it, and a later write finds its snapshot out of date.
        for (name, t) in &previous.tables {
            let kept = next
                .get(name)
                .is_some_and(|n| Arc::ptr_eq(&n.migration, &t.migration));
            let moving = moved.iter().any(|(m, _)| Arc::ptr_eq(m, &t.migration));
            if !kept && !moving {
                moved.push((t.migration.clone(), Phase::RolledBack));
            }
        }
        let cut_over = self.cut_over_routing(&previous, &next);
        let under_way = next.values().any(|t| t.phase != Phase::Finished) || !refused.is_empty();
        let any = !next.is_empty() || !refused.is_empty();
        let mut taken_up: Vec<Arc<ActiveMigration>> = previous
            .tables
            .values()
            .map(|t| t.migration.clone())
            .collect();
        taken_up.extend(next.values().map(|t| t.migration.clone()));
        self.snapshot.store(Arc::new(MigrationSnapshot {
            cut_over,
            tables: next,
            refused,
        }));
        // A write that took the last snapshot and is counted before these phases are set
        // acts on it; one counted after finds its snapshot's phase out of date and takes
        // this one (see `session::query`).
        for (m, phase) in moved {
            m.set_phase(phase);
            tracing::info!(table = %m.table(), phase = phase.as_str(), "migration phase");
        }
        self.any.store(any, Ordering::Relaxed);
        self.under_way.store(under_way, Ordering::Relaxed);
        self.known.store(true, Ordering::Release);
        taken_up
    }

    /// The routing for cut-over tables: the proxy's topology with each such table laid out
    /// as its target config does. Built again only when that set changes, since a new
    /// router empties every session's statement cache.
    fn cut_over_routing(
        &self,
        previous: &MigrationSnapshot,
        next: &HashMap<String, TableMigration>,
    ) -> Option<Arc<CutOverRouting>> {
        let mut wanted: Vec<&TableMigration> = next.values().filter(|t| t.by_target()).collect();
        wanted.sort_by(|a, b| a.migration.table().cmp(b.migration.table()));
        let names: Vec<String> = wanted
            .iter()
            .map(|t| t.migration.table().to_string())
            .collect();
        let rebuild = self
            .cut_over_tables
            .lock()
            .map(|mut had| {
                let differs = *had != names;
                *had = names;
                differs
            })
            .unwrap_or(true);
        if !rebuild {
            return previous.cut_over.clone();
        }
        let mut topology: Option<Topology> = None;
        let mut tables = Vec::new();
        let proxy_topology = self.topology.load_full();
        for t in wanted {
            let m = &t.migration;
            let base = topology.as_ref().unwrap_or(&proxy_topology);
            match base.with_table_from(m.target_topology(), m.table()) {
                Ok(built) => {
                    topology = Some(built);
                    tables.push(m.table().to_ascii_lowercase());
                }
                // Routing it by the old layout would misroute: refuse its statements.
                Err(e) => {
                    m.set_unroutable();
                    tracing::error!(table = %m.table(), error = %e, "cut-over layout not usable")
                }
            }
        }
        topology.map(|t| {
            Arc::new(CutOverRouting {
                router: Router::new(Arc::new(t)),
                tables,
            })
        })
    }

    pub fn stop(&self) {
        self.stop.notify_waiters();
    }

    /// The proxy's rules after a reload: cut-over routing is built on them from the next
    /// read of the state on (a reload is refused while a migration is under way).
    pub fn set_topology(&self, topology: Arc<Topology>) {
        self.topology.store(topology);
        if let Ok(mut had) = self.cut_over_tables.lock() {
            had.clear();
        }
    }

    /// The tables whose migration this proxy knows of, acted on or refused.
    pub fn tables_known(&self) -> Vec<String> {
        let Some(snapshot) = self.snapshot() else {
            return Vec::new();
        };
        snapshot.table_names()
    }
}

/// What an acknowledgment of `rows` names: each table's phase (as acted on) and version.
fn acknowledgeable(rows: &[StateRow]) -> Vec<(String, Phase, u64)> {
    rows.iter()
        .map(|r| (r.table.clone(), r.effective_phase(), r.version))
        .collect()
}

/// table, phase, from config, to config, version, fence lapsed (0 or 1).
type StateColumns = (String, String, String, String, u64, i64);

/// A name for this proxy process in the registry: where it listens, its host and process.
fn proxy_id(listen: &str) -> String {
    static STARTED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "host".into());
    let nth = STARTED.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{host}/{listen}/pid {}/{nth}-{nanos:08x}",
        std::process::id()
    )
}

/// Each migration's phase as this proxy acts on it, for the metrics.
fn report_phases(rows: &[StateRow]) {
    let phases = Phase::ALL.map(Phase::as_str);
    for row in rows {
        crate::telemetry::migration_phase(&row.table, row.effective_phase().as_str(), &phases);
    }
}

/// How far each backfill has come (rows copied, source tables done), for the metrics; a
/// failed read leaves the last figures.
async fn report_backfill(pool: &mysql_async::Pool) {
    let read = async {
        let mut conn = pool.get_conn().await?;
        let rows: Vec<(String, i64, i64, i64)> = conn
            .query(format!(
                "SELECT table_name, CAST(SUM(copied) AS SIGNED), CAST(SUM(done) AS SIGNED), COUNT(*) \
                 FROM `{STATE_DATABASE}`.migration_checkpoints GROUP BY table_name"
            ))
            .await?;
        mysql_async::Result::Ok(rows)
    };
    if let Ok(rows) = read.await {
        for (table, copied, done, sources) in rows {
            crate::telemetry::backfill_progress(&table, copied.max(0) as u64, done, sources);
        }
    }
}

/// Every row of the state table; `None` when there is no state table (nothing was ever
/// migrated here).
async fn read_state(pool: &mysql_async::Pool) -> Result<Option<Vec<StateRow>>, mysql_async::Error> {
    let mut conn = pool.get_conn().await?;
    let lease_us = shardgate_migrate::FENCE_LEASE.as_micros();
    let rows: Result<Vec<StateColumns>, _> = conn
        .query(format!(
            "SELECT table_name, phase, from_config, to_config, version, \
             TIMESTAMPDIFF(MICROSECOND, updated_at, NOW(3)) > {lease_us} \
             FROM `{STATE_DATABASE}`.migrations"
        ))
        .await;
    let rows = match rows {
        Ok(rows) => rows,
        // Unknown database or table: nothing was ever migrated here.
        Err(mysql_async::Error::Server(e)) if matches!(e.code, 1049 | 1146) => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(Some(
        rows.into_iter()
            .filter_map(|(table, phase, from, to, version, lapsed)| {
                Some(StateRow {
                    table,
                    phase: Phase::parse(&phase)?,
                    from,
                    to,
                    version,
                    fence_lapsed: lapsed != 0,
                })
            })
            .collect(),
    ))
}
