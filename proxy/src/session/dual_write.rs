//! Dual-write: writes on a table being migrated reach both layouts within the client's
//! request.
//!
//! The layout that is the source of truth (the old one until cutover, the new one after)
//! takes the client's statement. Every write runs in a transaction there: the client's own,
//! or one shardgate opens around an autocommit statement. The keys it touches are known
//! before it runs (an INSERT's values) or read first with `SELECT key ... FOR UPDATE` in
//! that transaction (other UPDATEs and DELETEs). When the transaction commits, shardgate
//! first reads those rows again with `FOR UPDATE` and has the other layout take them
//! (upsert, or delete), then commits. The row locks are held throughout, so two writers of
//! one key reach the other layout in the order they reached the source of truth, and the
//! last copy is always the newest row. A failure on the following layout goes to the repair
//! log; the client never sees it.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mysql_async::Value;
use shardgate_migrate::{KeyedRow, Phase};
use shardgate_router::{
    AffectedRows, DualWrite, ParamValue, Plan, Router, RouterError, Step, Template, WriteKeys,
};
use tokio::io::{AsyncRead, AsyncWrite};

use super::{Session, SessionError};
use crate::backend::{BackendError, PooledConn};
use crate::migration::{ActiveMigration, Lookup, MigrationSnapshot};
use crate::protocol::codes;
use crate::protocol::wire::OkInfo;

/// How long a write waits at a cutover's fence before it fails.
const FENCE_WAIT: Duration = Duration::from_secs(30);
/// Keys read back per statement at commit.
const READ_CHUNK: usize = 500;

/// Keys a transaction wrote in a migrating table, to copy to the following layout when it
/// commits.
pub(crate) struct PendingKeys {
    migration: Arc<ActiveMigration>,
    /// Whether the new layout was the source of truth when they were written.
    by_target: bool,
    /// The routing they were written by: their rows are read back for the copy by it, not
    /// by the routing in force at commit (a fence may have begun since, and reading the
    /// layout the copy goes to would lock the rows the copy must write).
    router: Router,
    keys: BTreeSet<i64>,
}

/// Why a dual-written statement or commit failed.
pub(crate) enum DualWriteError {
    Backend(BackendError),
    Router(RouterError),
    /// The migration moved on (cutover, rollback) while the transaction ran.
    Moved(String),
}

