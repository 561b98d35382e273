//! The proxy's log as `log:` sets it up: a slow statement's line (JSON here), with its
//! literals masked, its user, plan and physical statements; fast ones stay out; no
//! password appears.

use mysql_async::prelude::Queryable;
use shardgate_tests::Cluster;

use super::lifecycle::{first_app, serve_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_statements_are_logged_with_their_literals_masked() {
    let cluster = Cluster::start().await;
    cluster.create_tables().await;
    let extra = "\nlog:\n  level: info\n  format: json\n  slow_query_ms: 250\n";
    let (mut child, port, dir) = serve_with(&cluster, extra, None);
    let mut conn = first_app(port).await;
    conn.query_drop(
        "INSERT INTO t_order (order_id, user_id, status) VALUES (4242, 7, 'secret-status')",
    )
    .await
    .unwrap();
    let slept: Option<(i64, i64)> = conn
        .query_first("SELECT order_id, SLEEP(0.4) FROM t_order WHERE status = 'secret-status' AND order_id = 4242")
        .await
        .unwrap();
    assert_eq!(slept, Some((4242, 0)));
    let fast: Option<i64> = conn
        .query_first("SELECT user_id FROM t_order WHERE order_id = 4242")
        .await
        .unwrap();
    assert_eq!(fast, Some(7));
    drop(conn);
    let _ = child.kill();
    let _ = child.wait();

    let log = std::fs::read_to_string(dir.path().join("shardgate.log")).unwrap();
    let slow: Vec<&str> = log.lines().filter(|l| l.contains("slow query")).collect();
    assert_eq!(slow.len(), 1, "{log}");
    let line = slow[0];
    // One JSON object per line, with the statement's fields.
    assert!(line.starts_with('{') && line.ends_with('}'), "{line}");
    for field in [
        r#""target":"shardgate::slow_query""#,
        r#""user":"app""#,
        r#""command":"query""#,
        r#""plan":"route""#,
        r#""physical_statements":1"#,
        r#""sql":"SELECT order_id, SLEEP(?) FROM t_order WHERE status = ? AND order_id = ?""#,
    ] {
        assert!(line.contains(field), "{field} in {line}");
    }
    assert!(
        !log.contains("secret-status"),
        "a literal reached the log: {log}"
    );
    assert!(!log.to_lowercase().contains("password:"), "{log}");
    drop(dir);
}
