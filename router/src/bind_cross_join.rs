//! Binding a join across shards: each side's SELECT as a logical statement with the
//! statement's values written in, planned again when it runs.

use std::ops::Range;

use shardgate_config::Topology;

use crate::bind::Params;
use crate::bind_logical::bound_limit;
use crate::error::Result;
use crate::plan::{CrossJoin, Plan, RouteKind, StatementKind, Step};
use crate::template::{JoinSide, JoinTemplate, Template};

/// The alias each side's join column is read under.
const KEY_ALIAS: &str = "__sg_key";

impl Template {
    pub(crate) fn bind_cross_join(
        &self,
        topology: &Topology,
        params: Params<'_>,
        join: &JoinTemplate,
    ) -> Result<Plan> {
        let text = |range: &Range<usize>| self.logical_text(topology, params, range.clone());
        let select = |side: &JoinSide| {
            let mut items: Vec<String> = side
                .items
                .iter()
                .map(|item| match &item.hidden_alias {
                    Some(alias) => format!("{} AS {alias}", text(&item.range)),
                    None => text(&item.range),
                })
                .collect();
            items.push(format!("{} AS {KEY_ALIAS}", text(&side.key)));
            let conds: Vec<String> = side
                .conds
                .iter()
                .map(|c| format!("({})", text(c)))
                .collect();
            (
                format!("SELECT {} FROM {}", items.join(", "), side.from),
                conds,
            )
        };
        let (outer_select, outer_conds) = select(&join.outer);
        let outer_sql = if outer_conds.is_empty() {
            outer_select
        } else {
            format!("{outer_select} WHERE {}", outer_conds.join(" AND "))
        };
        let (inner_select, mut inner_conds) = select(&join.inner);
        let key = text(&join.inner.key);
        let column = key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.`$".contains(&b));
        inner_conds.push(if column {
            format!("{key} IN (")
        } else {
            format!("({key}) IN (")
        });
        let inner_prefix = format!("{inner_select} WHERE {}", inner_conds.join(" AND "));
        let (limit, offset) = bound_limit(join.limit.as_ref(), &params, "a join across shards")?;
        Ok(Plan {
            kind: StatementKind::Select,
            route: RouteKind::Scatter,
            step: Step::CrossJoin(Box::new(CrossJoin {
                left: join.left,
                outer_sql,
                outer_items: join.outer.items.len(),
                inner_prefix,
                inner_items: join.inner.items.len(),
                output: join.output.clone(),
                order_by: join.order_by.clone(),
                limit,
                offset,
            })),
            generate: None,
            tables: Vec::new(),
        })
    }
}
