//! A backend that dies fails only the statements that need it, with an error naming it; the
//! other backend keeps serving; after a restart its statements work again.

use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use shardgate_tests::Cluster;

/// Keys on each backend: even databases live on ds0, odd ones on ds1.
const ON_DS0: i64 = 4242; // order_db_18
const ON_DS1: i64 = 33; // order_db_1

/// The config edit that gives ds1 a query timeout of its own.
fn ds1_query_timeout(ms: u64) -> impl FnOnce(&mut String) {
    move |yaml| {
        let ds1 = "    address: 127.0.0.1:33062      # host:port of the server\n    user: shardgate               # account shardgate uses on it\n    password: shardgate           # that account's password\n";
        assert!(yaml.contains(ds1), "examples/orders.yaml changed");
        *yaml = yaml.replace(
            ds1,
            &format!("{ds1}    pool:\n      query_timeout_ms: {ms}\n"),
        );
    }
}

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
    let mut cluster = Cluster::start().await;
    // Created before the timeout is on: 512 CREATE TABLE on a loaded machine may take longer.
    cluster.create_tables().await;
    cluster.restart_proxy_with(ds1_query_timeout(300)).await;
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

/// Stops a server (SIGSTOP) and waits until every one of its threads has stopped: SIGSTOP
/// takes effect when each thread is next scheduled, and a statement sent before that may
/// still run. The server resumes when the returned guard drops.
async fn stop_server(pid: u32) -> Resume {
    let stopped = std::process::Command::new("kill")
        .args(["-STOP", &pid.to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let resume = Resume(pid);
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
    resume
}

/// A backend that stops answering (SIGSTOP) fails the client's COMMIT and ROLLBACK within
/// its query timeout, with an error naming it, instead of hanging for as long as it is
/// stopped; the other backend keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_against_a_stopped_backend_fails_in_time() {
    let mut cluster = Cluster::start().await;
    // Created before the timeout is on: 512 CREATE TABLE on a loaded machine may take longer.
    cluster.create_tables().await;
    cluster.restart_proxy_with(ds1_query_timeout(500)).await;
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
        let resume = stop_server(cluster.servers[1].pid()).await;
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
    // A COMMIT that succeeds on ds0 and fails on ds1 says so: ds0's part stays committed.
    conn.query_drop("BEGIN").await.unwrap();
    for key in [ON_DS0, ON_DS1] {
        conn.query_drop(format!(
            "UPDATE t_order SET status = 'both' WHERE order_id = {key}"
        ))
        .await
        .unwrap();
    }
    let resume = stop_server(cluster.servers[1].pid()).await;
    match conn.query_drop("COMMIT").await {
        Err(mysql_async::Error::Server(e)) => {
            assert_eq!(e.code, 3024, "{}", e.message);
            assert!(e.message.contains("ds1"), "{}", e.message);
            assert!(
                e.message.contains("already committed on ds0")
                    && e.message.contains("whether it was on ds1 is unknown"),
                "{}",
                e.message
            );
        }
        other => panic!("COMMIT: expected ds1's timeout, got {other:?}"),
    }
    drop(resume);
    let statuses: Vec<(i64, Option<String>)> = conn
        .query(format!(
            "SELECT order_id, status FROM t_order WHERE order_id IN ({ON_DS0}, {ON_DS1}) ORDER BY order_id"
        ))
        .await
        .unwrap();
    // ds0's part is committed. ds1 may still have run the COMMIT it was sent when it
    // resumed: the error said its outcome is unknown.
    assert_eq!(statuses[1], (ON_DS0, Some("both".to_string())));
    assert_eq!(statuses[0].0, ON_DS1);
}

/// Reads a result's rows until it ends: how many, and the error that ended it, if any.
async fn rows_until_error<P: mysql_async::prelude::Protocol>(
    mut result: mysql_async::QueryResult<'_, 'static, P>,
) -> (usize, Option<mysql_async::Error>) {
    let mut rows = 0;
    loop {
        match result.next().await {
            Ok(Some(_)) => rows += 1,
            Ok(None) => return (rows, None),
            Err(e) => return (rows, Some(e)),
        }
    }
}

/// A single-target result that the backend's query timeout cuts short ends the client's
/// command with the timeout error in place of its next row, and the client stays in step:
/// its next statement gets its own answer (text and binary protocols, the mariadb CLI). The
/// timeout bounds the wait for the backend, not a slow client: a client that pauses mid-read
/// gets every row (the timeout used to cancel a write to it midway, leaving half a packet,
/// and the client hung).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_cut_by_the_timeout_ends_in_step() {
    let mut cluster = Cluster::start().await;
    // Created before the timeout is on: 512 CREATE TABLE on a loaded machine may take longer.
    cluster.create_tables().await;
    cluster.restart_proxy_with(ds1_query_timeout(500)).await;
    let mut conn = cluster.client().await;
    // Keys 1024 apart live in one physical table: one target.
    let keys: Vec<String> = (0..8).map(|k| (ON_DS1 + 1024 * k).to_string()).collect();
    let values: Vec<String> = keys.iter().map(|k| format!("({k}, 2)")).collect();
    conn.query_drop(format!(
        "INSERT INTO t_order (order_id, user_id) VALUES {}",
        values.join(", ")
    ))
    .await
    .unwrap();
    // Rows of 20 kB fill MariaDB's network buffer, so rows go out as they are computed: the
    // first ones at once, then the fifth after a second's sleep, past the 500 ms ds1 waits
    // for a packet. The result is cut after the rows already sent.
    let slow = format!(
        "SELECT order_id, REPEAT('x', 20000), SLEEP(IF(order_id > {}, 1, 0)) FROM t_order WHERE order_id IN ({}) ORDER BY order_id",
        keys[3],
        keys.join(", ")
    );
    let check = format!("SELECT user_id FROM t_order WHERE order_id = {ON_DS1}");
    for binary in [false, true] {
        let read = if binary {
            match conn.exec_iter(slow.as_str(), ()).await {
                Ok(result) => rows_until_error(result).await,
                Err(e) => (0, Some(e)),
            }
        } else {
            match conn.query_iter(slow.as_str()).await {
                Ok(result) => rows_until_error(result).await,
                Err(e) => (0, Some(e)),
            }
        };
        match read {
            (rows, Some(mysql_async::Error::Server(e))) => {
                assert_eq!(e.code, 3024, "binary {binary}: {}", e.message);
                assert!(e.message.contains("ds1"), "{}", e.message);
                assert!(
                    (1..8).contains(&rows),
                    "binary {binary}: the error did not end the result midway ({rows} rows)"
                );
            }
            other => panic!("binary {binary}: expected ds1's timeout, got {other:?}"),
        }
        let user: Option<i64> = conn.query_first(check.as_str()).await.unwrap();
        assert_eq!(
            user,
            Some(2),
            "binary {binary}: the next answer is out of step"
        );
    }
    let out = shardgate_tests::clients::mariadb_cli(
        cluster.proxy.port(),
        &format!("{slow};\nSELECT 'in step'"),
        &["--force"],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("3024"), "stderr: {stderr}");
    assert!(
        stdout.lines().any(|l| l == "in step"),
        "stdout: {stdout}; stderr: {stderr}"
    );

    // A slow client: 300 rows of 50 kB (more than the sockets buffer), read after a pause
    // longer than the timeout.
    let keys: Vec<String> = (8..300).map(|k| (ON_DS1 + 1024 * k).to_string()).collect();
    for chunk in keys.chunks(100) {
        let values: Vec<String> = chunk.iter().map(|k| format!("({k}, 2)")).collect();
        conn.query_drop(format!(
            "INSERT INTO t_order (order_id, user_id) VALUES {}",
            values.join(", ")
        ))
        .await
        .unwrap();
    }
    let all: Vec<String> = (0..300).map(|k| (ON_DS1 + 1024 * k).to_string()).collect();
    let big = format!(
        "SELECT order_id, REPEAT('x', 50000) FROM t_order WHERE order_id IN ({}) ORDER BY order_id",
        all.join(", ")
    );
    let outcome = tokio::time::timeout(Duration::from_secs(30), async {
        let mut result = conn.query_iter(big.as_str()).await?;
        let mut rows = 0;
        while let Some(row) = result.next().await? {
            if rows == 0 {
                tokio::time::sleep(Duration::from_millis(1500)).await;
            }
            let (_, text): (i64, String) = mysql_async::from_row(row);
            assert_eq!(text.len(), 50000);
            rows += 1;
        }
        Ok::<usize, mysql_async::Error>(rows)
    })
    .await
    .expect("the slow read hung");
    // The backend answered in time; only the client was slow, and it gets every row.
    assert_eq!(outcome.expect("a slow client's read"), 300);
    let user: Option<i64> = conn.query_first(check.as_str()).await.unwrap();
    assert_eq!(
        user,
        Some(2),
        "after a slow client: the next answer is out of step"
    );
}
