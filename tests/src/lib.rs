//! Fixtures for shardgate's end-to-end tests: real MariaDB servers started by the sandbox,
//! and a shardgate proxy serving in the test's own process on a free port.

use std::net::SocketAddr;
use std::sync::Arc;

use shardgate_config::Topology;
use shardgate_proxy::sandbox::{create_physical_databases, MariaDb};
use shardgate_proxy::server::{serve, ProxyContext};
use tokio::sync::oneshot;

pub use accounts::*;

pub mod accounts;
pub mod clients;
pub mod matrix;
pub mod migration;
pub mod ports;
pub mod raw;
pub mod soak;
pub mod test_log;
pub mod writers;

/// Two MariaDB servers behind a shardgate proxy with the layout of examples/orders.yaml.
pub struct Cluster {
    pub servers: Vec<MariaDb>,
    pub topology: Arc<Topology>,
    pub proxy: SocketAddr,
    /// The example layout (`examples/NAME`) the proxy serves.
    example: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// A proxy topology from config text, with the test accounts.
pub fn proxy_topology(yaml: &str) -> Topology {
    let mut topology = Topology::from_yaml(yaml, "test config").expect("test config loads");
    topology.users = test_users();
    topology
}

/// An example layout (`examples/NAME`), pointed at `servers` through the backend account
/// [`BACKEND_USER`] (which [`create_backend_accounts`] makes), with the test accounts.
pub fn example_topology(
    name: &str,
    servers: &[&MariaDb],
    edit: impl FnOnce(&mut String),
) -> Topology {
    let path = format!("{}/../examples/{name}", env!("CARGO_MANIFEST_DIR"));
    let mut yaml = std::fs::read_to_string(&path).expect("example config");
    edit(&mut yaml);
    let mut topology = Topology::from_yaml(&yaml, &path).expect("example config loads");
    for (backend, server) in topology.backends.iter_mut().zip(servers) {
        backend.address = server.address();
        backend.user = BACKEND_USER.into();
        backend.password = test_log::CANARY_BACKEND_PASSWORD.into();
    }
    topology.users = test_users();
    topology
}

/// [`BACKEND_USER`] on each server, with every privilege, as an operator grants
/// shardgate's account.
pub async fn create_backend_accounts(servers: &[MariaDb]) {
    for server in servers {
        shardgate_proxy::cli::sandbox::create_backend_account(
            server,
            BACKEND_USER,
            test_log::CANARY_BACKEND_PASSWORD,
        )
        .await
        .expect("create the backend account");
    }
}

pub fn start_servers(n: usize) -> Vec<MariaDb> {
    let started = std::thread::scope(|s| {
        let handles: Vec<_> = (0..n).map(|_| s.spawn(MariaDb::start)).collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("start thread"))
            .collect::<Vec<_>>()
    });
    started
        .into_iter()
        .map(|r| r.expect("start MariaDB"))
        .collect()
}

impl Cluster {
    /// Starts two servers and the proxy for examples/orders.yaml; `edit` may change the YAML
    /// first.
    pub async fn start_with(edit: impl FnOnce(&mut String)) -> Cluster {
        Cluster::start_example("orders.yaml", edit).await
    }

    /// Starts two servers and the proxy for `examples/NAME`.
    pub async fn start_example(name: &str, edit: impl FnOnce(&mut String)) -> Cluster {
        test_log::init();
        let servers = tokio::task::spawn_blocking(|| start_servers(2))
            .await
            .expect("start servers");
        create_backend_accounts(&servers).await;
        let topology = Arc::new(example_topology(
            name,
            &servers.iter().collect::<Vec<_>>(),
            edit,
        ));
        create_physical_databases(&topology)
            .await
            .expect("create databases");
        let mut cluster = Cluster {
            servers,
            topology,
            proxy: "127.0.0.1:0".parse().expect("address"),
            example: name.to_string(),
            stop: None,
            task: None,
        };
        cluster.start_proxy().await;
        cluster
    }

    pub async fn start() -> Cluster {
        Cluster::start_with(|_| {}).await
    }