impl From<BackendError> for DualWriteError {
    fn from(e: BackendError) -> Self {
        DualWriteError::Backend(e)
    }
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Session<R, W> {
    /// What the migration of a table `plan` writes asks of it.
    pub(crate) fn migration_of(&self, plan: &Plan, snapshot: &MigrationSnapshot) -> Lookup {
        if !plan.kind.is_write() {
            return Lookup::None;
        }
        for &t in &plan.tables {
            let Some(table) = self.rules.topology.tables.get(t) else {
                continue;
            };
            match self.ctx.migrations.lookup(snapshot, &table.name) {
                Lookup::None => {}
                found => return found,
            }
        }
        Lookup::None
    }

    /// Whether a migration has a say in `plan` (by the latest snapshot): a prepared
    /// statement then runs as text, through [`Self::routed`].
    pub(crate) fn migration_says(&self, plan: &Plan) -> bool {
        self.ctx
            .migrations
            .snapshot()
            .is_some_and(|s| !matches!(self.migration_of(plan, &s), Lookup::None))
    }

    /// Waits while `migration`'s writes are fenced for cutover. Returns false (after telling
    /// the client) when the fence outlasted [`FENCE_WAIT`], or when the open transaction
    /// already wrote the table: it holds row locks the final check needs, and after the
    /// flip it could not go on anyway, so it is rolled back at once.
    pub(crate) async fn wait_at_fence(
        &mut self,
        migration: &ActiveMigration,
    ) -> Result<bool, SessionError> {
        if self
            .state
            .tx
            .pending_keys
            .iter()
            .any(|p| p.migration.table().eq_ignore_ascii_case(migration.table()))
        {
            let message = format!(
                "shardgate: `{}` is switching layouts (cutover or rollback); this transaction wrote it by the layout it leaves and was rolled back, retry it",
                migration.table()
            );
            self.abort_transaction(&message).await?;
            return Ok(false);
        }
        let start = Instant::now();
        while migration.phase() == Phase::Fencing {
            if start.elapsed() > FENCE_WAIT {
                let message = format!(
                    "shardgate: writes to `{}` are fenced while it switches layouts, and the fence outlasted {} s; retry",
                    migration.table(),
                    FENCE_WAIT.as_secs()
                );
                self.send_error(codes::ER_LOCK_WAIT_TIMEOUT, &message)
                    .await?;
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(true)
    }

    /// Runs a write on a migrating table (a [`DualWrite`] step): on the source of truth,
    /// and, when its transaction commits, on the following layout. `router`: the routing
    /// the plan was made by. The copies go the way the plan writes (`by_target`), never by
    /// the phase read again: a rollback's fence may begin meanwhile, and copying the new
    /// layout's rows to the new layout would wait on their own locks and leave the old
    /// layout without them.
    pub(crate) async fn dual_write(
        &mut self,
        write: DualWrite,
        generated_keys: Vec<i64>,
        migration: Arc<ActiveMigration>,
        router: Router,
    ) -> Result<(), SessionError> {
        if migration.unroutable() {
            let message = format!(
                "shardgate: `{}` is cut over to a layout this proxy cannot route by; writes to it are refused (see the proxy's log)",
                migration.table()
            );
            return self.send_error(codes::ER_NOT_SUPPORTED_YET, &message).await;
        }
        let DualWrite {
            write,
            keys: spec,
            by_target,
            ..
        } = write;
        if let Some(moved) = self.moved_since_written(&migration, by_target) {
            return self.abort_transaction(&moved).await;
        }
        let own_transaction = !self.transactional();
        if own_transaction {
            self.state.tx.explicit = true;
            self.state.tx.begin_sql = vec!["START TRANSACTION".into()];
        }
        self.state.generated_insert_id = None;
        let mut keys = BTreeSet::new();
        let outcome = self
            .write_on_truth(&spec, *write, &generated_keys, &router, &mut keys)
            .await;
        if let WriteKeys::Rows(rows) = &spec {
            // Also when the statement failed: inside the client's transaction the rows
            // that did go in stay, and copying a key that did not is harmless.
            let mut generated = generated_keys.iter();
            let assigned = outcome.as_ref().map_or(0, |ok| ok.last_insert_id);
            for row in rows {
                let key = match row {
                    Some(k) => Some(*k),
                    None => generated
                        .next()
                        .copied()
                        .or((assigned != 0).then_some(assigned as i64)),
                };
                keys.extend(key);
            }
        }
        if !keys.is_empty() {
            self.remember_keys(&migration, router, by_target, keys);
        }
        let ok = match outcome {
            Ok(ok) => ok,
            Err(e) => {
                if own_transaction {
                    self.release_all().await;
                }
                return self.send_dual_write_error(e).await;
            }
        };
        if ok.last_insert_id != 0 {
            self.state.last_insert_id = ok.last_insert_id;
        }
        if own_transaction {
            if let Err(e) = self.commit_with_followers(true).await {
                return self.send_dual_write_error(e).await;
            }
        }
        self.send_ok(ok).await
    }

    /// A prepared write on a table being migrated runs as the text statement it stands
    /// for, its parameters written in as literals, which dual-write takes.
    pub(crate) async fn dual_write_prepared(
        &mut self,
        template: &Template,
        values: &[ParamValue<'_>],
    ) -> Result<(), SessionError> {
        let Some(text) = template.with_literals(values) else {
            return self
                .send_error(codes::ER_WRONG_ARGUMENTS, "Incorrect arguments to EXECUTE")
                .await;
        };
        self.routed(&text).await
    }

    /// Runs the key read (if any) and the statement, collecting the OK.
    async fn write_on_truth(
        &mut self,
        spec: &WriteKeys,
        write: Step,
        generated_keys: &[i64],
        router: &Router,
        keys: &mut BTreeSet<i64>,
    ) -> Result<OkInfo, DualWriteError> {
        if let WriteKeys::Keys(named) = spec {
            keys.extend(named.iter().copied());
        }
        if let WriteKeys::Read(select) = spec {
            let read = router
                .route(select, &mut self.cache)
                .map_err(DualWriteError::Router)?;
            for target in read.statements() {
                let (_, rows) = self.on_conn(target.backend, &target.sql).await?;
                for row in rows {
                    if let Some(k) = row.first().and_then(|v| parse_key(v.as_deref())) {
                        keys.insert(k);
                    }
                }
            }
        }
        let one_copy = matches!(
            &write,
            Step::SendToAll(s) if s.affected == AffectedRows::OneCopy
        );
        let targets = write.statements().len().max(1) as u64;
        let mut total = OkInfo::default();
        for target in write.statements() {
            let mut conn = self.take_conn(target.backend).await?;
            let result = conn.execute_internal(&target.sql).await;
            self.give_back(target.backend, conn);
            let ok = result?;
            total.affected_rows += ok.affected_rows;
            total.warnings = total.warnings.saturating_add(ok.warnings);
            if total.last_insert_id == 0 {
                total.last_insert_id = ok.last_insert_id;
            }
        }
        if one_copy {
            total.affected_rows /= targets;
        }
        if let Some(&first) = generated_keys.first() {
            total.last_insert_id = first as u64;
        }
        Ok(total)
    }

    /// Runs a query on the transaction's connection to `backend`.
    async fn on_conn(
        &mut self,
        backend: usize,
        sql: &str,
    ) -> Result<(Vec<String>, Vec<Vec<Option<Vec<u8>>>>), BackendError> {
        let mut conn: PooledConn = self.take_conn(backend).await?;
        let result = conn.query_rows_raw(sql).await;
        self.give_back(backend, conn);
        result
    }

    /// Runs a read whose rows are copied to the other layout, on the transaction's
    /// connection to `backend`. The copy writes text as utf8mb4, so the rows must come back
    /// as utf8mb4 whatever the client's session asked for: read under `SET NAMES latin1`,
    /// `😀` would come back as `?` and be copied so. The connection's
    /// `character_set_results` is set for the read and put back as it was.
    async fn read_for_copy(
        &mut self,
        backend: usize,
        sql: &str,
    ) -> Result<(Vec<String>, Vec<Vec<Option<Vec<u8>>>>), BackendError> {
        let mut conn: PooledConn = self.take_conn(backend).await?;
        let result = async {
            let (_, current) = conn
                .query_rows_raw("SELECT @@session.character_set_results")
                .await?;
            let current: Option<Vec<u8>> = current
                .into_iter()
                .next()
                .and_then(|row| row.into_iter().next().flatten());
            if current.as_deref() == Some(b"utf8mb4".as_slice()) {
                return conn.query_rows_raw(sql).await;
            }
            conn.execute_internal("SET character_set_results = utf8mb4")
                .await?;
            let rows = conn.query_rows_raw(sql).await;
            let restore = match &current {
                Some(name) => format!(
                    "SET character_set_results = '{}'",
                    String::from_utf8_lossy(name).replace('\'', "")
                ),
                None => "SET character_set_results = NULL".to_string(),
            };
            conn.execute_internal(&restore).await?;
            rows
        }
        .await;
        self.give_back(backend, conn);
        result
    }

    fn remember_keys(
        &mut self,
        migration: &Arc<ActiveMigration>,
        router: Router,
        by_target: bool,
        keys: BTreeSet<i64>,
    ) {
        match self
            .state
            .tx
            .pending_keys
            .iter_mut()
            .find(|p| Arc::ptr_eq(&p.migration, migration))
        {
            Some(pending) => pending.keys.extend(keys),
            None => self.state.tx.pending_keys.push(PendingKeys {
                migration: migration.clone(),
                by_target,
                router,
                keys,
            }),
        }
    }

    /// Why the open transaction cannot go on: it wrote `migration`'s table by a layout that
    /// is no longer the source of truth (a cutover or a rollback came between).
    fn moved_since_written(
        &self,
        migration: &Arc<ActiveMigration>,
        by_target: bool,
    ) -> Option<String> {
        let pending = self
            .state
            .tx
            .pending_keys
            .iter()
            .find(|p| p.migration.table().eq_ignore_ascii_case(migration.table()))?;
        let same = Arc::ptr_eq(&pending.migration, migration) && pending.by_target == by_target;
        (!same).then(|| moved_message(migration.table()))
    }

    /// COMMIT with dual-write: the rows the transaction wrote in migrating tables are read
    /// again under lock and copied to the following layout, then every backend commits.
    ///
    /// `guarded`: the whole transaction ran inside one statement's write guard (an
    /// autocommit write, [`ActiveMigration::begin_write`]). A fence that went up meanwhile
    /// cannot flip the layouts before this proxy acknowledges it, which waits for the
    /// guard: the copy still goes the way the rows were written, and the write stands.
    /// A client's own transaction has no such guard between its statements, so a fence
    /// fails it (1213, retry).
    pub(crate) async fn commit_with_followers(
        &mut self,
        guarded: bool,
    ) -> Result<(), DualWriteError> {
        let pending = std::mem::take(&mut self.state.tx.pending_keys);
        for p in &pending {
            let current = self.ctx.migrations.get(p.migration.table());
            let same = current
                .as_ref()
                .is_some_and(|t| Arc::ptr_eq(&t.migration, &p.migration));
            let phase = p.migration.phase();
            let still = same
                && ((guarded && phase == Phase::Fencing)
                    || p.migration.routes_by_target() == p.by_target);
            // A rollback to the old layout alone needs no copy when the rows went to the
            // old layout; anything else that moved means they went to a layout that is no
            // longer the truth.
            if !still && (current.is_some() || p.by_target) {
                self.release_all().await;
                return Err(DualWriteError::Moved(moved_message(p.migration.table())));
            }
            if current.is_none() || p.migration.follower().is_none() {
                continue;
            }
            let keys: Vec<i64> = p.keys.iter().copied().collect();
            for chunk in keys.chunks(READ_CHUNK) {
                let rows = match self.read_rows(&p.migration, &p.router, chunk).await {
                    Ok(rows) => rows,
                    Err(e) => {
                        self.release_all().await;
                        return Err(e);
                    }
                };
                p.migration.follow(&rows, p.by_target).await;
            }
        }
        if let Some(failure) = self.end_pinned("COMMIT").await {
            let e = failure.error;
            // The following layout may now hold rows the source of truth does not.
            for p in &pending {
                let keys: Vec<i64> = p.keys.iter().copied().collect();
                p.migration
                    .log_repair(
                        &keys,
                        &format!("dual-write: the commit failed after the copy: {e}"),
                    )
                    .await;
            }
            return Err(DualWriteError::Backend(e));
        }
        Ok(())
    }

    /// The rows of `keys` as the source of truth holds them, read under lock in the open
    /// transaction.
    async fn read_rows(
        &mut self,
        migration: &ActiveMigration,
        router: &Router,
        keys: &[i64],
    ) -> Result<Vec<KeyedRow>, DualWriteError> {
        let columns = migration
            .columns()
            .iter()
            .map(|c| format!("`{c}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let key = migration.key();
        let position = migration
            .columns()
            .iter()
            .position(|c| c.eq_ignore_ascii_case(key))
            .ok_or_else(|| {
                DualWriteError::Moved(format!(
                    "shardgate: `{}` has no column `{key}`",
                    migration.table()
                ))
            })?;
        let list = keys
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {columns} FROM `{}` WHERE `{key}` IN ({list}) FOR UPDATE",
            migration.table()
        );
        let plan = router
            .route_uncached(&sql)
            .map_err(DualWriteError::Router)?;
        let mut found = std::collections::BTreeMap::new();
        for target in plan.statements() {
            let (_, rows) = self.read_for_copy(target.backend, &target.sql).await?;
            for row in rows {
                let Some(k) = row.get(position).and_then(|v| parse_key(v.as_deref())) else {
                    continue;
                };
                let values: Vec<Value> = row
                    .into_iter()
                    .map(|v| v.map_or(Value::NULL, Value::Bytes))
                    .collect();
                found.insert(k, values);
            }
        }
        Ok(keys.iter().map(|k| (*k, found.remove(k))).collect())
    }

    async fn abort_transaction(&mut self, why: &str) -> Result<(), SessionError> {
        self.release_all().await;
        self.send_error(codes::ER_LOCK_DEADLOCK, why).await
    }

    pub(crate) async fn send_dual_write_error(
        &mut self,
        e: DualWriteError,
    ) -> Result<(), SessionError> {
        match e {
            DualWriteError::Backend(e) => self.send_backend_error(&e).await,
            DualWriteError::Router(e) => self.send_router_error(&e).await,
            DualWriteError::Moved(why) => self.send_error(codes::ER_LOCK_DEADLOCK, &why).await,
        }
    }

    /// COMMIT as the client asked for it.
    pub(crate) async fn commit(&mut self) -> Result<(), SessionError> {
        if self.state.tx.pending_keys.is_empty() {
            return self.end_transaction("COMMIT").await;
        }
        match self.commit_with_followers(false).await {
            Ok(()) => self.send_ok(OkInfo::default()).await,
            Err(e) => self.send_dual_write_error(e).await,
        }
    }
}

/// Why a transaction was rolled back when its table's migration moved under it.
fn moved_message(table: &str) -> String {
    format!(
        "shardgate: the migration of `{table}` moved to another layout while this transaction was writing it; the transaction was rolled back, retry it"
    )
}

fn parse_key(value: Option<&[u8]>) -> Option<i64> {
    std::str::from_utf8(value?).ok()?.trim().parse().ok()
}
