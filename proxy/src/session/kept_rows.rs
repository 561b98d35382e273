//! A SELECT run to its end and its rows kept (under the query's memory budget), for a
//! statement the proxy answers in steps: a UNION's branch that merges on its own, the two
//! sides of a join across shards.

use shardgate_router::{combine_for, PhysicalStatement, SelectMerge, Step};
use tokio::io::{AsyncRead, AsyncWrite};

use super::{Session, SessionError};
use crate::engine::fanout::Job;
use crate::engine::merge::stream::{
    channel, Budget, Chunk, ShardHeader, ShardRow, ShardStream, StreamError,
};
use crate::engine::merge::{support, MergeError, Merger, OutRow, Strategy};
use crate::engine::scatter::{start, ReadLane};
use crate::engine::warnings::WarningSink;
use crate::error::StatementError;
use crate::protocol::binary_row::{decode_text_row, encode_text_row};
use crate::protocol::codes;

/// What a row costs the budget beyond its bytes (as the scatter readers count it).
const ROW_OVERHEAD: usize = 64;

/// A merged result, kept until another merge reads it.
pub(super) struct Kept {
    pub(super) header: ShardHeader,
    pub(super) rows: Vec<ShardRow>,
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Session<R, W> {
    /// Answers rows the proxy made (a join's across shards, window functions'), sorted,
    /// limited and cut to the result's columns by `spec`.
    pub(super) async fn answer_kept(
        &mut self,
        kept: Kept,
        spec: &SelectMerge,
        budget: &Budget,
        to_binary: bool,
    ) -> Result<(), SessionError> {
        let header = kept.header.clone();
        let stream = kept_stream(kept, budget);
        let strategy = Strategy::choose(spec, false);
        let warnings = WarningSink::default();
        match Merger::start_with_header(spec, strategy, vec![stream], Some(header)).await {
            Ok(mut merger) => {
                self.write_merged(&mut merger, 2, budget, &warnings, to_binary)
                    .await
            }
            Err(e) => self.send_merge_error(e, 2, budget).await,
        }
    }

    /// Refuses a statement whose kept rows went past the budget (1041).
    pub(super) async fn refuse_over_budget(&mut self, budget: &Budget) -> Result<(), SessionError> {
        self.send_failure(StatementError::Merge {
            error: MergeError::Stream(StreamError::OverBudget),
            targets: 2,
            memory_limit: budget.limit,
        })
        .await
    }

    /// Plans the logical SELECT `sql`, answering the subqueries in it first (each round
    /// answers one; a statement holds at most a few); `None` when an error went to the
    /// client.
    pub(super) async fn plan_select(&mut self, sql: &str) -> Result<Option<Step>, SessionError> {
        let mut sql = sql.to_string();
        loop {
            let (plan, _) = match self.plan_text(&sql).await {
                Ok(planned) => planned,
                Err(e) => {
                    self.send_router_error(&e).await?;
                    return Ok(None);
                }
            };
            match plan.step {
                Step::SubqueryValues(values) => match self.answered(*values).await? {
                    Some(answered) => sql = answered,
                    None => return Ok(None),
                },
                step => return Ok(Some(step)),
            }
        }
    }

    /// Plans the logical SELECT `sql`, runs it and keeps its rows; `None` when an error
    /// went to the client.
    pub(super) async fn keep_select(
        &mut self,
        sql: &str,
        budget: &Budget,
    ) -> Result<Option<Kept>, SessionError> {
        let refusal = match self.plan_select(sql).await? {
            None => return Ok(None),
            Some(Step::Route(one)) => {
                return self
                    .keep_rows(vec![one], &SelectMerge::default(), budget)
                    .await
            }
            Some(Step::Scatter(s)) => match support(&s.merge) {
                Ok(()) => return self.keep_rows(s.statements, &s.merge, budget).await,
                Err(reason) => format!("shardgate does not support {reason} yet"),
            },
            Some(_) => "shardgate: this part of the statement must be a plain SELECT".to_string(),
        };
        self.send_error(codes::ER_NOT_SUPPORTED_YET, &refusal)
            .await?;
        Ok(None)
    }

    /// Runs a SELECT's physical statements, merges them by `merge` and keeps every row;
    /// `None` when an error went to the client.
    pub(super) async fn keep_rows(
        &mut self,
        statements: Vec<PhysicalStatement>,
        merge: &SelectMerge,
        budget: &Budget,
    ) -> Result<Option<Kept>, SessionError> {
        let targets = statements.len();
        let combined = combine_for(statements, merge);
        let jobs: Vec<(usize, Job)> = combined
            .statements
            .into_iter()
            .map(|t| (t.backend, Job::Text(t.sql)))
            .collect();
        let (lane_backends, lanes): (Vec<usize>, Vec<ReadLane>) = match self.lanes(jobs).await {
            Ok(lanes) => lanes
                .into_iter()
                .map(|(backend, conn, jobs)| (backend, ReadLane { conn, jobs }))
                .unzip(),
            Err(e) => {
                self.send_backend_error(&e).await?;
                return Ok(None);
            }
        };
        let strategy = Strategy::choose(merge, combined.ordered);
        let scatter = start(
            lanes,
            budget,
            strategy.decode(merge),
            strategy.needs_all_heads(),
        );
        let read = match Merger::start(merge, strategy, scatter.streams).await {
            Ok(mut merger) => read_all(&mut merger, budget).await,
            Err(e) => Err(e),
        };
        for (backend, task) in lane_backends.into_iter().zip(scatter.tasks) {
            if let Ok(conn) = task.await {
                self.give_back(backend, conn);
            }
        }
        match read {
            Ok(kept) => Ok(Some(kept)),
            Err(error) => {
                self.send_failure(StatementError::Merge {
                    error,
                    targets,
                    memory_limit: budget.limit,
                })
                .await?;
                Ok(None)
            }
        }
    }
}

/// Every row of a merge, as text rows with their values, charged to the budget.
pub(super) async fn read_all(merger: &mut Merger, budget: &Budget) -> Result<Kept, MergeError> {
    let columns = merger.header.columns.len();
    let mut rows = Vec::new();
    while let Some(row) = merger.next().await? {
        let (packet, values) = match row {
            OutRow::Packet(packet) => {
                let values = decode_text_row(&packet, columns).ok_or_else(|| {
                    MergeError::NotSupported("a result row that does not read as one".into())
                })?;
                (packet, values)
            }
            OutRow::Values(values) => (encode_text_row(&values), values),
        };
        rows.push(
            charged(packet, values, budget).ok_or(MergeError::Stream(StreamError::OverBudget))?,
        );
    }
    Ok(Kept {
        header: merger.header.clone(),
        rows,
    })
}

/// A row the proxy keeps, charged to the budget; `None` past it.
pub(super) fn charged(
    packet: Vec<u8>,
    values: Vec<Option<Vec<u8>>>,
    budget: &Budget,
) -> Option<ShardRow> {
    let size = ROW_OVERHEAD + 2 * packet.len() + 32 * values.len();
    budget.charge(size).then_some(ShardRow {
        packet,
        values,
        cost: size,
        size,
    })
}

/// A row the proxy made from values, charged to the budget; `None` past it.
pub(super) fn charged_values(values: Vec<Option<Vec<u8>>>, budget: &Budget) -> Option<ShardRow> {
    charged(encode_text_row(&values), values, budget)
}

/// A kept result as a stream a merge reads like a statement's: its rows stay
/// charged until the merge is done with them.
pub(super) fn kept_stream(kept: Kept, budget: &Budget) -> ShardStream {
    let (tx, stream) = channel(false, budget.clone());
    // The channel is unbounded and its receiver alive: sending cannot fail.
    let _ = tx.try_send(Ok(Chunk::Header(kept.header)));
    let _ = tx.try_send(Ok(Chunk::Rows(kept.rows)));
    let _ = tx.try_send(Ok(Chunk::End));
    stream
}
