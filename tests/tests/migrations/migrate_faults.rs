//! Migrations under faults: a target server killed during dual-write (clients unaffected,
//! repair mends the target), a write that arrives during cutover's fence (it waits, then
//! goes by the new layout), a killed cutover, and a proxy cut off from the state.

use std::sync::Arc;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use shardgate_config::Topology;
use shardgate_migrate::{backend_opts, Phase, StateStore};
use shardgate_tests::migration::{create_legacy, run_cli, Migration};
use shardgate_tests::{
    legacy_source_yaml, orders_target_yaml, proxy_topology, Cluster, ProxyHandle,
};

const ROWS: i64 = 3000;

/// An unsharded `legacy.t_order` with `ROWS` rows, its migration to 32 x 32 started, and a
/// proxy running with the old config.
struct Setup {
    cluster: Cluster,
    proxy: ProxyHandle,
    store: StateStore,
    migration: Migration,
}

impl Setup {
    async fn start() -> Setup {
        let cluster = Cluster::start().await;
        create_legacy(&cluster, ROWS).await;
        let source_yaml = legacy_source_yaml(&cluster);
        let migration = Migration::new(&source_yaml, &orders_target_yaml(&cluster));
        let proxy = ProxyHandle::start(Arc::new(proxy_topology(&source_yaml))).await;
        let source = Topology::from_yaml(&source_yaml, "old.yaml").unwrap();
        let store = StateStore::open(backend_opts(&source.backends[0]), "shardgate_meta", "ds0")
            .await
            .unwrap();
        let setup = Setup {
            cluster,
            proxy,
            store,
            migration,
        };
        setup.step("start").await.unwrap();
        // Within about a second the proxy writes to both layouts.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        setup
    }

    async fn step(&self, name: &str) -> anyhow::Result<()> {
        let args = self.migration.args(name);
        tokio::task::spawn_blocking(move || run_cli(&args)).await?
    }

    async fn phase(&self) -> Phase {
        self.store.status("t_order").await.unwrap().unwrap().phase
    }
}

