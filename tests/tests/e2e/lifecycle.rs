//! The proxy's own limits on clients' time: a pool whose connections are all held says so,
//! an idle transaction past `proxy.idle_transaction_timeout_ms` is rolled back, and SIGTERM
//! lets open transactions finish before the process exits.

use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use shardgate_tests::{shardgate_binary, Cluster};

/// Keys on each backend: even databases live on ds0, odd ones on ds1.
const ON_DS0: i64 = 4242; // order_db_18
const ON_DS1: i64 = 33; // order_db_1

/// Gives ds0 a pool of two connections that waits 500 ms for one, and the proxy an idle
/// transaction timeout of 1.5 s.
fn small_pool(yaml: &mut String) {
    for (from, to) in [
        (
            "      max_connections: 64         # most connections open to this server at once",
            "      max_connections: 2",
        ),
        (
            "      connect_timeout_ms: 3000    # give up connecting after this long",
            "      connect_timeout_ms: 500",
        ),
    ] {
        assert!(yaml.contains(from), "examples/orders.yaml changed");
        *yaml = yaml.replace(from, to);
    }
    yaml.push_str("\nproxy:\n  idle_transaction_timeout_ms: 1500\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_pools_say_so_and_idle_transactions_end() {
    let cluster = Cluster::start_with(small_pool).await;
    cluster.create_tables().await;
    let mut setup = cluster.client().await;
    setup
        .query_drop(format!(
            "INSERT INTO t_order (order_id, user_id, status) VALUES ({ON_DS0}, 1, 'new'), ({}, 1, 'new'), ({ON_DS1}, 2, 'new')",
            ON_DS0 + 2
        ))
        .await
        .unwrap();
    drop(setup);
    // Two open transactions hold both of ds0's connections (each its own row on ds0:
    // order_db_18 and order_db_20).
    let mut holders = Vec::new();
    for key in [ON_DS0, ON_DS0 + 2] {
        let mut c = cluster.client().await;
        c.query_drop("BEGIN").await.unwrap();
        c.query_drop(format!(
            "UPDATE t_order SET status = 'held' WHERE order_id = {key}"
        ))
        .await
        .unwrap();
        holders.push(c);
    }
    // A client connects (its driver asks server variables) and sets variables meanwhile:
    // statements without a table run on a backend with free connections.
    let mut other = cluster.client().await;
    other
        .query_drop("SET NAMES utf8mb4, @marker = 5")
        .await
        .unwrap();
    let version: Option<String> = other.query_first("SELECT @@version").await.unwrap();
    assert!(version.is_some());
    let started = Instant::now();
    match other
        .query_first::<i64, _>(format!(
            "SELECT user_id FROM t_order WHERE order_id = {ON_DS0}"
        ))
        .await
    {
        Err(mysql_async::Error::Server(e)) => {
            assert_eq!(e.code, 1040, "{}", e.message);
            assert!(e.message.contains("ds0"), "{}", e.message);
            assert!(e.message.contains("in use"), "{}", e.message);
        }
        other => panic!("expected ds0's pool to be exhausted, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    // ds1 serves meanwhile.
    let user: Option<i64> = other
        .query_first(format!(
            "SELECT user_id FROM t_order WHERE order_id = {ON_DS1}"
        ))
        .await
        .unwrap();
    assert_eq!(user, Some(2));
    // Idle past 1.5 s, the transactions are rolled back and their clients closed.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    for mut c in holders {
        match c.query_drop("SELECT 1").await {
            Err(mysql_async::Error::Server(e)) => assert_eq!(e.code, 4031, "{}", e.message),
            Err(_) => {}
            Ok(()) => panic!("an idle transaction's connection still serves"),
        }
    }
    let status: Option<String> = other
        .query_first(format!(
            "SELECT status FROM t_order WHERE order_id = {ON_DS0}"
        ))
        .await
        .unwrap();
    assert_eq!(
        status.as_deref(),
        Some("new"),
        "the idle transactions' update stayed"
    );
    // Outside a transaction, idleness is no reason to close.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let user: Option<i64> = other
        .query_first(format!(
            "SELECT user_id FROM t_order WHERE order_id = {ON_DS0}"
        ))
        .await
        .unwrap();
    assert_eq!(user, Some(1));
}

/// `shardgate serve` on a free port for the cluster's servers, with `grace_ms` to drain.
fn serve(cluster: &Cluster, grace_ms: u64) -> (shardgate_tests::ChildProcess, u16, tempdir::Dir) {
    serve_with(
        cluster,
        &format!("\nproxy:\n  shutdown_grace_ms: {grace_ms}\n"),
        None,
    )
}

/// `shardgate serve` on a free port for the cluster's servers, with `extra` appended to
/// its config and, when given, a file descriptor limit (`ulimit -n`). Its log goes to
/// `shardgate.log` in the directory returned.
pub(crate) fn serve_with(
    cluster: &Cluster,
    extra: &str,
    open_files: Option<u32>,
) -> (shardgate_tests::ChildProcess, u16, tempdir::Dir) {
    let port = shardgate_tests::ports::free_port();
    let path = format!("{}/../examples/orders.yaml", env!("CARGO_MANIFEST_DIR"));
    let mut yaml = std::fs::read_to_string(path).unwrap();
    yaml = yaml.replace(
        "listen: 127.0.0.1:3307",
        &format!("listen: 127.0.0.1:{port}"),
    );
    for (i, server) in cluster.servers.iter().enumerate() {
        yaml = yaml.replace(
            &format!("address: 127.0.0.1:3306{}", i + 1),
            &format!("address: {}", server.address()),
        );
    }
    yaml = yaml
        .replace("user: shardgate ", "user: root ")
        .replace("password: shardgate ", "password: \"\" ");
    yaml.push_str(extra);
    let dir = tempdir::Dir::new();
    let config = dir.path().join("shardgate.yaml");
    std::fs::write(&config, yaml).unwrap();
    let log = std::fs::File::create(dir.path().join("shardgate.log")).unwrap();
    let limit = open_files.map_or_else(|| "unlimited".to_string(), |n| n.to_string());
    // `ulimit -n` in a shell that then becomes shardgate (an unchanged limit when none).
    let child = std::process::Command::new("sh")
        .args([
            "-c",
            r#"[ "$2" = unlimited ] || ulimit -n "$2"; exec "$0" serve --config "$1""#,
        ])
        .arg(shardgate_binary())
        .arg(&config)
        .arg(limit)
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .expect("run shardgate (cargo test --workspace builds it)");
    (shardgate_tests::ChildProcess(child), port, dir)
}

pub(crate) mod tempdir {
    /// A directory removed when dropped.
    pub struct Dir(std::path::PathBuf);

    impl Dir {
        pub fn new() -> Dir {
            let path = std::env::temp_dir().join(format!(
                "shardgate-lifecycle-{}-{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos())
            ));
            std::fs::create_dir_all(&path).unwrap();
            Dir(path)
        }

        pub fn path(&self) -> &std::path::Path {
            &self.0
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            // The logs of the processes it held join the suite's (checked for secrets).
            for log in ["shardgate.log", "sandbox.log"] {
                shardgate_tests::test_log::keep(&self.0.join(log), "shardgate-process");
            }
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// The first client of a `shardgate serve` just started: it retries for 10 s while the
/// proxy comes up.
pub(crate) async fn first_app(port: u16) -> mysql_async::Conn {
    for _ in 0..100 {
        if let Ok(conn) = app(port).await {
            return conn;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("shardgate serve did not come up on port {port}");
}

pub(crate) async fn app(port: u16) -> mysql_async::Result<mysql_async::Conn> {
    login(port, "app", "app").await
}

/// A client of the example config's account `user` on a `shardgate serve` on `port`.
pub(crate) async fn login(
    port: u16,
    user: &str,
    password: &str,
) -> mysql_async::Result<mysql_async::Conn> {
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(port)
        .user(Some(user))
        .pass(Some(password))
        .db_name(Some("shop"))
        .prefer_socket(false);
    mysql_async::Conn::new(opts).await
}

/// SIGTERM: no new clients; an open transaction may go on and COMMIT within the grace
/// period; a client between transactions is closed with ER_SERVER_SHUTDOWN; a transaction
/// still open when the grace period ends is rolled back; the process exits then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_open_transactions_commit() {
    let cluster = Cluster::start().await;
    cluster.create_tables().await;
    let (mut child, port, _dir) = serve(&cluster, 3000);
    let mut committing = first_app(port).await;
    let mut idle = app(port).await.unwrap();
    let mut abandoned = app(port).await.unwrap();
    committing.query_drop("BEGIN").await.unwrap();
    committing
        .query_drop(format!(
            "INSERT INTO t_order (order_id, user_id) VALUES ({ON_DS0}, 1)"
        ))
        .await
        .unwrap();
    abandoned.query_drop("BEGIN").await.unwrap();
    abandoned
        .query_drop(format!(
            "INSERT INTO t_order (order_id, user_id) VALUES ({ON_DS1}, 3)"
        ))
        .await
        .unwrap();
    let _: Option<i64> = idle.query_first("SELECT 1").await.unwrap();

    let stopped_at = Instant::now();
    let term = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        app(port).await.is_err(),
        "a new client was accepted while stopping"
    );
    match idle.query_drop("SELECT 1").await {
        Err(mysql_async::Error::Server(e)) => assert_eq!(e.code, 1053, "{}", e.message),
        Err(_) => {}
        Ok(()) => panic!("a client between transactions still served while stopping"),
    }
    // The open transaction goes on and commits.
    committing
        .query_drop(format!(
            "INSERT INTO t_order (order_id, user_id) VALUES ({}, 2)",
            ON_DS0 + 1024
        ))
        .await
        .unwrap();
    committing.query_drop("COMMIT").await.unwrap();
    assert!(committing.query_drop("SELECT 1").await.is_err());
    // The abandoned one holds the proxy until the grace period ends, then is rolled back.
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    let took = stopped_at.elapsed();
    assert!(status.success(), "{status:?}");
    assert!(
        took >= Duration::from_millis(2500) && took < Duration::from_secs(10),
        "exited after {took:?}"
    );
    assert!(abandoned.query_drop("SELECT 1").await.is_err());
    let mut check = cluster.client().await;
    let rows: Vec<(i64, i64)> = check
        .query("SELECT order_id, user_id FROM t_order ORDER BY order_id")
        .await
        .unwrap();
    assert_eq!(rows, vec![(ON_DS0, 1), (ON_DS0 + 1024, 2)]);
}

/// A file descriptor limit too small for `proxy.max_client_connections` beside the pools:
/// the proxy says so in its log and takes only the clients that fit; the others get "Too
/// many connections" (1040) at once, none is left without an answer; once clients leave,
/// new ones get in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_past_the_descriptor_limit_are_refused_politely() {
    let cluster = Cluster::start().await;
    // Two pools of 64: 200 descriptors leave room for 200 - 128 - 32 = 40 clients.
    let (mut child, port, dir) = serve_with(&cluster, "", Some(200));
    let first = first_app(port).await;
    let attempts: Vec<_> = (0..80)
        .map(|_| {
            tokio::spawn(async move {
                tokio::time::timeout(Duration::from_secs(20), app(port))
                    .await
                    .map_err(|_| "no answer: the client was left hanging")
            })
        })
        .collect();
    let mut held = vec![first];
    let mut refused = 0;
    for attempt in attempts {
        match attempt.await.unwrap().unwrap() {
            Ok(conn) => held.push(conn),
            Err(mysql_async::Error::Server(e)) => {
                assert_eq!(e.code, 1040, "{}", e.message);
                refused += 1;
            }
            Err(other) => panic!("a client got {other} instead of an answer"),
        }
    }
    assert_eq!(held.len(), 40, "clients served");
    assert_eq!(refused, 41);
    let log = std::fs::read_to_string(dir.path().join("shardgate.log")).unwrap();
    assert!(log.contains("file descriptor limit (200)"), "{log}");
    for conn in held.drain(..) {
        conn.disconnect().await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut again = app(port).await.unwrap();
    let one: Option<i64> = again.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1));
    drop(again);
    let _ = child.kill();
    let _ = child.wait();
}
