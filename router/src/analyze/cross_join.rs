//! A join of two tables that do not live together: `SELECT o.order_id, u.name FROM t_order o
//! [LEFT] JOIN t_user u ON o.user_id = u.user_id WHERE o.status = 'paid' ORDER BY u.name
//! LIMIT 10`, where `t_user` is sharded by another key (or lives in another database). No
//! shard can answer it, so it becomes a [`crate::plan::CrossJoin`]: the left table's rows
//! first (a SELECT of its own, with its conditions), then the right table's rows whose join
//! column is among the left rows' values, looked up in batches (`IN (...)`, which prunes by
//! key when the right table is sharded on its join column), joined by the proxy on equal
//! values, LEFT JOIN's unmatched rows kept with NULLs, then sorted and limited.
//!
//! What it takes: two plain tables, one equality of a column of each in ON (more ON
//! conditions on the right table's columns), WHERE conditions joined by AND each on one
//! table's columns (for LEFT JOIN, on the left table's only), a select list of expressions
//! each over one table's qualified columns, ORDER BY result columns or one table's
//! expressions, LIMIT. No grouping, aggregates, DISTINCT or subqueries: refused with the
//! reason.

use sqlparser::ast::{
    BinaryOperator, Expr, GroupByExpr, JoinConstraint, JoinOperator, OrderByKind, OrderBySort,
    Query, Select, SelectItem, TableFactor,
};

use std::ops::Range;

use super::clause_text::{self, Separator};
use super::Analysis;
use crate::condition::Cond;
use crate::error::{Result, RouterError};
use crate::normalize::top_level_keyword;
use crate::plan::StatementKind;
use crate::template::{JoinItem, JoinSide, JoinTemplate, MergeTemplate, RouteTemplate, Template};

fn refuse<T>(why: &str) -> Result<T> {
    Err(RouterError::Unsafe(format!(
        "a join across shards {why} is not supported yet"
    )))
}

/// Whether the statement is a join of two tables, the shape a cross-shard join takes.
pub(super) fn candidate(select: &Select, a: &Analysis<'_>) -> bool {
    let [only] = select.from.as_slice() else {
        return false;
    };
    let [join] = only.joins.as_slice() else {
        return false;
    };
    a.refs.len() == 2
        && a.refs.iter().all(|r| r.depth == 0)
        && matches!(only.relation, TableFactor::Table { .. })
        && matches!(join.relation, TableFactor::Table { .. })
}

/// Which table an expression reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reads {
    Nothing,
    Left,
    Right,
    Both,
}

impl Reads {
    fn and(self, other: Reads) -> Reads {
        match (self, other) {
            (Reads::Nothing, x) | (x, Reads::Nothing) => x,
            (x, y) if x == y => x,
            _ => Reads::Both,
        }
    }
}

/// The two tables' names as columns qualify them (alias, else the table's name).
struct Qualifiers {
    left: String,
    right: String,
}

impl Qualifiers {
    /// Which table `expr` reads; `Err` for what the join cannot place (unqualified columns,
    /// subqueries, other qualifiers).
    fn reads(&self, expr: &Expr) -> Result<Reads> {
        use sqlparser::ast::Visitor;
        use std::ops::ControlFlow;
        struct Walk<'q> {
            q: &'q Qualifiers,
            reads: Reads,
            problem: Option<String>,
        }
        impl Visitor for Walk<'_> {
            type Break = ();
            fn pre_visit_query(&mut self, _: &sqlparser::ast::Query) -> ControlFlow<()> {
                self.problem = Some("with a subquery".into());
                ControlFlow::Break(())
            }
            fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
                match expr {
                    Expr::Identifier(name) => {
                        self.problem = Some(format!(
                            "with an unqualified column (`{}`; write `table.{}`)",
                            name.value, name.value
                        ));
                        ControlFlow::Break(())
                    }
                    Expr::CompoundIdentifier(parts) => {
                        let qualifier = match parts.as_slice() {
                            [q, _] => &q.value,
                            _ => {
                                self.problem =
                                    Some(format!("naming `{expr}` (write `table.column`)"));
                                return ControlFlow::Break(());
                            }
                        };
                        let side = if qualifier.eq_ignore_ascii_case(&self.q.left) {
                            Reads::Left
                        } else if qualifier.eq_ignore_ascii_case(&self.q.right) {
                            Reads::Right
                        } else {
                            self.problem = Some(format!("naming `{expr}`"));
                            return ControlFlow::Break(());
                        };
                        self.reads = self.reads.and(side);
                        ControlFlow::Continue(())
                    }
                    Expr::Function(f) => {
                        let name = f.name.to_string().to_ascii_uppercase();
                        if f.over.is_some()
                            || super::policy::AGGREGATE_FUNCTIONS.contains(&name.as_str())
                        {
                            self.problem = Some(format!("with {name}()"));
                            return ControlFlow::Break(());
                        }
                        ControlFlow::Continue(())
                    }
                    _ => ControlFlow::Continue(()),
                }
            }
        }
        let mut walk = Walk {
            q: self,
            reads: Reads::Nothing,
            problem: None,
        };
        let _ = sqlparser::ast::Visit::visit(expr, &mut walk);
        match walk.problem {
            Some(problem) => refuse(&problem),
            None => Ok(walk.reads),
        }
    }
}

