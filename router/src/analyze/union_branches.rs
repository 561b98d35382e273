//! UNION and UNION ALL over sharded tables: `SELECT ... FROM t_order WHERE ... UNION [ALL]
//! SELECT ... FROM t_order_item ... ORDER BY 1 LIMIT 10`. Run on each shard, the statement
//! would deduplicate, sort and limit each shard's rows only, so it becomes a
//! [`crate::plan::Union`]: each branch's text, a SELECT planned on its own when the
//! statement runs (it prunes by its own key, merges its own aggregates), and the union's
//! DISTINCT, ORDER BY and LIMIT, which the proxy applies to the branches' rows.

use std::ops::Range;

use sqlparser::ast::{
    Expr, OrderByKind, OrderBySort, Query, SelectItem, SetExpr, SetOperator, SetQuantifier,
};

use super::clause_text::skip_blank;
use super::Analysis;
use crate::condition::Cond;
use crate::error::{Result, RouterError};
use crate::normalize::{closing_parenthesis, top_level_keyword};
use crate::plan::{SortKey, StatementKind, Union};
use crate::template::{MergeTemplate, RouteTemplate, Template, UnionTemplate};

fn refuse<T>(why: &str) -> Result<T> {
    Err(RouterError::Refused(why.to_string()))
}

/// The statement as a union of SELECTs planned on their own. `layout_of`: a sharded table
/// it reads (the union's representative for describing a prepared statement).
pub(super) fn analyze(query: &Query, layout_of: usize, mut a: Analysis<'_>) -> Result<Template> {
    if query.with.is_some() {
        return refuse("WITH over sharded tables is not supported yet");
    }
    if query.fetch.is_some() || !query.locks.is_empty() || query.for_clause.is_some() {
        return refuse(
            "a UNION over sharded tables with FETCH, FOR UPDATE or LOCK IN SHARE MODE is not supported",
        );
    }
    let mut leaves = Vec::new();
    let mut distinct_ops = Vec::new();
    flatten(&query.body, &mut leaves, &mut distinct_ops)?;
    if leaves.len() > Union::MAX_BRANCHES {
        return Err(RouterError::Refused(format!(
            "a UNION over sharded tables may have at most {} branches",
            Union::MAX_BRANCHES
        )));
    }
    // A DISTINCT union removes the duplicates of everything to its left: the last one
    // decides. Before an ALL union, it would cover only some of the branches.
    let distinct = match distinct_ops.iter().rposition(|d| *d) {
        None => false,
        Some(last) if last + 1 == distinct_ops.len() => true,
        Some(_) => {
            return refuse(
                "UNION ALL after a UNION (DISTINCT) over sharded tables is not supported yet (MySQL deduplicates only the branches to the DISTINCT union's left)",
            )
        }
    };
    let text = a.src.text();
    let tail = query.order_by.is_some() || query.limit_clause.is_some();
    let branches = branch_ranges(text, leaves.len(), tail)
        .ok_or_else(|| RouterError::Unsafe("cannot locate the UNION's branches".into()))?;
    let order_by = order_keys(query, leaves.first().copied(), &mut a)?;
    let limit = super::select::limit_operands(&a, query.limit_clause.as_ref());
    let route = RouteTemplate::Sharded {
        layout_of,
        cond: Cond::Any,
        key_assignments: Vec::new(),
    };
    let mut template = a.finish(
        StatementKind::Select,
        route,
        MergeTemplate::default(),
        false,
    )?;
    template.union = Some(UnionTemplate {
        branches,
        distinct,
        order_by,
        limit,
    });
    Ok(template)
}

/// The union's SELECTs in order, and for each union between them whether it is DISTINCT.
fn flatten<'q>(
    body: &'q SetExpr,
    leaves: &mut Vec<&'q SetExpr>,
    ops: &mut Vec<bool>,
) -> Result<()> {
    match body {
        SetExpr::SetOperation {
            op,
            set_quantifier,
            left,
            right,
        } => {
            if *op != SetOperator::Union {
                return refuse("INTERSECT and EXCEPT over sharded tables are not supported yet");
            }
            let distinct = match set_quantifier {
                SetQuantifier::All => false,
                SetQuantifier::Distinct | SetQuantifier::None => true,
                _ => return refuse("UNION BY NAME is not supported"),
            };
            flatten(left, leaves, ops)?;
            ops.push(distinct);
            flatten(right, leaves, ops)
        }
        SetExpr::Select(_) => {
            leaves.push(body);
            Ok(())
        }
        SetExpr::Query(q) if matches!(q.body.as_ref(), SetExpr::Select(_)) && q.with.is_none() => {
            leaves.push(body);
            Ok(())
        }
        SetExpr::Query(_) => refuse(
            "a UNION branch over sharded tables must be one SELECT (nested UNION and WITH are not supported yet)",
        ),
        _ => refuse("a UNION branch over sharded tables must be a SELECT"),
    }
}

