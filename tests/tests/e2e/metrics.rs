//! Prometheus metrics of a real `shardgate serve` (the exporter is process-wide, so the
//! proxy runs as its own process): counters move with the statements run, a killed backend
//! shows as down, and nothing secret is exported.

use std::time::Duration;

use mysql_async::prelude::Queryable;
use shardgate_tests::ports::{free_port, scrape_metrics as scrape};
use shardgate_tests::Cluster;

use super::lifecycle::{app, first_app, serve_with};

/// The sum of the samples of `name` whose labels include every one of `labels`
/// (`key="value"`).
fn sample(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, rest) = match series.split_once('{') {
                Some((metric, rest)) => (metric, rest),
                None => (series, ""),
            };
            (metric == name && labels.iter().all(|l| rest.contains(l)))
                .then(|| value.parse::<f64>().ok())
                .flatten()
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_with_traffic() {
    let mut cluster = Cluster::start().await;
    cluster.create_tables().await;
    let metrics_port = free_port();
    let extra = format!("\nadmin:\n  metrics_listen: 127.0.0.1:{metrics_port}\n");
    let (mut child, port, dir) = serve_with(&cluster, &extra, None);
    let mut conn = first_app(port).await;

    let before = scrape(metrics_port).await;
    let ok = |text: &str| {
        sample(
            text,
            "shardgate_statements_total",
            &[r#"command="query""#, r#"outcome="ok""#],
        )
    };
    let failed = |text: &str| {
        sample(
            text,
            "shardgate_statements_total",
            &[r#"command="query""#, r#"outcome="error""#],
        )
    };
    for _ in 0..25 {
        let count: Option<i64> = conn
            .query_first("SELECT COUNT(*) FROM t_order")
            .await
            .unwrap();
        assert_eq!(count, Some(0));
    }
    assert!(conn
        .query_drop("SELECT no_such_column FROM t_order")
        .await
        .is_err());
    let after = scrape(metrics_port).await;
    assert_eq!(ok(&after) - ok(&before), 25.0, "{after}");
    assert_eq!(failed(&after) - failed(&before), 1.0, "{after}");
    // Each COUNT(*) read all 1,024 tables: the fan-out histogram saw 25 x 1,024 more.
    let fanout = |text: &str| sample(text, "shardgate_physical_statements_sum", &[]);
    assert!(fanout(&after) - fanout(&before) >= 25.0 * 1024.0, "{after}");
    let durations = |text: &str| {
        sample(
            text,
            "shardgate_statement_duration_seconds_count",
            &[r#"command="query""#],
        )
    };
    assert_eq!(durations(&after) - durations(&before), 26.0);
    // The same shape 25 times: parsed once at most, then found in the shape cache.
    let hits = |text: &str| {
        sample(
            text,
            "shardgate_shape_cache_lookups_total",
            &[r#"result="hit""#],
        )
    };
    assert!(hits(&after) - hits(&before) >= 24.0, "{after}");
    // Each COUNT(*) merged one partial count per physical table.
    let merged = |text: &str| sample(text, "shardgate_merge_rows_total", &[]);
    assert_eq!(merged(&after) - merged(&before), 25.0 * 1024.0, "{after}");
    let merges = |text: &str| sample(text, "shardgate_merge_memory_bytes_count", &[]);
    // (the failed statement had set its merge up too)
    assert_eq!(merges(&after) - merges(&before), 26.0, "{after}");
    // Every physical statement's answer was timed, on both backends.
    for backend in ["ds0", "ds1"] {
        let label = format!(r#"backend="{backend}""#);
        let answers = |text: &str| {
            sample(
                text,
                "shardgate_backend_response_seconds_count",
                &[label.as_str()],
            )
        };
        assert!(answers(&after) - answers(&before) >= 25.0, "{after}");
    }
    assert!(sample(&after, "shardgate_client_connections", &[]) >= 1.0);
    assert!(sample(&after, "shardgate_client_connections_total", &[]) >= 1.0);
    assert_eq!(
        sample(&after, "shardgate_backend_up", &[r#"backend="ds1""#]),
        1.0,
        "{after}"
    );

    // ds1 killed: the statements that need it fail, and it shows as down.
    tokio::task::block_in_place(|| cluster.servers[1].stop());
    for _ in 0..3 {
        let _ = conn.query_drop("SELECT COUNT(*) FROM t_order").await;
        let fresh = app(port).await;
        if let Ok(mut fresh) = fresh {
            let _ = fresh.query_drop("SELECT COUNT(*) FROM t_order").await;
        }
    }
    let down = scrape(metrics_port).await;
    assert_eq!(
        sample(&down, "shardgate_backend_up", &[r#"backend="ds1""#]),
        0.0,
        "{down}"
    );
    assert_eq!(
        sample(&down, "shardgate_backend_up", &[r#"backend="ds0""#]),
        1.0
    );
    assert!(
        sample(
            &down,
            "shardgate_backend_errors_total",
            &[r#"backend="ds1""#]
        ) >= 1.0
    );
    // Pool gauges are sampled every second.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let pools = scrape(metrics_port).await;
    assert!(
        pools.contains(r#"shardgate_backend_connections{backend="ds0",state="idle"}"#),
        "{pools}"
    );
    assert!(sample(&pools, "shardgate_config_generation", &[]) >= 1.0);
    // The example's snowflake generator leases its worker id on ds0 (still up).
    let generator = r#"generator="order_id_gen""#;
    assert_eq!(
        sample(&pools, "shardgate_idgen_ready", &[generator]),
        1.0,
        "{pools}"
    );
    assert!(pools.contains(r#"shardgate_idgen_worker_id{generator="order_id_gen"}"#));
    let age = sample(&pools, "shardgate_idgen_lease_age_seconds", &[generator]);
    assert!(
        (0.0..10.0).contains(&age),
        "renewed within its ttl: {pools}"
    );
    // Nothing about accounts is exported.
    assert!(!pools.to_lowercase().contains("password"), "{pools}");
    drop(conn);
    let _ = child.kill();
    let _ = child.wait();
    drop(dir);
}
