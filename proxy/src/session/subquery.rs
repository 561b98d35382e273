//! A SELECT over a derived table with LIMIT over a sharded table (`Step::Subquery`): the
//! derived table's query runs first, merged over every shard, and only the key of each row
//! it chose is kept; where those keys live plans the second phase, which runs like any
//! SELECT. Between the phases other clients' writes may land (as between the shards of any
//! scatter); inside a transaction both phases read the same snapshot of each backend.

use shardgate_router::{
    combine_for, PhysicalStatement, Plan, SelectMerge, Step, Subquery, Windows,
};
use tokio::io::{AsyncRead, AsyncWrite};

use super::{Session, SessionError};
use crate::engine::fanout::Job;
use crate::engine::merge::stream::{Budget, StreamError};
use crate::engine::merge::{MergeError, Merger, OutRow, Strategy};
use crate::engine::scatter::{start, ReadLane};
use crate::error::StatementError;
use crate::protocol::codes;
use crate::protocol::wire::Reader;

/// Column types whose text is an integer key.
const INTEGER_TYPES: [u8; 6] = [1, 2, 3, 8, 9, 13];
/// DECIMAL and NEWDECIMAL: their text is a number literal as it is.
const DECIMAL_TYPES: [u8; 2] = [0, 246];

/// Digits, with a sign and a decimal point: text safe to write into a statement.
pub(super) fn is_number(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
        && digits.chars().filter(|c| *c == '.').count() <= 1
        && digits.chars().any(|c| c.is_ascii_digit())
}

/// What the first phase found: one column's value of each row, in the result's order.
pub(super) struct Chosen {
    pub(super) keys: Vec<Option<Vec<u8>>>,
    /// The column's protocol type.
    pub(super) kind: u8,
}

impl Chosen {
    pub(super) fn integer(&self) -> bool {
        INTEGER_TYPES.contains(&self.kind)
    }

    /// Whether the column's text is a number literal as it is.
    pub(super) fn numeric(&self) -> bool {
        self.integer() || DECIMAL_TYPES.contains(&self.kind)
    }
}

