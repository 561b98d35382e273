//! The merge operators a scatter runs, and `shardgate route`'s view of a plan.

use std::fmt;

use shardgate_config::Topology;

use super::{
    AffectedRows, CrossJoin, Metadata, Plan, ProbeStep, RouteKind, SelectMerge, SessionOp, Step,
};
use crate::command::{SavepointOp, Show, SqlPrepared};
use crate::union::combine_for;

/// One operator of a scatter's merge, in the order rows pass through them. The first reads
/// the shard results; the engine runs it as its merge strategy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeOperator {
    /// Each shard result in turn.
    Concatenate,
    /// A k-way merge of shard results each sorted by the keys.
    MergeSort {
        keys: Vec<String>,
    },
    /// Rows kept under the merge memory limit and sorted (and deduplicated for DISTINCT):
    /// the shard statements could not be sorted as the merge needs.
    SortInMemory {
        keys: Vec<String>,
    },
    /// Partial groups arrive sorted by the group keys and fold as they pass.
    OrderedAggregate {
        group_by: Vec<String>,
    },
    /// Partial groups fold in a hash table, then sort by the group keys.
    HashAggregate {
        group_by: Vec<String>,
    },
    /// HAVING over whole groups.
    Filter {
        having: String,
    },
    /// Select items computed from the folded aggregates.
    Project {
        columns: Vec<usize>,
    },
    Distinct,
    Limit {
        limit: u64,
        offset: u64,
    },
}

impl SelectMerge {
    /// The operators, first to last. `ordered`: the shard statements return their rows in
    /// [`shard_order`](SelectMerge::shard_order) (see [`combine_for`]).
    pub fn operators(&self, ordered: bool) -> Vec<MergeOperator> {
        let sorted = ordered && self.shard_order.is_some();
        let keys = || {
            self.order_by
                .iter()
                .map(|k| format!("{}{}", k.expr, if k.descending { " DESC" } else { "" }))
                .collect::<Vec<_>>()
        };
        let mut ops = Vec::new();
        if self.grouped() {
            let group_by = self.group_by.clone();
            ops.push(if sorted && !self.group_by.is_empty() {
                MergeOperator::OrderedAggregate { group_by }
            } else {
                MergeOperator::HashAggregate { group_by }
            });
            if let Some(having) = &self.having {
                ops.push(MergeOperator::Filter {
                    having: having.clone(),
                });
            }
            if !self.projections.is_empty() {
                ops.push(MergeOperator::Project {
                    columns: self.projections.iter().map(|p| p.column).collect(),
                });
            }
            if !self.order_by.is_empty() {
                ops.push(MergeOperator::SortInMemory { keys: keys() });
            }
        } else if self.distinct {
            ops.push(MergeOperator::SortInMemory { keys: keys() });
            ops.push(MergeOperator::Distinct);
        } else if self.order_by.is_empty() {
            ops.push(MergeOperator::Concatenate);
        } else if sorted {
            ops.push(MergeOperator::MergeSort { keys: keys() });
        } else {
            ops.push(MergeOperator::SortInMemory { keys: keys() });
        }
        if let Some(limit) = self.limit {
            ops.push(MergeOperator::Limit {
                limit,
                offset: self.offset,
            });
        }
        ops
    }
}

impl fmt::Display for MergeOperator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MergeOperator::Concatenate => write!(f, "concatenate"),
            MergeOperator::MergeSort { keys } => write!(f, "merge-sort by {}", keys.join(", ")),
            MergeOperator::SortInMemory { keys } if keys.is_empty() => write!(f, "buffer"),
            MergeOperator::SortInMemory { keys } => write!(f, "sort by {}", keys.join(", ")),
            MergeOperator::OrderedAggregate { group_by } => {
                write!(f, "ordered aggregate by {}", group_by.join(", "))
            }
            MergeOperator::HashAggregate { group_by } if group_by.is_empty() => {
                write!(f, "aggregate")
            }
            MergeOperator::HashAggregate { group_by } => {
                write!(f, "hash aggregate by {}", group_by.join(", "))
            }
            MergeOperator::Filter { having } => write!(f, "filter {having}"),
            MergeOperator::Project { columns } => {
                let columns: Vec<String> = columns.iter().map(|c| (c + 1).to_string()).collect();
                write!(f, "project column(s) {}", columns.join(", "))
            }
            MergeOperator::Distinct => write!(f, "distinct"),
            MergeOperator::Limit { limit, offset } => write!(f, "limit {limit} offset {offset}"),
        }
    }
}