/// The new layout's server and table for key `k` (`order_db_{k % 32}.t_order_{k / 32 % 32}`).
fn new_home(k: i64) -> (usize, String) {
    let (db, t) = (k % 32, k / 32 % 32);
    ((db % 2) as usize, format!("order_db_{db}.t_order_{t}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_server_killed_during_dual_write_does_not_reach_clients() {
    let mut setup = Setup::start().await;
    setup.step("backfill").await.unwrap();
    setup.step("check").await.unwrap();
    let mut client = mysql_async::Conn::new(setup.proxy.opts()).await.unwrap();
    // Kill the second server, which holds half of the new layout (and none of the old).
    let pid = setup.cluster.servers[1].pid();
    std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    // Writes whose new home is on the dead server: every one succeeds for the client.
    let keys: Vec<i64> = (1..=ROWS)
        .filter(|k| new_home(*k).0 == 1)
        .take(40)
        .collect();
    for &k in &keys {
        client
            .query_drop(format!(
                "UPDATE t_order SET status = 'while-down' WHERE order_id = {k}"
            ))
            .await
            .unwrap();
    }
    client
        .query_drop("INSERT INTO t_order (order_id, user_id, status, amount) VALUES (100001, 1, 'new-while-down', 2)")
        .await
        .unwrap();
    // The old layout has them; the repair log names them.
    let mut ds0 = setup.cluster.backend(0).await;
    let changed: Option<i64> = ds0
        .query_first("SELECT COUNT(*) FROM legacy.t_order WHERE status = 'while-down'")
        .await
        .unwrap();
    assert_eq!(changed, Some(keys.len() as i64));
    let logged = setup
        .store
        .status("t_order")
        .await
        .unwrap()
        .unwrap()
        .repair_log;
    assert!(
        logged >= keys.len() as u64,
        "repair log holds {logged} keys"
    );

    // The server comes back. Check sees what it missed; repair copies those rows (and
    // those in the repair log) again; check is clean.
    tokio::task::block_in_place(|| setup.cluster.servers[1].restart()).unwrap();
    assert!(
        setup.step("check").await.is_err(),
        "check sees the stale rows"
    );
    setup.step("repair").await.unwrap();
    setup.step("check").await.unwrap();
    assert_eq!(
        setup
            .store
            .status("t_order")
            .await
            .unwrap()
            .unwrap()
            .repair_log,
        0
    );
    let mut ds1 = setup.cluster.backend(1).await;
    for &k in &keys {
        let (server, table) = new_home(k);
        assert_eq!(server, 1);
        let status: Option<String> = ds1
            .query_first(format!("SELECT status FROM {table} WHERE order_id = {k}"))
            .await
            .unwrap();
        assert_eq!(status.as_deref(), Some("while-down"), "key {k}");
    }
    let (server, table) = new_home(100001);
    let mut conn = setup.cluster.backend(server).await;
    let status: Option<String> = conn
        .query_first(format!(
            "SELECT status FROM {table} WHERE order_id = 100001"
        ))
        .await
        .unwrap();
    assert_eq!(status.as_deref(), Some("new-while-down"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_during_the_fence_waits_then_goes_by_the_new_layout() {
    let setup = Setup::start().await;
    setup.step("backfill").await.unwrap();
    setup.step("check").await.unwrap();
    let mut client = mysql_async::Conn::new(setup.proxy.opts()).await.unwrap();

    // A second proxy that acknowledges the fence only when told: the fence stands until then.
    let mut registry = setup.cluster.backend(0).await;
    let heartbeat = "INSERT INTO shardgate_meta.migration_proxies (proxy_id, heartbeat_at) \
                     VALUES ('slow-proxy', NOW(3)) ON DUPLICATE KEY UPDATE heartbeat_at = NOW(3)";
    registry.query_drop(heartbeat).await.unwrap();
    let args = setup.migration.args("cutover");
    let cutover = tokio::task::spawn_blocking(move || run_cli(&args));
    while setup.phase().await != Phase::Fencing {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The proxy reads the state every 200 ms while a migration is under way.
    tokio::time::sleep(Duration::from_millis(600)).await;
    registry.query_drop(heartbeat).await.unwrap();
    let write = tokio::spawn(async move {
        client
            .query_drop("INSERT INTO t_order (order_id, user_id, status, amount) VALUES (200003, 7, 'fenced', 3)")
            .await
            .unwrap();
        client
    });
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(!write.is_finished(), "the write waits at the fence");
    assert_eq!(setup.phase().await, Phase::Fencing, "the fence is still up");
    let version = setup
        .store
        .status("t_order")
        .await
        .unwrap()
        .unwrap()
        .version;
    registry
        .query_drop(format!(
            "INSERT INTO shardgate_meta.migration_acks (proxy_id, table_name, phase, version) \
             VALUES ('slow-proxy', 't_order', 'fencing', {version})"
        ))
        .await
        .unwrap();
    registry.query_drop(heartbeat).await.unwrap();
    let mut client = write.await.unwrap();
    // The write was answered only after the flip.
    assert_eq!(setup.phase().await, Phase::CutOver);
    cutover.await.unwrap().unwrap();
    let (server, table) = new_home(200003);
    let mut conn = setup.cluster.backend(server).await;
    let status: Option<String> = conn
        .query_first(format!(
            "SELECT status FROM {table} WHERE order_id = 200003"
        ))
        .await
        .unwrap();
    assert_eq!(status.as_deref(), Some("fenced"), "in the new layout");
    // ... and copied back to the old one, so a rollback keeps it.
    let mut ds0 = setup.cluster.backend(0).await;
    let status: Option<String> = ds0
        .query_first("SELECT status FROM legacy.t_order WHERE order_id = 200003")
        .await
        .unwrap();
    assert_eq!(status.as_deref(), Some("fenced"), "in the old layout");
    // Reads go by the new layout: a row only there is seen.
    conn.query_drop(format!(
        "INSERT INTO {table} (order_id, user_id, status, amount) VALUES (200003 + 32 * 32 * 1000, 1, 'only-new', 1)"
    ))
    .await
    .unwrap();
    let seen: Option<String> = client
        .query_first("SELECT status FROM t_order WHERE order_id = 1224003")
        .await
        .unwrap();
    assert_eq!(seen.as_deref(), Some("only-new"));

    // A copy back to the old layout that failed leaves its key in the repair log (as a
    // write the old table refused would): rollback and finish are refused while it waits,
    // since that write exists in the new layout only.
    ds0.query_drop(
        "INSERT INTO shardgate_meta.migration_repair_log (table_name, row_key, reason) VALUES ('t_order', 200003, 'copy back failed')",
    )
    .await
    .unwrap();
    for step in ["rollback", "finish"] {
        let err = setup.step(step).await.unwrap_err();
        assert!(err.to_string().contains("repair log"), "{step}: {err}");
        assert_eq!(
            setup.phase().await,
            Phase::CutOver,
            "{step} changed nothing"
        );
    }
    // Finish (forced past the waiting key), dropping the old tables: the proxy keeps routing
    // by the new layout, and no longer writes the old one.
    let mut args = setup.migration.args("finish");
    args.push("--drop-source".into());
    args.push("--force".into());
    tokio::task::spawn_blocking(move || run_cli(&args))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(setup.phase().await, Phase::Finished);
    let old: Option<i64> = ds0
        .query_first(
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'legacy' AND TABLE_NAME = 't_order'",
        )
        .await
        .unwrap();
    assert_eq!(old, Some(0), "the old table is dropped");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    client
        .query_drop("UPDATE t_order SET status = 'after-finish' WHERE order_id = 200003")
        .await
        .unwrap();
    let status: Option<String> = conn
        .query_first(format!(
            "SELECT status FROM {table} WHERE order_id = 200003"
        ))
        .await
        .unwrap();
    assert_eq!(status.as_deref(), Some("after-finish"));
}

/// A cutover SIGKILLed with its fence up: writes wait at the fence, then go through by the
/// old layout (the new one following) once the fence's lease lapses, instead of failing
/// with 1205 after 30 s; cutover run again takes the fence over and completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_cutover_lets_writes_through_after_its_lease() {
    let setup = Setup::start().await;
    setup.step("backfill").await.unwrap();
    setup.step("check").await.unwrap();
    let mut cutover = std::process::Command::new(shardgate_tests::shardgate_binary())
        .args(setup.migration.args("cutover"))
        .stdout(std::process::Stdio::null())
        .stderr(shardgate_tests::test_log::file("shardgate-process"))
        .spawn()
        .expect("run shardgate (cargo test --workspace builds it)");
    while setup.phase().await != Phase::Fencing {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cutover.kill().unwrap();
    cutover.wait().unwrap();
    let mut client = mysql_async::Conn::new(setup.proxy.opts()).await.unwrap();
    client
        .query_drop("UPDATE t_order SET status = 'after-kill' WHERE order_id = 5")
        .await
        .expect("the write goes through once the fence lapses");
    let mut ds0 = setup.cluster.backend(0).await;
    let old: Option<String> = ds0
        .query_first("SELECT status FROM legacy.t_order WHERE order_id = 5")
        .await
        .unwrap();
    assert_eq!(old.as_deref(), Some("after-kill"), "in the old layout");
    let (server, table) = new_home(5);
    let mut conn = setup.cluster.backend(server).await;
    let new: Option<String> = conn
        .query_first(format!("SELECT status FROM {table} WHERE order_id = 5"))
        .await
        .unwrap();
    assert_eq!(
        new.as_deref(),
        Some("after-kill"),
        "copied to the new layout"
    );
    assert_eq!(
        setup.phase().await,
        Phase::Fencing,
        "the state still says fencing"
    );
    setup.step("cutover").await.unwrap();
    assert_eq!(setup.phase().await, Phase::CutOver);
}

/// A proxy that cannot renew its heartbeat (here its registry row is locked away from it)
/// is dropped by the migration steps once its lease lapses, so it must stop writing the
/// migrating table by then: its writes are refused (1235, saying why) and none reaches
/// either layout, until its heartbeat goes through again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_cut_off_from_the_state_refuses_writes_to_the_migrating_table() {
    let setup = Setup::start().await;
    let mut client = mysql_async::Conn::new(setup.proxy.opts()).await.unwrap();
    client
        .query_drop("UPDATE t_order SET status = 'before' WHERE order_id = 5")
        .await
        .expect("writes go through while the heartbeat is renewed");

    let mut locker = setup.cluster.backend(0).await;
    locker
        .query_drop("LOCK TABLES shardgate_meta.migration_proxies WRITE")
        .await
        .unwrap();
    let cut_off = std::time::Instant::now();
    let refused = loop {
        match client
            .query_drop("UPDATE t_order SET status = 'cut off' WHERE order_id = 5")
            .await
        {
            Ok(()) => {
                assert!(
                    cut_off.elapsed() < Duration::from_secs(15),
                    "writes still go through 15 s after the heartbeat stopped"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(mysql_async::Error::Server(e)) => break e,
            Err(e) => panic!("not a server error: {e}"),
        }
    };
    assert_eq!(refused.code, 1235, "{refused:?}");
    assert!(
        refused
            .message
            .contains("has not reached the migration state"),
        "{}",
        refused.message
    );
    // Refused before it ran: neither layout sees it.
    let mut ds0 = setup.cluster.backend(0).await;
    let refused_rows =
        "SELECT COUNT(*) FROM legacy.t_order WHERE order_id = 5 AND status = 'refused'";
    client
        .query_drop("UPDATE t_order SET status = 'refused' WHERE order_id = 5")
        .await
        .expect_err("still refused");
    let written: Option<u64> = ds0.query_first(refused_rows).await.unwrap();
    assert_eq!(written, Some(0), "a refused write reached the old layout");
    let (server, table) = new_home(5);
    let mut target = setup.cluster.backend(server).await;
    let written: Option<u64> = target
        .query_first(format!(
            "SELECT COUNT(*) FROM {table} WHERE order_id = 5 AND status = 'refused'"
        ))
        .await
        .unwrap();
    assert_eq!(written, Some(0), "a refused write reached the new layout");

    locker.query_drop("UNLOCK TABLES").await.unwrap();
    let back = std::time::Instant::now();
    loop {
        match client
            .query_drop("UPDATE t_order SET status = 'back' WHERE order_id = 5")
            .await
        {
            Ok(()) => break,
            Err(e) => {
                assert!(
                    back.elapsed() < Duration::from_secs(10),
                    "writes still refused 10 s after the heartbeat came back: {e}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    let status: Option<String> = target
        .query_first(format!("SELECT status FROM {table} WHERE order_id = 5"))
        .await
        .unwrap();
    assert_eq!(status.as_deref(), Some("back"), "dual-written again");
}

/// After cutover the old layout follows the new one: rows written by sessions that speak
/// latin1 and utf8 (3-byte), one on each proxy, are copied back as stored, so 4-byte and
/// CJK text survives the copy, and the rollback that makes the old layout current again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_survives_cutover_and_rollback_whatever_the_session_charset() {
    let setup = Setup::start().await;
    let second = ProxyHandle::start(Arc::new(proxy_topology(&legacy_source_yaml(
        &setup.cluster,
    ))))
    .await;
    let text = "😀 日本語テキスト";
    // 4243 -> order_db_19.t_order_4, on ds1.
    let mut client = mysql_async::Conn::new(setup.proxy.opts()).await.unwrap();
    client
        .exec_drop(
            "INSERT INTO t_order (order_id, user_id, status, amount) VALUES (4243, 1, ?, 10)",
            (text,),
        )
        .await
        .unwrap();
    setup.step("backfill").await.unwrap();
    setup.step("check").await.unwrap();
    setup.step("cutover").await.unwrap();
    // Both proxies route by the new layout.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let mut ds0 = setup.cluster.backend(0).await;
    let mut ds1 = setup.cluster.backend(1).await;
    let sessions = [(setup.proxy.opts(), "latin1"), (second.opts(), "utf8")];
    for (i, (opts, names)) in sessions.into_iter().enumerate() {
        let mut session = mysql_async::Conn::new(opts).await.unwrap();
        session
            .query_drop(format!("SET NAMES {names}"))
            .await
            .unwrap();
        session
            .query_drop("UPDATE t_order SET amount = amount + 1 WHERE order_id = 4243")
            .await
            .unwrap();
        assert_eq!(session.affected_rows(), 1, "{names}");
        for (side, conn, table) in [
            ("new", &mut ds1, "order_db_19.t_order_4"),
            ("old", &mut ds0, "legacy.t_order"),
        ] {
            let row: Option<(String, i64)> = conn
                .query_first(format!(
                    "SELECT status, CAST(amount AS SIGNED) FROM {table} WHERE order_id = 4243"
                ))
                .await
                .unwrap();
            assert_eq!(
                row,
                Some((text.to_string(), 11 + i as i64)),
                "the {side} layout after an update from a {names} session"
            );
        }
    }

    setup.step("rollback").await.unwrap();
    let row: Option<(String, i64)> = ds0
        .query_first(
            "SELECT status, CAST(amount AS SIGNED) FROM legacy.t_order WHERE order_id = 4243",
        )
        .await
        .unwrap();
    assert_eq!(row, Some((text.to_string(), 12)), "after the rollback");
    // Read back through a proxy by a utf8mb4 session, in both protocols.
    let status: Option<String> = client
        .query_first("SELECT status FROM t_order WHERE order_id = 4243")
        .await
        .unwrap();
    assert_eq!(status.as_deref(), Some(text));
    let status: Option<String> = client
        .exec_first("SELECT status FROM t_order WHERE order_id = ?", (4243,))
        .await
        .unwrap();
    assert_eq!(status.as_deref(), Some(text));
    second.stop().await;
}
