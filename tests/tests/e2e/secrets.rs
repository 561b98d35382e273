//! Passwords stay out of errors and logs: a client's password (a caching_sha2_password
//! full authentication hands the proxy the password itself), a backend's (right, and
//! wrong so that connecting fails), and passwords written in statements. Clients' error
//! messages are checked here; the log lines of this test and of the whole suite are
//! checked for the same canaries by scripts/check_test_logs.sh.

use std::sync::Arc;

use mysql_async::prelude::Queryable;
use shardgate_tests::test_log::{
    CANARY_BACKEND_PASSWORD, CANARY_CLIENT_PASSWORD, CANARY_STATEMENT_PASSWORD,
};
use shardgate_tests::{Cluster, ProxyHandle, CANARY_USER};

fn assert_no_canary(text: &str) {
    for canary in [
        CANARY_CLIENT_PASSWORD,
        CANARY_BACKEND_PASSWORD,
        CANARY_STATEMENT_PASSWORD,
    ] {
        assert!(!text.contains(canary), "a password in: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_stay_out_of_errors_and_logs() {
    let mut cluster = Cluster::start_with(|yaml| {
        yaml.push_str("log:\n  slow_query_ms: 1\n  slow_query_literals: true\n")
    })
    .await;
    cluster.create_tables().await;
    let port = cluster.proxy.port().to_string();
    shardgate_proxy::protocol::sha2_auth::clear_cache();

    // A full authentication (PyMySQL, through the RSA key): the proxy sees the password.
    let out = tokio::task::block_in_place(|| {
        shardgate_tests::clients::python_script(
            "login.py",
            &["127.0.0.1", &port, CANARY_USER, CANARY_CLIENT_PASSWORD],
        )
    });
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A wrong password, close to the right one.
    let wrong = format!("{CANARY_CLIENT_PASSWORD}-wrong");
    let refused = mysql_async::Conn::new(
        cluster
            .opts()
            .user(Some(CANARY_USER))
            .pass(Some(wrong.as_str())),
    )
    .await
    .expect_err("a wrong password");
    assert_no_canary(&refused.to_string());
    let mut conn = mysql_async::Conn::new(
        cluster
            .opts()
            .user(Some(CANARY_USER))
            .pass(Some(CANARY_CLIENT_PASSWORD)),
    )
    .await
    .expect("the canary account logs in");

    // Statements that carry a password: refused or not, the password is in no answer.
    for sql in [
        format!("CREATE USER someone IDENTIFIED BY '{CANARY_STATEMENT_PASSWORD}'"),
        format!("SET PASSWORD = PASSWORD('{CANARY_STATEMENT_PASSWORD}')"),
        format!("ALTER USER app IDENTIFIED BY '{CANARY_STATEMENT_PASSWORD}'"),
        format!("GRANT ALL ON *.* TO someone IDENTIFIED BY '{CANARY_STATEMENT_PASSWORD}'"),
        format!("SELECT SLEEP(0.01) FROM t_order WHERE order_id = 1 AND PASSWORD('{CANARY_STATEMENT_PASSWORD}') = ''"),
        format!("SELECT * FROM no_such_table WHERE secret = PASSWORD('{CANARY_STATEMENT_PASSWORD}')"),
        format!("SELECT '{CANARY_STATEMENT_PASSWORD}' IDENTIFIED"),
        // Slow, so logged: with literals kept by the config, but masked where a password
        // could be.
        format!("SELECT SLEEP(0.01), '{CANARY_STATEMENT_PASSWORD}' AS `identified by` FROM t_order WHERE order_id = 1"),
    ] {
        if let Err(e) = conn.query_drop(&sql).await {
            assert_no_canary(&e.to_string());
        }
        let warnings: Vec<mysql_async::Row> = conn.query("SHOW WARNINGS").await.unwrap();
        assert_no_canary(&format!("{warnings:?}"));
    }
    // The processlist shows a statement as it runs; not one that ran before.
    let list: Vec<mysql_async::Row> = conn.query("SHOW FULL PROCESSLIST").await.unwrap();
    assert_no_canary(&format!("{list:?}"));

    // A backend whose password is wrong: connecting fails, and says so without it.
    let mut topology = (*cluster.topology).clone();
    topology.backends[1].password = format!("{CANARY_BACKEND_PASSWORD}-wrong");
    let proxy = ProxyHandle::start(Arc::new(topology)).await;
    let mut client = mysql_async::Conn::new(proxy.opts()).await.unwrap();
    let err = client
        .query_drop("SELECT COUNT(*) FROM t_order")
        .await
        .expect_err("ds1 refuses the proxy's account");
    let text = err.to_string();
    assert!(text.contains("ds1"), "{text}");
    assert_no_canary(&text);
    drop(client);
    proxy.stop().await;
    cluster.restart_proxy().await;
}
