//! Window functions over several physical tables: the rows' SELECT (the statement's other
//! items, then the windows' arguments, PARTITION BY and ORDER BY as hidden columns, with
//! the statement's values written in), each function's columns, the statement's ORDER BY
//! and LIMIT; one table answers whole; and what is refused.

mod common;

use common::{one, route};
use shardgate_router::{Step, WindowColumn, WindowFunction, WindowFunctions, WindowKind};

fn windows(sql: &str) -> WindowFunctions {
    match route(sql).step {
        Step::WindowFunctions(w) => *w,
        other => panic!("{sql}: {other:?}"),
    }
}

#[test]
fn the_rows_select_reads_what_the_windows_need() {
    let w = windows(
        "SELECT order_id, ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY amount DESC, order_id) AS rn, SUM(amount) OVER (PARTITION BY user_id) AS total FROM t_order WHERE status = 'paid' ORDER BY rn, created_at DESC LIMIT 5, 10",
    );
    assert_eq!(
        w.rows_sql,
        "SELECT order_id, user_id AS __sg_w0, amount AS __sg_w1, created_at AS __sg_w2 FROM t_order WHERE status = 'paid'"
    );
    assert_eq!(
        w.functions,
        [
            WindowFunction {
                kind: WindowKind::RowNumber,
                argument: None,
                partition_by: vec![1],
                order_by: vec![(2, true), (0, false)],
            },
            WindowFunction {
                kind: WindowKind::Sum,
                argument: Some(2),
                partition_by: vec![1],
                order_by: Vec::new(),
            },
        ]
    );
    assert_eq!(
        w.output,
        [
            WindowColumn::Row(0),
            WindowColumn::Function(0),
            WindowColumn::Function(1)
        ]
    );
    assert_eq!(
        w.order_by,
        [
            (WindowColumn::Function(0), false),
            (WindowColumn::Row(3), true)
        ]
    );
    assert_eq!((w.limit, w.offset), (Some(10), 5));
    // Described on one physical table, the values written in.
    assert!(
        w.describe.sql.contains("t_order_0") && w.describe.sql.contains("'paid'"),
        "{}",
        w.describe.sql
    );
}

#[test]
fn literals_are_never_shared_and_groups_are_read_where_selected() {
    let w = windows(
        "SELECT user_id, SUM(amount + 1) OVER () AS a, SUM(amount + 2) OVER () AS b FROM t_order",
    );
    assert_eq!(
        w.rows_sql,
        "SELECT user_id, amount + 1 AS __sg_w0, amount + 2 AS __sg_w1 FROM t_order"
    );
    let w = windows(
        "SELECT user_id, SUM(amount) AS s, RANK() OVER (PARTITION BY user_id ORDER BY SUM(amount) DESC) AS r FROM t_order GROUP BY user_id",
    );
    assert_eq!(
        w.rows_sql,
        "SELECT user_id, SUM(amount) AS s FROM t_order GROUP BY user_id"
    );
    assert_eq!(w.functions[0].partition_by, [0]);
    assert_eq!(w.functions[0].order_by, [(1, true)]);
}

#[test]
fn one_table_answers_whole() {
    let (_, sql) = one(
        "SELECT order_id, NTILE(2) OVER (ORDER BY order_id) FROM t_order WHERE order_id = 4242",
    );
    assert!(sql.contains("NTILE(2) OVER"), "{sql}");
}
