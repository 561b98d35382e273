//! SELECT: route by the WHERE clause, and describe the merge a multi-target result needs.

use sqlparser::ast::{Expr, LimitClause, Query, SetExpr};

use super::links::key_links;
use super::{Analysis, Class};
use crate::condition::{Cond, Operand};
use crate::error::{Result, RouterError};
use crate::params::ParamValue;
use crate::plan::StatementKind;
use crate::template::{Edit, EditKind, MergeTemplate, RouteTemplate, Template};

pub(super) fn analyze(query: &Query, mut a: Analysis<'_>) -> Result<Template> {
    let select = match query.body.as_ref() {
        SetExpr::Select(select) if query.with.is_none() => Some(select.as_ref()),
        _ => None,
    };
    let Some(select) = select else {
        let sharded = (0..a.refs.len()).find(|r| a.layout(a.refs[*r].table).is_some());
        // A UNION over sharded tables: its branches are planned on their own.
        if let (Some(r), SetExpr::SetOperation { .. }) = (sharded, query.body.as_ref()) {
            let layout_of = a.refs[r].table;
            return super::union_branches::analyze(query, layout_of, a);
        }
        // CTEs, VALUES: fine over unsharded tables, not planned over sharded ones yet.
        if let Some(r) = sharded {
            return Err(RouterError::Unsafe(format!(
                "UNION, WITH and parenthesized queries over sharded table `{}` are not supported yet",
                a.topology.tables[a.refs[r].table].name
            )));
        }
        let route = simple_route(a.classify(None, &[])?);
        return a.finish(
            StatementKind::Select,
            route,
            MergeTemplate::default(),
            false,
        );
    };

    // Subqueries tied to the outer row by the sharding key run on its shard, whole.
    let correlated = super::correlated::push_down(query, &mut a);
    // `IN (SELECT ...)`, `EXISTS` or a scalar subquery over a sharded table: the
    // subquery's answer first (see `subquery_values`). Planned from the statement's own
    // text each time.
    if let Some(inner) = super::subquery_values::find(query, &a)? {
        a.literal_sensitive = true;
        let mut template = a.finish(
            StatementKind::Select,
            RouteTemplate::NoTable,
            MergeTemplate::default(),
            false,
        )?;
        template.in_subquery = Some(inner);
        return Ok(template);
    }
    // A derived table over a sharded table runs in two phases (see `derived`).
    if let Some((inner, alias)) = super::derived::derived_table(select) {
        let reads_sharded = a
            .refs
            .iter()
            .any(|r| r.depth > 0 && a.layout(r.table).is_some());
        if reads_sharded {
            return super::derived::analyze(query, select, inner, &alias, a);
        }
    }
    let mut links = key_links(&a, &select.from, select.selection.as_ref());
    links.extend(correlated);
    let class = match a.classify(None, &links) {
        // Two tables no shard holds together: joined by the proxy (see `cross_join`).
        Err(RouterError::Unsafe(why))
            if a.system_tables == 0 && super::cross_join::candidate(select, &a) =>
        {
            // Refused as a cross-shard join too: both reasons.
            return super::cross_join::analyze(query, select, a).map_err(|e| match e {
                RouterError::Unsafe(also) => RouterError::Unsafe(format!("{why}, and {also}")),
                other => other,
            });
        }
        other => other?,
    };
    let route = match class {
        Class::Sharded { layout_of } => {
            let cond = where_cond(&a, select.selection.as_ref());
            super::key_list::key_list_edits(&mut a, select.selection.as_ref(), layout_of);
            RouteTemplate::Sharded {
                layout_of,
                cond,
                key_assignments: Vec::new(),
            }
        }
        other => simple_route(other),
    };
    // Window functions: one table answers them whole; over several, the proxy computes
    // them (see `window_functions`), or the statement is refused there with the reason.
    if matches!(route, RouteTemplate::Sharded { .. }) && super::window_functions::candidate(select)
    {
        match super::window_functions::analyze(query, select, &mut a) {
            Ok(over) => {
                let mut template = a.finish(
                    StatementKind::Select,
                    route,
                    MergeTemplate::default(),
                    false,
                )?;
                template.window_functions = Some(over);
                return Ok(template);
            }
            Err(reason) => {
                let mut merge = super::merge::merge_template(&mut a, query, select)?;
                merge.unsupported = Some(reason);
                return a.finish(StatementKind::Select, route, merge, false);
            }
        }
    }
    let merge = super::merge::merge_template(&mut a, query, select)?;
    a.finish(StatementKind::Select, route, merge, false)
}

