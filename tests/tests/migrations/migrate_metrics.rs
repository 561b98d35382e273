//! A migration as a real `shardgate serve` reports it in its metrics: the phase it acts on
//! per table, and the backfill's rows copied and share of source tables done.

use std::time::Duration;

use shardgate_tests::migration::{create_legacy, Migration};
use shardgate_tests::ports::{free_port, scrape_metrics as scrape};
use shardgate_tests::{legacy_source_yaml, orders_target_yaml, shardgate_binary, Cluster};

const ROWS: i64 = 2000;

/// The value of the sample `series` (name and labels exactly as exported).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

/// Scrapes until `series` has `expected`; the last exposition text.
async fn wait_for(port: u16, series: &str, expected: f64) -> String {
    let mut text = String::new();
    for _ in 0..100 {
        text = scrape(port).await;
        if value(&text, series) == Some(expected) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{series} never became {expected}:\n{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migration_phase_and_backfill_progress_are_exported() {
    let cluster = Cluster::start().await;
    create_legacy(&cluster, ROWS).await;
    let source = legacy_source_yaml(&cluster);
    let migration = Migration::new(&source, &orders_target_yaml(&cluster));
    let (port, metrics_port) = (free_port(), free_port());
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("proxy.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: 127.0.0.1:{port}\nusers:\n  - name: app\n    password: app\n{source}admin:\n  metrics_listen: 127.0.0.1:{metrics_port}\n"
        ),
    )
    .unwrap();
    let mut proxy = shardgate_tests::ChildProcess(
        std::process::Command::new(shardgate_binary())
            .args(["serve", "--config"])
            .arg(&config)
            .stdout(std::process::Stdio::null())
            .stderr(shardgate_tests::test_log::file("shardgate-process"))
            .spawn()
            .expect("run shardgate serve"),
    );

    migration.step("start").unwrap();
    let dual_write = r#"shardgate_migration_phase{table="t_order",phase="dual_write"}"#;
    let text = wait_for(metrics_port, dual_write, 1.0).await;
    assert_eq!(
        value(
            &text,
            r#"shardgate_migration_phase{table="t_order",phase="finished"}"#
        ),
        Some(0.0),
        "{text}"
    );

    migration.step("backfill").unwrap();
    let backfilled = r#"shardgate_migration_phase{table="t_order",phase="backfilled"}"#;
    wait_for(metrics_port, backfilled, 1.0).await;
    let copied = r#"shardgate_migration_backfill_rows{table="t_order"}"#;
    wait_for(metrics_port, copied, ROWS as f64).await;
    let text = wait_for(
        metrics_port,
        r#"shardgate_migration_backfill_progress_ratio{table="t_order"}"#,
        1.0,
    )
    .await;
    assert_eq!(value(&text, dual_write), Some(0.0), "one phase at a time");

    migration.step("rollback").unwrap();
    wait_for(
        metrics_port,
        r#"shardgate_migration_phase{table="t_order",phase="rolled_back"}"#,
        1.0,
    )
    .await;
    let _ = proxy.kill();
    let _ = proxy.wait();
}
