//! Session state and the packets shardgate writes itself, checked with mysql_async (text and
//! binary protocol), the mariadb CLI (Connector/C, strict about packets) and raw bytes:
//! Django's connection setup, `ROLLBACK TO SAVEPOINT` whatever the whitespace, the answer to
//! SQL `PREPARE`, and a DATE merged over several tables in the binary protocol.

use mysql_async::prelude::Queryable;
use shardgate_tests::clients::mariadb_cli;
use shardgate_tests::raw::{command, raw_login, read_packet, write_packet};
use shardgate_tests::Cluster;

async fn start() -> Cluster {
    let cluster = Cluster::start().await;
    cluster.create_tables().await;
    cluster
}

/// Django's default connection setup: `SET NAMES`, then the isolation level, in separate
/// statements. Replayed on every backend connection afterwards, they must stay valid SQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn charset_and_isolation_settings_replay_on_every_backend() {
    let cluster = start().await;
    let mut conn = cluster.client().await;
    conn.query_drop("SET NAMES utf8mb4").await.unwrap();
    conn.query_drop("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
        .await
        .unwrap();
    conn.query_drop("INSERT INTO t_order (order_id, user_id) VALUES (1, 1), (2, 2)")
        .await
        .unwrap();
    // Both backends, routed and scattered.
    let count: Option<i64> = conn
        .query_first("SELECT COUNT(*) FROM t_order")
        .await
        .unwrap();
    assert_eq!(count, Some(2));
    for key in [1, 2] {
        let isolation: Option<String> = conn
            .query_first(format!(
                "SELECT @@tx_isolation FROM t_order WHERE order_id = {key}"
            ))
            .await
            .unwrap();
        assert_eq!(isolation.as_deref(), Some("READ-COMMITTED"), "key {key}");
    }
    conn.query_drop("SET SESSION TRANSACTION READ ONLY, ISOLATION LEVEL SERIALIZABLE")
        .await
        .unwrap();
    let settings: Option<(String, i64)> = conn
        .query_first("SELECT @@tx_isolation, @@tx_read_only FROM t_order WHERE order_id = 2")
        .await
        .unwrap();
    assert_eq!(settings, Some(("SERIALIZABLE".into(), 1)));

    // The mariadb CLI, the same setup in one script.
    let output = tokio::task::block_in_place(|| {
        mariadb_cli(
            cluster.proxy.port(),
            "SET NAMES utf8mb4; SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED;\n\
             SELECT COUNT(*) FROM t_order; SELECT @@tx_isolation FROM t_order WHERE order_id = 1",
            &[],
        )
    });
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "2\nREAD-COMMITTED"
    );
}

/// `ROLLBACK` + newline + `TO SAVEPOINT sp` undoes only the work after the savepoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_to_a_savepoint_whatever_the_whitespace() {
    let cluster = start().await;
    // Keys 1 and 1025 share a physical table; 2049 and 3073 too.
    for (keys, rollback) in [
        ([1, 1025], "ROLLBACK\nTO SAVEPOINT sp"),
        ([2049, 3073], "rollback /* undo */ work\tto sp"),
    ] {
        let mut conn = cluster.client().await;
        conn.query_drop("BEGIN").await.unwrap();
        conn.query_drop(format!(
            "INSERT INTO t_order (order_id, user_id) VALUES ({}, 1)",
            keys[0]
        ))
        .await
        .unwrap();
        conn.query_drop("SAVEPOINT sp").await.unwrap();
        conn.query_drop(format!(
            "INSERT INTO t_order (order_id, user_id) VALUES ({}, 1)",
            keys[1]
        ))
        .await
        .unwrap();
        conn.query_drop(rollback).await.unwrap();
        conn.query_drop("COMMIT").await.unwrap();
        let found: Vec<i64> = conn
            .query(format!(
                "SELECT order_id FROM t_order WHERE order_id IN ({}, {}) ORDER BY order_id",
                keys[0], keys[1]
            ))
            .await
            .unwrap();
        assert_eq!(found, vec![keys[0]], "{rollback:?}");
    }
    // The mariadb CLI: the same, in one script.
    let output = tokio::task::block_in_place(|| {
        mariadb_cli(
            cluster.proxy.port(),
            "BEGIN; INSERT INTO t_order (order_id, user_id) VALUES (4097, 1); SAVEPOINT sp;\n\
             INSERT INTO t_order (order_id, user_id) VALUES (5121, 1);\nROLLBACK\nTO SAVEPOINT sp;\n\
             COMMIT; SELECT order_id FROM t_order WHERE order_id IN (4097, 5121)",
            &[],
        )
    });
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "4097");
}

