//! What the steps the proxy answers in phases share when they bind (a UNION, a join
//! across shards, window functions, subqueries that run first): parts of the statement as
//! logical statements of their own, and the LIMIT the proxy applies itself.

use std::ops::Range;

use shardgate_config::Topology;

use crate::bind::{int_of, Params};
use crate::condition::Operand;
use crate::error::{Result, RouterError};
use crate::render::{Renderer, Target};
use crate::template::Template;

/// A LIMIT the proxy applies itself (a UNION's, a join's, over window functions): (count,
/// offset), negative values as 0; `what` names the statement in the refusal of other values.
pub(crate) fn bound_limit(
    limit: Option<&(Operand, Operand)>,
    params: &Params<'_>,
    what: &str,
) -> Result<(Option<u64>, u64)> {
    let Some((offset, count)) = limit else {
        return Ok((None, 0));
    };
    let value = |op| {
        int_of(op, params)
            .ok_or_else(|| RouterError::Refused(format!("the LIMIT of {what} takes integers")))
    };
    Ok((
        Some(value(count)?.max(0) as u64),
        value(offset)?.max(0) as u64,
    ))
}

impl Template {
    /// `range` of the statement as a logical statement of its own: tables as written, a
    /// prepared statement's values written in; planned again when it runs.
    pub(crate) fn logical_text(
        &self,
        topology: &Topology,
        params: Params<'_>,
        range: Range<usize>,
    ) -> String {
        let logical = Target {
            database: None,
            table: None,
        };
        let mut r = Renderer::new(self, topology, params, logical, false);
        r.inline_params = true;
        r.tables_as_written = true;
        r.range(range);
        r.out
    }
}
