//! A rollback after cutover with two proxies, each with a client incrementing the same row:
//! the proxies take up the rollback up to a second apart, and without a fence the one still
//! cut over copied its stale row back over the old table, losing increments the other had
//! acknowledged. Five rounds in one test: the loss was timing-dependent. And every switch
//! waits for every live proxy's acknowledgment (a stuck one holds it; a dead one is dropped
//! when its heartbeat lapses). And the state kept on another backend than the first
//! (`migration_state.backend`) reaches every proxy, end to end.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use shardgate_tests::migration::{
    assert_layout_matches, create_legacy, orders_target_tables, run_cli, Migration,
};
use shardgate_tests::writers::{read_layout, start_writers_across};
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
        // No pause: backfill waits until every live proxy acknowledged dual-write.
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
        // A write in flight when the fence goes up completes (the switch waits for it), and
        // the writes after it wait at the fence: none fails.
        assert_eq!(
            failed, 0,
            "round {round}: {failed} increments failed across the rollback"
        );
    }
    for p in proxies {
        p.stop().await;
    }
}

/// Keeps a registry row for a proxy that is alive (its heartbeat renewed) but never
/// acknowledges anything, until `stop`.
async fn stuck_proxy(mut conn: mysql_async::Conn, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        conn.query_drop(
            "INSERT INTO shardgate_meta.migration_proxies (proxy_id, heartbeat_at) \
             VALUES ('stuck-proxy', NOW(3)) ON DUPLICATE KEY UPDATE heartbeat_at = NOW(3)",
        )
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_switch_waits_for_every_live_proxy() {
    let cluster = Cluster::start().await;
    create_legacy(&cluster, 300).await;
    let source_yaml = legacy_source_yaml(&cluster);
    let migration = Migration::new(&source_yaml, &orders_target_yaml(&cluster));
    let proxy = ProxyHandle::start(Arc::new(proxy_topology(&source_yaml))).await;
    let step = |args: Vec<String>| async move {
        tokio::task::spawn_blocking(move || run_cli(&args))
            .await
            .unwrap()
    };
    let mut legacy = cluster.backend(0).await;

    // A writer inserts new rows from before `start` to after `backfill`, with no pause
    // between the steps: the backfill waits until the proxies dual-write, so the first
    // check finds every row in place.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn({
        let (opts, stop) = (proxy.opts(), stop.clone());
        async move {
            let mut conn = mysql_async::Conn::new(opts).await.unwrap();
            let mut key = 100_000;
            let mut written = 0;
            while !stop.load(Ordering::Relaxed) {
                key += 1;
                if conn
                    .query_drop(format!(
                        "INSERT INTO t_order (order_id, user_id, status, amount) VALUES ({key}, 1, 'new', 1.00)"
                    ))
                    .await
                    .is_ok()
                {
                    written += 1;
                }
            }
            written
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    step(migration.args("start")).await.unwrap();
    step(migration.args("backfill")).await.unwrap();
    stop.store(true, Ordering::Relaxed);
    let written = writer.await.unwrap();
    assert!(written > 0, "the writer wrote nothing");
    // Both proxies (the cluster's and this one) are registered and acknowledged.
    let acked: Vec<(String, String)> = legacy
        .query(
            "SELECT a.proxy_id, a.phase FROM shardgate_meta.migration_acks a \
             JOIN shardgate_meta.migration_proxies p USING (proxy_id) \
             WHERE a.table_name = 't_order' AND p.heartbeat_at > NOW(3) - INTERVAL 5 SECOND",
        )
        .await
        .unwrap();
    assert!(acked.len() >= 2, "acknowledgments: {acked:?}");
    step(migration.args("check"))
        .await
        .expect("the first check after backfill is clean");

    // A proxy alive but stuck: the cutover waits for it, then gives up, naming it, and
    // lifts the fence.
    let stuck = Arc::new(AtomicBool::new(false));
    let heartbeat = tokio::spawn(stuck_proxy(cluster.backend(0).await, stuck.clone()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let refused = step(migration.args("cutover"))
        .await
        .expect_err("cutover must wait for the stuck proxy");
    let message = format!("{refused:#}");
    assert!(
        message.contains("stuck-proxy") && message.contains("did not acknowledge"),
        "{message}"
    );
    let phase: Option<String> = legacy
        .query_first("SELECT phase FROM shardgate_meta.migrations WHERE table_name = 't_order'")
        .await
        .unwrap();
    assert_eq!(phase.as_deref(), Some("checked"), "the fence was lifted");
    let mut client = mysql_async::Conn::new(proxy.opts()).await.unwrap();
    client
        .query_drop("UPDATE t_order SET user_id = 2 WHERE order_id = 5")
        .await
        .expect("writes go on after the abandoned cutover");

    // The stuck proxy stops renewing its heartbeat (it died): the next cutover drops it
    // once its lease lapses, and goes through.
    stuck.store(true, Ordering::Relaxed);
    heartbeat.await.unwrap();
    step(migration.args("cutover"))
        .await
        .expect("cutover once the dead proxy's lease lapsed");
    step(migration.args("rollback")).await.expect("rollback");
    let phase: Option<String> = legacy
        .query_first("SELECT phase FROM shardgate_meta.migrations WHERE table_name = 't_order'")
        .await
        .unwrap();
    assert_eq!(phase.as_deref(), Some("rolled_back"));
    drop(client);
    proxy.stop().await;
    // A proxy that stops leaves the registry: no step waits for it.
    let left: Option<u64> = legacy
        .query_first(
            "SELECT COUNT(*) FROM shardgate_meta.migration_proxies WHERE proxy_id LIKE '%pid%'",
        )
        .await
        .unwrap();
    assert!(
        left.is_some_and(|n| n <= 1),
        "{left:?} proxies still registered"
    );
}

/// The config puts the migration state on the second backend (`migration_state: { backend:
/// ds1 }`), away from the table being moved: `--state ds1` (or no `--state`) runs the whole
/// migration with two proxies dual-writing and switching from there, `--state ds0` is
/// refused, and nothing of the state is written to ds0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_state_on_the_second_backend_works_end_to_end() {
    const ROWS: i64 = 3000;
    let cluster = Cluster::start().await;
    create_legacy(&cluster, ROWS).await;
    let source_yaml = format!(
        "{}migration_state:\n  backend: ds1\n",
        legacy_source_yaml(&cluster)
    );
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
    let on = |name: &str, state: &str| {
        let mut args = migration.args(name);
        args.extend(["--state".to_string(), state.to_string()]);
        args
    };
    let mut ds0 = cluster.backend(0).await;
    let mut ds1 = cluster.backend(1).await;

    let refused = step(on("start", "ds0"))
        .await
        .expect_err("the proxies do not watch ds0");
    assert!(
        format!("{refused:#}").contains("migration_state"),
        "{refused:#}"
    );
    let writers = start_writers_across(
        &[proxies[0].opts(), proxies[1].opts()],
        4,
        ROWS,
        Duration::from_millis(5),
    );
    step(on("start", "ds1")).await.unwrap();
    // No --state: the config's state backend.
    step(migration.args("backfill")).await.unwrap();
    let acked: Vec<(String, String)> = ds1
        .query(
            "SELECT proxy_id, phase FROM shardgate_meta.migration_acks WHERE table_name = 't_order'",
        )
        .await
        .unwrap();
    assert_eq!(acked.len(), 2, "both proxies acknowledge on ds1: {acked:?}");
    assert!(
        tokio::task::block_in_place(|| migration.check_until_clean()),
        "check never came out clean"
    );
    step(on("cutover", "ds1")).await.unwrap();
    let mut finish = on("finish", "ds1");
    finish.push("--drop-source".into());
    step(finish).await.unwrap();
    // The proxies write the new layout alone, the old table gone.
    let before = writers.done.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        writers.done.load(Ordering::Relaxed) > before + 20,
        "the writers stalled after finish"
    );
    let expected = writers.stop().await.unwrap();
    assert!(
        expected.len() > 100,
        "the writers wrote {} rows",
        expected.len()
    );

    let mut conns = vec![cluster.backend(0).await, cluster.backend(1).await];
    let target_tables = orders_target_tables();
    let target = read_layout(&target_tables, &mut conns).await.unwrap();
    assert_layout_matches(&target, ROWS, &expected, "new layout");
    let legacy_left: Option<u64> = ds0
        .query_first(
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'legacy' AND TABLE_NAME = 't_order'",
        )
        .await
        .unwrap();
    assert_eq!(legacy_left, Some(0), "finish --drop-source dropped it");
    let phase: Option<String> = ds1
        .query_first("SELECT phase FROM shardgate_meta.migrations WHERE table_name = 't_order'")
        .await
        .unwrap();
    assert_eq!(phase.as_deref(), Some("finished"));
    let state_on_ds0: Option<u64> = ds0
        .query_first(
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'shardgate_meta' \
             AND TABLE_NAME LIKE 'migration%'",
        )
        .await
        .unwrap();
    // (The cluster's own proxy keeps its id segments in ds0's shardgate_meta.)
    assert_eq!(
        state_on_ds0,
        Some(0),
        "nothing of the migration state on ds0"
    );
    for p in proxies {
        p.stop().await;
    }
}
