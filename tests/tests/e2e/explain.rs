//! `EXPLAIN statement`: planned, never run. One physical statement gets its backend's own
//! EXPLAIN (of the physical SQL); a plan over several tables comes back as rows: each
//! physical statement with its backend and database, then the plan's steps. Through
//! mysql_async and the mariadb CLI; what EXPLAIN cannot describe is refused.

use mysql_async::prelude::Queryable;
use shardgate_tests::clients::mariadb_cli;
use shardgate_tests::{assert_refused, Cluster};

type PlanRow = (String, Option<String>, Option<String>, String);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_shows_the_plan_and_runs_nothing() {
    let cluster = Cluster::start().await;
    cluster.create_tables().await;
    let mut conn = cluster.client().await;
    conn.query_drop("INSERT INTO t_order (order_id, user_id, status) VALUES (4242, 1, 'new')")
        .await
        .unwrap();

    // One target: MariaDB's own EXPLAIN of the physical statement, its columns as MariaDB
    // names them (tools read them).
    let mut result = conn
        .query_iter("EXPLAIN SELECT * FROM t_order WHERE order_id = 4242")
        .await
        .unwrap();
    let names: Vec<String> = result
        .columns()
        .unwrap()
        .iter()
        .map(|c| c.name_str().into_owned())
        .collect();
    assert_eq!(&names[..3], ["id", "select_type", "table"]);
    let rows: Vec<mysql_async::Row> = result.collect().await.unwrap();
    assert_eq!(rows.len(), 1);
    let table: String = rows[0].get("table").unwrap();
    assert_eq!(table, "t_order_4", "the physical table the key routes to");
    let json: Option<String> = conn
        .query_first("EXPLAIN FORMAT=JSON SELECT * FROM t_order WHERE order_id = 4242")
        .await
        .unwrap();
    assert!(json.unwrap().contains("query_block"));

    // Several targets: the plan as rows.
    let plan: Vec<PlanRow> = conn
        .query("EXPLAIN SELECT status, COUNT(*) FROM t_order GROUP BY status ORDER BY 2 DESC")
        .await
        .unwrap();
    let statements: Vec<&PlanRow> = plan.iter().filter(|r| r.0 == "statement").collect();
    assert_eq!(statements.len(), 1024);
    assert!(statements.iter().all(|r| r.1.is_some()
        && r.2.as_deref().is_some_and(|d| d.starts_with("order_db_"))
        && r.3.contains(".t_order_")));
    let steps: Vec<&str> = plan
        .iter()
        .filter(|r| r.0 == "plan")
        .map(|r| r.3.as_str())
        .collect();
    assert!(
        steps
            .iter()
            .any(|s| s.contains("route: scatter, 1024 statement(s)") && s.contains("aggregate")),
        "{steps:?}"
    );
    // A write is explained, not run; a UNION lists its branches.
    let plan: Vec<PlanRow> = conn
        .query("DESCRIBE DELETE FROM t_order WHERE order_id IN (4242, 4243)")
        .await
        .unwrap();
    assert_eq!(plan.iter().filter(|r| r.0 == "statement").count(), 2);
    assert!(plan.iter().any(|r| r.3.contains("send to all")));
    let kept: Option<i64> = conn
        .query_first("SELECT COUNT(*) FROM t_order WHERE order_id = 4242")
        .await
        .unwrap();
    assert_eq!(kept, Some(1), "EXPLAIN DELETE deleted");
    let plan: Vec<PlanRow> = conn
        .query("EXPLAIN SELECT order_id FROM t_order UNION SELECT order_id FROM t_order_item ORDER BY 1 LIMIT 3")
        .await
        .unwrap();
    let details: Vec<&str> = plan.iter().map(|r| r.3.as_str()).collect();
    assert!(
        details.iter().any(|d| d.contains("union of 2 SELECTs")),
        "{details:?}"
    );
    assert!(details.iter().any(|d| d.contains("limit 3")), "{details:?}");

    // EXPLAIN of a table is DESCRIBE.
    let columns: Vec<mysql_async::Row> = conn.query("EXPLAIN t_currency").await.unwrap();
    assert_eq!(columns.len(), 2);

    // The mariadb CLI reads both kinds.
    let out = mariadb_cli(
        cluster.proxy.port(),
        "EXPLAIN SELECT * FROM t_order WHERE order_id = 4242; EXPLAIN SELECT COUNT(*) FROM t_order",
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("t_order_4\tconst"), "{text}");
    assert!(text.contains("plan\tNULL\tNULL\troute: scatter"), "{text}");

    // Refused with the reason; the connection goes on.
    for (sql, reason) in [
        (
            "EXPLAIN FORMAT=JSON SELECT COUNT(*) FROM t_order",
            "plain EXPLAIN",
        ),
        ("EXPLAIN SELECT * FROM mysql.user", "schema"),
        ("EXPLAIN SELECT * FROM order_db_1.t_order_1", "schema"),
    ] {
        assert_refused(&mut conn, sql, 1235, reason).await;
    }
    match conn
        .prep("EXPLAIN SELECT * FROM t_order WHERE order_id = ?")
        .await
    {
        Err(mysql_async::Error::Server(e)) => {
            assert_eq!(e.code, 1235, "{}", e.message);
            assert!(e.message.contains("as text"), "{}", e.message);
        }
        other => panic!("prepared EXPLAIN: {other:?}"),
    }
    let one: Option<i64> = conn
        .query_first("SELECT user_id FROM t_order WHERE order_id = 4242")
        .await
        .unwrap();
    assert_eq!(one, Some(1));
}
