//! Subqueries over a sharded table in a SELECT that run before the statement:
//! `expr IN (SELECT ...)`, `EXISTS (SELECT ...)` and a scalar `(SELECT ...)` (see
//! [`crate::plan::SubqueryValues`]). Not those correlated by the sharding key, which run on
//! the outer row's shard (see `correlated`). Uncorrelated only: the subquery planned alone
//! resolves its names as it did inside the statement, or fails (an outer column is unknown
//! to it).

use std::ops::Range;

use sqlparser::ast::{Expr, InTarget, Query, SetExpr, Visit, Visitor};

use super::Analysis;
use crate::error::{Result, RouterError};
use crate::normalize::closing_parenthesis;
use crate::plan::SubqueryKind;
use crate::template::EditKind;

/// How many of them one statement may have: each runs before the statement, one after the
/// other.
const MAX_SUBQUERIES: usize = 8;

/// The first such subquery of the statement (its WHERE, select list, joins' conditions, a
/// derived table's WHERE) that reads a sharded table: its kind and the text inside its
/// parentheses. Uncorrelated, its answer is the same for every row, wherever it stands.
pub(super) fn find(
    query: &Query,
    a: &Analysis<'_>,
) -> Result<Option<(SubqueryKind, Range<usize>)>> {
    struct Subqueries<'s, 'a> {
        a: &'s Analysis<'a>,
        found: Option<(SubqueryKind, Range<usize>)>,
        count: usize,
    }
    impl Subqueries<'_, '_> {
        /// The text inside the parentheses of `query`, when it reads a sharded table.
        fn over_sharded(&self, query: &Query) -> Option<Range<usize>> {
            let SetExpr::Select(body) = query.body.as_ref() else {
                return None;
            };
            let start = self.a.src.range(body.select_token.0.span)?.start;
            let end = closing_parenthesis(self.a.src.text(), start)?;
            let reads_sharded = self.a.edits.iter().any(|e| match e.kind {
                EditKind::Table(r) => {
                    e.range.start >= start
                        && e.range.end <= end
                        && self.a.refs[r].depth > 0
                        && self.a.layout(self.a.refs[r].table).is_some()
                }
                _ => false,
            });
            reads_sharded.then_some(start..end)
        }
    }
    impl Visitor for Subqueries<'_, '_> {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &Expr) -> std::ops::ControlFlow<()> {
            let found = match expr {
                Expr::In {
                    expr,
                    target: InTarget::Subquery(query),
                    ..
                } if !matches!(expr.as_ref(), Expr::Tuple(_)) => {
                    self.over_sharded(query).map(|r| (SubqueryKind::In, r))
                }
                Expr::Exists { subquery, .. } => self
                    .over_sharded(subquery)
                    .map(|r| (SubqueryKind::Exists, r)),
                Expr::Subquery(query) => {
                    self.over_sharded(query).map(|r| (SubqueryKind::Scalar, r))
                }
                _ => None,
            };
            if let Some(found) = found {
                self.count += 1;
                self.found.get_or_insert(found);
            }
            std::ops::ControlFlow::Continue(())
        }
    }
    let mut visitor = Subqueries {
        a,
        found: None,
        count: 0,
    };
    let _ = query.visit(&mut visitor);
    if visitor.count > MAX_SUBQUERIES {
        return Err(RouterError::Unsafe(format!(
            "more than {MAX_SUBQUERIES} subqueries over sharded tables in one statement"
        )));
    }
    Ok(visitor.found)
}
