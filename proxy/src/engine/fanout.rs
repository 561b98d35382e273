//! Writes on several targets: each lane (one backend connection) runs its statements in
//! order, lanes run in parallel, and the client gets one OK with the sums.

use super::warnings::{read_warnings, Warnings};
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
    /// A SQL-level prepared statement: `PREPARE` then `EXECUTE`, on one connection (on
    /// another, the name could stand for another statement).
    PrepareExecute { prepare: String, execute: String },
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
    /// The statements' warnings, read where they ran.
    pub warnings: Warnings,
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
                let mut warnings = Warnings::default();
                for job in &lane.jobs {
                    let conn = &mut lane.conn;
                    let run = async move {
                        match job {
                            Job::Text(sql) => conn.execute_internal(sql).await,
                            Job::PrepareExecute { prepare, execute } => {
                                conn.execute_internal(prepare).await?;
                                conn.execute_internal(execute).await
                            }
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
                        Ok(ok) => {
                            if ok.warnings > 0 {
                                warnings.add(read_warnings(&mut lane.conn, ok.warnings).await);
                            }
                            oks.push(ok)
                        }
                        Err(e) => return (lane.conn, oks, warnings, Some(e)),
                    }
                }
                (lane.conn, oks, warnings, None)
            })
        })
        .collect();
    let mut conns = Vec::new();
    let mut outcome = FanoutOutcome::default();
    let mut info = InfoSum::Empty;
    for handle in handles {
        match handle.await {
            Ok((conn, oks, warnings, error)) => {
                outcome.warnings.add(warnings);
                for ok in oks {
                    outcome.ok.affected_rows += ok.affected_rows;
                    outcome.ok.warnings = outcome.ok.warnings.saturating_add(ok.warnings);
                    if outcome.ok.last_insert_id == 0 {
                        outcome.ok.last_insert_id = ok.last_insert_id;
                    }
                    outcome.ok.status = ok.status;
                    info.add(&ok.info);
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
    outcome.ok.info = info.text();
    (conns, outcome)
}

/// The info texts of several OK packets added up, as one server would have written it for
/// all the rows (`Rows matched: 7  Changed: 7  Warnings: 0`): the same labels, summed
/// counts. Texts of different shapes sum to none.
#[derive(Debug)]
enum InfoSum {
    Empty,
    Counts(Vec<(String, u64)>),
    Mixed,
}

impl InfoSum {
    fn add(&mut self, info: &[u8]) {
        let parsed = parse_counts(info);
        *self = match (std::mem::replace(self, InfoSum::Mixed), parsed) {
            (InfoSum::Empty, Some(counts)) => InfoSum::Counts(counts),
            (InfoSum::Counts(mut acc), Some(counts))
                if acc.len() == counts.len()
                    && acc.iter().zip(&counts).all(|(a, b)| a.0 == b.0) =>
            {
                for (a, b) in acc.iter_mut().zip(counts) {
                    a.1 = a.1.saturating_add(b.1);
                }
                InfoSum::Counts(acc)
            }
            (InfoSum::Empty, None) if info.is_empty() => InfoSum::Empty,
            _ => InfoSum::Mixed,
        };
    }

    fn text(&self) -> Vec<u8> {
        match self {
            InfoSum::Counts(counts) => counts
                .iter()
                .map(|(label, n)| format!("{label}: {n}"))
                .collect::<Vec<_>>()
                .join("  ")
                .into_bytes(),
            _ => Vec::new(),
        }
    }
}

/// `Label: 3  Other: 0` as (label, count) pairs; `None` for any other text.
fn parse_counts(info: &[u8]) -> Option<Vec<(String, u64)>> {
    let text = std::str::from_utf8(info).ok()?;
    if text.is_empty() {
        return None;
    }
    text.split("  ")
        .map(|part| {
            let (label, n) = part.split_once(": ")?;
            Some((label.to_string(), n.trim().parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::InfoSum;

    #[test]
    fn sums_the_counts_of_ok_infos() {
        let mut sum = InfoSum::Empty;
        sum.add(b"Rows matched: 2  Changed: 1  Warnings: 0");
        sum.add(b"Rows matched: 3  Changed: 3  Warnings: 1");
        assert_eq!(sum.text(), b"Rows matched: 5  Changed: 4  Warnings: 1");
        let mut mixed = InfoSum::Empty;
        mixed.add(b"Rows matched: 2  Changed: 1  Warnings: 0");
        mixed.add(b"Records: 2  Duplicates: 0  Warnings: 0");
        assert!(mixed.text().is_empty());
        let mut none = InfoSum::Empty;
        none.add(b"");
        none.add(b"");
        assert!(none.text().is_empty());
    }
}
