//! A UNION over sharded tables (`Step::Union`): each branch is planned as a SELECT of its
//! own (pruned by its own key). Branches whose rows need no merge of their own — one
//! statement, or plain rows over several tables — run together as one scatter; a branch
//! that merges (aggregates, its own ORDER BY and LIMIT, DISTINCT) is merged first and its
//! rows kept under the query's memory budget. The union's merge then reads them all as one
//! result: concatenated, deduplicated for UNION, sorted and limited. Every branch runs as
//! text; a prepared statement's client gets the rows re-encoded in the binary protocol.

use shardgate_router::{combine_per_backend, PhysicalStatement, SelectMerge, Step, Union};
use tokio::io::{AsyncRead, AsyncWrite};

use super::kept_rows::kept_stream;
use super::{Session, SessionError};
use crate::engine::fanout::Job;
use crate::engine::merge::stream::{Budget, ShardHeader, ShardStream, StreamError};
use crate::engine::merge::{support, union_header, MergeError, Merger, Strategy};
use crate::engine::scatter::{start, ReadLane};
use crate::protocol::codes;

/// MySQL's error for UNION branches with different numbers of columns.
const ER_WRONG_NUMBER_OF_COLUMNS_IN_SELECT: (u16, &str) = (1222, "21000");

/// One branch, planned.
enum Branch {
    /// Statements whose rows are the branch's rows as they come; `union_safe`: their
    /// column names are distinct (see `SelectMerge::union_safe`).
    Plain {
        statements: Vec<PhysicalStatement>,
        union_safe: bool,
    },
    /// Statements whose rows the branch's own merge combines first.
    Merged(Vec<PhysicalStatement>, Box<SelectMerge>),
}