/// Which column of the first phase's result is read, and how many rows.
#[derive(Clone, Copy)]
pub(super) enum Column<'a> {
    /// The one of this name (the derived table's sharding column), every row.
    Named(&'a str),
    /// The only one (a subquery's values), at most this many rows.
    Only(usize),
    /// Whether there is a row: the first column of the first row.
    AnyRow,
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Session<R, W> {
    /// Runs both phases; the second phase's statements are sent as `job` makes them (the
    /// client's protocol); `to_binary`: the client reads binary rows.
    pub(crate) async fn subquery(
        &mut self,
        subquery: Subquery,
        job: impl Fn(PhysicalStatement) -> Job,
        to_binary: bool,
    ) -> Result<(), SessionError> {
        let column = Column::Named(&subquery.key_column);
        let chosen = match self.first_phase(&subquery.inner_sql, column).await? {
            Some(chosen) => chosen,
            None => return Ok(()),
        };
        let integer = chosen.integer();
        // The routing the statement was planned by: the migrations' snapshot (text), or
        // the published routing (prepared statements).
        let ctx = self.ctx.clone();
        let rules = self.rules.clone();
        let snapshot = ctx.migrations.snapshot();
        let planned_by = snapshot
            .as_deref()
            .map_or(&rules.router, |s| s.router(&rules.router))
            .clone();
        let router = if subquery.fits(planned_by.topology()) {
            planned_by
        } else {
            self.router()
        };
        let topology = router.topology();
        let mut windows = Windows::new();
        for (n, key) in chosen.keys.iter().enumerate() {
            let located = key
                .as_deref()
                .and_then(|k| subquery.locate(topology, k, integer));
            let Some(at) = located else {
                let message = format!(
                    "shardgate: row {} of the derived table has a sharding key (`{}`) that names no table, so the rows joined to it cannot be found",
                    n + 1,
                    subquery.key_column
                );
                return self.send_error(codes::ER_NOT_SUPPORTED_YET, &message).await;
            };
            let window = windows.entry(at).or_insert((0, 0));
            if (n as u64) < subquery.offset {
                window.0 += 1;
            } else {
                window.1 += 1;
            }
        }
        windows.retain(|_, (_, share)| *share > 0);
        let outer: Plan = match subquery.outer_plan(topology, &windows) {
            Ok(plan) => plan,
            Err(e) => return self.send_router_error(&e).await,
        };
        Box::pin(self.execute_step(outer.step, job, to_binary)).await
    }

    /// Runs the first phase and keeps one column of each row; `None` when an error went to
    /// the client.
    pub(super) async fn first_phase(
        &mut self,
        sql: &str,
        column: Column<'_>,
    ) -> Result<Option<Chosen>, SessionError> {
        let (statements, merge) = match self.plan_select(sql).await? {
            None => return Ok(None),
            Some(Step::Route(one)) => (vec![one], SelectMerge::default()),
            Some(Step::Scatter(s)) => (s.statements, *s.merge),
            Some(_) => {
                self.send_error(
                    codes::ER_NOT_SUPPORTED_YET,
                    "shardgate: a subquery here must be a plain SELECT",
                )
                .await?;
                return Ok(None);
            }
        };
        self.read_column(column, statements, &merge).await
    }

    async fn read_column(
        &mut self,
        column: Column<'_>,
        statements: Vec<PhysicalStatement>,
        merge: &SelectMerge,
    ) -> Result<Option<Chosen>, SessionError> {
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
        let budget = Budget::new(self.rules.topology.proxy.merge_memory_limit);
        let strategy = Strategy::choose(merge, combined.ordered);
        let scatter = start(
            lanes,
            &budget,
            strategy.decode(merge),
            strategy.needs_all_heads(),
        );
        let read = match Merger::start(merge, strategy, scatter.streams).await {
            Ok(mut merger) => read_keys(&mut merger, column, &budget).await,
            Err(e) => Err(e),
        };
        for (backend, task) in lane_backends.into_iter().zip(scatter.tasks) {
            if let Ok(conn) = task.await {
                self.give_back(backend, conn);
            }
        }
        match read {
            Ok(chosen) => Ok(Some(chosen)),
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

/// The key column of each merged row, charged to the merge's memory budget.
async fn read_keys(
    merger: &mut Merger,
    column: Column<'_>,
    budget: &Budget,
) -> Result<Chosen, MergeError> {
    let kind_of = |i: usize| merger.header.types.get(i).map_or(253, |t| t.0);
    let (at, kind) = match column {
        Column::Named(key_column) => {
            let named: Vec<(usize, u8)> = merger
                .header
                .columns
                .iter()
                .enumerate()
                .filter_map(|(i, def)| {
                    let name = column_name(def)?;
                    name.eq_ignore_ascii_case(key_column.as_bytes())
                        .then(|| (i, kind_of(i)))
                })
                .collect();
            match named.as_slice() {
                [one] => *one,
                _ => {
                    return Err(MergeError::NotSupported(format!(
                        "a derived table whose result does not name its sharding column `{key_column}` exactly once"
                    )))
                }
            }
        }
        Column::Only(_) if merger.header.columns.len() == 1 => (0, kind_of(0)),
        Column::Only(_) => {
            return Err(MergeError::NotSupported(
                "a subquery whose value is other than one column".into(),
            ))
        }
        Column::AnyRow => (0, kind_of(0)),
    };
    let rows = match column {
        Column::Named(_) => usize::MAX,
        Column::Only(rows) => rows,
        Column::AnyRow => 1,
    };
    let columns = merger.header.columns.len();
    let mut keys = Vec::new();
    while keys.len() < rows {
        let Some(row) = merger.next().await? else {
            break;
        };
        let key = match &row {
            OutRow::Values(values) => values.get(at).cloned().flatten(),
            OutRow::Packet(packet) => text_value(packet, at, columns),
        };
        let cost = key.as_ref().map_or(0, Vec::len) + 32;
        if !budget.charge(cost) {
            return Err(MergeError::Stream(StreamError::OverBudget));
        }
        keys.push(key);
    }
    Ok(Chosen { keys, kind })
}

/// A column definition's name (after catalog, schema, table and original table).
fn column_name(def: &[u8]) -> Option<&[u8]> {
    let mut r = Reader::new(def);
    for _ in 0..4 {
        r.lenenc_bytes()?;
    }
    r.lenenc_bytes()
}

/// Column `at` of a text-protocol row packet; `None` for NULL.
fn text_value(packet: &[u8], at: usize, columns: usize) -> Option<Vec<u8>> {
    let mut r = Reader::new(packet);
    for i in 0..columns {
        if r.remaining().first() == Some(&0xFB) {
            r.u8()?;
            if i == at {
                return None;
            }
            continue;
        }
        let value = r.lenenc_bytes()?;
        if i == at {
            return Some(value.to_vec());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::text_value;

    #[test]
    fn a_text_row_gives_its_columns() {
        let packet = [1, b'7', 0xFB, 2, b'4', b'2'];
        assert_eq!(text_value(&packet, 0, 3), Some(b"7".to_vec()));
        assert_eq!(text_value(&packet, 1, 3), None);
        assert_eq!(text_value(&packet, 2, 3), Some(b"42".to_vec()));
        assert_eq!(text_value(&packet[..3], 2, 3), None);
    }
}
