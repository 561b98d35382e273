//! Default-deny on real servers: each statement shardgate refuses gets ER_NOT_SUPPORTED_YET
//! (1235) with a reason, through the text and the binary protocol, PyMySQL and the mariadb
//! CLI, the connection goes on, and the backends' general logs show that nothing of it
//! reached them.

use std::io::Write;
use std::process::Stdio;

use mysql_async::prelude::Queryable;
use shardgate_tests::clients::{ensure_pymysql, mariadb_cli};
use shardgate_tests::{
    backend_statements_containing, log_backend_queries, Cluster, PASSWORD, USER,
};

/// Statements that must never reach a backend; each names `sg_marker` so the general log
/// can be searched for it.
const REFUSED: &[&str] = &[
    "SET STATEMENT max_statement_time = 1 FOR CREATE DATABASE sg_marker_db",
    "SELECT * FROM mysql.user /* sg_marker */",
    "SELECT user, password FROM mysql.user WHERE user = 'sg_marker'",
    "SELECT * FROM performance_schema.threads /* sg_marker */",
    "SELECT * FROM sys.version /* sg_marker */",
    "SELECT * FROM order_db_0.t_order_0 /* sg_marker */",
    "SELECT LOAD_FILE('/etc/passwd') AS sg_marker",
    "SELECT GET_LOCK('sg_marker', 1)",
    "SELECT RELEASE_LOCK('sg_marker')",
    "SELECT * FROM t_order INTO OUTFILE '/tmp/sg_marker'",
    "SELECT order_id FROM t_order WHERE order_id = 1 INTO DUMPFILE '/tmp/sg_marker'",
    "SELECT @sg_marker := order_id FROM t_order WHERE order_id = 1",
    "SELECT order_id INTO @sg_marker FROM t_order WHERE order_id = 1",
    "CREATE TEMPORARY TABLE sg_marker (a INT)",
    "SELECT FOUND_ROWS() AS sg_marker, order_id FROM t_order WHERE order_id = 1",
    "SELECT JSON_ARRAYAGG(status) AS sg_marker FROM t_order",
    "SELECT STD(amount) + 1 AS sg_marker FROM t_order",
    "SELECT REVERSE(COUNT(*)) AS sg_marker FROM t_order",
    "SELECT order_id, NTILE(4) OVER (ORDER BY order_id) AS sg_marker FROM t_order",
    "SET @x = (SELECT 'sg_marker' FROM mysql.user LIMIT 1)",
    "SET @x = LOAD_FILE('/tmp/sg_marker')",
    "SELECT table_name FROM information_schema.tables JOIN mysql.user /* sg_marker */",
    "SHOW VARIABLES WHERE Variable_name = (SELECT 'sg_marker' FROM mysql.user LIMIT 1)",
    "SHOW COLUMNS FROM user FROM mysql /* sg_marker */",
    "SHOW ENGINE INNODB STATUS /* sg_marker */",
    "SELEC order_id FROM t_order /* sg_marker: the parser cannot read it */",
];

async fn start() -> Cluster {
    let cluster = Cluster::start().await;
    cluster.create_tables().await;
    let mut conn = cluster.client().await;
    conn.query_drop(
        "INSERT INTO t_order (order_id, user_id, status, amount) VALUES (1, 1, 'paid', 5), (2, 1, 'new', 7)",
    )
    .await
    .unwrap();
    log_backend_queries(&cluster).await;
    cluster
}

async fn nothing_reached_the_backends(cluster: &Cluster) {
    assert_eq!(
        backend_statements_containing(cluster, "sg_marker").await,
        0,
        "a refused statement reached a backend"
    );
    // SET STATEMENT ... FOR CREATE DATABASE did not create it.
    let mut conn = cluster.backend(0).await;
    let dbs: Vec<String> = conn
        .query("SHOW DATABASES LIKE 'sg_marker%'")
        .await
        .unwrap();
    assert!(dbs.is_empty(), "{dbs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_in_the_text_and_binary_protocols() {
    let cluster = start().await;
    let mut conn = cluster.client().await;
    for sql in REFUSED {
        match conn.query_drop(*sql).await {
            Err(mysql_async::Error::Server(e)) => {
                assert_eq!(e.code, 1235, "{sql}: {}", e.message);
                assert_eq!(e.state, "42000", "{sql}");
                assert!(e.message.starts_with("shardgate"), "{sql}: {}", e.message);
            }
            other => panic!("{sql}: expected a refusal, got {other:?}"),
        }
        // The connection goes on.
        let one: Option<i64> = conn.query_first("SELECT 1").await.unwrap();
        assert_eq!(one, Some(1));
    }
    // The binary protocol: COM_STMT_PREPARE (and EXECUTE) of the same statements.
    for sql in REFUSED {
        match conn.exec_drop(*sql, ()).await {
            Err(mysql_async::Error::Server(e)) => {
                assert_eq!(e.code, 1235, "prepared {sql}: {}", e.message)
            }
            other => panic!("prepared {sql}: expected a refusal, got {other:?}"),
        }
    }
    // Ordinary statements still work, and reach the backends.
    let rows: Vec<(i64, String)> = conn
        .query("SELECT order_id, status FROM t_order ORDER BY order_id")
        .await
        .unwrap();
    assert_eq!(rows, vec![(1, "paid".into()), (2, "new".into())]);
    let total: Option<(i64, String)> = conn
        .query_first("SELECT COUNT(*), CONCAT('sg_allowed', '') FROM t_order WHERE order_id = 2")
        .await
        .unwrap();
    assert_eq!(total, Some((1, "sg_allowed".into())));
    nothing_reached_the_backends(&cluster).await;
    assert!(backend_statements_containing(&cluster, "sg_allowed").await > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_through_pymysql_and_the_mariadb_cli() {
    let cluster = start().await;
    tokio::task::block_in_place(ensure_pymysql);
    let port = cluster.proxy.port();
    let statements = format!(
        "[{}]",
        REFUSED
            .iter()
            .map(|s| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")))
            .collect::<Vec<_>>()
            .join(",")
    );
    let output = tokio::task::block_in_place(|| {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/python/refusals.py");
        let mut child = std::process::Command::new("python3")
            .args([script, "127.0.0.1", &port.to_string(), USER, PASSWORD])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run python3");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(statements.as_bytes())
            .expect("write statements");
        child.wait_with_output().expect("python3 output")
    });
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "refusals.py: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let expected = format!("[{}]", vec!["1235"; REFUSED.len()].join(", "));
    assert_eq!(stdout.trim(), expected);

    // The mariadb CLI (Connector/C): each refusal is an error line, and the CLI goes on to
    // the next statement with --force.
    for sql in REFUSED {
        let output = tokio::task::block_in_place(|| mariadb_cli(port, sql, &[]));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{sql}");
        assert!(stderr.contains("ERROR 1235 (42000)"), "{sql}: {stderr}");
    }
    let all = REFUSED.join(";\n") + ";\nSELECT CONCAT('sg_', 'cli_survived')";
    let output = tokio::task::block_in_place(|| mariadb_cli(port, &all, &["--force"]));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stdout.trim(), "sg_cli_survived", "{stderr}");
    assert_eq!(
        stderr.matches("ERROR 1235").count(),
        REFUSED.len(),
        "{stderr}"
    );
    nothing_reached_the_backends(&cluster).await;
}
