//! A SELECT over a derived table with LIMIT over a sharded table, run in two phases (see
//! `analyze::derived` for why the second phase is exact): the derived table's query first,
//! then the whole statement on the tables holding the rows it chose.

use std::collections::BTreeMap;

use shardgate_config::{ShardedLayout, TableKind, Topology};

use super::{AffectedRows, Plan, RouteKind, StatementKind, Step};
use crate::bind::Params;
use crate::condition::{Evaluator, KeyValue};
use crate::error::{Result, RouterError};
use crate::normalize::Literal;
use crate::params::ParamValue;
use crate::render::{Renderer, Target};
use crate::template::{RouteTemplate, Template};

/// The first phase's answer, the session's to compute: for each (database, table) of the
/// layout holding some of the derived table's rows, (how many of them the table's own order
/// skips, how many it gives).
pub type Windows = BTreeMap<(usize, usize), (u64, u64)>;

/// The two phases of a SELECT over a derived table with LIMIT over a sharded table.
#[derive(Debug, Clone)]
pub struct Subquery {
    /// The derived table's query as a logical statement reading its first `offset + count`
    /// rows: run first, merged over every shard.
    pub inner_sql: String,
    /// The column of the first phase's result holding the sharding key.
    pub key_column: String,
    /// How many of the first phase's rows the derived table skips (its OFFSET).
    pub offset: u64,
    outer: Box<Template>,
    /// The client's values, which the second phase renders.
    params: OwnedParams,
}

/// [`Params`] kept for the second phase.
#[derive(Debug, Clone)]
enum OwnedParams {
    /// A text statement and its literals.
    Text {
        sql: String,
        literals: Vec<Literal<'static>>,
    },
    /// A prepared statement's parameters: the second phase's statements keep their `?`.
    Prepared(Vec<ParamValue<'static>>),
    /// A prepared statement's parameters, written into the SQL as literals.
    Inline(Vec<ParamValue<'static>>),
}

impl OwnedParams {
    fn borrow(&self) -> Params<'_> {
        match self {
            OwnedParams::Text { sql, literals } => Params::Text { sql, literals },
            OwnedParams::Prepared(values) => Params::Prepared(values),
            OwnedParams::Inline(values) => Params::Inline(values),
        }
    }
}

impl PartialEq for Subquery {
    fn eq(&self, other: &Self) -> bool {
        self.inner_sql == other.inner_sql && self.outer.text == other.outer.text
    }
}

impl Eq for Subquery {}

impl Subquery {
    pub(crate) fn new(
        inner_sql: String,
        key_column: String,
        offset: u64,
        outer: Template,
        params: &Params<'_>,
    ) -> Subquery {
        let params = match params {
            Params::Text { sql, literals } => OwnedParams::Text {
                sql: sql.to_string(),
                literals: literals
                    .iter()
                    .map(|l| Literal {
                        span: l.span.clone(),
                        value: l.value.clone().into_owned(),
                    })
                    .collect(),
            },
            Params::Prepared(values) => {
                OwnedParams::Prepared(values.iter().map(|v| v.clone().into_owned()).collect())
            }
            Params::Inline(values) => {
                OwnedParams::Inline(values.iter().map(|v| v.clone().into_owned()).collect())
            }
        };
        Subquery {
            inner_sql,
            key_column,
            offset,
            outer: Box::new(outer),
            params,
        }
    }

    /// The (database, table) of the layout that holds a row whose key column reads `key`
    /// (its text spelling; `integer`: the column is of an integer type).
    pub fn locate(&self, topology: &Topology, key: &[u8], integer: bool) -> Option<(usize, usize)> {
        let layout = self.layout(topology)?;
        let text = std::str::from_utf8(key).ok()?;
        let value = if integer {
            KeyValue::Int(text.parse().ok()?)
        } else {
            KeyValue::Str(text)
        };
        let params = Params::Text {
            sql: "",
            literals: &[],
        };
        Evaluator {
            layout,
            params: &params,
        }
        .locate(value, true)
    }

    /// Whether the statement was planned for `topology` (the second phase renders for that
    /// one only).
    pub fn fits(&self, topology: &Topology) -> bool {
        self.outer.fits(topology)
    }

    /// The layout the derived table's table is sharded by.
    fn layout<'t>(&self, topology: &'t Topology) -> Option<&'t ShardedLayout> {
        let RouteTemplate::Sharded { layout_of, .. } = &self.outer.route else {
            return None;
        };
        match &topology.tables.get(*layout_of)?.kind {
            TableKind::Sharded(layout) => Some(layout),
            _ => None,
        }
    }

    /// The second phase: the whole statement on each table of `windows`, its derived
    /// table's LIMIT narrowed to that table's rows, merged as the statement says.
    pub fn outer_plan(&self, topology: &Topology, windows: &Windows) -> Result<Plan> {
        let layout = match self.layout(topology) {
            Some(layout) if self.outer.fits(topology) => layout,
            _ => return Err(RouterError::StaleTemplate),
        };
        // No row chosen: the statement still answers (with its columns, and aggregates
        // over no rows), from one table given none of its rows.
        let none = Windows::from([((0, 0), (0, 0))]);
        let windows = if windows.is_empty() { &none } else { windows };
        let params = self.params.borrow();
        let multi = windows.len() > 1;
        let statements = windows
            .iter()
            .map(|(&(database, table), &window)| {
                let mut r = Renderer::new(
                    &self.outer,
                    topology,
                    params,
                    Target {
                        database: layout.databases.get(database).copied(),
                        table: Some(table),
                    },
                    multi,
                );
                r.window = Some(window);
                self.outer.render_all(r, multi)
            })
            .collect();
        let step = Step::new(
            StatementKind::Select,
            statements,
            || self.outer.select_merge(&params),
            AffectedRows::Sum,
        );
        Ok(Plan {
            kind: StatementKind::Select,
            route: if multi {
                RouteKind::Scatter
            } else {
                RouteKind::Direct
            },
            step,
            generate: None,
            tables: Vec::new(),
        })
    }
}
