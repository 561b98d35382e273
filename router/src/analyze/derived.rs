//! A derived table with LIMIT over a sharded table, joined by key to tables of its binding
//! group: `SELECT ... FROM (SELECT ... FROM t_order WHERE ... ORDER BY ... LIMIT n) AS o
//! LEFT JOIN t_order_item i ON o.order_id = i.order_id`, which SQLAlchemy's `joinedload`
//! with LIMIT and paginators write. Each shard alone would pick its own first n rows, so the
//! statement cannot simply run everywhere. It runs in two phases ([`crate::plan::Subquery`]):
//! the derived table's query first, merged over every shard, which says where each of the
//! chosen rows lives; then the whole statement on each table holding some of them, its inner
//! LIMIT narrowed to the rows of that table. A table's share of the first n rows is a run of
//! its own rows in the same order, so the narrowed LIMIT picks them again, and the join
//! around them stays on that table because it is on the key.

use std::ops::Range;

use sqlparser::ast::{
    Expr, GroupByExpr, LimitClause, Query, Select, SelectItem, SelectItemQualifiedWildcardKind,
    SetExpr, Spanned, TableFactor,
};

use super::links::key_links;
use super::policy::AGGREGATE_FUNCTIONS;
use super::{Analysis, Class, DerivedKey};
use crate::condition::{Cond, Operand};
use crate::error::{Result, RouterError};
use crate::normalize::closing_parenthesis;
use crate::params::ParamValue;
use crate::plan::StatementKind;
use crate::template::{Edit, EditKind, RouteTemplate, Template, WindowTemplate};

/// The statement as a two-phase plan: its FROM has a derived table (`inner`, named
/// `alias`) that reads a sharded table.
pub(super) fn analyze(
    query: &Query,
    select: &Select,
    inner: &Query,
    alias: &str,
    mut a: Analysis<'_>,
) -> Result<Template> {
    let (shape, inner_ref) = shape(select, inner, alias, &mut a)?;
    let merge = super::merge::merge_template(&mut a, query, select)?;
    let layout_of = a.refs[inner_ref].table;
    let (cond, window) = match shape {
        Shape::Window(window) => (Cond::Any, Some(window)),
        Shape::Local { cond } => (cond, None),
    };
    let mut template = a.finish(
        StatementKind::Select,
        RouteTemplate::Sharded {
            layout_of,
            cond,
            key_assignments: Vec::new(),
        },
        merge,
        false,
    )?;
    template.window = window;
    Ok(template)
}

/// How a statement with a derived table over a sharded table runs.
enum Shape {
    /// With LIMIT: in two phases.
    Window(WindowTemplate),
    /// Without: each shard's derived rows are the shard's own, so the statement runs on
    /// every table its inner WHERE allows, as written.
    Local { cond: Cond },
}

/// The FROM clause's derived table, and its alias, when it has exactly one.
pub(super) fn derived_table(select: &Select) -> Option<(&Query, String)> {
    let mut found = None;
    for twj in &select.from {
        let factors = std::iter::once(&twj.relation).chain(twj.joins.iter().map(|j| &j.relation));
        for factor in factors {
            if let TableFactor::Derived {
                lateral: false,
                subquery,
                alias: Some(alias),
                ..
            } = factor
            {
                if found.is_some() {
                    return None;
                }
                found = Some((subquery.as_ref(), alias.name.value.clone()));
            }
        }
    }
    found
}

