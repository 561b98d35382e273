//! A SELECT over several physical tables: read every shard's result, merge, answer with one
//! result set.

use std::collections::BTreeMap;

use shardgate_router::{MergeSpec, Plan, SelectMerge};
use tokio::io::{AsyncRead, AsyncWrite};

use super::{Session, SessionError};
use crate::exec::fanout::Job;
use crate::exec::scatter::{encode_binary_row, read_all, ReadLane, ScatterError};
use crate::exec::union::combine_per_database;
use crate::merge::{merge, support, MergeError, ShardRows};
use crate::protocol::codes;
use crate::protocol::wire::{eof_packet, ok_packet, put_lenenc_bytes, put_lenenc_int, OkInfo};

/// MySQL's ER_OUT_OF_RESOURCES.
const ER_OUT_OF_RESOURCES: (u16, &str) = (1041, "HY000");

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Session<R, W> {
    pub(crate) async fn scatter_select(&mut self, plan: Plan) -> Result<(), SessionError> {
        let MergeSpec::Select(spec) = plan.merge else {
            return self
                .send_error(
                    codes::ER_NOT_SUPPORTED_YET,
                    "shardgate: this SELECT has no merge plan",
                )
                .await;
        };
        // One statement per database: fewer round trips, same answer.
        let jobs = combine_per_database(plan.targets)
            .into_iter()
            .map(|t| (t.backend, Job::Text(t.sql)))
            .collect();
        self.scatter_jobs(&spec, jobs).await
    }

    /// Runs a SELECT's physical statements (text or prepared), merges, and answers.
    pub(crate) async fn scatter_jobs(
        &mut self,
        spec: &SelectMerge,
        jobs: Vec<(usize, Job)>,
    ) -> Result<(), SessionError> {
        let targets = jobs.len();
        if let Err(reason) = support(spec) {
            let message = format!(
                "shardgate does not support {reason} yet (it needs {targets} physical tables)"
            );
            return self.send_error(codes::ER_NOT_SUPPORTED_YET, &message).await;
        }
        let limit = self.ctx.topology.proxy.fanout_concurrency.max(1);
        let mut by_backend: BTreeMap<usize, Vec<Job>> = BTreeMap::new();
        for (backend, job) in jobs {
            by_backend.entry(backend).or_default().push(job);
        }
        let per_backend = (limit / by_backend.len().max(1)).max(1);
        let mut lanes = Vec::new();
        let mut lane_backends = Vec::new();
        let mut failure = None;
        'backends: for (backend, jobs) in by_backend {
            let count = if self.transactional() {
                1
            } else {
                per_backend.min(jobs.len())
            };
            // Contiguous runs keep each lane's results in target order.
            let chunk = jobs.len().div_ceil(count);
            for run in jobs.chunks(chunk) {
                match self.take_conn(backend).await {
                    Ok(conn) => {
                        lanes.push(ReadLane {
                            conn,
                            jobs: run.to_vec(),
                        });
                        lane_backends.push(backend);
                    }
                    Err(e) => {
                        failure = Some(e);
                        break 'backends;
                    }
                }
            }
        }
        if let Some(e) = failure {
            for (backend, lane) in lane_backends.into_iter().zip(lanes) {
                self.give_back(backend, lane.conn);
            }
            return self.send_backend_error(&e).await;
        }
        let budget = self.ctx.topology.proxy.merge_memory_limit;
        let timeout = self.ctx.pools[0].query_timeout();
        let (conns, result) = read_all(lanes, budget, timeout).await;
        for (backend, conn) in lane_backends.into_iter().zip(conns) {
            self.give_back(backend, conn);
        }
        let shards = match result {
            Ok(shards) => shards,
            Err(ScatterError::Backend(e)) => return self.send_backend_error(&e).await,
            Err(ScatterError::OverBudget) => {
                let message = format!(
                    "shardgate: merging this SELECT over {targets} physical tables needs more than proxy.merge_memory_limit ({budget} bytes); narrow it with the sharding key or a smaller LIMIT"
                );
                return self.send_error(ER_OUT_OF_RESOURCES, &message).await;
            }
        };
        match merge(spec, shards) {
            Ok(rows) => self.write_merged(rows).await,
            Err(MergeError::NotSupported(reason)) => {
                self.send_error(
                    codes::ER_NOT_SUPPORTED_YET,
                    &format!("shardgate does not support {reason} yet"),
                )
                .await
            }
            Err(MergeError::Overflow(message)) => self.send_error((1690, "22003"), &message).await,
        }
    }

    /// Writes a merged result set in the text protocol, with logical names in its metadata.
    async fn write_merged(&mut self, mut rows: ShardRows) -> Result<(), SessionError> {
        let status = self.status();
        let deprecate_eof = self.deprecate_eof();
        let mut out = Vec::with_capacity(256);
        put_lenenc_int(&mut out, rows.columns.len() as u64);
        self.writer.write(&out).await?;
        for def in &mut rows.columns {
            self.ctx.names.rewrite_column(def);
            self.writer.write(def).await?;
        }
        if !deprecate_eof {
            self.writer.write(&eof_packet(0, status)).await?;
        }
        let columns = rows.columns.len();
        for row in &rows.rows {
            if rows.binary {
                match row.get(columns) {
                    // The binary row packet rides after the columns, as the backend sent it.
                    Some(Some(packet)) => self.writer.write(packet).await?,
                    // Folded aggregates: encoded from their values.
                    _ => {
                        self.writer
                            .write(&encode_binary_row(row, &rows.types))
                            .await?
                    }
                }
                continue;
            }
            out.clear();
            for value in row {
                match value {
                    Some(v) => put_lenenc_bytes(&mut out, v),
                    None => out.push(0xFB),
                }
            }
            self.writer.write(&out).await?;
        }
        if deprecate_eof {
            self.writer
                .write(&ok_packet(
                    &OkInfo {
                        status,
                        ..Default::default()
                    },
                    0xFE,
                ))
                .await?;
        } else {
            self.writer.write(&eof_packet(0, status)).await?;
        }
        Ok(())
    }
}
