//! Writes on several targets: each lane (one backend connection) runs its statements in
//! order, lanes run in parallel, and the client gets one OK with the sums.

use crate::backend::{BackendError, PooledConn};
use crate::protocol::wire::OkInfo;

/// One physical statement of a fanned-out write.
#[derive(Debug, Clone)]
pub enum Job {
    /// A text statement.
    Text(String),
    /// A prepared statement: its SQL (prepared on the lane's connection if needed), the
    /// COM_STMT_EXECUTE body after the statement id, and long data for its parameters.
    Execute {
        sql: String,
        body: Vec<u8>,
        long_data: Vec<(u16, Vec<u8>)>,
    },
}

/// One connection and the statements it runs, in order.
pub struct Lane {
    pub conn: PooledConn,
    pub jobs: Vec<Job>,
}

/// What the lanes did together.
#[derive(Debug, Default)]
pub struct FanoutOutcome {
    /// Summed affected rows and warnings; the first non-zero last_insert_id in lane order.
    pub ok: OkInfo,
    /// The first error, in lane order. Other lanes still ran their statements: without an
    /// enclosing transaction a multi-target write is not atomic.
    pub error: Option<BackendError>,
}

/// Runs the lanes in parallel and hands their connections back, in lane order. Each lane's
/// statements are bounded by its own backend's query timeout.
pub async fn run(lanes: Vec<Lane>) -> (Vec<PooledConn>, FanoutOutcome) {
    let handles: Vec<_> = lanes
        .into_iter()
        .map(|mut lane| {
            let timeout = lane.conn.pool().query_timeout();
            tokio::spawn(async move {
                let mut oks = Vec::with_capacity(lane.jobs.len());
                for job in &lane.jobs {
                    let conn = &mut lane.conn;
                    let run = async move {
                        match job {
                            Job::Text(sql) => conn.execute_internal(sql).await,
                            Job::Execute {
                                sql,
                                body,
                                long_data,
                            } => conn.execute_prepared(sql, body, long_data).await,
                        }
                    };
                    let result = match tokio::time::timeout(timeout, run).await {
                        Ok(r) => r,
                        Err(_) => {
                            lane.conn.broken = true;
                            Err(BackendError::new(
                                &lane.conn.name,
                                crate::backend::BackendErrorKind::Timeout(
                                    timeout.as_millis() as u64
                                ),
                            ))
                        }
                    };
                    match result {
                        Ok(ok) => oks.push(ok),
                        Err(e) => return (lane.conn, oks, Some(e)),
                    }
                }
                (lane.conn, oks, None)
            })
        })
        .collect();
    let mut conns = Vec::new();
    let mut outcome = FanoutOutcome::default();
    for handle in handles {
        match handle.await {
            Ok((conn, oks, error)) => {
                for ok in oks {
                    outcome.ok.affected_rows += ok.affected_rows;
                    outcome.ok.warnings = outcome.ok.warnings.saturating_add(ok.warnings);
                    if outcome.ok.last_insert_id == 0 {
                        outcome.ok.last_insert_id = ok.last_insert_id;
                    }
                    outcome.ok.status = ok.status;
                }
                if outcome.error.is_none() {
                    outcome.error = error;
                }
                conns.push(conn);
            }
            Err(join) => {
                if outcome.error.is_none() {
                    outcome.error = Some(BackendError::new(
                        "fan-out",
                        crate::backend::BackendErrorKind::Protocol(format!("task failed: {join}")),
                    ));
                }
            }
        }
    }
    (conns, outcome)
}
