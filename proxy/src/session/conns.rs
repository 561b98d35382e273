//! Backend connections for a session: checked out per statement, or pinned for the length of
//! a transaction (one per backend it touches); session settings applied before use.

use tokio::io::{AsyncRead, AsyncWrite};

use super::{Session, SessionError};
use crate::backend::{BackendError, PooledConn};
use crate::protocol::wire::OkInfo;

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Session<R, W> {
    /// Whether statements now run inside a transaction: an explicit one, or any statement
    /// while autocommit is off.
    pub(crate) fn transactional(&self) -> bool {
        self.state.tx.explicit || !self.state.tx.autocommit
    }

    /// A connection to `backend` with this session's settings, pinned if the transaction
    /// already holds one. Give it back with [`Session::give_back`].
    pub(crate) async fn take_conn(&mut self, backend: usize) -> Result<PooledConn, BackendError> {
        let pool = self.rules.pools[backend].clone();
        self.check_killed(&pool)?;
        if let Some(conn) = self.pinned.take(backend) {
            return Ok(conn);
        }
        let mut conn = pool.get(self.conn_flags()).await?;
        self.mark_held(&mut conn);
        self.apply_settings(&mut conn).await?;
        if self.state.tx.explicit {
            for sql in &self.state.tx.begin_sql {
                conn.execute_internal(sql).await?;
            }
        }
        if self.transactional() {
            // A backend joining the transaction gets its savepoints.
            for sql in self.state.tx.savepoints.replay() {
                conn.execute_internal(&sql).await?;
            }
        }
        Ok(conn)
    }

    /// The backend for a statement that names no table (a SET to check, `SELECT
    /// @@version`): the open transaction's, else the one with the most free connections
    /// that is up, so one busy or stopped server does not hold up statements any server
    /// can answer.
    pub(crate) fn any_backend(&self) -> usize {
        if let Some(backend) = self.pinned.backends().next() {
            return backend;
        }
        let pools = &self.rules.pools;
        (0..pools.len())
            .max_by_key(|&b| {
                (
                    !pools[b].is_down(),
                    pools[b].available(),
                    std::cmp::Reverse(b),
                )
            })
            .unwrap_or(0)
    }

    /// A connection to `backend` with this session's settings that is never the
    /// transaction's: for metadata, which must not run inside (or implicitly commit) the
    /// client's transaction. Give it back with [`Session::give_back_unpinned`].
    pub(crate) async fn take_unpinned(
        &mut self,
        backend: usize,
    ) -> Result<PooledConn, BackendError> {
        let pool = self.rules.pools[backend].clone();
        self.check_killed(&pool)?;
        let mut conn = pool.get(self.conn_flags()).await?;
        self.mark_held(&mut conn);
        self.apply_settings(&mut conn).await?;
        Ok(conn)
    }

    /// A killed command starts no new physical statement: ER_QUERY_INTERRUPTED, as the
    /// backends it already runs on answer.
    fn check_killed(&self, pool: &crate::backend::Pool) -> Result<(), BackendError> {
        let killed = self
            .registered
            .as_ref()
            .is_some_and(|r| r.entry.kill.query_killed());
        if killed {
            let (code, state) = crate::protocol::codes::ER_QUERY_INTERRUPTED;
            return Err(BackendError::new(
                &pool.backend.name,
                crate::backend::BackendErrorKind::Server(crate::protocol::wire::ErrInfo::new(
                    code,
                    state,
                    "Query execution was interrupted",
                )),
            ));
        }
        Ok(())
    }

    /// Records `conn` among what this session holds, for KILL.
    fn mark_held(&self, conn: &mut PooledConn) {
        if let Some(registered) = &self.registered {
            conn.held_by(&registered.entry.kill);
        }
    }

    /// Returns a connection from [`Session::take_unpinned`] to its pool (closed if it
    /// broke or was left in a transaction).
    pub(crate) fn give_back_unpinned(&mut self, mut conn: PooledConn) {
        if conn.in_transaction() {
            conn.broken = true;
        }
        drop(conn);
    }

    /// Returns a connection after a statement: kept pinned inside a transaction, otherwise
    /// back to the pool (or closed, if it is broken or a transaction is left open on it).
    pub(crate) fn give_back(&mut self, backend: usize, conn: PooledConn) {
        if conn.broken {
            return;
        }
        if self.transactional() || conn.in_transaction() {
            self.pinned.hold(backend, conn);
        }
    }

    /// Splits a statement's jobs into lanes that run in parallel: per backend, a share of
    /// the per-statement concurrency limit (one lane inside a transaction, on its pinned
    /// connection), each lane a contiguous run of the backend's jobs with its own connection.
    /// On failure every connection taken is given back.
    pub(crate) async fn lanes<J>(
        &mut self,
        jobs: Vec<(usize, J)>,
    ) -> Result<Vec<(usize, PooledConn, Vec<J>)>, BackendError> {
        let limit = self.rules.topology.proxy.fanout_concurrency.max(1);
        let mut by_backend: std::collections::BTreeMap<usize, Vec<J>> =
            std::collections::BTreeMap::new();
        for (backend, job) in jobs {
            by_backend.entry(backend).or_default().push(job);
        }
        let per_backend = (limit / by_backend.len().max(1)).max(1);
        let mut lanes = Vec::new();
        for (backend, jobs) in by_backend {
            // One lane waits for a connection if it must; more lanes only take what the
            // pool has free, so a fan-out never waits on itself (nor two fan-outs on each
            // other) for connections a small pool does not have.
            let free = self.rules.pools[backend].available().max(1);
            let count = if self.transactional() {
                1
            } else {
                per_backend.min(jobs.len()).min(free)
            };
            let chunk = jobs.len().div_ceil(count.max(1));
            let mut jobs = jobs.into_iter();
            loop {
                let run: Vec<J> = jobs.by_ref().take(chunk).collect();
                if run.is_empty() {
                    break;
                }
                match self.take_conn(backend).await {
                    Ok(conn) => lanes.push((backend, conn, run)),
                    Err(e) => {
                        for (backend, conn, _) in lanes {
                            self.give_back(backend, conn);
                        }
                        return Err(e);
                    }
                }
            }
        }
        Ok(lanes)
    }

    /// Brings a connection's settings to this session's, so nothing one client set is
    /// visible to another that later gets the same backend connection.
    pub(crate) async fn apply_settings(&self, conn: &mut PooledConn) -> Result<(), BackendError> {
        let Some((reset, sql)) = self.state.vars.plan(&conn.applied) else {
            return Ok(());
        };
        if reset {
            conn.reset().await?;
        }
        if let Some(sql) = sql {
            conn.execute_internal(&sql).await?;
        }
        conn.applied = self.state.vars.settings.clone();
        Ok(())
    }

    /// Ends the transaction on every backend it touched with COMMIT or ROLLBACK.
    pub(crate) async fn end_transaction(&mut self, sql: &str) -> Result<(), SessionError> {
        match self.end_pinned(sql).await {
            // Backends already committed stay committed: across backends this is best
            // effort, as the README says, and the error names them.
            Some(failure) => self.send_failure(failure.into()).await,
            None => self.send_ok(OkInfo::default()).await,
        }
    }

    /// Runs `sql` (COMMIT or ROLLBACK) on every connection the transaction holds, in
    /// backend order, and lets them go; returns the first failure, with the backends where
    /// `sql` had succeeded before it.
    pub(crate) async fn end_pinned(&mut self, sql: &str) -> Option<EndFailure> {
        let pinned = self.pinned.release();
        self.state.tx.explicit = false;
        self.state.tx.begin_sql.clear();
        self.state.tx.savepoints.clear();
        let mut failure: Option<EndFailure> = None;
        let mut ended = Vec::new();
        for (_, mut conn) in pinned {
            match conn.execute_internal(sql).await {
                Ok(_) if failure.is_none() => ended.push(conn.name.clone()),
                Ok(_) => {}
                Err(error) => {
                    conn.broken = true;
                    failure.get_or_insert_with(|| EndFailure {
                        error,
                        statement: sql.to_string(),
                        ended: std::mem::take(&mut ended),
                    });
                }
            }
        }
        failure
    }

    /// Drops every held connection, rolling back what is open (the client went away or reset).
    pub(crate) async fn release_all(&mut self) {
        self.state.tx.pending_keys.clear();
        let pinned = self.pinned.release();
        for (_, mut conn) in pinned {
            if conn.in_transaction() && conn.execute_internal("ROLLBACK").await.is_err() {
                conn.broken = true;
            }
        }
        self.state.tx.explicit = false;
        self.state.tx.begin_sql.clear();
        self.state.tx.savepoints.clear();
    }
}

/// COMMIT or ROLLBACK failed on a backend, after it had succeeded on `ended`.
#[derive(Debug)]
pub(crate) struct EndFailure {
    pub error: BackendError,
    pub statement: String,
    pub ended: Vec<String>,
}

impl From<EndFailure> for crate::error::StatementError {
    fn from(f: EndFailure) -> Self {
        if f.ended.is_empty() {
            crate::error::StatementError::Backend(f.error)
        } else {
            crate::error::StatementError::PartlyEnded {
                error: f.error,
                statement: f.statement,
                ended: f.ended,
            }
        }
    }
}
