//! The router's plans, executed on two real MariaDB servers: the DDL plan creates all 1024
//! physical tables, the INSERT split places 10,000 rows, and every row is found in exactly the
//! table `order_id % 32`, `order_id / 32 % 32` names, and nowhere else.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use mysql_async::prelude::Queryable;
use shardgate_config::{TableKind, Topology};
use shardgate_proxy::sandbox::{backend_opts, create_physical_databases, MariaDb};
use shardgate_router::{PhysicalStatement, Router, ShapeCache};

fn example_on(servers: &[&MariaDb]) -> Topology {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/orders.yaml");
    let mut topology = Topology::load(path).expect("example config loads");
    for (backend, server) in topology.backends.iter_mut().zip(servers) {
        backend.address = server.address();
        backend.user = "root".into();
        backend.password = String::new();
    }
    topology
}

/// Runs statements on their backends, a few connections per backend in parallel.
async fn execute(topology: &Topology, statements: Vec<PhysicalStatement>) {
    const CONNECTIONS_PER_BACKEND: usize = 4;
    let mut lanes: BTreeMap<(usize, usize), Vec<String>> = BTreeMap::new();
    for (i, s) in statements.into_iter().enumerate() {
        lanes
            .entry((s.backend, i % CONNECTIONS_PER_BACKEND))
            .or_default()
            .push(s.sql);
    }
    let mut tasks = Vec::new();
    for ((backend, _), sqls) in lanes {
        let opts = backend_opts(topology, backend);
        tasks.push(tokio::spawn(async move {
            let mut conn = mysql_async::Conn::new(opts)
                .await
                .expect("connect to backend");
            for sql in sqls {
                conn.query_drop(&sql)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
            }
            conn.disconnect().await.expect("disconnect");
        }));
    }
    for t in tasks {
        t.await.expect("executor task");
    }
}

/// Deterministic, spread-out keys, negative ones included, no duplicates.
fn keys(n: usize) -> Vec<i64> {
    let mut seen = HashSet::new();
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let key = (state >> 20) as i64 - (1 << 42);
        if seen.insert(key) {
            out.push(key);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_rows_land_in_their_tables() {
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(MariaDb::start);
        let b = s.spawn(MariaDb::start);
        (a.join().unwrap(), b.join().unwrap())
    });
    let (a, b) = (a.expect("start server ds0"), b.expect("start server ds1"));
    let topology = Arc::new(example_on(&[&a, &b]));
    create_physical_databases(&topology)
        .await
        .expect("create databases");
    let router = Router::new(topology.clone());
    let mut cache = ShapeCache::default();

    let ddl = router
        .route(
            "CREATE TABLE t_order (order_id BIGINT NOT NULL PRIMARY KEY, user_id BIGINT NOT NULL, note VARCHAR(64))",
            &mut cache,
        )
        .expect("route DDL");
    assert_eq!(ddl.statements().len(), 1024);
    execute(&topology, ddl.statements().to_vec()).await;

    let keys = keys(10_000);
    let mut inserts = Vec::new();
    for batch in keys.chunks(100) {
        let rows: Vec<String> = batch
            .iter()
            .map(|k| format!("({k}, {}, 'row {k}')", k.rem_euclid(1000)))
            .collect();
        let sql = format!(
            "INSERT INTO t_order (order_id, user_id, note) VALUES {}",
            rows.join(", ")
        );
        let plan = router.route(&sql, &mut cache).expect("route INSERT");
        inserts.extend(plan.statements().iter().cloned());
    }
    execute(&topology, inserts).await;

    // Read every physical table back.
    let TableKind::Sharded(layout) = &topology.table("t_order").unwrap().1.kind else {
        panic!("t_order is sharded")
    };
    let mut found = HashSet::new();
    for backend in 0..topology.backends.len() {
        let mut conn = mysql_async::Conn::new(backend_opts(&topology, backend))
            .await
            .unwrap();
        for (db_index, db) in layout.databases.iter().enumerate() {
            let database = &topology.databases[*db];
            if database.backend != backend {
                continue;
            }
            for (table_index, table) in layout.tables.iter().enumerate() {
                let rows: Vec<(i64, String)> = conn
                    .query(format!(
                        "SELECT order_id, note FROM {}.{table}",
                        database.name
                    ))
                    .await
                    .unwrap();
                for (key, note) in rows {
                    assert_eq!(
                        key.rem_euclid(32) as usize,
                        db_index,
                        "{key} in {}.{table}",
                        database.name
                    );
                    assert_eq!(
                        key.div_euclid(32).rem_euclid(32) as usize,
                        table_index,
                        "{key} in {}.{table}",
                        database.name
                    );
                    assert_eq!(note, format!("row {key}"));
                    assert!(found.insert(key), "{key} stored twice");
                }
            }
        }
        conn.disconnect().await.unwrap();
    }
    assert_eq!(found.len(), keys.len());
    assert!(keys.iter().all(|k| found.contains(k)));

    // A point select routed through the same router reads a row back from its table.
    let key = keys[4321];
    let plan = router
        .route(
            &format!("SELECT note FROM t_order WHERE order_id = {key}"),
            &mut cache,
        )
        .unwrap();
    assert_eq!(plan.statements().len(), 1);
    let mut conn = mysql_async::Conn::new(backend_opts(&topology, plan.statements()[0].backend))
        .await
        .unwrap();
    let note: Option<String> = conn.query_first(&plan.statements()[0].sql).await.unwrap();
    assert_eq!(note, Some(format!("row {key}")));
    conn.disconnect().await.unwrap();
}

#[test]
fn sandbox_stops_its_server_and_removes_its_directory() {
    let server = MariaDb::start().expect("start server");
    let pid = server.pid();
    let dir = server.dir().to_path_buf();
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    assert!(server.socket().exists(), "socket lives in the sandbox dir");
    drop(server);
    assert!(!dir.exists(), "sandbox dir removed");
    // The pid is gone (or reused by an unrelated process, which would not be mariadbd).
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    assert_ne!(comm.trim(), "mariadbd");
}

#[test]
fn sandbox_stops_its_server_when_a_test_panics() {
    let dir = std::sync::Mutex::new(None);
    let result = std::panic::catch_unwind(|| {
        let server = MariaDb::start().expect("start server");
        *dir.lock().unwrap() = Some((server.dir().to_path_buf(), server.pid()));
        panic!("test failure while the server runs");
    });
    assert!(result.is_err());
    let (dir, pid) = dir.into_inner().unwrap().expect("server had started");
    assert!(!dir.exists());
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    assert_ne!(comm.trim(), "mariadbd");
}
