//! The binary protocol end to end with mysql_async, which prepares and executes server-side.

use mysql_async::prelude::Queryable;
use mysql_async::Value;
use shardgate_tests::Cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_statements_route_by_their_parameters() {
    let cluster = Cluster::start().await;
    cluster.create_tables().await;
    let mut conn = cluster.client().await;

    // A split INSERT: each physical statement gets only its rows' parameters.
    conn.exec_drop(
        "INSERT INTO t_order (order_id, user_id, status, amount) VALUES (?, ?, ?, ?), (?, ?, ?, ?), (?, ?, ?, ?)",
        (4242, 7, "new", "10.50", 33, 8, "x", "1.00", -1, 9, "paid", 2.25),
    )
    .await
    .unwrap();
    assert_eq!(conn.affected_rows(), 3);

    let row: Option<(i64, i64, String, String)> = conn
        .exec_first(
            "SELECT order_id, user_id, status, amount FROM t_order WHERE order_id = ?",
            (4242,),
        )
        .await
        .unwrap();
    assert_eq!(row, Some((4242, 7, "new".into(), "10.50".into())));
    let row: Option<(i64, String)> = conn
        .exec_first(
            "SELECT user_id, status FROM t_order WHERE order_id = ?",
            (-1,),
        )
        .await
        .unwrap();
    assert_eq!(row, Some((9, "paid".into())));
    // The row sits in its table: -1 -> order_db_31.t_order_31 on ds1.
    let mut ds1 = cluster.backend(1).await;
    let direct: Option<i64> = ds1
        .query_first("SELECT user_id FROM order_db_31.t_order_31 WHERE order_id = -1")
        .await
        .unwrap();
    assert_eq!(direct, Some(9));

    // NULL parameters: a NULL key matches nothing; a NULL value is stored as NULL.
    let none: Option<i64> = conn
        .exec_first(
            "SELECT user_id FROM t_order WHERE order_id = ?",
            (Value::NULL,),
        )
        .await
        .unwrap();
    assert_eq!(none, None);
    conn.query_drop("DROP TABLE t_shop_setting").await.unwrap();
    conn.query_drop(
        "CREATE TABLE t_shop_setting (name VARCHAR(64) PRIMARY KEY, value VARCHAR(255) NULL)",
    )
    .await
    .unwrap();
    conn.exec_drop(
        "INSERT INTO t_shop_setting (name, value) VALUES (?, ?)",
        ("n", Value::NULL),
    )
    .await
    .unwrap();
    let value: Option<Option<String>> = conn
        .exec_first("SELECT value FROM t_shop_setting WHERE name = ?", ("n",))
        .await
        .unwrap();
    assert_eq!(value, Some(None));

    // Reusing one statement with different keys routes each execution.
    let stmt = conn
        .prep("SELECT status FROM t_order WHERE order_id = ?")
        .await
        .unwrap();
    for (key, status) in [(4242, "new"), (33, "x"), (-1, "paid")] {
        let got: Option<String> = conn.exec_first(&stmt, (key,)).await.unwrap();
        assert_eq!(got.as_deref(), Some(status), "key {key}");
    }
    conn.close(stmt).await.unwrap();

    // Prepared writes on several tables answer with one OK.
    conn.exec_drop(
        "UPDATE t_order SET status = ? WHERE user_id > ?",
        ("bulk", 0),
    )
    .await
    .unwrap();
    assert_eq!(conn.affected_rows(), 3);
    conn.exec_drop("DELETE FROM t_order WHERE order_id = ?", (33,))
        .await
        .unwrap();
    assert_eq!(conn.affected_rows(), 1);
    let err = conn
        .exec_drop(
            "UPDATE t_order SET order_id = ? WHERE order_id = ?",
            (5, 4242),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("sharding column"), "{err}");
    // A prepared SELECT over every table: binary rows merged in ORDER BY order.
    let rows: Vec<(i64, i64)> = conn
        .exec(
            "SELECT order_id, user_id FROM t_order WHERE user_id > ? ORDER BY user_id DESC LIMIT ?",
            (0, 2),
        )
        .await
        .unwrap();
    assert_eq!(rows, vec![(-1, 9), (4242, 7)]);
    let statuses: Vec<String> = conn
        .exec(
            "SELECT DISTINCT status FROM t_order WHERE user_id > ? ORDER BY status",
            (0,),
        )
        .await
        .unwrap();
    assert_eq!(statuses, vec!["bulk"]);
    let totals: Option<(i64, String, i64)> = conn
        .exec_first(
            "SELECT COUNT(*), SUM(amount), MAX(user_id) FROM t_order WHERE user_id > ?",
            (0,),
        )
        .await
        .unwrap();
    assert_eq!(totals, Some((2, "12.75".to_string(), 9)));
    // Still usable after the errors.
    let got: Option<String> = conn
        .exec_first("SELECT status FROM t_order WHERE order_id = ?", (4242,))
        .await
        .unwrap();
    assert_eq!(got.as_deref(), Some("bulk"));
}

