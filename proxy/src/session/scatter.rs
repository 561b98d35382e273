//! A SELECT over several physical tables: read every shard's result, merge, answer with one
//! result set.

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
        let tables = plan.targets.len();
        // One statement per database: fewer round trips, same answer.
        let jobs = combine_per_database(plan.targets)
            .into_iter()
            .map(|t| (t.backend, Job::Text(t.sql)))
            .collect();
        self.scatter_jobs(&spec, jobs, tables).await
    }

    /// Runs a SELECT's physical statements (text or prepared) over `targets` physical
    /// tables, merges, and answers.
    pub(crate) async fn scatter_jobs(
        &mut self,
        spec: &SelectMerge,
        jobs: Vec<(usize, Job)>,
        targets: usize,
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
