//! Differential tests of UNION and UNION ALL over sharded tables: each branch planned on
//! its own, the union deduplicated, sorted and limited by the proxy, must give what one
//! unsharded database gives — rows, column names and types — with a cold and a warm shape
//! cache, in the text and binary protocols and through the mariadb CLI. What cannot be
//! answered exactly is refused with the reason, and the connection goes on.

use mysql_async::prelude::Queryable;
use shardgate_tests::{
    assert_cli_same, assert_refused, assert_same, column_shapes, create_both, insert_both, Cluster,
};

const ORDERS: &str = "(order_id BIGINT NOT NULL PRIMARY KEY, user_id INT NULL, \
    amount DECIMAL(12,2) NULL, note VARCHAR(20) NULL)";
const ITEMS: &str = "(order_id BIGINT NOT NULL, line INT NOT NULL, sku VARCHAR(16) NOT NULL, \
    PRIMARY KEY (order_id, line))";

fn on_reference(sql: &str) -> String {
    ["t_order_item", "t_order"]
        .iter()
        .fold(format!(" {sql} "), |s, table| {
            s.replace(&format!(" {table} "), &format!(" reference.{table} "))
                .replace(&format!(" {table})"), &format!(" reference.{table})"))
        })
        .trim()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unions_over_sharded_tables_match_one_database() {
    let cluster = Cluster::start().await;
    let (mut reference, mut proxy) =
        create_both(&cluster, &[("t_order", ORDERS), ("t_order_item", ITEMS)]).await;
    let orders: Vec<String> = (0..300i64)
        .map(|i| {
            let id = i * 977 - 40_000;
            let user = if i % 13 == 0 {
                "NULL".into()
            } else {
                (i % 7).to_string()
            };
            let note = format!("n{}", i % 5);
            format!("({id}, {user}, {}.{:02}, '{note}')", i % 30, i % 4)
        })
        .collect();
    let items: Vec<String> = (0..300i64)
        .filter(|i| i % 4 != 0)
        .flat_map(|i| {
            let id = i * 977 - 40_000;
            // Some SKUs differ from notes in case only: UNION compares them as the
            // collation does, so `N1` is `n1` and the first branch's spelling stays (a
            // branch's own duplicates differ in nothing, whichever shard they come from).
            (1..=(i % 3 + 1)).map(move |line| {
                let k = (i + line) % 9;
                let letter = if k < 5 && i % 5 == 0 { 'N' } else { 'n' };
                format!("({id}, {line}, '{letter}{k}')")
            })
        })
        .collect();
    insert_both(
        &mut reference,
        &mut proxy,
        "t_order",
        "order_id, user_id, amount, note",
        &orders,
    )
    .await;
    insert_both(
        &mut reference,
        &mut proxy,
        "t_order_item",
        "order_id, line, sku",
        &items,
    )
    .await;

    let statements = [
        // Plain branches over every table, deduplicated as the collation compares.
        "SELECT note FROM t_order UNION SELECT sku FROM t_order_item ORDER BY note",
        "SELECT order_id FROM t_order WHERE user_id = 3 UNION ALL SELECT order_id FROM t_order_item WHERE line = 3 ORDER BY order_id DESC",
        "SELECT order_id, note FROM t_order WHERE order_id IN (-40000, 937, 2891) UNION ALL SELECT order_id, sku FROM t_order_item WHERE order_id = 937 ORDER BY 1, 2",
        // ORDER BY an alias of the first branch, LIMIT and OFFSET over the union.
        "SELECT order_id AS id, amount AS a FROM t_order WHERE amount > 25 UNION SELECT order_id, amount FROM t_order WHERE user_id = 2 ORDER BY a DESC, id LIMIT 7, 12",
        // Branches that merge on their own: aggregates, GROUP BY, their own ORDER BY and
        // LIMIT in parentheses; an INT widened to the BIGINT of COUNT.
        "SELECT user_id, COUNT(*) AS c FROM t_order GROUP BY user_id UNION ALL SELECT line, COUNT(*) FROM t_order_item GROUP BY line ORDER BY c DESC, user_id",
        "(SELECT order_id, amount FROM t_order ORDER BY amount DESC, order_id LIMIT 3) UNION ALL (SELECT order_id, amount FROM t_order ORDER BY amount, order_id LIMIT 2) ORDER BY amount, order_id",
        "SELECT COUNT(*) FROM t_order UNION ALL SELECT COUNT(*) FROM t_order_item UNION ALL SELECT COUNT(DISTINCT note) FROM t_order",
        "SELECT MAX(amount) AS m FROM t_order UNION SELECT MIN(amount) FROM t_order ORDER BY m",
        // A branch without a table, a literal that an INT column takes, NULLs.
        "SELECT user_id FROM t_order WHERE order_id = 937 UNION SELECT 5 UNION SELECT NULL ORDER BY user_id",
        "SELECT DISTINCT user_id FROM t_order UNION SELECT line FROM t_order_item ORDER BY 1",
        // A subquery inside a branch: its answer first.
        "SELECT order_id FROM t_order WHERE order_id IN (SELECT order_id FROM t_order_item WHERE line = 3) UNION SELECT order_id FROM t_order WHERE user_id = 1 ORDER BY order_id LIMIT 20",
        // Comments, odd spacing and case.
        "select note, order_id, 'o' AS src from t_order where user_id = 2\n/* a ) comment */ union\tALL ( select sku, order_id, 'i' from t_order_item where line = 1 ) order by note, order_id, src limit 15",
    ];
    for round in ["cold", "warm"] {
        for sql in statements {
            let direct = on_reference(sql);
            assert_same(&mut reference, &mut proxy, sql, &direct).await;
            assert_eq!(
                column_shapes(&mut proxy, sql).await,
                column_shapes(&mut reference, &direct).await,
                "{round}: column names and types of {sql}"
            );
        }
    }
    // Prepared with parameters, the LIMIT's among them.
    let prepared = "SELECT order_id, note FROM t_order WHERE user_id = ? UNION SELECT order_id, sku FROM t_order_item WHERE line = ? ORDER BY order_id, note LIMIT ?";
    for (user, line, limit) in [(3, 2, 10), (0, 3, 100), (6, 1, 0)] {
        let expected: Vec<mysql_async::Row> = reference
            .exec(on_reference(prepared), (user, line, limit))
            .await
            .unwrap();
        let got: Vec<mysql_async::Row> = proxy.exec(prepared, (user, line, limit)).await.unwrap();
        let values = |rows: Vec<mysql_async::Row>| {
            rows.into_iter()
                .map(mysql_async::Row::unwrap)
                .collect::<Vec<_>>()
        };
        assert_eq!(values(got), values(expected), "{user}, {line}, {limit}");
    }

    // Prepared, a subquery inside a branch is answered first too.
    let with_subquery = "SELECT order_id FROM t_order WHERE order_id IN (SELECT order_id FROM t_order_item WHERE line = ?) UNION SELECT order_id FROM t_order WHERE user_id = ? ORDER BY order_id";
    let expected: Vec<i64> = reference
        .exec(on_reference(with_subquery), (3, 1))
        .await
        .unwrap();
    let got: Vec<i64> = proxy.exec(with_subquery, (3, 1)).await.unwrap();
    assert!(!expected.is_empty());
    assert_eq!(got, expected, "prepared {with_subquery}");

    // The mariadb CLI (Connector/C, strict about packets) reads the same rows.
    for sql in [statements[0], statements[4], statements[8]] {
        let rows = assert_cli_same(
            cluster.proxy.port(),
            &mut reference,
            sql,
            &on_reference(sql),
        )
        .await;
        assert!(rows > 0, "{sql}");
    }

    // Refused with the reason and MySQL's code; the connection goes on.
    for (sql, code, reason) in [
        (
            "SELECT order_id, note FROM t_order UNION SELECT order_id FROM t_order_item",
            1222,
            "different number of columns",
        ),
        (
            "SELECT amount FROM t_order UNION SELECT line FROM t_order_item",
            1235,
            "different types",
        ),
        (
            "SELECT note FROM t_order UNION SELECT order_id FROM t_order_item",
            1235,
            "different types",
        ),
        (
            "SELECT order_id FROM t_order UNION SELECT order_id FROM t_order_item UNION ALL SELECT 1",
            1235,
            "UNION ALL after a UNION",
        ),
        (
            "SELECT order_id FROM t_order INTERSECT SELECT order_id FROM t_order_item",
            1235,
            "INTERSECT",
        ),
        (
            "SELECT order_id FROM t_order UNION SELECT order_id FROM order_db_1.t_order_1",
            1235,
            "schema",
        ),
        (
            "SELECT order_id FROM t_order UNION SELECT user FROM mysql.user",
            1235,
            "schema",
        ),
    ] {
        assert_refused(&mut proxy, sql, code, reason).await;
    }
    let count: Option<i64> = proxy
        .query_first("SELECT COUNT(*) FROM t_order_item")
        .await
        .unwrap();
    assert_eq!(count, Some(items.len() as i64));
}
