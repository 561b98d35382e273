//! A plan template: one analyzed statement shape, with the spots where table names and bound
//! values go. Parsing and analysis happen once per shape; [`Template::bind`] runs per statement.

use std::ops::Range;

use shardgate_config::{DatabaseId, TableId, Topology};

use crate::condition::{Cond, Operand};
use crate::plan::{AggregateFunction, SortKey, StatementKind};

/// A spot in the template text that is replaced when rendering a physical statement.
#[derive(Debug, Clone)]
pub(crate) struct Edit {
    pub range: Range<usize>,
    pub kind: EditKind,
}

#[derive(Debug, Clone)]
pub(crate) enum EditKind {
    /// Placeholder `?` number i: the literal's text (text statements) or `?` (prepared).
    Param(usize),
    /// A table reference: the physical `database.table` of table ref i.
    Table(usize),
    /// A column qualifier naming table ref i: its physical `database.table`.
    Qualifier(usize),
    /// The OFFSET of a LIMIT: `0` when several targets each return their first rows.
    LimitOffset(Operand),
    /// The row count of a LIMIT: `offset + count` when several targets.
    LimitCount(Operand),
    /// Text added after the select list when several targets answer (derived columns).
    AppendWhenMulti(Vec<AddedPiece>),
    /// Text always added (the key column a generated key fills).
    Append(String),
    /// Before INSERT row `row`'s closing parenthesis: `, id` when the row got a generated
    /// key.
    KeyAppend { row: usize },
    /// INSERT row `row`'s key value: the generated id when the row got one, else the
    /// parameter `param` (or the text as written).
    KeyValue { row: usize, param: Option<usize> },
    /// The OFFSET of a derived table's LIMIT (see [`WindowTemplate`]): `0` in the first
    /// phase, the target's first row in the second.
    WindowOffset(Operand),
    /// The row count of a derived table's LIMIT: `offset + count` in the first phase, the
    /// target's share in the second (`first, share` when the LIMIT had no OFFSET).
    WindowCount { has_offset: bool, count: Operand },
    /// The values of a `key IN (...)` on the sharding key of the layout the statement is
    /// routed by: each physical statement carries those that route to its table (see
    /// [`crate::key_list`]).
    KeyList {
        items: Vec<crate::key_list::KeyListItem>,
    },
}

/// A HAVING clause whose constants are bound per statement.
#[derive(Debug, Clone)]
pub(crate) enum HavingTemplate {
    And(Box<HavingTemplate>, Box<HavingTemplate>),
    Or(Box<HavingTemplate>, Box<HavingTemplate>),
    Not(Box<HavingTemplate>),
    Compare {
        left: HavingOperandTemplate,
        op: crate::plan::CompareOp,
        right: HavingOperandTemplate,
    },
    IsNull {
        operand: HavingOperandTemplate,
        negated: bool,
    },
}

/// A HAVING operand whose constant is bound per statement.
#[derive(Debug, Clone)]
pub(crate) enum HavingOperandTemplate {
    Column(usize),
    Aggregate(usize),
    Const(Operand),
}

/// A logical table the statement names, once per mention.
#[derive(Debug, Clone)]
pub(crate) struct TableRef {
    pub table: TableId,
}

/// One VALUES row of an INSERT.
#[derive(Debug, Clone)]
pub(crate) struct InsertRow {
    /// The row's text, parentheses included; `None` for `INSERT ... SET`.
    pub range: Option<Range<usize>>,
    pub key: Operand,
    pub fill: crate::keys::KeyFill,
}

/// How a statement's targets are found at bind time.
#[derive(Debug, Clone)]
pub(crate) enum RouteTemplate {
    NoTable,
    /// Single tables (with any broadcast tables) in one database.
    Single {
        database: DatabaseId,
    },
    /// Reads of broadcast tables only: one copy answers.
    BroadcastRead,
    /// Writes to a broadcast table: every copy.
    BroadcastWrite,
    /// Reads and writes of one binding group, by the sharding condition.
    Sharded {
        layout_of: TableId,
        cond: Cond,
        /// Values an UPDATE assigns to the sharding column: each must stay on the target.
        key_assignments: Vec<Operand>,
    },
    Insert {
        layout_of: TableId,
        rows: Vec<InsertRow>,
        /// Values ON DUPLICATE KEY UPDATE assigns to the sharding column.
        key_assignments: Vec<Operand>,
    },
    /// DDL: every physical table of the table.
    Ddl {
        table: TableId,
    },
}

