//! Window functions over a sharded table: `SELECT order_id, ROW_NUMBER() OVER (PARTITION BY
//! user_id ORDER BY amount DESC) AS rn FROM t_order WHERE ... ORDER BY rn LIMIT 10`. One
//! physical table answers the statement whole; over several, no shard sees a whole
//! partition, so the statement becomes a [`crate::plan::WindowFunctions`]: its rows first
//! (the statement without its window functions, their arguments and PARTITION BY and ORDER
//! BY expressions read as hidden columns; planned and merged like any SELECT, grouping
//! included), then each window function computed by the proxy over those rows, then the
//! statement's ORDER BY and LIMIT.
//!
//! What it takes: select items each a window function (ROW_NUMBER, RANK, DENSE_RANK, COUNT,
//! SUM, MIN, MAX, AVG) or an expression without one; windows written in place, with the
//! default frame; no `*`, DISTINCT, named windows or locking reads. Refused with the reason
//! otherwise.

use std::ops::Range;

use sqlparser::ast::{
    Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments, OrderByKind, OrderBySort,
    Query, Select, SelectItem, SetExpr, Statement, WindowType,
};
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;

use super::clause_text::{self, Separator};
use super::Analysis;
use crate::normalize::{closing_parenthesis, top_level_keyword};
use crate::plan::{WindowColumn, WindowFunction, WindowKind};
use crate::template::WindowFunctionsTemplate;

/// Why the statement's window functions cannot be computed over several tables, as
/// `shardgate does not support {reason} yet` says it.
type Result<T> = std::result::Result<T, String>;

fn refuse<T>(why: &str) -> Result<T> {
    Err(format!(
        "window functions {why} over several physical tables"
    ))
}

fn unlocated<T>() -> Result<T> {
    refuse("whose parts cannot be located in the statement's text")
}

/// Whether the select list holds a window function.
pub(super) fn candidate(select: &Select) -> bool {
    select.projection.iter().any(|item| match item {
        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => has_window(e),
        _ => false,
    })
}

fn has_window(expr: &Expr) -> bool {
    let mut found = false;
    let _ = sqlparser::ast::visit_expressions(expr, |e| {
        if matches!(e, Expr::Function(f) if f.over.is_some()) {
            found = true;
            return std::ops::ControlFlow::Break(());
        }
        std::ops::ControlFlow::Continue(())
    });
    found
}

/// The columns of the rows' SELECT the proxy reads: the statement's items, then hidden
/// expressions, each read once. An expression with a literal in it (a `?` in the shape) is
/// read on its own: two alike may hold different values.
struct Hidden<'t, 'q> {
    text: &'t str,
    /// The select items that are not window functions, in order.
    items: Vec<&'q Expr>,
    ranges: Vec<Range<usize>>,
}

impl Hidden<'_, '_> {
    /// The rows' SELECT's column for `expr`, written at `range`, checked to parse back.
    fn column(&mut self, range: Range<usize>, expr: &Expr) -> Result<usize> {
        let range = clause_text::trimmed(self.text, range);
        if clause_text::parse_expr(&self.text[range.clone()]).as_ref() != Some(expr) {
            return unlocated();
        }
        let piece = &self.text[range.clone()];
        if !piece.contains('?') {
            // A selected expression is read where it is selected (a group key read twice
            // would not be taken for one by the merge).
            if let Some(at) = self.items.iter().position(|e| *e == expr) {
                return Ok(at);
            }
            if let Some(at) = self
                .ranges
                .iter()
                .position(|r| &self.text[r.clone()] == piece)
            {
                return Ok(self.items.len() + at);
            }
        }
        self.ranges.push(range);
        Ok(self.items.len() + self.ranges.len() - 1)
    }
}

/// A window function in an item's text: the ranges of its arguments and of the inside of
/// its `OVER (...)`.
fn window_text(text: &str, item: Range<usize>) -> Option<(Range<usize>, Range<usize>)> {
    let piece = &text[item.clone()];
    let open = item.start + piece.find('(')? + 1;
    let close = closing_parenthesis(text, open)?;
    let over = clause_text::skip_blank(text, close + 1);
    if !text.get(over..over + 4)?.eq_ignore_ascii_case("OVER") {
        return None;
    }
    let spec_open = clause_text::skip_blank(text, over + 4);
    if text.as_bytes().get(spec_open) != Some(&b'(') {
        return None;
    }
    let spec_close = closing_parenthesis(text, spec_open + 1)?;
    (spec_close < item.end).then_some((open..close, spec_open + 1..spec_close))
}

