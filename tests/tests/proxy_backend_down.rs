//! A backend that dies fails only the statements that need it, with an error naming it; the
//! other backend keeps serving; after a restart its statements work again.

use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use shardgate_tests::Cluster;

/// Keys on each backend: even databases live on ds0, odd ones on ds1.
const ON_DS0: i64 = 4242; // order_db_18
const ON_DS1: i64 = 33; // order_db_1

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_backend_fails_only_its_own_statements() {
    let mut cluster = Cluster::start().await;
    cluster.create_tables().await;
    let mut conn = cluster.client().await;
    conn.query_drop(format!(
        "INSERT INTO t_order (order_id, user_id) VALUES ({ON_DS0}, 1), ({ON_DS1}, 2)"
    ))
    .await
    .unwrap();

    tokio::task::block_in_place(|| cluster.servers[1].stop());

    for _ in 0..3 {
        let row: Option<i64> = conn
            .query_first(format!(
                "SELECT user_id FROM t_order WHERE order_id = {ON_DS0}"
            ))
            .await
            .unwrap();
        assert_eq!(row, Some(1), "ds0 keeps serving");
        let err = conn
            .query_first::<i64, _>(format!(
                "SELECT user_id FROM t_order WHERE order_id = {ON_DS1}"
            ))
            .await
            .expect_err("ds1 is down");
        let message = err.to_string();
        assert!(
            message.contains("backend ds1"),
            "the error names the backend: {message}"
        );
    }
    // A fresh client is fine too, for ds0.
    let mut fresh = cluster.client().await;
    fresh
        .query_drop(format!(
            "UPDATE t_order SET status = 'ok' WHERE order_id = {ON_DS0}"
        ))
        .await
        .unwrap();
    assert_eq!(fresh.affected_rows(), 1);

    tokio::task::block_in_place(|| cluster.servers[1].restart()).expect("restart ds1");
    // The pool retries with backoff (at most 5 s between attempts).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match conn
            .query_first::<i64, _>(format!(
                "SELECT user_id FROM t_order WHERE order_id = {ON_DS1}"
            ))
            .await
        {
            Ok(row) => {
                assert_eq!(row, Some(2), "ds1 serves its rows again");
                break;
            }
            Err(e) if Instant::now() < deadline => {
                assert!(e.to_string().contains("ds1"), "{e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("ds1 did not come back: {e}"),
        }
    }
    let row: Option<i64> = conn
        .query_first(format!(
            "SELECT user_id FROM t_order WHERE order_id = {ON_DS0}"
        ))
        .await
        .unwrap();
    assert_eq!(row, Some(1));
}

/// Each backend's own `query_timeout_ms` bounds its statements of a fan-out and a scatter,
/// not the first backend's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_backend_has_its_own_query_timeout() {
    let cluster = Cluster::start_with(|yaml| {
        let ds1 = "    address: 127.0.0.1:33062      # host:port of the server\n    user: shardgate               # account shardgate uses on it\n    password: shardgate           # that account's password\n";
        assert!(yaml.contains(ds1), "examples/orders.yaml changed");
        *yaml = yaml.replace(ds1, &format!("{ds1}    pool:\n      query_timeout_ms: 300\n"));
    })
    .await;
    cluster.create_tables().await;
    let mut conn = cluster.client().await;
    conn.query_drop(format!(
        "INSERT INTO t_order (order_id, user_id) VALUES ({ON_DS0}, 1), ({ON_DS1}, 2)"
    ))
    .await
    .unwrap();
    // ds0 allows 60 s, ds1 300 ms: a one-second statement on each fails on ds1 alone.
    for sql in [
        format!("UPDATE t_order SET status = IF(SLEEP(1) = 0, 'slow', 'x') WHERE order_id IN ({ON_DS0}, {ON_DS1})"),
        format!("SELECT order_id, SLEEP(1) FROM t_order WHERE order_id IN ({ON_DS0}, {ON_DS1})"),
    ] {
        match conn.query_drop(&sql).await {
            Err(mysql_async::Error::Server(e)) => {
                assert_eq!(e.code, 3024, "{sql}: {}", e.message);
                assert!(e.message.contains("ds1"), "{sql}: {}", e.message);
            }
            other => panic!("{sql}: expected ds1's timeout, got {other:?}"),
        }
    }
    // Statements on ds0 alone may take longer.
    let slept: Option<i64> = conn
        .query_first(format!(
            "SELECT SLEEP(1) FROM t_order WHERE order_id = {ON_DS0}"
        ))
        .await
        .unwrap();
    assert_eq!(slept, Some(0));
}

