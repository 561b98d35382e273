//! Differential tests of joins over several physical tables: a table with its binding table
//! on the sharding key, and with a broadcast table, run shard-locally and merged, must give
//! what one unsharded database gives. Joins that would need rows from several shards are
//! refused with the reason.

use mysql_async::prelude::Queryable;
use shardgate_tests::{assert_same, create_both, insert_both, Cluster};

const ORDERS: &str = "(order_id BIGINT NOT NULL PRIMARY KEY, user_id INT NULL, \
    currency CHAR(3) COLLATE utf8mb4_bin NULL, amount DECIMAL(12,2) NULL)";
const ITEMS: &str = "(order_id BIGINT NOT NULL, line INT NOT NULL, sku VARCHAR(16) NOT NULL, \
    qty INT NULL, PRIMARY KEY (order_id, line))";
const CURRENCIES: &str = "(code CHAR(3) COLLATE utf8mb4_bin NOT NULL PRIMARY KEY, \
    rate DECIMAL(12,6) NOT NULL)";

/// The same statement against the reference database: its tables are named there.
fn on_reference(sql: &str) -> String {
    ["t_order_item", "t_currency", "t_order"]
        .iter()
        .fold(format!(" {sql} "), |s, table| {
            s.replace(&format!(" {table} "), &format!(" reference.{table} "))
        })
        .trim()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binding_and_broadcast_joins_match_one_database() {
    let cluster = Cluster::start().await;
    let (mut reference, mut proxy) = create_both(
        &cluster,
        &[
            ("t_order", ORDERS),
            ("t_order_item", ITEMS),
            ("t_currency", CURRENCIES),
        ],
    )
    .await;
    let currencies = ["'EUR'", "'USD'", "'eur'", "'JPY'", "NULL"];
    let orders: Vec<String> = (0..600i64)
        .map(|i| {
            let id = i * 613 - 90_000;
            let user = if i % 9 == 0 {
                "NULL".into()
            } else {
                (i % 7).to_string()
            };
            format!(
                "({id}, {user}, {}, {}.{:02})",
                currencies[(i % 5) as usize],
                i % 300,
                i % 100
            )
        })
        .collect();
    let items: Vec<String> = (0..600i64)
        .filter(|i| i % 4 != 0)
        .flat_map(|i| {
            let id = i * 613 - 90_000;
            (1..=(i % 3 + 1)).map(move |line| {
                let qty = if (i + line) % 10 == 0 {
                    "NULL".into()
                } else {
                    ((i * line) % 9).to_string()
                };
                format!("({id}, {line}, 'sku-{}', {qty})", (i + line) % 17)
            })
        })
        .collect();
    for (table, columns, rows) in [
        ("t_order", "order_id, user_id, currency, amount", &orders),
        ("t_order_item", "order_id, line, sku, qty", &items),
    ] {
        insert_both(&mut reference, &mut proxy, table, columns, rows).await;
    }
    let rates = "('EUR', 1.000000), ('USD', 0.920000), ('JPY', 0.006100)";
    reference
        .query_drop(format!("INSERT INTO reference.t_currency VALUES {rates}"))
        .await
        .unwrap();
    proxy
        .query_drop(format!(
            "INSERT INTO t_currency (code, rate) VALUES {rates}"
        ))
        .await
        .unwrap();

    for sql in [
        // Binding tables joined on the sharding key: shard-local, then merged.
        "SELECT o.order_id, i.line, i.sku, i.qty FROM t_order o JOIN t_order_item i ON o.order_id = i.order_id ORDER BY o.order_id, i.line LIMIT 100, 60",
        "SELECT o.user_id, COUNT(*), SUM(i.qty), MAX(i.sku) FROM t_order o JOIN t_order_item i ON i.order_id = o.order_id GROUP BY o.user_id",
        "SELECT o.order_id, i.line FROM t_order o LEFT JOIN t_order_item i ON o.order_id = i.order_id WHERE o.user_id = 3 ORDER BY o.order_id DESC, i.line",
        "SELECT COUNT(DISTINCT i.sku) FROM t_order o JOIN t_order_item i ON o.order_id = i.order_id WHERE o.amount > 100",
        // A broadcast table: every shard has all of it.
        "SELECT o.order_id, c.rate FROM t_order o JOIN t_currency c ON c.code = o.currency WHERE o.user_id = 5 ORDER BY o.order_id",
        "SELECT c.code, COUNT(*), SUM(o.amount * c.rate) FROM t_order o JOIN t_currency c ON c.code = o.currency GROUP BY c.code ORDER BY c.code",
        "SELECT o.order_id, c.code FROM t_order o LEFT JOIN t_currency c ON c.code = o.currency ORDER BY o.order_id LIMIT 25",
        // All three.
        "SELECT o.currency, SUM(i.qty * c.rate) AS v FROM t_order o JOIN t_order_item i ON o.order_id = i.order_id JOIN t_currency c ON c.code = o.currency GROUP BY o.currency HAVING v > 10",
    ] {
        assert_same(&mut reference, &mut proxy, sql, &on_reference(sql)).await;
    }

    // Joins that would need rows of other shards are refused with the reason, and the
    // connection goes on.
    for (sql, reason) in [
        // (Joined by the proxy with their columns named: see cross_joins.rs.)
        (
            "SELECT * FROM t_order a JOIN t_order b ON a.user_id = b.user_id",
            "not on the sharding key",
        ),
        (
            "SELECT o.order_id, qty FROM t_order o JOIN t_order_item i ON o.user_id = i.qty",
            "not on the sharding key",
        ),
        (
            "SELECT order_id FROM t_order WHERE (order_id, user_id) IN (SELECT order_id, qty FROM t_order_item WHERE qty > 3)",
            "subquery",
        ),
    ] {
        match proxy.query_drop(sql).await {
            Err(mysql_async::Error::Server(e)) => {
                assert!(e.message.contains(reason), "{sql}: {}", e.message);
            }
            other => panic!("{sql}: {other:?}"),
        }
    }
    let count: Option<i64> = proxy
        .query_first("SELECT COUNT(*) FROM t_order_item")
        .await
        .unwrap();
    assert_eq!(count, Some(items.len() as i64));
}