/// A backend whose `max_prepared_stmt_count` is far below what the pool could hold (a server
/// left at its defaults, against 1,024 physical statements per logical one per connection):
/// the proxy keeps fewer statements per connection instead of failing executes with 1461.
/// Eight clients execute a prepared point select over keys spread across all 1,024 tables.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_backend_statement_cache_shrinks_instead_of_failing() {
    let cluster = Cluster::start().await;
    cluster.create_tables().await;
    let mut conn = cluster.client().await;
    // From 1: order_id 0 asks for a generated key, as in MySQL.
    let keys: Vec<i64> = (1..=2048).collect();
    for chunk in keys.chunks(256) {
        let values: Vec<String> = chunk
            .iter()
            .map(|k| format!("({k}, {}, 'new', 1.00)", k % 97))
            .collect();
        conn.query_drop(format!(
            "INSERT INTO t_order (order_id, user_id, status, amount) VALUES {}",
            values.join(", ")
        ))
        .await
        .unwrap();
    }
    for i in 0..2 {
        let mut backend = cluster.backend(i).await;
        backend
            .query_drop("SET GLOBAL max_prepared_stmt_count = 100")
            .await
            .unwrap();
    }
    let clients: Vec<_> = (0..8)
        .map(|c| {
            let opts = cluster.opts();
            let keys = keys.clone();
            tokio::spawn(async move {
                let mut conn = mysql_async::Conn::new(opts).await.unwrap();
                for k in keys.iter().skip(c * 37).step_by(3).take(400) {
                    let user: Option<i64> = conn
                        .exec_first("SELECT user_id FROM t_order WHERE order_id = ?", (*k,))
                        .await
                        .unwrap_or_else(|e| panic!("client {c}, key {k}: {e}"));
                    assert_eq!(user, Some(k % 97), "key {k}");
                }
            })
        })
        .collect();
    for client in clients {
        client.await.unwrap();
    }
    for i in 0..2 {
        let mut backend = cluster.backend(i).await;
        let held: Option<(String, u64)> = backend
            .query_first("SHOW GLOBAL STATUS LIKE 'Prepared_stmt_count'")
            .await
            .unwrap();
        assert!(held.as_ref().is_some_and(|(_, n)| *n <= 100), "{held:?}");
        backend
            .query_drop("SET GLOBAL max_prepared_stmt_count = DEFAULT")
            .await
            .unwrap();
    }
}