/// The derived table of a two-phase SELECT (see `analyze::derived`).
#[derive(Debug, Clone)]
pub(crate) struct WindowTemplate {
    /// Its query's text, without the parentheses.
    pub inner: Range<usize>,
    /// The name its result gives the sharding column.
    pub key_column: String,
    pub offset: Operand,
    pub count: Operand,
}

/// A UNION over sharded tables (see `analyze::union_branches`).
#[derive(Debug, Clone)]
pub(crate) struct UnionTemplate {
    /// Each branch's SELECT, without parentheses around it.
    pub branches: Vec<Range<usize>>,
    pub distinct: bool,
    /// The union's ORDER BY, each key a result column.
    pub order_by: Vec<SortKey>,
    /// The union's LIMIT: (offset, count).
    pub limit: Option<(Operand, Operand)>,
}

/// A join across shards (see `analyze::cross_join`).
#[derive(Debug, Clone)]
pub(crate) struct JoinTemplate {
    /// LEFT JOIN: the left table's rows without a match are kept, with NULLs.
    pub left: bool,
    /// The left table, read first.
    pub outer: JoinSide,
    /// The right table, looked up by the left rows' join values.
    pub inner: JoinSide,
    /// Each result column: (from the right table, its item there).
    pub output: Vec<(bool, usize)>,
    /// ORDER BY keys: (from the right table, its item there, descending).
    pub order_by: Vec<(bool, usize, bool)>,
    /// (offset, count).
    pub limit: Option<(Operand, Operand)>,
}

/// Window functions over several physical tables (see `analyze::window_functions`).
#[derive(Debug, Clone)]
pub(crate) struct WindowFunctionsTemplate {
    /// The statement's select items that are not window functions: the rows' SELECT's
    /// first columns.
    pub items: Vec<Range<usize>>,
    /// The expressions the window functions read (arguments, PARTITION BY, ORDER BY) and
    /// the statement's ORDER BY keys that are not result columns: the rows' SELECT's
    /// hidden columns, after the items.
    pub hidden: Vec<Range<usize>>,
    /// From `FROM` up to the statement's ORDER BY or LIMIT: the rows' SELECT's tables,
    /// conditions and grouping, as written.
    pub rest: Range<usize>,
    pub functions: Vec<crate::plan::WindowFunction>,
    pub output: Vec<crate::plan::WindowColumn>,
    pub order_by: Vec<(crate::plan::WindowColumn, bool)>,
    /// (offset, count).
    pub limit: Option<(Operand, Operand)>,
}

/// One table of a join across shards: what its own SELECT reads.
#[derive(Debug, Clone, Default)]
pub(crate) struct JoinSide {
    /// Select items: the client's, then hidden sort keys.
    pub items: Vec<JoinItem>,
    /// The table, with its alias.
    pub from: String,
    /// Conditions ANDed into its WHERE.
    pub conds: Vec<Range<usize>>,
    /// Its join column.
    pub key: Range<usize>,
}

/// A select item of one side of a join across shards.
#[derive(Debug, Clone)]
pub(crate) struct JoinItem {
    pub range: Range<usize>,
    /// For a hidden sort key: the alias it is read under.
    pub hidden_alias: Option<String>,
}

/// A GROUP_CONCAT of the merge, its separator still to bind.
#[derive(Debug, Clone)]
pub(crate) struct GroupConcatTemplate {
    pub column: usize,
    /// `None`: the default `,`.
    pub separator: Option<Operand>,
    pub descending: Vec<bool>,
    pub distinct: bool,
}

