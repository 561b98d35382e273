//! What the planner hands to the engine: a tree of typed steps. The root says how the
//! physical statements run — [`Step::Route`] (one statement, its answer relayed),
//! [`Step::Scatter`] (a SELECT on many tables, merged) or [`Step::SendToAll`] (a write or
//! DDL on many tables, one OK) — and a scatter's [`SelectMerge`] holds the merge operators
//! over its shard results ([`SelectMerge::operators`]) — or the session answers the
//! command itself: [`Step::SessionOp`], [`Step::Metadata`], [`Step::Probe`]. A write on a
//! table being migrated is wrapped in [`Step::DualWrite`] or [`Step::Fence`]. Ids for INSERT
//! rows without a key are the plan's [`Generate`], taken before the rows are routed. A
//! SELECT over a derived table with LIMIT over a sharded table is a [`Step::Subquery`]: two
//! phases, the second planned from the first's rows; a UNION over sharded tables is a
//! [`Step::Union`] of SELECTs planned on their own.

mod cross_join;
mod explain;
mod merge;
mod migration;
mod session;
mod subquery;
mod subquery_values;
mod union;
mod window_functions;

pub use cross_join::CrossJoin;
pub use explain::{Explain, MergeOperator, Summary};
pub use merge::*;
pub use migration::{DualWrite, MigrationPhase};
pub use session::{Metadata, ProbeStep, SessionOp};
pub use subquery::{Subquery, Windows};
pub use subquery_values::{SubqueryAnswerError, SubqueryKind, SubqueryValues};
pub use union::Union;
pub use window_functions::{WindowColumn, WindowFunction, WindowFunctions, WindowKind};

use shardgate_config::{BackendId, DatabaseId};

/// The kind of the logical statement, which decides how results are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatementKind {
    Select,
    Insert,
    Replace,
    Update,
    Delete,
    Ddl,
    /// A session operation, metadata or a probe: the session answers it.
    Session,
}

impl StatementKind {
    pub fn is_write(self) -> bool {
        matches!(
            self,
            StatementKind::Insert
                | StatementKind::Replace
                | StatementKind::Update
                | StatementKind::Delete
                | StatementKind::Ddl
        )
    }
}

/// How the targets were chosen; `shardgate route` prints it so operators can see a scatter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteKind {
    /// The statement names no table: any backend can answer.
    NoTable,
    /// The sharding key (or a single/broadcast table) picked exactly these targets.
    Direct,
    /// The sharding key did not narrow the statement: every physical table.
    Scatter,
    /// A broadcast write or DDL: every copy.
    Broadcast,
    /// No physical statement of the client's: the session answers (session operations,
    /// metadata, probes).
    Session,
}

/// One statement for one backend. The SQL names tables fully qualified (`order_db_18.t_order_4`)
/// so one connection pool per backend serves all of its databases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhysicalStatement {
    pub backend: BackendId,
    /// The database the statement's tables live in; `None` for a statement that names no table.
    pub database: Option<DatabaseId>,
    pub sql: String,
    /// For a prepared statement: which of the client's parameters this statement's `?`s take,
    /// in order. Empty for text statements, whose literals are in `sql`.
    pub params: Vec<usize>,
}

/// How a write or DDL on several tables reports affected rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AffectedRows {
    /// Each table holds other rows: the counts add up.
    Sum,
    /// Broadcast copies change alike: the client sees one copy's count.
    OneCopy,
}

/// A SELECT on several physical tables and the merge of their results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scatter {
    pub statements: Vec<PhysicalStatement>,
    pub merge: Box<SelectMerge>,
}

/// A write or DDL on several physical tables, answered with one OK (or, with RETURNING,
/// one result).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendToAll {
    pub statements: Vec<PhysicalStatement>,
    pub affected: AffectedRows,
    pub returning: Option<Returning>,
}

/// `INSERT/REPLACE/DELETE ... RETURNING` on several tables: every statement answers with
/// rows, and the client gets them as one result.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Returning {
    /// For an INSERT split by rows: the positions in the client's VALUES list of each
    /// statement's rows, in statement order, so the merged rows come back in the order the
    /// client wrote them (ORMs pair returned keys with their objects by that order). Empty:
    /// the statements' rows one statement after the other.
    pub row_order: Vec<Vec<usize>>,
}

/// Ids for the INSERT rows that left their key out (or gave NULL or 0 where the key
/// generator fills those). The ids decide the rows' tables, so they are taken while
/// planning, from a key source that answers at once: the planner never waits for ids. When
/// a generator must wait (a Leaf segment to fetch), the session awaits it and plans again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generate {
    /// The key generator's name (`key_generators` in the YAML).
    pub generator: String,
    /// The column the ids fill: the table's sharding column.
    pub column: String,
    /// The ids, in row order: the first is what LAST_INSERT_ID() reports.
    pub keys: Vec<i64>,
}