/// SHOW, DESCRIBE and information_schema queries prepared server-side (PDO's native
/// prepares, DBD's server_prepare) answer as they do as text; a generated key left out of a
/// prepared INSERT is filled in (1136 at PREPARE before); executable comments are code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_and_keyless_inserts_prepare_server_side() {
    let cluster = Cluster::start().await;
    cluster.create_tables().await;
    let mut conn = cluster.client().await;
    let tables = vec!["t_currency", "t_order", "t_order_item", "t_shop_setting"];
    for sql in [
        "SHOW TABLES",
        "SHOW /*!50002 FULL*/ TABLES",
        "SHOW FULL TABLES FROM `shop` LIKE 't%'",
        "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'shop' ORDER BY 1",
    ] {
        let text: Vec<String> = conn
            .query_map(sql, |row: mysql_async::Row| {
                row.get::<String, _>(0).unwrap()
            })
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        let binary: Vec<String> = conn
            .exec_map(sql, (), |row: mysql_async::Row| {
                row.get::<String, _>(0).unwrap()
            })
            .await
            .unwrap_or_else(|e| panic!("prepared {sql}: {e}"));
        assert_eq!(text, tables, "{sql}");
        assert_eq!(binary, tables, "prepared {sql}");
    }
    let columns: Vec<String> = conn
        .exec_map("DESCRIBE t_order", (), |row: mysql_async::Row| {
            row.get::<String, _>(0).unwrap()
        })
        .await
        .unwrap();
    assert_eq!(
        columns,
        ["order_id", "user_id", "status", "amount", "created_at"]
    );
    let columns: Vec<String> = conn
        .exec_map(
            "DESCRIBE `shop`.`t_order` 'user%'",
            (),
            |row: mysql_async::Row| row.get::<String, _>(0).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(columns, ["user_id"]);
    let databases: Vec<String> = conn.exec("SHOW DATABASES LIKE 'sh%'", ()).await.unwrap();
    assert_eq!(databases, ["shop"]);
    let count: Option<u64> = conn
        .exec_first(
            "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 't_order'",
            (),
        )
        .await
        .unwrap();
    assert_eq!(count, Some(5));
    // Another database's tables are not shown, and parameters in metadata are refused.
    let e = conn
        .exec_drop("SHOW TABLES FROM mysql", ())
        .await
        .unwrap_err();
    assert!(
        matches!(&e, mysql_async::Error::Server(s) if s.code == 1235),
        "{e:?}"
    );
    let e = conn
        .exec_drop(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_NAME = ?",
            ("t_order",),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&e, mysql_async::Error::Server(s) if s.code == 1235),
        "{e:?}"
    );

    // A prepared INSERT without its generated key, executed twice.
    let insert = conn
        .prep("INSERT INTO t_order (user_id, status) VALUES (?, 'new')")
        .await
        .unwrap();
    for _ in 0..2 {
        conn.exec_drop(&insert, (777,)).await.unwrap();
        assert!(conn.last_insert_id().is_some_and(|id| id > 0));
    }
    let count: Option<u64> = conn
        .exec_first("SELECT COUNT(*) FROM t_order WHERE user_id = ?", (777,))
        .await
        .unwrap();
    assert_eq!(count, Some(2));
}

/// A prepared read over several tables with integer values runs as text on the backends
/// (its per-server statements name the tables the values reach, so prepared they would be
/// new server-side statements on nearly every execute), with the values written in, and
/// answers the same rows in the binary protocol. With a string value it stays prepared.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prepared_read_over_several_tables_runs_as_text() {
    let cluster = Cluster::start().await;
    cluster.create_tables().await;
    let mut conn = cluster.client().await;
    for id in 30..=45i64 {
        conn.exec_drop(
            "INSERT INTO t_order (order_id, user_id, status, amount, created_at) VALUES (?, ?, ?, ?, ?)",
            (id, id % 3, format!("s{id}"), format!("{id}.25"), "2026-01-02 03:04:05"),
        )
        .await
        .unwrap();
    }
    shardgate_tests::log_backend_queries(&cluster).await;
    let sql = "SELECT order_id, user_id, status, amount, created_at FROM t_order \
               WHERE order_id BETWEEN ? AND ? ORDER BY order_id DESC LIMIT ?";
    type Row = (i64, i64, String, String, mysql_async::Value);
    let rows: Vec<Row> = conn.exec(sql, (31i64, 43i64, 5i64)).await.unwrap();
    let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    assert_eq!(ids, [43, 42, 41, 40, 39]);
    assert_eq!(rows[0].2, "s43");
    assert_eq!(rows[0].3, "43.25");
    // A DATETIME comes back as a binary DATETIME, not as text.
    assert_eq!(
        rows[0].4,
        mysql_async::Value::Date(2026, 1, 2, 3, 4, 5, 0),
        "{rows:?}"
    );
    assert!(
        shardgate_tests::backend_statements_containing(&cluster, "BETWEEN 31 AND 43").await >= 2,
        "the backends got the values written in"
    );
    assert_eq!(
        shardgate_tests::backend_statements_containing(&cluster, "BETWEEN ? AND ?").await,
        1,
        "only the describe at PREPARE was prepared server-side"
    );
    // The same with a string bound: prepared, values sent binary.
    let rows: Vec<Row> = conn.exec(sql, ("31", 43i64, 5i64)).await.unwrap();
    assert_eq!(rows.iter().map(|r| r.0).collect::<Vec<_>>(), ids);
    assert!(
        shardgate_tests::backend_statements_containing(&cluster, "BETWEEN ? AND ?").await > 1,
        "a string value keeps the statement prepared"
    );
}
