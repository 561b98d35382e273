//! Differential tests of window functions over a sharded table: ROW_NUMBER, RANK,
//! DENSE_RANK, COUNT, SUM, MIN, MAX and AVG with PARTITION BY and ORDER BY, computed by the
//! proxy over the statement's rows, must give what one unsharded table gives — rows, column
//! names, types and NOT NULL — with a cold and a warm shape cache, in the text and binary
//! protocols and through the mariadb CLI. What the proxy cannot compute exactly is refused
//! with the reason, and the connection goes on.

use mysql_async::prelude::Queryable;
use shardgate_tests::{
    assert_cli_same, assert_refused, assert_same, column_shapes, create_both, insert_both, Cluster,
};

const ORDERS: &str = "(order_id BIGINT NOT NULL PRIMARY KEY, user_id INT NULL, \
    amount DECIMAL(12,2) NULL, note VARCHAR(20) NULL, weight DOUBLE NULL)";

fn on_reference(sql: &str) -> String {
    sql.replace(" t_order ", " reference.t_order ")
        .replace(" t_order\n", " reference.t_order\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn window_functions_over_shards_match_one_table() {
    let cluster = Cluster::start().await;
    let (mut reference, mut proxy) = create_both(&cluster, &[("t_order", ORDERS)]).await;
    // Users, amounts and notes repeat (peers and partitions); some are NULL; notes differ
    // in case only (one partition under the column's case-insensitive collation).
    let orders: Vec<String> = (0..400i64)
        .map(|i| {
            let id = i * 797 - 90_000;
            let user = if i % 19 == 0 {
                "NULL".into()
            } else {
                (i % 11).to_string()
            };
            let amount = if i % 23 == 0 {
                "NULL".into()
            } else {
                format!("{}.{:02}", i % 40, (i * 7) % 4 * 25)
            };
            let note = ["a", "B", "b", "A", "c"][(i % 5) as usize];
            format!("({id}, {user}, {amount}, '{note}', {}.5)", i % 3)
        })
        .collect();
    insert_both(
        &mut reference,
        &mut proxy,
        "t_order",
        "order_id, user_id, amount, note, weight",
        &orders,
    )
    .await;

    let statements = [
        // Numbering within partitions, ordered by a unique key: one answer.
        "SELECT order_id, user_id, ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY order_id) AS rn FROM t_order ORDER BY order_id",
        // Ranks over ties (peers); DESC; NULLs sort first ascending.
        "SELECT order_id, amount, RANK() OVER (ORDER BY amount DESC) AS r, DENSE_RANK() OVER (PARTITION BY user_id ORDER BY amount) AS dr FROM t_order ORDER BY order_id",
        // Running sums cover the row's peers; whole-partition aggregates; COUNT(*) and
        // COUNT(column) differ on NULLs.
        "SELECT order_id, SUM(amount) OVER (PARTITION BY user_id ORDER BY amount) AS running, AVG(amount) OVER (PARTITION BY user_id) AS mean, COUNT(*) OVER (PARTITION BY user_id) AS n, COUNT(amount) OVER (PARTITION BY user_id) AS known FROM t_order ORDER BY order_id",
        "SELECT order_id, note, MIN(amount) OVER (PARTITION BY note ORDER BY order_id) AS low, MAX(order_id) OVER (PARTITION BY note) AS last FROM t_order ORDER BY order_id",
        // Conditions prune the rows first; the statement sorts and limits by a window value.
        "SELECT order_id, ROW_NUMBER() OVER (ORDER BY amount DESC, order_id) AS place FROM t_order WHERE user_id IN (2, 3, 5) ORDER BY place LIMIT 10",
        "SELECT user_id, order_id, SUM(amount * 2) OVER (PARTITION BY user_id % 3 ORDER BY order_id DESC) AS x FROM t_order WHERE amount > 10 ORDER BY x DESC, order_id LIMIT 5, 20",
        // Over groups: the window reads the merged groups' aggregates.
        "SELECT user_id, SUM(amount) AS total, RANK() OVER (ORDER BY SUM(amount) DESC) AS place, SUM(SUM(amount)) OVER () AS everything FROM t_order GROUP BY user_id ORDER BY place, user_id",
        // One shape, different literals: each read on its own.
        "SELECT order_id, SUM(amount + 1) OVER (PARTITION BY user_id) AS a, SUM(amount + 2) OVER (PARTITION BY user_id) AS b FROM t_order WHERE user_id = 4 OR user_id > 8 ORDER BY order_id",
        "SELECT order_id, SUM(amount + 5) OVER (PARTITION BY user_id) AS a, SUM(amount + 7) OVER (PARTITION BY user_id) AS b FROM t_order WHERE user_id = 4 OR user_id > 8 ORDER BY order_id",
        // Only window functions; ORDER BY a position; odd spacing and a comment.
        "SELECT row_number() over(order by order_id desc) FROM t_order ORDER BY 1 LIMIT 4",
        "SELECT order_id, count(*)   OVER ( /* whole */ ) AS n FROM t_order WHERE order_id < -80000 ORDER BY order_id",
    ];
    for round in ["cold", "warm"] {
        for sql in statements {
            let direct = on_reference(sql);
            assert_same(&mut reference, &mut proxy, sql, &direct).await;
            assert_eq!(
                column_shapes(&mut proxy, sql).await,
                column_shapes(&mut reference, &direct).await,
                "{round}: column names, types and NOT NULL of {sql}"
            );
        }
    }
    // One table answers the statement whole, whatever the window (NTILE included).
    let one = "SELECT order_id, NTILE(2) OVER (ORDER BY order_id) AS half FROM t_order WHERE order_id = 797";
    assert_same(&mut reference, &mut proxy, one, &on_reference(one)).await;

    // Prepared with parameters, the LIMIT's among them.
    let prepared = "SELECT order_id, RANK() OVER (PARTITION BY note ORDER BY amount) AS r FROM t_order WHERE user_id = ? ORDER BY order_id LIMIT ?";
    for (user, limit) in [(3, 10), (7, 100), (4, 0)] {
        let expected: Vec<(i64, i64)> = reference
            .exec(on_reference(prepared), (user, limit))
            .await
            .unwrap();
        let got: Vec<(i64, i64)> = proxy.exec(prepared, (user, limit)).await.unwrap();
        assert_eq!(got, expected, "{user}, {limit}");
    }
    // The mariadb CLI (Connector/C) reads the same rows.
    for sql in [statements[1], statements[6], statements[8]] {
        let rows = assert_cli_same(
            cluster.proxy.port(),
            &mut reference,
            sql,
            &on_reference(sql),
        )
        .await;
        assert!(rows > 0, "{sql}");
    }

    // Refused with the reason; the connection goes on.
    for (sql, reason) in [
        (
            "SELECT order_id, NTILE(4) OVER (ORDER BY order_id) FROM t_order",
            "NTILE",
        ),
        (
            "SELECT order_id, SUM(amount) OVER (ORDER BY order_id ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM t_order",
            "frame",
        ),
        (
            "SELECT order_id, ROW_NUMBER() OVER w FROM t_order WINDOW w AS (ORDER BY order_id)",
            "WINDOW clause",
        ),
        (
            "SELECT order_id, ROW_NUMBER() OVER (ORDER BY order_id) + 1 FROM t_order",
            "inside an expression",
        ),
        (
            "SELECT *, RANK() OVER (ORDER BY amount) FROM t_order",
            "`*`",
        ),
        (
            "SELECT DISTINCT user_id, COUNT(*) OVER (PARTITION BY user_id) FROM t_order",
            "DISTINCT",
        ),
    ] {
        assert_refused(&mut proxy, sql, 1235, reason).await;
    }
    // Floating-point sums depend on the order they are added in.
    assert_refused(
        &mut proxy,
        "SELECT order_id, SUM(weight) OVER (PARTITION BY user_id) FROM t_order",
        1235,
        "floating-point",
    )
    .await;
    let count: Option<i64> = proxy
        .query_first("SELECT COUNT(*) FROM t_order")
        .await
        .unwrap();
    assert_eq!(count, Some(orders.len() as i64));
}
