//! The merge a SELECT over several physical tables needs: sort keys, groups, aggregates,
//! HAVING, and the columns the shard statements must return beyond the client's (derived
//! columns, hidden from the client).

use std::cell::{Cell, RefCell};
use std::ops::ControlFlow;

use sqlparser::ast::visit_expressions;
use sqlparser::ast::{
    Distinct, Expr, GroupByExpr, OrderByKind, OrderBySort, Query, Select, SelectItem,
};

use super::added_text::added_pieces;
pub(super) use super::aggregate::{aggregate_of, single_argument};
use super::computable::{aggregate_inside, uncomputable};
use super::group_concat::GroupConcatCall;
use super::having::{having_clause_range, HavingAggregate, HavingBuilder};
use super::project::ProjectionBuilder;
use super::select::limit_edits;
use super::shard_order::shard_order;
use super::Analysis;
use crate::condition::const_value;
use crate::error::{Result, RouterError};
use crate::normalize::top_level_keyword;
use crate::params::ParamValue;
use crate::plan::{AggregateFunction, Derived, SortKey};
use crate::template::{Edit, EditKind, GroupConcatTemplate, MergeTemplate};

/// Clauses that may follow GROUP BY (or WHERE) at a SELECT's top level.
pub(super) const AFTER_GROUP_BY: [&str; 8] = [
    "HAVING",
    "ORDER",
    "LIMIT",
    "FOR",
    "LOCK",
    "WINDOW",
    "INTO",
    "PROCEDURE",
];

/// The select list as the merge sees it.
pub(super) struct SelectList {
    /// (position, expression, alias); positions after a `*` are unknown until the shard
    /// result's columns are seen, so the list stops there.
    items: Vec<(usize, Expr, Option<String>)>,
    /// A comparison involved a placeholder: whether the expressions are the same depends on
    /// the values bound, so a shape's analysis cannot be reused for other literals.
    placeholder_compared: Cell<bool>,
}

impl SelectList {
    fn new(select: &Select) -> Self {
        let mut items = Vec::new();
        for (i, item) in select.projection.iter().enumerate() {
            let (expr, alias) = match item {
                SelectItem::UnnamedExpr(e) => (e, None),
                SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias.value.clone())),
                _ => break,
            };
            items.push((i, expr.clone(), alias));
        }
        SelectList {
            items,
            placeholder_compared: Cell::new(false),
        }
    }

    /// The select-list position of `expr`: the same syntax tree (literals included), or the
    /// name of an alias. Expressions with placeholders match nothing: the values bound decide
    /// whether they are the same, and a merge column must not depend on them.
    pub(super) fn position(&self, expr: &Expr) -> Option<usize> {
        if let Expr::Identifier(name) = expr {
            let by_alias = self.items.iter().find(|(_, _, alias)| {
                alias
                    .as_deref()
                    .is_some_and(|al| al.eq_ignore_ascii_case(&name.value))
            });
            if let Some((i, ..)) = by_alias {
                return Some(*i);
            }
        }
        // Parentheses change nothing: `DISTINCT(user_id)` selects `user_id`.
        let bare = unparenthesized(expr);
        let found = self
            .items
            .iter()
            .find(|(_, e, _)| unparenthesized(e) == bare)
            .map(|(i, ..)| *i);
        if found.is_some() && has_placeholder(expr) {
            self.placeholder_compared.set(true);
            return None;
        }
        found
    }
}

/// `expr` without the parentheses around it.
fn unparenthesized(mut expr: &Expr) -> &Expr {
    while let Expr::Nested(inner) = expr {
        expr = inner;
    }
    expr
}

