//! Real clients through the proxy: login, the mariadb CLI running examples/orders.sql,
//! routed reads and writes, metadata, and session state that never leaks between clients.

use std::process::Command;

use mysql_async::prelude::Queryable;
use shardgate_tests::{Cluster, PASSWORD, USER};

fn server_error(e: mysql_async::Error) -> (u16, String) {
    match e {
        mysql_async::Error::Server(s) => (s.code, s.message),
        other => panic!("expected a server error, got {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_and_refusals() {
    let cluster = Cluster::start().await;
    let mut conn = cluster.client().await;
    let one: Option<i64> = conn.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1));
    // What MySQL 8 drivers ask on connect, under the names they ask it.
    let row: Option<(String, String)> = conn
        .query_first("SELECT @@session.transaction_read_only, @@transaction_isolation AS iso")
        .await
        .unwrap();
    assert_eq!(row, Some(("0".to_string(), "REPEATABLE-READ".to_string())));
    conn.query_drop("USE shop").await.unwrap();
    let (code, _) = server_error(conn.query_drop("USE other").await.unwrap_err());
    assert_eq!(code, 1049);
    conn.query_drop("SET @x = 1").await.unwrap();
    // COM_CHANGE_USER re-authenticates and starts a fresh session.
    conn.change_user(
        mysql_async::ChangeUserOpts::default()
            .with_user(Some(USER.to_string()))
            .with_pass(Some(PASSWORD.to_string()))
            .with_db_name(Some("shop".to_string())),
    )
    .await
    .unwrap();
    let x: Option<Option<i64>> = conn.query_first("SELECT @x").await.unwrap();
    assert_eq!(x, Some(None));
    conn.disconnect().await.unwrap();

    let wrong = cluster.opts().pass(Some("nope"));
    let (code, message) = server_error(mysql_async::Conn::new(wrong).await.unwrap_err());
    assert_eq!(code, 1045);
    assert!(
        message.contains("Access denied for user 'app'"),
        "{message}"
    );

    let unknown_db = cluster.opts().db_name(Some("nodb"));
    let (code, _) = server_error(mysql_async::Conn::new(unknown_db).await.unwrap_err());
    assert_eq!(code, 1049);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_cli_runs_orders_sql() {
    let cluster = Cluster::start().await;
    let sql = std::fs::File::open(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/orders.sql"
    ))
    .unwrap();
    let port = cluster.proxy.port().to_string();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("mariadb")
            .args([
                "-h127.0.0.1",
                &format!("-P{port}"),
                &format!("-u{USER}"),
                &format!("-p{PASSWORD}"),
                "shop",
            ])
            .stdin(sql)
            .output()
            .expect("run the mariadb CLI")
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "mariadb failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );

    // Every order sits in the table its key names, on the right server, and nowhere else.
    let mut total = 0;
    for (i, _) in cluster.servers.iter().enumerate() {
        let mut conn = cluster.backend(i).await;
        for db in (0..32).filter(|d| d % 2 == i) {
            for t in 0..32 {
                let keys: Vec<i64> = conn
                    .query(format!("SELECT order_id FROM order_db_{db}.t_order_{t}"))
                    .await
                    .unwrap();
                for k in &keys {
                    assert_eq!(
                        (k.rem_euclid(32), k.div_euclid(32).rem_euclid(32)),
                        (db as i64, t as i64)
                    );
                }
                total += keys.len();
            }
        }
        // The broadcast table has its copy in every database of the server.
        let codes: Vec<String> = conn
            .query("SELECT code FROM order_db_0.t_currency ORDER BY code")
            .await
            .unwrap_or_default();
        if i == 0 {
            assert_eq!(codes, vec!["EUR", "JPY", "USD"]);
        }
    }
    assert_eq!(total, 300);

    // Through the proxy: point reads, a bound join, broadcast and single tables, metadata.
    let mut conn = cluster.client().await;
    let row: Option<(i64, String)> = conn
        .query_first("SELECT order_id, status FROM t_order WHERE order_id = 1037")
        .await
        .unwrap();
    assert_eq!(row, Some((1037, "paid".to_string())));
    let sku: Option<String> = conn
        .query_first("SELECT i.sku FROM t_order o JOIN t_order_item i ON o.order_id = i.order_id WHERE o.order_id = 1074")
        .await
        .unwrap();
    assert_eq!(sku.as_deref(), Some("SKU-002"));
    let rate: Option<String> = conn
        .query_first("SELECT rate FROM t_currency WHERE code = 'USD'")
        .await
        .unwrap();
    assert_eq!(rate.as_deref(), Some("1.080000"));
    let name: Option<String> = conn
        .query_first("SELECT value FROM t_shop_setting WHERE name = 'shop_name'")
        .await
        .unwrap();
    assert_eq!(name.as_deref(), Some("shardgate demo"));
    let tables: Vec<String> = conn.query("SHOW TABLES").await.unwrap();
    assert_eq!(
        tables,
        vec!["t_currency", "t_order", "t_order_item", "t_shop_setting"]
    );
    let db: Option<String> = conn.query_first("SELECT DATABASE()").await.unwrap();
    assert_eq!(db.as_deref(), Some("shop"));
    let create: Option<(String, String)> =
        conn.query_first("SHOW CREATE TABLE t_order").await.unwrap();
    let (table, ddl) = create.unwrap();
    assert_eq!(table, "t_order");
    assert!(ddl.starts_with("CREATE TABLE `t_order` ("), "{ddl}");
    let tables: Vec<(String, String)> = conn
        .query("SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'shop' ORDER BY TABLE_NAME")
        .await
        .unwrap();
    assert_eq!(
        tables,
        ["t_currency", "t_order", "t_order_item", "t_shop_setting"]
            .map(|t| ("shop".to_string(), t.to_string()))
            .to_vec()
    );
    let columns: Vec<(String, String)> = conn
        .query("SELECT COLUMN_NAME, DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 't_order' ORDER BY ORDINAL_POSITION")
        .await
        .unwrap();
    assert_eq!(columns[0], ("order_id".to_string(), "bigint".to_string()));
    assert_eq!(columns.len(), 5);
    // Unfiltered, information_schema shows the logical schema and itself, never the
    // physical databases, the catalog or shardgate's own.
    let schemas: Vec<String> = conn
        .query("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA ORDER BY SCHEMA_NAME")
        .await
        .unwrap();
    assert_eq!(schemas, vec!["information_schema", "shop"]);
    let tables: Vec<(String, String)> = conn
        .query("SELECT t.TABLE_SCHEMA, t.TABLE_NAME FROM information_schema.TABLES t WHERE t.TABLE_SCHEMA <> 'information_schema' ORDER BY 2")
        .await
        .unwrap();
    assert_eq!(
        tables,
        ["t_currency", "t_order", "t_order_item", "t_shop_setting"]
            .map(|t| ("shop".to_string(), t.to_string()))
            .to_vec()
    );
    let physical: Option<i64> = conn
        .query_first("SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA LIKE 'order_db%' OR TABLE_NAME REGEXP '_[0-9]+$'")
        .await
        .unwrap();
    assert_eq!(physical, Some(0));
    for table in ["PROCESSLIST", "GLOBAL_VARIABLES", "USER_PRIVILEGES"] {
        let e = conn
            .query_drop(format!("SELECT * FROM information_schema.{table}"))
            .await
            .unwrap_err();
        assert!(
            matches!(&e, mysql_async::Error::Server(s) if s.code == 1235 && s.message.contains("describes the backend servers")),
            "{table}: {e:?}"
        );
    }
    let columns: Vec<String> = conn
        .query_map("SHOW COLUMNS FROM t_order", |row: mysql_async::Row| {
            row.get::<String, _>(0).unwrap()
        })
        .await
        .unwrap();
    assert_eq!(
        columns,
        vec!["order_id", "user_id", "status", "amount", "created_at"]
    );

    // Result metadata names logical tables.
    let result = conn
        .query_iter("SELECT order_id FROM t_order WHERE order_id = 1037")
        .await
        .unwrap();
    let column = result.columns_ref()[0].clone();
    drop(result);
    assert_eq!(column.table_str(), "t_order");
    assert_eq!(column.org_table_str(), "t_order");
    assert_eq!(column.schema_str(), "shop");

    // Writes: a split insert, a scatter update with summed affected rows, a refused insert.
    conn.query_drop("INSERT INTO t_order (order_id, user_id) VALUES (1, 1), (2, 1), (33, 1)")
        .await
        .unwrap();
    assert_eq!(conn.affected_rows(), 3);
    conn.query_drop("UPDATE t_order SET status = 'x' WHERE user_id = 1")
        .await
        .unwrap();
    assert!(conn.affected_rows() >= 3, "{}", conn.affected_rows());
    // t_order's key comes from its generator; t_order_item has none and must be given it.
    conn.query_drop("INSERT INTO t_order (user_id) VALUES (9)")
        .await
        .unwrap();
    assert!(conn.last_insert_id().is_some_and(|id| id > 0));
    let (code, message) = server_error(
        conn.query_drop("INSERT INTO t_order_item (item_id, sku, quantity) VALUES (1, 'x', 1)")
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 1364);
    assert!(message.contains("sharding column `order_id`"), "{message}");
    let (code, message) = server_error(
        conn.query_drop("SELECT user_id FROM t_order GROUP BY user_id HAVING AVG(amount) > 1")
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 1235);
    assert!(message.contains("1024 physical tables"), "{message}");
    let (code, _) = server_error(
        conn.query_drop("SELECT * FROM t_nothing")
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 1146);
    // The connection is still fine after errors.
    let one: Option<i64> = conn.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1));
}