/// Each branch's text, without the UNION keywords between them and without its own
/// parentheses: split at the top-level UNIONs; the last ends where the union's own ORDER BY
/// or LIMIT begins (`tail`).
fn branch_ranges(text: &str, count: usize, tail: bool) -> Option<Vec<Range<usize>>> {
    let mut ranges = Vec::with_capacity(count);
    let mut start = 0;
    while let Some(at) = top_level_keyword(text, "UNION", start) {
        ranges.push(start..at);
        start = at + "UNION".len();
        let next = skip_blank(text, start);
        for quantifier in ["ALL", "DISTINCT"] {
            let end = next + quantifier.len();
            let word = text.get(next..end)?;
            let whole = text
                .as_bytes()
                .get(end)
                .is_none_or(|b| !(b.is_ascii_alphanumeric() || *b == b'_' || *b == b'$'));
            if word.eq_ignore_ascii_case(quantifier) && whole {
                start = end;
            }
        }
    }
    let end = if tail {
        ["ORDER", "LIMIT"]
            .iter()
            .filter_map(|w| top_level_keyword(text, w, start))
            .min()?
    } else {
        text.len()
    };
    ranges.push(start..end);
    if ranges.len() != count {
        return None;
    }
    ranges
        .into_iter()
        .map(|r| unparenthesized(text, r))
        .collect()
}

/// A branch written in parentheses: the SELECT inside them.
fn unparenthesized(text: &str, range: Range<usize>) -> Option<Range<usize>> {
    let start = skip_blank(text, range.start);
    if text.as_bytes().get(start) != Some(&b'(') {
        return Some(range);
    }
    let close = closing_parenthesis(text, start + 1)?;
    if skip_blank(text, close + 1) < range.end {
        // Something follows the parentheses: not one parenthesized SELECT.
        return None;
    }
    Some(start + 1..close)
}

/// The union's ORDER BY, each key a column of the result: a position, or the name the
/// first branch gives a column.
fn order_keys(
    query: &Query,
    first: Option<&SetExpr>,
    a: &mut Analysis<'_>,
) -> Result<Vec<SortKey>> {
    let Some(order_by) = &query.order_by else {
        return Ok(Vec::new());
    };
    let OrderByKind::Expressions(exprs) = &order_by.kind else {
        return refuse("ORDER BY ALL is not supported");
    };
    let projection = match first {
        Some(SetExpr::Select(select)) => select.projection.as_slice(),
        Some(SetExpr::Query(q)) => match q.body.as_ref() {
            SetExpr::Select(select) => select.projection.as_slice(),
            _ => &[],
        },
        _ => &[],
    };
    let wildcard = projection.iter().any(|item| {
        matches!(
            item,
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)
        )
    });
    let mut keys = Vec::with_capacity(exprs.len());
    for e in exprs {
        let column = match super::merge::ordinal(a, &e.expr) {
            Some(n) if wildcard || n < projection.len() => Some(n),
            Some(n) => {
                return Err(RouterError::Refused(format!(
                    "the UNION's ORDER BY names column {} of {}",
                    n + 1,
                    projection.len()
                )))
            }
            None if wildcard => None,
            None => named_column(&e.expr, projection),
        };
        let Some(column) = column else {
            return Err(RouterError::Refused(format!(
                "ORDER BY {} over a UNION of sharded tables: it must name a column of the result (as the first SELECT names it) or give its position",
                e.expr
            )));
        };
        keys.push(SortKey {
            column: Some(column),
            expr: e.expr.to_string(),
            descending: matches!(e.options.sort, Some(OrderBySort::Desc)),
        });
    }
    Ok(keys)
}

/// The position of the result column `expr` names: an alias, or a column selected under its
/// own name.
fn named_column(expr: &Expr, projection: &[SelectItem]) -> Option<usize> {
    let Expr::Identifier(name) = expr else {
        return None;
    };
    let matches = |n: &str| n.eq_ignore_ascii_case(&name.value);
    projection.iter().position(|item| match item {
        SelectItem::ExprWithAlias { alias, .. } => matches(&alias.value),
        SelectItem::UnnamedExpr(Expr::Identifier(column)) => matches(&column.value),
        SelectItem::UnnamedExpr(Expr::CompoundIdentifier(parts)) => {
            parts.last().is_some_and(|p| matches(&p.value))
        }
        _ => false,
    })
}
