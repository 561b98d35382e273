//! Shard results as streams: what a backend reader hands the merge, one result set per
//! physical statement, with backpressure and a memory budget shared by the whole query.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicIsize, AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;

use super::value::ColumnKind;
use crate::backend::BackendError;

/// Row batches a statement's reader may run ahead of the merge before it waits for the
/// merge. A k-way merge needs the head of every statement at once, so there a lane's
/// statements other than its last are read to their end (under the budget) to let the lane
/// go on to the next one.
pub const WINDOW_BATCHES: usize = 4;

/// Rows or bytes per batch sent from a reader to the merge.
pub const BATCH_ROWS: usize = 64;
pub const BATCH_BYTES: usize = 16 * 1024;

/// The per-query merge memory budget, shared by every reader of the query. Rows a reader
/// buffers without backpressure are charged as they arrive, rows the merge keeps (buffered
/// sorts, hashed groups) when it keeps them; each is given back when the merge is done with
/// it. Rows in flight on a bounded channel are bounded by the window instead.
#[derive(Debug, Clone)]
pub struct Budget {
    shared: Arc<BudgetShared>,
    pub limit: usize,
}

/// What the clones of one query's budget share.
#[derive(Debug)]
struct BudgetShared {
    left: AtomicIsize,
    /// The least `left` has been: the query's peak use is `limit - low`.
    low: AtomicIsize,
    /// Rows the merge read from the physical statements.
    rows: AtomicU64,
}

impl Budget {
    pub fn new(limit: usize) -> Self {
        let left = isize::try_from(limit).unwrap_or(isize::MAX);
        Budget {
            shared: Arc::new(BudgetShared {
                left: AtomicIsize::new(left),
                low: AtomicIsize::new(left),
                rows: AtomicU64::new(0),
            }),
            limit,
        }
    }

    /// Takes `cost` bytes; `false` when the budget does not have them.
    pub fn charge(&self, cost: usize) -> bool {
        let cost = isize::try_from(cost).unwrap_or(isize::MAX);
        let before = self.shared.left.fetch_sub(cost, Ordering::Relaxed);
        self.shared
            .low
            .fetch_min(before.saturating_sub(cost), Ordering::Relaxed);
        before >= cost
    }

    pub fn release(&self, cost: usize) {
        let cost = isize::try_from(cost).unwrap_or(isize::MAX);
        self.shared.left.fetch_add(cost, Ordering::Relaxed);
    }

    /// `rows` more rows reached the merge.
    fn count_rows(&self, rows: usize) {
        self.shared.rows.fetch_add(rows as u64, Ordering::Relaxed);
    }

    /// The most bytes the query held at once.
    pub fn peak(&self) -> usize {
        let limit = isize::try_from(self.limit).unwrap_or(isize::MAX);
        usize::try_from(limit.saturating_sub(self.shared.low.load(Ordering::Relaxed))).unwrap_or(0)
    }
}

impl Drop for Budget {
    /// The query's last clone records its rows and peak memory.
    fn drop(&mut self) {
        if Arc::strong_count(&self.shared) == 1 {
            let rows = self.shared.rows.load(Ordering::Relaxed);
            crate::telemetry::merge_done(rows, self.peak());
        }
    }
}

/// Why a shard stream failed.
#[derive(Debug, Clone)]
pub enum StreamError {
    Backend(BackendError),
    /// The query's results need more memory than its budget.
    OverBudget,
    /// An earlier statement on the same backend connection failed, so this one never ran.
    Aborted,
    /// Physical statements of one query answered with columns of different types (a
    /// per-database `UNION ALL` aggregates types as UNION does): their rows cannot be merged
    /// as one result.
    Shape(String),
}

/// A result set's column definitions, as the backend sent them.
#[derive(Debug, Clone, Default)]
pub struct ShardHeader {
    /// Column definition payloads.
    pub columns: Vec<Vec<u8>>,
    pub kinds: Vec<ColumnKind>,
    /// Each column's protocol type, flags and decimals.
    pub types: Vec<(u8, u16, u8)>,
    /// The rows come in the binary protocol (COM_STMT_EXECUTE).
    pub binary: bool,
}

/// One row: the packet as the backend sent it, and the values the merge reads. Values are
/// in the text protocol's spelling; `None` is NULL, or a column the merge did not ask for.
#[derive(Debug, Clone)]
pub struct ShardRow {
    pub packet: Vec<u8>,
    pub values: Vec<Option<Vec<u8>>>,
    /// What the reader charged to the budget for the row (0 on a bounded channel).
    pub cost: usize,
    /// What the row takes in memory, charged by a merge that keeps it.
    pub size: usize,
}

/// Which columns a reader decodes; the others stay raw bytes in the packet.
#[derive(Debug, Clone)]
pub enum Decode {
    Nothing,
    Columns(Vec<usize>),
    All,
}

