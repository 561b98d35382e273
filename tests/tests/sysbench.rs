//! Real sysbench through shardgate: sbtest1 sharded 32 x 32 by id, prepared with
//! --auto_inc=off, oltp_point_select and oltp_write_only in both --db-ps-mode=disable and
//! auto. Afterwards every row sits in its right physical table, and only there.

use std::collections::BTreeSet;
use std::process::Command;

use mysql_async::prelude::Queryable;
use shardgate_tests::{Cluster, PASSWORD, USER};

const TABLE_SIZE: i64 = 3000;

fn sysbench(cluster: &Cluster, args: &[&str]) -> String {
    sysbench_with(cluster, TABLE_SIZE, false, args)
}

/// sysbench through the proxy on one table of `table_size` rows; `auto_inc`: sysbench
/// leaves ids out (prepare) or sends 0 (oltp_insert) for the proxy to fill.
fn sysbench_with(cluster: &Cluster, table_size: i64, auto_inc: bool, args: &[&str]) -> String {
    let output = Command::new("sysbench")
        .args(args)
        .args([
            "--db-driver=mysql",
            "--mysql-host=127.0.0.1",
            &format!("--mysql-port={}", cluster.proxy.port()),
            &format!("--mysql-user={USER}"),
            &format!("--mysql-password={PASSWORD}"),
            "--mysql-db=sbtest",
            "--tables=1",
            &format!("--table-size={table_size}"),
            &format!("--auto_inc={}", if auto_inc { "on" } else { "off" }),
        ])
        .output()
        .expect("run sysbench (scripts/deps.sh installs it)");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "sysbench {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The number after `label` in sysbench's report (`queries: 1234 (...)`).
fn count(report: &str, label: &str) -> u64 {
    report
        .lines()
        .find_map(|l| l.trim().strip_prefix(label))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no `{label}` in:\n{report}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sysbench_point_select_and_write_only() {
    let cluster = Cluster::start_example("sbtest.yaml", |_| {}).await;
    let c = &cluster;
    tokio::task::block_in_place(|| {
        sysbench(c, &["oltp_point_select", "prepare"]);
        for mode in ["disable", "auto"] {
            let ps = format!("--db-ps-mode={mode}");
            let report = sysbench(
                c,
                &[
                    "oltp_point_select",
                    &ps,
                    "--threads=4",
                    "--events=3000",
                    "--time=0",
                    "run",
                ],
            );
            assert_eq!(count(&report, "queries:"), 3000, "{report}");
            assert_eq!(count(&report, "ignored errors:"), 0, "{report}");
            let report = sysbench(
                c,
                &[
                    "oltp_write_only",
                    &ps,
                    "--threads=2",
                    "--events=200",
                    "--time=0",
                    "run",
                ],
            );
            assert_eq!(count(&report, "transactions:"), 200, "{report}");
        }
        // Reads over id ranges (scatter SELECTs with SUM, ORDER BY and DISTINCT) inside
        // transactions, in the text protocol.
        let report = sysbench(
            c,
            &[
                "oltp_read_only",
                "--db-ps-mode=disable",
                "--threads=2",
                "--events=40",
                "--time=0",
                "run",
            ],
        );
        assert_eq!(count(&report, "transactions:"), 40, "{report}");
        assert_eq!(count(&report, "ignored errors:"), 0, "{report}");
    });

    // Every id from 1 to TABLE_SIZE is in exactly the table its id names.
    let mut seen = BTreeSet::new();
    for (i, _) in cluster.servers.iter().enumerate() {
        let mut conn = cluster.backend(i).await;
        for db in (0..32).filter(|d| d % 2 == i) {
            for t in 0..32 {
                let ids: Vec<i64> = conn
                    .query(format!("SELECT id FROM sb_db_{db}.sbtest1_{t}"))
                    .await
                    .unwrap();
                for id in ids {
                    assert_eq!(
                        (id % 32, id / 32 % 32),
                        (db as i64, t as i64),
                        "id {id} in sb_db_{db}.sbtest1_{t}"
                    );
                    assert!(seen.insert(id), "id {id} stored twice");
                }
            }
        }
    }
    assert_eq!(seen.len() as i64, TABLE_SIZE);
    assert_eq!(seen.first(), Some(&1));
    assert_eq!(seen.last(), Some(&TABLE_SIZE));
}

/// oltp_read_write for 60 s through shardgate, prepared statements on: point selects,
/// range scatter reads (SUM, ORDER BY, DISTINCT) merged from up to 100 tables, updates,
/// deletes and inserts, all inside transactions. No error, and the rows stay where their
/// ids route.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sysbench_read_write_for_a_minute() {
    let cluster = Cluster::start_example("sbtest.yaml", |_| {}).await;
    let c = &cluster;
    let report = tokio::task::block_in_place(|| {
        sysbench(c, &["oltp_read_write", "prepare"]);
        sysbench(
            c,
            &[
                "oltp_read_write",
                "--db-ps-mode=auto",
                "--threads=4",
                "--time=60",
                "--events=0",
                "run",
            ],
        )
    });
    // sysbench stops at the first error it does not retry; it retries deadlocks and lock
    // wait timeouts (a transaction over two backends can wait on a lock neither server sees
    // as a deadlock), which must stay rare.
    let transactions = count(&report, "transactions:");
    assert!(transactions > 0, "{report}");
    assert!(
        count(&report, "ignored errors:") * 100 <= transactions,
        "{report}"
    );
    assert_eq!(count(&report, "reconnects:"), 0, "{report}");
    // Deletes are followed by inserts of the same id: the table keeps its size, and every
    // row is in the table its id names.
    let mut total = 0;
    for (i, _) in cluster.servers.iter().enumerate() {
        let mut conn = cluster.backend(i).await;
        for db in (0..32).filter(|d| d % 2 == i) {
            for t in 0..32 {
                let misplaced: Option<i64> = conn
                    .query_first(format!(
                        "SELECT COUNT(*) FROM sb_db_{db}.sbtest1_{t} WHERE id % 32 <> {db} OR id DIV 32 % 32 <> {t}"
                    ))
                    .await
                    .unwrap();
                assert_eq!(misplaced, Some(0), "sb_db_{db}.sbtest1_{t}");
                let rows: Option<i64> = conn
                    .query_first(format!("SELECT COUNT(*) FROM sb_db_{db}.sbtest1_{t}"))
                    .await
                    .unwrap();
                total += rows.unwrap_or(0);
            }
        }
    }
    assert_eq!(total, TABLE_SIZE);
}

/// sysbench with its default --auto_inc=on: prepare leaves id out, oltp_insert sends id 0,
/// and the proxy fills ids from the table's segment generator. Every row lands in the table
/// its id names, and the rows spread over all 1024 tables.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sysbench_insert_with_ids_from_the_proxy() {
    let cluster = Cluster::start_example("sbtest.yaml", |_| {}).await;
    let c = &cluster;
    let run = |args: &[&str]| sysbench_with(c, 2000, true, args);
    let report = tokio::task::block_in_place(|| {
        run(&["oltp_insert", "prepare"]);
        run(&[
            "oltp_insert",
            "--threads=4",
            "--events=2000",
            "--time=0",
            "run",
        ])
    });
    assert_eq!(count(&report, "ignored errors:"), 0, "{report}");
    let mut seen = BTreeSet::new();
    let mut filled_tables = 0;
    for (i, _) in cluster.servers.iter().enumerate() {
        let mut conn = cluster.backend(i).await;
        for db in (0..32).filter(|d| d % 2 == i) {
            for t in 0..32 {
                let ids: Vec<i64> = conn
                    .query(format!("SELECT id FROM sb_db_{db}.sbtest1_{t}"))
                    .await
                    .unwrap();
                if !ids.is_empty() {
                    filled_tables += 1;
                }
                for id in ids {
                    assert_eq!((id % 32, id / 32 % 32), (db as i64, t as i64), "id {id}");
                    assert!(seen.insert(id), "id {id} stored twice");
                }
            }
        }
    }
    assert_eq!(seen.len(), 4000);
    assert_eq!(filled_tables, 1024);
}