    async fn start_proxy(&mut self) {
        let mut proxy = ProxyHandle::start(self.topology.clone()).await;
        self.proxy = proxy.addr;
        self.stop = proxy.stop.take();
        self.task = proxy.task.take();
    }

    /// Stops the proxy as SIGTERM would (leases released, unused ids given back) and
    /// starts a new one on another port.
    pub async fn restart_proxy(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.start_proxy().await;
    }

    /// Restarts the proxy with the example's YAML changed by `edit`: a test that needs a
    /// setting the setup must not suffer (a short query timeout, say) creates its tables
    /// first and then turns it on.
    pub async fn restart_proxy_with(&mut self, edit: impl FnOnce(&mut String)) {
        let servers: Vec<&MariaDb> = self.servers.iter().collect();
        self.topology = Arc::new(example_topology(&self.example, &servers, edit));
        self.restart_proxy().await;
    }

    /// Another proxy on the same servers and rules, as a second shardgate instance.
    pub async fn another_proxy(&self) -> ProxyHandle {
        ProxyHandle::start(self.topology.clone()).await
    }

    pub fn url(&self) -> String {
        format!("mysql://{USER}:{PASSWORD}@{}/shop", self.proxy)
    }

    pub fn opts(&self) -> mysql_async::OptsBuilder {
        mysql_async::OptsBuilder::default()
            .ip_or_hostname(self.proxy.ip().to_string())
            .tcp_port(self.proxy.port())
            .user(Some(USER))
            .pass(Some(PASSWORD))
            .db_name(Some("shop"))
            .prefer_socket(false)
    }

    pub async fn client(&self) -> mysql_async::Conn {
        mysql_async::Conn::new(self.opts())
            .await
            .expect("connect to the proxy")
    }

    /// A direct connection to backend `i` (root).
    pub async fn backend(&self, i: usize) -> mysql_async::Conn {
        mysql_async::Conn::from_url(self.servers[i].url())
            .await
            .expect("connect to a backend")
    }

    /// Runs `examples/orders.sql`'s CREATE TABLE statements through the proxy.
    pub async fn create_tables(&self) {
        use mysql_async::prelude::Queryable;
        let sql = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/orders.sql"
        ))
        .expect("orders.sql");
        let mut conn = self.client().await;
        let statements = sql.split(";\n").map(|chunk| {
            let code: Vec<&str> = chunk
                .lines()
                .filter(|l| !l.trim_start().starts_with("--"))
                .collect();
            code.join("\n")
        });
        for statement in statements.filter(|s| s.trim_start().starts_with("CREATE")) {
            conn.query_drop(&statement)
                .await
                .unwrap_or_else(|e| panic!("{statement}: {e}"));
        }
        conn.disconnect().await.expect("disconnect");
    }
}

/// Turns the general query log of every server on, into `mysql.general_log`, so a test can
/// check what reached them.
pub async fn log_backend_queries(cluster: &Cluster) {
    use mysql_async::prelude::Queryable;
    for i in 0..cluster.servers.len() {
        let mut conn = cluster.backend(i).await;
        conn.query_drop("SET GLOBAL log_output = 'TABLE', general_log = 1")
            .await
            .expect("general log on");
        conn.disconnect().await.expect("disconnect");
    }
}

/// How many statements the servers' general logs hold that contain `needle` (run
/// [`log_backend_queries`] first). The test's own look at the log is not counted.
pub async fn backend_statements_containing(cluster: &Cluster, needle: &str) -> u64 {
    use mysql_async::prelude::Queryable;
    let mut total = 0;
    for i in 0..cluster.servers.len() {
        let mut conn = cluster.backend(i).await;
        let count: Option<u64> = conn
            .exec_first(
                "SELECT COUNT(*) FROM mysql.general_log WHERE command_type IN ('Query', 'Prepare', 'Execute') \
                 AND CONVERT(argument USING utf8mb4) LIKE CONCAT('%', ?, '%') \
                 AND CONVERT(argument USING utf8mb4) NOT LIKE '%general_log%'",
                (needle,),
            )
            .await
            .expect("read the general log");
        total += count.unwrap_or(0);
        conn.disconnect().await.expect("disconnect");
    }
    total
}

