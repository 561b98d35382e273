//! COM_QUERY: the planner plans the statement; session operations are applied here, metadata
//! and probes answered by the session, physical statements run through the engine.

use std::collections::BTreeMap;

use std::sync::Arc;

use crate::migration::{Lookup, MigrationSnapshot};

/// The migrations a plan was made by (their routing and phases); `None`: none under way.
pub(super) type Snapshot = Option<Arc<MigrationSnapshot>>;
use shardgate_migrate::Phase;
use shardgate_router::command::{autocommit_value, SetItem, SqlPrepared};
use shardgate_router::{KeyError, Metadata, MigrationPhase, Plan, RouterError, SessionOp, Step};
use tokio::io::{AsyncRead, AsyncWrite};

use super::{Session, SessionError};
use crate::backend::PooledConn;
use crate::engine::fanout::{self, Job, Lane};
use crate::engine::relay::RelayStream;
use crate::engine::result::{AnswerError, ResultStream};
use crate::engine::warnings::read_warnings;
use crate::error::StatementError;
use crate::keygen::TakenKeys;
use crate::protocol::codes;
use crate::protocol::wire::OkInfo;

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Session<R, W> {
    /// COM_QUERY: plan the statement, then run the plan.
    pub(crate) async fn com_query(&mut self, sql: &str) -> Result<(), SessionError> {
        if let Some(admin) = super::admin::admin_statement(sql) {
            return self.admin(admin).await;
        }
        let (plan, snapshot) = match self.plan_text(sql).await {
            Ok(planned) => planned,
            Err(e) => return self.send_router_error(&e).await,
        };
        if plan.step.clears_diagnostics() {
            self.state.diagnostics.clear();
        }
        self.run_planned(sql, plan, snapshot).await
    }

    /// Applies a session operation to the session's state.
    async fn session_op(&mut self, op: SessionOp) -> Result<(), SessionError> {
        match op {
            SessionOp::Set(items) => self.set_statement(items).await,
            // Acknowledged: see SessionOp::LockTables.
            SessionOp::Do(exprs) => self.do_statement(&exprs).await,
            SessionOp::LockTables(_) | SessionOp::UnlockTables | SessionOp::SwitchKeys(_) => {
                self.send_ok(OkInfo::default()).await
            }
            SessionOp::Use(db) => self.init_db(&db).await,
            SessionOp::Begin(statement) => self.begin(&statement).await,
            SessionOp::Commit => self.commit().await,
            SessionOp::Rollback => {
                self.state.tx.pending_keys.clear();
                self.end_transaction("ROLLBACK").await
            }
            SessionOp::Savepoint(op) => self.savepoint_statement(op).await,
            SessionOp::Prepared(SqlPrepared::Prepare { name, source }) => {
                self.sql_prepare(name, source).await
            }
            SessionOp::Prepared(SqlPrepared::Execute { name, using }) => {
                self.sql_execute(name, using).await
            }
            SessionOp::Prepared(SqlPrepared::Deallocate { name }) => {
                self.sql_deallocate(name).await
            }
        }
    }

    async fn begin(&mut self, sql: &str) -> Result<(), SessionError> {
        if !self.state.tx.pending_keys.is_empty() {
            // MySQL commits the open transaction first; its dual-written rows go along.
            if let Err(e) = self.commit_with_followers(false).await {
                return self.send_dual_write_error(e).await;
            }
        }
        if self.in_transaction() {
            // MySQL commits the open transaction first; if that fails, so does BEGIN, and
            // the client hears of it.
            if let Some(failure) = self.end_pinned("COMMIT").await {
                return self.send_failure(failure.into()).await;
            }
        }
        self.state.tx.explicit = true;
        self.state.tx.begin_sql.clear();
        self.state.tx.savepoints.clear();
        if let Some(next) = self.state.tx.next.take() {
            // `SET TRANSACTION ...` is applied right before the transaction starts.
            self.state.tx.begin_sql.push(format!("SET {next}"));
        }
        self.state.tx.begin_sql.push(sql.to_string());
        self.send_ok(OkInfo::default()).await
    }

    async fn set_statement(&mut self, items: Vec<SetItem>) -> Result<(), SessionError> {
        let mut variables = Vec::new();
        for item in items {
            match item {
                SetItem::Global(_) => {
                    return self
                        .send_error(codes::ER_NOT_SUPPORTED_YET, "shardgate does not change global variables on its backends; set them on each server")
                        .await
                }
                SetItem::NextTransaction(text) => self.state.tx.next = Some(text),
                SetItem::Refused(_) => {}
                SetItem::Variable { key, sql, literal } => variables.push((key, sql, literal)),
            }
        }
        if variables.is_empty() {
            return self.send_ok(OkInfo::default()).await;
        }
        let turns_autocommit_on = variables
            .iter()
            .any(|(k, sql, _)| k == "autocommit" && autocommit_value(sql) == Some(true));
        if !self.state.tx.pending_keys.is_empty() && turns_autocommit_on {
            // Turning autocommit on commits the open transaction: its dual-written rows
            // first.
            if let Err(e) = self.commit_with_followers(false).await {
                return self.send_dual_write_error(e).await;
            }
        }
        // Run the SET on a backend, so its value is checked there, and read back values that
        // are expressions, so replaying them elsewhere gives the same value.
        let backend = self.any_backend();
        let mut conn = match self.take_conn(backend).await {
            Ok(c) => c,
            Err(e) => return self.send_backend_error(&e).await,
        };
        let statement = format!(
            "SET {}",
            variables
                .iter()
                .map(|(_, s, _)| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        if let Err(e) = conn.execute_internal(&statement).await {
            self.give_back(backend, conn);
            return self.send_backend_error(&e).await;
        }
        let mut settled: BTreeMap<String, String> = BTreeMap::new();
        for (key, sql, literal) in variables {
            let value = if literal {
                sql
            } else {
                match read_back(&mut conn, &key).await {
                    Ok(v) => v,
                    Err(e) => {
                        self.give_back(backend, conn);
                        return self.send_backend_error(&e).await;
                    }
                }
            };
            settled.insert(key, value);
        }
        for (key, value) in settled {
            if key == "autocommit" {
                self.state.tx.autocommit = autocommit_value(&value) != Some(false);
            }
            self.state.vars.settings.insert(key, value);
        }
        conn.applied = self.state.vars.settings.clone();
        self.give_back(backend, conn);
        self.send_ok(OkInfo::default()).await
    }

    /// Plans a statement for the backends and runs it (a prepared write on a table being
    /// migrated, as text).
    pub(crate) async fn routed(&mut self, sql: &str) -> Result<(), SessionError> {
        match self.plan_text(sql).await {
            Ok((plan, snapshot)) => self.run_routed(sql, plan, snapshot).await,
            Err(e) => self.send_router_error(&e).await,
        }
    }

    /// Runs a text statement's plan: a step the session answers, or physical statements.
    async fn run_planned(
        &mut self,
        sql: &str,
        plan: Plan,
        snapshot: Snapshot,
    ) -> Result<(), SessionError> {
        match plan.step {
            Step::SessionOp(op) => self.session_op(op).await,
            Step::Metadata(Metadata::Explain { modifiers, plan }) => {
                self.explain(modifiers, *plan, snapshot).await
            }
            Step::Metadata(metadata) => self.metadata(metadata).await,
            Step::Probe(probe) => self.probe(probe).await,
            step => self.run_routed(sql, Plan { step, ..plan }, snapshot).await,
        }
    }

    /// Runs physical statements on whichever layout a migration of their table says, by
    /// the snapshot of the migrations the plan was made by.
    async fn run_routed(
        &mut self,
        sql: &str,
        mut plan: Plan,
        mut snapshot: Snapshot,
    ) -> Result<(), SessionError> {
        let mut stale = 0u32;
        loop {
            let found = match snapshot.as_deref() {
                Some(s) => self.migration_of(&plan, s),
                None => Lookup::None,
            };
            let table = match found {
                Lookup::None => return self.run_plan(plan).await,
                Lookup::Refused(why) => {
                    return self.send_error(codes::ER_NOT_SUPPORTED_YET, &why).await
                }
                Lookup::Active(table) => table,
            };
            let migration = table.migration.clone();
            // Counted from here until the write (and its copies) end: the proxy
            // acknowledges a later phase only once it has finished. Counted in the phase
            // the snapshot names, or the snapshot is out of date (the proxy publishes a
            // snapshot, then moves the phases): plan again by the newer one.
            let writing = migration.begin_write();
            if migration.phase() != table.phase {
                drop(writing);
                stale += 1;
                if stale > 1000 {
                    let why = format!(
                        "shardgate: the routing of `{}` did not settle after its migration moved; retry",
                        migration.table()
                    );
                    return self.send_error(codes::ER_LOCK_DEADLOCK, &why).await;
                }
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            } else {
                let phase = match table.phase {
                    // Finished: the new layout alone, nothing follows.
                    Phase::Finished if !migration.unroutable() => {
                        let done = self.run_plan(plan).await;
                        drop(writing);
                        return done;
                    }
                    Phase::Fencing => MigrationPhase::Fenced,
                    _ => MigrationPhase::DualWrite {
                        by_target: table.by_target(),
                    },
                };
                let wrapped = plan.under_migration(sql, migration.table(), migration.key(), phase);
                let plan = match wrapped {
                    Ok(plan) => plan,
                    Err(e) => {
                        drop(writing);
                        return self.send_router_error(&e).await;
                    }
                };
                if let Step::DualWrite(write) = plan.step {
                    let router = snapshot
                        .as_deref()
                        .and_then(|s| s.routing())
                        .map_or_else(|| self.rules.router.clone(), |r| r.router.clone());
                    let done = self
                        .dual_write(
                            *write,
                            plan.generate.map(|g| g.keys).unwrap_or_default(),
                            migration,
                            router,
                        )
                        .await;
                    drop(writing);
                    return done;
                }
                drop(writing);
                // A switch's fence: wait, then route again, by whichever layout won.
                if !self.wait_at_fence(&migration).await? {
                    return Ok(());
                }
            }
            (plan, snapshot) = match self.plan_text(sql).await {
                Ok(planned) => planned,
                Err(e) => return self.send_router_error(&e).await,
            };
        }
    }

    /// Plans a text statement against the routing in force (a migration's cutover may
    /// route its table by the new layout), with generated keys where its INSERT rows need
    /// them.
    pub(crate) async fn plan_text(&mut self, sql: &str) -> Result<(Plan, Snapshot), RouterError> {
        let ctx = self.ctx.clone();
        let rules = self.rules.clone();
        let snapshot = ctx.migrations.snapshot();
        let router = snapshot
            .as_deref()
            .map_or(&rules.router, |s| s.router(&rules.router));
        let facts = self.state.facts(true);
        let (hits, misses) = self.cache.stats();
        let mut planned = router.plan(sql, &mut self.cache, &mut ctx.keys.source(), &facts);
        let (now_hits, now_misses) = self.cache.stats();
        crate::telemetry::shape_cache(now_hits - hits, now_misses - misses);
        if let Err(RouterError::Keys(KeyError::NotReady { generator, count })) = &planned {
            // A generator that must wait (a segment loading, a lease being taken): wait for
            // the ids, then plan again with them.
            planned = match ctx.keys.take(generator, *count).await {
                Ok(ids) => router.plan(
                    sql,
                    &mut self.cache,
                    &mut TakenKeys {
                        generator: generator.clone(),
                        ids,
                    },
                    &self.state.facts(true),
                ),
                Err(e) => Err(RouterError::Keys(e)),
            };
        }
        if let Err(RouterError::InsertWithoutColumns { table, .. }) = &planned {
            // `INSERT INTO t VALUES (...)` (mariadb-dump): the table's columns, in order,
            // written in; then planned as if the client had listed them.
            let columns = match self.logical_columns(table).await {
                Ok(columns) => columns,
                Err(e) => return Err(e),
            };
            let listed = router.insert_with_columns(sql, &columns)?;
            return Box::pin(self.plan_text(&listed)).await;
        }
        planned.map(|plan| (plan, snapshot))
    }

    /// `DO exprs`: a backend evaluates them (a SELECT whose rows are dropped); OK.
    async fn do_statement(&mut self, exprs: &str) -> Result<(), SessionError> {
        let backend = self.any_backend();
        let mut conn = match self.take_conn(backend).await {
            Ok(c) => c,
            Err(e) => return self.send_backend_error(&e).await,
        };
        let ran = conn.execute_internal(&format!("SELECT {exprs}")).await;
        self.give_back(backend, conn);
        match ran {
            Ok(_) => self.send_ok(OkInfo::default()).await,
            Err(e) => self.send_backend_error(&e).await,
        }
    }

    /// The columns of logical table `table`, in order, as its first physical table has
    /// them.
    async fn logical_columns(&mut self, table: &str) -> Result<Vec<String>, RouterError> {
        let topology = self.rules.topology.clone();
        let unknown = || RouterError::UnknownTable {
            table: table.to_string(),
            schema: topology.schema.clone(),
        };
        let (_, logical) = topology.table(table).ok_or_else(unknown)?;
        let (database, physical) = logical.first_physical();
        let db = &topology.databases[database];
        let sql = format!(
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '{}' AND TABLE_NAME = '{}' ORDER BY ORDINAL_POSITION",
            db.name, physical
        );
        let failed = |e: crate::backend::BackendError| {
            RouterError::Refused(format!(
                "the columns of `{table}` could not be read for an INSERT without a column list: {e}"
            ))
        };
        let mut conn = self.take_unpinned(db.backend).await.map_err(failed)?;
        let answer = conn.query_rows(&sql).await;
        self.give_back_unpinned(conn);
        let (_, rows) = answer.map_err(failed)?;
        let columns: Vec<String> = rows
            .into_iter()
            .filter_map(|row| row.into_iter().next().flatten())
            .collect();
        if columns.is_empty() {
            return Err(unknown());
        }
        Ok(columns)
    }

    pub(crate) async fn send_router_error(&mut self, e: &RouterError) -> Result<(), SessionError> {
        self.send_failure(StatementError::Planner(e.clone())).await
    }

    async fn run_plan(&mut self, plan: Plan) -> Result<(), SessionError> {
        self.execute_plan(plan, |t| Job::Text(t.sql)).await
    }

    /// One target: send the statement and relay the answer as it comes.
    pub(crate) async fn single(&mut self, backend: usize, sql: &[u8]) -> Result<(), SessionError> {
        self.relay_command(backend, 0x03, sql).await
    }

    /// Sends one command to a backend and relays its answer.
    pub(crate) async fn relay_command(
        &mut self,
        backend: usize,
        command: u8,
        payload: &[u8],
    ) -> Result<(), SessionError> {
        let mut conn = match self.take_conn(backend).await {
            Ok(c) => c,
            Err(e) => return self.send_backend_error(&e).await,
        };
        if let Err(e) = conn.send_command(command, payload).await {
            return self.send_backend_error(&e).await;
        }
        self.relay_answer(backend, conn).await
    }

    /// Relays the answer to the command just sent on `conn` and gives the connection back.
    pub(crate) async fn relay_answer(
        &mut self,
        backend: usize,
        mut conn: PooledConn,
    ) -> Result<(), SessionError> {
        let timeout = conn.pool().query_timeout();
        let more_after = self.more_results;
        let insert_id = self.state.generated_insert_id.take();
        let mut relay =
            RelayStream::new(&mut conn, &self.rules.names, more_after, insert_id, timeout);
        // The status and EOF style are the backend's own, relayed with its packets.
        let relayed = self
            .writer
            .answer(&mut ResultStream::Relay(&mut relay), 0, false)
            .await
            .map(|()| relay.outcome());
        drop(relay);
        match relayed {
            Ok(outcome) => {
                if let Some(error) = &outcome.error {
                    self.errored = true;
                    self.state.diagnostics.error(error.code, &error.message);
                } else if outcome.ok.last_insert_id != 0 {
                    self.state.last_insert_id = outcome.ok.last_insert_id;
                }
                if outcome.ok.warnings > 0 {
                    let warnings = read_warnings(&mut conn, outcome.ok.warnings).await;
                    self.keep_warnings(warnings);
                }
                self.give_back(backend, conn);
                Ok(())
            }
            // The backend failed or ran out of time: the error answers the command, or
            // ends the result set already under way in place of its next row (as a server
            // ends a query killed midway), so the client stays in step. The connection,
            // left midway, is not reused.
            Err(AnswerError::Backend { error, .. }) => self.send_backend_error(&error).await,
            Err(AnswerError::Merge(e)) => {
                self.send_failure(StatementError::Merge {
                    error: e,
                    targets: 1,
                    memory_limit: self.rules.topology.proxy.merge_memory_limit,
                })
                .await
            }
            Err(AnswerError::Client(e)) => Err(e.into()),
        }
    }

    /// Runs jobs on their backends, several lanes per backend (one inside a transaction),
    /// under the per-statement concurrency limit.
    pub(crate) async fn fan_out_jobs(
        &mut self,
        jobs: Vec<(usize, Job)>,
        one_copy: bool,
    ) -> Result<(), SessionError> {
        let targets = jobs.len();
        let insert_id = self.state.generated_insert_id.take();
        let (lane_backends, lanes): (Vec<usize>, Vec<Lane>) = match self.lanes(jobs).await {
            Ok(lanes) => lanes
                .into_iter()
                .map(|(backend, conn, jobs)| (backend, Lane { conn, jobs }))
                .unzip(),
            // Nothing ran: report the backend.
            Err(e) => return self.send_backend_error(&e).await,
        };
        let (conns, outcome) = fanout::run(lanes).await;
        for (backend, conn) in lane_backends.into_iter().zip(conns) {
            self.give_back(backend, conn);
        }
        if let Some(e) = outcome.error {
            return self.send_backend_error(&e).await;
        }
        let mut warnings = outcome.warnings;
        if one_copy {
            // Every copy warned alike: one copy's warnings.
            warnings.count /= targets.max(1) as u64;
            let keep = warnings.conditions.len() / targets.max(1);
            warnings.conditions.truncate(keep);
        }
        self.keep_warnings(warnings);
        let mut ok = OkInfo {
            affected_rows: outcome.ok.affected_rows,
            last_insert_id: insert_id.unwrap_or(outcome.ok.last_insert_id),
            warnings: outcome.ok.warnings,
            info: outcome.ok.info,
            ..Default::default()
        };
        if one_copy {
            // Every copy changed alike: the client sees one copy's counts.
            ok.affected_rows /= targets.max(1) as u64;
            ok.warnings /= targets.max(1) as u16;
            ok.info.clear();
        }
        if ok.last_insert_id != 0 {
            self.state.last_insert_id = ok.last_insert_id;
        }
        self.send_ok(ok).await
    }
}

/// Reads back the value a SET gave a variable, as a literal assignment.
async fn read_back(
    conn: &mut crate::backend::PooledConn,
    key: &str,
) -> Result<String, crate::backend::BackendError> {
    let expr = if key.starts_with('@') {
        key.to_string()
    } else {
        format!("@@SESSION.{key}")
    };
    let value = conn.query_single_value(&format!("SELECT {expr}")).await?;
    let literal = match value {
        None => "NULL".to_string(),
        Some(v) if v.parse::<f64>().is_ok() => v,
        Some(v) => format!("'{}'", v.replace('\\', "\\\\").replace('\'', "''")),
    };
    Ok(format!("{key} = {literal}"))
}
