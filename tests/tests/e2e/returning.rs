//! `INSERT/REPLACE/DELETE ... RETURNING` over several tables (what SQLAlchemy's add_all and
//! Django's bulk_create send to MariaDB): one result with every statement's rows, an
//! INSERT's in the order of its VALUES rows; and the version story they decide by.

use mysql_async::prelude::Queryable;
use shardgate_tests::clients::mariadb_cli;
use shardgate_tests::Cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn returning_rows_of_every_table_come_back_in_the_order_written() {
    let cluster = Cluster::start().await;
    cluster.create_tables().await;
    let mut conn = cluster.client().await;

    // Generated keys over several tables: as many rows as written, in VALUES order.
    let rows: Vec<(u64, String)> = conn
        .query("INSERT INTO t_order (user_id, status) VALUES (5, 'a'), (5, 'b'), (5, 'c'), (5, 'd'), (5, 'e') RETURNING order_id, status")
        .await
        .unwrap();
    assert_eq!(
        rows.iter().map(|r| r.1.as_str()).collect::<Vec<_>>(),
        ["a", "b", "c", "d", "e"]
    );
    for (id, status) in &rows {
        let found: Option<String> = conn
            .query_first(format!("SELECT status FROM t_order WHERE order_id = {id}"))
            .await
            .unwrap();
        assert_eq!(found.as_deref(), Some(status.as_str()), "{id}");
    }
    let last: Option<u64> = conn.query_first("SELECT LAST_INSERT_ID()").await.unwrap();
    assert_eq!(last, Some(rows[0].0));
    // Given keys that land on other tables than their neighbours, in an odd order.
    let ids = [4242_u64, 33, 1, 4243, 64];
    let values: Vec<String> = ids.iter().map(|id| format!("({id}, 6, 'k{id}')")).collect();
    let rows: Vec<(u64, String)> = conn
        .query(format!(
            "INSERT INTO t_order (order_id, user_id, status) VALUES {} RETURNING order_id, status",
            values.join(", ")
        ))
        .await
        .unwrap();
    assert_eq!(rows.iter().map(|r| r.0).collect::<Vec<_>>(), ids);
    // DELETE ... RETURNING over every table: the rows deleted, whatever the order.
    let mut deleted: Vec<u64> = conn
        .query("DELETE FROM t_order WHERE user_id = 6 RETURNING order_id")
        .await
        .unwrap();
    deleted.sort_unstable();
    let mut want = ids.to_vec();
    want.sort_unstable();
    assert_eq!(deleted, want);
    // Broadcast copies return their rows once.
    let rows: Vec<String> = conn
        .query("INSERT INTO t_currency (code, rate) VALUES ('GBP', 0.85), ('CHF', 0.95) RETURNING code")
        .await
        .unwrap();
    assert_eq!(rows, ["GBP", "CHF"]);
    // In a transaction, rolled back: the rows were returned, and are gone.
    conn.query_drop("BEGIN").await.unwrap();
    let rows: Vec<u64> = conn
        .query("INSERT INTO t_order (user_id) VALUES (7), (7), (7) RETURNING order_id")
        .await
        .unwrap();
    assert_eq!(rows.len(), 3);
    conn.query_drop("ROLLBACK").await.unwrap();
    let left: Option<u64> = conn
        .query_first("SELECT COUNT(*) FROM t_order WHERE user_id = 7")
        .await
        .unwrap();
    assert_eq!(left, Some(0));
    // The binary protocol over several tables is refused, with the reason; one table works.
    let e = conn
        .exec_drop(
            "INSERT INTO t_order (user_id) VALUES (?), (?), (?) RETURNING order_id",
            (8, 8, 8),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&e, mysql_async::Error::Server(s) if s.code == 1235 && s.message.contains("RETURNING")),
        "{e:?}"
    );
    let one: Vec<u64> = conn
        .exec(
            "INSERT INTO t_order (order_id, user_id) VALUES (?, ?) RETURNING order_id",
            (77, 8),
        )
        .await
        .unwrap();
    assert_eq!(one, [77]);

    // The mariadb CLI reads the merged result as MariaDB's own.
    let out = tokio::task::block_in_place(|| {
        mariadb_cli(
            cluster.proxy.port(),
            "INSERT INTO t_order (order_id, user_id, status) VALUES (90, 9, 'x'), (91, 9, 'y'), (92, 9, 'z') RETURNING status",
            &[],
        )
    });
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "x\ny\nz\n");
}

/// The greeting and VERSION() tell one story: MariaDB 10.11, as the backends are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_greeting_and_version_agree() {
    let cluster = Cluster::start().await;
    let mut conn = cluster.client().await;
    let greeting = conn.server_version();
    assert_eq!(
        greeting,
        (10, 11, 99),
        "mysql_async strips the 5.5.5- prefix as MariaDB's clients do"
    );
    let version: Option<String> = conn.query_first("SELECT VERSION()").await.unwrap();
    assert_eq!(version.as_deref(), Some(shardgate_router::SERVER_VERSION));
    let both: Option<(String, String)> = conn
        .query_first("SELECT VERSION(), @@version")
        .await
        .unwrap();
    assert_eq!(
        both,
        Some((
            shardgate_router::SERVER_VERSION.into(),
            shardgate_router::SERVER_VERSION.into()
        ))
    );
    let prepared: Option<String> = conn.exec_first("SELECT VERSION()", ()).await.unwrap();
    assert_eq!(prepared.as_deref(), Some(shardgate_router::SERVER_VERSION));
    // Django's first query: VERSION() beside variables and an expression.
    let row: Option<(String, String, i64)> = conn
        .query_first("SELECT VERSION(), @@sql_mode, CONVERT_TZ('2001-01-01 01:00:00', 'UTC', 'UTC') IS NOT NULL")
        .await
        .unwrap();
    let (version, _, _) = row.expect("a row");
    assert_eq!(version, shardgate_router::SERVER_VERSION);
}