/// Resumes a stopped server when the test ends, however it ends.
struct Resume(u32);

impl Drop for Resume {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-CONT", &self.0.to_string()])
            .status();
    }
}

/// A backend that stops answering (SIGSTOP) fails the client's COMMIT and ROLLBACK within
/// its query timeout, with an error naming it, instead of hanging for as long as it is
/// stopped; the other backend keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_against_a_stopped_backend_fails_in_time() {
    let cluster = Cluster::start_with(|yaml| {
        let ds1 = "    address: 127.0.0.1:33062      # host:port of the server\n    user: shardgate               # account shardgate uses on it\n    password: shardgate           # that account's password\n";
        assert!(yaml.contains(ds1), "examples/orders.yaml changed");
        *yaml = yaml.replace(ds1, &format!("{ds1}    pool:\n      query_timeout_ms: 500\n"));
    })
    .await;
    cluster.create_tables().await;
    let mut conn = cluster.client().await;
    conn.query_drop(format!(
        "INSERT INTO t_order (order_id, user_id) VALUES ({ON_DS0}, 1), ({ON_DS1}, 2)"
    ))
    .await
    .unwrap();
    // BEGIN inside a transaction commits it first: when that fails, BEGIN fails too.
    for end in ["COMMIT", "ROLLBACK", "BEGIN"] {
        conn.query_drop("BEGIN").await.unwrap();
        conn.query_drop(format!(
            "UPDATE t_order SET status = 'held' WHERE order_id = {ON_DS1}"
        ))
        .await
        .unwrap();
        let pid = cluster.servers[1].pid();
        let stopped = std::process::Command::new("kill")
            .args(["-STOP", &pid.to_string()])
            .status()
            .unwrap();
        assert!(stopped.success());
        let resume = Resume(pid);
        // SIGSTOP takes effect when each thread is next scheduled: wait until every one
        // of the server's threads is stopped, or a statement sent now may still run.
        let all_stopped = || {
            std::fs::read_dir(format!("/proc/{pid}/task"))
                .map(|tasks| {
                    tasks.flatten().all(|task| {
                        std::fs::read_to_string(task.path().join("stat"))
                            .ok()
                            .and_then(|stat| {
                                stat.rsplit_once(')')
                                    .map(|(_, rest)| rest.trim_start().starts_with('T'))
                            })
                            .unwrap_or(true)
                    })
                })
                .unwrap_or(false)
        };
        for _ in 0..200 {
            if all_stopped() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(all_stopped(), "the server did not stop");
        let answer = tokio::time::timeout(Duration::from_secs(20), conn.query_drop(end))
            .await
            .unwrap_or_else(|_| panic!("{end} hung against a stopped backend"));
        match answer {
            Err(mysql_async::Error::Server(e)) => {
                assert_eq!(e.code, 3024, "{end}: {}", e.message);
                assert!(e.message.contains("ds1"), "{end}: {}", e.message);
            }
            other => panic!("{end}: expected ds1's timeout, got {other:?}"),
        }
        // ds0 serves meanwhile, to this client and to others.
        let row: Option<i64> = conn
            .query_first(format!(
                "SELECT user_id FROM t_order WHERE order_id = {ON_DS0}"
            ))
            .await
            .unwrap();
        assert_eq!(row, Some(1));
        drop(resume);
    }
}