/// The backend connection's id, read from its `pseudo_thread_id` (shardgate refuses
/// `CONNECTION_ID()` inside a statement: a backend would answer for itself).
async fn backend_connection_id(conn: &mut mysql_async::Conn) -> u64 {
    conn.query_first("SELECT @@pseudo_thread_id + 0")
        .await
        .unwrap()
        .unwrap()
}

/// A backend pool of one connection: every client gets the same backend connection.
fn one_connection(yaml: &mut String) {
    *yaml = yaml.replace(
        "max_connections: 64         # most connections open to this server at once",
        "max_connections: 1",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_state_never_leaks_through_a_pooled_connection() {
    let cluster = Cluster::start_with(one_connection).await;
    assert_eq!(cluster.topology.backends[0].pool.max_connections, 1);
    let mut a = cluster.client().await;
    let mut b = cluster.client().await;
    a.query_drop("SET @secret = 42, SESSION sql_mode = 'ANSI_QUOTES', time_zone = '+05:00'")
        .await
        .unwrap();
    let id_a = backend_connection_id(&mut a).await;
    let seen: Option<(Option<i64>, String, String)> = a
        .query_first("SELECT @secret, @@sql_mode, @@time_zone")
        .await
        .unwrap();
    assert_eq!(
        seen,
        Some((Some(42), "ANSI_QUOTES".into(), "+05:00".into()))
    );

    let id_b = backend_connection_id(&mut b).await;
    assert_eq!(
        id_a, id_b,
        "both clients used the one pooled backend connection"
    );
    let seen: Option<(Option<i64>, String, String)> = b
        .query_first("SELECT @secret, @@sql_mode, @@time_zone")
        .await
        .unwrap();
    let (secret, mode, tz) = seen.unwrap();
    assert_eq!(secret, None, "a user variable leaked");
    assert!(!mode.contains("ANSI_QUOTES"), "sql_mode leaked: {mode}");
    assert_eq!(tz, "SYSTEM");

    // A's settings come back on its next statement.
    let seen: Option<(Option<i64>, String)> =
        a.query_first("SELECT @secret, @@time_zone").await.unwrap();
    assert_eq!(seen, Some((Some(42), "+05:00".into())));
    // An expression is evaluated once and replayed as its value.
    a.query_drop("SET @n = @secret + 1").await.unwrap();
    let _ = backend_connection_id(&mut b).await;
    let n: Option<i64> = a.query_first("SELECT @n").await.unwrap();
    assert_eq!(n, Some(43));

    // COM_RESET_CONNECTION forgets A's settings.
    a.reset().await.unwrap();
    let seen: Option<Option<i64>> = a.query_first("SELECT @secret").await.unwrap();
    assert_eq!(seen, Some(None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_commit_and_roll_back() {
    let cluster = Cluster::start().await;
    cluster.create_tables().await;
    let mut conn = cluster.client().await;
    conn.query_drop("BEGIN").await.unwrap();
    conn.query_drop("INSERT INTO t_order (order_id, user_id) VALUES (10, 1)")
        .await
        .unwrap();
    conn.query_drop("INSERT INTO t_order (order_id, user_id) VALUES (11, 1)")
        .await
        .unwrap();
    conn.query_drop("COMMIT").await.unwrap();
    conn.query_drop("START TRANSACTION").await.unwrap();
    conn.query_drop("INSERT INTO t_order (order_id, user_id) VALUES (12, 1)")
        .await
        .unwrap();
    conn.query_drop("UPDATE t_order SET status = 'gone' WHERE order_id = 10")
        .await
        .unwrap();
    // Inside the transaction the change is visible.
    let status: Option<String> = conn
        .query_first("SELECT status FROM t_order WHERE order_id = 10")
        .await
        .unwrap();
    assert_eq!(status.as_deref(), Some("gone"));
    conn.query_drop("ROLLBACK").await.unwrap();
    let mut other = cluster.client().await;
    for (key, expected) in [(10, Some("new")), (11, Some("new")), (12, None)] {
        let status: Option<String> = other
            .query_first(format!("SELECT status FROM t_order WHERE order_id = {key}"))
            .await
            .unwrap();
        assert_eq!(status.as_deref(), expected, "order {key}");
    }
    // autocommit=0 holds its changes until COMMIT.
    conn.query_drop("SET autocommit = 0").await.unwrap();
    conn.query_drop("INSERT INTO t_order (order_id, user_id) VALUES (13, 1)")
        .await
        .unwrap();
    let seen: Option<String> = other
        .query_first("SELECT status FROM t_order WHERE order_id = 13")
        .await
        .unwrap();
    assert_eq!(seen, None);
    conn.query_drop("COMMIT").await.unwrap();
    let seen: Option<String> = other
        .query_first("SELECT status FROM t_order WHERE order_id = 13")
        .await
        .unwrap();
    assert_eq!(seen.as_deref(), Some("new"));
}
