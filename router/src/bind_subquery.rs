//! Binding the statements whose subqueries over sharded tables run first: a derived table
//! with LIMIT ([`Subquery`]), and a subquery in WHERE ([`SubqueryValues`]).

use std::ops::Range;

use shardgate_config::Topology;

use crate::bind::{int_of, Params};
use crate::error::{Result, RouterError};
use crate::plan::{Plan, RouteKind, StatementKind, Step, Subquery, SubqueryKind, SubqueryValues};
use crate::render::{Renderer, Target};
use crate::template::{Template, WindowTemplate};

impl Template {
    /// A SELECT over a derived table with LIMIT over a sharded table: its first phase is
    /// the derived table's query as a logical statement, reading its first offset + count
    /// rows; the second is planned from what that finds.
    pub(crate) fn bind_subquery(
        &self,
        topology: &Topology,
        params: Params<'_>,
        window: &WindowTemplate,
    ) -> Result<Plan> {
        let logical = Target {
            database: None,
            table: None,
        };
        let mut r = Renderer::new(self, topology, params, logical, false);
        r.inline_params = true;
        r.range(window.inner.clone());
        let inner_sql = r.out;
        let offset = int_of(&window.offset, &params).unwrap_or(0).max(0) as u64;
        let subquery = Subquery::new(
            inner_sql,
            window.key_column.clone(),
            offset,
            self.clone(),
            &params,
        );
        Ok(Plan {
            kind: StatementKind::Select,
            route: RouteKind::Scatter,
            step: Step::Subquery(Box::new(subquery)),
            generate: None,
            tables: Vec::new(),
        })
    }

    /// A subquery over a sharded table that runs first: it, and the text around it that
    /// takes its answer, as logical statements with a prepared statement's values written
    /// in. The template was analyzed from the statement's own text.
    pub(crate) fn bind_in_subquery(
        &self,
        topology: &Topology,
        params: Params<'_>,
        kind: SubqueryKind,
        inner: Range<usize>,
    ) -> Result<Plan> {
        if let Params::Text { literals, .. } = params {
            if !literals.is_empty() {
                return Err(RouterError::Refused(
                    "a subquery over a sharded table in a statement planned by its shape".into(),
                ));
            }
        }
        let text = |range: Range<usize>| self.logical_text(topology, params, range);
        let values = SubqueryValues {
            kind,
            inner_sql: text(inner.clone()),
            before: text(0..inner.start),
            after: text(inner.end..self.text.len()),
        };
        Ok(Plan {
            kind: StatementKind::Select,
            route: RouteKind::Scatter,
            step: Step::SubqueryValues(Box::new(values)),
            generate: None,
            tables: Vec::new(),
        })
    }
}