/// Whether a branch's merge leaves its rows as they are.
fn plain(merge: &SelectMerge) -> bool {
    let mut bare = merge.clone();
    bare.union_safe = false;
    bare == SelectMerge::default()
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Session<R, W> {
    /// Plans every branch, runs them, and answers with the union. `to_binary`: the client
    /// reads binary rows (COM_STMT_EXECUTE).
    pub(crate) async fn union(
        &mut self,
        union: Union,
        to_binary: bool,
    ) -> Result<(), SessionError> {
        let spec = union.merge();
        let mut branches = Vec::with_capacity(union.branches.len());
        for sql in &union.branches {
            match self.plan_branch(sql).await? {
                Some(branch) => branches.push(branch),
                None => return Ok(()),
            }
        }
        let budget = Budget::new(self.rules.topology.proxy.merge_memory_limit);
        let mut targets = 0;
        // The plain branches' statements, each tagged with its branch; per branch, those of
        // one database go as one `(...) UNION ALL (...)` where the branch's column names
        // allow it.
        let mut jobs: Vec<(usize, (usize, Job))> = Vec::new();
        let mut kept: Vec<(usize, ShardStream)> = Vec::new();
        for (n, branch) in branches.into_iter().enumerate() {
            match branch {
                Branch::Plain {
                    statements,
                    union_safe,
                } => {
                    targets += statements.len();
                    let combined = combine_per_backend(statements, None, false, union_safe);
                    jobs.extend(
                        combined
                            .statements
                            .into_iter()
                            .map(|t| (t.backend, (n, Job::Text(t.sql)))),
                    );
                }
                Branch::Merged(statements, merge) => {
                    targets += statements.len();
                    match self.keep_rows(statements, &merge, &budget).await? {
                        Some(rows) => kept.push((n, kept_stream(rows, &budget))),
                        None => return Ok(()),
                    }
                }
            }
        }
        let strategy = Strategy::choose(&spec, false);
        let (lane_backends, lanes, tags) = match self.lanes(jobs).await {
            Ok(lanes) => {
                let mut tags = Vec::new();
                let mut read_lanes = Vec::new();
                let mut backends = Vec::new();
                for (backend, conn, jobs) in lanes {
                    let (lane_tags, jobs): (Vec<usize>, Vec<Job>) = jobs.into_iter().unzip();
                    tags.extend(lane_tags);
                    backends.push(backend);
                    read_lanes.push(ReadLane { conn, jobs });
                }
                (backends, read_lanes, tags)
            }
            Err(e) => return self.send_backend_error(&e).await,
        };
        // Every statement's columns are needed before the first row goes out, so each
        // lane reads past its statements (under the budget) as a k-way merge's do.
        let scatter = start(lanes, &budget, strategy.decode(&spec), true);
        let mut tagged: Vec<(usize, ShardStream)> = tags
            .into_iter()
            .zip(scatter.streams.into_iter().map(ShardStream::unchecked))
            .chain(kept)
            .collect();
        // In branch order: the first branch's columns name the result.
        tagged.sort_by_key(|(n, _)| *n);
        let mut streams: Vec<ShardStream> = tagged.into_iter().map(|(_, s)| s).collect();
        let warnings = scatter.warnings;
        let answered = match union_columns(&mut streams).await {
            Ok(header) => {
                let streams = std::mem::take(&mut streams);
                match Merger::start_with_header(&spec, strategy, streams, Some(header)).await {
                    Ok(mut merger) => {
                        self.write_merged(&mut merger, targets, &budget, &warnings, to_binary)
                            .await
                    }
                    Err(e) => self.send_merge_error(e, targets, &budget).await,
                }
            }
            Err(UnionColumnsError::Count) => {
                self.send_error(
                    ER_WRONG_NUMBER_OF_COLUMNS_IN_SELECT,
                    "The used SELECT statements have a different number of columns",
                )
                .await
            }
            Err(UnionColumnsError::Merge(e)) => self.send_merge_error(e, targets, &budget).await,
        };
        // Streams the union no longer reads (its columns refused) go first: a lane still
        // sending rows to one then drops them and ends, instead of waiting on a full channel
        // while its task is awaited here.
        drop(streams);
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

    /// Plans one branch; `None` when an error went to the client.
    async fn plan_branch(&mut self, sql: &str) -> Result<Option<Branch>, SessionError> {
        let refusal = match self.plan_select(sql).await? {
            None => return Ok(None),
            Some(Step::Route(one)) => {
                return Ok(Some(Branch::Plain {
                    statements: vec![one],
                    union_safe: false,
                }))
            }
            Some(Step::Scatter(s)) if plain(&s.merge) => {
                return Ok(Some(Branch::Plain {
                    statements: s.statements,
                    union_safe: s.merge.union_safe,
                }))
            }
            Some(Step::Scatter(s)) => match support(&s.merge) {
                Ok(()) => return Ok(Some(Branch::Merged(s.statements, s.merge))),
                Err(reason) => format!("shardgate does not support {reason} yet"),
            },
            Some(Step::Union(_)) => {
                "shardgate: a UNION inside a UNION's branch over sharded tables is not supported yet".to_string()
            }
            Some(Step::Subquery(_)) => {
                "shardgate: a derived table with LIMIT inside a UNION's branch over sharded tables is not supported yet".to_string()
            }
            Some(_) => "shardgate: a UNION's branch must be a SELECT".to_string(),
        };
        self.send_error(codes::ER_NOT_SUPPORTED_YET, &refusal)
            .await?;
        Ok(None)
    }
}

/// Why the branches' columns do not make one result.
enum UnionColumnsError {
    /// They answer with different numbers of columns (MySQL's 1222).
    Count,
    Merge(MergeError),
}

/// The union's columns, from every statement's (each waited for).
async fn union_columns(streams: &mut [ShardStream]) -> Result<ShardHeader, UnionColumnsError> {
    for at in 0..streams.len() {
        match streams[at].header().await {
            Ok(_) => {}
            Err(StreamError::Aborted) => {
                // An earlier statement on its connection failed, maybe after its columns
                // came (a row past the budget): that failure is the one to report.
                let error = first_failure(&mut streams[..at])
                    .await
                    .unwrap_or(StreamError::Aborted);
                return Err(UnionColumnsError::Merge(MergeError::Stream(error)));
            }
            Err(e) => return Err(UnionColumnsError::Merge(MergeError::Stream(e))),
        }
    }
    let mut headers = Vec::with_capacity(streams.len());
    for stream in streams.iter_mut() {
        let header = stream
            .header()
            .await
            .map_err(|e| UnionColumnsError::Merge(MergeError::Stream(e)))?;
        headers.push(header);
    }
    if headers
        .windows(2)
        .any(|w| w[0].columns.len() != w[1].columns.len())
    {
        return Err(UnionColumnsError::Count);
    }
    union_header(&headers)
        .map_err(|m| UnionColumnsError::Merge(MergeError::Stream(StreamError::Shape(m))))
}

/// The first error among `streams`' rows, read (and dropped) to find it.
async fn first_failure(streams: &mut [ShardStream]) -> Option<StreamError> {
    for stream in streams {
        loop {
            match stream.next().await {
                Ok(Some(row)) => stream.budget.release(row.cost),
                Ok(None) => break,
                Err(e) => return Some(e),
            }
        }
    }
    None
}
