//! `shardgate migrate` as an operator runs it, against real MariaDB servers: plan, start
//! (after which a proxy writes to both layouts), backfill, check (clean, then dirty after the
//! target is damaged), repair, check, status, a cutover refused while check is dirty,
//! rollback. Configs are files, as an operator has them.

use std::sync::Arc;

use mysql_async::prelude::Queryable;
use shardgate_tests::migration::Migration;
use shardgate_tests::{
    legacy_source_yaml, orders_target_yaml, proxy_topology, Cluster, ProxyHandle,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_runs_the_migration_steps() {
    let cluster = Cluster::start().await;
    let mut legacy = cluster.backend(0).await;
    legacy
        .query_drop(
            "CREATE DATABASE legacy; CREATE TABLE legacy.t_order (order_id BIGINT NOT NULL PRIMARY KEY, \
             user_id BIGINT NOT NULL, status VARCHAR(16) NOT NULL DEFAULT 'new', \
             amount DECIMAL(12, 2) NOT NULL DEFAULT 0, created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP) \
             DEFAULT CHARSET = utf8mb4",
        )
        .await
        .unwrap();
    let values: Vec<String> = (1..=3000)
        .map(|i| {
            format!(
                "({}, {}, 'new', {}.50, '2026-01-01')",
                i * 31 + 7,
                i % 50,
                i % 900
            )
        })
        .collect();
    legacy
        .query_drop(format!(
            "INSERT INTO legacy.t_order (order_id, user_id, status, amount, created_at) VALUES {}",
            values.join(", ")
        ))
        .await
        .unwrap();

    // The operator's two configs: today's (t_order unsharded in `legacy`) and tomorrow's
    // (examples/orders.yaml, 32 x 32), both pointing at the test's servers.
    let source = legacy_source_yaml(&cluster);
    let migration = Migration::new(&source, &orders_target_yaml(&cluster));
    let step = |name: &str| migration.step(name);

    step("plan").unwrap();
    // The proxies run with today's config.
    let proxy = ProxyHandle::start(Arc::new(proxy_topology(&source))).await;
    step("start").unwrap();
    assert!(step("start").is_err(), "a second start is refused");
    // Within about a second the proxy writes to both layouts.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let mut client = mysql_async::Conn::new(proxy.opts()).await.unwrap();
    client
        .query_drop("INSERT INTO t_order (order_id, user_id, status) VALUES (4242, 1, 'dual')")
        .await
        .unwrap();
    client
        .query_drop("UPDATE t_order SET status = 'both' WHERE order_id = 4242")
        .await
        .unwrap();
    let mut ds0 = cluster.backend(0).await;
    let old: Option<String> = ds0
        .query_first("SELECT status FROM legacy.t_order WHERE order_id = 4242")
        .await
        .unwrap();
    assert_eq!(old.as_deref(), Some("both"));
    // 4242 -> order_db_18.t_order_4, on the first server.
    let new: Option<String> = ds0
        .query_first("SELECT status FROM order_db_18.t_order_4 WHERE order_id = 4242")
        .await
        .unwrap();
    assert_eq!(
        new.as_deref(),
        Some("both"),
        "the write reached the new layout"
    );
    // A row holding 4-byte and CJK text, updated by clients whose sessions speak latin1
    // and utf8 (3-byte): the copy to the new layout moves the text as stored, whatever the
    // writer's session character set. 4243 -> order_db_19.t_order_4, on ds1.
    let text = "😀 日本語テキスト";
    client
        .exec_drop(
            "INSERT INTO t_order (order_id, user_id, status) VALUES (4243, 1, ?)",
            (text,),
        )
        .await
        .unwrap();
    let mut ds1 = cluster.backend(1).await;
    for names in ["latin1", "utf8"] {
        let mut other = mysql_async::Conn::new(proxy.opts()).await.unwrap();
        other
            .query_drop(format!("SET NAMES {names}"))
            .await
            .unwrap();
        other
            .query_drop("UPDATE t_order SET amount = amount + 1 WHERE order_id = 4243")
            .await
            .unwrap();
        let copied: Option<(String, String)> = ds1
            .query_first("SELECT status, CAST(amount AS CHAR) FROM order_db_19.t_order_4 WHERE order_id = 4243")
            .await
            .unwrap();
        let (status, _) = copied.expect("the row reached the new layout");
        assert_eq!(status, text, "copied from a {names} session");
    }
    let old: Option<String> = ds0
        .query_first("SELECT status FROM legacy.t_order WHERE order_id = 4243")
        .await
        .unwrap();
    assert_eq!(old.as_deref(), Some(text));
    // A statement whose rows cannot be known before it runs is refused, with the reason.
    let err = client
        .query_drop("INSERT INTO t_order (order_id, user_id) SELECT order_id + 1, user_id FROM t_order WHERE order_id = 4242")
        .await
        .unwrap_err();
    match err {
        mysql_async::Error::Server(e) => {
            assert_eq!(e.code, 1235, "{}", e.message);
            assert!(e.message.contains("being migrated"), "{}", e.message);
        }
        other => panic!("{other}"),
    }
    let _: Vec<i64> = client
        .query("SELECT order_id FROM t_order LIMIT 3")
        .await
        .unwrap();
    step("backfill").unwrap();
    step("check").unwrap();
    // Damage the target; check fails and logs the key; repair fixes it.
    let k: i64 = 100 * 31 + 7;
    let (db, t) = (k % 32, k / 32 % 32);
    let mut backend = cluster.backend((db % 2) as usize).await;
    backend
        .query_drop(format!(
            "DELETE FROM order_db_{db}.t_order_{t} WHERE order_id = {k}"
        ))
        .await
        .unwrap();
    let err = step("check").unwrap_err();
    assert!(err.to_string().contains("1 rows differ"), "{err}");
    step("repair").unwrap();
    step("check").unwrap();
    step("status").unwrap();
    let mut meta = cluster.backend(0).await;
    let row: Option<(String, u8)> = meta
        .query_first("SELECT phase, last_check_clean FROM shardgate_meta.migrations WHERE table_name = 't_order'")
        .await
        .unwrap();
    assert_eq!(row, Some(("checked".to_string(), 1)));
    let back: Option<i64> = backend
        .query_first(format!(
            "SELECT COUNT(*) FROM order_db_{db}.t_order_{t} WHERE order_id = {k}"
        ))
        .await
        .unwrap();
    assert_eq!(back, Some(1));
    // Cutover is refused while the last check is not clean.
    backend
        .query_drop(format!(
            "DELETE FROM order_db_{db}.t_order_{t} WHERE order_id = {k}"
        ))
        .await
        .unwrap();
    assert!(step("check").is_err());
    let err = step("cutover").unwrap_err();
    assert!(err.to_string().contains("cutover refused"), "{err}");
    step("rollback").unwrap();
    // Rolled back: writes reach the old layout alone.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    client
        .query_drop("UPDATE t_order SET status = 'old only' WHERE order_id = 4242")
        .await
        .unwrap();
    let new: Option<String> = ds0
        .query_first("SELECT status FROM order_db_18.t_order_4 WHERE order_id = 4242")
        .await
        .unwrap();
    assert_eq!(new.as_deref(), Some("both"));
    let phase: Option<String> = meta
        .query_first("SELECT phase FROM shardgate_meta.migrations WHERE table_name = 't_order'")
        .await
        .unwrap();
    assert_eq!(phase.as_deref(), Some("rolled_back"));
    // Starting again onto target tables that hold the first attempt's rows is refused
    // unless told they may be reused.
    let err = step("start").unwrap_err();
    assert!(err.to_string().contains("already hold rows"), "{err}");
    // The proxies read the state where the config's `migration_state.backend` puts it (the
    // first backend here): another is refused.
    let mut elsewhere = migration.args("status");
    elsewhere.extend(["--state".to_string(), "ds1".to_string()]);
    let err = tokio::task::block_in_place(|| shardgate_tests::migration::run_cli(&elsewhere))
        .unwrap_err();
    assert!(err.to_string().contains("migration_state"), "{err}");
    let mut reuse = migration.args("start");
    reuse.push("--reuse-targets".into());
    tokio::task::block_in_place(|| shardgate_tests::migration::run_cli(&reuse)).unwrap();
    step("backfill").unwrap();
    // A copy of 4242 in a table its key does not route to (order_db_0.t_order_0, on ds0),
    // beside the one at home: bucket checksums over the whole target cannot see where a
    // row sits, so check asks each table; it reports the key as misplaced and duplicated.
    ds0.query_drop(
        "INSERT INTO order_db_0.t_order_0 SELECT * FROM order_db_18.t_order_4 WHERE order_id = 4242",
    )
    .await
    .unwrap();
    let err = step("check").unwrap_err();
    assert!(
        err.to_string().contains("do not route to (first key 4242)"),
        "{err}"
    );
    let reasons: Vec<String> = meta
        .query("SELECT reason FROM shardgate_meta.migration_repair_log WHERE row_key = 4242")
        .await
        .unwrap();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("more than one target table")),
        "{reasons:?}"
    );
    let clean: Option<u8> = meta
        .query_first(
            "SELECT last_check_clean FROM shardgate_meta.migrations WHERE table_name = 't_order'",
        )
        .await
        .unwrap();
    assert_eq!(clean, Some(0));
    proxy.stop().await;
}