/// Checks the derived table's query and the joins around it, and records what the two
/// phases need (edits for the inner LIMIT, the key column, the inner text); also the ref
/// of the table it reads.
fn shape(
    select: &Select,
    inner: &Query,
    alias: &str,
    a: &mut Analysis<'_>,
) -> Result<(Shape, usize)> {
    let refuse = |why: &str| Err(RouterError::Unsafe(why.to_string()));
    let SetExpr::Select(body) = inner.body.as_ref() else {
        return refuse("a derived table over a sharded table must be one plain SELECT");
    };
    if inner.with.is_some() || inner.fetch.is_some() || !inner.locks.is_empty() {
        return refuse("a derived table over a sharded table must be one plain SELECT");
    }
    let limit = match &inner.limit_clause {
        None => None,
        Some(clause) => match limit_operands(a, Some(clause)) {
            Some(limit) => Some(limit),
            None => {
                return refuse(
                    "a derived table over a sharded table needs a LIMIT of literal numbers or parameters",
                )
            }
        },
    };
    let [only] = body.from.as_slice() else {
        return refuse("a derived table over a sharded table must read one table");
    };
    if !only.joins.is_empty() {
        return refuse("a derived table over a sharded table must read one table, without joins");
    }
    let TableFactor::Table {
        name,
        alias: table_alias,
        ..
    } = &only.relation
    else {
        return refuse("a derived table over a sharded table must read one table");
    };
    // The inner query's text: from its SELECT to the parenthesis that closes the derived
    // table.
    let start = a
        .src
        .range(body.select_token.0.span)
        .map(|r| r.start)
        .ok_or_else(|| RouterError::Unsafe("cannot locate the derived table's query".into()))?;
    let end = closing_parenthesis(a.src.text(), start)
        .ok_or_else(|| RouterError::Unsafe("cannot locate the derived table's end".into()))?;
    let inner_range: Range<usize> = start..end;
    let name_range = a
        .src
        .range(name.span())
        .ok_or_else(|| RouterError::Unsafe("cannot locate the derived table's table".into()))?;
    let inner_ref = a
        .edits
        .iter()
        .find_map(|e| match e.kind {
            EditKind::Table(r) if e.range.start == name_range.start => Some(r),
            _ => None,
        })
        .ok_or_else(|| RouterError::Unsafe("cannot locate the derived table's table".into()))?;
    let Some(layout) = a.layout(a.refs[inner_ref].table) else {
        return refuse("a derived table over a sharded table must read that table alone");
    };
    let table_name = &a.topology.tables[a.refs[inner_ref].table].name;
    let qualifier = table_alias
        .as_ref()
        .map(|t| t.name.value.clone())
        .unwrap_or_else(|| a.refs[inner_ref].written.clone());
    let key_output = key_output(&body.projection, &layout.sharding_column, &qualifier);
    // Its rows must each come from one shard: groups and distinct rows that hold the
    // sharding key do; others would span shards.
    let group_by = match &body.group_by {
        GroupByExpr::Expressions(exprs, modifiers) if modifiers.is_empty() => exprs.as_slice(),
        _ => {
            return refuse(
                "a derived table over a sharded table may not use GROUP BY ALL or WITH ROLLUP",
            )
        }
    };
    let names_key = |e: &Expr| names_column(e, &layout.sharding_column, &qualifier);
    let local_rows = if !group_by.is_empty() {
        group_by.iter().any(names_key)
    } else if folds_rows(&body.projection) || folds_rows(&inner.order_by) || body.having.is_some() {
        false
    } else if body.distinct.is_some() {
        key_output.is_some()
    } else {
        true
    };
    if !local_rows {
        return Err(RouterError::Unsafe(format!(
            "a derived table over sharded table `{table_name}` may group, aggregate or deduplicate rows only by its sharding column `{}` (other groups span shards)",
            layout.sharding_column
        )));
    }
    // Refs inside the derived table other than its one table are subqueries of it.
    if let Some(other) = (0..a.refs.len()).find(|r| *r != inner_ref && a.refs[*r].depth > 0) {
        if a.layout(a.refs[other].table).is_some() {
            return Err(RouterError::Unsafe(format!(
                "a subquery over sharded table `{}` would see only one shard's rows",
                a.topology.tables[a.refs[other].table].name
            )));
        }
    }
    a.refs[inner_ref].depth = 0;
    a.derived_key = key_output.clone().map(|column| DerivedKey {
        alias: alias.to_string(),
        column,
        inner_ref,
    });
    // The tables joined around it: of its binding group and on its key, or broadcast.
    let links = key_links(a, &select.from, select.selection.as_ref());
    match a.classify(None, &links)? {
        Class::Sharded { .. } => {}
        _ => return refuse(
            "a derived table over a sharded table is joined with tables it cannot be joined with",
        ),
    }
    let Some((offset, count)) = limit else {
        let cond = super::select::where_cond(a, body.selection.as_ref());
        return Ok((Shape::Local { cond }, inner_ref));
    };
    let key_column = key_output.ok_or_else(|| {
        RouterError::Unsafe(format!(
            "a derived table with LIMIT over sharded table `{table_name}` must select its sharding column `{}`, so each chosen row's shard is known",
            layout.sharding_column
        ))
    })?;
    // The inner LIMIT is rewritten per phase: `offset + count` rows from the first in the
    // first; each table's share in the second.
    let has_offset = offset.is_some();
    if let Some((op, range)) = &offset {
        a.edits.push(Edit {
            range: range.clone(),
            kind: EditKind::WindowOffset(op.clone()),
        });
    }
    a.edits.push(Edit {
        range: count.1.clone(),
        kind: EditKind::WindowCount {
            has_offset,
            count: count.0.clone(),
        },
    });
    let window = WindowTemplate {
        inner: inner_range,
        key_column,
        offset: offset.map_or(Operand::Const(ParamValue::Int(0)), |(op, _)| op),
        count: count.0,
    };
    Ok((Shape::Window(window), inner_ref))
}

