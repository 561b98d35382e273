//! Fewer round trips for SELECTs over many tables: the physical statements that go to one
//! backend server are sent as one `(...) UNION ALL (...)` statement (their table names are
//! fully qualified, so one statement reads every database of the server). Each part keeps its own
//! WHERE, ORDER BY and LIMIT, and the merge treats the combined rows as it treats rows from
//! separate statements, so the answer is the same. When the merge streams, the combined
//! statement ends with the merge's ORDER BY, so its rows arrive sorted as the merge needs.
//!
//! The very first physical statement goes alone where it can: the client's column
//! definitions come from the first result, and a UNION's definitions are not a table's
//! (ENUM and SET become VARCHAR, key flags go, TEXT lengths widen). One statement more buys
//! MariaDB's own metadata.

use std::collections::BTreeMap;

use crate::plan::{PhysicalStatement, SelectMerge};

/// Clauses a UNION part cannot carry, or that would change meaning in one.
const KEEP_SEPARATE: [&str; 4] = [
    "FOR UPDATE",
    "LOCK IN SHARE MODE",
    "SQL_CALC_FOUND_ROWS",
    " INTO ",
];

/// The statements, one per backend server, and whether each ends with `order` (the merge's
/// [`shard_order`](crate::SelectMerge::shard_order)).
pub struct Combined {
    pub statements: Vec<PhysicalStatement>,
    pub ordered: bool,
}

/// Combines the statements of each backend server into one, in target order, each sorted by
/// `order` when there is one. `sorted_by_itself`: a statement's own ORDER BY already sorts
/// its rows as `order` does (a merge of plain rows by the query's sort keys).
/// `union_safe`: the result's column names are distinct (a UNION refuses others).
pub fn combine_per_backend(
    targets: Vec<PhysicalStatement>,
    order: Option<&str>,
    sorted_by_itself: bool,
    union_safe: bool,
) -> Combined {
    combine_limited(targets, order, sorted_by_itself, union_safe, None)
}

/// The statements of a SELECT merged by `merge`, combined per backend server: sorted as the
/// merge reads them and, for plain rows merged by the query's sort keys, cut to the rows
/// the merge can use (`... ORDER BY k LIMIT offset + count`), so the backend sorts and
/// limits.
pub fn combine_for(targets: Vec<PhysicalStatement>, merge: &SelectMerge) -> Combined {
    combine_limited(
        targets,
        merge.shard_order.as_deref(),
        merge.sorted_by_statements(),
        merge.union_safe,
        merge.statement_limit(),
    )
}

