//! Window functions over several physical tables (`Step::WindowFunctions`): the result's
//! column definitions first (the statement prepared on one physical table, never run, so
//! the columns are typed and named as MariaDB makes them), then the statement's rows
//! without its window functions (a SELECT planned and merged like any, kept under the
//! query's memory budget), then each window function computed over them, then the
//! statement's ORDER BY and LIMIT. Rows run as text; a prepared statement's client gets them
//! in the binary protocol.

use shardgate_router::{WindowColumn, WindowFunctions};
use tokio::io::{AsyncRead, AsyncWrite};

use super::kept_rows::{charged_values, Kept};
use super::{Session, SessionError};
use crate::engine::merge::stream::{Budget, ShardHeader};
use crate::engine::merge::{window_values, ColumnKind};
use crate::protocol::binary_row::column_info;
use crate::protocol::codes;

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Session<R, W> {
    pub(crate) async fn window_functions(
        &mut self,
        over: WindowFunctions,
        to_binary: bool,
    ) -> Result<(), SessionError> {
        let Some(definitions) = self.describe(&over).await? else {
            return Ok(());
        };
        let budget = Budget::new(self.rules.topology.proxy.merge_memory_limit);
        let Some(rows) = self.keep_select(&over.rows_sql, &budget).await? else {
            return Ok(());
        };
        let (columns, spec) = over.layout();
        let header = result_header(&columns, &definitions, &rows.header);
        let values: Vec<&Vec<Option<Vec<u8>>>> = rows.rows.iter().map(|r| &r.values).collect();
        let mut computed = Vec::with_capacity(over.functions.len());
        let at_output = |f: usize| {
            over.output
                .iter()
                .position(|c| *c == WindowColumn::Function(f))
        };
        for (f, function) in over.functions.iter().enumerate() {
            let decimals = at_output(f)
                .and_then(|at| header.types.get(at))
                .map_or(0, |t| t.2);
            match window_values(&values, &rows.header, function, decimals) {
                Ok(v) => computed.push(v),
                Err(error) => {
                    release(&rows, &budget);
                    return self.send_merge_error(error, 2, &budget).await;
                }
            }
        }
        drop(values);
        let mut out = Vec::with_capacity(rows.rows.len());
        let mut over_budget = false;
        for (n, row) in rows.rows.iter().enumerate() {
            let values: Vec<Option<Vec<u8>>> = columns
                .iter()
                .map(|c| match *c {
                    WindowColumn::Row(i) => row.values.get(i).cloned().flatten(),
                    WindowColumn::Function(f) => {
                        computed.get(f).and_then(|v| v.get(n)).cloned().flatten()
                    }
                })
                .collect();
            match charged_values(values, &budget) {
                Some(row) => out.push(row),
                None => {
                    over_budget = true;
                    break;
                }
            }
        }
        release(&rows, &budget);
        if over_budget {
            for row in &out {
                budget.release(row.cost);
            }
            return self.refuse_over_budget(&budget).await;
        }
        let kept = Kept { header, rows: out };
        self.answer_kept(kept, &spec, &budget, to_binary).await
    }

    /// The result's column definitions: the statement prepared on one physical table (and
    /// closed); `None` when an error went to the client.
    async fn describe(
        &mut self,
        over: &WindowFunctions,
    ) -> Result<Option<Vec<Vec<u8>>>, SessionError> {
        let backend = over.describe.backend;
        let mut conn = match self.take_conn(backend).await {
            Ok(c) => c,
            Err(e) => {
                self.send_backend_error(&e).await?;
                return Ok(None);
            }
        };
        let described = conn.prepare_with_defs(&over.describe.sql).await;
        self.give_back(backend, conn);
        match described {
            Ok((_, _, definitions)) if definitions.len() == over.output.len() => {
                Ok(Some(definitions))
            }
            Ok((_, _, definitions)) => {
                let message = format!(
                    "shardgate does not support window functions over several physical tables here yet (the statement has {} columns, shardgate counts {})",
                    definitions.len(),
                    over.output.len()
                );
                self.send_error(codes::ER_NOT_SUPPORTED_YET, &message)
                    .await?;
                Ok(None)
            }
            Err(e) => {
                self.send_backend_error(&e).await?;
                Ok(None)
            }
        }
    }
}

/// The kept rows are done with: their charge goes back to the budget.
fn release(rows: &Kept, budget: &Budget) {
    for row in &rows.rows {
        budget.release(row.cost);
    }
}

/// The result's header: the described definitions for its columns, then the rows' SELECT's
/// for the hidden sort keys.
fn result_header(
    columns: &[WindowColumn],
    definitions: &[Vec<u8>],
    rows: &ShardHeader,
) -> ShardHeader {
    let mut header = ShardHeader::default();
    for (at, column) in columns.iter().enumerate() {
        let def = match (definitions.get(at), column) {
            (Some(def), _) => def.clone(),
            (None, WindowColumn::Row(i)) => rows.columns.get(*i).cloned().unwrap_or_default(),
            (None, WindowColumn::Function(_)) => Vec::new(),
        };
        let info = column_info(&def);
        header.kinds.push(if def.is_empty() {
            ColumnKind::Bytes
        } else {
            ColumnKind::of(&info)
        });
        header
            .types
            .push((info.column_type, info.flags, info.decimals));
        header.columns.push(def);
    }
    header
}