/// The operands of a LIMIT clause and where their literals stand: `(offset, count)`;
/// `None` without a LIMIT or when a value is not a literal or placeholder.
#[allow(clippy::type_complexity)]
fn limit_operands(
    a: &Analysis<'_>,
    limit: Option<&LimitClause>,
) -> Option<(Option<(Operand, Range<usize>)>, (Operand, Range<usize>))> {
    let (offset, count) = super::select::limit_exprs(limit)?;
    let located = |expr: &Expr| -> Option<(Operand, Range<usize>)> {
        match expr {
            Expr::Value(v) => Some((super::select::operand(a, expr), a.src.range(v.span)?)),
            _ => None,
        }
    };
    let count = located(count)?;
    let offset = match offset {
        Some(o) => Some(located(o)?),
        None => None,
    };
    Some((offset, count))
}

/// Whether `node` (a select list, an ORDER BY) calls a function that folds rows (or a
/// window function).
fn folds_rows<V: sqlparser::ast::Visit>(node: &V) -> bool {
    use sqlparser::ast::Visitor;
    use std::ops::ControlFlow;
    struct Folding;
    impl Visitor for Folding {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
            if let Expr::Function(f) = expr {
                let name = f.name.to_string().to_ascii_uppercase();
                if f.over.is_some() || AGGREGATE_FUNCTIONS.contains(&name.as_str()) {
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        }
    }
    node.visit(&mut Folding).is_break()
}

/// Whether `expr` names column `column` of the table written as `qualifier`.
fn names_column(expr: &Expr, column: &str, qualifier: &str) -> bool {
    match expr {
        Expr::Nested(inner) => names_column(inner, column, qualifier),
        Expr::Identifier(c) => c.value.eq_ignore_ascii_case(column),
        Expr::CompoundIdentifier(parts) => match parts.as_slice() {
            [q, c] | [_, q, c] => {
                q.value.eq_ignore_ascii_case(qualifier) && c.value.eq_ignore_ascii_case(column)
            }
            _ => false,
        },
        _ => false,
    }
}

/// The name the inner result gives the sharding column, when the select list has it.
fn key_output(projection: &[SelectItem], key: &str, qualifier: &str) -> Option<String> {
    let names_key = |expr: &Expr| names_column(expr, key, qualifier);
    projection.iter().find_map(|item| match item {
        SelectItem::UnnamedExpr(e) if names_key(e) => Some(key.to_string()),
        SelectItem::ExprWithAlias { expr, alias } if names_key(expr) => Some(alias.value.clone()),
        SelectItem::Wildcard(_) => Some(key.to_string()),
        SelectItem::QualifiedWildcard(SelectItemQualifiedWildcardKind::ObjectName(n), _)
            if n.0.last().is_some_and(|p| {
                p.to_string()
                    .trim_matches('`')
                    .eq_ignore_ascii_case(qualifier)
            }) =>
        {
            Some(key.to_string())
        }
        _ => None,
    })
}