pub(super) fn simple_route(class: Class) -> RouteTemplate {
    match class {
        Class::NoTable => RouteTemplate::NoTable,
        Class::Single(database) => RouteTemplate::Single { database },
        Class::Broadcast => RouteTemplate::BroadcastRead,
        // Callers route sharded statements by their condition; without one, every table.
        Class::Sharded { layout_of } => RouteTemplate::Sharded {
            layout_of,
            cond: Cond::Any,
            key_assignments: Vec::new(),
        },
    }
}

pub(super) fn where_cond(a: &Analysis<'_>, selection: Option<&Expr>) -> Cond {
    let is_key = |e: &Expr| a.is_key(e);
    let param_at = |e: &Expr| a.param_of(e);
    match selection {
        Some(expr) => a.cond_builder(&is_key, &param_at).cond(expr),
        None => Cond::Any,
    }
}

pub(super) fn operand(a: &Analysis<'_>, expr: &Expr) -> Operand {
    let is_key = |_: &Expr| false;
    let param_at = |e: &Expr| a.param_of(e);
    a.cond_builder(&is_key, &param_at).operand(expr)
}

/// A LIMIT clause's (offset, count) expressions, however it is spelled; `None` without a
/// row count.
pub(super) fn limit_exprs(limit: Option<&LimitClause>) -> Option<(Option<&Expr>, &Expr)> {
    match limit? {
        LimitClause::LimitOffset {
            limit: Some(count),
            offset,
            ..
        } => Some((offset.as_ref().map(|o| &o.value), count)),
        LimitClause::OffsetCommaLimit { offset, limit } => Some((Some(offset), limit)),
        LimitClause::LimitOffset { limit: None, .. } => None,
    }
}

/// A LIMIT's (offset, count) operands, the offset 0 when it has none; `None` without a
/// LIMIT. For statements whose LIMIT the proxy applies itself (a UNION's, a join's).
pub(super) fn limit_operands(
    a: &Analysis<'_>,
    limit: Option<&LimitClause>,
) -> Option<(Operand, Operand)> {
    let (offset, count) = limit_exprs(limit)?;
    let operand = |e: &Expr| operand(a, e);
    Some((
        offset.map_or(Operand::Const(ParamValue::Int(0)), operand),
        operand(count),
    ))
}

/// Adds the LIMIT edits and returns the (offset, count) operands.
pub(super) fn limit_edits(
    a: &mut Analysis<'_>,
    limit: Option<&LimitClause>,
) -> Option<(Operand, Operand)> {
    let (offset, count) = limit_exprs(limit)?;
    let edit = |a: &mut Analysis<'_>, expr: &Expr, is_offset: bool| -> Operand {
        let op = operand(a, expr);
        if let Some(range) = expr_range(a, expr) {
            let kind = if is_offset {
                EditKind::LimitOffset(op.clone())
            } else {
                EditKind::LimitCount(op.clone())
            };
            a.edits.push(Edit { range, kind });
        }
        op
    };
    let count_op = edit(a, count, false);
    let offset_op = match offset {
        Some(o) => edit(a, o, true),
        None => Operand::Const(ParamValue::Int(0)),
    };
    Some((offset_op, count_op))
}

fn expr_range(a: &Analysis<'_>, expr: &Expr) -> Option<std::ops::Range<usize>> {
    match expr {
        Expr::Value(v) => a.src.range(v.span),
        _ => None,
    }
}
