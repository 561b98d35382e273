//! Which rows a write touches, by key, for dual-write during a migration: the proxy copies
//! exactly those rows from the layout that is the source of truth to the other one.
//!
//! Only called for writes on a table being migrated, so it parses the statement afresh
//! rather than going through the shape cache.

use sqlparser::ast::{
    AssignmentTarget, BinaryOperator, Expr, FromTable, InTarget, Insert, SetExpr, Spanned,
    Statement, TableFactor, TableWithJoins, UnaryOperator, Value,
};
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;

use crate::collect::name_parts;
use crate::error::{Result, RouterError};
use crate::source::SourceText;

/// The rows a write touches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteKeys {
    /// An INSERT or REPLACE: each row's key, in row order; `None` where the row gives none
    /// (or NULL or 0), so a generator or the server's AUTO_INCREMENT fills it.
    Rows(Vec<Option<i64>>),
    /// An UPDATE or DELETE: a SELECT of the keys of the rows it will touch, locking them, to
    /// run first in the same transaction.
    Read(String),
    /// An UPDATE or DELETE whose WHERE names its keys (`key = 5 AND ...`, `key IN (1, 2)`):
    /// it touches no others.
    Keys(Vec<i64>),
}

fn refuse(why: impl Into<String>) -> RouterError {
    RouterError::Unsafe(why.into())
}

/// The keys `sql`, a write on `table` whose rows are identified by the integer column `key`,
/// touches. Refuses a write whose rows cannot be known before it runs.
pub fn write_keys(sql: &str, table: &str, key: &str) -> Result<WriteKeys> {
    crate::depth::check_expression_depth(sql)?;
    let statements =
        Parser::parse_sql(&MySqlDialect {}, sql).map_err(|e| RouterError::Parse(e.to_string()))?;
    let [statement] = statements.as_slice() else {
        return Err(RouterError::StatementCount(statements.len()));
    };
    let src = SourceText::new(sql);
    let during = format!("while `{table}` is being migrated");
    match statement {
        Statement::Insert(insert) => insert_keys(insert, key, &during).map(WriteKeys::Rows),
        Statement::Update(update) => {
            if update.from.is_some() || !update.table.joins.is_empty() {
                return Err(refuse(format!("a multi-table UPDATE is refused {during}")));
            }
            let sets_key = update.assignments.iter().any(|a| match &a.target {
                AssignmentTarget::ColumnName(n) => is_column(n, key),
                AssignmentTarget::Tuple(ns) => ns.iter().any(|n| is_column(n, key)),
            });
            if sets_key {
                return Err(refuse(format!(
                    "an UPDATE of the key column `{key}` is refused {during}"
                )));
            }
            if let Some(keys) = named_keys(update.selection.as_ref(), key) {
                return Ok(WriteKeys::Keys(keys));
            }
            let tail = Tail {
                selection: update.selection.as_ref(),
                order_by: update.order_by.iter().map(ToString::to_string).collect(),
                limit: update.limit.as_ref(),
            };
            key_read(&src, &update.table, &tail, key, &during).map(WriteKeys::Read)
        }
        Statement::Delete(delete) => {
            let from = match &delete.from {
                FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t) => t,
            };
            let [only] = from.as_slice() else {
                return Err(refuse(format!("a multi-table DELETE is refused {during}")));
            };
            if !delete.tables.is_empty() || delete.using.is_some() || !only.joins.is_empty() {
                return Err(refuse(format!("a multi-table DELETE is refused {during}")));
            }
            if let Some(keys) = named_keys(delete.selection.as_ref(), key) {
                return Ok(WriteKeys::Keys(keys));
            }
            let tail = Tail {
                selection: delete.selection.as_ref(),
                order_by: delete.order_by.iter().map(ToString::to_string).collect(),
                limit: delete.limit.as_ref(),
            };
            key_read(&src, only, &tail, key, &during).map(WriteKeys::Read)
        }
        _ => Err(refuse(format!(
            "only INSERT, REPLACE, UPDATE and DELETE are taken {during}"
        ))),
    }
}

