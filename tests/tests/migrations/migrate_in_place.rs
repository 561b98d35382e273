//! Resharding in place: `t_order` sharded 4 x 4 over two MariaDB servers moves to 8 x 4 on
//! the same servers (new databases beside the old, new table names) while 8 clients write
//! through shardgate. After cutover every row of the new layout is what the clients were
//! told, and after a rollback so is every row of the old one.

use std::sync::Arc;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use shardgate_tests::migration::{assert_layout_matches, backends_yaml, Migration};
use shardgate_tests::writers::{initial_insert, read_layout, start_writers, T_ORDER};
use shardgate_tests::{proxy_topology, Cluster, ProxyHandle};

const ROWS: i64 = 20_000;

/// `t_order` in `databases` x `tables` over the cluster's two servers, physical tables named
/// `{table_prefix}_{i}`.
fn layout_yaml(cluster: &Cluster, databases: usize, tables: usize, table_prefix: &str) -> String {
    let backends = backends_yaml(cluster);
    let last_db = databases - 1;
    let last_table = tables - 1;
    format!(
        "{backends}databases:\n  - names: shard_db_{{0..{last_db}}}\n    backends: [ds0, ds1]\n    placement: modulo\n\
         schema:\n  name: shop\n  tables:\n    - name: t_order\n      kind: sharded\n      sharding_column: order_id\n\
         \x20     databases: shard_db_{{0..{last_db}}}\n      tables: {table_prefix}_{{0..{last_table}}}\n\
         \x20     database_algorithm:\n        type: mod\n        modulus: {databases}\n\
         \x20     table_algorithm:\n        type: div_mod\n        divisor: {databases}\n        modulus: {tables}\n\
         \x20     key_generator: gen\n\
         key_generators:\n  - name: gen\n    type: snowflake\n    worker_id: 1\n"
    )
}

/// How many rows each of `keys` has in the 8 x 4 layout.
async fn in_new_layout(servers: &mut [mysql_async::Conn], keys: &[i64]) -> Vec<i64> {
    let mut counts = Vec::new();
    for &k in keys {
        let (db, t) = (k.rem_euclid(8), (k / 8).rem_euclid(4));
        let count: Option<i64> = servers[(db % 2) as usize]
            .query_first(format!(
                "SELECT COUNT(*) FROM shard_db_{db}.t_order_v2_{t} WHERE order_id = {k}"
            ))
            .await
            .unwrap();
        counts.push(count.unwrap_or(-1));
    }
    counts
}

/// `(server, db.table)` of every physical table of a layout.
fn physical(databases: usize, tables: usize, prefix: &str) -> Vec<(usize, String)> {
    (0..databases)
        .flat_map(|db| (0..tables).map(move |t| (db % 2, format!("shard_db_{db}.{prefix}_{t}"))))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_by_four_becomes_eight_by_four_on_the_same_servers() {
    let cluster = Cluster::start().await;
    let old_yaml = layout_yaml(&cluster, 4, 4, "t_order");
    let new_yaml = layout_yaml(&cluster, 8, 4, "t_order_v2");
    let migration = Migration::new(&old_yaml, &new_yaml);
    let step = |name: &str| migration.step(name);

    // Today's layout, loaded through a proxy that runs with today's config.
    let mut servers = vec![cluster.backend(0).await, cluster.backend(1).await];
    for (server, table) in physical(4, 4, "t_order") {
        let db = table.split('.').next().unwrap_or_default().to_string();
        servers[server]
            .query_drop(format!(
                "CREATE DATABASE IF NOT EXISTS {db}; CREATE TABLE {table} {T_ORDER}"
            ))
            .await
            .unwrap();
    }
    let proxy = ProxyHandle::start(Arc::new(proxy_topology(&old_yaml))).await;
    let mut client = mysql_async::Conn::new(proxy.opts()).await.unwrap();
    let keys: Vec<i64> = (1..=ROWS).collect();
    for chunk in keys.chunks(2000) {
        client
            .query_drop(initial_insert("t_order", chunk.iter().copied()))
            .await
            .unwrap();
    }

    step("start").unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // Dual-write of rows with a given key and a generated one in one INSERT, and of a
    // transaction committed by turning autocommit on: each reaches the new layout at once.
    client
        .query_drop("INSERT INTO t_order (order_id, user_id, status, amount) VALUES (5000001, 1, 'given', 1), (NULL, 2, 'generated', 2)")
        .await
        .unwrap();
    let generated: i64 = client
        .query_first("SELECT LAST_INSERT_ID()")
        .await
        .unwrap()
        .unwrap();
    assert!(generated > 5000001, "{generated}");
    client
        .query_drop("SET autocommit = 0; INSERT INTO t_order (order_id, user_id, status, amount) VALUES (5000003, 3, 'later', 3); SET autocommit = 1")
        .await
        .unwrap();
    let keys = [5000001, generated, 5000003];
    assert_eq!(in_new_layout(&mut servers, &keys).await, vec![1, 1, 1]);
    client
        .query_drop(format!(
            "DELETE FROM t_order WHERE order_id IN (5000001, {generated}, 5000003)"
        ))
        .await
        .unwrap();
    assert_eq!(in_new_layout(&mut servers, &keys).await, vec![0, 0, 0]);
    let writers = start_writers(proxy.opts(), 8, ROWS, Duration::from_millis(5));
    step("backfill").unwrap();
    assert!(migration.check_until_clean(), "check never came out clean");
    step("cutover").unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Reads through the proxy now come from the new layout.
    let count: Option<i64> = client
        .query_first("SELECT COUNT(*) FROM t_order")
        .await
        .unwrap();
    let expected = writers.stop().await.unwrap();

    let new = read_layout(&physical(8, 4, "t_order_v2"), &mut servers)
        .await
        .unwrap();
    assert_layout_matches(&new, ROWS, &expected, "new layout");
    assert!(count.is_some_and(|c| c > 0));
    let total: Option<i64> = client
        .query_first("SELECT COUNT(*) FROM t_order")
        .await
        .unwrap();
    assert_eq!(total, Some(new.len() as i64), "reads go by the new layout");

    // A proxy killed over an hour ago, never unregistered: the next wait forgets it.
    servers[0]
        .query_drop(
            "INSERT INTO shardgate_meta.migration_proxies (proxy_id, heartbeat_at) VALUES ('long-dead', NOW(3) - INTERVAL 2 HOUR); \
             INSERT INTO shardgate_meta.migration_acks (proxy_id, table_name, phase, version) VALUES ('long-dead', 't_order', 'cut_over', 1)",
        )
        .await
        .unwrap();
    step("rollback").unwrap();
    let remembered: Option<i64> = servers[0]
        .query_first(
            "SELECT (SELECT COUNT(*) FROM shardgate_meta.migration_proxies WHERE proxy_id = 'long-dead') \
             + (SELECT COUNT(*) FROM shardgate_meta.migration_acks WHERE proxy_id = 'long-dead')",
        )
        .await
        .unwrap();
    assert_eq!(
        remembered,
        Some(0),
        "a proxy dead for over an hour is forgotten"
    );
    let old = read_layout(&physical(4, 4, "t_order"), &mut servers)
        .await
        .unwrap();
    assert_layout_matches(&old, ROWS, &expected, "old layout after rollback");
    drop(client);
    proxy.stop().await;
}
