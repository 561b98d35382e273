//! Binding a UNION over sharded tables: each branch becomes a logical SELECT with the
//! statement's values written in, planned again when it runs.

use shardgate_config::Topology;

use crate::bind::{int_of, Params};
use crate::error::{Result, RouterError};
use crate::plan::{Plan, RouteKind, StatementKind, Step, Union};
use crate::render::{Renderer, Target};
use crate::template::{Template, UnionTemplate};

impl Template {
    pub(crate) fn bind_union(
        &self,
        topology: &Topology,
        params: Params<'_>,
        union: &UnionTemplate,
    ) -> Result<Plan> {
        let logical = Target {
            database: None,
            table: None,
        };
        let branches = union
            .branches
            .iter()
            .map(|range| {
                let mut r = Renderer::new(self, topology, params, logical, false);
                r.inline_params = true;
                r.tables_as_written = true;
                r.range(range.clone());
                r.out
            })
            .collect();
        let (limit, offset) = match &union.limit {
            Some((offset, count)) => {
                let value = |op| {
                    int_of(op, &params).ok_or_else(|| {
                        RouterError::Refused(
                            "a UNION's LIMIT over sharded tables takes integers".into(),
                        )
                    })
                };
                let count = value(count)?.max(0) as u64;
                let offset = value(offset)?.max(0) as u64;
                (Some(count), offset)
            }
            None => (None, 0),
        };
        Ok(Plan {
            kind: StatementKind::Select,
            route: RouteKind::Scatter,
            step: Step::Union(Box::new(Union {
                branches,
                distinct: union.distinct,
                order_by: union.order_by.clone(),
                limit,
                offset,
            })),
            generate: None,
            tables: Vec::new(),
        })
    }
}