/// `shardgate route`'s view: one line per physical statement, then the step and its merge.
pub struct Explain<'a> {
    plan: &'a Plan,
    topology: &'a Topology,
}

impl<'a> Explain<'a> {
    pub(super) fn new(plan: &'a Plan, topology: &'a Topology) -> Self {
        Explain { plan, topology }
    }
}

impl<'a> Explain<'a> {
    /// Each physical statement's backend name, database name (`None` for a statement
    /// without a table) and SQL, in target order.
    pub fn statements(&self) -> impl Iterator<Item = (&'a str, Option<&'a str>, &'a str)> + '_ {
        self.plan.statements().iter().map(|t| {
            (
                self.topology.backends[t.backend].name.as_str(),
                t.database.map(|d| self.topology.databases[d].name.as_str()),
                t.sql.as_str(),
            )
        })
    }

    /// The plan without its physical statements: the route, the step and its merge.
    pub fn summary(&self) -> Summary<'_> {
        Summary(self)
    }
}

/// [`Explain::summary`].
pub struct Summary<'e>(&'e Explain<'e>);

impl fmt::Display for Explain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (backend, database, sql) in self.statements() {
            writeln!(f, "{backend}\t{}\t{sql}", database.unwrap_or("-"))?;
        }
        write!(f, "{}", self.summary())
    }
}

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Summary(explain) = self;
        let route = match explain.plan.route {
            RouteKind::NoTable => "no table",
            RouteKind::Direct => "direct",
            RouteKind::Scatter => "scatter",
            RouteKind::Broadcast => "broadcast",
            RouteKind::Session => "session",
        };
        let count = explain.plan.statements().len();
        if let Some(g) = &explain.plan.generate {
            let ids: Vec<String> = g.keys.iter().map(ToString::to_string).collect();
            writeln!(
                f,
                "generate: {} id(s) for `{}` from `{}`: {}",
                g.keys.len(),
                g.column,
                g.generator,
                ids.join(", ")
            )?;
        }
        write!(f, "route: {route}, {count} statement(s); step: ")?;
        match &explain.plan.step {
            Step::Route(_) => write!(f, "route (single target, passthrough)"),
            Step::SendToAll(s) => match s.affected {
                AffectedRows::Sum => write!(f, "send to all, sum affected rows"),
                AffectedRows::OneCopy => write!(f, "send to all, affected rows of one copy"),
            },
            Step::SessionOp(op) => write!(f, "session operation ({})", op_name(op)),
            Step::Metadata(Metadata::Show(show)) => {
                write!(f, "metadata ({})", show_name(show))
            }
            Step::Metadata(Metadata::Explain { plan, .. }) => {
                write!(
                    f,
                    "explain, answered by the session; of:\n{}",
                    plan.explain(explain.topology)
                )
            }
            Step::Metadata(Metadata::InformationSchema { catalog_sql }) => {
                write!(
                    f,
                    "metadata (information_schema, in the catalog: {catalog_sql})"
                )
            }
            Step::Probe(ProbeStep::Values(p)) => {
                let labels: Vec<&str> = p.items.iter().map(|(l, _)| l.as_str()).collect();
                write!(f, "probe, answered by the session ({})", labels.join(", "))
            }
            Step::Probe(ProbeStep::NextVal(g)) => {
                write!(f, "probe, answered by the proxy (next id of `{g}`)")
            }
            Step::DualWrite(d) => write!(
                f,
                "dual-write of `{}`: written by the {} layout, copied to the {}",
                d.table,
                if d.by_target { "new" } else { "old" },
                if d.by_target { "old" } else { "new" }
            ),
            Step::Subquery(s) => write!(
                f,
                "subquery in two phases: first `{}` over every shard, merged (the tables holding its rows, by `{}`); then the statement on each of those tables, its derived table's LIMIT narrowed to that table's rows, merged",
                s.inner_sql, s.key_column
            ),
            Step::SubqueryValues(v) => write!(
                f,
                "subquery values: first `{}` over every shard, merged; then the statement with its values written in, planned again",
                v.inner_sql
            ),
            Step::CrossJoin(j) => {
                write!(
                    f,
                    "{} across shards, joined by the proxy:\n    first `{}`\n    then `{}...)` with the join values, {} at a time",
                    if j.left { "left join" } else { "join" },
                    j.outer_sql,
                    j.inner_prefix,
                    CrossJoin::BATCH
                )?;
                for op in j.layout().1.operators(false) {
                    write!(f, "\n  then {op}")?;
                }
                Ok(())
            }
            Step::Union(u) => {
                write!(
                    f,
                    "union{} of {} SELECTs, each planned on its own:",
                    if u.distinct { "" } else { " all" },
                    u.branches.len()
                )?;
                for branch in &u.branches {
                    write!(f, "\n    `{branch}`")?;
                }
                for op in u.merge().operators(false) {
                    write!(f, "\n  then {op}")?;
                }
                Ok(())
            }
            Step::WindowFunctions(w) => {
                write!(
                    f,
                    "window functions computed by the proxy:\n    first `{}`, its rows kept\n    then {} window function(s), each over the rows sorted by its PARTITION BY and ORDER BY",
                    w.rows_sql,
                    w.functions.len()
                )?;
                for op in w.layout().1.operators(false) {
                    write!(f, "\n  then {op}")?;
                }
                Ok(())
            }
            Step::Fence(table) => {
                write!(
                    f,
                    "fence: `{table}` is switching layouts, held until it has"
                )
            }
            Step::Scatter(s) => {
                let combined = combine_for(
                    s.statements.clone(),
                    &s.merge,
                );
                let ops: Vec<String> = s
                    .merge
                    .operators(combined.ordered)
                    .iter()
                    .map(ToString::to_string)
                    .collect();
                write!(
                    f,
                    "scatter as {} statement(s); merge: {}",
                    combined.statements.len(),
                    ops.join(" -> ")
                )
            }
        }
    }
}

