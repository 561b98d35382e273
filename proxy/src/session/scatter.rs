//! A SELECT over several physical tables: start every shard's statement, merge the streams,
//! and answer with one result set, written as the merged rows come.

use shardgate_router::SelectMerge;
use tokio::io::{AsyncRead, AsyncWrite};

use super::{Session, SessionError};
use crate::engine::fanout::Job;
use crate::engine::merge::stream::Budget;
use crate::engine::merge::{support, MergeError, Merger, Strategy};
use crate::engine::result::{AnswerError, MergedStream, ResultStream};
use crate::engine::scatter::{start, ReadLane};
use crate::engine::warnings::WarningSink;
use crate::error::StatementError;
use crate::protocol::codes;

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Session<R, W> {
    /// Runs a SELECT's physical statements (text or prepared) over `targets` physical
    /// tables, merges, and answers. `ordered`: each statement ends with the spec's shard
    /// order. `to_binary`: the client reads binary rows though the jobs answer as text.
    pub(crate) async fn scatter_jobs(
        &mut self,
        spec: &SelectMerge,
        jobs: Vec<(usize, Job)>,
        targets: usize,
        ordered: bool,
        to_binary: bool,
    ) -> Result<(), SessionError> {
        if let Err(reason) = support(spec) {
            let message = format!(
                "shardgate does not support {reason} yet (it needs {targets} physical tables)"
            );
            return self.send_error(codes::ER_NOT_SUPPORTED_YET, &message).await;
        }
        let (lane_backends, lanes): (Vec<usize>, Vec<ReadLane>) = match self.lanes(jobs).await {
            Ok(lanes) => lanes
                .into_iter()
                .map(|(backend, conn, jobs)| (backend, ReadLane { conn, jobs }))
                .unzip(),
            Err(e) => return self.send_backend_error(&e).await,
        };
        let budget = Budget::new(self.rules.topology.proxy.merge_memory_limit);
        let strategy = Strategy::choose(spec, ordered);
        let scatter = start(
            lanes,
            &budget,
            strategy.decode(spec),
            strategy.needs_all_heads(),
        );
        let warnings = scatter.warnings;
        let answered = match Merger::start(spec, strategy, scatter.streams).await {
            Ok(mut merger) => {
                self.write_merged(&mut merger, targets, &budget, &warnings, to_binary)
                    .await
            }
            Err(e) => self.send_merge_error(e, targets, &budget).await,
        };
        // The merger is gone: readers that were still going drain their results and end.
        for (backend, task) in lane_backends.into_iter().zip(scatter.tasks) {
            if let Ok(conn) = task.await {
                self.give_back(backend, conn);
            }
        }
        if !self.errored {
            self.keep_warnings(warnings.take());
        }
        answered
    }

    pub(super) async fn send_merge_error(
        &mut self,
        error: MergeError,
        targets: usize,
        budget: &Budget,
    ) -> Result<(), SessionError> {
        self.send_failure(StatementError::Merge {
            error,
            targets,
            memory_limit: budget.limit,
        })
        .await
    }

    /// Writes the merged result set as its rows come, with logical names in its metadata.
    /// A failure after the column definitions went out ends the result with an ERR packet,
    /// as a server does when a query fails midway. `to_binary`: the client reads binary
    /// rows though the merge's are text.
    pub(super) async fn write_merged(
        &mut self,
        merger: &mut Merger,
        targets: usize,
        budget: &Budget,
        warnings: &WarningSink,
        to_binary: bool,
    ) -> Result<(), SessionError> {
        let status = self.status();
        let deprecate_eof = self.deprecate_eof();
        let definitions: Vec<Vec<u8>> = merger
            .header
            .columns
            .iter()
            .map(|def| {
                let mut def = def.clone();
                self.rules.names.rewrite_column(&mut def);
                def
            })
            .collect();
        let mut merged =
            MergedStream::new(merger, definitions, warnings).with_binary_rows(to_binary);
        let answered = self
            .writer
            .answer(
                &mut ResultStream::Merged(&mut merged),
                status,
                deprecate_eof,
            )
            .await;
        match answered {
            Ok(()) => Ok(()),
            Err(AnswerError::Merge(e)) => self.send_merge_error(e, targets, budget).await,
            Err(AnswerError::Backend { error, .. }) => self.send_backend_error(&error).await,
            Err(AnswerError::Client(e)) => Err(e.into()),
        }
    }
}
