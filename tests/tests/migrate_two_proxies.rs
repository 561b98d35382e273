//! A rollback after cutover with two proxies, each with a client incrementing the same row:
//! the proxies take up the rollback up to a second apart, and without a fence the one still
//! cut over copied its stale row back over the old table, losing increments the other had
//! acknowledged. Five rounds in one test: the loss was timing-dependent.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use shardgate_tests::migration::{create_legacy, run_cli, Migration};
use shardgate_tests::{
    legacy_source_yaml, orders_target_yaml, proxy_topology, Cluster, ProxyHandle,
};

const ROW: i64 = 7;

/// Increments `ROW` through `opts` until `stop`: (acknowledged, failed) increments.
async fn incrementer(opts: mysql_async::OptsBuilder, stop: Arc<AtomicBool>) -> (u64, u64) {
    let mut conn = mysql_async::Conn::new(opts.clone()).await.unwrap();
    let (mut acked, mut failed) = (0, 0);
    while !stop.load(Ordering::Relaxed) {
        match conn
            .query_drop(format!(
                "UPDATE t_order SET user_id = user_id + 1 WHERE order_id = {ROW}"
            ))
            .await
        {
            Ok(()) => acked += 1,
            Err(_) => {
                failed += 1;
                if let Ok(c) = mysql_async::Conn::new(opts.clone()).await {
                    conn = c;
                }
            }
        }
    }
    (acked, failed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_under_writers_on_two_proxies_loses_nothing() {
    let cluster = Cluster::start().await;
    create_legacy(&cluster, 3000).await;
    let source_yaml = legacy_source_yaml(&cluster);
    let migration = Migration::new(&source_yaml, &orders_target_yaml(&cluster));
    let proxies = [
        ProxyHandle::start(Arc::new(proxy_topology(&source_yaml))).await,
        ProxyHandle::start(Arc::new(proxy_topology(&source_yaml))).await,
    ];
    let step = |args: Vec<String>| async move {
        tokio::task::spawn_blocking(move || run_cli(&args))
            .await
            .unwrap()
    };
    let mut legacy = cluster.backend(0).await;
    for round in 0..5 {
        let mut start = migration.args("start");
        if round > 0 {
            // The target tables hold the last round's copies, routed the same way.
            start.push("--reuse-targets".into());
        }
        step(start).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        step(migration.args("backfill")).await.unwrap();
        assert!(
            tokio::task::block_in_place(|| migration.check_until_clean()),
            "round {round}: check never came out clean"
        );
        step(migration.args("cutover")).await.unwrap();
        // Both proxies route by the new layout now.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let before: Option<i64> = legacy
            .query_first(format!(
                "SELECT user_id FROM legacy.t_order WHERE order_id = {ROW}"
            ))
            .await
            .unwrap();
        let before = before.expect("the row");

        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = proxies
            .iter()
            .map(|p| tokio::spawn(incrementer(p.opts(), stop.clone())))
            .collect();
        tokio::time::sleep(Duration::from_millis(500)).await;
        step(migration.args("rollback")).await.unwrap();
        // Both proxies go on writing while they take up the rollback, a second apart.
        tokio::time::sleep(Duration::from_millis(2000)).await;
        stop.store(true, Ordering::Relaxed);
        let (mut acked, mut failed) = (0, 0);
        for w in writers {
            let (a, f) = w.await.unwrap();
            acked += a;
            failed += f;
        }
        let after: Option<i64> = legacy
            .query_first(format!(
                "SELECT user_id FROM legacy.t_order WHERE order_id = {ROW}"
            ))
            .await
            .unwrap();
        let applied = (after.expect("the row") - before) as u64;
        let repairs: Vec<(i64, String)> = legacy
            .query("SELECT row_key, reason FROM shardgate_meta.migration_repair_log")
            .await
            .unwrap_or_default();
        assert!(
            acked > 0,
            "round {round}: no increment was acknowledged ({failed} failed)"
        );
        assert!(
            applied >= acked && applied <= acked + failed,
            "round {round}: {acked} increments acknowledged ({failed} failed), {applied} in the old layout after the rollback; repair log {repairs:?}"
        );
    }
    for p in proxies {
        p.stop().await;
    }
}
