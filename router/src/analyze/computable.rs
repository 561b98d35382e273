//! Whether a merge over several physical tables can compute every output of a SELECT: known
//! aggregates as whole select items, expressions over them that the merge evaluates, group
//! keys and plain columns. Anything else is refused, never concatenated shard by shard.

use sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, FunctionArguments, OrderByKind, Query, Select, SelectItem,
    Visit, Visitor,
};
use std::ops::ControlFlow;

use super::merge::{aggregate_of, SelectList};
use super::policy::AGGREGATE_FUNCTIONS;
use super::project::ProjectionBuilder;
use crate::condition::Operand;
use crate::merge_expr::MergeExpr;
use crate::plan::AggregateFunction;

/// Aggregates the merge does not fold yet, even inside an expression.
const NOT_MERGED: &[&str] = &["GROUP_CONCAT", "BIT_", "STD", "VAR", "JSON_"];

/// The first aggregate or window function inside `expr`, by name: what a merge over several
/// physical tables would have to compute. A subquery's aggregates are its own (computed per
/// row where the subquery runs), not the statement's.
pub(super) fn aggregate_inside(expr: &Expr) -> Option<String> {
    struct Find {
        found: Option<String>,
        /// How many subqueries deep the walk is.
        depth: usize,
    }
    impl Visitor for Find {
        type Break = ();
        fn pre_visit_query(&mut self, _: &Query) -> ControlFlow<()> {
            self.depth += 1;
            ControlFlow::Continue(())
        }
        fn post_visit_query(&mut self, _: &Query) -> ControlFlow<()> {
            self.depth -= 1;
            ControlFlow::Continue(())
        }
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            if let (Expr::Function(f), 0) = (e, self.depth) {
                let name = f.name.to_string().to_ascii_uppercase();
                if f.over.is_some() {
                    self.found = Some(format!("{name}() OVER"));
                    return ControlFlow::Break(());
                }
                if AGGREGATE_FUNCTIONS.contains(&name.as_str()) {
                    self.found = Some(format!("{name}()"));
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        }
    }
    let mut find = Find {
        found: None,
        depth: 0,
    };
    let _ = expr.visit(&mut find);
    find.found
}

/// What a merge over several physical tables cannot compute in a select list, ORDER BY or
/// HAVING: the reason, or `None` when every output is a known aggregate, a plain expression
/// or a column.
pub(super) fn uncomputable(
    query: &Query,
    select: &Select,
    list: &SelectList,
    builder: &ProjectionBuilder<'_>,
    projections: &mut Vec<(usize, MergeExpr<Operand>)>,
) -> Option<String> {
    // Expressions read as their shapes (literals as `?`), so a reason is the same whether
    // the plan came from the shape cache or not.
    let shape = |e: &Expr| crate::normalize::normalize(&e.to_string()).shape;
    const COMPUTED: &str = "the merge computes COUNT, SUM, MIN, MAX, AVG (and their DISTINCT forms), BIT_AND/OR/XOR, GROUP_CONCAT and STD/VARIANCE as whole select items";
    for (column, item) in select.projection.iter().enumerate() {
        let expr = match item {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e,
            _ => continue,
        };
        match aggregate_of(expr) {
            Some((function, _)) => {
                let Expr::Function(f) = expr else { continue };
                let FunctionArguments::List(args) = &f.args else {
                    continue;
                };
                // GROUP_CONCAT's ORDER BY and SEPARATOR are the merge's (see
                // `group_concat`).
                if !args.clauses.is_empty() && function != AggregateFunction::GroupConcat {
                    return Some(format!(
                        "`{}` over several physical tables: aggregate clauses are not merged",
                        shape(expr)
                    ));
                }
                for arg in &args.args {
                    if let FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) = arg {
                        if let Some(inner) = aggregate_inside(e) {
                            return Some(format!(
                                "`{}` over several physical tables: {inner} inside an aggregate",
                                shape(expr)
                            ));
                        }
                    }
                }
            }
            None => {
                let Some(inner) = aggregate_inside(expr) else {
                    continue;
                };
                let computable =
                    !inner.ends_with("OVER") && !NOT_MERGED.iter().any(|f| inner.starts_with(f));
                match builder.build(expr) {
                    Ok(projection) if computable => projections.push((column, projection)),
                    Ok(_) => {
                        return Some(format!(
                            "`{}` over several physical tables: {inner} is not computed by the merge ({COMPUTED}; not inside expressions yet, nor window functions)",
                            shape(expr)
                        ))
                    }
                    Err(what) => {
                        return Some(format!(
                            "`{}` over several physical tables: the merge does not evaluate {what} (it evaluates arithmetic, comparisons, AND/OR/NOT, IS NULL, CASE, IFNULL, COALESCE, IF, NULLIF, ROUND, TRUNCATE, FLOOR, CEILING, ABS, GREATEST, LEAST, CONCAT, CONCAT_WS, LENGTH, CHAR_LENGTH, ASCII UPPER and LOWER, and CAST to CHAR, SIGNED, UNSIGNED and DECIMAL over COUNT, SUM, MIN, MAX, AVG and group keys)",
                            shape(expr)
                        ))
                    }
                }
            }
        }
    }
    if let Some(OrderByKind::Expressions(exprs)) = query.order_by.as_ref().map(|o| &o.kind) {
        for e in exprs {
            if list.position(&e.expr).is_some() {
                continue;
            }
            if let Some(inner) = aggregate_inside(&e.expr) {
                return Some(format!(
                    "ORDER BY `{}` over several physical tables: {inner} that is not a selected column",
                    shape(&e.expr)
                ));
            }
        }
    }
    None
}
