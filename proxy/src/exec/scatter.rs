//! Reads the results of a SELECT's physical statements, lane by lane in parallel, into memory
//! for the merge, under a per-query memory budget shared by all lanes.

use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Arc;

use crate::backend::conn::{is_terminator, terminator_status};
use crate::backend::{BackendConn, BackendError, BackendErrorKind, PooledConn};
use crate::merge::{ColumnKind, ShardRows};
use crate::protocol::wire::{self, Reader};

/// Bytes a value costs in the budget beyond its own length (vector and option overhead).
const VALUE_OVERHEAD: isize = 32;

/// Why a scatter read failed.
#[derive(Debug)]
pub enum ScatterError {
    Backend(BackendError),
    /// The results need more memory than the per-query budget.
    OverBudget,
}

/// One lane: a connection and the statements it runs in order.
pub struct ReadLane {
    pub conn: PooledConn,
    pub statements: Vec<String>,
}

/// Runs every lane and returns the connections (in lane order) and the shard results.
pub async fn read_all(
    lanes: Vec<ReadLane>,
    budget: usize,
    timeout: std::time::Duration,
) -> (Vec<PooledConn>, Result<Vec<ShardRows>, ScatterError>) {
    let budget = Arc::new(AtomicIsize::new(
        isize::try_from(budget).unwrap_or(isize::MAX),
    ));
    let handles: Vec<_> = lanes
        .into_iter()
        .map(|mut lane| {
            let budget = budget.clone();
            tokio::spawn(async move {
                let mut results = Vec::with_capacity(lane.statements.len());
                for sql in &lane.statements {
                    let read =
                        tokio::time::timeout(timeout, read_one(&mut lane.conn, sql, &budget)).await;
                    match read {
                        Ok(Ok(rows)) => results.push(rows),
                        Ok(Err(e)) => {
                            // A half-read result leaves the connection out of step; a server
                            // error ends the result cleanly.
                            lane.conn.broken = match &e {
                                ScatterError::Backend(b) => b.breaks_connection(),
                                ScatterError::OverBudget => true,
                            };
                            return (lane.conn, Err(e));
                        }
                        Err(_) => {
                            lane.conn.broken = true;
                            let name = lane.conn.name.clone();
                            return (
                                lane.conn,
                                Err(ScatterError::Backend(BackendError::new(
                                    &name,
                                    BackendErrorKind::Timeout(timeout.as_millis() as u64),
                                ))),
                            );
                        }
                    }
                }
                (lane.conn, Ok(results))
            })
        })
        .collect();
    let mut conns = Vec::new();
    let mut all = Ok(Vec::new());
    for handle in handles {
        match handle.await {
            Ok((conn, result)) => {
                conns.push(conn);
                match (result, &mut all) {
                    (Ok(rows), Ok(acc)) => acc.extend(rows),
                    (Err(e), Ok(_)) => all = Err(e),
                    _ => {}
                }
            }
            Err(join) => {
                all = Err(ScatterError::Backend(BackendError::new(
                    "scatter",
                    BackendErrorKind::Protocol(format!("task failed: {join}")),
                )));
            }
        }
    }
    (conns, all)
}

async fn read_one(
    conn: &mut BackendConn,
    sql: &str,
    budget: &AtomicIsize,
) -> Result<ShardRows, ScatterError> {
    conn.send_command(0x03, sql.as_bytes())
        .await
        .map_err(ScatterError::Backend)?;
    let mut buf = Vec::new();
    conn.read_packet(&mut buf)
        .await
        .map_err(ScatterError::Backend)?;
    match buf.first() {
        Some(0x00) => return Ok(ShardRows::default()),
        Some(0xFF) => {
            let e = wire::parse_err(&buf)
                .unwrap_or_else(|| wire::ErrInfo::new(1105, "HY000", "unknown error"));
            return Err(ScatterError::Backend(BackendError::new(
                &conn.name,
                BackendErrorKind::Server(e),
            )));
        }
        _ => {}
    }
    let count = Reader::new(&buf).lenenc_int().unwrap_or(0) as usize;
    let mut out = ShardRows::default();
    for _ in 0..count {
        conn.read_packet(&mut buf)
            .await
            .map_err(ScatterError::Backend)?;
        out.kinds.push(column_kind(&buf));
        out.columns.push(buf.clone());
    }
    let deprecate_eof = conn.flags.deprecate_eof;
    if !deprecate_eof {
        conn.read_packet(&mut buf)
            .await
            .map_err(ScatterError::Backend)?;
    }
    loop {
        conn.read_packet(&mut buf)
            .await
            .map_err(ScatterError::Backend)?;
        if is_terminator(&buf, deprecate_eof) {
            conn.status = mysql_common::constants::StatusFlags::from_bits_truncate(
                terminator_status(&buf, deprecate_eof),
            );
            return Ok(out);
        }
        if buf.first() == Some(&0xFF) {
            let e = wire::parse_err(&buf)
                .unwrap_or_else(|| wire::ErrInfo::new(1105, "HY000", "unknown error"));
            return Err(ScatterError::Backend(BackendError::new(
                &conn.name,
                BackendErrorKind::Server(e),
            )));
        }
        let cost = buf.len() as isize + VALUE_OVERHEAD * count as isize;
        if budget.fetch_sub(cost, Ordering::Relaxed) < cost {
            return Err(ScatterError::OverBudget);
        }
        let mut r = Reader::new(&buf);
        let mut row = Vec::with_capacity(count);
        for _ in 0..count {
            if r.remaining().first() == Some(&0xFB) {
                r.u8();
                row.push(None);
            } else {
                row.push(r.lenenc_bytes().map(<[u8]>::to_vec));
            }
        }
        out.rows.push(row);
    }
}

fn is_numeric_or_temporal(column_type: u8) -> bool {
    matches!(
        ColumnKind::from_definition(column_type, 45),
        ColumnKind::Numeric | ColumnKind::Temporal
    )
}

/// The comparison kind of a column definition (type and collation).
fn column_kind(def: &[u8]) -> ColumnKind {
    let mut r = Reader::new(def);
    for _ in 0..6 {
        if r.lenenc_bytes().is_none() {
            return ColumnKind::Bytes;
        }
    }
    let _ = r.lenenc_int();
    match (r.u16(), r.u32(), r.u8(), r.u16()) {
        // A column with a binary (`_bin`) collation carries BINARY_FLAG; the collation id
        // sent is the result character set's.
        (Some(_), Some(_), Some(column_type), Some(flags))
            if flags & 0x80 != 0 && !is_numeric_or_temporal(column_type) =>
        {
            ColumnKind::Bytes
        }
        (Some(collation), Some(_), Some(column_type), _) => {
            ColumnKind::from_definition(column_type, collation)
        }
        _ => ColumnKind::Bytes,
    }
}
