//! Binding window functions over several physical tables: the rows' SELECT as a logical
//! statement with the statement's values written in (planned again when it runs), and the
//! statement on one table to describe the result's columns.

use std::ops::Range;

use shardgate_config::{TableKind, Topology};

use crate::bind::Params;
use crate::bind_logical::bound_limit;
use crate::error::{Result, RouterError};
use crate::plan::{PhysicalStatement, Plan, RouteKind, StatementKind, Step, WindowFunctions};
use crate::render::{Renderer, Target};
use crate::template::{RouteTemplate, Template, WindowFunctionsTemplate};

/// The alias of the rows' SELECT's `n`th hidden column.
fn hidden_alias(n: usize) -> String {
    format!("__sg_w{n}")
}

impl Template {
    /// The statement on the first physical table, its values written in (a `?` would
    /// type `SUM(amount * ?)` as DOUBLE where the value makes it DECIMAL).
    fn describing(&self, topology: &Topology, params: Params<'_>) -> Result<PhysicalStatement> {
        let target = match &self.route {
            RouteTemplate::Sharded { layout_of, .. } => match &topology.tables[*layout_of].kind {
                TableKind::Sharded(layout) => Target {
                    database: Some(layout.databases[0]),
                    table: Some(0),
                },
                _ => return Err(RouterError::StaleTemplate),
            },
            _ => return Err(RouterError::StaleTemplate),
        };
        let mut r = Renderer::new(self, topology, params, target, false);
        r.inline_params = true;
        Ok(self.render_all(r, false))
    }

    pub(crate) fn bind_window_functions(
        &self,
        topology: &Topology,
        params: Params<'_>,
        over: &WindowFunctionsTemplate,
    ) -> Result<Plan> {
        let text = |range: &Range<usize>| self.logical_text(topology, params, range.clone());
        let mut columns: Vec<String> = over.items.iter().map(text).collect();
        columns.extend(
            over.hidden
                .iter()
                .enumerate()
                .map(|(n, range)| format!("{} AS {}", text(range), hidden_alias(n))),
        );
        if columns.is_empty() {
            // `SELECT ROW_NUMBER() OVER () FROM t`: the rows still need a column.
            columns.push(format!("1 AS {}", hidden_alias(0)));
        }
        let rows_sql = format!("SELECT {} {}", columns.join(", "), text(&over.rest));
        let (limit, offset) = bound_limit(
            over.limit.as_ref(),
            &params,
            "a SELECT with window functions over several tables",
        )?;
        Ok(Plan {
            kind: StatementKind::Select,
            route: RouteKind::Scatter,
            step: Step::WindowFunctions(Box::new(WindowFunctions {
                rows_sql,
                describe: self.describing(topology, params)?,
                functions: over.functions.clone(),
                output: over.output.clone(),
                order_by: over.order_by.clone(),
                limit,
                offset,
            })),
            generate: None,
            tables: Vec::new(),
        })
    }
}
