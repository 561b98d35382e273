//! Binding a UNION over sharded tables: each branch becomes a logical SELECT with the
//! statement's values written in, planned again when it runs.

use shardgate_config::Topology;

use crate::bind::Params;
use crate::bind_logical::bound_limit;
use crate::error::Result;
use crate::plan::{Plan, RouteKind, StatementKind, Step, Union};
use crate::template::{Template, UnionTemplate};

impl Template {
    pub(crate) fn bind_union(
        &self,
        topology: &Topology,
        params: Params<'_>,
        union: &UnionTemplate,
    ) -> Result<Plan> {
        let branches = union
            .branches
            .iter()
            .map(|range| self.logical_text(topology, params, range.clone()))
            .collect();
        let (limit, offset) =
            bound_limit(union.limit.as_ref(), &params, "a UNION over sharded tables")?;
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