/// The keys a WHERE clause limits its rows to: one of its top-level AND terms is `key =
/// literal` or `key IN (literals)`. `None` when no term says so.
fn named_keys(selection: Option<&Expr>, key: &str) -> Option<Vec<i64>> {
    let is_key = |e: &Expr| match e {
        Expr::Identifier(id) => id.value.eq_ignore_ascii_case(key),
        Expr::CompoundIdentifier(ids) => ids
            .last()
            .is_some_and(|id| id.value.eq_ignore_ascii_case(key)),
        Expr::Nested(inner) => {
            matches!(inner.as_ref(), Expr::Identifier(id) if id.value.eq_ignore_ascii_case(key))
        }
        _ => false,
    };
    let literal = |e: &Expr| literal_key(e, key, "").ok().flatten();
    match selection? {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => named_keys(Some(left), key).or_else(|| named_keys(Some(right), key)),
        Expr::Nested(inner) => named_keys(Some(inner), key),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Eq,
            right,
        } => {
            if is_key(left) {
                literal(right).map(|k| vec![k])
            } else if is_key(right) {
                literal(left).map(|k| vec![k])
            } else {
                None
            }
        }
        Expr::In {
            expr,
            target: InTarget::List(list),
            negated: false,
            ..
        } if is_key(expr) => list.iter().map(literal).collect(),
        _ => None,
    }
}

fn is_column(name: &sqlparser::ast::ObjectName, key: &str) -> bool {
    name_parts(name)
        .last()
        .is_some_and(|c| c.eq_ignore_ascii_case(key))
}

fn insert_keys(insert: &Insert, key: &str, during: &str) -> Result<Vec<Option<i64>>> {
    if !insert.assignments.is_empty() {
        let value = insert.assignments.iter().find_map(|a| match &a.target {
            AssignmentTarget::ColumnName(n) if is_column(n, key) => Some(&a.value),
            _ => None,
        });
        return match value {
            Some(v) => Ok(vec![literal_key(v, key, during)?]),
            None => Ok(vec![None]),
        };
    }
    let rows = match insert.source.as_deref().map(|q| q.body.as_ref()) {
        Some(SetExpr::Values(values)) => &values.rows,
        _ => {
            return Err(refuse(format!(
                "INSERT ... SELECT is refused {during}: the keys it writes are not known before it runs"
            )))
        }
    };
    if insert.columns.is_empty() {
        return Err(refuse(format!(
            "an INSERT without a column list is refused {during}"
        )));
    }
    let position = insert.columns.iter().position(|c| {
        name_parts(c)
            .last()
            .is_some_and(|n| n.eq_ignore_ascii_case(key))
    });
    rows.iter()
        .map(|row| match position {
            None => Ok(None),
            Some(p) => match row.content.get(p) {
                Some(v) => literal_key(v, key, during),
                None => Err(refuse("an INSERT row has fewer values than columns")),
            },
        })
        .collect()
}

/// An integer literal key (`None` for NULL and 0, which a generator or AUTO_INCREMENT
/// replaces); any other expression is refused, as its value is the server's to compute.
fn literal_key(value: &Expr, key: &str, during: &str) -> Result<Option<i64>> {
    let (negative, inner) = match value {
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => (true, expr.as_ref()),
        other => (false, other),
    };
    let parsed = match inner {
        Expr::Value(v) => match &v.value {
            Value::Null => return Ok(None),
            Value::Number(n, _) => n.parse::<i64>().ok(),
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s.trim().parse().ok(),
            _ => None,
        },
        _ => None,
    };
    match parsed {
        Some(0) => Ok(None),
        Some(k) if negative => Ok(Some(-k)),
        Some(k) => Ok(Some(k)),
        None => Err(refuse(format!(
            "the key `{key}` must be given as an integer literal {during} (found `{value}`)"
        ))),
    }
}

/// The parts of an UPDATE or DELETE after its table: they choose the rows.
struct Tail<'a> {
    selection: Option<&'a Expr>,
    /// As sqlparser writes them: a key's span leaves out its ASC or DESC.
    order_by: Vec<String>,
    limit: Option<&'a Expr>,
}