/// The parts of `keyword BY a, b, ...` inside `spec` (a window's parentheses), up to `ends`.
fn by_list(
    text: &str,
    spec: &Range<usize>,
    keyword: &str,
    ends: &[&str],
) -> Option<Vec<Range<usize>>> {
    let inside = &text[spec.clone()];
    let clause = clause_text::clause(inside, keyword, 0, ends)?;
    let clause = clause_text::trimmed(inside, clause);
    if !inside[clause.clone()]
        .to_ascii_uppercase()
        .starts_with("BY")
    {
        return None;
    }
    let parts = clause_text::split(inside, clause.start + 2..clause.end, Separator::Comma);
    Some(
        parts
            .into_iter()
            .map(|r| spec.start + r.start..spec.start + r.end)
            .collect(),
    )
}

/// The window function `f`, written at `item`, as the plan computes it.
fn function(
    f: &Function,
    text: &str,
    item: Range<usize>,
    hidden: &mut Hidden<'_, '_>,
) -> Result<WindowFunction> {
    let name = f.name.to_string();
    let Some(kind) = WindowKind::of(&name) else {
        return refuse(&format!("with {name}() (the proxy computes ROW_NUMBER, RANK, DENSE_RANK, COUNT, SUM, MIN, MAX and AVG)"));
    };
    let Some(WindowType::WindowSpec(spec)) = &f.over else {
        return refuse("with a named window (write the window in place)");
    };
    if spec.window_name.is_some() || spec.window_frame.is_some() {
        return refuse("with a window frame clause (ROWS/RANGE) or a named window");
    }
    if f.filter.is_some() || f.null_treatment.is_some() || !f.within_group.is_empty() {
        return refuse("with FILTER, IGNORE NULLS or WITHIN GROUP");
    }
    if spec
        .order_by
        .iter()
        .any(|o| o.options.nulls_first.is_some())
    {
        return refuse("with NULLS FIRST/LAST");
    }
    let Some((args_range, spec_range)) = window_text(text, item) else {
        return unlocated();
    };
    let args: &[FunctionArg] = match &f.args {
        FunctionArguments::None => &[],
        FunctionArguments::List(list) => {
            if list.duplicate_treatment.is_some() || !list.clauses.is_empty() {
                return refuse("with DISTINCT or clauses in the arguments");
            }
            &list.args
        }
        FunctionArguments::Subquery(_) => return refuse("with a subquery argument"),
    };
    let argument = match (kind, args) {
        (k, []) if k.is_ranking() => None,
        (WindowKind::Count, [FunctionArg::Unnamed(FunctionArgExpr::Wildcard)]) => None,
        (k, [FunctionArg::Unnamed(FunctionArgExpr::Expr(e))]) if !k.is_ranking() => {
            if has_window(e) {
                return refuse("inside another window function");
            }
            Some(hidden.column(args_range, e)?)
        }
        _ => return refuse(&format!("with {name} of these arguments")),
    };
    let mut partition_by = Vec::new();
    if !spec.partition_by.is_empty() {
        let Some(parts) = by_list(text, &spec_range, "PARTITION", &["ORDER"]) else {
            return unlocated();
        };
        if parts.len() != spec.partition_by.len() {
            return unlocated();
        }
        for (range, e) in parts.into_iter().zip(&spec.partition_by) {
            partition_by.push(hidden.column(range, e)?);
        }
    }
    let mut order_by = Vec::new();
    if !spec.order_by.is_empty() {
        let Some(parts) = by_list(text, &spec_range, "ORDER", &["ROWS", "RANGE"]) else {
            return unlocated();
        };
        if parts.len() != spec.order_by.len() {
            return unlocated();
        }
        for (range, o) in parts.into_iter().zip(&spec.order_by) {
            let range = clause_text::without_direction(text, range);
            let descending = matches!(o.options.sort, Some(OrderBySort::Desc));
            order_by.push((hidden.column(range, &o.expr)?, descending));
        }
    }
    Ok(WindowFunction {
        kind,
        argument,
        partition_by,
        order_by,
    })
}

/// The statement's tables, conditions and grouping (`FROM` up to its ORDER BY or LIMIT),
/// checked to parse back to the same clauses.
fn rest_range(text: &str, select: &Select) -> Result<Range<usize>> {
    let Some(from) = top_level_keyword(text, "FROM", 0) else {
        return unlocated();
    };
    let end = ["ORDER", "LIMIT", "WINDOW", "FOR", "LOCK", "INTO"]
        .iter()
        .filter_map(|w| top_level_keyword(text, w, from))
        .min()
        .unwrap_or(text.len());
    let range = clause_text::trimmed(text, from..end);
    let again = format!("SELECT 1 {}", &text[range.clone()]);
    let parsed = Parser::parse_sql(&MySqlDialect {}, &again).ok();
    let same = match parsed.as_deref() {
        Some([Statement::Query(q)]) => match q.body.as_ref() {
            SetExpr::Select(s) => {
                s.from == select.from
                    && s.selection == select.selection
                    && s.group_by == select.group_by
                    && s.having == select.having
            }
            _ => false,
        },
        _ => false,
    };
    if !same {
        return unlocated();
    }
    Ok(range)
}

