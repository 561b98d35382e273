//! Differential tests of a derived table with LIMIT over a sharded table, joined by key to
//! its binding table (SQLAlchemy's `joinedload` with LIMIT, paginators, Django's count of a
//! sliced queryset): run in two phases, it must give what one unsharded database gives,
//! with a cold and a warm shape cache, in both protocols; so must `IN (SELECT ...)` over a
//! sharded table, its values found first; and CTEs, read as the derived tables they mean.
//! Shapes the two phases cannot answer exactly are refused with the reason.

use mysql_async::prelude::Queryable;
use shardgate_tests::{
    assert_cli_same, assert_refused, assert_same, create_both, insert_both, Cluster,
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
                .replace(&format!(" `{table}` "), &format!(" reference.`{table}` "))
        })
        .trim()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limited_derived_table_joined_by_key_matches_one_database() {
    let cluster = Cluster::start().await;
    let (mut reference, mut proxy) =
        create_both(&cluster, &[("t_order", ORDERS), ("t_order_item", ITEMS)]).await;
    // Amounts repeat (ties broken by order_id in the queries); ids spread over the tables.
    let orders: Vec<String> = (0..400i64)
        .map(|i| {
            let id = i * 977 - 50_000;
            let user = if i % 11 == 0 {
                "NULL".into()
            } else {
                (i % 6).to_string()
            };
            format!("({id}, {user}, {}.{:02}, 'n{}')", i % 40, i % 3, i % 5)
        })
        .collect();
    let items: Vec<String> = (0..400i64)
        .filter(|i| i % 3 != 0)
        .flat_map(|i| {
            let id = i * 977 - 50_000;
            (1..=(i % 4 + 1)).map(move |line| format!("({id}, {line}, 'sku-{}')", (i + line) % 13))
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

    let joinedload = |user: &str, limit: &str| {
        format!(
            "SELECT anon_1.order_id, anon_1.user_id, anon_1.amount, t_order_item_1.line, t_order_item_1.sku \
             FROM (SELECT t_order.order_id AS order_id, t_order.user_id AS user_id, t_order.amount AS amount \
             FROM t_order WHERE t_order.user_id = {user} ORDER BY t_order.amount DESC, t_order.order_id {limit}) AS anon_1 \
             LEFT OUTER JOIN t_order_item AS t_order_item_1 ON anon_1.order_id = t_order_item_1.order_id \
             ORDER BY anon_1.amount DESC, anon_1.order_id, t_order_item_1.line"
        )
    };
    let mut statements = vec![
        joinedload("3", "LIMIT 7"),
        joinedload("5", "LIMIT 12"),
        joinedload("2", "LIMIT 5 OFFSET 9"),
        joinedload("1", "LIMIT 4, 6"),
        joinedload("4", "LIMIT 0"),
        joinedload("99", "LIMIT 5"),
        joinedload("1", "LIMIT 1000"),
    ];
    statements.extend(
        [
            // Django's count of a sliced queryset, and other aggregates over the window.
            "SELECT COUNT(*), SUM(x.amount), MAX(x.note) FROM (SELECT order_id, amount, note FROM t_order ORDER BY amount, order_id LIMIT 50) x",
            "SELECT COUNT(*) FROM (SELECT order_id FROM t_order WHERE user_id = 77 LIMIT 3) AS subquery",
            // Every column, the key found by `*`; the outer order differs from the inner.
            "SELECT * FROM (SELECT * FROM t_order WHERE amount > 20 ORDER BY order_id DESC LIMIT 20) AS t ORDER BY note, order_id",
            // An inner join grouped around the window, an outer LIMIT, comments and odd spacing.
            "SELECT x.order_id, COUNT(i.line), MIN(i.sku) FROM ( SELECT /* inner ) */ order_id FROM t_order ORDER BY order_id LIMIT 30 ) x JOIN t_order_item i ON i.order_id = x.order_id GROUP BY x.order_id ORDER BY x.order_id",
            "SELECT o.order_id, i.line FROM (SELECT t.order_id AS order_id, t.amount FROM t_order t WHERE t.note <> 'n1' ORDER BY t.amount, t.order_id LIMIT 25) AS o LEFT JOIN t_order_item i USING (order_id) ORDER BY o.amount DESC, o.order_id, i.line LIMIT 8",
            // Groups by the key: each is one shard's, so the window still holds.
            "SELECT x.order_id, x.n FROM (SELECT order_id, COUNT(*) AS n, MAX(sku) AS top FROM t_order_item GROUP BY order_id ORDER BY n DESC, order_id LIMIT 10) x ORDER BY x.n DESC, x.order_id",
            "SELECT COUNT(*) FROM (SELECT DISTINCT order_id, note FROM t_order ORDER BY order_id LIMIT 3, 40) d",
            // Without LIMIT the derived table is each shard's own: run as written, merged.
            "SELECT COUNT(*), SUM(x.amount) FROM (SELECT amount FROM t_order WHERE user_id = 2) x",
            "SELECT x.order_id, x.n, o.note FROM (SELECT order_id, COUNT(*) AS n FROM t_order_item GROUP BY order_id) x JOIN t_order o ON o.order_id = x.order_id ORDER BY x.n DESC, x.order_id LIMIT 15",
            "SELECT d.note, COUNT(*) FROM (SELECT DISTINCT order_id, note FROM t_order WHERE amount < 30) AS d GROUP BY d.note ORDER BY d.note",
            "SELECT * FROM (SELECT order_id, note FROM t_order WHERE order_id = 804) x LEFT JOIN t_order_item i ON i.order_id = x.order_id ORDER BY i.line",
            // Correlated by the sharding key: the subquery runs on the outer row's shard.
            "SELECT o.order_id, o.note FROM t_order o WHERE EXISTS (SELECT 1 FROM t_order_item i WHERE i.order_id = o.order_id AND i.sku = 'sku-3') ORDER BY o.order_id",
            "SELECT o.order_id, (SELECT COUNT(*) FROM t_order_item i WHERE i.order_id = o.order_id) AS n, (SELECT MAX(j.sku) FROM t_order_item j WHERE o.order_id = j.order_id AND j.line > 1) AS top FROM t_order o WHERE o.amount > 30 ORDER BY n DESC, o.order_id LIMIT 12",
            "SELECT COUNT(*) FROM t_order o WHERE NOT EXISTS (SELECT 1 FROM t_order_item WHERE t_order_item.order_id = o.order_id)",
            "SELECT o.user_id, COUNT(*) FROM t_order o WHERE o.order_id IN (SELECT i.order_id FROM t_order_item i WHERE i.order_id = o.order_id AND i.line = 2) GROUP BY o.user_id ORDER BY o.user_id",
            // CTEs: each reference read as the derived table it means.
            "WITH w AS (SELECT order_id, amount FROM t_order ORDER BY amount DESC, order_id LIMIT 10) SELECT COUNT(*), SUM(w.amount) FROM w",
            "with w as (SELECT order_id, note FROM t_order WHERE user_id = 2) SELECT w.note, COUNT(*) FROM w GROUP BY w.note ORDER BY w.note",
            "WITH top AS (SELECT order_id, amount FROM t_order WHERE note <> 'n1' ORDER BY amount, order_id LIMIT 25), /* two */ items AS (SELECT order_id, line FROM t_order_item WHERE line > 1) SELECT o.order_id, i.line FROM top AS o LEFT JOIN t_order_item i ON i.order_id = o.order_id ORDER BY o.amount DESC, o.order_id, i.line LIMIT 8",
        ]
        .map(String::from),
    );
    // Cold, then warm (the same shapes through the shape cache), in the text and the
    // binary protocol.
    for _round in ["cold", "warm"] {
        for sql in &statements {
            assert_same(&mut reference, &mut proxy, sql, &on_reference(sql)).await;
        }
    }
    // Prepared with parameters, the LIMIT's among them (connectors that prepare send it so).
    for (user, offset, count) in [(3, 0, 7), (2, 9, 5), (1, 4, 6), (99, 0, 5), (5, 0, 0)] {
        let sql = joinedload("?", "LIMIT ?, ?");
        let expected: Vec<mysql_async::Row> = reference
            .exec(on_reference(&sql), (user, offset, count))
            .await
            .unwrap();
        let got: Vec<mysql_async::Row> = proxy.exec(&sql, (user, offset, count)).await.unwrap();
        let values = |rows: Vec<mysql_async::Row>| {
            rows.into_iter()
                .map(mysql_async::Row::unwrap)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            values(got),
            values(expected),
            "{sql} with {user}, {offset}, {count}"
        );
    }

    // The mariadb CLI (Connector/C, strict about packets) reads the same rows.
    for sql in [&statements[0], &statements[2], &statements[7]] {
        let rows = assert_cli_same(
            cluster.proxy.port(),
            &mut reference,
            sql,
            &on_reference(sql),
        )
        .await;
        assert!(rows > 0 || sql.contains("COUNT"), "{sql}");
    }

    // `IN (SELECT ...)` over a sharded table: the subquery's values first, then the
    // statement with them written in; in both protocols (prepared, the statement's rows are
    // re-encoded in the binary protocol).
    for sql in [
        "SELECT order_id, note FROM t_order WHERE order_id IN (SELECT order_id FROM t_order_item WHERE sku = 'sku-3') ORDER BY order_id",
        "SELECT COUNT(*) FROM t_order WHERE order_id NOT IN (SELECT order_id FROM t_order_item)",
        "SELECT COUNT(*) FROM t_order WHERE order_id NOT IN (SELECT order_id FROM t_order_item WHERE sku = 'none')",
        "SELECT COUNT(*)\nFROM t_order WHERE order_id IN(/* ( */SELECT order_id FROM `t_order_item` WHERE sku = ')'\n)",
        "SELECT COUNT(*) FROM t_order WHERE order_id IN ( SELECT order_id FROM t_order_item WHERE sku = 'none' )",
        // NULL among the values: IN is never true for it, NOT IN never true at all.
        "SELECT order_id FROM t_order WHERE user_id IN (SELECT user_id FROM t_order WHERE amount > 35) AND amount < 3 ORDER BY order_id",
        "SELECT COUNT(*) FROM t_order WHERE user_id NOT IN (SELECT user_id FROM t_order WHERE amount > 35)",
        // EXISTS and scalar subqueries, uncorrelated.
        "SELECT COUNT(*) FROM t_order WHERE EXISTS (SELECT 1 FROM t_order_item WHERE sku = 'sku-5')",
        "SELECT COUNT(*) FROM t_order WHERE NOT EXISTS (SELECT 1 FROM t_order_item WHERE sku = 'none') AND user_id = 3",
        "SELECT COUNT(*) FROM t_order WHERE EXISTS (SELECT order_id, sku FROM t_order_item WHERE sku = 'none')",
        "SELECT order_id, note FROM t_order WHERE order_id = (SELECT MAX(order_id) FROM t_order_item WHERE line = 2)",
        "SELECT COUNT(*) FROM t_order WHERE amount > (SELECT AVG(amount) FROM t_order WHERE note = 'n3')",
        "SELECT COUNT(*) FROM t_order WHERE amount BETWEEN (SELECT MIN(amount) FROM t_order WHERE user_id = 2) AND (SELECT MAX(amount) FROM t_order WHERE user_id = 4)",
        "SELECT COUNT(*) FROM t_order WHERE order_id = (SELECT order_id FROM t_order_item WHERE sku = 'none')",
        // A subquery inside the subquery: the innermost first.
        "SELECT COUNT(*) FROM t_order WHERE order_id IN (SELECT order_id FROM t_order_item WHERE order_id IN (SELECT order_id FROM t_order WHERE user_id = 4) AND line > 1)",
        // In the select list, and in a derived table's WHERE.
        "SELECT (SELECT COUNT(*) FROM t_order_item WHERE line = 3), (SELECT MAX(amount) FROM t_order)",
        "SELECT COUNT(*) FROM (SELECT order_id FROM t_order WHERE order_id IN (SELECT order_id FROM t_order_item WHERE line = 2) ORDER BY order_id LIMIT 20) x",
        // A CTE read in a subquery.
        "WITH x AS (SELECT order_id FROM t_order_item WHERE line = 3) SELECT order_id FROM t_order WHERE order_id IN (SELECT order_id FROM x) ORDER BY order_id",
        // Two subqueries, decimal values, and a merge around them.
        "SELECT note, COUNT(*) FROM t_order WHERE order_id IN (SELECT order_id FROM t_order_item WHERE line = 4) OR amount IN (SELECT amount FROM t_order WHERE note = 'n2' AND user_id = 1) GROUP BY note ORDER BY note",
    ] {
        for _round in ["cold", "warm"] {
            assert_same(&mut reference, &mut proxy, sql, &on_reference(sql)).await;
        }
    }

    // What the two phases cannot answer exactly is refused with the reason; the
    // connection goes on.
    for (sql, reason) in [
        (
            "SELECT * FROM (SELECT user_id, COUNT(*) AS c FROM t_order GROUP BY user_id LIMIT 3) x",
            "only by its sharding column",
        ),
        (
            "SELECT * FROM (SELECT DISTINCT amount FROM t_order) x",
            "only by its sharding column",
        ),
        (
            "SELECT x.c FROM (SELECT COUNT(*) AS c FROM t_order) x",
            "only by its sharding column",
        ),
        // Aggregates fold rows wherever they stand: any of MySQL's, and in ORDER BY too.
        (
            "SELECT * FROM (SELECT order_id, JSON_ARRAYAGG(note) AS j FROM t_order LIMIT 3) x",
            "only by its sharding column",
        ),
        (
            "SELECT * FROM (SELECT order_id FROM t_order ORDER BY COUNT(*) LIMIT 3) x",
            "only by its sharding column",
        ),
        (
            "SELECT x.amount FROM (SELECT amount FROM t_order ORDER BY amount LIMIT 3) x",
            "sharding column",
        ),
        (
            "SELECT x.order_id FROM (SELECT order_id, user_id FROM t_order LIMIT 3) x JOIN t_order_item i ON x.user_id = i.line",
            "not on the sharding key",
        ),
        (
            "SELECT x.order_id FROM (SELECT order_id FROM t_order LIMIT 1 + 1) x",
            "needs a LIMIT of literal numbers",
        ),
        (
            "SELECT x.amount FROM (SELECT amount FROM t_order) x JOIN t_order_item i ON i.order_id = x.amount",
            "not on the sharding key",
        ),
        (
            "SELECT x.order_id FROM (SELECT o.order_id FROM t_order o JOIN t_order_item i ON i.order_id = o.order_id LIMIT 3) x",
            "one table",
        ),
        (
            "SELECT x.order_id FROM (SELECT order_id FROM t_order WHERE (order_id, user_id) IN (SELECT order_id, line FROM t_order_item) LIMIT 3) x",
            "subquery",
        ),
        (
            "SELECT COUNT(*) FROM t_order WHERE note IN (SELECT sku FROM t_order_item)",
            "not numbers",
        ),
        (
            "UPDATE t_order SET note = 'x' WHERE order_id IN (SELECT order_id FROM t_order_item)",
            "subquery",
        ),
        // Other schemas stay out of reach inside subqueries and derived tables.
        (
            "SELECT COUNT(*) FROM t_order WHERE order_id IN (SELECT user FROM mysql.user)",
            "schema",
        ),
        (
            "SELECT * FROM (SELECT * FROM order_db_1.t_order_1 LIMIT 1) x",
            "schema",
        ),
    ] {
        assert_refused(&mut proxy, sql, 1235, reason).await;
    }
    // Prepared with parameters inside and outside the subquery: the values are written in
    // before it runs.
    let in_subquery = "SELECT order_id, note FROM t_order WHERE order_id IN (SELECT order_id FROM t_order_item WHERE line = ?) AND amount > ? ORDER BY order_id";
    for (line, amount) in [(2, 10), (1, 0), (9, 0)] {
        let expected: Vec<(i64, Option<String>)> = reference
            .exec(on_reference(in_subquery), (line, amount))
            .await
            .unwrap();
        let got: Vec<(i64, Option<String>)> =
            proxy.exec(in_subquery, (line, amount)).await.unwrap();
        assert_eq!(got, expected, "prepared {line}, {amount}");
    }
    let many = format!(
        "SELECT 1 FROM t_order WHERE {} 1 = 0",
        "order_id IN (SELECT order_id FROM t_order_item) OR ".repeat(9)
    );
    match proxy.query_drop(&many).await {
        Err(mysql_async::Error::Server(e)) => {
            assert_eq!(e.code, 1235, "{}", e.message);
            assert!(
                e.message.contains("more than 8 subqueries"),
                "{}",
                e.message
            );
        }
        other => panic!("{other:?}"),
    }
    // A scalar subquery of several rows: MySQL's error.
    match proxy
        .query_drop("SELECT 1 FROM t_order WHERE order_id = (SELECT order_id FROM t_order_item)")
        .await
    {
        Err(mysql_async::Error::Server(e)) => {
            assert_eq!((e.code, e.state.as_str()), (1242, "21000"), "{}", e.message)
        }
        other => panic!("{other:?}"),
    }
    let correlated = "SELECT order_id FROM t_order o WHERE order_id IN (SELECT order_id FROM t_order_item i WHERE i.line = o.user_id)";
    assert!(proxy.query_drop(correlated).await.is_err());
    let count: Option<i64> = proxy
        .query_first("SELECT COUNT(*) FROM t_order_item")
        .await
        .unwrap();
    assert_eq!(count, Some(items.len() as i64));
}
