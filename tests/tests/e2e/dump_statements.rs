//! What mariadb-dump sends and its dumps hold, each on its own: LOCK/UNLOCK TABLES and
//! `ALTER TABLE ... DISABLE KEYS` acknowledged for logical tables and refused for others,
//! `INSERT INTO t VALUES (...)` without a column list routed by the table's own columns,
//! `SELECT /*!40001 SQL_NO_CACHE */` over every table, `/*M!...*/` comments, and
//! information_schema.FILES answered empty.

use mysql_async::prelude::Queryable;
use shardgate_tests::Cluster;

fn code(e: &mysql_async::Error) -> u16 {
    match e {
        mysql_async::Error::Server(s) => s.code,
        other => panic!("not a server error: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_dump_sends_works_on_logical_tables_only() {
    let cluster = Cluster::start().await;
    cluster.create_tables().await;
    let mut conn = cluster.client().await;
    conn.query_drop("LOCK TABLES `t_order` READ /*!32311 LOCAL */, t_currency AS c WRITE")
        .await
        .unwrap();
    conn.query_drop("UNLOCK TABLES").await.unwrap();
    conn.query_drop("/*!40000 ALTER TABLE `t_order` DISABLE KEYS */")
        .await
        .unwrap();
    conn.query_drop("/*!40000 ALTER TABLE `t_order` ENABLE KEYS */")
        .await
        .unwrap();
    let e = conn
        .query_drop("LOCK TABLES t_nope READ")
        .await
        .unwrap_err();
    assert_eq!(code(&e), 1146, "{e:?}");
    let e = conn
        .query_drop("LOCK TABLES mysql.user READ")
        .await
        .unwrap_err();
    assert_eq!(code(&e), 1235, "{e:?}");
    let e = conn
        .query_drop("ALTER TABLE order_db_1.t_order_1 DISABLE KEYS")
        .await
        .unwrap_err();
    assert_eq!(code(&e), 1235, "{e:?}");

    // No column list: the table's columns, in order, from its definition.
    conn.query_drop("INSERT INTO `t_order` VALUES (4242, 7, 'dumped', 1.50, '2026-01-02 03:04:05'), (33, 8, 'dumped', 2.50, '2026-01-02 03:04:05')")
        .await
        .unwrap();
    assert_eq!(conn.affected_rows(), 2);
    let rows: Vec<(u64, String)> = conn
        .query("SELECT order_id, DATE_FORMAT(created_at, '%Y-%m-%d') FROM t_order WHERE status = 'dumped' ORDER BY order_id")
        .await
        .unwrap();
    assert_eq!(
        rows,
        [
            (33, "2026-01-02".to_string()),
            (4242, "2026-01-02".to_string())
        ]
    );
    // Routed by its key, as a listed INSERT is: 4242 lives in order_db_18.t_order_4 (ds0).
    let mut backend = cluster.backend(0).await;
    let on: Option<u64> = backend
        .query_first("SELECT COUNT(*) FROM order_db_18.t_order_4 WHERE order_id = 4242")
        .await
        .unwrap();
    assert_eq!(on, Some(1));
    // Too few values for the table's columns: MariaDB's own error.
    let e = conn
        .query_drop("INSERT INTO t_order VALUES (5, 7, 'short')")
        .await
        .unwrap_err();
    assert_eq!(code(&e), 1136, "{e:?}");

    // The hint is dropped before the UNION ALL over many tables (1234 inside it).
    let count: Vec<mysql_async::Row> = conn
        .query("SELECT /*!40001 SQL_NO_CACHE */ * FROM `t_order`")
        .await
        .unwrap();
    assert_eq!(count.len(), 2);
    // MariaDB's executable comments are code; a later server's are not.
    let v: Option<(i64, i64)> = conn
        .query_first("SELECT 1 /*M!100100 + 1 */, 5 /*!110000 + 1 */")
        .await
        .unwrap();
    assert_eq!(v, Some((2, 5)));
    let files: Vec<mysql_async::Row> = conn
        .query("SELECT FILE_NAME FROM INFORMATION_SCHEMA.FILES WHERE ENGINE = 'InnoDB'")
        .await
        .unwrap();
    assert!(files.is_empty());
}