/// How the physical statements run and their answers become the client's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// One physical statement; its answer passes through (rows not decoded, column names
    /// mapped to logical ones).
    Route(PhysicalStatement),
    /// A SELECT on several tables; the engine batches the statements per backend server and
    /// merges the results.
    Scatter(Scatter),
    /// A write or DDL on several tables.
    SendToAll(SendToAll),
    /// SET, transactions, savepoints, USE, SQL PREPARE/EXECUTE/DEALLOCATE: applied to the
    /// session's state.
    SessionOp(SessionOp),
    /// SHOW, DESCRIBE, information_schema: answered from the topology or by a backend, off
    /// the transaction's connection.
    Metadata(Metadata),
    /// DATABASE(), USER(), @@variables, NEXTVAL: answered by the session.
    Probe(ProbeStep),
    /// A write on a table being migrated: run on the source of truth, then copied.
    DualWrite(Box<DualWrite>),
    /// A write on a table whose layouts are switching (the logical table named): held at
    /// the fence, then planned again.
    Fence(String),
    /// A SELECT over a derived table with LIMIT over a sharded table: the derived table's
    /// query runs first; what it finds plans the second phase.
    Subquery(Box<Subquery>),
    /// A SELECT with `IN (SELECT ...)`, `EXISTS (SELECT ...)` or a scalar subquery over a
    /// sharded table in its WHERE: the subquery first, then the statement with its answer
    /// written in, planned again.
    SubqueryValues(Box<SubqueryValues>),
    /// UNION or UNION ALL over sharded tables: each branch planned and run as a SELECT of
    /// its own, their rows merged.
    Union(Box<Union>),
    /// A join of two tables that do not live together: the left table's rows, then the
    /// right table's matching rows in batches, joined by the proxy.
    CrossJoin(Box<CrossJoin>),
    /// A SELECT with window functions over several physical tables: its rows first, then
    /// the window functions computed by the proxy.
    WindowFunctions(Box<WindowFunctions>),
}

impl Step {
    /// The step for `statements` of a statement of `kind`: one statement is routed; several
    /// are scattered (a SELECT, merged by `merge`) or sent to all (`affected` says how their
    /// counts combine). A SELECT without statements scatters to none, and the engine
    /// refuses it.
    pub fn new(
        kind: StatementKind,
        mut statements: Vec<PhysicalStatement>,
        merge: impl FnOnce() -> SelectMerge,
        affected: AffectedRows,
    ) -> Step {
        if statements.len() == 1 {
            if let Some(one) = statements.pop() {
                return Step::Route(one);
            }
        }
        if kind == StatementKind::Select {
            Step::Scatter(Scatter {
                statements,
                merge: Box::new(merge()),
            })
        } else {
            Step::SendToAll(SendToAll {
                statements,
                affected,
                returning: None,
            })
        }
    }

    /// The step's kind, as logs name it.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Step::Route(_) => "route",
            Step::Scatter(_) => "scatter",
            Step::SendToAll(_) => "send_to_all",
            Step::SessionOp(_) => "session",
            Step::Metadata(_) => "metadata",
            Step::Probe(_) => "probe",
            Step::DualWrite(_) => "dual_write",
            Step::Fence(_) => "fence",
            Step::Subquery(_) => "subquery",
            Step::SubqueryValues(_) => "subquery_values",
            Step::Union(_) => "union",
            Step::CrossJoin(_) => "cross_join",
            Step::WindowFunctions(_) => "window_functions",
        }
    }

    /// The physical statements, in target order.
    pub fn statements(&self) -> &[PhysicalStatement] {
        match self {
            Step::Route(one) => std::slice::from_ref(one),
            Step::Scatter(s) => &s.statements,
            Step::SendToAll(s) => &s.statements,
            Step::DualWrite(d) => d.write.statements(),
            Step::SessionOp(_)
            | Step::Metadata(_)
            | Step::Probe(_)
            | Step::Fence(_)
            | Step::Subquery(_)
            | Step::SubqueryValues(_)
            | Step::Union(_)
            | Step::CrossJoin(_)
            | Step::WindowFunctions(_) => &[],
        }
    }

    /// Whether the step starts a new diagnostics area: MySQL clears the list of warnings
    /// for each statement that uses tables; SHOW WARNINGS, `@@warning_count` probes and
    /// session statements read or keep it.
    pub fn clears_diagnostics(&self) -> bool {
        match self {
            Step::Route(_)
            | Step::Scatter(_)
            | Step::SendToAll(_)
            | Step::DualWrite(_)
            | Step::Fence(_)
            | Step::Subquery(_)
            | Step::SubqueryValues(_)
            | Step::Union(_)
            | Step::CrossJoin(_)
            | Step::WindowFunctions(_) => true,
            Step::SessionOp(op) => {
                matches!(
                    op,
                    SessionOp::Prepared(crate::command::SqlPrepared::Execute { .. })
                )
            }
            Step::Metadata(Metadata::Show(show)) => {
                !matches!(show, crate::command::Show::Diagnostics { .. })
            }
            Step::Metadata(Metadata::InformationSchema { .. } | Metadata::Explain { .. }) => true,
            Step::Probe(_) => false,
        }
    }
}

/// A planned logical statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub kind: StatementKind,
    pub route: RouteKind,
    pub step: Step,
    /// Ids generated for INSERT rows that had none; `None` when no row needed one.
    pub generate: Option<Generate>,
    /// The logical tables a write or DDL statement names (indexes into the topology's
    /// tables); empty for SELECT.
    pub tables: Vec<usize>,
}

impl Plan {
    /// A plan the session answers itself: no physical statement of the client's.
    pub fn session(step: Step) -> Plan {
        Plan {
            kind: StatementKind::Session,
            route: RouteKind::Session,
            step,
            generate: None,
            tables: Vec::new(),
        }
    }

    /// The physical statements, in target order.
    pub fn statements(&self) -> &[PhysicalStatement] {
        self.step.statements()
    }

    /// The ids generated for INSERT rows, in row order (empty when none were).
    pub fn generated_keys(&self) -> &[i64] {
        self.generate.as_ref().map_or(&[], |g| &g.keys)
    }

    /// The merge of a SELECT over several tables; `None` for any other step.
    pub fn select_merge(&self) -> Option<&SelectMerge> {
        match &self.step {
            Step::Scatter(s) => Some(&s.merge),
            _ => None,
        }
    }

    /// A human-readable view of the plan (`shardgate route`): one line per physical statement,
    /// then the steps.
    pub fn explain<'a>(&'a self, topology: &'a shardgate_config::Topology) -> Explain<'a> {
        Explain::new(self, topology)
    }
}