/// Every row of `sql`, as values.
pub async fn all_rows(conn: &mut mysql_async::Conn, sql: &str) -> Vec<Vec<mysql_async::Value>> {
    use mysql_async::prelude::Queryable;
    let rows: Vec<mysql_async::Row> = conn
        .query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.into_iter().map(mysql_async::Row::unwrap).collect()
}

/// Creates each `(table, definition)` twice: in a `reference` database on backend 0 (one
/// plain table) and through the proxy (laid out as the config says). Returns the connections
/// to the reference server and to the proxy.
pub async fn create_both(
    cluster: &Cluster,
    tables: &[(&str, &str)],
) -> (mysql_async::Conn, mysql_async::Conn) {
    use mysql_async::prelude::Queryable;
    let mut reference = cluster.backend(0).await;
    let mut proxy = cluster.client().await;
    reference
        .query_drop("CREATE DATABASE reference")
        .await
        .expect("reference database");
    for (table, definition) in tables {
        reference
            .query_drop(format!("CREATE TABLE reference.{table} {definition}"))
            .await
            .unwrap_or_else(|e| panic!("reference {table}: {e}"));
        proxy
            .query_drop(format!("CREATE TABLE {table} {definition}"))
            .await
            .unwrap_or_else(|e| panic!("proxy {table}: {e}"));
    }
    (reference, proxy)
}

/// Loads the same rows (VALUES tuples) into `reference.TABLE` directly and into
/// `TABLE (COLUMNS)` through the proxy, in chunks.
pub async fn insert_both(
    reference: &mut mysql_async::Conn,
    proxy: &mut mysql_async::Conn,
    table: &str,
    columns: &str,
    rows: &[String],
) {
    use mysql_async::prelude::Queryable;
    for chunk in rows.chunks(200) {
        let values = chunk.join(", ");
        reference
            .query_drop(format!("INSERT INTO reference.{table} VALUES {values}"))
            .await
            .unwrap_or_else(|e| panic!("reference {table}: {e}"));
        proxy
            .query_drop(format!("INSERT INTO {table} ({columns}) VALUES {values}"))
            .await
            .unwrap_or_else(|e| panic!("proxy {table}: {e}"));
    }
}

