//! Merge plans of SELECTs over several physical tables: the merge spec, the derived
//! columns the shards add, the order their rows come in, and the chain of operators.

mod common;

use common::{one, route, statements};
use shardgate_router::{AggregateFunction, Derived, RouteKind, SortKey, Step};

#[test]
fn scatter_select_merge_spec() {
    let plan =
        route("SELECT order_id, amount FROM t_order ORDER BY amount DESC, order_id LIMIT 10, 5");
    assert_eq!(plan.route, RouteKind::Scatter);
    assert_eq!(statements(&plan)[0].1, "SELECT order_id, amount FROM order_db_0.t_order_0 ORDER BY amount DESC, order_id LIMIT 0, 15");
    let Some(m) = plan.select_merge() else {
        panic!("{:?}", plan.step)
    };
    assert_eq!(m.limit, Some(5));
    assert_eq!(m.offset, 10);
    assert_eq!(
        m.order_by,
        vec![
            SortKey {
                column: Some(1),
                expr: "amount".into(),
                descending: true
            },
            SortKey {
                column: Some(0),
                expr: "order_id".into(),
                descending: false
            },
        ]
    );
    let plan = route("SELECT * FROM t_order LIMIT 3 OFFSET 4");
    assert_eq!(
        statements(&plan)[0].1,
        "SELECT * FROM order_db_0.t_order_0 LIMIT 7 OFFSET 0"
    );
    // One target keeps its LIMIT as written.
    assert_eq!(
        one("SELECT * FROM t_order WHERE order_id = 1 LIMIT 10, 5").1,
        "SELECT * FROM order_db_1.t_order_0 WHERE order_id = 1 LIMIT 10, 5"
    );

    let plan = route("SELECT user_id, COUNT(*), SUM(amount) AS s, AVG(amount), COUNT(DISTINCT status) FROM t_order GROUP BY user_id HAVING s > 10 ORDER BY 2 DESC");
    let Some(m) = plan.select_merge() else {
        panic!()
    };
    assert_eq!(m.group_by, vec!["user_id".to_string()]);
    assert_eq!(
        m.aggregates
            .iter()
            .map(|a| (a.function, a.column, a.distinct))
            .collect::<Vec<_>>(),
        vec![
            (AggregateFunction::Count, 1, false),
            (AggregateFunction::Sum, 2, false),
            (AggregateFunction::Avg, 3, false),
            (AggregateFunction::Count, 4, true),
        ]
    );
    assert_eq!(m.having.as_deref(), Some("s > ?"));
    assert_eq!(m.order_by[0].column, Some(1));
    assert!(route("SELECT DISTINCT user_id FROM t_order")
        .select_merge()
        .is_some());
}

#[test]
fn derived_columns_and_shard_order() {
    let merge_of = |sql: &str| match route(sql).step {
        Step::Scatter(s) => *s.merge,
        other => panic!("{other:?}"),
    };
    // DISTINCT arguments are selected and grouped by; HAVING's unselected aggregate too; the
    // shards sort by the group key so groups fold as they pass.
    let sql = "SELECT status, COUNT(DISTINCT user_id) FROM t_order WHERE order_id > 5 GROUP BY status HAVING SUM(amount) > 3 ORDER BY status DESC LIMIT 3";
    assert_eq!(
        statements(&route(sql))[0].1,
        "SELECT status, COUNT(DISTINCT user_id), user_id AS __sg_d1, SUM(amount) AS __sg_h0 FROM order_db_0.t_order_0 WHERE order_id > 5 GROUP BY status, __sg_d1 ORDER BY status DESC LIMIT 18446744073709551615"
    );
    let m = merge_of(sql);
    assert_eq!(
        m.derived,
        vec![
            Derived::DistinctArg { aggregate: 1 },
            Derived::HavingAggregate {
                index: 0,
                function: AggregateFunction::Sum,
                distinct: false
            }
        ]
    );
    assert_eq!(m.shard_order.as_deref(), Some(" ORDER BY 1 DESC"));
    // Without a GROUP BY of its own, the shards get one; an unselected GROUP BY expression
    // is derived and sorts the shards' rows by its alias.
    assert_eq!(
        statements(&route("SELECT COUNT(DISTINCT code) FROM t_order WHERE user_id = 3 LIMIT 1"))[0].1,
        "SELECT COUNT(DISTINCT code), code AS __sg_d0 FROM order_db_0.t_order_0 WHERE user_id = 3 GROUP BY __sg_d0 LIMIT 18446744073709551615"
    );
    let m = merge_of("SELECT COUNT(*) FROM t_order GROUP BY DATE(created_at)");
    assert_eq!(m.derived, vec![Derived::GroupKey { key: 0 }]);
    assert_eq!(m.shard_order.as_deref(), Some(" ORDER BY __sg_g0"));
    // ORDER BY an unselected expression: a derived sort key, by alias.
    let m = merge_of("SELECT order_id FROM t_order ORDER BY amount DESC, 1");
    assert_eq!(m.shard_order.as_deref(), Some(" ORDER BY __sg_k0 DESC, 1"));
    // Grouped, sorted by an aggregate: the merge hashes groups, so no shard order.
    assert_eq!(
        merge_of("SELECT user_id, COUNT(*) FROM t_order GROUP BY user_id ORDER BY 2").shard_order,
        None
    );
    // HAVING without grouping filters single rows: it stays on the shards.
    let plan = route("SELECT order_id AS o FROM t_order HAVING o > 3");
    assert!(statements(&plan)[0].1.ends_with("HAVING o > 3"));
    assert_eq!(
        merge_of("SELECT order_id AS o FROM t_order HAVING o > 3").having,
        None
    );
}

#[test]
fn a_scatter_merges_through_a_chain_of_operators() {
    use shardgate_router::MergeOperator as Op;
    let ops = |sql: &str, ordered: bool| -> Vec<String> {
        let plan = route(sql);
        let merge = plan
            .select_merge()
            .unwrap_or_else(|| panic!("{sql}: no merge"));
        merge
            .operators(ordered)
            .iter()
            .map(|op| match op {
                Op::Concatenate => "concat".to_string(),
                Op::MergeSort { .. } => "merge-sort".into(),
                Op::SortInMemory { .. } => "sort".into(),
                Op::OrderedAggregate { .. } => "ordered-aggregate".into(),
                Op::HashAggregate { .. } => "hash-aggregate".into(),
                Op::Filter { .. } => "filter".into(),
                Op::Project { .. } => "project".into(),
                Op::Distinct => "distinct".into(),
                Op::Limit { .. } => "limit".into(),
            })
            .collect()
    };
    let sorted = "SELECT user_id FROM t_order ORDER BY user_id LIMIT 5";
    assert_eq!(ops(sorted, true), ["merge-sort", "limit"]);
    // Statements that could not be sorted by the shards: the merge sorts in memory.
    assert_eq!(ops(sorted, false), ["sort", "limit"]);
    assert_eq!(ops("SELECT user_id FROM t_order", true), ["concat"]);
    assert_eq!(
        ops("SELECT DISTINCT status FROM t_order", true),
        ["sort", "distinct"]
    );
    assert_eq!(
        ops(
            "SELECT status, COUNT(*) FROM t_order GROUP BY status ORDER BY status",
            true
        ),
        ["ordered-aggregate", "sort"]
    );
    assert_eq!(
        ops(
            "SELECT status, COUNT(*) + 1 FROM t_order GROUP BY status HAVING COUNT(*) > 2 LIMIT 3",
            false
        ),
        ["hash-aggregate", "filter", "project", "limit"]
    );
}