/// Whether `expr` holds a `?` (a prepared statement's parameter, or a literal of a shape).
pub(super) fn has_placeholder(expr: &Expr) -> bool {
    let mut found = false;
    let _ = visit_expressions(expr, |e| {
        if let Expr::Value(v) = e {
            if matches!(v.value, sqlparser::ast::Value::Placeholder(_)) {
                found = true;
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    });
    found
}

pub(super) fn merge_template(
    a: &mut Analysis<'_>,
    query: &Query,
    select: &Select,
) -> Result<MergeTemplate> {
    let list = SelectList::new(select);
    let mut aggregates = Vec::new();
    for (i, item) in select.projection.iter().enumerate() {
        if let SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } = item {
            if let Some((function, distinct)) = aggregate_of(e) {
                aggregates.push((function, i, distinct));
            }
        }
    }
    let mut unsupported = None;
    // GROUP_CONCATs: read once, for the derived columns and the merge.
    let mut group_concat_calls = Vec::new();
    let mut group_concats = Vec::new();
    for &(function, column, _) in &aggregates {
        if function != AggregateFunction::GroupConcat {
            continue;
        }
        let expr = match &select.projection[column] {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e,
            _ => continue,
        };
        match GroupConcatCall::read(expr) {
            Ok(call) => {
                let param_at = |e: &Expr| a.param_of(e);
                group_concats.push(GroupConcatTemplate {
                    column,
                    separator: call.separator_operand(&param_at),
                    descending: call.order.iter().map(|(_, d)| *d).collect(),
                    distinct: call.distinct,
                });
                group_concat_calls.push((column, call));
            }
            Err(reason) => {
                unsupported.get_or_insert(format!("{reason} over several physical tables"));
            }
        }
    }
    let mut order_by = Vec::new();
    if let Some(ob) = &query.order_by {
        match &ob.kind {
            OrderByKind::Expressions(exprs) => {
                for e in exprs {
                    let column = match ordinal(a, &e.expr) {
                        Some(n) => Some(n),
                        None => list.position(&e.expr),
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
    let mut group_exprs = Vec::new();
    match &select.group_by {
        GroupByExpr::Expressions(exprs, modifiers) => {
            if !modifiers.is_empty() {
                unsupported = Some("GROUP BY with a modifier (WITH ROLLUP)".into());
            }
            for e in exprs {
                group_by_columns.push(match ordinal(a, e) {
                    Some(n) => Some(n),
                    None => list.position(e),
                });
                group_exprs.push(e);
            }
        }
        GroupByExpr::All(_) => {
            return Err(RouterError::Unsafe("GROUP BY ALL is not supported".into()))
        }
    }
    let group_by: Vec<String> = group_exprs.iter().map(|e| e.to_string()).collect();
    let limit = limit_edits(a, query.limit_clause.as_ref());
    // Aggregates the merge folds without the client selecting them: for expressions over
    // aggregates first, then for HAVING.
    let having_aggregates = RefCell::new(Vec::new());
    let mut projections = Vec::new();
    {
        let param_at = |e: &Expr| a.param_of(e);
        let builder = ProjectionBuilder {
            list: &list,
            group_columns: &group_by_columns,
            param_at: &param_at,
            aggregates: &having_aggregates,
        };
        if let Some(reason) = uncomputable(query, select, &list, &builder, &mut projections) {
            unsupported.get_or_insert(reason);
        }
    }
    let grouped = !group_by.is_empty() || !aggregates.is_empty() || !projections.is_empty();
    if let (Some(h), false) = (&select.having, grouped) {
        if let Some(inner) = aggregate_inside(h) {
            // An aggregate in HAVING groups the whole query; the shards would each filter
            // their own single group.
            unsupported.get_or_insert(format!(
                "HAVING `{}` over several physical tables: {inner} without GROUP BY or a selected aggregate",
                crate::normalize::normalize(&h.to_string()).shape
            ));
        }
    }
    let distinct = matches!(select.distinct, Some(Distinct::Distinct));

    // HAVING on groups is the merge's: shards return partial groups. HAVING without groups
    // filters single rows, which each shard does for its own.
    let (having_filter, having_range, having) = match &select.having {
        Some(h) if grouped => {
            let param_at = |e: &Expr| a.param_of(e);
            let builder = HavingBuilder {
                list: &list,
                param_at: &param_at,
                aggregates: &having_aggregates,
                runs: &*a,
            };
            let filter = builder.build(h);
            let range = having_clause_range(a.src.text());
            // The clause as text, for explanations and errors, in its shape (literals as `?`),
            // so it reads the same whether the plan came from the shape cache or not.
            let text = crate::normalize::normalize(&h.to_string()).shape;
            (filter, range, Some(text))
        }
        _ => (None, None, None),
    };
    let mut plan = DerivedPlan {
        aggregates: &aggregates,
        group_concats: &group_concat_calls,
        order_by: &order_by,
        group_by: &group_by,
        group_by_columns: &group_by_columns,
        having_aggregates: &having_aggregates.into_inner(),
        grouped,
        distinct,
        derived: Vec::new(),
        extra: String::new(),
        group_extra: String::new(),
    };
    if let Err(reason) = plan.build(a, select) {
        unsupported.get_or_insert(reason);
    }
    let derived = plan.derived;
    if list.placeholder_compared.get() {
        a.literal_sensitive = true;
    }
    let shard_order = shard_order(
        &order_by,
        &group_by,
        &group_by_columns,
        &derived,
        grouped,
        distinct,
    );
    Ok(MergeTemplate {
        having_filter,
        having_range,
        order_by,
        group_by,
        group_by_columns,
        derived,
        unsupported,
        aggregates,
        group_concats,
        projections,
        distinct,
        having,
        limit,
        shard_order,
        union_safe: names_are_distinct(select),
    })
}

/// Whether the select list's column names are distinct (MySQL names a column by its alias,
/// its column's name, or an expression's text, compared without case). A wildcard with
/// anything else, or over a join, may repeat a name: not distinct.
fn names_are_distinct(select: &Select) -> bool {
    use sqlparser::ast::Expr;
    let tables: usize = select.from.iter().map(|t| 1 + t.joins.len()).sum();
    let mut names = std::collections::HashSet::new();
    for item in &select.projection {
        let name = match item {
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => {
                if tables > 1 || select.projection.len() > 1 {
                    return false;
                }
                continue;
            }
            SelectItem::ExprWithAlias { alias, .. } => alias.value.to_lowercase(),
            SelectItem::UnnamedExpr(Expr::Identifier(column)) => column.value.to_lowercase(),
            SelectItem::UnnamedExpr(Expr::CompoundIdentifier(parts)) => match parts.last() {
                Some(column) => column.value.to_lowercase(),
                None => return false,
            },
            SelectItem::UnnamedExpr(expr) => expr.to_string().to_lowercase(),
            _ => return false,
        };
        if !names.insert(name) {
            return false;
        }
    }
    true
}

/// Plans the columns the shard statements return after the client's, for the merge only:
/// - AVG(x) cannot be averaged from shard averages: SUM(x) and COUNT(x) follow, and the
///   merge divides;
/// - nor variances from shard variances: COUNT(x), SUM(x) and the sum of squares follow;
/// - an ORDER BY key that is not selected is selected too, so the merge can sort by it;
/// - so is a GROUP BY expression that is not selected, so the merge can group by it;
/// - the argument of COUNT/SUM/AVG(DISTINCT x), by which the shards also group;
/// - an aggregate HAVING needs that is not selected.
struct DerivedPlan<'p> {
    aggregates: &'p [(AggregateFunction, usize, bool)],
    group_concats: &'p [(usize, GroupConcatCall)],
    order_by: &'p [SortKey],
    group_by: &'p [String],
    group_by_columns: &'p [Option<usize>],
    having_aggregates: &'p [HavingAggregate],
    grouped: bool,
    distinct: bool,
    derived: Vec<Derived>,
    /// Text appended to the select list.
    extra: String,
    /// Text appended to the GROUP BY list (or a GROUP BY clause of its own).
    group_extra: String,
}

impl DerivedPlan<'_> {
    fn build(&mut self, a: &mut Analysis<'_>, select: &Select) -> std::result::Result<(), String> {
        let argument_of = |column: usize| -> Option<String> {
            let expr = match &select.projection[column] {
                SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e,
                _ => return None,
            };
            single_argument(expr)
        };
        let needs_literal = |a: &mut Analysis<'_>, text: &str, what: &str| {
            if text.contains('?') {
                // The derived copies would need the parameter again.
                a.literal_sensitive = true;
                return Err(format!(
                    "{what} of an expression with parameters over several physical tables"
                ));
            }
            Ok(())
        };
        for &(function, column, distinct) in self.aggregates {
            if function != AggregateFunction::Avg || distinct {
                continue;
            }
            let argument = argument_of(column).ok_or("AVG of several arguments")?;
            needs_literal(a, &argument, "AVG")?;
            self.extra
                .push_str(&format!(", SUM({argument}), COUNT({argument})"));
            self.derived.push(Derived::AvgParts { avg: column });
        }
        for &(function, column, _) in self.aggregates {
            if !function.is_variance() {
                continue;
            }
            let argument = argument_of(column).ok_or("a variance of several arguments")?;
            needs_literal(a, &argument, "a variance")?;
            self.extra.push_str(&format!(
                ", COUNT({argument}), SUM({argument}), SUM(({argument}) * (({argument}) + 0.0))"
            ));
            self.derived
                .push(Derived::VarianceParts { aggregate: column });
        }
        if !self.grouped && !self.distinct {
            for (key, sort) in self.order_by.iter().enumerate() {
                if sort.column.is_some() {
                    continue;
                }
                needs_literal(a, &sort.expr, "ORDER BY")?;
                self.extra
                    .push_str(&format!(", {} AS __sg_k{key}", sort.expr));
                self.derived.push(Derived::SortKey { key });
            }
        }
        if self.grouped {
            for (key, expr) in self.group_by.iter().enumerate() {
                if self.group_by_columns[key].is_some() {
                    continue;
                }
                needs_literal(a, expr, "GROUP BY")?;
                self.extra.push_str(&format!(", {expr} AS __sg_g{key}"));
                self.derived.push(Derived::GroupKey { key });
            }
        }
        for (column, call) in self.group_concats {
            for text in call.texts() {
                needs_literal(a, text, "GROUP_CONCAT")?;
            }
            self.extra.push_str(&call.derived_columns(*column));
            self.derived
                .push(Derived::GroupConcatParts { aggregate: *column });
        }
        for &(function, column, distinct) in self.aggregates {
            if !distinct
                || matches!(
                    function,
                    AggregateFunction::Min
                        | AggregateFunction::Max
                        | AggregateFunction::GroupConcat
                )
            {
                // MIN and MAX of the distinct values are MIN and MAX.
                continue;
            }
            let argument = argument_of(column)
                .ok_or("an aggregate of DISTINCT values of several expressions")?;
            needs_literal(a, &argument, "an aggregate of DISTINCT values")?;
            self.extra
                .push_str(&format!(", {argument} AS __sg_d{column}"));
            self.group_extra.push_str(&format!(", __sg_d{column}"));
            self.derived
                .push(Derived::DistinctArg { aggregate: column });
        }
        for (index, aggregate) in self.having_aggregates.iter().enumerate() {
            needs_literal(a, &aggregate.text, "HAVING")?;
            self.extra
                .push_str(&format!(", {} AS __sg_h{index}", aggregate.text));
            self.derived.push(Derived::HavingAggregate {
                index,
                function: aggregate.function,
                distinct: aggregate.distinct_argument.is_some(),
            });
            if let Some(argument) = &aggregate.distinct_argument {
                self.extra
                    .push_str(&format!(", {argument} AS __sg_hd{index}"));
                self.group_extra.push_str(&format!(", __sg_hd{index}"));
                self.derived.push(Derived::HavingDistinctArg { index });
            }
        }
        if self.extra.is_empty() {
            return Ok(());
        }
        // The select list ends where FROM starts (sqlparser's spans of function calls stop
        // short of their closing parenthesis, so they cannot place it).
        let text = a.src.text();
        let from = top_level_keyword(text, "FROM", 0)
            .ok_or("a merge column in a statement whose FROM cannot be located")?;
        let end = text[..from].trim_end().len();
        a.edits.push(Edit {
            range: end..end,
            kind: EditKind::AppendWhenMulti(added_pieces(a, &std::mem::take(&mut self.extra))),
        });
        if !self.group_extra.is_empty() {
            // Shards group by the DISTINCT arguments too: after the GROUP BY list, or in a
            // GROUP BY of their own after WHERE.
            let (after, extra) = match top_level_keyword(text, "GROUP", from) {
                Some(group) => (group, std::mem::take(&mut self.group_extra)),
                None => (from, format!(" GROUP BY {}", &self.group_extra[2..])),
            };
            let end = AFTER_GROUP_BY
                .iter()
                .filter_map(|w| top_level_keyword(text, w, after + 1))
                .min()
                .unwrap_or_else(|| text.trim_end().trim_end_matches(';').trim_end().len());
            let end = text[..end].trim_end().len();
            a.edits.push(Edit {
                range: end..end,
                kind: EditKind::AppendWhenMulti(added_pieces(a, &extra)),
            });
        }
        Ok(())
    }
}

/// `ORDER BY 2` means the second column. A `?` there came from the shape normalizer (a
/// prepared statement's `?` would be a constant, but those are rare enough to treat alike):
/// the template then depends on the literal and must not be reused.
/// Which result column an ORDER BY key of a statement the proxy sorts names: a position,
/// an alias, or the same expression as a select item (`names`: each item's alias and
/// expression). `Err(())` for a position past the select list.
pub(super) fn result_column(
    a: &mut Analysis<'_>,
    key: &Expr,
    names: &[(Option<String>, &Expr)],
) -> Result<Option<usize>, ()> {
    match ordinal(a, key) {
        Some(n) if n < names.len() => Ok(Some(n)),
        Some(_) => Err(()),
        None => Ok(names.iter().position(|(alias, expr)| match (key, alias) {
            (Expr::Identifier(name), Some(alias)) => name.value.eq_ignore_ascii_case(alias),
            _ => **expr == *key,
        })),
    }
}

pub(super) fn ordinal(a: &mut Analysis<'_>, expr: &Expr) -> Option<usize> {
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
