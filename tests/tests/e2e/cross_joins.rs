//! Differential tests of joins across shards: two tables joined on columns that are not a
//! shared sharding key (or a sharded table and a single table in another database), joined
//! by the proxy from the left rows and batched `IN (...)` lookups of the right. The same
//! rows, column names and types as one database gives, INNER and LEFT, with a cold and a
//! warm cache, in both protocols and through the mariadb CLI; what the proxy cannot join
//! exactly is refused with the reason.

use mysql_async::prelude::Queryable;
use shardgate_tests::{
    assert_cli_same, assert_refused, assert_same, column_shapes, create_both, insert_both, Cluster,
};

const ORDERS: &str = "(order_id BIGINT NOT NULL PRIMARY KEY, user_id INT NULL, \
    amount DECIMAL(12,2) NULL, note VARCHAR(20) NULL, code VARBINARY(8) NULL)";
const ITEMS: &str = "(order_id BIGINT NOT NULL, line INT NOT NULL, sku VARCHAR(16) NOT NULL, \
    price DECIMAL(8,1) NULL, code VARBINARY(8) NULL, PRIMARY KEY (order_id, line))";
const SETTINGS: &str = "(name INT NOT NULL PRIMARY KEY, value VARCHAR(20) NOT NULL)";

fn on_reference(sql: &str) -> String {
    ["t_order_item", "t_order", "t_shop_setting"]
        .iter()
        .fold(format!(" {sql} "), |s, table| {
            s.replace(&format!(" {table} "), &format!(" reference.{table} "))
        })
        .trim()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_across_shards_match_one_database() {
    let cluster = Cluster::start().await;
    let (mut reference, mut proxy) = create_both(
        &cluster,
        &[
            ("t_order", ORDERS),
            ("t_order_item", ITEMS),
            ("t_shop_setting", SETTINGS),
        ],
    )
    .await;
    let orders: Vec<String> = (0..250i64)
        .map(|i| {
            let id = i * 613 - 30_000;
            let user = if i % 17 == 0 {
                "NULL".into()
            } else {
                (i % 9).to_string()
            };
            format!(
                "({id}, {user}, {}.{:02}, 'n{}', 0x{:02X})",
                i % 50,
                i % 4,
                i % 6,
                i % 11
            )
        })
        .collect();
    let items: Vec<String> = (0..250i64)
        .filter(|i| i % 3 != 0)
        .flat_map(|i| {
            let id = i * 613 - 30_000;
            (1..=(i % 4 + 1)).map(move |line| {
                format!(
                    "({id}, {line}, 'sku-{}', {}.5, 0x{:02X})",
                    (i + line) % 7,
                    i % 30,
                    (i + line) % 13
                )
            })
        })
        .collect();
    let settings: Vec<String> = (0..6).map(|n| format!("({n}, 'user {n}')")).collect();
    insert_both(
        &mut reference,
        &mut proxy,
        "t_order",
        "order_id, user_id, amount, note, code",
        &orders,
    )
    .await;
    insert_both(
        &mut reference,
        &mut proxy,
        "t_order_item",
        "order_id, line, sku, price, code",
        &items,
    )
    .await;
    insert_both(
        &mut reference,
        &mut proxy,
        "t_shop_setting",
        "name, value",
        &settings,
    )
    .await;

    let statements = [
        // Inner joins on columns that are no sharding key; conditions on each table.
        "SELECT o.order_id, o.amount, i.line, i.sku FROM t_order o JOIN t_order_item i ON o.user_id = i.line WHERE o.amount > 30 AND i.sku <> 'sku-2' ORDER BY o.order_id, i.order_id, i.line",
        "SELECT i.order_id AS item_order, i.price, o.note FROM t_order_item i INNER JOIN t_order o ON i.price = o.amount ORDER BY item_order, i.line, o.order_id",
        // The right table looked up by its sharding key: each batch prunes.
        "SELECT i.order_id, i.line, o.order_id AS parent, o.note FROM t_order_item i JOIN t_order o ON o.order_id = i.line - 30001 ORDER BY i.order_id, i.line",
        "SELECT o.note, i.sku FROM t_order_item i JOIN t_order o ON o.order_id = i.order_id + 613 WHERE i.line = 2 ORDER BY i.order_id DESC LIMIT 7, 9",
        // LEFT JOIN: unmatched left rows with NULLs; the right table's own ON conditions.
        "SELECT o.order_id, o.user_id, i.order_id, i.line FROM t_order o LEFT JOIN t_order_item i ON i.line = o.user_id AND i.sku = 'sku-4' ORDER BY o.order_id, i.order_id",
        "SELECT o.order_id, s.value FROM t_order o LEFT JOIN t_shop_setting s ON s.name = o.user_id WHERE o.amount < 10 ORDER BY s.value DESC, o.order_id",
        // A sharded table joined to a single table in another database, the single first.
        "SELECT s.value, o.order_id FROM t_shop_setting s JOIN t_order o ON o.user_id = s.name WHERE o.note = 'n3' ORDER BY 2 LIMIT 12",
        // Binary strings compare byte for byte; a self-join under two names.
        "SELECT o.order_id, i.order_id, i.line FROM t_order o JOIN t_order_item i ON i.code = o.code WHERE o.order_id < -25000 ORDER BY 1, 2, 3",
        "SELECT a.order_id, b.order_id AS twin FROM t_order a JOIN t_order b ON a.amount = b.amount WHERE a.note = 'n1' ORDER BY a.order_id, twin",
        // Expressions over one table's columns, ordered by one the client does not see.
        "SELECT o.order_id, CONCAT(i.sku, '/', i.line) AS label, i.price * 2 FROM t_order o JOIN t_order_item i ON o.user_id = i.line ORDER BY i.price DESC, o.order_id, label LIMIT 20",
        // No left row at all; a left row whose join value is NULL.
        "SELECT o.order_id, i.sku FROM t_order o LEFT JOIN t_order_item i ON i.line = o.user_id WHERE o.amount > 1000 ORDER BY 1",
        "SELECT o.order_id, i.sku FROM t_order o LEFT JOIN t_order_item i ON i.line = o.user_id WHERE o.user_id IS NULL ORDER BY 1, 2",
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
    // Prepared with parameters.
    let prepared = "SELECT o.order_id, i.line FROM t_order o JOIN t_order_item i ON o.user_id = i.line WHERE o.amount > ? AND i.sku = ? ORDER BY o.order_id, i.order_id LIMIT ?";
    for (amount, sku, limit) in [(10, "sku-1", 50), (45, "sku-6", 5), (0, "none", 10)] {
        let expected: Vec<(i64, i64)> = reference
            .exec(on_reference(prepared), (amount, sku, limit))
            .await
            .unwrap();
        let got: Vec<(i64, i64)> = proxy.exec(prepared, (amount, sku, limit)).await.unwrap();
        assert_eq!(got, expected, "{amount}, {sku}, {limit}");
    }
    // The mariadb CLI (Connector/C) reads the same rows.
    for sql in [statements[0], statements[4]] {
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
            "SELECT o.order_id, i.sku FROM t_order o JOIN t_order_item i ON o.note = i.sku",
            "case-insensitive collation",
        ),
        (
            "SELECT order_id, sku FROM t_order o JOIN t_order_item i ON o.user_id = i.line",
            "unqualified column",
        ),
        (
            "SELECT o.order_id FROM t_order o JOIN t_order_item i ON o.user_id = i.line WHERE o.amount > 1 OR i.line = 2",
            "both tables",
        ),
        (
            "SELECT o.order_id FROM t_order o LEFT JOIN t_order_item i ON o.user_id = i.line WHERE i.sku = 'x'",
            "right table of a LEFT JOIN",
        ),
        (
            "SELECT o.user_id, COUNT(*) FROM t_order o JOIN t_order_item i ON o.user_id = i.line GROUP BY o.user_id",
            "GROUP BY",
        ),
        (
            "SELECT * FROM t_order o JOIN t_order_item i ON o.user_id = i.line",
            "`*`",
        ),
        (
            "SELECT o.order_id FROM t_order o JOIN t_order_item i ON o.user_id < i.line",
            "one equality",
        ),
        (
            "SELECT o.order_id FROM t_order o JOIN t_order_item i ON o.user_id = i.line WHERE o.order_id IN (SELECT 1)",
            "subquery",
        ),
    ] {
        assert_refused(&mut proxy, sql, 1235, reason).await;
    }
    let count: Option<i64> = proxy
        .query_first("SELECT COUNT(*) FROM t_order_item")
        .await
        .unwrap();
    assert_eq!(count, Some(items.len() as i64));
}
