//! One table's migration as a proxy acts on it: its phase, which layout is the source of
//! truth, and the writers that make the other layout follow.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use shardgate_config::{Backend, Topology};
use shardgate_migrate::{
    backend_opts, table_columns, KeyedRow, MigrationPlan, Phase, RowWriter, StateStore,
};

use super::STATE_DATABASE;

pub struct ActiveMigration {
    table: String,
    /// The two configs it was started with, to tell a new migration of the same table.
    from_text: String,
    to_text: String,
    phase: AtomicU8,
    key: String,
    target: Topology,
    /// Copies rows to the new layout while the old one is the source of truth.
    to_target: RowWriter,
    /// Copies rows back to the old layout after cutover, so a rollback loses nothing.
    to_source: RowWriter,
    /// The repair log, for rows a follower could not take.
    store: StateStore,
    /// The proxy cannot route the table by the new layout: its statements are refused.
    unroutable: AtomicBool,
    /// Writes under way, counted by the phase change (epoch) they began in: the proxy
    /// acknowledges a new phase only once the writes begun before it have finished.
    writes: Mutex<WritesInFlight>,
}

#[derive(Default)]
struct WritesInFlight {
    /// Bumped by every phase change.
    epoch: u64,
    /// Epoch -> writes begun in it and not finished.
    by_epoch: BTreeMap<u64, usize>,
}

/// A write to a migrating table under way (see [`ActiveMigration::begin_write`]).
pub struct WriteGuard {
    migration: Arc<ActiveMigration>,
    epoch: u64,
}

impl Drop for WriteGuard {
    fn drop(&mut self) {
        if let Ok(mut w) = self.migration.writes.lock() {
            if let Some(n) = w.by_epoch.get_mut(&self.epoch) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    w.by_epoch.remove(&self.epoch);
                }
            }
        }
    }
}

impl ActiveMigration {
    /// Takes up the migration of `table` between the two configs recorded at its start.
    pub async fn load(
        table: &str,
        phase: Phase,
        from: &str,
        to: &str,
        state: Option<&Backend>,
    ) -> Result<ActiveMigration, String> {
        let source =
            Topology::from_yaml(from, "migration source config").map_err(|e| e.to_string())?;
        let target =
            Topology::from_yaml(to, "migration target config").map_err(|e| e.to_string())?;
        let plan = MigrationPlan::new(source, target, table).map_err(|e| e.to_string())?;
        let columns = table_columns(&plan.source)
            .await
            .map_err(|e| e.to_string())?;
        let state = state.ok_or("the proxy has no backend for the migration state")?;
        let store = StateStore::open(backend_opts(state), STATE_DATABASE, &state.name)
            .await
            .map_err(|e| e.to_string())?;
        let migration = ActiveMigration {
            table: plan.table.clone(),
            from_text: from.to_string(),
            to_text: to.to_string(),
            phase: AtomicU8::new(0),
            key: plan.key.clone(),
            target: plan.target.topology.clone(),
            to_target: RowWriter::new(plan.target, &plan.key, columns.clone()),
            to_source: RowWriter::new(plan.source, &plan.key, columns),
            store,
            unroutable: AtomicBool::new(false),
            writes: Mutex::new(WritesInFlight::default()),
        };
        migration.set_phase(phase);
        Ok(migration)
    }

    /// Counts a write as under way until the guard drops. Taken before the write reads
    /// the phase: either the write sees a phase set after this, or that phase's
    /// acknowledgment waits for the write ([`Self::drained`]).
    pub fn begin_write(self: &Arc<Self>) -> WriteGuard {
        let epoch = match self.writes.lock() {
            Ok(mut w) => {
                let epoch = w.epoch;
                *w.by_epoch.entry(epoch).or_insert(0) += 1;
                epoch
            }
            Err(_) => 0,
        };
        WriteGuard {
            migration: self.clone(),
            epoch,
        }
    }

    /// Whether every write begun before the last phase change has finished.
    pub fn drained(&self) -> bool {
        self.writes
            .lock()
            .map(|w| w.by_epoch.range(..w.epoch).next().is_none())
            .unwrap_or(true)
    }

    pub fn same_migration(&self, from: &str, to: &str) -> bool {
        self.from_text == from && self.to_text == to
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// The integer column rows are identified by.
    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn columns(&self) -> &[String] {
        self.to_target.columns()
    }

    pub fn target_topology(&self) -> &Topology {
        &self.target
    }

    pub fn phase(&self) -> Phase {
        Phase::ALL
            .get(usize::from(self.phase.load(Ordering::SeqCst)))
            .copied()
            .unwrap_or(Phase::DualWrite)
    }

    pub fn set_phase(&self, phase: Phase) {
        let index = Phase::ALL.iter().position(|p| *p == phase).unwrap_or(0) as u8;
        // Under the writes' lock: a write counted in the old epoch may act on the old
        // phase; one counted in the new epoch sees the new phase.
        let mut writes = self.writes.lock();
        if self.phase.swap(index, Ordering::SeqCst) != index {
            if let Ok(w) = writes.as_mut() {
                w.epoch += 1;
            }
        }
    }

    /// Whether statements on the table go by the new layout.
    pub fn routes_by_target(&self) -> bool {
        matches!(self.phase(), Phase::CutOver | Phase::Finished)
    }

    pub fn set_unroutable(&self) {
        self.unroutable.store(true, Ordering::Relaxed);
    }

    pub fn unroutable(&self) -> bool {
        self.unroutable.load(Ordering::Relaxed)
    }

    /// The writer to the layout that follows the source of truth in this phase, if any.
    pub fn follower(&self) -> Option<&RowWriter> {
        match self.phase() {
            Phase::CutOver => Some(&self.to_source),
            Phase::Finished | Phase::RolledBack => None,
            _ => Some(&self.to_target),
        }
    }

    /// Makes the following layout hold `rows`. A failure is written to the repair log
    /// (and, should that fail too, to the proxy's log): the client's write stands, since the
    /// source of truth has it, and check and repair mend the follower before cutover.
    ///
    /// `by_target`: the rows were written with the new layout as the source of truth, so
    /// they go to the old one. The direction is the one the rows were written in, never the
    /// phase now: a cutover or a rollback's fence may have begun since, and copying the
    /// new layout's rows to the new layout (waiting on their own locks) would leave the old
    /// one without them.
    pub async fn follow(&self, rows: &[KeyedRow], by_target: bool) {
        // Nothing follows into a layout the migration has left for good.
        let abandoned = match self.phase() {
            Phase::Finished => by_target,
            Phase::RolledBack => !by_target,
            _ => false,
        };
        if abandoned {
            return;
        }
        let writer = if by_target {
            &self.to_source
        } else {
            &self.to_target
        };
        if let Err(e) = writer.apply(rows).await {
            let keys: Vec<i64> = rows.iter().map(|(k, _)| *k).collect();
            self.log_repair(&keys, &format!("dual-write: {e}")).await;
        }
    }

    /// Records keys the follower may not hold as the source of truth does.
    pub async fn log_repair(&self, keys: &[i64], reason: &str) {
        let reason: String = reason.chars().take(480).collect();
        if let Err(e) = self.store.log_repair(&self.table, keys, &reason).await {
            tracing::error!(
                table = %self.table,
                keys = ?keys,
                error = %e,
                reason = %reason,
                "rows not copied to the other layout, and not logged for repair: run check before cutover"
            );
        } else {
            tracing::warn!(table = %self.table, rows = keys.len(), reason = %reason, "rows logged for repair");
        }
    }
}