/// The merge of a multi-target SELECT, minus the bound LIMIT values.
#[derive(Debug, Clone, Default)]
pub(crate) struct MergeTemplate {
    pub order_by: Vec<SortKey>,
    pub group_by: Vec<String>,
    pub group_by_columns: Vec<Option<usize>>,
    pub derived: Vec<crate::plan::Derived>,
    pub unsupported: Option<String>,
    pub having_filter: Option<HavingTemplate>,
    /// The HAVING clause's text, left out of the shard statements when several targets
    /// answer: shards return partial groups, and the merge applies HAVING to whole ones.
    pub having_range: Option<Range<usize>>,
    pub aggregates: Vec<(AggregateFunction, usize, bool)>,
    pub group_concats: Vec<GroupConcatTemplate>,
    /// Select items that are expressions over aggregates: (position, expression).
    pub projections: Vec<(usize, crate::merge_expr::MergeExpr<Operand>)>,
    pub distinct: bool,
    pub having: Option<String>,
    pub limit: Option<(Operand, Operand)>,
    pub shard_order: Option<String>,
    /// See [`crate::plan::SelectMerge::union_safe`].
    pub union_safe: bool,
}

impl MergeTemplate {
    /// Whether rows are grouped (GROUP BY, aggregates, or expressions over them): shard
    /// results are partial groups.
    pub(crate) fn grouped(&self) -> bool {
        !self.group_by.is_empty() || !self.aggregates.is_empty() || !self.projections.is_empty()
    }
}

/// A piece of text the merge adds to a statement: kept as it is, or a qualifier naming
/// logical table ref `.0`, rendered as the target's physical table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddedPiece {
    Text(String),
    Table(usize),
}

/// An analyzed statement shape.
#[derive(Debug, Clone)]
pub struct Template {
    pub(crate) kind: StatementKind,
    pub(crate) text: String,
    /// Sorted by position, not overlapping.
    pub(crate) edits: Vec<Edit>,
    pub(crate) param_count: usize,
    pub(crate) refs: Vec<TableRef>,
    pub(crate) route: RouteTemplate,
    pub(crate) merge: MergeTemplate,
    /// A placeholder's value would change the plan (ORDER BY 2): not reusable for a shape.
    pub(crate) literal_sensitive: bool,
    /// An UPDATE or DELETE with LIMIT: it cannot be split over several targets.
    pub(crate) write_limit: bool,
    /// An INSERT, REPLACE or DELETE with RETURNING: its statements answer with rows.
    pub(crate) returning: bool,
    /// A derived table with LIMIT over a sharded table: the statement runs in two phases.
    pub(crate) window: Option<WindowTemplate>,
    /// A subquery over a sharded table in the WHERE clause, and the text inside its
    /// parentheses: its answer is found first.
    pub(crate) in_subquery: Option<(crate::plan::SubqueryKind, Range<usize>)>,
    /// A UNION over sharded tables: its branches run as statements of their own.
    pub(crate) union: Option<UnionTemplate>,
    /// A join of two tables that do not live together: joined by the proxy.
    pub(crate) cross_join: Option<JoinTemplate>,
    /// Window functions over a sharded table: computed by the proxy when the statement
    /// reaches several physical tables.
    pub(crate) window_functions: Option<WindowFunctionsTemplate>,
    /// Generation of the topology the template was analyzed for: its ids index that one
    /// only.
    pub(crate) analyzed_for: u64,
}

/// Identifies a topology by its generation number (never by its address, which a new
/// topology can reuse), so templates and caches notice a new one.
pub(crate) fn topology_id(topology: &Topology) -> u64 {
    topology.generation
}

impl Template {
    /// Whether it was analyzed for `topology` (a template from before a migration's cutover
    /// must be analyzed again).
    pub fn fits(&self, topology: &Topology) -> bool {
        topology_id(topology) == self.analyzed_for
    }

    /// The statement text it was analyzed from (`?` for parameters).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// How many `?` the statement has.
    pub fn param_count(&self) -> usize {
        self.param_count
    }

    pub fn kind(&self) -> StatementKind {
        self.kind
    }

    /// The logical tables the statement names, each once.
    pub fn tables<'t>(&self, topology: &'t Topology) -> Vec<&'t str> {
        let mut ids: Vec<TableId> = self.refs.iter().map(|r| r.table).collect();
        ids.sort_unstable();
        ids.dedup();
        ids.into_iter()
            .map(|id| topology.tables[id].name.as_str())
            .collect()
    }
}
