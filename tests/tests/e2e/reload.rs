//! Reloading the config of a real `shardgate serve` under traffic: SHARDGATE RELOAD CONFIG
//! and SIGHUP put a new logical table and a changed pool size in force with no client
//! error (a transaction open across the reload commits); a broken file and a setting that
//! takes a restart are refused with the running rules kept; an app account is refused.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use shardgate_tests::ports::free_port;
use shardgate_tests::{assert_refused, Cluster};

use super::lifecycle::{app, first_app, login, serve_with};

async fn admin(port: u16) -> mysql_async::Conn {
    login(port, "ops", "ops")
        .await
        .expect("the ops account logs in")
}

async fn generation(admin: &mut mysql_async::Conn) -> u64 {
    let rows: Vec<(String, String)> = admin.query("SHOW SHARDGATE STATUS").await.unwrap();
    rows.iter()
        .find(|(name, _)| name == "config_generation")
        .and_then(|(_, value)| value.parse().ok())
        .expect("a config_generation row")
}

/// `Max` of a backend in SHOW SHARDGATE BACKENDS.
async fn pool_max(admin: &mut mysql_async::Conn, backend: &str) -> u64 {
    let rows: Vec<mysql_async::Row> = admin.query("SHOW SHARDGATE BACKENDS").await.unwrap();
    rows.into_iter()
        .find(|r| r.get::<String, _>(0).as_deref() == Some(backend))
        .and_then(|r| r.get::<u64, _>(7))
        .expect("the backend's row")
}

/// Clients that write and read without pause until stopped, each on its own connection
/// (and one that logs in again and again); every error is kept.
struct Traffic {
    stop: Arc<AtomicBool>,
    statements: Arc<AtomicU64>,
    tasks: Vec<tokio::task::JoinHandle<Vec<String>>>,
}

impl Traffic {
    fn start(port: u16) -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let statements = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for client in 0..3i64 {
            let (stop, statements) = (stop.clone(), statements.clone());
            tasks.push(tokio::spawn(async move {
                let mut errors = Vec::new();
                let mut conn = app(port).await.expect("a traffic client");
                let mut n = 0i64;
                while !stop.load(Ordering::Relaxed) {
                    let id = 1_000_000 + client * 100_000 + n;
                    n += 1;
                    let result = async {
                        conn.exec_drop(
                            "INSERT INTO t_order (order_id, user_id, status) VALUES (?, ?, 'new')",
                            (id, client),
                        )
                        .await?;
                        let got: Option<i64> = conn
                            .exec_first("SELECT user_id FROM t_order WHERE order_id = ?", (id,))
                            .await?;
                        assert_eq!(got, Some(client), "order {id} reads back");
                        let count: Option<i64> = conn
                            .query_first("SELECT COUNT(*) FROM t_order WHERE user_id = 99")
                            .await?;
                        assert_eq!(count, Some(0));
                        mysql_async::Result::Ok(())
                    }
                    .await;
                    statements.fetch_add(3, Ordering::Relaxed);
                    if let Err(e) = result {
                        errors.push(e.to_string());
                    }
                }
                errors
            }));
        }
        let (stop_logins, statements_logins) = (stop.clone(), statements.clone());
        tasks.push(tokio::spawn(async move {
            let mut errors = Vec::new();
            while !stop_logins.load(Ordering::Relaxed) {
                match app(port).await {
                    Ok(mut conn) => {
                        if let Err(e) = conn.query_drop("SELECT 1").await {
                            errors.push(e.to_string());
                        }
                        let _ = conn.disconnect().await;
                        statements_logins.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => errors.push(e.to_string()),
                }
            }
            errors
        }));
        Traffic {
            stop,
            statements,
            tasks,
        }
    }

    /// Stops the clients; their errors.
    async fn stop(self) -> (u64, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        let mut errors = Vec::new();
        for task in self.tasks {
            errors.extend(task.await.expect("a traffic client panicked"));
        }
        (self.statements.load(Ordering::Relaxed), errors)
    }
}