impl Decode {
    pub fn wants(&self, column: usize) -> bool {
        match self {
            Decode::Nothing => false,
            Decode::Columns(c) => c.contains(&column),
            Decode::All => true,
        }
    }
}

/// What a reader sends the merge, in order: a header, row batches, the end.
#[derive(Debug)]
pub enum Chunk {
    Header(ShardHeader),
    Rows(Vec<ShardRow>),
    End,
}

pub type ChunkSender = mpsc::Sender<Result<Chunk, StreamError>>;

/// The channel of one statement: bounded by [`WINDOW_BATCHES`] (backpressure), or
/// practically unbounded (the budget bounds it).
pub fn channel(bounded: bool, budget: Budget) -> (ChunkSender, ShardStream) {
    let capacity = if bounded { WINDOW_BATCHES } else { 1 << 40 };
    let (tx, rx) = mpsc::channel(capacity);
    (
        tx,
        ShardStream {
            rx,
            header: None,
            rows: VecDeque::new(),
            ended: false,
            budget,
            shape: None,
        },
    )
}

/// The column types every statement of one query must answer with, by how their values are
/// spelled: set by the first header that arrives, checked against each later one.
pub type SharedShape = std::sync::Arc<std::sync::OnceLock<Vec<u8>>>;

/// A column type's value encoding: types in one class spell their values alike in both
/// protocols.
fn encoding_class(column_type: u8) -> u8 {
    match column_type {
        0x01 => 0x01,
        0x02 | 0x0D => 0x02,
        0x03 | 0x09 => 0x03,
        0x04 | 0x05 | 0x08 | 0x0B | 0x10 => column_type,
        0x07 | 0x0A | 0x0C | 0x0E => 0x0C,
        0x00 | 0xF6 => 0xF6,
        _ => 0xFD,
    }
}

/// The merge's end of one statement's result.
#[derive(Debug)]
pub struct ShardStream {
    rx: mpsc::Receiver<Result<Chunk, StreamError>>,
    header: Option<ShardHeader>,
    rows: VecDeque<ShardRow>,
    ended: bool,
    pub budget: Budget,
    shape: Option<SharedShape>,
}

impl ShardStream {
    /// Charges `row` to the budget for a merge that keeps it.
    pub fn keep(&self, row: &ShardRow) -> Result<(), StreamError> {
        self.budget.release(row.cost);
        if self.budget.charge(row.size) {
            Ok(())
        } else {
            Err(StreamError::OverBudget)
        }
    }

    /// Checks this statement's column types against the other statements' of its query.
    pub fn with_shape(mut self, shape: SharedShape) -> Self {
        self.shape = Some(shape);
        self
    }

    /// Stops checking this statement's column types against the others' (a UNION's
    /// branches, whose types the union reconciles).
    pub fn unchecked(mut self) -> Self {
        self.shape = None;
        self
    }

    /// The result's column definitions, waiting for them if need be.
    pub async fn header(&mut self) -> Result<&ShardHeader, StreamError> {
        if self.header.is_none() {
            match self.rx.recv().await {
                Some(Ok(Chunk::Header(h))) => {
                    if let Some(shape) = &self.shape {
                        let classes: Vec<u8> =
                            h.types.iter().map(|t| encoding_class(t.0)).collect();
                        let expected = shape.get_or_init(|| classes.clone());
                        if let Some(column) = (0..classes.len().max(expected.len()))
                            .find(|&i| classes.get(i) != expected.get(i))
                        {
                            return Err(StreamError::Shape(format!(
                                "shardgate: the physical tables answered column {} with different types (a per-server UNION ALL changes some, as MIN or MAX of a BIT column); refusing to merge them",
                                column + 1
                            )));
                        }
                    }
                    self.header = Some(h)
                }
                Some(Err(e)) => return Err(e),
                Some(Ok(_)) | None => return Err(StreamError::Aborted),
            }
        }
        self.header.as_ref().ok_or(StreamError::Aborted)
    }

    /// The next row, or `None` at the end of the result. The row's cost stays charged
    /// until the caller [`release`](Budget::release)s it.
    pub async fn next(&mut self) -> Result<Option<ShardRow>, StreamError> {
        self.header().await?;
        loop {
            if let Some(row) = self.rows.pop_front() {
                return Ok(Some(row));
            }
            if self.ended {
                return Ok(None);
            }
            match self.rx.recv().await {
                Some(Ok(Chunk::Rows(rows))) => {
                    self.budget.count_rows(rows.len());
                    self.rows.extend(rows)
                }
                Some(Ok(Chunk::End)) => self.ended = true,
                Some(Err(e)) => return Err(e),
                Some(Ok(Chunk::Header(_))) | None => return Err(StreamError::Aborted),
            }
        }
    }
}
