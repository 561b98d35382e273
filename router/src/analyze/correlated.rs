//! Correlated subqueries that stay within one shard: `SELECT ... FROM t_order o WHERE
//! EXISTS (SELECT 1 FROM t_order_item i WHERE i.order_id = o.order_id AND ...)`. The
//! subquery reads a table of the outer table's binding group and ties its sharding column
//! to the outer row's, so every row it can see for an outer row lives in that row's shard:
//! it runs there, whole, as written (what Django's `Exists()` and SQLAlchemy's `any()`
//! write). Any other correlated subquery over a sharded table stays refused.

use sqlparser::ast::{BinaryOperator, Expr, Query, SetExpr, TableFactor, Visit, Visitor};

use super::Analysis;
use crate::collect::name_parts;
use crate::template::EditKind;

/// Marks the subqueries of `query` that are correlated to an outer table by the sharding
/// key as shard-local (their table joins the statement's own), and returns the equalities
/// that tie them, for the statement's key links.
pub(super) fn push_down(query: &Query, a: &mut Analysis<'_>) -> Vec<Expr> {
    // The subqueries directly in the outer statement's expressions.
    let mut subqueries: Vec<Query> = Vec::new();
    struct Collect<'v> {
        out: &'v mut Vec<Query>,
    }
    impl Visitor for Collect<'_> {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &Expr) -> std::ops::ControlFlow<()> {
            match expr {
                Expr::Exists { subquery, .. } => self.out.push(subquery.as_ref().clone()),
                Expr::Subquery(q) => self.out.push(q.as_ref().clone()),
                Expr::In {
                    target: sqlparser::ast::InTarget::Subquery(q),
                    ..
                } => self.out.push(q.as_ref().clone()),
                _ => {}
            }
            std::ops::ControlFlow::Continue(())
        }
    }
    let _ = query.visit(&mut Collect {
        out: &mut subqueries,
    });
    let mut links = Vec::new();
    for sub in &subqueries {
        if let Some((inner, link)) = correlated_by_key(sub, a) {
            a.refs[inner].depth = 0;
            links.push(link);
        }
    }
    links
}

/// The ref of a subquery's one table and the equality that ties its sharding column to an
/// outer table's of the same binding group; `None` for any other subquery.
fn correlated_by_key(sub: &Query, a: &Analysis<'_>) -> Option<(usize, Expr)> {
    let SetExpr::Select(select) = sub.body.as_ref() else {
        return None;
    };
    let [only] = select.from.as_slice() else {
        return None;
    };
    if !only.joins.is_empty() || sub.with.is_some() {
        return None;
    }
    let TableFactor::Table { name, alias, .. } = &only.relation else {
        return None;
    };
    let name_range = name.0.first().and_then(|p| p.as_ident()).map(|i| i.span)?;
    let start = a.src.range(name_range)?.start;
    let inner = a.edits.iter().find_map(|e| match e.kind {
        EditKind::Table(r) if e.range.start == start => Some(r),
        _ => None,
    })?;
    let inner_layout = a.layout(a.refs[inner].table)?;
    let qualifier = alias
        .as_ref()
        .map(|t| t.name.value.clone())
        .or_else(|| name_parts(name).pop())?;
    // Another sharded table inside the subquery would see one shard's rows only.
    let others = (0..a.refs.len())
        .any(|r| r != inner && a.refs[r].depth > 1 && a.layout(a.refs[r].table).is_some());
    if others {
        return None;
    }
    let mut parts = Vec::new();
    super::cross_join::conjuncts(select.selection.as_ref()?, &mut parts);
    for part in parts {
        let Expr::BinaryOp {
            left,
            op: BinaryOperator::Eq,
            right,
        } = part
        else {
            continue;
        };
        for (mine, theirs) in [(left, right), (right, left)] {
            let names_inner_key = match mine.as_ref() {
                Expr::Identifier(c) => c.value.eq_ignore_ascii_case(&inner_layout.sharding_column),
                Expr::CompoundIdentifier(p) => match p.as_slice() {
                    [q, c] => {
                        q.value.eq_ignore_ascii_case(&qualifier)
                            && c.value.eq_ignore_ascii_case(&inner_layout.sharding_column)
                    }
                    _ => false,
                },
                _ => false,
            };
            let Expr::CompoundIdentifier(p) = theirs.as_ref() else {
                continue;
            };
            let [q, c] = p.as_slice() else {
                continue;
            };
            if !names_inner_key || q.value.eq_ignore_ascii_case(&qualifier) {
                continue;
            }
            let outer = (0..a.refs.len()).find(|&r| {
                r != inner
                    && a.refs[r].depth == 0
                    && match &a.refs[r].alias {
                        Some(al) => al.eq_ignore_ascii_case(&q.value),
                        None => a.refs[r].written.eq_ignore_ascii_case(&q.value),
                    }
            })?;
            let outer_layout = a.layout(a.refs[outer].table)?;
            if outer_layout.binding_group == inner_layout.binding_group
                && c.value.eq_ignore_ascii_case(&outer_layout.sharding_column)
            {
                return Some((inner, part.clone()));
            }
        }
    }
    None
}