/// A sharded table the running config does not have: 32 databases x 2 tables.
const NEW_TABLE: &str = "    - name: t_event
      kind: sharded
      sharding_column: event_id
      databases: order_db_{0..31}
      tables: t_event_{0..1}
      database_algorithm: {type: mod, modulus: 32}
      table_algorithm: {type: div_mod, divisor: 32, modulus: 2}
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_under_traffic() {
    let cluster = Cluster::start().await;
    cluster.create_tables().await;
    let (mut child, port, dir) = serve_with(&cluster, "\nlog:\n  level: info\n", None);
    let config = dir.path().join("shardgate.yaml");
    let original = std::fs::read_to_string(&config).unwrap();
    let mut app_conn = first_app(port).await;
    let mut ops = admin(port).await;
    let before = generation(&mut ops).await;
    assert_eq!(pool_max(&mut ops, "ds0").await, 64);
    assert_refused(&mut app_conn, "SELECT * FROM t_event", 1146, "t_event").await;
    assert_refused(&mut app_conn, "SHARDGATE RELOAD CONFIG", 1227, "admin role").await;

    let traffic = Traffic::start(port);
    // A transaction open across the reload finishes on the rules it began with.
    let mut in_flight = app(port).await.unwrap();
    in_flight.query_drop("BEGIN").await.unwrap();
    in_flight
        .query_drop("INSERT INTO t_order (order_id, user_id, status) VALUES (7001, 70, 'tx')")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    // A new logical table and a smaller pool for ds0.
    let edited = original
        .replacen("max_connections: 64", "max_connections: 7", 1)
        .replace("migration_state:", &format!("{NEW_TABLE}migration_state:"));
    std::fs::write(&config, &edited).unwrap();
    let reloaded: Vec<(u64, u64, u64, u64)> = ops.query("SHARDGATE RELOAD CONFIG").await.unwrap();
    let (after, tables, backends, kept) = reloaded[0];
    assert!(after > before, "a new generation: {before} -> {after}");
    assert_eq!((tables, backends, kept), (5, 2, 1), "ds1 keeps its pool");
    assert_eq!(generation(&mut ops).await, after);
    assert_eq!(pool_max(&mut ops, "ds0").await, 7);
    assert_eq!(pool_max(&mut ops, "ds1").await, 64);

    in_flight
        .query_drop("UPDATE t_order SET status = 'tx2' WHERE order_id = 7001")
        .await
        .unwrap();
    in_flight.query_drop("COMMIT").await.unwrap();
    let status: Option<String> = app_conn
        .query_first("SELECT status FROM t_order WHERE order_id = 7001")
        .await
        .unwrap();
    assert_eq!(status.as_deref(), Some("tx2"));

    // The new table works on a connection that was open before the reload.
    app_conn
        .query_drop("CREATE TABLE t_event (event_id BIGINT PRIMARY KEY, note VARCHAR(20))")
        .await
        .unwrap();
    app_conn
        .query_drop("INSERT INTO t_event (event_id, note) VALUES (1, 'a'), (33, 'b'), (64, 'c')")
        .await
        .unwrap();
    let notes: Vec<String> = app_conn
        .query("SELECT note FROM t_event ORDER BY event_id")
        .await
        .unwrap();
    assert_eq!(notes, ["a", "b", "c"]);
    let mut direct = mysql_async::Conn::from_url(cluster.servers[1].url())
        .await
        .unwrap();
    let on_ds1: Option<String> = direct
        .query_first("SELECT note FROM order_db_1.t_event_1 WHERE event_id = 33")
        .await
        .unwrap();
    assert_eq!(on_ds1.as_deref(), Some("b"), "33 -> order_db_1.t_event_1");

    // A broken file is refused with its error; the running rules stay.
    std::fs::write(&config, format!("{edited}\nbackends: [unclosed\n")).unwrap();
    let err = ops
        .query_drop("SHARDGATE RELOAD CONFIG")
        .await
        .expect_err("a broken file is refused");
    let text = err.to_string();
    assert!(
        text.contains("not reloaded") && text.contains("shardgate.yaml"),
        "{text}"
    );
    assert!(
        matches!(&err, mysql_async::Error::Server(e) if e.code == 1105),
        "{err:?}"
    );
    assert_eq!(generation(&mut ops).await, after);
    let count: Option<i64> = app_conn
        .query_first("SELECT COUNT(*) FROM t_event")
        .await
        .unwrap();
    assert_eq!(count, Some(3));

    // A setting that takes a restart is named, nothing else changes.
    let moved = edited
        .replace("max_connections: 7", "max_connections: 9")
        .replace(&format!("listen: 127.0.0.1:{port}"), "listen: 127.0.0.1:1");
    std::fs::write(&config, &moved).unwrap();
    assert_refused(
        &mut ops,
        "SHARDGATE RELOAD CONFIG",
        1105,
        "take a restart: listen",
    )
    .await;
    assert_eq!(pool_max(&mut ops, "ds0").await, 7);

    // SIGHUP reloads too.
    std::fs::write(
        &config,
        edited.replace("max_connections: 7", "max_connections: 9"),
    )
    .unwrap();
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    let mut max = 0;
    for _ in 0..100 {
        max = pool_max(&mut ops, "ds0").await;
        if max == 9 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(max, 9, "SIGHUP put the new pool size in force");
    assert!(generation(&mut ops).await > after);

    let (statements, errors) = traffic.stop().await;
    assert!(statements > 30, "traffic ran: {statements} statements");
    assert!(
        errors.is_empty(),
        "no client error across the reloads: {errors:?}"
    );
    let log = std::fs::read_to_string(dir.path().join("shardgate.log")).unwrap();
    assert_eq!(log.matches("config reloaded").count(), 2, "{log}");
    assert_eq!(log.matches("not reloaded").count(), 2, "{log}");
    assert!(log.contains("SIGHUP: reloading the config"), "{log}");
    let _ = child.kill();
    let _ = child.wait();
}

/// `shardgate sandbox` reloads on SIGHUP: a single table in a database the running rules
/// do not have gets its database created on the sandbox's server; a config that names a
/// server the sandbox did not start is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_reloads_on_sighup() {
    let dir = super::lifecycle::tempdir::Dir::new();
    let port = free_port();
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/orders.yaml"
    ))
    .unwrap();
    let mut yaml = example.replace(
        "listen: 127.0.0.1:3307",
        &format!("listen: 127.0.0.1:{port}"),
    );
    for i in 1..=2 {
        yaml = yaml.replace(
            &format!("127.0.0.1:3306{i}"),
            &format!("127.0.0.1:{}", free_port()),
        );
    }
    yaml.push_str("log:\n  level: info\n");
    let config = dir.path().join("sandbox.yaml");
    std::fs::write(&config, &yaml).unwrap();
    let log = std::fs::File::create(dir.path().join("sandbox.log")).unwrap();
    let mut child = shardgate_tests::ChildProcess(
        std::process::Command::new(shardgate_tests::shardgate_binary())
            .args(["sandbox", "--config"])
            .arg(&config)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("run shardgate sandbox"),
    );
    let mut conn = None;
    for _ in 0..600 {
        if let Ok(c) = app(port).await {
            conn = Some(c);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut conn = conn.expect("the sandbox came up");
    let hup = |pid: u32| {
        let status = std::process::Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    };

    let with_table = yaml
        .replace(
            "  - names: shop_main",
            "  - names: shop_notes\n    backends: [ds1]\n  - names: shop_main",
        )
        .replace(
            "migration_state:",
            "    - name: t_note\n      kind: single\n      database: shop_notes\nmigration_state:",
        );
    std::fs::write(&config, &with_table).unwrap();
    hup(child.id());
    let mut created = false;
    for _ in 0..100 {
        if conn
            .query_drop("CREATE TABLE t_note (id INT PRIMARY KEY, body TEXT)")
            .await
            .is_ok()
        {
            created = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(created, "t_note exists after SIGHUP, its database created");
    conn.query_drop("INSERT INTO t_note VALUES (1, 'hello')")
        .await
        .unwrap();
    let body: Option<String> = conn
        .query_first("SELECT body FROM t_note WHERE id = 1")
        .await
        .unwrap();
    assert_eq!(body.as_deref(), Some("hello"));

    // A backend the sandbox did not start: refused, the rules stay.
    let elsewhere = with_table.replacen("password: shardgate ", "password: Zq9-not-started ", 1);
    std::fs::write(&config, elsewhere).unwrap();
    hup(child.id());
    let log_path = dir.path().join("sandbox.log");
    let mut text = String::new();
    for _ in 0..100 {
        text = std::fs::read_to_string(&log_path).unwrap();
        if text.contains("not reloaded") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(text.contains("only the backends it started with"), "{text}");
    assert!(
        !text.contains("Zq9-not-started"),
        "no password in the log: {text}"
    );
    let count: Option<i64> = conn
        .query_first("SELECT COUNT(*) FROM t_note")
        .await
        .unwrap();
    assert_eq!(count, Some(1));
    drop(conn);
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

/// Connections of `shardgate serve` on a server (the `root` account the test config gives
/// it), this one's own excluded.
async fn proxy_connections(server: &shardgate_proxy::sandbox::MariaDb) -> i64 {
    let mut conn = mysql_async::Conn::from_url(server.url()).await.unwrap();
    let count: Option<i64> = conn
        .query_first(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = 'root' AND ID <> CONNECTION_ID()",
        )
        .await
        .unwrap();
    conn.disconnect().await.unwrap();
    count.unwrap_or(0)
}

/// A pool the new rules replace drains: its idle connections close at the reload, though
/// the sessions that last used them stay connected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_drains_replaced_pools() {
    let cluster = Cluster::start().await;
    cluster.create_tables().await;
    let (mut child, port, dir) = serve_with(&cluster, "", None);
    let config = dir.path().join("shardgate.yaml");
    let _ = first_app(port).await;
    let mut ops = admin(port).await;
    // Twelve transactions open at once on ds0 (order 0 lives in order_db_0), then ended:
    // twelve idle connections in ds0's pool.
    let mut clients = Vec::new();
    for _ in 0..12 {
        let mut conn = app(port).await.unwrap();
        conn.query_drop("BEGIN").await.unwrap();
        conn.query_drop("SELECT * FROM t_order WHERE order_id = 0")
            .await
            .unwrap();
        clients.push(conn);
    }
    for conn in &mut clients {
        conn.query_drop("COMMIT").await.unwrap();
    }
    let before = proxy_connections(&cluster.servers[0]).await;
    assert!(before >= 12, "{before}");

    let yaml = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        yaml.replacen("max_connections: 64", "max_connections: 7", 1),
    )
    .unwrap();
    let reloaded: Vec<(u64, u64, u64, u64)> = ops.query("SHARDGATE RELOAD CONFIG").await.unwrap();
    assert_eq!(reloaded[0].3, 1, "ds1 kept its pool, ds0 got a new one");
    let mut after = before;
    for _ in 0..100 {
        after = proxy_connections(&cluster.servers[0]).await;
        if after <= before - 12 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        after <= before - 12,
        "ds0's old pool closed its idle connections: {before} -> {after}"
    );
    // The sessions go on, on the new pool.
    for conn in &mut clients {
        let count: Option<i64> = conn
            .query_first("SELECT COUNT(*) FROM t_order WHERE order_id = 0")
            .await
            .unwrap();
        assert_eq!(count, Some(0));
    }
    let _ = child.kill();
    let _ = child.wait();
}