/// Each result column's name, type and NOT NULL flag, as a client reads them.
pub async fn column_shapes(conn: &mut mysql_async::Conn, sql: &str) -> Vec<(String, String, bool)> {
    use mysql_async::prelude::Queryable;
    let result = conn
        .query_iter(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let columns = result
        .columns()
        .map(|c| {
            c.iter()
                .map(|c| {
                    (
                        c.name_str().into_owned(),
                        format!("{:?}", c.column_type()),
                        c.flags()
                            .contains(mysql_async::consts::ColumnFlags::NOT_NULL_FLAG),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    result.drop_result().await.expect("the rest of the result");
    columns
}

/// Rows spelled out in full as SQL values, a line each (Debug shortens long byte strings).
pub fn spelled(rows: &[Vec<mysql_async::Value>]) -> String {
    rows.iter()
        .map(|r| {
            r.iter()
                .map(|v| v.as_sql(false))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `sql` through the proxy and `direct` on the reference give the same rows in the same
/// order, in the text and the binary protocol.
pub async fn assert_same(
    reference: &mut mysql_async::Conn,
    proxy: &mut mysql_async::Conn,
    sql: &str,
    direct: &str,
) {
    use mysql_async::prelude::Queryable;
    let expected = all_rows(reference, direct).await;
    let got = all_rows(proxy, sql).await;
    if got != expected {
        panic!(
            "{sql}\nproxy:\n{}\nreference:\n{}",
            spelled(&got),
            spelled(&expected)
        );
    }
    // Prepared: binary rows, merged by their decoded values.
    let unwrap = |rows: Vec<mysql_async::Row>| {
        rows.into_iter()
            .map(mysql_async::Row::unwrap)
            .collect::<Vec<_>>()
    };
    let expected: Vec<mysql_async::Row> = reference
        .exec(direct, ())
        .await
        .unwrap_or_else(|e| panic!("prepared {direct}: {e}"));
    let got: Vec<mysql_async::Row> = proxy
        .exec(sql, ())
        .await
        .unwrap_or_else(|e| panic!("prepared {sql}: {e}"));
    assert_eq!(unwrap(got), unwrap(expected), "prepared {sql}");
}

/// The mariadb CLI (Connector/C, strict about packets) through the proxy on `port` reads
/// the rows `direct` gives on the reference connection, as tab-separated text. Returns how
/// many rows there were.
pub async fn assert_cli_same(
    port: u16,
    reference: &mut mysql_async::Conn,
    sql: &str,
    direct: &str,
) -> usize {
    let expected: Vec<String> = all_rows(reference, direct)
        .await
        .into_iter()
        .map(|row| {
            row.iter()
                .map(|v| match v {
                    mysql_async::Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
                    _ => "NULL".to_string(),
                })
                .collect::<Vec<_>>()
                .join("\t")
        })
        .collect();
    let out = clients::mariadb_cli(port, sql, &[]);
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(got, expected, "mariadb CLI: {sql}");
    got.len()
}

/// `sql` fails with MySQL error `code` and a message that says `reason`.
pub async fn assert_refused(conn: &mut mysql_async::Conn, sql: &str, code: u16, reason: &str) {
    use mysql_async::prelude::Queryable;
    match conn.query_drop(sql).await {
        Err(mysql_async::Error::Server(e)) => {
            assert_eq!(e.code, code, "{sql}: {}", e.message);
            assert!(e.message.contains(reason), "{sql}: {}", e.message);
        }
        other => panic!("{sql}: {other:?}"),
    }
}

/// A config with `t_order` unsharded in database `legacy` on the cluster's first server:
/// the source of a migration to the example's 32 x 32 layout.
pub fn legacy_source_yaml(cluster: &Cluster) -> String {
    let backends = migration::backends_yaml(cluster);
    format!(
        "{backends}databases:\n  - names: legacy\n    backends: [ds0]\n\
         schema:\n  name: shop\n  tables:\n    - name: t_order\n      kind: single\n      database: legacy\n"
    )
}

/// examples/orders.yaml (32 x 32 over two servers) pointed at the cluster's servers: the
/// target of a migration.
pub fn orders_target_yaml(cluster: &Cluster) -> String {
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/orders.yaml"
    ))
    .expect("examples/orders.yaml");
    let mut target = example
        .replace("user: shardgate", "user: root")
        .replace("password: shardgate", "password: \"\"");
    for (i, b) in cluster.topology.backends.iter().enumerate() {
        target = target.replace(&format!("127.0.0.1:3306{}", i + 1), &b.address);
    }
    target
}

/// A process a test started: killed and reaped when dropped, so a test that fails midway
/// leaves none running.
pub struct ChildProcess(pub std::process::Child);

impl std::ops::Deref for ChildProcess {
    type Target = std::process::Child;
    fn deref(&self) -> &std::process::Child {
        &self.0
    }
}

impl std::ops::DerefMut for ChildProcess {
    fn deref_mut(&mut self) -> &mut std::process::Child {
        &mut self.0
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// The `shardgate` binary `cargo test --workspace` built beside the test binaries.
pub fn shardgate_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target directory");
    dir.join("shardgate")
}

/// A proxy serving in the test's process.
pub struct ProxyHandle {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl ProxyHandle {
    pub async fn start(topology: Arc<Topology>) -> ProxyHandle {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let ctx = ProxyContext::new(topology).expect("proxy context");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = serve(ctx, listener, async {
                let _ = stopped.await;
            })
            .await;
        });
        ProxyHandle {
            addr,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn opts(&self) -> mysql_async::OptsBuilder {
        mysql_async::OptsBuilder::default()
            .ip_or_hostname(self.addr.ip().to_string())
            .tcp_port(self.addr.port())
            .user(Some(USER))
            .pass(Some(PASSWORD))
            .db_name(Some("shop"))
            .prefer_socket(false)
    }

    /// Stops it gracefully and waits until it has.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for ProxyHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
