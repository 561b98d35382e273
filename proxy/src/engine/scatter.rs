//! Reads the results of a SELECT's physical statements, lane by lane in parallel, and streams
//! them to the merge: one [`ShardStream`] per statement, rows in batches, with backpressure
//! (a lane's last statement waits for the merge) and a memory budget shared by all lanes.
//!
//! When the merge stops early (its LIMIT is reached, or the client went away), the readers
//! read their results to the end without keeping them, so the connections go back to the
//! pool in step.

use std::time::Duration;

use tokio::task::JoinHandle;

use super::merge::ColumnKind;
use super::warnings::{read_warnings, WarningSink};
use crate::backend::conn::{is_terminator, terminator_status, terminator_warnings};
use crate::backend::{BackendConn, BackendError, BackendErrorKind, PooledConn};
use crate::engine::fanout::Job;
use crate::engine::merge::stream::{
    channel, Budget, Chunk, ChunkSender, Decode, ShardHeader, ShardRow, ShardStream, SharedShape,
    StreamError, BATCH_BYTES, BATCH_ROWS,
};
use crate::protocol::binary_row::{column_info, decode_binary_row};
use crate::protocol::wire::Reader;

/// Bytes a row costs in the budget beyond its packet (vectors and options).
const ROW_OVERHEAD: usize = 64;
const VALUE_OVERHEAD: usize = 32;

/// One lane: a connection and the statements it runs in order.
pub struct ReadLane {
    pub conn: PooledConn,
    pub jobs: Vec<Job>,
}

/// The running readers: one stream per statement (lanes in order, each lane's statements in
/// order), and the lane tasks, which give their connections back when they end.
pub struct Scatter {
    pub streams: Vec<ShardStream>,
    pub tasks: Vec<JoinHandle<PooledConn>>,
    /// The statements' warnings, each read before its statement's end reaches the merge.
    pub warnings: WarningSink,
}

/// Starts reading every lane, each bounded by its own backend's query timeout. `all_heads`: the merge needs the first row of every statement
/// before it can go on (a k-way merge); otherwise it reads the statements in order.
pub fn start(lanes: Vec<ReadLane>, budget: &Budget, decode: Decode, all_heads: bool) -> Scatter {
    let mut streams = Vec::new();
    let mut tasks = Vec::with_capacity(lanes.len());
    let shape = SharedShape::default();
    let warnings = WarningSink::default();
    for mut lane in lanes {
        let count = lane.jobs.len();
        let mut senders = Vec::with_capacity(count);
        for i in 0..count {
            let bounded = !all_heads || i + 1 == count;
            let (tx, stream) = channel(bounded, budget.clone());
            senders.push((tx, bounded));
            streams.push(stream.with_shape(shape.clone()));
        }
        let budget = budget.clone();
        let decode = decode.clone();
        let timeout = lane.conn.pool().query_timeout();
        let sink = warnings.clone();
        tasks.push(tokio::spawn(async move {
            let mut failed: Option<StreamError> = None;
            for (job, (tx, bounded)) in lane.jobs.iter().zip(senders) {
                if let Some(e) = &failed {
                    // Never sent: its stream ends with the failure that stopped the lane,
                    // so whichever stream the merge reads first reports the cause.
                    let _ = tx.send(Err(e.clone())).await;
                    continue;
                }
                let reader = StatementReader {
                    conn: &mut lane.conn,
                    tx: &tx,
                    budget: &budget,
                    decode: &decode,
                    timeout,
                    charge: !bounded,
                    warnings: &sink,
                };
                if let Err(e) = reader.run(job).await {
                    lane.conn.broken |= match &e {
                        StreamError::Backend(b) => b.breaks_connection(),
                        StreamError::OverBudget | StreamError::Aborted | StreamError::Shape(_) => {
                            true
                        }
                    };
                    let _ = tx.send(Err(e.clone())).await;
                    failed = Some(e);
                }
            }
            lane.conn
        }));
    }
    Scatter {
        streams,
        tasks,
        warnings,
    }
}

/// Reads one statement's result into its stream.
struct StatementReader<'a> {
    conn: &'a mut BackendConn,
    tx: &'a ChunkSender,
    budget: &'a Budget,
    decode: &'a Decode,
    timeout: Duration,
    /// Rows are charged to the budget as they are read (the channel does not bound them).
    charge: bool,
    warnings: &'a WarningSink,
}