/// The OK packet answering SQL `PREPARE` carries its info as a length-encoded string, as
/// MariaDB's does: Connector/C calls anything else a malformed packet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_answer_to_sql_prepare_is_a_well_formed_ok() {
    let cluster = start().await;
    let mut s = raw_login(&cluster).await;
    let ok = command(&mut s, b"\x03PREPARE s FROM 'SELECT 1'").await;
    let info = b"Statement prepared";
    let mut expected = vec![0x00, 0, 0, 0x02, 0x00, 0, 0, info.len() as u8];
    expected.extend_from_slice(info);
    assert_eq!(ok, expected);

    let output = tokio::task::block_in_place(|| {
        mariadb_cli(
            cluster.proxy.port(),
            "PREPARE s FROM 'SELECT 1 + ?'; SET @a = 41; EXECUTE s USING @a; DEALLOCATE PREPARE s",
            &[],
        )
    });
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "42");
}

/// A DATE merged over several physical tables goes back to a prepared statement as a DATE:
/// four bytes, not a DATETIME's eleven.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merged_date_is_a_date_in_the_binary_protocol() {
    let cluster = start().await;
    let mut conn = cluster.client().await;
    conn.query_drop(
        "INSERT INTO t_order (order_id, user_id, created_at) VALUES \
         (1, 1, '2024-02-29 10:00:00'), (2, 1, '2023-07-04 23:59:59'), (3, 1, '2025-01-01 00:00:00')",
    )
    .await
    .unwrap();
    let sql = "SELECT MIN(DATE(created_at)) FROM t_order";
    let min: Option<mysql_async::Value> = conn.exec_first(sql, ()).await.unwrap();
    assert_eq!(min, Some(mysql_async::Value::Date(2023, 7, 4, 0, 0, 0, 0)));

    // The bytes: PREPARE, EXECUTE, then the row.
    let mut s = raw_login(&cluster).await;
    let mut prepare = vec![0x16];
    prepare.extend_from_slice(sql.as_bytes());
    let prepared = command(&mut s, &prepare).await;
    assert_eq!(prepared[0], 0x00, "PREPARE_OK");
    let id = [prepared[1], prepared[2], prepared[3], prepared[4]];
    // One column definition and its EOF (the raw login does not ask for DEPRECATE_EOF).
    for _ in 0..2 {
        read_packet(&mut s).await.expect("column definition");
    }
    let mut execute = vec![0x17];
    execute.extend_from_slice(&id);
    execute.extend_from_slice(&[0, 1, 0, 0, 0]);
    write_packet(&mut s, &execute, 0).await;
    let (count, _) = read_packet(&mut s).await.expect("column count");
    assert_eq!(count, [1]);
    let (definition, _) = read_packet(&mut s).await.expect("column definition");
    // Type DATE (0x0A) sits 6 bytes from the end of a column definition.
    assert_eq!(definition[definition.len() - 6], 0x0A, "{definition:?}");
    let (eof, _) = read_packet(&mut s).await.expect("EOF");
    assert_eq!(eof[0], 0xFE);
    let (row, _) = read_packet(&mut s).await.expect("row");
    assert_eq!(row, [0x00, 0x00, 4, 0xE7, 0x07, 7, 4]);
}

/// A savepoint taken before a backend joined the transaction exists there too: `ROLLBACK TO`
/// undoes exactly the work after it, on every backend (Django's nested `atomic()`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn savepoints_span_backends_that_join_later() {
    let cluster = start().await;
    let mut conn = cluster.client().await;
    // Keys 1 and 2 live on different servers (databases 1 and 2).
    conn.query_drop("BEGIN").await.unwrap();
    conn.query_drop("INSERT INTO t_order (order_id, user_id) VALUES (1, 1)")
        .await
        .unwrap();
    conn.query_drop("SAVEPOINT outer_sp").await.unwrap();
    conn.query_drop("INSERT INTO t_order (order_id, user_id) VALUES (2, 1)")
        .await
        .unwrap();
    conn.query_drop("SAVEPOINT inner_sp").await.unwrap();
    conn.query_drop("INSERT INTO t_order (order_id, user_id) VALUES (3, 1), (4, 1)")
        .await
        .unwrap();
    conn.query_drop("ROLLBACK TO SAVEPOINT inner_sp")
        .await
        .unwrap();
    conn.query_drop("INSERT INTO t_order (order_id, user_id) VALUES (5, 1)")
        .await
        .unwrap();
    conn.query_drop("RELEASE SAVEPOINT inner_sp").await.unwrap();
    match conn.query_drop("ROLLBACK TO SAVEPOINT inner_sp").await {
        Err(mysql_async::Error::Server(e)) => assert_eq!(e.code, 1305, "{}", e.message),
        other => panic!("a released savepoint: {other:?}"),
    }
    conn.query_drop("COMMIT").await.unwrap();
    let keys: Vec<i64> = conn
        .query("SELECT order_id FROM t_order ORDER BY order_id")
        .await
        .unwrap();
    assert_eq!(keys, vec![1, 2, 5]);

    // A backend that joins after the savepoint, then the rollback to it: only its work goes.
    conn.query_drop("BEGIN").await.unwrap();
    conn.query_drop("SAVEPOINT sp").await.unwrap();
    conn.query_drop("DELETE FROM t_order WHERE order_id = 2")
        .await
        .unwrap();
    conn.query_drop("ROLLBACK TO sp").await.unwrap();
    conn.query_drop("DELETE FROM t_order WHERE order_id = 1")
        .await
        .unwrap();
    conn.query_drop("COMMIT").await.unwrap();
    let keys: Vec<i64> = conn
        .query("SELECT order_id FROM t_order ORDER BY order_id")
        .await
        .unwrap();
    assert_eq!(keys, vec![2, 5]);
}

