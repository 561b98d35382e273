//! Distributed ids end to end, on real MariaDB servers: worker ids leased from a MariaDB
//! table by two proxies, segments handed off across a proxy restart, and INSERTs whose keys
//! the proxy fills in.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use mysql_async::prelude::Queryable;
use shardgate_idgen::{Layout, MySqlLeases, WorkerLeases};
use shardgate_tests::Cluster;

async fn nextval(conn: &mut mysql_async::Conn, generator: &str) -> i64 {
    conn.query_first(format!("SELECT NEXTVAL('{generator}')"))
        .await
        .unwrap_or_else(|e| panic!("NEXTVAL('{generator}'): {e}"))
        .expect("one row")
}

/// Four more snowflake generators leasing worker ids from the same table as
/// `order_id_gen`, and one segment generator.
fn more_generators(yaml: &mut String) {
    for i in 0..4 {
        yaml.push_str(&format!(
            "  - name: gen_{i}\n    type: snowflake\n    worker_lease: {{backend: ds0, database: shardgate_meta, ttl_ms: 3000}}\n"
        ));
    }
    yaml.push_str("  - name: seq\n    type: segment\n    backend: ds1\n    step: 100\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leased_workers_keep_ids_unique_across_two_proxies() {
    let cluster = Cluster::start_with(more_generators).await;
    let second = cluster.another_proxy().await;
    // Segments: both proxies take ids of one tag at once; no id twice.
    let mut segment_tasks = Vec::new();
    for opts in [cluster.opts(), second.opts()] {
        segment_tasks.push(tokio::spawn(async move {
            let mut conn = mysql_async::Conn::new(opts).await.unwrap();
            let mut ids = Vec::new();
            for _ in 0..400 {
                ids.push(nextval(&mut conn, "seq").await);
            }
            ids
        }));
    }
    // 4 generators x 2 proxies: 8 generators issuing at once.
    let mut tasks = Vec::new();
    for opts in [cluster.opts(), second.opts()] {
        for i in 0..4 {
            let opts = opts.clone();
            tasks.push(tokio::spawn(async move {
                let mut conn = mysql_async::Conn::new(opts).await.unwrap();
                let mut ids = Vec::with_capacity(300);
                for _ in 0..300 {
                    ids.push(nextval(&mut conn, &format!("gen_{i}")).await);
                }
                ids
            }));
        }
    }
    let layout = Layout::default();
    let mut all = HashSet::new();
    let mut workers = BTreeSet::new();
    for task in tasks {
        let ids = task.await.unwrap();
        // One generator: one worker id, ids only increasing.
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        let worker = layout.decode(ids[0]).worker;
        assert!(ids.iter().all(|id| layout.decode(*id).worker == worker));
        workers.insert(worker);
        for id in ids {
            assert!(all.insert(id), "id {id} issued twice");
        }
    }
    assert_eq!(all.len(), 2400);
    assert_eq!(workers.len(), 8, "{workers:?}");
    let mut segment_ids = HashSet::new();
    for task in segment_tasks {
        let ids = task.await.unwrap();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        for id in ids {
            assert!(segment_ids.insert(id), "segment id {id} issued twice");
        }
    }
    assert_eq!(segment_ids.len(), 800);

    // The lease table: ten live leases (five generators in each proxy), ten worker ids.
    let mut backend = cluster.backend(0).await;
    let live: Vec<(u64, String)> = backend
        .query(
            "SELECT worker_id, owner FROM shardgate_meta.worker_lease \
             WHERE expires_at > UNIX_TIMESTAMP(NOW(3)) * 1000",
        )
        .await
        .unwrap();
    assert_eq!(live.len(), 10, "{live:?}");
    // A proxy that stops releases its leases.
    second.stop().await;
    let live: Option<i64> = backend
        .query_first(
            "SELECT COUNT(*) FROM shardgate_meta.worker_lease \
             WHERE expires_at > UNIX_TIMESTAMP(NOW(3)) * 1000",
        )
        .await
        .unwrap();
    assert_eq!(live, Some(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_lease_goes_to_the_next_owner_and_the_old_one_knows() {
    let cluster = Cluster::start().await;
    let opts = || {
        mysql_async::OptsBuilder::from_opts(
            mysql_async::Opts::from_url(&cluster.servers[1].url()).unwrap(),
        )
    };
    let ttl = Duration::from_millis(1000);
    let a = MySqlLeases::open(opts(), "leases", "worker_lease", ttl)
        .await
        .unwrap();
    let b = MySqlLeases::open(opts(), "leases", "worker_lease", ttl)
        .await
        .unwrap();
    let first = a.acquire(3).await.unwrap();
    let second = b.acquire(3).await.unwrap();
    assert_ne!(
        first.worker_id, second.worker_id,
        "a live lease is never shared"
    );
    a.renew(&first, 1_900_000_000_000).await.unwrap();
    // A stops renewing; after the ttl its worker id is free, and the next owner learns the
    // last time A issued ids at.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    b.renew(&second, 0).await.unwrap();
    let taken = b.acquire(0).await.unwrap();
    assert_eq!(taken.worker_id, first.worker_id);
    assert_eq!(taken.not_before_unix_ms, 1_900_000_000_000);
    assert!(matches!(
        a.renew(&first, 0).await,
        Err(shardgate_idgen::IdError::LeaseLost(_))
    ));
    // Every worker id from 0 to 1 is held now.
    assert!(matches!(
        a.acquire(1).await,
        Err(shardgate_idgen::IdError::NoFreeWorker { max: 1 })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_hand_off_across_a_proxy_restart() {
    let mut cluster = Cluster::start_with(more_generators).await;
    let mut conn = cluster.client().await;
    let mut ids = Vec::new();
    for _ in 0..250 {
        ids.push(nextval(&mut conn, "seq").await);
    }
    assert_eq!(ids, (1..=250).collect::<Vec<i64>>());
    drop(conn);
    cluster.restart_proxy().await;
    let mut conn = cluster.client().await;
    let next = nextval(&mut conn, "seq").await;
    // No id is issued twice, and at most one segment is wasted: the stopping proxy gave
    // back the segment it had loaded ahead (301..700, the step having doubled twice), and
    // loses only the rest of the one it was using (251..300).
    assert!(next > 250);
    assert!(next - 251 <= 200, "wasted {} ids", next - 251);
    let mut backend = cluster.backend(1).await;
    let row: Option<(i64, i64)> = backend
        .query_first("SELECT max_id, step FROM shardgate_meta.leaf_alloc WHERE biz_tag = 'seq'")
        .await
        .unwrap();
    let (max_id, step) = row.unwrap();
    assert!(max_id >= 251 && step >= 100, "{max_id} {step}");
    // Unknown generators are an error, and the connection goes on.
    let err = conn.query_drop("SELECT NEXTVAL('nope')").await.unwrap_err();
    assert!(err.to_string().contains("no such key generator"), "{err}");
    assert!(nextval(&mut conn, "seq").await > next);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inserts_without_keys_get_them_from_the_generator() {
    let cluster = Cluster::start().await;
    cluster.create_tables().await;
    let mut conn = cluster.client().await;
    conn.query_drop(
        "INSERT INTO t_order (user_id, status, amount) VALUES (1, 'new', 1.00), (1, 'new', 2.00), (1, 'new', 3.00)",
    )
    .await
    .unwrap();
    assert_eq!(conn.affected_rows(), 3);
    let first = conn.last_insert_id().expect("OK packet's last_insert_id") as i64;
    let reported: Option<i64> = conn.query_first("SELECT LAST_INSERT_ID()").await.unwrap();
    assert_eq!(reported, Some(first));
    let ids: Vec<i64> = conn
        .query("SELECT order_id FROM t_order WHERE user_id = 1 ORDER BY order_id")
        .await
        .unwrap();
    assert_eq!(ids.len(), 3);
    assert_eq!(ids[0], first, "the first generated id is the first row's");

    // NULL and 0 are generated too; a given key is kept.
    conn.query_drop("INSERT INTO t_order (order_id, user_id) VALUES (NULL, 2), (4242, 2), (0, 2)")
        .await
        .unwrap();
    let ids2: Vec<i64> = conn
        .query("SELECT order_id FROM t_order WHERE user_id = 2 ORDER BY order_id")
        .await
        .unwrap();
    assert_eq!(ids2.len(), 3);
    assert!(ids2.contains(&4242));
    // Prepared, with a NULL key parameter.
    conn.exec_drop(
        "INSERT INTO t_order (order_id, user_id) VALUES (?, ?)",
        (None::<i64>, 3),
    )
    .await
    .unwrap();
    let prepared = conn.last_insert_id().expect("last_insert_id") as i64;
    let stored: Option<i64> = conn
        .exec_first("SELECT order_id FROM t_order WHERE user_id = ?", (3,))
        .await
        .unwrap();
    assert_eq!(stored, Some(prepared));
    // NEXTVAL over SQL: the same generator, later ids.
    assert!(nextval(&mut conn, "order_id_gen").await > prepared);

    // Every generated row sits in the physical table its id names, and only there.
    let generated: Vec<i64> = ids
        .into_iter()
        .chain(ids2.into_iter().filter(|id| *id != 4242))
        .chain([prepared])
        .collect();
    for id in generated {
        let (db, table) = (id.rem_euclid(32), id.div_euclid(32).rem_euclid(32));
        let mut backend = cluster.backend((db % 2) as usize).await;
        let n: Option<i64> = backend
            .query_first(format!(
                "SELECT COUNT(*) FROM order_db_{db}.t_order_{table} WHERE order_id = {id}"
            ))
            .await
            .unwrap();
        assert_eq!(n, Some(1), "id {id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_whose_lease_is_taken_stops_using_it_and_leases_another() {
    let cluster = Cluster::start_with(more_generators).await;
    let mut conn = cluster.client().await;
    let layout = Layout::default();
    let before = nextval(&mut conn, "gen_0").await;
    let worker = layout.decode(before).worker;
    // Another owner takes the worker id (as if this proxy had not renewed in time).
    let mut backend = cluster.backend(0).await;
    backend
        .exec_drop(
            "UPDATE shardgate_meta.worker_lease SET owner = 'another proxy', \
             expires_at = UNIX_TIMESTAMP(NOW(3)) * 1000 + 600000 WHERE worker_id = ?",
            (worker,),
        )
        .await
        .unwrap();
    // Within a heartbeat (a third of the 3 s ttl) the proxy finds out and leases another id.
    let mut after = None;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if let Ok(Some(id)) = conn.query_first::<i64, _>("SELECT NEXTVAL('gen_0')").await {
            if layout.decode(id).worker != worker {
                after = Some(id);
                break;
            }
        }
    }
    let after = after.expect("a new worker id within 10 s");
    assert!(after > before);
}