impl StatementReader<'_> {
    async fn read(&mut self, buf: &mut Vec<u8>) -> Result<(), StreamError> {
        match tokio::time::timeout(self.timeout, self.conn.read_packet(buf)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(StreamError::Backend(e)),
            Err(_) => Err(StreamError::Backend(BackendError::new(
                &self.conn.name,
                BackendErrorKind::Timeout(self.timeout.as_millis() as u64),
            ))),
        }
    }

    async fn run(mut self, job: &Job) -> Result<(), StreamError> {
        let binary = matches!(job, Job::Execute { .. });
        match job {
            Job::Text(sql) => self.conn.send_command(0x03, sql.as_bytes()).await,
            Job::PrepareExecute { prepare, execute } => {
                match self.conn.execute_internal(prepare).await {
                    Ok(_) => self.conn.send_command(0x03, execute.as_bytes()).await,
                    Err(e) => Err(e),
                }
            }
            Job::Execute {
                sql,
                body,
                long_data,
            } => self.conn.send_execute(sql, body, long_data).await,
        }
        .map_err(StreamError::Backend)?;
        let mut buf = Vec::new();
        self.read(&mut buf).await?;
        let mut header = ShardHeader {
            binary,
            ..Default::default()
        };
        match buf.first() {
            Some(0x00) => {
                // No result set: an empty one with no columns.
                let count = crate::protocol::wire::parse_ok(&buf).map_or(0, |ok| ok.warnings);
                self.warnings.add(read_warnings(self.conn, count).await);
                let _ = self.tx.send(Ok(Chunk::Header(header))).await;
                let _ = self.tx.send(Ok(Chunk::End)).await;
                return Ok(());
            }
            Some(0xFF) => return Err(StreamError::Backend(self.conn.server_error(&buf))),
            _ => {}
        }
        let count = Reader::new(&buf).lenenc_int().unwrap_or(0) as usize;
        for _ in 0..count {
            self.read(&mut buf).await?;
            let info = column_info(&buf);
            header.kinds.push(ColumnKind::of(&info));
            header
                .types
                .push((info.column_type, info.flags, info.decimals));
            header.columns.push(buf.clone());
        }
        let types = header.types.clone();
        let deprecate_eof = self.conn.flags.deprecate_eof;
        if !deprecate_eof {
            self.read(&mut buf).await?;
        }
        // Once the merge has let go of the stream, rows are read and dropped.
        let mut open = self.tx.send(Ok(Chunk::Header(header))).await.is_ok();
        let mut batch = Vec::with_capacity(BATCH_ROWS);
        let mut batch_bytes = 0;
        loop {
            self.read(&mut buf).await?;
            if is_terminator(&buf, deprecate_eof) {
                self.conn.status = mysql_common::constants::StatusFlags::from_bits_truncate(
                    terminator_status(&buf, deprecate_eof),
                );
                let count = terminator_warnings(&buf, deprecate_eof);
                self.warnings.add(read_warnings(self.conn, count).await);
                if open && !batch.is_empty() {
                    open = self.tx.send(Ok(Chunk::Rows(batch))).await.is_ok();
                }
                if open {
                    let _ = self.tx.send(Ok(Chunk::End)).await;
                }
                return Ok(());
            }
            if buf.first() == Some(&0xFF) {
                return Err(StreamError::Backend(self.conn.server_error(&buf)));
            }
            if !open {
                continue;
            }
            let row = self.row(&buf, binary, &types)?;
            batch_bytes += row.packet.len();
            batch.push(row);
            if batch.len() >= BATCH_ROWS || batch_bytes >= BATCH_BYTES {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH_ROWS));
                batch_bytes = 0;
                open = self.tx.send(Ok(Chunk::Rows(full))).await.is_ok();
            }
        }
    }

    /// Decodes the values the merge asked for and charges the row to the budget.
    fn row(
        &self,
        packet: &[u8],
        binary: bool,
        types: &[(u8, u16, u8)],
    ) -> Result<ShardRow, StreamError> {
        let malformed = || {
            StreamError::Backend(BackendError::new(
                &self.conn.name,
                BackendErrorKind::Protocol("malformed result row".into()),
            ))
        };
        let values = if binary {
            decode_binary_row(packet, types).ok_or_else(malformed)?
        } else if matches!(self.decode, Decode::Nothing) {
            Vec::new()
        } else {
            let mut r = Reader::new(packet);
            let mut values = Vec::with_capacity(types.len());
            for column in 0..types.len() {
                if r.remaining().first() == Some(&0xFB) {
                    r.u8();
                    values.push(None);
                    continue;
                }
                let value = r.lenenc_bytes().ok_or_else(malformed)?;
                values.push(self.decode.wants(column).then(|| value.to_vec()));
            }
            values
        };
        let decoded: usize = values.iter().flatten().map(Vec::len).sum();
        let size = ROW_OVERHEAD + packet.len() + decoded + VALUE_OVERHEAD * values.len();
        let cost = if self.charge { size } else { 0 };
        if !self.budget.charge(cost) {
            return Err(StreamError::OverBudget);
        }
        Ok(ShardRow {
            packet: packet.to_vec(),
            values,
            cost,
            size,
        })
    }
}