/// An information_schema query inside a transaction neither commits it nor runs in it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_stays_out_of_the_transaction() {
    let cluster = start().await;
    let mut conn = cluster.client().await;
    conn.query_drop("BEGIN").await.unwrap();
    // Key 32 lives in order_db_0 on the first server, where the catalog is.
    conn.query_drop("INSERT INTO t_order (order_id, user_id) VALUES (32, 1)")
        .await
        .unwrap();
    let tables: Vec<String> = conn
        .query("SELECT table_name FROM information_schema.tables WHERE table_schema = 'shop' ORDER BY table_name")
        .await
        .unwrap();
    assert!(tables.contains(&"t_order".to_string()), "{tables:?}");
    let columns: Vec<mysql_async::Row> = conn.query("SHOW COLUMNS FROM t_order").await.unwrap();
    assert_eq!(columns.len(), 5);
    conn.query_drop("ROLLBACK").await.unwrap();
    let count: Option<i64> = conn
        .query_first("SELECT COUNT(*) FROM t_order WHERE order_id = 32")
        .await
        .unwrap();
    assert_eq!(
        count,
        Some(0),
        "the information_schema query committed the transaction"
    );
}

/// The same points through PyMySQL (tests/python/session_state.py).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_state_through_pymysql() {
    let cluster = start().await;
    let port = cluster.proxy.port().to_string();
    let output = tokio::task::block_in_place(|| {
        shardgate_tests::clients::python_script(
            "session_state.py",
            &[
                "127.0.0.1",
                &port,
                shardgate_tests::USER,
                shardgate_tests::PASSWORD,
            ],
        )
    });
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "session_state.py failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("all checks passed"), "{stdout}");
}

/// SQL `PREPARE` / `EXECUTE` outside a transaction, from several clients at once: each
/// EXECUTE runs on the connection its PREPARE ran on (on another, the backend name of the
/// statement could stand for another client's), single- and multi-target writes alike, and
/// every row lands in its own physical table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_prepared_writes_outside_a_transaction() {
    let cluster = start().await;
    let mut tasks = Vec::new();
    for client in 0..4i64 {
        let mut conn = cluster.client().await;
        tasks.push(tokio::spawn(async move {
            conn.query_drop(
                "PREPARE ins FROM 'INSERT INTO t_order (order_id, user_id, status) VALUES (?, ?, ?)'",
            )
            .await
            .unwrap();
            conn.query_drop("PREPARE bump FROM 'UPDATE t_order SET amount = amount + ? WHERE user_id = ?'")
                .await
                .unwrap();
            for i in 0..60i64 {
                let key = client * 1000 + i + 1;
                conn.query_drop(format!(
                    "SET @k = {key}, @u = {}, @s = 'c{client}'",
                    100 + client
                ))
                .await
                .unwrap();
                conn.query_drop("EXECUTE ins USING @k, @u, @s").await.unwrap();
                assert_eq!(conn.affected_rows(), 1, "key {key}");
            }
            // Over every physical table: one EXECUTE per table, each on its PREPARE's
            // connection.
            conn.query_drop("SET @d = 1").await.unwrap();
            conn.query_drop("EXECUTE bump USING @d, @u").await.unwrap();
            assert_eq!(conn.affected_rows(), 60, "client {client}");
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let mut conn = cluster.client().await;
    let rows: Vec<(i64, i64, String, String)> = conn
        .query(
            "SELECT order_id, user_id, status, CAST(amount AS CHAR) FROM t_order ORDER BY order_id",
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 240);
    for (key, user, status, amount) in &rows {
        let client = key / 1000;
        assert_eq!(
            (*user, status.as_str(), amount.as_str()),
            (100 + client, format!("c{client}").as_str(), "1.00"),
            "key {key}"
        );
    }
    // Each row in the physical table its key names, and nowhere else.
    let mut placed = 0;
    for (i, _) in cluster.servers.iter().enumerate() {
        let mut backend = cluster.backend(i).await;
        for (key, ..) in &rows {
            let (db, table) = (key % 32, key / 32 % 32);
            let found: Vec<i64> = backend
                .query(format!(
                    "SELECT order_id FROM order_db_{db}.t_order_{table} WHERE order_id = {key}"
                ))
                .await
                .unwrap_or_default();
            placed += found.len();
        }
    }
    assert_eq!(placed, 240);
}