/// `SELECT key FROM <table as written> WHERE ... [ORDER BY ...] [LIMIT ...] FOR UPDATE`.
fn key_read(
    src: &SourceText<'_>,
    table: &TableWithJoins,
    tail: &Tail<'_>,
    key: &str,
    during: &str,
) -> Result<String> {
    let text = |span: sqlparser::tokenizer::Span| {
        src.range(span)
            .and_then(|r| src.text().get(r))
            .ok_or_else(|| refuse(format!("cannot locate part of the statement {during}")))
    };
    let TableFactor::Table { .. } = &table.relation else {
        return Err(refuse(format!(
            "a write on a derived table is refused {during}"
        )));
    };
    let mut sql = format!("SELECT `{key}` FROM {}", text(table.relation.span())?);
    if let Some(selection) = tail.selection {
        sql.push_str(" WHERE ");
        sql.push_str(text(selection.span())?);
    }
    if !tail.order_by.is_empty() {
        sql.push_str(" ORDER BY ");
        sql.push_str(&tail.order_by.join(", "));
    }
    if let Some(limit) = tail.limit {
        sql.push_str(" LIMIT ");
        sql.push_str(text(limit.span())?);
    }
    sql.push_str(" FOR UPDATE");
    Ok(sql)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(sql: &str) -> Result<WriteKeys> {
        write_keys(sql, "t_order", "order_id")
    }

    #[test]
    fn insert_rows_give_their_keys() {
        assert_eq!(
            keys("INSERT INTO t_order (order_id, user_id) VALUES (7, 1), (NULL, 2), (-3, 3), ('9', 4)"),
            Ok(WriteKeys::Rows(vec![Some(7), None, Some(-3), Some(9)]))
        );
        assert_eq!(
            keys("INSERT INTO t_order (user_id) VALUES (1), (2)"),
            Ok(WriteKeys::Rows(vec![None, None]))
        );
        assert_eq!(
            keys("INSERT INTO t_order SET order_id = 5, user_id = 1"),
            Ok(WriteKeys::Rows(vec![Some(5)]))
        );
        assert!(keys("INSERT INTO t_order (order_id) VALUES (1 + 1)").is_err());
        assert!(keys("INSERT INTO t_order (order_id) SELECT 1").is_err());
        assert!(keys("INSERT INTO t_order VALUES (1, 2)").is_err());
    }

    #[test]
    fn updates_and_deletes_read_their_keys_first() {
        assert_eq!(
            keys("UPDATE t_order o SET status = 'x' WHERE o.user_id = 3 AND amount > 1.5"),
            Ok(WriteKeys::Read(
                "SELECT `order_id` FROM t_order o WHERE o.user_id = 3 AND amount > 1.5 FOR UPDATE"
                    .into()
            ))
        );
        assert_eq!(
            keys("DELETE FROM t_order WHERE status = 'gone' ORDER BY order_id DESC LIMIT 10"),
            Ok(WriteKeys::Read(
                "SELECT `order_id` FROM t_order WHERE status = 'gone' ORDER BY order_id DESC LIMIT 10 FOR UPDATE"
                    .into()
            ))
        );
        assert_eq!(
            keys("DELETE FROM t_order"),
            Ok(WriteKeys::Read(
                "SELECT `order_id` FROM t_order FOR UPDATE".into()
            ))
        );
        assert_eq!(
            keys("UPDATE t_order SET status = 'x' WHERE order_id = 42 AND status = 'new'"),
            Ok(WriteKeys::Keys(vec![42]))
        );
        assert_eq!(
            keys("DELETE FROM t_order WHERE (t_order.order_id IN (1, -2, '3'))"),
            Ok(WriteKeys::Keys(vec![1, -2, 3]))
        );
        // A key of 0 or NULL, an expression, OR: read the keys.
        for sql in [
            "DELETE FROM t_order WHERE order_id = 0",
            "DELETE FROM t_order WHERE order_id = 1 + 1",
            "DELETE FROM t_order WHERE order_id = 1 OR status = 'x'",
            "DELETE FROM t_order WHERE order_id NOT IN (1, 2)",
        ] {
            assert!(matches!(keys(sql), Ok(WriteKeys::Read(_))), "{sql}");
        }
        assert!(keys("UPDATE t_order SET order_id = 4 WHERE order_id = 3").is_err());
        assert!(keys("UPDATE t_order o JOIN t_user u ON o.user_id = u.id SET o.x = 1").is_err());
        assert!(keys("DELETE o FROM t_order o JOIN t_user u ON o.user_id = u.id").is_err());
    }
}