pub(super) fn analyze(
    query: &Query,
    select: &Select,
    a: &mut Analysis<'_>,
) -> Result<WindowFunctionsTemplate> {
    if query.with.is_some() || query.fetch.is_some() || !query.locks.is_empty() {
        return refuse("with WITH, FETCH or locking reads");
    }
    if select.distinct.is_some() || select.into.is_some() || select.qualify.is_some() {
        return refuse("with DISTINCT, INTO or QUALIFY");
    }
    if !select.named_window.is_empty() {
        return refuse("with a WINDOW clause (write the window in place)");
    }
    let text = a.src.text().to_string();
    let text = text.as_str();
    let Some(list) = clause_text::clause(text, "SELECT", 0, &["FROM"]) else {
        return unlocated();
    };
    let item_ranges = clause_text::split(text, list, Separator::Comma);
    if item_ranges.len() != select.projection.len() {
        return unlocated();
    }
    // The items first: the hidden columns come after them.
    let mut items = Vec::new();
    let mut item_exprs = Vec::new();
    let mut windows = Vec::new();
    let mut names: Vec<(Option<String>, &Expr)> = Vec::new();
    for (item, range) in select.projection.iter().zip(item_ranges) {
        if clause_text::parse_select_item(&text[range.clone()]).as_ref() != Some(item) {
            return unlocated();
        }
        let (expr, alias) = match item {
            SelectItem::UnnamedExpr(e) => (e, None),
            SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias.value.clone())),
            _ => return refuse("with `*` in the select list (name the columns)"),
        };
        names.push((alias, expr));
        match expr {
            Expr::Function(f) if f.over.is_some() => windows.push((f, range)),
            e if has_window(e) => {
                return refuse("inside an expression (the proxy computes a select item that is one window function)")
            }
            _ => {
                items.push(range);
                item_exprs.push(expr);
            }
        }
    }
    let mut hidden = Hidden {
        text,
        items: item_exprs,
        ranges: Vec::new(),
    };
    let mut functions = Vec::new();
    for (f, range) in &windows {
        functions.push(function(f, text, range.clone(), &mut hidden)?);
    }
    let mut output = Vec::new();
    let (mut item_at, mut function_at) = (0, 0);
    for (_, expr) in &names {
        if matches!(expr, Expr::Function(f) if f.over.is_some()) {
            output.push(WindowColumn::Function(function_at));
            function_at += 1;
        } else {
            output.push(WindowColumn::Row(item_at));
            item_at += 1;
        }
    }

    // ORDER BY: result columns (by position, name or the same expression), or other
    // expressions read as hidden columns.
    let mut order_by = Vec::new();
    if let Some(ob) = &query.order_by {
        let OrderByKind::Expressions(exprs) = &ob.kind else {
            return refuse("with ORDER BY ALL");
        };
        let from = top_level_keyword(text, "FROM", 0).unwrap_or(0);
        let Some(key_ranges) = clause_text::order_by_keys(text, from) else {
            return unlocated();
        };
        if key_ranges.len() != exprs.len() {
            return unlocated();
        }
        for (e, range) in exprs.iter().zip(key_ranges) {
            if e.options.nulls_first.is_some() {
                return refuse("with NULLS FIRST/LAST");
            }
            let descending = matches!(e.options.sort, Some(OrderBySort::Desc));
            let Ok(position) = super::merge::result_column(a, &e.expr, &names) else {
                return refuse("with ORDER BY a position past the select list");
            };
            if let Some(n) = position {
                order_by.push((output[n], descending));
                continue;
            }
            if a.literal_sensitive {
                // `ORDER BY ?`: planned again with the literal in.
                return unlocated();
            }
            if has_window(&e.expr) {
                return refuse("with ORDER BY a window function that is not selected");
            }
            let range = clause_text::without_direction(text, range);
            order_by.push((
                WindowColumn::Row(hidden.column(range, &e.expr)?),
                descending,
            ));
        }
    }
    let rest = rest_range(text, select)?;
    let limit = super::select::limit_operands(a, query.limit_clause.as_ref());
    Ok(WindowFunctionsTemplate {
        items,
        hidden: hidden.ranges,
        rest,
        functions,
        output,
        order_by,
        limit,
    })
}