fn op_name(op: &SessionOp) -> &'static str {
    match op {
        SessionOp::Set(_) => "SET",
        SessionOp::LockTables(_) => "LOCK TABLES (acknowledged, no lock taken)",
        SessionOp::UnlockTables => "UNLOCK TABLES",
        SessionOp::Do(_) => "DO (evaluated by a backend, rows dropped)",
        SessionOp::SwitchKeys(_) => {
            "ALTER TABLE ... DISABLE/ENABLE KEYS (acknowledged; InnoDB ignores it)"
        }
        SessionOp::Use(_) => "USE",
        SessionOp::Begin(_) => "BEGIN",
        SessionOp::Commit => "COMMIT",
        SessionOp::Rollback => "ROLLBACK",
        SessionOp::Savepoint(SavepointOp::Set(_)) => "SAVEPOINT",
        SessionOp::Savepoint(SavepointOp::RollbackTo(_)) => "ROLLBACK TO SAVEPOINT",
        SessionOp::Savepoint(SavepointOp::Release(_)) => "RELEASE SAVEPOINT",
        SessionOp::Prepared(SqlPrepared::Prepare { .. }) => "PREPARE",
        SessionOp::Prepared(SqlPrepared::Execute { .. }) => "EXECUTE",
        SessionOp::Prepared(SqlPrepared::Deallocate { .. }) => "DEALLOCATE PREPARE",
    }
}

fn show_name(show: &Show) -> &'static str {
    match show {
        Show::Databases { .. } => "SHOW DATABASES, from the topology",
        Show::Tables { .. } => "SHOW TABLES, from the topology",
        Show::Columns { .. } => "columns of a representative physical table",
        Show::Index { .. } => "indexes of a representative physical table",
        Show::CreateTable { .. } => "CREATE TABLE of a representative physical table",
        Show::Diagnostics { .. } => "the last statement's warnings, from the session",
        Show::Server(_) => "server facts, from a backend off the transaction",
    }
}