/// The conjuncts of an AND chain (not inside parentheses).
pub(super) fn conjuncts<'e>(expr: &'e Expr, out: &mut Vec<&'e Expr>) {
    match expr {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            conjuncts(left, out);
            conjuncts(right, out);
        }
        other => out.push(other),
    }
}

fn qualifier_of(factor: &TableFactor) -> Option<String> {
    match factor {
        TableFactor::Table { name, alias, .. } => Some(match alias {
            Some(a) => a.name.value.clone(),
            None => crate::collect::name_parts(name).pop()?,
        }),
        _ => None,
    }
}

/// Clauses that may follow WHERE, and ON.
const AFTER_WHERE: [&str; 9] = [
    "GROUP",
    "HAVING",
    "WINDOW",
    "ORDER",
    "LIMIT",
    "FOR",
    "LOCK",
    "INTO",
    "PROCEDURE",
];
const AFTER_ON: [&str; 10] = [
    "WHERE",
    "GROUP",
    "HAVING",
    "WINDOW",
    "ORDER",
    "LIMIT",
    "FOR",
    "LOCK",
    "INTO",
    "PROCEDURE",
];

fn unlocated<T>() -> Result<T> {
    refuse("whose parts cannot be located in its text")
}

/// The text ranges of a clause's parts, each checked to parse back to `expected`.
fn located(
    text: &str,
    range: Option<Range<usize>>,
    expected: &[&Expr],
) -> Result<Vec<Range<usize>>> {
    let Some(range) = range else {
        return unlocated();
    };
    let parts = clause_text::split(text, range, Separator::And);
    if parts.len() != expected.len()
        || parts
            .iter()
            .zip(expected)
            .any(|(r, e)| clause_text::parse_expr(&text[r.clone()]).as_ref() != Some(*e))
    {
        return unlocated();
    }
    Ok(parts)
}

