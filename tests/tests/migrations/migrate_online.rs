//! The migration shardgate exists for, end to end: an unsharded `legacy.t_order` on one
//! MariaDB server moves to the 32 x 32 layout over two servers while 8 clients insert,
//! update and delete through shardgate. The backfill is killed with SIGKILL halfway and
//! resumed; check, repair and cutover follow; every row of the new layout must be what the
//! clients were told, and so must every row of the old one after a rollback.
//!
//! `SG_MIGRATE_ROWS` sets the initial row count (1,000,000 by default).

use std::sync::Arc;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use shardgate_config::Topology;
use shardgate_migrate::{backend_opts, Phase, StateStore};
use shardgate_tests::migration::{
    assert_layout_matches, create_legacy, orders_target_tables, Migration,
};
use shardgate_tests::writers::{read_layout, start_writers};
use shardgate_tests::{
    legacy_source_yaml, orders_target_yaml, proxy_topology, shardgate_binary, Cluster, ProxyHandle,
};

fn rows() -> i64 {
    std::env::var("SG_MIGRATE_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_table_moves_to_32x32_and_back_without_losing_a_row() {
    let rows = rows();
    let began = Instant::now();
    let mark = |what: &str| eprintln!("[{:>6.1} s] {what}", began.elapsed().as_secs_f64());
    let cluster = Cluster::start().await;
    create_legacy(&cluster, rows).await;
    mark("loaded");
    let source_yaml = legacy_source_yaml(&cluster);
    let migration = Migration::new(&source_yaml, &orders_target_yaml(&cluster));
    let step = |name: &str| migration.step(name);
    // The proxies run with today's config.
    let proxy = ProxyHandle::start(Arc::new(proxy_topology(&source_yaml))).await;
    let source = Topology::from_yaml(&source_yaml, "old.yaml").unwrap();
    let store = StateStore::open(backend_opts(&source.backends[0]), "shardgate_meta", "ds0")
        .await
        .unwrap();

    step("start").unwrap();
    // Within about a second every proxy writes to both layouts.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let writers = start_writers(
        proxy.opts(),
        8,
        rows,
        Duration::from_millis(
            std::env::var("SG_PAUSE")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(5),
        ),
    );

    // The backfill, as its own process, killed with SIGKILL halfway.
    let args = migration.args("backfill");
    let mut child = std::process::Command::new(shardgate_binary())
        .args(&args)
        .stdout(std::process::Stdio::null())
        .stderr(shardgate_tests::test_log::file("shardgate-process"))
        .spawn()
        .expect("run shardgate (cargo test --workspace builds it)");
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let status = store.status("t_order").await.unwrap().unwrap();
        if status.copied_rows as i64 >= rows / 2 {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the backfill ended before halfway"
        );
        assert!(Instant::now() < deadline, "backfill too slow: {status:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    mark("halfway: SIGKILL");
    child.kill().unwrap();
    child.wait().unwrap();
    let killed = store.status("t_order").await.unwrap().unwrap();
    assert_eq!(killed.phase, Phase::Backfilling);
    assert!((killed.copied_rows as i64) < rows, "{killed:?}");
    let resumed = std::process::Command::new(shardgate_binary())
        .args(&args)
        .stdout(std::process::Stdio::null())
        .stderr(shardgate_tests::test_log::file("shardgate-process"))
        .status()
        .unwrap();
    assert!(resumed.success());
    assert_eq!(
        store.status("t_order").await.unwrap().unwrap().phase,
        Phase::Backfilled
    );
    mark("backfilled");

    // Check (a delete racing the copy may have left a row behind), repair, check again.
    assert!(migration.check_until_clean(), "check never came out clean");
    mark("checked");
    step("cutover").unwrap();
    mark("cut over");
    // Writes go on by the new layout, copied back to the old one.
    let before = writers.done.load(std::sync::atomic::Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let after = writers.done.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        after > before + 50,
        "writers stalled after cutover: {before} -> {after}"
    );
    let writes = writers.done.load(std::sync::atomic::Ordering::Relaxed);
    let expected = writers.stop().await.unwrap();
    mark(&format!("writers stopped after {writes} writes"));
    assert!(
        expected.len() > 500,
        "the writers wrote {} rows",
        expected.len()
    );

    let mut conns = vec![cluster.backend(0).await, cluster.backend(1).await];
    let target_tables = orders_target_tables();
    let target = read_layout(&target_tables, &mut conns).await.unwrap();
    mark("new layout read");
    assert_layout_matches(&target, rows, &expected, "new layout");

    step("rollback").unwrap();
    let old = read_layout(&[(0, "legacy.t_order".to_string())], &mut conns)
        .await
        .unwrap();
    assert_layout_matches(&old, rows, &expected, "old layout after rollback");
    // Rolled back: the proxy writes the old layout alone again.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut client = mysql_async::Conn::new(proxy.opts()).await.unwrap();
    client
        .query_drop("INSERT INTO t_order (order_id, user_id, status, amount) VALUES (99999999, 1, 'back', 1)")
        .await
        .unwrap();
    let there: Option<i64> = conns[0]
        .query_first("SELECT COUNT(*) FROM legacy.t_order WHERE order_id = 99999999")
        .await
        .unwrap();
    assert_eq!(there, Some(1));
    let (db, t) = (99999999 % 32, 99999999 / 32 % 32);
    let copied: Option<i64> = conns[(db % 2) as usize]
        .query_first(format!(
            "SELECT COUNT(*) FROM order_db_{db}.t_order_{t} WHERE order_id = 99999999"
        ))
        .await
        .unwrap();
    assert_eq!(copied, Some(0), "no dual-write after rollback");
    store.close().await;
    proxy.stop().await;
}
