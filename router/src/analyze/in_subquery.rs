//! `expr IN (SELECT ...)` over a sharded table in a SELECT's WHERE. Run on each shard, the
//! subquery would see only that shard's rows, so it runs first, on its own, merged over
//! every shard; its values are written into the statement as a list, which then plans like
//! any other (and prunes by key when `expr` is the sharding column). Uncorrelated only: the
//! subquery planned alone resolves its names as it did inside the statement, or fails.

use std::ops::Range;

use sqlparser::ast::{Expr, InTarget, Select, SetExpr, Visit, Visitor};

use super::derived::closing_parenthesis;
use super::Analysis;
use crate::error::{Result, RouterError};
use crate::template::EditKind;

/// How many of them one statement may have: each runs before the statement, one after the
/// other.
const MAX_SUBQUERIES: usize = 8;

/// The text inside the parentheses of the first `IN (SELECT ...)` of the WHERE clause that
/// reads a sharded table.
pub(super) fn find(select: &Select, a: &Analysis<'_>) -> Result<Option<Range<usize>>> {
    struct InSubqueries<'s, 'a> {
        a: &'s Analysis<'a>,
        found: Option<Range<usize>>,
        count: usize,
    }
    impl Visitor for InSubqueries<'_, '_> {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &Expr) -> std::ops::ControlFlow<()> {
            if let Expr::In {
                expr,
                target: InTarget::Subquery(subquery),
                ..
            } = expr
            {
                if matches!(expr.as_ref(), Expr::Tuple(_)) {
                    return std::ops::ControlFlow::Continue(());
                }
                let SetExpr::Select(body) = subquery.body.as_ref() else {
                    return std::ops::ControlFlow::Continue(());
                };
                let Some(start) = self.a.src.range(body.select_token.0.span).map(|r| r.start)
                else {
                    return std::ops::ControlFlow::Continue(());
                };
                let Some(end) = closing_parenthesis(self.a.src.text(), start) else {
                    return std::ops::ControlFlow::Continue(());
                };
                let reads_sharded = self.a.edits.iter().any(|e| match e.kind {
                    EditKind::Table(r) => {
                        e.range.start >= start
                            && e.range.end <= end
                            && self.a.layout(self.a.refs[r].table).is_some()
                    }
                    _ => false,
                });
                if reads_sharded {
                    self.count += 1;
                    self.found.get_or_insert(start..end);
                }
            }
            std::ops::ControlFlow::Continue(())
        }
    }
    let Some(selection) = select.selection.as_ref() else {
        return Ok(None);
    };
    let mut visitor = InSubqueries {
        a,
        found: None,
        count: 0,
    };
    let _ = selection.visit(&mut visitor);
    if visitor.count > MAX_SUBQUERIES {
        return Err(RouterError::Unsafe(format!(
            "more than {MAX_SUBQUERIES} IN (SELECT ...) over sharded tables in one statement"
        )));
    }
    Ok(visitor.found)
}