pub(super) fn analyze(query: &Query, select: &Select, mut a: Analysis<'_>) -> Result<Template> {
    if query.with.is_some() || query.fetch.is_some() || !query.locks.is_empty() {
        return refuse("with WITH, FETCH or locking reads");
    }
    if select.distinct.is_some() || select.having.is_some() || select.into.is_some() {
        return refuse("with DISTINCT, HAVING or INTO");
    }
    if !matches!(&select.group_by, GroupByExpr::Expressions(e, m) if e.is_empty() && m.is_empty()) {
        return refuse("with GROUP BY");
    }
    let text = a.src.text().to_string();
    let text = text.as_str();
    let only = &select.from[0];
    let join = &only.joins[0];
    let (left_join, on) = match &join.join_operator {
        JoinOperator::Join(JoinConstraint::On(on))
        | JoinOperator::Inner(JoinConstraint::On(on)) => (false, on),
        JoinOperator::Left(JoinConstraint::On(on))
        | JoinOperator::LeftOuter(JoinConstraint::On(on)) => (true, on),
        _ => return refuse("other than [INNER] JOIN or LEFT JOIN ... ON"),
    };
    let q = Qualifiers {
        left: qualifier_of(&only.relation).unwrap_or_default(),
        right: qualifier_of(&join.relation).unwrap_or_default(),
    };
    if q.left.eq_ignore_ascii_case(&q.right) {
        return refuse("of a table with itself under one name");
    }
    // Table names hold no values: their syntax tree's text is what was written.
    let mut outer = JoinSide {
        from: only.relation.to_string(),
        ..JoinSide::default()
    };
    let mut inner = JoinSide {
        from: join.relation.to_string(),
        ..JoinSide::default()
    };

    // ON: one equality of a column of each table; other conditions on the right table.
    let mut on_parts = Vec::new();
    conjuncts(on, &mut on_parts);
    let from_at = top_level_keyword(text, "FROM", 0).unwrap_or(0);
    let on_ranges = located(
        text,
        clause_text::clause(text, "ON", from_at, &AFTER_ON),
        &on_parts,
    )?;
    let mut keys = None;
    for (part, range) in on_parts.into_iter().zip(on_ranges) {
        match q.reads(part)? {
            Reads::Both => {
                let Expr::BinaryOp {
                    left,
                    op: BinaryOperator::Eq,
                    right,
                } = part
                else {
                    return refuse(
                        "on a condition other than one equality of a column of each table",
                    );
                };
                if keys.is_some() {
                    return refuse("on more than one equality of the two tables");
                }
                let Some((l_range, r_range)) = clause_text::equality_sides(text, range) else {
                    return unlocated();
                };
                if clause_text::parse_expr(&text[l_range.clone()]).as_ref() != Some(left.as_ref())
                    || clause_text::parse_expr(&text[r_range.clone()]).as_ref()
                        != Some(right.as_ref())
                {
                    return unlocated();
                }
                keys = Some(match (q.reads(left)?, q.reads(right)?) {
                    (Reads::Left, Reads::Right) => (l_range, r_range),
                    (Reads::Right, Reads::Left) => (r_range, l_range),
                    _ => return refuse("on an equality that mixes the tables on one side"),
                });
            }
            Reads::Right | Reads::Nothing => inner.conds.push(range),
            Reads::Left if left_join => {
                return refuse("with a LEFT JOIN condition on the left table in ON");
            }
            Reads::Left => outer.conds.push(range),
        }
    }
    let Some((outer_key, inner_key)) = keys else {
        return refuse("without an equality of a column of each table in ON");
    };
    outer.key = outer_key;
    inner.key = inner_key;

    // WHERE: each condition on one table (the left one, under a LEFT JOIN: the right
    // table's columns are NULL in rows it did not match, which the right table's own
    // query cannot see).
    if let Some(selection) = &select.selection {
        let mut parts = Vec::new();
        conjuncts(selection, &mut parts);
        let ranges = located(
            text,
            clause_text::clause(text, "WHERE", 0, &AFTER_WHERE),
            &parts,
        )?;
        for (part, range) in parts.into_iter().zip(ranges) {
            match q.reads(part)? {
                Reads::Left | Reads::Nothing => outer.conds.push(range),
                Reads::Right if !left_join => inner.conds.push(range),
                Reads::Right => {
                    return refuse("with a WHERE condition on the right table of a LEFT JOIN")
                }
                Reads::Both => {
                    return refuse("with a WHERE condition on both tables (only ANDs of conditions on one table each)")
                }
            }
        }
    }

    // The select list: each item over one table's columns.
    let Some(list) = clause_text::clause(text, "SELECT", 0, &["FROM"]) else {
        return unlocated();
    };
    let item_ranges = clause_text::split(text, list, Separator::Comma);
    if item_ranges.len() != select.projection.len() {
        return unlocated();
    }
    let mut output = Vec::new();
    let mut names = Vec::new();
    for (item, range) in select.projection.iter().zip(item_ranges) {
        if clause_text::parse_select_item(&text[range.clone()]).as_ref() != Some(item) {
            return unlocated();
        }
        let (expr, alias) = match item {
            SelectItem::UnnamedExpr(e) => (e, None),
            SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias.value.clone())),
            _ => return refuse("with `*` in the select list (name the columns)"),
        };
        let is_inner = match q.reads(expr)? {
            Reads::Right => true,
            Reads::Left | Reads::Nothing => false,
            Reads::Both => return refuse("with a select item over both tables"),
        };
        let side = if is_inner { &mut inner } else { &mut outer };
        side.items.push(JoinItem {
            range,
            hidden_alias: None,
        });
        output.push((is_inner, side.items.len() - 1));
        names.push((alias, expr));
    }

    // ORDER BY: result columns (by position or name), or one table's expressions (read as
    // hidden columns of that table's query).
    let mut order_by = Vec::new();
    if let Some(ob) = &query.order_by {
        let OrderByKind::Expressions(exprs) = &ob.kind else {
            return refuse("with ORDER BY ALL");
        };
        let Some(key_ranges) = clause_text::order_by_keys(text, 0) else {
            return unlocated();
        };
        if key_ranges.len() != exprs.len() {
            return unlocated();
        }
        for (e, range) in exprs.iter().zip(key_ranges) {
            let descending = matches!(e.options.sort, Some(OrderBySort::Desc));
            let Ok(position) = super::merge::result_column(&mut a, &e.expr, &names) else {
                return refuse("with ORDER BY a position past the select list");
            };
            if let Some(n) = position {
                let (is_inner, item) = output[n];
                order_by.push((is_inner, item, descending));
                continue;
            }
            if a.literal_sensitive {
                // `ORDER BY ?`: planned again with the literal in.
                return unlocated();
            }
            let range = clause_text::without_direction(text, range);
            if clause_text::parse_expr(&text[range.clone()]).as_ref() != Some(&e.expr) {
                return unlocated();
            }
            let is_inner = match q.reads(&e.expr)? {
                Reads::Right => true,
                Reads::Left | Reads::Nothing => false,
                Reads::Both => return refuse("with ORDER BY an expression over both tables"),
            };
            let side = if is_inner { &mut inner } else { &mut outer };
            side.items.push(JoinItem {
                range,
                hidden_alias: Some(format!("__sg_o{}", order_by.len())),
            });
            order_by.push((is_inner, side.items.len() - 1, descending));
        }
    }
    let limit = super::select::limit_operands(&a, query.limit_clause.as_ref());
    let layout_of = a
        .refs
        .iter()
        .find(|r| a.layout(r.table).is_some())
        .map(|r| r.table)
        .unwrap_or(a.refs[0].table);
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
    template.cross_join = Some(JoinTemplate {
        left: left_join,
        outer,
        inner,
        output,
        order_by,
        limit,
    });
    Ok(template)
}
