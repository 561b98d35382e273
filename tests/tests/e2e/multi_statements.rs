//! Multi-statements (CLIENT_MULTI_STATEMENTS): split by the grammar, one result per
//! statement with SERVER_MORE_RESULTS_EXISTS, and the run stops at the first error.

use mysql_async::prelude::Queryable;
use shardgate_tests::Cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_middle_statement_stops_the_run() {
    let cluster = Cluster::start().await;
    cluster.create_tables().await;
    let mut conn = cluster.client().await;

    let mut result = conn
        .query_iter(
            "INSERT INTO t_order (order_id, user_id, status) VALUES (71, 1, 'a;b');\
             SELECT user_id, status FROM t_order WHERE order_id = 71;\
             SELECT * FROM t_nothing;\
             INSERT INTO t_order (order_id, user_id) VALUES (72, 2)",
        )
        .await
        .unwrap();
    assert_eq!(result.affected_rows(), 1, "the first statement's OK");
    let none: Vec<mysql_async::Row> = result.collect().await.unwrap();
    assert!(none.is_empty());
    let rows: Vec<(i64, String)> = result.collect().await.unwrap();
    assert_eq!(
        rows,
        vec![(1, "a;b".to_string())],
        "the second statement's rows"
    );
    let err = result.collect::<mysql_async::Row>().await.unwrap_err();
    assert!(
        err.to_string().contains("t_nothing"),
        "the third statement's error: {err}"
    );
    drop(result);

    // Nothing after the error ran, and the connection is in step.
    let after: Option<i64> = conn
        .query_first("SELECT user_id FROM t_order WHERE order_id = 72")
        .await
        .unwrap();
    assert_eq!(after, None);
    let one: Option<i64> = conn.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1));

    // Writes on several tables and session statements in one batch (JDBC allowMultiQueries).
    conn.query_drop("SET @a = 5; UPDATE t_order SET status = 'batch' WHERE user_id > 0; INSERT INTO t_order (order_id, user_id) VALUES (73, 3), (74, 4)")
        .await
        .unwrap();
    let rows: Vec<(i64, String)> = conn
        .query("SELECT @a, status FROM t_order WHERE order_id = 71")
        .await
        .unwrap();
    assert_eq!(rows, vec![(5, "batch".to_string())]);
}
