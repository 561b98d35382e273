//! UNION over sharded tables: the branches each a logical SELECT with its values written
//! in, the union's DISTINCT, ORDER BY (by result column) and LIMIT; and what is refused.

mod common;

use common::{route, route_err};
use shardgate_router::{Step, Union};

fn union(sql: &str) -> Union {
    match route(sql).step {
        Step::Union(u) => *u,
        other => panic!("{sql}: {other:?}"),
    }
}

#[test]
fn branches_keep_their_text_and_values() {
    let u = union(
        "SELECT order_id, status FROM t_order WHERE order_id = 4242 UNION ALL /* items */ SELECT order_id, sku FROM t_order_item WHERE order_id IN (1, 2) ORDER BY 1 DESC, status LIMIT 5, 10",
    );
    assert_eq!(
        u.branches,
        [
            "SELECT order_id, status FROM t_order WHERE order_id = 4242 ",
            " /* items */ SELECT order_id, sku FROM t_order_item WHERE order_id IN (1, 2) ",
        ]
    );
    assert!(!u.distinct);
    let keys: Vec<(Option<usize>, bool)> = u
        .order_by
        .iter()
        .map(|k| (k.column, k.descending))
        .collect();
    assert_eq!(keys, [(Some(0), true), (Some(1), false)]);
    assert_eq!((u.limit, u.offset), (Some(10), 5));
}

#[test]
fn parenthesized_branches_and_the_last_distinct_union_decide() {
    let u = union(
        "(SELECT user_id AS u FROM t_order ORDER BY amount DESC LIMIT 3) UNION ALL (SELECT user_id FROM t_order WHERE order_id = 7) union distinct SELECT 5 ORDER BY u",
    );
    assert_eq!(
        u.branches,
        [
            "SELECT user_id AS u FROM t_order ORDER BY amount DESC LIMIT 3",
            "SELECT user_id FROM t_order WHERE order_id = 7",
            " SELECT 5 ",
        ]
    );
    assert!(
        u.distinct,
        "a DISTINCT union at the end deduplicates every branch"
    );
    assert_eq!(u.order_by[0].column, Some(0));
    assert_eq!(u.limit, None);
}

#[test]
fn a_union_keyword_in_strings_comments_or_subqueries_does_not_split() {
    let u = union(
        "SELECT 'a UNION b' AS s FROM t_order WHERE order_id = 1 -- UNION\n UNION SELECT `union` FROM t_shop_setting",
    );
    assert_eq!(u.branches.len(), 2);
    assert!(u.branches[0].contains("'a UNION b'"), "{:?}", u.branches);
    assert!(u.branches[1].contains("`union`"), "{:?}", u.branches);
}

#[test]
fn what_a_union_cannot_answer_is_refused_with_the_reason() {
    let refused = [
        (
            "SELECT order_id FROM t_order UNION SELECT order_id FROM t_order_item UNION ALL SELECT 1",
            "UNION ALL after a UNION",
        ),
        (
            "SELECT order_id FROM t_order EXCEPT SELECT order_id FROM t_order_item",
            "INTERSECT and EXCEPT",
        ),
        (
            "SELECT order_id FROM t_order UNION SELECT order_id FROM t_order_item ORDER BY order_id + 1",
            "must name a column of the result",
        ),
        (
            "SELECT order_id FROM t_order UNION SELECT order_id FROM t_order_item ORDER BY 2",
            "names column 2 of 1",
        ),
        (
            "SELECT order_id FROM t_order UNION SELECT order_id FROM t_order_item FOR UPDATE",
            "FOR UPDATE",
        ),
        (
            "WITH RECURSIVE x AS (SELECT 1) SELECT order_id FROM t_order UNION SELECT 1",
            "RECURSIVE",
        ),
    ];
    for (sql, why) in refused {
        let err = route_err(sql).to_string();
        assert!(err.contains(why), "{sql}: {err}");
    }
    let many = vec!["SELECT order_id FROM t_order"; 65].join(" UNION ALL ");
    assert!(route_err(&many).to_string().contains("at most 64 branches"));
}
