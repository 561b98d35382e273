//! SELECT: route by the WHERE clause, and describe the merge a multi-target result needs.

use sqlparser::ast::{
    Distinct, DuplicateTreatment, Expr, FunctionArguments, GroupByExpr, LimitClause, OrderByKind,
    OrderBySort, Query, Select, SelectItem, SetExpr,
};

use super::links::key_links;
use super::{Analysis, Class};
use crate::condition::{const_value, Cond, CondBuilder, Operand};
use crate::error::{Result, RouterError};
use crate::params::ParamValue;
use crate::plan::{AggregateFunction, CompareOp, Derived, SortKey, StatementKind};
use crate::template::{Edit, EditKind, HavingTemplate, MergeTemplate, RouteTemplate, Template};

pub(super) fn analyze(query: &Query, mut a: Analysis<'_>) -> Result<Template> {
    let select = match query.body.as_ref() {
        SetExpr::Select(select) if query.with.is_none() => Some(select.as_ref()),
        _ => None,
    };
    let Some(select) = select else {
        // UNION, CTEs, VALUES: fine over unsharded tables, not planned over sharded ones yet.
        if let Some(r) = (0..a.refs.len()).find(|r| a.layout(a.refs[*r].table).is_some()) {
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

    let links = key_links(&a, &select.from, select.selection.as_ref());
    let route = match a.classify(None, &links)? {
        Class::Sharded { layout_of } => {
            let cond = where_cond(&a, select.selection.as_ref());
            RouteTemplate::Sharded {
                layout_of,
                cond,
                key_assignments: Vec::new(),
            }
        }
        other => simple_route(other),
    };
    let merge = merge_template(&mut a, query, select)?;
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

fn operand(a: &Analysis<'_>, expr: &Expr) -> Operand {
    let is_key = |_: &Expr| false;
    let param_at = |e: &Expr| a.param_of(e);
    a.cond_builder(&is_key, &param_at).operand(expr)
}

/// Adds the LIMIT edits and returns the (offset, count) operands.
pub(super) fn limit_edits(
    a: &mut Analysis<'_>,
    limit: Option<&LimitClause>,
) -> Option<(Operand, Operand)> {
    let (offset, count) = match limit? {
        LimitClause::LimitOffset {
            limit: Some(count),
            offset,
            ..
        } => (offset.as_ref().map(|o| &o.value), count),
        LimitClause::OffsetCommaLimit { offset, limit } => (Some(offset), limit),
        LimitClause::LimitOffset { limit: None, .. } => return None,
    };
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

fn merge_template(a: &mut Analysis<'_>, query: &Query, select: &Select) -> Result<MergeTemplate> {
    // Select-list texts for matching ORDER BY keys to positions; positions after a `*` are
    // unknown until the shard result's columns are seen.
    let mut items: Vec<(usize, String, Option<String>)> = Vec::new();
    let mut aggregates = Vec::new();
    for (i, item) in select.projection.iter().enumerate() {
        let (expr, alias) = match item {
            SelectItem::UnnamedExpr(e) => (e, None),
            SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias.value.clone())),
            _ => break,
        };
        items.push((i, expr.to_string(), alias));
        if let Some((function, distinct)) = aggregate_of(expr) {
            aggregates.push((function, i, distinct));
        }
    }
    let position = |expr: &Expr| -> Option<usize> {
        let text = expr.to_string();
        items
            .iter()
            .find(|(_, t, alias)| {
                *t == text
                    || alias
                        .as_deref()
                        .is_some_and(|al| al.eq_ignore_ascii_case(&text))
            })
            .map(|(i, ..)| *i)
    };

    let mut order_by = Vec::new();
    if let Some(ob) = &query.order_by {
        match &ob.kind {
            OrderByKind::Expressions(exprs) => {
                for e in exprs {
                    let column = match ordinal(a, &e.expr) {
                        Some(n) => Some(n),
                        None => position(&e.expr),
                    };
                    order_by.push(SortKey {
                        column,
                        expr: e.expr.to_string(),
                        descending: matches!(e.options.sort, Some(OrderBySort::Desc)),
                    });
                }
            }
            OrderByKind::All(_) => {
                return Err(RouterError::Unsafe("ORDER BY ALL is not supported".into()))
            }
        }
    }
    let mut group_by_columns = Vec::new();
    let group_by: Vec<String> = match &select.group_by {
        GroupByExpr::Expressions(exprs, _) => {
            for e in exprs {
                group_by_columns.push(match ordinal(a, e) {
                    Some(n) => Some(n),
                    None => position(e),
                });
            }
            exprs.iter().map(|e| e.to_string()).collect()
        }
        GroupByExpr::All(_) => {
            return Err(RouterError::Unsafe("GROUP BY ALL is not supported".into()))
        }
    };
    let limit = limit_edits(a, query.limit_clause.as_ref());
    let grouped_or_distinct = !group_by.is_empty()
        || !aggregates.is_empty()
        || matches!(select.distinct, Some(Distinct::Distinct));
    let (derived, unsupported) =
        derived_columns(a, select, &aggregates, &order_by, grouped_or_distinct);
    let (having_filter, having_range) = match &select.having {
        Some(h) => {
            let param_at = |e: &Expr| a.param_of(e);
            let builder = HavingBuilder {
                position: &position,
                param_at: &param_at,
            };
            (builder.build(h), having_clause_range(a.src.text()))
        }
        None => (None, None),
    };
    Ok(MergeTemplate {
        having_filter,
        having_range,
        order_by,
        group_by,
        group_by_columns,
        derived,
        unsupported,
        aggregates,
        distinct: matches!(select.distinct, Some(Distinct::Distinct)),
        having: select.having.as_ref().map(|h| h.to_string()),
        limit,
    })
}

/// Columns the shard statements return after the client's, for the merge only:
/// - AVG(x) cannot be averaged from shard averages: SUM(x) and COUNT(x) follow, and the
///   merge divides;
/// - an ORDER BY key that is not selected is selected too, so the merge can sort by it.
fn derived_columns(
    a: &mut Analysis<'_>,
    select: &Select,
    aggregates: &[(AggregateFunction, usize, bool)],
    order_by: &[SortKey],
    grouped_or_distinct: bool,
) -> (Vec<Derived>, Option<String>) {
    let mut extra = String::new();
    let mut derived = Vec::new();
    let avgs = aggregates
        .iter()
        .filter(|(f, _, distinct)| *f == AggregateFunction::Avg && !distinct)
        .map(|(_, column, _)| *column);
    for column in avgs {
        let expr = match &select.projection[column] {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e,
            _ => continue,
        };
        let text = expr.to_string();
        let (Some(open), Some(close)) = (text.find('('), text.rfind(')')) else {
            continue;
        };
        let argument = &text[open + 1..close];
        if argument.contains('?') {
            // The derived copies would need the parameter again.
            a.literal_sensitive = true;
            return (
                Vec::new(),
                Some("AVG of an expression with parameters over several physical tables".into()),
            );
        }
        extra.push_str(&format!(", SUM({argument}), COUNT({argument})"));
        derived.push(Derived::AvgParts { avg: column });
    }
    if !grouped_or_distinct {
        for (key, sort) in order_by
            .iter()
            .enumerate()
            .filter(|(_, k)| k.column.is_none())
        {
            if sort.expr.contains('?') {
                a.literal_sensitive = true;
                return (
                    Vec::new(),
                    Some(
                        "ORDER BY an expression with parameters over several physical tables"
                            .into(),
                    ),
                );
            }
            extra.push_str(&format!(", {}", sort.expr));
            derived.push(Derived::SortKey { key });
        }
    }
    if extra.is_empty() {
        return (derived, None);
    }
    // The select list ends where FROM starts (sqlparser's spans of function calls stop short
    // of their closing parenthesis, so they cannot place it).
    let first_table = a
        .edits
        .iter()
        .filter(|e| matches!(e.kind, EditKind::Table(_)))
        .map(|e| e.range.start)
        .min();
    let text = a.src.text();
    let Some(end) = first_table.and_then(|t| text[..t].to_ascii_uppercase().rfind("FROM")) else {
        return (
            Vec::new(),
            Some("a merge column in a statement whose FROM cannot be located".into()),
        );
    };
    let end = text[..end].trim_end().len();
    a.edits.push(Edit {
        range: end..end,
        kind: EditKind::AppendWhenMulti(extra),
    });
    (derived, None)
}

/// Builds the merge's form of a HAVING clause: comparisons between selected columns (by
/// expression or alias) and constants, under AND / OR / NOT.
struct HavingBuilder<'f> {
    position: &'f dyn Fn(&Expr) -> Option<usize>,
    param_at: &'f dyn Fn(&Expr) -> Option<usize>,
}

impl HavingBuilder<'_> {
    fn build(&self, expr: &Expr) -> Option<HavingTemplate> {
        use sqlparser::ast::{BinaryOperator as B, UnaryOperator};
        Some(match expr {
            Expr::Nested(e) => self.build(e)?,
            Expr::BinaryOp {
                left,
                op: B::And,
                right,
            } => HavingTemplate::And(Box::new(self.build(left)?), Box::new(self.build(right)?)),
            Expr::BinaryOp {
                left,
                op: B::Or,
                right,
            } => HavingTemplate::Or(Box::new(self.build(left)?), Box::new(self.build(right)?)),
            Expr::UnaryOp {
                op: UnaryOperator::Not,
                expr,
            } => HavingTemplate::Not(Box::new(self.build(expr)?)),
            Expr::IsNull(e) => HavingTemplate::IsNull {
                column: (self.position)(e)?,
                negated: false,
            },
            Expr::IsNotNull(e) => HavingTemplate::IsNull {
                column: (self.position)(e)?,
                negated: true,
            },
            Expr::BinaryOp { left, op, right } => {
                let op = match op {
                    B::Eq => CompareOp::Eq,
                    B::NotEq => CompareOp::NotEq,
                    B::Lt => CompareOp::Lt,
                    B::LtEq => CompareOp::LtEq,
                    B::Gt => CompareOp::Gt,
                    B::GtEq => CompareOp::GtEq,
                    _ => return None,
                };
                let constant = |e: &Expr| {
                    let is_key = |_: &Expr| false;
                    let op = CondBuilder {
                        is_key: &is_key,
                        param_at: self.param_at,
                    }
                    .operand(e);
                    (!matches!(op, Operand::Unknown)).then_some(op)
                };
                if let (Some(column), Some(value)) = ((self.position)(left), constant(right)) {
                    HavingTemplate::Compare { column, op, value }
                } else if let (Some(value), Some(column)) = (constant(left), (self.position)(right))
                {
                    let flipped = match op {
                        CompareOp::Lt => CompareOp::Gt,
                        CompareOp::LtEq => CompareOp::GtEq,
                        CompareOp::Gt => CompareOp::Lt,
                        CompareOp::GtEq => CompareOp::LtEq,
                        other => other,
                    };
                    HavingTemplate::Compare {
                        column,
                        op: flipped,
                        value,
                    }
                } else {
                    return None;
                }
            }
            _ => return None,
        })
    }
}

