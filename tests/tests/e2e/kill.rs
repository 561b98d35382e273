//! KILL of shardgate sessions: KILL QUERY ends a long read over many physical tables (text
//! and prepared) with ER_QUERY_INTERRUPTED, the backends' statements stop and the session
//! goes on; KILL CONNECTION ends a session and rolls its transaction back; an app account
//! may kill only its own account's sessions; unknown ids and unsupported forms are refused.

use std::time::Duration;

use mysql_async::prelude::Queryable;
use shardgate_tests::clients::mariadb_cli;
use shardgate_tests::{assert_refused, Cluster, ADMIN_USER, HASHED_USER, PASSWORD};

/// Rows in this many physical tables, each read sleeps a second per row: a read that
/// would take minutes unless killed.
const ROWS: i64 = 120;

const SLOW_READ: &str = "SELECT COUNT(*) FROM t_order WHERE SLEEP(1) = 0";

async fn account(cluster: &Cluster, user: &str) -> mysql_async::Conn {
    mysql_async::Conn::new(cluster.opts().user(Some(user)).pass(Some(PASSWORD)))
        .await
        .expect("the account logs in")
}

/// Waits until session `id` runs `command` (the processlist, as an admin sees it): a
/// prepared read is first a `Prepare`, and a KILL QUERY then ends only that.
async fn wait_running(admin: &mut mysql_async::Conn, id: u32, command: &str) {
    for _ in 0..400 {
        let rows: Vec<mysql_async::Row> = admin.query("SHOW PROCESSLIST").await.unwrap();
        let running = rows.iter().any(|r| {
            r.get::<u32, _>(0) == Some(id) && r.get::<String, _>(4).as_deref() == Some(command)
        });
        if running {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("session {id} never ran its statement");
}

/// Statements still sleeping on the cluster's servers.
async fn sleeping_on_backends(cluster: &Cluster) -> usize {
    let mut n = 0;
    for server in &cluster.servers {
        let mut conn = mysql_async::Conn::from_url(server.url()).await.unwrap();
        let count: Option<i64> = conn
            .query_first(
                "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE '%SLEEP(%' AND INFO NOT LIKE '%PROCESSLIST%'",
            )
            .await
            .unwrap();
        n += count.unwrap_or(0) as usize;
    }
    n
}

fn server_code(result: &mysql_async::Error) -> Option<u16> {
    match result {
        mysql_async::Error::Server(e) => Some(e.code),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_query_ends_a_long_scatter_read() {
    let cluster = Cluster::start().await;
    cluster.create_tables().await;
    let mut setup = cluster.client().await;
    let values: Vec<String> = (0..ROWS)
        .map(|id| format!("({id}, {}, 'new')", id % 7))
        .collect();
    setup
        .query_drop(format!(
            "INSERT INTO t_order (order_id, user_id, status) VALUES {}",
            values.join(", ")
        ))
        .await
        .unwrap();
    let mut admin = account(&cluster, ADMIN_USER).await;

    for prepared in [false, true] {
        let mut victim = cluster.client().await;
        let victim_id = victim.id();
        let read = tokio::spawn(async move {
            let result: mysql_async::Result<Option<i64>> = if prepared {
                victim
                    .exec_first("SELECT COUNT(*) FROM t_order WHERE SLEEP(?) = 0", (1,))
                    .await
            } else {
                victim.query_first(SLOW_READ).await
            };
            (victim, result)
        });
        let command = if prepared { "Execute" } else { "Query" };
        wait_running(&mut admin, victim_id, command).await;
        // The same account kills its own session's statement.
        setup
            .query_drop(format!("KILL QUERY {victim_id}"))
            .await
            .unwrap();
        let (mut victim, result) = tokio::time::timeout(Duration::from_secs(90), read)
            .await
            .expect("the killed read ended")
            .unwrap();
        let err = result.expect_err("the read was interrupted");
        assert_eq!(
            server_code(&err),
            Some(1317),
            "prepared {prepared}: {err:?}"
        );
        // The session goes on, on the same connection.
        let count: Option<i64> = victim
            .query_first("SELECT COUNT(*) FROM t_order")
            .await
            .unwrap();
        assert_eq!(count, Some(ROWS));
        let mut sleeping = usize::MAX;
        for _ in 0..100 {
            sleeping = sleeping_on_backends(&cluster).await;
            if sleeping == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(sleeping, 0, "no backend statement still runs");
    }

    // KILL QUERY of a session between statements changes nothing.
    let mut idle = cluster.client().await;
    setup
        .query_drop(format!("KILL QUERY {}", idle.id()))
        .await
        .unwrap();
    let one: Option<i64> = idle.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_connection_rolls_back_and_ends_the_session() {
    let cluster = Cluster::start().await;
    cluster.create_tables().await;
    let mut admin = account(&cluster, ADMIN_USER).await;
    let mut victim = cluster.client().await;
    let victim_id = victim.id();
    victim.query_drop("BEGIN").await.unwrap();
    victim
        .query_drop("INSERT INTO t_order (order_id, user_id, status) VALUES (5, 1, 'tx')")
        .await
        .unwrap();
    let read = tokio::spawn(async move {
        let result: mysql_async::Result<Option<i64>> = victim
            .query_first("SELECT SLEEP(60) FROM t_order WHERE order_id = 5")
            .await;
        (victim, result)
    });
    wait_running(&mut admin, victim_id, "Query").await;
    admin.query_drop(format!("KILL {victim_id}")).await.unwrap();
    let (mut victim, result) = tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .expect("the killed session's statement ended")
        .unwrap();
    // SLEEP alone in a statement answers 1 when interrupted (as on MariaDB) or the
    // statement fails; either way the session is then closed.
    if let Ok(value) = &result {
        assert_eq!(*value, Some(1));
    }
    let after = victim.query_drop("SELECT 1").await;
    assert!(after.is_err(), "the session was ended: {after:?}");
    let mut other = cluster.client().await;
    let count: Option<i64> = other
        .query_first("SELECT COUNT(*) FROM t_order WHERE order_id = 5")
        .await
        .unwrap();
    assert_eq!(
        count,
        Some(0),
        "the killed session's transaction rolled back"
    );
    let rows: Vec<mysql_async::Row> = admin.query("SHOW PROCESSLIST").await.unwrap();
    assert!(
        rows.iter().all(|r| r.get::<u32, _>(0) != Some(victim_id)),
        "gone from the processlist"
    );

    // A session killing itself is told so, and closed.
    let mut own = cluster.client().await;
    let own_id = own.id();
    assert_refused(
        &mut own,
        &format!("KILL QUERY {own_id}"),
        1317,
        "interrupted",
    )
    .await;
    let err = own
        .query_drop(format!("KILL {own_id}"))
        .await
        .expect_err("killing itself");
    assert_eq!(server_code(&err), Some(1927), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_is_refused_where_it_must_be() {
    let cluster = Cluster::start().await;
    let mut app = cluster.client().await;
    let admin = account(&cluster, ADMIN_USER).await;
    let other_account = account(&cluster, HASHED_USER).await;
    assert_refused(
        &mut app,
        &format!("KILL QUERY {}", admin.id()),
        1095,
        "not owner",
    )
    .await;
    assert_refused(
        &mut app,
        &format!("KILL {}", other_account.id()),
        1095,
        "not owner",
    )
    .await;
    // A session that logged in again as another account belongs to that account.
    let mut switched = cluster.client().await;
    switched
        .change_user(
            mysql_async::ChangeUserOpts::default()
                .with_user(Some(HASHED_USER.into()))
                .with_pass(Some(PASSWORD.into())),
        )
        .await
        .expect("COM_CHANGE_USER");
    assert_refused(
        &mut app,
        &format!("KILL QUERY {}", switched.id()),
        1095,
        "not owner",
    )
    .await;
    let mut other_account = other_account;
    other_account
        .query_drop(format!("KILL QUERY {}", switched.id()))
        .await
        .expect("its new account may kill it");
    assert_refused(&mut app, "KILL 999999", 1094, "Unknown thread id: 999999").await;
    // Past any u32 session id: unknown too, not a KILL shardgate does not do.
    assert_refused(
        &mut app,
        "KILL QUERY 99999999999",
        1094,
        "Unknown thread id: 99999999999",
    )
    .await;
    assert_refused(&mut app, "KILL USER app", 1235, "KILL USER").await;
    assert_refused(&mut app, "KILL QUERY ID 4", 1235, "KILL QUERY ID").await;
    let one: Option<i64> = app.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1), "the connection goes on");
    // The mariadb CLI (Connector/C) sees the same error.
    let out = mariadb_cli(cluster.proxy.port(), "KILL 999999", &[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ERROR 1094"), "{stderr}");
}