fn combine_limited(
    targets: Vec<PhysicalStatement>,
    order: Option<&str>,
    sorted_by_itself: bool,
    union_safe: bool,
    limit: Option<u64>,
) -> Combined {
    let separate = !union_safe
        || targets.first().is_some_and(|t| {
            let upper = t.sql.to_ascii_uppercase();
            KEEP_SEPARATE.iter().any(|clause| upper.contains(clause))
        });
    if separate || (targets.len() < 2 && order.is_none()) {
        return Combined {
            statements: targets,
            ordered: false,
        };
    }
    // The first statement goes alone where it can be sorted as the merge needs without
    // parentheses (wrapped, it would become a derived table, which refuses duplicate column
    // names): by its own ORDER BY, or by the merge's order appended to a statement without
    // ORDER BY or LIMIT of its own.
    let suffix = |t: &PhysicalStatement| -> Option<&str> {
        match order {
            None => Some(""),
            Some(_) if sorted_by_itself => Some(""),
            Some(order) => {
                let upper = t.sql.to_ascii_uppercase();
                (!upper.contains("ORDER BY") && !upper.contains("LIMIT")).then_some(order)
            }
        }
    };
    let mut targets = targets.into_iter().peekable();
    let first = match targets.peek().and_then(suffix) {
        Some(suffix) => {
            let suffix = suffix.to_string();
            targets.next().map(|first| PhysicalStatement {
                sql: format!("{}{suffix}", first.sql),
                ..first
            })
        }
        None => None,
    };
    let mut groups: BTreeMap<usize, Vec<PhysicalStatement>> = BTreeMap::new();
    for t in targets {
        groups.entry(t.backend).or_default().push(t);
    }
    let rest = groups.into_values().map(|mut parts| {
        if parts.len() == 1 && order.is_none() {
            return parts.remove(0);
        }
        let mut sql = String::with_capacity(parts.iter().map(|p| p.sql.len() + 13).sum());
        let mut params = Vec::new();
        let backend = parts[0].backend;
        // The database when every part reads one; a statement over several names none.
        let database = parts[0]
            .database
            .filter(|d| parts.iter().all(|p| p.database == Some(*d)));
        for (i, part) in parts.into_iter().enumerate() {
            if i > 0 {
                sql.push_str(" UNION ALL ");
            }
            sql.push('(');
            sql.push_str(&part.sql);
            sql.push(')');
            params.extend(part.params);
        }
        if let Some(order) = order {
            sql.push_str(order);
            if let Some(limit) = limit {
                sql.push_str(&format!(" LIMIT {limit}"));
            }
        }
        PhysicalStatement {
            backend,
            database,
            sql,
            params,
        }
    });
    Combined {
        statements: first.into_iter().chain(rest).collect(),
        ordered: order.is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stmt(backend: usize, database: usize, sql: &str, params: Vec<usize>) -> PhysicalStatement {
        PhysicalStatement {
            backend,
            database: Some(database),
            sql: sql.into(),
            params,
        }
    }

    #[test]
    fn one_statement_per_backend() {
        let combined = combine_per_backend(
            vec![
                stmt(0, 0, "SELECT a FROM d0.t0 WHERE k = ? LIMIT 2", vec![0]),
                stmt(1, 1, "SELECT a FROM d1.t0 WHERE k = ?", vec![0]),
                stmt(0, 0, "SELECT a FROM d0.t1 WHERE k = ? LIMIT 2", vec![0]),
            ],
            None,
            false,
            true,
        )
        .statements;
        assert_eq!(combined.len(), 3);
        // The first alone, for its column definitions.
        assert_eq!(combined[0].sql, "SELECT a FROM d0.t0 WHERE k = ? LIMIT 2");
        assert_eq!(combined[0].params, vec![0]);
        assert_eq!(combined[1].sql, "SELECT a FROM d0.t1 WHERE k = ? LIMIT 2");
        assert_eq!(combined[2].sql, "SELECT a FROM d1.t0 WHERE k = ?");
        let many = combine_per_backend(
            (0..4)
                .map(|t| stmt(0, 0, &format!("SELECT a FROM d0.t{t}"), vec![]))
                .collect(),
            None,
            false,
            true,
        )
        .statements;
        assert_eq!(many.len(), 2);
        assert_eq!(
            many[1].sql,
            "(SELECT a FROM d0.t1) UNION ALL (SELECT a FROM d0.t2) UNION ALL (SELECT a FROM d0.t3)"
        );
        let locking = combine_per_backend(
            vec![
                stmt(0, 0, "SELECT a FROM d0.t0 FOR UPDATE", vec![]),
                stmt(0, 0, "SELECT a FROM d0.t1 FOR UPDATE", vec![]),
            ],
            Some(" ORDER BY 1"),
            false,
            true,
        );
        assert_eq!(locking.statements.len(), 2);
        assert!(!locking.ordered);
        let sorted = combine_per_backend(
            vec![
                stmt(0, 0, "SELECT a FROM d0.t0", vec![]),
                stmt(1, 1, "SELECT a FROM d1.t0", vec![]),
                stmt(0, 0, "SELECT a FROM d0.t1", vec![]),
            ],
            Some(" ORDER BY 1 DESC"),
            false,
            true,
        );
        assert!(sorted.ordered);
        assert_eq!(
            sorted.statements[0].sql,
            "SELECT a FROM d0.t0 ORDER BY 1 DESC"
        );
        assert_eq!(
            sorted.statements[1].sql,
            "(SELECT a FROM d0.t1) ORDER BY 1 DESC"
        );
        assert_eq!(
            sorted.statements[2].sql,
            "(SELECT a FROM d1.t0) ORDER BY 1 DESC"
        );
        // Databases of one server share its statement (names are fully qualified).
        let server = combine_per_backend(
            vec![
                stmt(0, 0, "SELECT a FROM d0.t0", vec![]),
                stmt(0, 2, "SELECT a FROM d2.t0", vec![]),
                stmt(1, 1, "SELECT a FROM d1.t0", vec![]),
                stmt(0, 4, "SELECT a FROM d4.t0", vec![]),
                stmt(1, 3, "SELECT a FROM d3.t0", vec![]),
            ],
            None,
            false,
            true,
        )
        .statements;
        assert_eq!(server.len(), 3);
        assert_eq!(
            server[1].sql,
            "(SELECT a FROM d2.t0) UNION ALL (SELECT a FROM d4.t0)"
        );
        assert_eq!((server[1].backend, server[1].database), (0, None));
        assert_eq!(
            server[2].sql,
            "(SELECT a FROM d1.t0) UNION ALL (SELECT a FROM d3.t0)"
        );
        // Plain rows sorted by the query's keys: each server's statement is cut to the rows
        // the merge can use.
        let merge = SelectMerge {
            order_by: vec![crate::plan::SortKey {
                column: Some(0),
                expr: "a".into(),
                descending: false,
            }],
            limit: Some(5),
            offset: 2,
            shard_order: Some(" ORDER BY 1".into()),
            union_safe: true,
            ..SelectMerge::default()
        };
        let cut = combine_for(
            (0..3)
                .map(|t| {
                    stmt(
                        0,
                        t,
                        &format!("SELECT a FROM d{t}.t0 ORDER BY a LIMIT 7"),
                        vec![],
                    )
                })
                .collect(),
            &merge,
        );
        assert_eq!(
            cut.statements[1].sql,
            "(SELECT a FROM d1.t0 ORDER BY a LIMIT 7) UNION ALL (SELECT a FROM d2.t0 ORDER BY a LIMIT 7) ORDER BY 1 LIMIT 7"
        );
        // Groups are never cut.
        let grouped = SelectMerge {
            group_by: vec!["a".into()],
            group_by_columns: vec![Some(0)],
            ..merge
        };
        assert_eq!(grouped.statement_limit(), None);
        // A first statement with a LIMIT of its own stays in its server's UNION.
        let limited = combine_per_backend(
            vec![
                stmt(0, 0, "SELECT a, a FROM d0.t0 LIMIT 0, 5", vec![]),
                stmt(0, 0, "SELECT a, a FROM d0.t1 LIMIT 0, 5", vec![]),
            ],
            Some(" ORDER BY 1"),
            false,
            true,
        );
        assert_eq!(
            limited.statements[0].sql,
            "(SELECT a, a FROM d0.t0 LIMIT 0, 5) UNION ALL (SELECT a, a FROM d0.t1 LIMIT 0, 5) ORDER BY 1"
        );
    }
}