/// Where `HAVING ...` stands in the statement: from the keyword to the ORDER BY, LIMIT,
/// locking clause or end that follows it.
fn having_clause_range(text: &str) -> Option<std::ops::Range<usize>> {
    let upper = text.to_ascii_uppercase();
    let word_at = |i: usize, len: usize| {
        let before = i == 0
            || !upper.as_bytes()[i - 1].is_ascii_alphanumeric() && upper.as_bytes()[i - 1] != b'_';
        let after = upper
            .as_bytes()
            .get(i + len)
            .is_none_or(|b| !b.is_ascii_alphanumeric() && *b != b'_');
        before && after
    };
    let find_word = |word: &str, from: usize| {
        let mut at = from;
        while let Some(i) = upper[at..].find(word) {
            if word_at(at + i, word.len()) {
                return Some(at + i);
            }
            at += i + word.len();
        }
        None
    };
    let start = find_word("HAVING", 0)?;
    let end = ["ORDER", "LIMIT", "FOR", "LOCK", "WINDOW"]
        .iter()
        .filter_map(|w| find_word(w, start + 6))
        .min()
        .unwrap_or_else(|| text.trim_end().trim_end_matches(';').len());
    Some(start..end)
}

/// `ORDER BY 2` means the second column. A `?` there came from the shape normalizer (a
/// prepared statement's `?` would be a constant, but those are rare enough to treat alike):
/// the template then depends on the literal and must not be reused.
fn ordinal(a: &mut Analysis<'_>, expr: &Expr) -> Option<usize> {
    match expr {
        Expr::Value(v) => match &v.value {
            sqlparser::ast::Value::Placeholder(_) => {
                a.literal_sensitive = true;
                None
            }
            other => match const_value(other) {
                ParamValue::Int(n) if n >= 1 => Some(n as usize - 1),
                _ => None,
            },
        },
        _ => {
            // A literal inside the expression makes its text, and so its match with the select
            // list, depend on the literal.
            if expr.to_string().contains('?') {
                a.literal_sensitive = true;
            }
            None
        }
    }
}

fn aggregate_of(expr: &Expr) -> Option<(AggregateFunction, bool)> {
    let Expr::Function(f) = expr else {
        return None;
    };
    let name = f.name.to_string().to_ascii_uppercase();
    let function = match name.as_str() {
        "COUNT" => AggregateFunction::Count,
        "SUM" => AggregateFunction::Sum,
        "MIN" => AggregateFunction::Min,
        "MAX" => AggregateFunction::Max,
        "AVG" => AggregateFunction::Avg,
        _ => return None,
    };
    let distinct = matches!(
        &f.args,
        FunctionArguments::List(list) if matches!(list.duplicate_treatment, Some(DuplicateTreatment::Distinct))
    );
    Some((function, distinct))
}
